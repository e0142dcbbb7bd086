"""What Dask workers run for a run on a cluster: decode a chunk of files, and reduce the chunks
they hold to the small results the client needs.

Kept apart from the client side so that workers import only what they use. The decoding is
the local executor's own per-file decoder, so a chunk holds exactly the arrays and thumbnails a
local run would make.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import PIL

from . import __version__
from .analysis import cluster_totals
from .config import PreprocessSettings
from .decoding import decode_result
from .loading import _array_shape
from .store import Thumbnail


@dataclass
class DecodedChunk:
    """One task's files after decoding: the arrays of those that decoded, in order, their
    thumbnails, and for every file None or the reason it was skipped."""

    pixels: np.ndarray
    thumbnails: list[Thumbnail]
    reasons: list[str | None]

    def __sizeof__(self) -> int:
        # Dask sizes task results by this: without it a chunk looks tiny, so the scheduler
        # would move chunks between workers freely and count them wrong against memory limits.
        return self.pixels.nbytes + sum(len(t.data) for t in self.thumbnails) + 64 * len(
            self.reasons)


def decode_chunk(sources: Sequence[Any], settings: PreprocessSettings, thumbnail_size: int
                 ) -> DecodedChunk:
    """Decode a chunk's files with the local executor's own per-file decoder."""
    shape = _array_shape(settings)
    arrays, thumbnails, reasons = [], [], []
    for source in sources:
        result = decode_result(source, settings, thumbnail_size)
        if isinstance(result, str):
            reasons.append(result)
            continue
        pixels, thumbnail, _frames = result
        arrays.append(np.frombuffer(pixels, np.uint8).reshape(shape))
        thumbnails.append(thumbnail)
        reasons.append(None)
    stacked = np.stack(arrays) if arrays else np.empty((0, *shape), np.uint8)
    return DecodedChunk(stacked, thumbnails, reasons)


def chunk_summary(chunk: DecodedChunk) -> tuple[list[str | None], np.ndarray]:
    """What the client keeps of a chunk: each file's outcome and each thumbnail's size."""
    sizes = np.array([(t.width, t.height) for t in chunk.thumbnails], np.uint16).reshape(-1, 2)
    return chunk.reasons, sizes


def chunk_sum(chunk: DecodedChunk) -> np.ndarray:
    """The chunk's per-pixel sum, exact in 64-bit integers."""
    return chunk.pixels.sum(axis=0, dtype=np.int64)


def add_up(*parts: np.ndarray) -> np.ndarray:
    return functools.reduce(np.add, parts)


def mean_of(total: np.ndarray, count: int) -> np.ndarray:
    """The float64 mean from the exact sum, divided as the local executor divides it."""
    return total / count


def on_pixels(func: Callable[..., Any], chunk: DecodedChunk, *args: Any) -> Any:
    """Apply ``func`` to a chunk's arrays on the worker that holds them."""
    return func(chunk.pixels, *args)


def pick_thumbnails(chunk: DecodedChunk, positions: list[int] | None) -> list[Thumbnail]:
    return chunk.thumbnails if positions is None else [chunk.thumbnails[p] for p in positions]


def cluster_totals_of(pixels: np.ndarray, labels: np.ndarray, count: int
                      ) -> list[np.ndarray | None]:
    return cluster_totals([pixels], labels, count)


def arrays_at(pixels: np.ndarray, positions: list[int]) -> np.ndarray:
    return pixels[positions]


def environment() -> dict[str, str]:
    """The versions that shape a decoded array, to compare the workers' with the client's."""
    return {"mean-image-report": __version__, "numpy": np.__version__,
            "pillow": PIL.__version__}
