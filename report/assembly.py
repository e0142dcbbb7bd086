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
from .config import Config, is_url
from .decoding import Pending, start_decoding
from .discovery import Discovery, printable
from .exports import ranking_csv, ranking_json
from .links import original_hrefs, relative_href
from .loading import load_images
from .outcome import Outcome
from .pipeline import NoImagesError, find_inputs, plural
from .quality import review
from .render import Page, compile_templates, render_report
from .sources import LocalImages

log = logging.getLogger(__name__)


def compute(config: Config, progress: bool = False, cache: Cache | None = None,
            found: Discovery | None = None, pool: Any = None,
            pending: Pending | None = None) -> Outcome:
    """Find and decode the images and run the analysis and the review; nothing is written.

    ``pending`` is decoding already handed to ``pool``'s workers for ``found``. A local
    ``pool`` passed in is closed once decoding is done; a Dask one (which a Dask run needs)
    stays open, as the arrays live on its workers. The outcome keeps its arrays and thumbnails
    in temporary files or on the cluster: close it when done.
    """
    found = find_inputs(config) if found is None else found
    on_cluster = config.executor == "dask"
    if on_cluster and pool is None:
        raise ValueError('a run with executor = "dask" needs its started decoder_pool()')
    if pending is None and pool is not None and not on_cluster:
        pending = start_decoding(found.candidates, cache, pool)
    # While the workers decode, rather than after them: compile the page's templates (kept in
    # the cache folder when the run uses its cache), and let numpy load the parts of itself that
    # the analysis would otherwise load on first use (np.quantile alone pulls in numpy.ma).
    compile_templates(None if cache is None else config.cache)
    analyse(np.zeros((2, 1, 1), np.uint8), ["a", "b"], 2)
    if on_cluster:
        loaded = pool.load(found.candidates, progress=progress)
    else:
        loaded = load_images(found.candidates, config.preprocess,
                             config.output.thumbnail_size, progress=progress,
                             workers=config.workers, cache=cache, pool=pool, pending=pending)
        if pool is not None:
            pool.close()  # decoding is done: let the workers go before the analysis and page
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
    if on_cluster:
        analysis = loaded.analyse(config.cluster_count)
    else:
        # Each thread keeps the memory of its temporaries once done (the C library gives it a
        # heap of its own), so only arrays held in memory, whose passes are quick and a large
        # share of their run, are measured on several threads; a collection streamed from
        # disk, whose memory must stay flat, is measured on this one.
        threads = config.workers if loaded.arrays.in_memory else 1
        analysis = analyse_chunks(loaded.arrays.chunks, loaded.keys, config.cluster_count,
                                  mean=loaded.mean, threads=threads)
    # On a cluster the review's passes run on the workers, like the method's.
    source = loaded if on_cluster else LocalImages(loaded.arrays.chunks)
    return Outcome(
        title=config.title,
        settings=config.settings(),
        version=__version__,
        names=loaded.names,
        keys=loaded.keys,
        paths=loaded.paths,
        thumbnails=loaded.thumbnails,
        analysis=analysis,
        skipped=sorted(skipped, key=lambda s: s.rel),
        ignored=found.ignored,
        non_images=found.non_images,
        store=loaded,
        review=review(source, analysis, config.review),
    )


def page_files(outcome: Outcome, report: Path, plotly: str, link_roots: list[Path],
               thumbnails: str = "inline", layout: str = "auto") -> dict[Path, Any]:
    """The report page, its CSV and JSON and any thumbnail files, keyed by where they go.

    Thumbnail files are callables that read the outcome's store when written, so write them
    before the outcome is closed.
    """
    folder = report.parent
    csv_path, json_path = report.with_suffix(".csv"), report.with_suffix(".json")
    # Files behind a URL get no link: the page names them by the input URL and their path.
    remote = is_url(outcome.settings["input"]["path"])
    page = Page(
        plotly_js=plotly,
        originals=None if remote else original_hrefs(outcome.paths, folder, link_roots),
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
