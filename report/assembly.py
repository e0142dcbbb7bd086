"""The part of a run that follows the decoding: gather, analyse, and lay out the files.

It needs numpy and Jinja, which :mod:`report.pipeline` loads only once the workers are busy.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .analysis import analyse, analyse_chunks
from .cache import Cache
from .config import Config
from .decoding import DecoderPool, Pending, start_decoding
from .discovery import Discovery, printable
from .exports import ranking_csv, ranking_json
from .links import original_hrefs, relative_href
from .loading import load_images
from .outcome import Outcome
from .pipeline import NoImagesError, find_inputs, plural
from .render import TEMPLATE, Page, environment, render_report

log = logging.getLogger(__name__)


def compute(config: Config, progress: bool = False, cache: Cache | None = None,
            found: Discovery | None = None, pool: DecoderPool | None = None,
            pending: Pending | None = None) -> Outcome:
    """Find and decode the images and run the analysis; nothing is written.

    ``pending`` is decoding already handed to ``pool``'s workers for ``found``. A ``pool``
    passed in is closed once decoding is done. The outcome keeps its arrays and thumbnails in
    temporary files: close it when done.
    """
    found = find_inputs(config) if found is None else found
    if pending is None and pool is not None:
        pending = start_decoding(found.candidates, cache, pool)
    # While the workers decode, rather than after them: compile the page's template, and let
    # numpy load the parts of itself that the analysis would otherwise load on first use
    # (np.quantile alone pulls in numpy.ma).
    environment().get_template(TEMPLATE)
    analyse(np.zeros((2, 1, 1), np.uint8), ["a", "b"], 2)
    loaded = load_images(found.candidates, config.preprocess, config.output.thumbnail_size,
                         progress=progress, workers=config.workers, cache=cache, pool=pool,
                         pending=pending)
    if pool is not None:
        pool.close()  # decoding is done: let the workers go before the analysis and the page
    skipped = found.skipped + loaded.skipped
    if not loaded.names:
        loaded.close()
        detail = f"; {plural(len(skipped), 'file')} could not be read" if skipped else ""
        if found.non_images or found.ignored:
            detail += (f"; passed over {plural(found.non_images, 'non-image file')} and "
                       f"{plural(found.ignored, 'hidden or system file')}")
        raise NoImagesError(f"no usable images found in {printable(config.input.path)}{detail}")
    log.info("decoded %s (%d from the cache), skipped %d",
             plural(len(loaded.names), "image"), len(loaded.names) - loaded.decoded,
             len(skipped))

    return Outcome(
        title=config.title,
        settings=config.settings(),
        version=__version__,
        names=loaded.names,
        keys=loaded.keys,
        paths=loaded.paths,
        thumbnails=loaded.thumbnails,
        analysis=analyse_chunks(loaded.arrays.chunks, loaded.keys, config.cluster_count,
                                mean=loaded.mean),
        skipped=sorted(skipped, key=lambda s: s.rel),
        ignored=found.ignored,
        non_images=found.non_images,
        store=loaded,
    )


def page_files(outcome: Outcome, report: Path, plotly: str, link_roots: list[Path],
               thumbnails: str = "inline", layout: str = "auto") -> dict[Path, Any]:
    """The report page, its CSV and JSON and any thumbnail files, keyed by where they go.

    Thumbnail files are callables that read the outcome's store when written, so write them
    before the outcome is closed.
    """
    folder = report.parent
    csv_path, json_path = report.with_suffix(".csv"), report.with_suffix(".json")
    page = Page(
        plotly_js=plotly,
        originals=original_hrefs(outcome.paths, folder, link_roots),
        csv_href=relative_href(csv_path, folder),
        json_href=relative_href(json_path, folder),
        thumbnails=thumbnails,
        layout=layout,
    )
    html, extra = render_report(outcome, page, report)
    files: dict[Path, Any] = {
        csv_path: functools.partial(ranking_csv, outcome),
        json_path: functools.partial(ranking_json, outcome),
        report: lambda: html,
    }
    files.update(extra)
    return files
