"""Gather the decoded images of a run, in input order, into the run's stores.

Results come from the decoding workers (see :mod:`report.decoding`) or from the cache, in input
order whatever order the workers finish in. Arrays and thumbnails go to the stores (see
:mod:`report.store`: in memory or on disk) as they arrive, and the mean image is summed on the
way.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .analysis import MeanAccumulator
from .cache import Cache
from .config import PreprocessSettings
from .decoding import (CachedImage, DecoderPool, PassingFailure, Pending, decode_result,
                       start_decoding)
from .discovery import Candidate, Skipped, printable
from .store import ArrayStore, ThumbnailStore

log = logging.getLogger(__name__)


@dataclass
class LoadedSet:
    """Every usable image in input order, its arrays and thumbnails on disk, and the rest.

    ``mean`` is the per-pixel mean, accumulated while the images streamed in.
    """

    names: list[str]
    keys: list[str]
    paths: list[Path]
    arrays: ArrayStore
    thumbnails: ThumbnailStore
    skipped: list[Skipped] = field(default_factory=list)
    mean: np.ndarray | None = None
    decoded: int = 0  # images decoded in this run rather than taken from the cache
    passing: int = 0  # files skipped for reasons that may not hold next time

    @property
    def pixels(self) -> np.ndarray:
        """All arrays in memory at once; for small sets and tests."""
        return self.arrays.read_all()

    def close(self) -> None:
        self.arrays.close()
        self.thumbnails.close()



@contextlib.contextmanager
def progress_bar(total: int, shown: bool) -> Iterator[Callable[[], None]]:
    """A function to call once per file, drawing a progress bar when ``shown``.

    tqdm is imported only when a bar is drawn: its import costs more than a small run's
    analysis.
    """
    if not shown:
        yield lambda: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    # Warnings go through tqdm while the bar is drawn, so they do not run into it.
    with tqdm(total=total, desc="Decoding", unit="img", leave=False) as bar, \
            logging_redirect_tqdm(loggers=[logging.getLogger("report")]):
        yield bar.update


def _array_shape(settings: PreprocessSettings) -> tuple[int, ...]:
    width, height = settings.size
    return (height, width) if settings.mode == "L" else (height, width, 3)


def load_images(
    candidates: Iterable[Candidate],
    settings: PreprocessSettings,
    thumbnail_size: int,
    progress: bool = False,
    workers: int = 1,
    cache: Cache | None = None,
    pool: DecoderPool | None = None,
    pending: Pending | None = None,
) -> LoadedSet:
    """Decode every candidate, in input order; files that fail are skipped and listed.

    Files the cache already holds for these settings are not decoded again. Pass a running
    ``pool`` to reuse its workers, or the ``pending`` work already handed to them (the
    candidates are then taken from it); otherwise a pool with ``workers`` processes is
    started here.
    """
    if pending is None and pool is None:
        with DecoderPool(settings, thumbnail_size, workers) as own_pool:
            return load_images(candidates, settings, thumbnail_size, progress, workers, cache,
                               own_pool)
    if pending is None:
        pending = start_decoding(candidates, cache, pool)
    candidates, cached, decoded = pending.candidates, pending.cached, pending.results
    loaded = LoadedSet([], [], [], ArrayStore(_array_shape(settings), len(candidates)),
                       ThumbnailStore())
    accumulator = MeanAccumulator()

    with progress_bar(len(candidates), progress) as advance:
        for candidate, hit in zip(candidates, cached):
            result = cache.get(candidate.path, candidate.size, candidate.stamp) if hit else None
            if isinstance(result, tuple) and len(result[0]) != loaded.arrays.item_bytes:
                result = None  # a damaged entry: decode the file again
            fresh = result is None
            if fresh:
                # A cache entry that vanished since the check is simply decoded here.
                result = (decode_result(candidate.path, settings, thumbnail_size) if hit
                          else next(decoded))
                _remember(cache, candidate, result)
            advance()
            if isinstance(result, str):
                loaded.passing += isinstance(result, PassingFailure)
                log.warning("skipped %s: %s", printable(candidate.rel), printable(result))
                loaded.skipped.append(Skipped(candidate.rel, result))
                continue
            pixels, thumbnail, _frames = result
            loaded.decoded += fresh
            loaded.arrays.append(pixels)
            accumulator.add_one(np.frombuffer(pixels, np.uint8).reshape(loaded.arrays.shape))
            loaded.thumbnails.append(thumbnail)
            loaded.names.append(candidate.rel)
            loaded.keys.append(candidate.key or candidate.rel)
            loaded.paths.append(candidate.path)
    if loaded.names:
        loaded.mean = accumulator.mean()
    return loaded


def _remember(cache: Cache | None, candidate: Candidate, result: CachedImage | str) -> None:
    """Store a fresh result in the cache, unless it is a failure that may pass."""
    if cache is not None and not isinstance(result, PassingFailure):
        cache.put(candidate.path, candidate.size, candidate.stamp, result)
