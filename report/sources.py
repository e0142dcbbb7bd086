"""Where the review's passes over the preprocessed images run.

Locally the arrays are read back chunk by chunk from the run's store; on a cluster they stay on
the workers that decoded them. The review asks only two things of either: run a small function
on every chunk and hand back its results, and bring a few arrays here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np


class ImageSource(Protocol):
    def map(self, func: Callable[..., Any], *args: Any, sliced: Sequence[np.ndarray] = ()
            ) -> list[Any]:
        """``func(pixels, *parts, *args)`` on every chunk, results in input order.

        ``parts`` are the rows of each array in ``sliced`` (one row per image, in input order)
        that belong to the chunk. ``func`` must be a module-level function and return little.
        """

    def take(self, indices: np.ndarray) -> np.ndarray:
        """The arrays of the images at sorted ``indices``, brought to this process."""


class LocalImages:
    """Images that ``chunks()`` yields afresh, in input order, for each pass."""

    def __init__(self, chunks: Callable[[], Iterable[np.ndarray]]):
        self.chunks = chunks

    def map(self, func: Callable[..., Any], *args: Any, sliced: Sequence[np.ndarray] = ()
            ) -> list[Any]:
        results = []
        start = 0
        for chunk in self.chunks():
            stop = start + len(chunk)
            results.append(func(chunk, *(part[start:stop] for part in sliced), *args))
            start = stop
        return results

    def take(self, indices: np.ndarray) -> np.ndarray:
        return gather(self.chunks(), np.asarray(indices, dtype=np.int64))


def gather(chunks: Iterable[np.ndarray], indices: np.ndarray) -> np.ndarray:
    """The images at sorted ``indices``, collected in one pass over the chunks."""
    taken = []
    start = 0
    for chunk in chunks:
        stop = start + len(chunk)
        lo, hi = np.searchsorted(indices, [start, stop])
        if hi > lo:
            taken.append(chunk[indices[lo:hi] - start])
        start = stop
    return np.concatenate(taken) if taken else np.empty((0,), dtype=np.uint8)
