"""The clustering core: mean image, distances, ranking and distance-quantile clusters.

Pure numpy, no I/O, so it can be used as a library without the report around it. Images are
uint8 arrays of shape (n, height, width) or (n, height, width, 3). Every pass reads them in
chunks, so the same functions work on an in-memory stack and on one streamed from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

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
class Analysis:
    """Everything the method computes; per-image arrays are in input order."""

    mean_image: np.ndarray
    distances: np.ndarray
    order: np.ndarray
    edges: np.ndarray
    clusters: np.ndarray
    summaries: list[ClusterSummary]


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

    Each image's sum is computed on its own row, so neither the chunks nor the slices change a
    single bit of any distance.
    """
    flat_mean = mean.reshape(-1)
    parts = []
    for chunk in chunks:
        flat = chunk.reshape(len(chunk), -1)
        for start in range(0, len(flat), DISTANCE_SLICE):
            diff = np.subtract(flat[start : start + DISTANCE_SLICE], flat_mean,
                               dtype=np.float64)
            parts.append(_row_sums_of_squares(diff))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _row_sums_of_squares(rows: np.ndarray) -> np.ndarray:
    """The sum of squares along each row of a 2-D float64 array.

    numpy sums a lone row by another path whose last bit can differ, so a single row is summed
    as one of two equal rows: an image's distance then never depends on where a slice ends.
    """
    if len(rows) == 1:
        pair = np.repeat(rows, 2, axis=0)
        return np.einsum("ij,ij->i", pair, pair)[:1]
    return np.einsum("ij,ij->i", rows, rows)


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


def cluster_means(chunks: Iterable[np.ndarray], clusters: np.ndarray, count: int
                  ) -> list[np.ndarray | None]:
    """Each cluster's own mean image (None for an empty cluster), in one pass."""
    totals: list[np.ndarray | None] = [None] * count
    start = 0
    for chunk in chunks:
        labels = clusters[start : start + len(chunk)]
        start += len(chunk)
        for number in np.unique(labels):
            part = chunk[labels == number].sum(axis=0, dtype=np.int64)
            index = int(number) - 1
            totals[index] = part if totals[index] is None else totals[index] + part
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
                   mean: np.ndarray | None = None) -> Analysis:
    """Run the whole method over images that ``chunks()`` yields afresh for each pass.

    Pass ``mean`` when it was already accumulated while the images were loaded, to save a pass.
    """
    if mean is None:
        accumulator = MeanAccumulator()
        for chunk in chunks():
            accumulator.add(chunk)
        mean = accumulator.mean()
    distances = squared_distances(chunks(), mean)
    edges = quantile_edges(distances, count)
    clusters = assign_clusters(distances, edges)
    return Analysis(
        mean_image=mean,
        distances=distances,
        order=rank(distances, names),
        edges=edges,
        clusters=clusters,
        summaries=summarise_clusters(distances, clusters,
                                     cluster_means(chunks(), clusters, count)),
    )


def analyse(images: np.ndarray, names: Sequence[str], count: int) -> Analysis:
    """Run the whole method on an in-memory stack of preprocessed images."""
    if len(images) == 0:
        raise ValueError("the mean of no images is undefined")
    return analyse_chunks(in_chunks(images), names, count)
