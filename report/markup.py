"""The page's markup that repeats once per image: ranking rows, grid items, thumbnail rules.

A page holds each of these thousands of times. Written as f-strings they take a few
milliseconds where a Jinja loop took tens, so the templates call the filters below for them.
Every value is safe in HTML as it comes (see ``render.Row``; thumbnail addresses are base64 or
percent-encoded), so nothing is escaped here.
"""

from __future__ import annotations

from typing import Any, Iterable

import markupsafe

THUMBNAIL_RULE = b""".t%d{background-image:url("%s");
  aspect-ratio:%d/%d}
"""


def ranking_row(r: Any) -> str:
    """One image's row in the ranking table."""
    href = f' data-href="{r.href}"' if r.href else ""
    return f"""\
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


def grid_item(r: Any) -> str:
    """One image in a cluster grid: its thumbnail, linked to its place in the ranking."""
    return f"""\
<li><a class="open" href="#{r.anchor}" data-rank="{r.rank}"
       title="{r.name} (rank {r.rank}, distance {r.distance_text})"><span
       class="thumb t{r.index}" role="img" aria-label="{r.name}"></span></a></li>
"""


def ranking_rows(rows: Iterable[Any]) -> markupsafe.Markup:
    """The ranking table's rows, one ``<tr>`` per image."""
    return markupsafe.Markup("".join(map(ranking_row, rows)))


def grid_items(rows: Iterable[Any]) -> markupsafe.Markup:
    """A cluster grid's items."""
    return markupsafe.Markup("".join(map(grid_item, rows)))


def thumbnail_rule(index: int, address: bytes, width: int, height: int) -> bytes:
    """The style rule that gives one image's thumbnail its picture and shape, as UTF-8."""
    return THUMBNAIL_RULE % (index, address, width, height)
