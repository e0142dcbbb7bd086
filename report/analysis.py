"""The clustering core: mean image, distances, ranking and distance-quantile clusters.

Pure numpy, no I/O, so it can be used as a library without the report around it. Images are
uint8 arrays of shape (n, height, width) or (n, height, width, 3). Every pass reads them in
chunks, so the same functions work on an in-memory stack and on one streamed from disk.
"""

from __future__ import annotations

import collections
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

# Images are processed in slices of this many, so float64 temporaries stay small.
CHUNK = 256

Chunks = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class ClusterSummary:
    """One distance-quantile cluster; distances and mean image are None when it is empty."""

    number: int
    size: int
    distance_min: float | None
    distance_max: float | None
    mean_image: np.ndarray | None


@dataclass(frozen=True)
class ImageMeasures:
    """Numbers taken from each image in the pass that measures its distance, in input order.

    ``brightness`` is the mean pixel value and ``border`` the mean of the outermost ring of
    pixels (the background tone, for most collections), both on the 0-255 scale. ``sums`` and
    ``squares`` are the exact integer sums of the values and of their squares.
    """

    distances: np.ndarray
    brightness: np.ndarray
    border: np.ndarray
    sums: np.ndarray
    squares: np.ndarray


@dataclass(frozen=True)
class Analysis:
    """Everything the method computes; per-image arrays are in input order."""

    mean_image: np.ndarray
    distances: np.ndarray
    order: np.ndarray
    edges: np.ndarray
    clusters: np.ndarray
    summaries: list[ClusterSummary]
    measures: ImageMeasures | None = None


class MeanAccumulator:
    """A running per-pixel sum, exact in 64-bit integers, turned into the float64 mean."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, images: np.ndarray) -> None:
        """Add a chunk of images (a leading axis of any length)."""
        chunk_sum = images.sum(axis=0, dtype=np.int64)
        self.total = chunk_sum if self.total is None else self.total + chunk_sum
        self.count += len(images)

    def add_one(self, image: np.ndarray) -> None:
        """Add a single image, without the cost of a chunk's reduction."""
        if self.total is None:
            self.total = np.zeros(image.shape, dtype=np.int64)
        self.total += image
        self.count += 1

    def mean(self) -> np.ndarray:
        if self.total is None or self.count == 0:
            raise ValueError("the mean of no images is undefined")
        return self.total / self.count


def in_threads(function: Callable[[Any], Any], items: Iterable[Any], threads: int
               ) -> Iterator[Any]:
    """``function(item)`` for each item, in order, on up to ``threads`` threads at once.

    numpy lets go of the interpreter lock in its loops, so passes over chunks run on several
    cores. One item more than there are threads is taken ahead of the results, so memory stays
    bounded.
    """
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as executor:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def in_chunks(images: np.ndarray) -> Chunks:
    """Chunks of an in-memory stack, as the passes below expect them."""
    return lambda: (images[start : start + CHUNK] for start in range(0, len(images), CHUNK))


def mean_image(images: np.ndarray) -> np.ndarray:
    """The per-pixel float64 mean of an in-memory stack."""
    accumulator = MeanAccumulator()
    for chunk in in_chunks(images)():
        accumulator.add(chunk)
    return accumulator.mean()


# The distance pass works on this many images at a time within a chunk: their float64
# differences then stay in the processor's cache, which halves the pass's time.
DISTANCE_SLICE = 32


def squared_distances(chunks: Iterable[np.ndarray], mean: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each image to ``mean``, on the 0-255 scale.

    The distances of :func:`measure`, without the other measures. Each image's sum is computed
    on its own row, so neither the chunks nor the slices change a single bit of any distance.
    """
    parts = [measure_chunk(chunk, mean)[0] for chunk in chunks]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _row_sums_of_squares(rows: np.ndarray) -> np.ndarray:
    """Each row's sum of squares, the same to the last bit however the rows are chunked.

    numpy sums a lone row with another loop than a block of rows, so a lone row is summed as
    the first of two copies; a distance then never depends on where its chunk boundaries fall.
    """
    if len(rows) == 1:
        rows = np.repeat(rows, 2, axis=0)
        return np.einsum("ij,ij->i", rows, rows)[:1]
    return np.einsum("ij,ij->i", rows, rows)


def border_ring(images: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels of each image, flattened: (n, ring values)."""
    if images.shape[1] <= 2 or images.shape[2] <= 2:
        return images.reshape(len(images), -1)  # every pixel of so small an image is border
    parts = (images[:, 0], images[:, -1], images[:, 1:-1, 0], images[:, 1:-1, -1])
    return np.concatenate([part.reshape(len(images), -1) for part in parts], axis=1)


def measure_chunk(chunk: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, ...]:
    """One chunk's distances to ``mean``, pixel sums, sums of squares and border tones.

    Runs wherever the chunk is: in this process, or on the worker of a cluster that holds it.
    """
    flat = chunk.reshape(len(chunk), -1)
    flat_mean = mean.reshape(-1)
    distances, sums, squares = [], [], []
    # Slice by slice, as the distance pass does, so the temporaries stay small and cached.
    for start in range(0, len(flat), DISTANCE_SLICE):
        part = flat[start : start + DISTANCE_SLICE]
        wide = part.astype(np.int64)
        sums.append(wide.sum(axis=1))
        squares.append(np.einsum("ij,ij->i", wide, wide))
        distances.append(_row_sums_of_squares(np.subtract(part, flat_mean, dtype=np.float64)))
    border = border_ring(chunk).mean(axis=1, dtype=np.float64)
    if not distances:
        return np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), border
    return np.concatenate(distances), np.concatenate(sums), np.concatenate(squares), border


def join_measures(parts: list[tuple[np.ndarray, ...]], values_per_image: int) -> ImageMeasures:
    """The per-chunk results of :func:`measure_chunk`, in input order, as one set of measures."""
    if not parts:
        parts = [(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))]
    distances, sums, squares, border = (np.concatenate(column) for column in zip(*parts))
    return ImageMeasures(
        distances=distances.astype(np.float64),
        brightness=sums / max(1, values_per_image),
        border=border.astype(np.float64),
        sums=sums.astype(np.int64),
        squares=squares.astype(np.int64),
    )


def measure(chunks: Iterable[np.ndarray], mean: np.ndarray, threads: int = 1) -> ImageMeasures:
    """Distances to ``mean`` with each image's brightness, border tone and sums, in one pass
    (on ``threads`` threads; the chunks are measured on their own, so the result is the same)."""
    parts = in_threads(lambda chunk: measure_chunk(chunk, mean), chunks, threads)
    return join_measures(list(parts), mean.size)


def rank(distances: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Indices in ascending distance, ties broken by name, so the order is total."""
    if len(names) != len(distances):
        raise ValueError(f"{len(names)} names for {len(distances)} distances")
    # A Python sort rather than a numpy string array, whose width is the longest name's.
    values = distances.tolist()
    order = sorted(range(len(values)), key=lambda i: (values[i], names[i]))
    return np.array(order, dtype=np.int64)


def quantile_edges(distances: np.ndarray, count: int) -> np.ndarray:
    """The cluster edges: distance quantiles at 1/count ... (count-1)/count (linear)."""
    if count < 1:
        raise ValueError(f"cluster count must be at least 1, not {count}")
    if count == 1 or len(distances) == 0:
        return np.empty(0, dtype=np.float64)
    return np.quantile(distances, np.arange(1, count) / count)


def assign_clusters(distances: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Cluster numbers from 1: one more than the number of edges strictly below the distance."""
    return np.searchsorted(edges, distances, side="left").astype(np.int64) + 1


def cluster_means(chunks: Iterable[np.ndarray], clusters: np.ndarray, count: int,
                  threads: int = 1) -> list[np.ndarray | None]:
    """Each cluster's own mean image (None for an empty cluster), in one pass."""
    return means_from_totals(cluster_totals(chunks, clusters, count, threads), clusters, count)


def cluster_totals(chunks: Iterable[np.ndarray], clusters: np.ndarray, count: int,
                   threads: int = 1) -> list[np.ndarray | None]:
    """Each cluster's per-pixel sum in exact 64-bit integers (None where no image falls).

    ``clusters`` labels the images that ``chunks`` yields, in order. Totals of disjoint sets
    of images add up exactly, so they can be summed part by part, on ``threads`` threads.
    """
    def labelled() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        start = 0
        for chunk in chunks:
            yield chunk, clusters[start : start + len(chunk)]
            start += len(chunk)

    def chunk_totals(pair: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray | None]:
        chunk, labels = pair
        totals: list[np.ndarray | None] = [None] * count
        for number in np.unique(labels):
            totals[int(number) - 1] = chunk[labels == number].sum(axis=0, dtype=np.int64)
        return totals

    return functools.reduce(add_totals, in_threads(chunk_totals, labelled(), threads),
                            [None] * count)


def add_totals(*parts: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Per-cluster totals of disjoint sets of images, added cluster by cluster."""
    def add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
        return b if a is None else a if b is None else a + b
    return [functools.reduce(add, column) for column in zip(*parts)]


def means_from_totals(totals: list[np.ndarray | None], clusters: np.ndarray, count: int
                      ) -> list[np.ndarray | None]:
    """Cluster mean images from the totals of :func:`cluster_totals` and every image's label."""
    sizes = np.bincount(clusters, minlength=count + 1)[1:]
    return [None if total is None else total / size for total, size in zip(totals, sizes)]


def summarise_clusters(distances: np.ndarray, clusters: np.ndarray,
                       means: list[np.ndarray | None]) -> list[ClusterSummary]:
    """Size, distance range and mean image of each cluster, empty ones included."""
    summaries = []
    for number, mean in enumerate(means, start=1):
        member_distances = distances[clusters == number]
        if len(member_distances) == 0:
            summaries.append(ClusterSummary(number, 0, None, None, None))
            continue
        summaries.append(ClusterSummary(
            number=number,
            size=len(member_distances),
            distance_min=float(member_distances.min()),
            distance_max=float(member_distances.max()),
            mean_image=mean,
        ))
    return summaries


def analyse_chunks(chunks: Chunks, names: Sequence[str], count: int,
                   mean: np.ndarray | None = None, threads: int = 1) -> Analysis:
    """Run the whole method over images that ``chunks()`` yields afresh for each pass.

    Pass ``mean`` when it was already accumulated while the images were loaded, to save a pass.
    The passes after it run on ``threads`` threads, with the same result as on one.
    """
    if mean is None:
        accumulator = MeanAccumulator()
        for chunk in chunks():
            accumulator.add(chunk)
        mean = accumulator.mean()
    return finish_analysis(mean, measure(chunks(), mean, threads), names, count,
                           lambda clusters: cluster_means(chunks(), clusters, count, threads))


def finish_analysis(mean: np.ndarray, measures: ImageMeasures, names: Sequence[str],
                    count: int, means_of: Callable[[np.ndarray], list[np.ndarray | None]]
                    ) -> Analysis:
    """The rest of the method once the mean and each image's measures are known.

    ``means_of(clusters)`` gives each cluster's mean image from every image's cluster label,
    wherever the images are kept: on this machine or on the workers of a cluster.
    """
    distances = measures.distances
    edges = quantile_edges(distances, count)
    clusters = assign_clusters(distances, edges)
    return Analysis(
        mean_image=mean,
        distances=distances,
        order=rank(distances, names),
        edges=edges,
        clusters=clusters,
        summaries=summarise_clusters(distances, clusters, means_of(clusters)),
        measures=measures,
    )


def analyse(images: np.ndarray, names: Sequence[str], count: int) -> Analysis:
    """Run the whole method on an in-memory stack of preprocessed images."""
    if len(images) == 0:
        raise ValueError("the mean of no images is undefined")
    return analyse_chunks(in_chunks(images), names, count)
