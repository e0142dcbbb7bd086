"""Groupings to set beside the distance-quantile cut, and the statistics that compare them.

``normalized`` repeats the quantile cut after each image is brought to zero mean and unit
variance, so brightness and contrast no longer count. ``kmeans`` clusters the images on their
leading principal components. Every grouping is scored by the same silhouette, computed in the
principal-component space on a bounded sample.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .analysis import (ImageMeasures, add_totals, assign_clusters, cluster_totals,
                       quantile_edges)
from .components import SEED, sample_indices
from .sources import ImageSource

# The silhouette compares every pair of images it scores, so it looks at a sample of this many.
SILHOUETTE_SAMPLE = 4000
SILHOUETTE_MEMORY_MIB = 32
NORMALIZED_PLACES = 6
# Above this many images k-means runs in mini-batches.
FULL_KMEANS_UP_TO = 20_000
METHOD_NAMES = {
    "quantile": "distance quantiles",
    "normalized": "distance quantiles after normalizing each image",
    "kmeans": "k-means on principal components",
}


@dataclass(frozen=True)
class GroupStats:
    """One cluster of a grouping: how big, how it looks on average and how tight it is.

    ``spread`` is the members' mean squared distance to the cluster's own mean image.
    Everything but ``number`` and ``size`` is None for an empty cluster.
    """

    number: int
    size: int
    mean_image: np.ndarray | None
    spread: float | None
    brightness: float | None
    distance_min: float | None
    distance_max: float | None


@dataclass(frozen=True)
class Grouping:
    method: str
    labels: np.ndarray  # cluster numbers from 1, input order
    clusters: list[GroupStats]
    silhouette: float | None

    @property
    def title(self) -> str:
        return METHOD_NAMES[self.method]


def standardized(chunk: np.ndarray) -> np.ndarray:
    """Each image of the chunk at zero mean and unit variance; a flat image becomes all zeros."""
    wide = chunk.reshape(len(chunk), -1).astype(np.int64)
    size = wide.shape[1]
    sums = wide.sum(axis=1)
    # An exact integer numerator, so a flat image gets a variance of exactly zero.
    variance = (np.einsum("ij,ij->i", wide, wide) * size - sums * sums) / size**2
    scale = np.zeros(len(wide))
    np.divide(1.0, np.sqrt(variance), out=scale, where=variance > 0)
    flat = wide.astype(np.float64)
    flat -= (sums / size)[:, None]
    flat *= scale[:, None]
    return flat


def standardized_total(chunk: np.ndarray) -> tuple[np.ndarray, int]:
    """The sum of a chunk's standardized images, and how many there were."""
    return standardized(chunk).sum(axis=0), len(chunk)


def standardized_distances(chunk: np.ndarray, mean: np.ndarray) -> np.ndarray:
    diff = standardized(chunk)
    diff -= mean
    return np.einsum("ij,ij->i", diff, diff)


def normalized_distances(source: ImageSource) -> np.ndarray:
    """Squared distances of the standardized images to their own mean, in two passes.

    Rounded to six decimals, so that distances equal in exact arithmetic, which rounding in the
    standardization can leave a few units apart in the last place, share a cluster.
    """
    totals = source.map(standardized_total)
    mean = sum(total for total, _ in totals) / sum(size for _, size in totals)
    distances = np.concatenate(source.map(standardized_distances, mean))
    return np.round(distances, NORMALIZED_PLACES)


def quantile_labels(distances: np.ndarray, count: int) -> np.ndarray:
    return assign_clusters(distances, quantile_edges(distances, count))


def kmeans_labels(coordinates: np.ndarray, count: int, distances: np.ndarray) -> np.ndarray:
    """k-means clusters numbered from 1 by their members' mean distance to the mean image.

    Asks for no more clusters than there are distinct points; the rest stay empty.
    """
    distinct = len(np.unique(coordinates, axis=0))
    wanted = min(count, distinct)
    if wanted <= 1:
        return np.ones(len(coordinates), dtype=np.int64)
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(coordinates) <= FULL_KMEANS_UP_TO:
        model = KMeans(n_clusters=wanted, n_init=10, random_state=SEED)
    else:
        model = MiniBatchKMeans(n_clusters=wanted, n_init=3, batch_size=4096,
                                random_state=SEED)
    raw = model.fit_predict(coordinates)
    # The algorithm's own numbers are arbitrary; order clusters as the quantile cut does.
    nearness = [(distances[raw == label].mean(), label) for label in range(wanted)]
    renumber = np.empty(wanted, dtype=np.int64)
    for number, (_, label) in enumerate(sorted(nearness), start=1):
        renumber[label] = number
    return renumber[raw]


def silhouette(coordinates: np.ndarray | None, labels: np.ndarray,
               sample: np.ndarray) -> float | None:
    """The mean silhouette of ``labels`` over the sampled images; None where undefined."""
    if coordinates is None or coordinates.shape[1] == 0:
        return None
    points, sampled = coordinates[sample], labels[sample]
    present = len(np.unique(sampled))
    if present < 2 or present > len(sampled) - 1:
        return None
    if not np.any(points != points[0]):
        return None
    from sklearn import config_context
    from sklearn.metrics import silhouette_score

    # Pairwise distances are worked through in blocks of this many MiB, not all at once.
    with config_context(working_memory=SILHOUETTE_MEMORY_MIB):
        score = float(silhouette_score(points, sampled, metric="euclidean"))
    return score if np.isfinite(score) else None


def silhouette_sample(count: int) -> np.ndarray:
    return sample_indices(count, SILHOUETTE_SAMPLE, seed=SEED + 1)


def chunk_cluster_sums(chunk: np.ndarray, labels: np.ndarray, count: int
                       ) -> list[list[np.ndarray | None]]:
    """Exact per-cluster pixel sums of one chunk, for each column of ``labels``."""
    return [cluster_totals([chunk], column, count) for column in labels.T]


def cluster_sums(source: ImageSource, labelings: list[np.ndarray], count: int
                 ) -> list[list[np.ndarray | None]]:
    """Exact per-cluster pixel sums for several labelings of the same images, in one pass."""
    if not labelings:
        return []
    parts = source.map(chunk_cluster_sums, count, sliced=[np.column_stack(labelings)])
    return [add_totals(*(part[which] for part in parts)) for which in range(len(labelings))]


def describe_clusters(labels: np.ndarray, count: int, sums: list[np.ndarray | None],
                      measures: ImageMeasures) -> list[GroupStats]:
    """Size, mean image, spread, brightness and distance range of each cluster.

    The spread needs no further pass: the mean squared distance to the cluster mean is the mean
    of the members' sums of squares less the squared length of that mean.
    """
    stats = []
    for number, total in enumerate(sums, start=1):
        members = labels == number
        size = int(members.sum())
        if size == 0 or total is None:
            stats.append(GroupStats(number, 0, None, None, None, None, None))
            continue
        mean = total / size
        spread = measures.squares[members].sum() / size - float(np.sum(mean * mean))
        distances = measures.distances[members]
        stats.append(GroupStats(
            number=number,
            size=size,
            mean_image=mean,
            spread=max(0.0, float(spread)),
            brightness=float(measures.brightness[members].mean()),
            distance_min=float(distances.min()),
            distance_max=float(distances.max()),
        ))
    return stats
