"""The clustering core: mean image, distances, ranking and distance-quantile clusters.

Pure numpy, no I/O, so it can be used as a library without the report around it.
Images arrive as one uint8 array of shape (n, height, width) or (n, height, width, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Images are processed in slices of this many, so float64 temporaries stay small.
CHUNK = 512


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


def _chunks(count: int) -> range:
    return range(0, count, CHUNK)


def mean_image(images: np.ndarray) -> np.ndarray:
    """The per-pixel float64 mean, summed in float64 so no uint8 value wraps."""
    if len(images) == 0:
        raise ValueError("the mean of no images is undefined")
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in _chunks(len(images)):
        total += images[start : start + CHUNK].sum(axis=0, dtype=np.float64)
    return total / len(images)


def squared_distances(images: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each image to ``mean``, on the 0-255 scale."""
    distances = np.empty(len(images), dtype=np.float64)
    flat_mean = mean.reshape(-1)
    for start in _chunks(len(images)):
        block = images[start : start + CHUNK].reshape(-1, flat_mean.size)
        diff = block.astype(np.float64) - flat_mean
        distances[start : start + len(block)] = np.einsum("ij,ij->i", diff, diff)
    return distances


def rank(distances: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Indices in ascending distance, ties broken by name, so the order is total."""
    if len(names) != len(distances):
        raise ValueError(f"{len(names)} names for {len(distances)} distances")
    keys = np.array(names, dtype=str) if len(names) else np.array([], dtype=str)
    return np.lexsort((keys, distances))


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


def summarise_clusters(
    images: np.ndarray, distances: np.ndarray, clusters: np.ndarray, count: int
) -> list[ClusterSummary]:
    """Size, distance range and mean image of each cluster, empty ones included."""
    summaries = []
    for number in range(1, count + 1):
        members = np.flatnonzero(clusters == number)
        if len(members) == 0:
            summaries.append(ClusterSummary(number, 0, None, None, None))
            continue
        member_distances = distances[members]
        summaries.append(ClusterSummary(
            number=number,
            size=len(members),
            distance_min=float(member_distances.min()),
            distance_max=float(member_distances.max()),
            mean_image=mean_image(images[members]),
        ))
    return summaries


def analyse(images: np.ndarray, names: Sequence[str], count: int) -> Analysis:
    """Run the whole method on a stack of preprocessed images."""
    mean = mean_image(images)
    distances = squared_distances(images, mean)
    edges = quantile_edges(distances, count)
    clusters = assign_clusters(distances, edges)
    return Analysis(
        mean_image=mean,
        distances=distances,
        order=rank(distances, names),
        edges=edges,
        clusters=clusters,
        summaries=summarise_clusters(images, distances, clusters, count),
    )
