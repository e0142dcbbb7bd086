"""One run from config to written files: discover, load, analyse, render, write."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from . import __version__
from .analysis import analyse_chunks
from .atomic import check_writable, write_atomically
from .cache import Cache, fingerprint
from .config import Config, is_url
from .discovery import Discovery, InputError, discover, printable
from .exports import ranking_csv, ranking_json
from .links import original_hrefs, relative_href
from .loading import THUMBNAIL_FORMAT, THUMBNAIL_QUALITY, DecoderPool, load_images
from .outcome import Outcome
from .quality import review
from .sources import LocalImages
from .render import (PLOTLY_FILE, Page, plotly_js, plotly_version, render_report,
                     templates_digest, thumbnail_folder)

log = logging.getLogger(__name__)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class NoImagesError(RuntimeError):
    """The input held no image that could be used."""


@dataclass(frozen=True)
class Written:
    report: Path
    csv: Path
    json: Path
    fresh: bool = True


def find_inputs(config: Config) -> Discovery:
    """Walk the input folder (or list the URL) as the config says and log what was passed
    over."""
    if config.input.remote:
        # fsspec is imported only for an input that needs it.
        from .remote import discover_remote

        found = discover_remote(config.input, config.source)
        _log_found(config, found)
        return found
    if Path(config.input.path).is_absolute():
        log.warning("the input path %s is absolute and is shown as it is in the report; give "
                    "a relative path in reports you publish", printable(config.input.path))
    try:
        own_outputs = (config.output.path.with_name(thumbnail_folder(config.output.path.name)),
                       *([config.output.site] if config.output.site else []))
        found = discover(config.input.folder, config.input.recursive, config.input.include,
                         config.input.exclude, config.input.hidden, own_outputs)
    except InputError as exc:
        where = config.input.describe()
        if not config.input.from_command_line:
            where = f"{config.source}: {where}"
        raise InputError(f"{where}: {exc}") from None
    _log_found(config, found)
    return found


def _log_found(config: Config, found: Discovery) -> None:
    log.info("found %s to try in %s", plural(len(found.candidates), "file"),
             printable(config.input.path))
    if found.ignored or found.non_images:
        log.info("passed over %s and %s", plural(found.ignored, "hidden or system file"),
                 plural(found.non_images, "non-image file"))


def software_versions() -> dict[str, str]:
    """Everything whose version can change a decoded array, a thumbnail or the page."""
    return {"tool": __version__, "pillow": PIL.__version__, "numpy": np.__version__,
            "plotly": plotly_version(), "templates": templates_digest()}


def analysis_versions() -> dict[str, str]:
    """The statistics libraries behind the review, read without importing them."""
    return {name: metadata.version(name) for name in ("scikit-learn", "scipy")}


def open_cache(config: Config, use_cache: bool) -> Cache | None:
    """The decode cache for this config's preprocessing, unless caching is off.

    Runs on Dask and URL inputs go without it: it keys files by local path, size and stamp.
    """
    if config.executor == "dask" or config.input.remote:
        return None
    key = fingerprint({
        "versions": software_versions(),
        "preprocess": config.settings()["preprocess"],
        "thumbnail": [config.output.thumbnail_size, THUMBNAIL_FORMAT, THUMBNAIL_QUALITY],
    })
    return Cache.open_or_none(config.cache if use_cache else None, key)


def decoder_pool(config: Config) -> Any:
    """The workers for a run: a local process pool, or a Dask client with ``executor = "dask"``.

    Start it before anything else grows the process. A URL input's back end is checked
    first, so a missing one stops the run before any worker starts.
    """
    if config.input.remote:
        from .remote import filesystem

        filesystem(config.input, config.source)
    if config.executor == "dask":
        # Dask is imported only for a run that asks for it.
        from .distributed import DaskExecutor

        return DaskExecutor(config)
    return DecoderPool(config.preprocess, config.output.thumbnail_size, config.workers)


def compute(config: Config, progress: bool = False, cache: Cache | None = None,
            found: Discovery | None = None, pool: Any = None) -> Outcome:
    """Find and decode the images and run the analysis; nothing is written.

    A local ``pool`` passed in is closed once decoding is done; a Dask one (which a Dask run
    needs) stays open, as the arrays live on its workers. The outcome keeps its arrays and
    thumbnails in temporary files or on the cluster: close it when done.
    """
    found = find_inputs(config) if found is None else found
    on_cluster = config.executor == "dask"
    if on_cluster and pool is None:
        raise ValueError('a run with executor = "dask" needs its started decoder_pool()')
    if on_cluster:
        loaded = pool.load(found.candidates, progress=progress)
    else:
        loaded = load_images(found.candidates, config.preprocess,
                             config.output.thumbnail_size, progress=progress,
                             workers=config.workers, cache=cache, pool=pool)
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
        analysis = analyse_chunks(loaded.arrays.chunks, loaded.keys, config.cluster_count,
                                  mean=loaded.mean)
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


def run(config: Config, progress: bool = False, use_cache: bool = True) -> Written:
    """Compute the outcome and write the report, CSV and JSON, all or none of them.

    When the cache says the same inputs already made the files that are in place, nothing is
    decoded or written again.
    """
    output = config.output
    for target in (output.path, output.csv_path, output.json_path):
        check_writable(target)
    # Workers start first, while this process is small, so they do not inherit its memory.
    with decoder_pool(config) as pool:
        return _run(config, progress, use_cache, pool)


def _run(config: Config, progress: bool, use_cache: bool, pool: DecoderPool) -> Written:
    output = config.output
    found = find_inputs(config)
    cache = open_cache(config, use_cache)
    roots = [config.source.parent, Path.cwd()]
    inputs = "" if cache is None else fingerprint({
        "versions": {**software_versions(), **analysis_versions()},
        "settings": config.settings(),
        "title": config.title,
        "page": [output.plotly_js, output.thumbnails, output.layout,
                 [str(r.resolve()) for r in roots]],
        "files": [[c.key, c.size, c.stamp] for c in found.candidates],
        "passed_over": [[s.rel, s.reason] for s in found.skipped],
        "counts": [found.ignored, found.non_images],
    })
    try:
        if cache is not None and cache.report_is_current(output.path, inputs):
            log.info("%s is up to date", output.path)
            return Written(output.path, output.csv_path, output.json_path, fresh=False)
        outcome = compute(config, progress, cache, found, pool)
        del found  # the candidates are not needed any more; free them before the page
        try:
            files = page_files(outcome, output.path, output.plotly_js, roots,
                               output.thumbnails, output.layout)
            if output.plotly_js == "directory":
                files[output.path.with_name(PLOTLY_FILE)] = plotly_js()
            write_atomically(files)
        finally:
            outcome.close()
        main_files = {output.path, output.csv_path, output.json_path}
        # A file skipped for a reason that may pass must be tried again next run.
        if cache is not None and not outcome.store.passing:
            hashed = [p for p in files if not callable(files[p]) or p in main_files]
            cache.record_report(output.path, hashed,
                                [p for p in files if p not in hashed], inputs)
    finally:
        if cache is not None:
            cache.close()
    return Written(output.path, output.csv_path, output.json_path)
