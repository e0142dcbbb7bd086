"""One run from config to written files: discover, decode, analyse, render, write.

This module keeps the run's order and everything that comes before the decoding, and loads
only light libraries: the workers are set to work first, and the libraries that analyse and
lay out the page (numpy, Jinja; see :mod:`report.assembly`) load while they decode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL

from . import __version__
from .assets import PLOTLY_FILE, plotly_js, plotly_version, templates_digest, thumbnail_folder
from .atomic import check_writable, write_atomically
from .cache import Cache, fingerprint
from .config import Config
from .decoding import THUMBNAIL_FORMAT, THUMBNAIL_QUALITY, DecoderPool, start_decoding
from .discovery import Discovery, InputError, discover, printable

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
        # The run's own folders are never read as input, its cache included.
        own_outputs = (config.output.path.with_name(thumbnail_folder(config.output.path.name)),
                       *([config.output.site] if config.output.site else []),
                       *([config.cache] if config.cache else []))
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
    """Everything whose version can change a decoded array, a thumbnail or the page.

    numpy's version is read from its installed metadata, so asking does not load numpy; the
    metadata reader itself loads only here, for runs with a cache.
    """
    import importlib.metadata

    return {"tool": __version__, "pillow": PIL.__version__,
            "numpy": importlib.metadata.version("numpy"), "plotly": plotly_version(),
            "templates": templates_digest()}


def analysis_versions() -> dict[str, str]:
    """The statistics libraries behind the review, read without importing them."""
    import importlib.metadata

    return {name: importlib.metadata.version(name) for name in ("scikit-learn", "scipy")}


def open_cache(config: Config, use_cache: bool) -> Cache | None:
    """The decode cache for this config's preprocessing, unless caching is off.

    Runs on Dask and URL inputs go without it: it keys files by local path, size and stamp.
    """
    if not use_cache or config.executor == "dask" or config.input.remote:
        return None
    key = fingerprint({
        "versions": software_versions(),
        "preprocess": config.settings()["preprocess"],
        "thumbnail": [config.output.thumbnail_size, THUMBNAIL_FORMAT, THUMBNAIL_QUALITY],
    })
    return Cache.open_or_none(config.cache, key)


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


def _run(config: Config, progress: bool, use_cache: bool, pool: Any) -> Written:
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
        on_cluster = config.executor == "dask"
        pending = None if on_cluster else start_decoding(found.candidates, cache, pool)
        # The workers are decoding: load the libraries that analyse and lay out the page now.
        from .assembly import compute, page_files

        outcome = compute(config, progress, cache, found, pool, pending)
        del found, pending  # not needed any more; free the candidates before the page
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
