"""Turn a run's outcome into the report's HTML, through the Jinja templates alone."""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import jinja2
import markupsafe
import numpy as np

from . import markup
from .assets import (PLOTLY_FILE, plotly_js, plotly_version, template_folder,
                     thumbnail_folder)
from .decoding import THUMBNAIL_FORMAT
from .formatting import format_distance, png_data_uri
from .links import relative_href
from .outcome import Outcome
from .review_page import review_context

TEMPLATE = "report.html.j2"
MAX_HISTOGRAM_BINS = 80
MEAN_IMAGE_DISPLAY = 300
# Above this many images the page switches to its large-collection layout: the ranking is drawn
# by the script from embedded data, only the rows in view, and each cluster grid is a sample.
LARGE_LAYOUT_FROM = 5000
GRID_SAMPLE = 48
PLOTLY_CDN = "https://cdn.plot.ly/plotly-{version}.min.js"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """How one page is delivered: where plotly.js comes from and what it links to."""

    plotly_js: str = "inline"
    plotly_href: str = PLOTLY_FILE
    originals: list[str | None] | None = None
    csv_href: str | None = None
    json_href: str | None = None
    thumbnails: str = "inline"
    layout: str = "auto"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_folder()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["distance"] = format_distance
    env.filters["script_json"] = script_json
    env.filters.update(ranking_rows=markup.ranking_rows, grid_items=markup.grid_items)
    return env


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs; one that cannot be read is compiled afresh, and
    one that cannot be saved is compiled again next time."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        name = self._get_cache_filename(bucket)
        try:
            if not stat.S_ISREG(os.stat(name).st_mode):
                return  # opening a pipe or a device could wait for ever
            super().load_bytecode(bucket)
        except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways
            log.debug("compiled template in %s not used: %s", name, exc)
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.debug("compiled template not kept in %s: %s", self.directory, exc)


def compile_templates(cache_folder: Path | None = None) -> None:
    """Load every template now, so a run can do it while its workers decode.

    With a ``cache_folder``, compiled templates are kept in it, like Python's own compiled
    modules: Jinja checks each against its template's source, so the page never changes, and
    a run saves the twentieth of a second that compiling takes.
    """
    env = environment()
    folder = None if cache_folder is None else str(cache_folder / "templates")
    if folder != getattr(env.bytecode_cache, "directory", None):
        # Another folder than an earlier run in this process used, or none: start afresh.
        env.bytecode_cache = None
        env.cache.clear()
        try:
            if folder is not None:
                os.makedirs(folder, exist_ok=True)
                env.bytecode_cache = _CompiledTemplates(folder)
        except OSError as exc:
            log.debug("compiled templates not kept in %s: %s", folder, exc)
    for name in env.list_templates():
        env.get_template(name)


# Stand in the rendered page where the plotly.js bundle and the thumbnails' style rules go;
# their bytes are written there directly rather than passed through the template as strings
# of many megabytes. Each holds a "<", which escaping takes out of every text that comes from
# the input (names, paths, titles, the page's JSON), so none of those can ever contain one.
PLOTLY_PLACEHOLDER = "<\x00plotly.js\x00>"
THUMBNAILS_PLACEHOLDER = "<\x00thumbnails\x00>"


def plotly_script(page: Page) -> dict[str, str]:
    """What the template needs to load plotly.js in the chosen way."""
    if page.plotly_js == "inline":
        return {"code": markupsafe.Markup(PLOTLY_PLACEHOLDER)}
    if page.plotly_js == "cdn":
        return {"src": PLOTLY_CDN.format(version=plotly_version())}
    return {"src": page.plotly_href}


def script_json(value: Any) -> markupsafe.Markup:
    """JSON that is safe inside a ``<script>`` element: no sequence in it can close the tag."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return markupsafe.Markup(text)


def image_anchor(key: str) -> str:
    """An element id for an image that depends on its exact path alone, so links survive reruns."""
    return "img-" + hashlib.sha1(os.fsencode(key)).hexdigest()[:12]


def histogram_figure(distances: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """A plotly bar chart of the binned distances with the cluster edges as vertical lines.

    Binning here rather than in the browser keeps the page small whatever the image count.
    """
    low, high = float(distances.min()), float(distances.max())
    if high > low:
        bins = np.histogram_bin_edges(distances, bins="auto")
        if len(bins) - 1 > MAX_HISTOGRAM_BINS:
            bins = np.linspace(low, high, MAX_HISTOGRAM_BINS + 1)
    else:
        half = max(abs(low) * 0.01, 0.5)
        bins = np.array([low - half, low + half])
    counts, bins = np.histogram(distances, bins=bins)

    lines = [
        {"type": "line", "xref": "x", "yref": "paper", "x0": float(edge), "x1": float(edge),
         "y0": 0, "y1": 1, "line": {"color": "#d9480f", "width": 2, "dash": "dash"}}
        for edge in edges
    ]
    labels = [
        {"x": float(edge), "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom",
         "showarrow": False, "text": f"{number}|{number + 1}", "font": {"color": "#d9480f"}}
        for number, edge in enumerate(edges, start=1)
    ]
    return {
        "data": [{
            "type": "bar",
            "x": ((bins[:-1] + bins[1:]) / 2).tolist(),
            "y": counts.tolist(),
            "width": np.diff(bins).tolist(),
            "customdata": np.column_stack([bins[:-1], bins[1:]]).tolist(),
            "hovertemplate": "distance %{customdata[0]:,.0f} to %{customdata[1]:,.0f}"
                             "<br>%{y} images<extra></extra>",
            "marker": {"color": "#4c6ef5", "line": {"width": 0}},
        }],
        "layout": {
            "xaxis": {"title": {"text": "squared L2 distance to the mean image"}},
            "yaxis": {"title": {"text": "images"}, "rangemode": "tozero"},
            "shapes": lines,
            "annotations": labels,
            "bargap": 0.05,
            "height": 340,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": "#868e96"},
        },
    }


def natural_key(text: str) -> str:
    """A key that sorts names as a person expects: digits as numbers, letters without case.

    Runs of digits are padded to one width so that plain string order puts ``img2`` before
    ``img10``; the name itself follows a NUL, to break ties. One string per name keeps the
    sort light on memory for a hundred thousand names.
    """
    return f"{_DIGIT_RUN.sub(_padded_digits, text.casefold())}\0{text}"


_DIGIT_RUN = re.compile(r"[0-9]+")


def _padded_digits(run: re.Match[str]) -> str:
    return run.group().zfill(24)


def path_order(names: list[str]) -> list[int]:
    """Each name's position when sorted naturally (``img2`` before ``img10``), from 1."""
    ordered = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    positions = [0] * len(names)
    for position, index in enumerate(ordered, start=1):
        positions[index] = position
    return positions


@dataclass(frozen=True, slots=True)
class Row:
    """One image's line in the ranking, also used for its place in a cluster's grid.

    Every field is safe in HTML as it is: the name is escaped, the link percent-encoded and
    escaped, the rest are numbers, hex digits and a formatted number. So :mod:`report.markup`
    writes rows without escaping each value again, and the templates show their names without
    escaping them twice.
    """

    rank: int
    index: int
    name: markupsafe.Markup
    anchor: str
    distance: float
    distance_text: str
    cluster: int
    href: markupsafe.Markup | None
    path_order: int


def uses_large_layout(image_count: int, layout: str) -> bool:
    return layout == "large" or (layout == "auto" and image_count > LARGE_LAYOUT_FROM)


def grid_sample(members: list[Any], size: int) -> list[Any]:
    """At most ``size`` members, evenly spaced through the cluster's ranking."""
    if len(members) <= size:
        return members
    step = len(members) / size
    return [members[int(i * step)] for i in range(size)]


def report_context(outcome: Outcome, page: Page, report_name: str = "report.html"
                   ) -> tuple[dict[str, Any], dict[str, Any], Callable[[], Iterator[bytes]]]:
    """Everything the template shows, any thumbnail files to write beside the page, and what
    makes the thumbnails' style rules (see :func:`thumbnail_css`).

    Computed here so the template only lays it out. In the large layout only the sampled rows
    are made; the ranking itself goes to the page as compact columns.
    """
    analysis = outcome.analysis
    count = len(outcome.names)
    large = uses_large_layout(count, page.layout)
    height, width = analysis.mean_image.shape[:2]
    scale = max(1, MEAN_IMAGE_DISPLAY // max(width, height))
    originals = page.originals or [None] * count
    anchors = [image_anchor(key) for key in outcome.keys]
    order = analysis.order.tolist()
    by_path = path_order([outcome.names[i] for i in order])

    distances = analysis.distances.tolist()
    cluster_of = analysis.clusters.tolist()

    def row(position: int) -> Row:
        # Name and link escaped here, once: the template shows rows without escaping (see Row).
        index = order[position]
        distance = distances[index]
        href = originals[index]
        return Row(position + 1, index, markupsafe.escape(outcome.names[index]), anchors[index],
                   distance, format_distance(distance), cluster_of[index],
                   None if href is None else markupsafe.escape(href), by_path[position])

    rows = [] if large else [row(position) for position in range(count)]
    ranked_clusters = analysis.clusters[analysis.order]
    clusters = []
    for summary in analysis.summaries:
        positions = np.flatnonzero(ranked_clusters == summary.number).tolist()
        if large:
            positions = grid_sample(positions, GRID_SAMPLE)
        clusters.append({
            "number": summary.number,
            "size": summary.size,
            "distance_min": summary.distance_min,
            "distance_max": summary.distance_max,
            "mean_uri": None if summary.mean_image is None else png_data_uri(summary.mean_image),
            "rows": [rows[p] if rows else row(p) for p in positions],
        })

    position_of = np.empty(count, dtype=np.int64)
    position_of[analysis.order] = np.arange(count)
    review = review_context(outcome, outcome.settings["clusters"].get("components", 0),
                            (lambda p: rows[p]) if rows else row, position_of,
                            GRID_SAMPLE if large else None)

    folder = thumbnail_folder(report_name)
    files: dict[str, Any] = {}
    if page.thumbnails == "files":
        for index in range(count):
            # Read when written, so a hundred thousand thumbnails never sit in memory at once.
            files[f"{folder}/{anchors[index]}.{THUMBNAIL_FORMAT}"] = functools.partial(
                _thumbnail_bytes, outcome.thumbnails, index)
    # Style rules for the thumbnails the page's own markup shows: every image in the full
    # layout, the sampled ones in the large layout (its script draws the rest itself).
    if large:
        shown = sorted({r.index for cluster in clusters for r in cluster["rows"]}
                       | review_thumbnails(review))
    else:
        shown = range(count)
    thumbnails = functools.partial(thumbnail_css, outcome, shown, anchors, folder,
                                   page.thumbnails == "files")

    context = {
        "title": outcome.title,
        "version": outcome.version,
        "settings": outcome.settings,
        "image_count": count,
        "large": large,
        "large_from": LARGE_LAYOUT_FROM,
        "skipped": outcome.skipped,
        "ignored": outcome.ignored,
        "non_images": outcome.non_images,
        "mean_uri": png_data_uri(analysis.mean_image),
        "mean_width": width * scale,
        "mean_height": height * scale,
        "thumbnails": markupsafe.Markup(THUMBNAILS_PLACEHOLDER),
        "rows": rows,
        # In the large layout with thumbnails inside the page, only those the page shows.
        "embedded_thumbnails": len(shown) if large and page.thumbnails == "inline" else None,
        "ranking_data": ranking_data(outcome, order, originals, anchors, by_path, page,
                                     folder, shown) if large else None,
        "clusters": clusters,
        "edges": [float(edge) for edge in analysis.edges],
        "histogram": histogram_figure(analysis.distances, analysis.edges),
        "review": review,
        "plotly": plotly_script(page),
        "csv_href": page.csv_href,
        "json_href": page.json_href,
    }
    return context, files, thumbnails


def review_thumbnails(review: dict[str, Any] | None) -> set[int]:
    """The images whose thumbnails the review's grids, groups and map show."""
    if review is None:
        return set()
    # The map shows the thumbnail under the pointer; the other plot shows paths only.
    shown = set(review["plotted_indices"]) if review["map"] else set()
    for grouping in review["groupings"]:
        shown.update(r.index for cluster in grouping["clusters"] for r in cluster["rows"])
    for groups in (review["exact"], review["near"] or []):
        shown.update(r.index for group in groups for r in group)
    return shown


def thumbnail_css(outcome: Outcome, shown: Iterable[int], anchors: list[str], folder: str,
                  as_files: bool) -> Iterator[bytes]:
    """The style rule of each shown image, its thumbnail's address and size, as UTF-8 bytes.

    The address is a file beside the page or the data itself. Neither percent-encoding nor
    base64 leaves anything to escape. Made as bytes straight from the stored thumbnails, since
    they are most of a page's size.
    """
    store = outcome.thumbnails
    if as_files:
        rules = (markup.thumbnail_rule(index, relative_href(
                     Path(folder) / f"{anchors[index]}.{THUMBNAIL_FORMAT}", Path(".")).encode(),
                     *store.size(index))
                 for index in shown)
    else:
        prefix = f"data:image/{THUMBNAIL_FORMAT};base64,".encode()
        rules = (markup.thumbnail_rule(index, prefix + base64.b64encode(thumb.data),
                                       thumb.width, thumb.height)
                 for index, thumb in zip(shown, store.read_many(shown)))
    while block := list(itertools.islice(rules, 256)):
        yield b"".join(block)


def _thumbnail_bytes(store: Any, index: int) -> bytes:
    return store[index].data


def ranking_data(outcome: Outcome, order: list[int], originals: list[str | None],
                 anchors: list[str], by_path: list[int], page: Page, folder: str,
                 embedded: Iterable[int]) -> dict[str, Any]:
    """The whole ranking as compact columns, for the script to draw the rows in view.

    ``embedded`` are the images whose thumbnails the page holds (as CSS classes named after
    the image's index); with thumbnails as files, every row has one by its anchor.
    """
    hrefs = [originals[i] for i in order]
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[outcome.analysis.order] = np.arange(len(order))
    return {
        "paths": [outcome.names[i] for i in order],
        "distances": outcome.analysis.distances[order].tolist(),
        "clusters": outcome.analysis.clusters[order].tolist(),
        "anchors": [anchors[i] for i in order],
        "embedded": {str(int(rank_of[i])): i for i in embedded}
                    if page.thumbnails == "inline" else {},
        "pathOrder": by_path,
        "hrefs": hrefs if any(hrefs) else None,
        "thumbnails": page.thumbnails,
        "thumbnailFolder": relative_href(Path(folder), Path(".")) + "/",
        "thumbnailFormat": THUMBNAIL_FORMAT,
    }


def render_report(outcome: Outcome, page: Page = Page(), report: Path | None = None
                  ) -> tuple[Iterator[bytes], dict[Path, Any]]:
    """The page as UTF-8 pieces, and the files to write beside it (thumbnails, as files).

    The page is streamed rather than built as one string, so memory does not grow with it. It
    is self-contained unless ``page`` asks for plotly.js or thumbnails elsewhere.
    """
    report = Path("report.html") if report is None else report
    context, files, thumbnails = report_context(outcome, page, report.name)
    pieces = environment().get_template(TEMPLATE).generate(context)
    splices = {PLOTLY_PLACEHOLDER: lambda: [plotly_js()], THUMBNAILS_PLACEHOLDER: thumbnails}
    return _encoded(pieces, splices), {report.parent / name: data for name, data in files.items()}


# Jinja yields the page in many small pieces, a few for every cluster, grouping and figure;
# encoding and writing each on its own costs more than rendering it, so they are joined this
# many at a time first.
PIECES_PER_BLOCK = 128


def _encoded(pieces: Iterable[str], splices: dict[str, Callable[[], Iterable[bytes]]]
             ) -> Iterator[bytes]:
    """The page's pieces as UTF-8 blocks, with the bytes of ``splices`` put in place of their
    placeholders (each always one whole piece, so never split between two blocks)."""
    placeholder = re.compile("|".join(map(re.escape, splices)))
    pieces = iter(pieces)
    while run := list(itertools.islice(pieces, PIECES_PER_BLOCK)):
        block = "".join(run)
        start = 0
        for found in placeholder.finditer(block):
            yield block[start : found.start()].encode("utf-8")
            yield from splices[found.group()]()
            start = found.end()
        yield block[start:].encode("utf-8")
