"""The page's markup that repeats once per image: ranking rows, grid items, thumbnail rules.

A page holds each of these thousands of times. Filled in with ``str.format`` they take a few
milliseconds where a Jinja loop took tens, so the templates call the filters below for them.
Every value is safe in HTML as it comes (see ``render.Row`` and ``render.ThumbnailRule``), so
nothing is escaped here.
"""

from __future__ import annotations

from typing import Any, Iterable

import markupsafe

RANKING_ROW = """\
<tr id="{r.anchor}" data-rank="{r.rank}" data-distance="{r.distance}"
    data-cluster="{r.cluster}" data-index="{r.index}"
    data-path-order="{r.path_order}"{href}>
<td class="js-only"><input type="checkbox" class="flag" aria-label="Flag {r.name}"></td>
<td>{r.rank}</td>
<td><a class="open" href="#{r.anchor}" data-rank="{r.rank}"><span
       class="thumb t{r.index}" role="img" aria-label="{r.name}"></span></a></td>
<td class="path">{r.name}</td>
<td class="num">{r.distance_text}</td>
<td><a href="#cluster-{r.cluster}">{r.cluster}</a></td>
</tr>
"""

GRID_ITEM = """\
<li><a class="open" href="#{r.anchor}" data-rank="{r.rank}"
       title="{r.name} (rank {r.rank}, distance {r.distance_text})"><span
       class="thumb t{r.index}" role="img" aria-label="{r.name}"></span></a></li>
"""

THUMBNAIL_RULE = """\
.t{t.index}{{background-image:url("{t.uri}");
  aspect-ratio:{t.width}/{t.height}}}
"""


def ranking_rows(rows: Iterable[Any]) -> markupsafe.Markup:
    """The ranking table's rows, one ``<tr>`` per image."""
    return markupsafe.Markup("".join(
        RANKING_ROW.format(r=row, href=f' data-href="{row.href}"' if row.href else "")
        for row in rows))


def grid_items(rows: Iterable[Any]) -> markupsafe.Markup:
    """A cluster grid's items: each image's thumbnail, linked to its place in the ranking."""
    return markupsafe.Markup("".join(GRID_ITEM.format(r=row) for row in rows))


def thumbnail_css(rules: Iterable[Any]) -> markupsafe.Markup:
    """The style rules that give each image's thumbnail its picture and shape."""
    return markupsafe.Markup("".join(THUMBNAIL_RULE.format(t=rule) for rule in rules))
