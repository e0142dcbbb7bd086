"""Groups of images that are the same, or nearly, after preprocessing.

Exact duplicates are found without hashing every image: only images that agree on their exact
pixel sums and distance can be equal, and just those few are read back and compared in full.
Near duplicates are found among neighbours in principal-component space and confirmed on the
pixels.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .analysis import ImageMeasures
from .sources import ImageSource


# Each image is linked to at most this many nearest neighbours, which keeps the search's memory
# linear in the number of images; chains of links still join larger groups.
NEIGHBOURS = 10
# At most this many pixel values are read back to check candidate pairs against the pixels.
CHECK_VALUES = 50_000_000
# Candidate pairs are checked this many at a time.
PAIR_BATCH = 256


@dataclass(frozen=True)
class Duplicates:
    """Groups of image indices (input order), each sorted, the groups by their first member.

    ``near`` is None when the search was not made (no components, or a threshold of 0).
    ``checked`` says whether near pairs were confirmed on the pixels, not only the components.
    """

    exact: list[list[int]]
    near: list[list[int]] | None
    threshold: float
    checked: bool = True


def exact_groups(source: ImageSource, measures: ImageMeasures) -> list[list[int]]:
    """Images whose preprocessed arrays are identical, in groups of two or more."""
    candidates: dict[tuple, list[int]] = defaultdict(list)
    signature = zip(measures.sums.tolist(), measures.squares.tolist(),
                    measures.distances.tolist())
    for index, key in enumerate(signature):
        candidates[key].append(index)
    suspects = [group for group in candidates.values() if len(group) > 1]
    if not suspects:
        return []

    indices = np.array(sorted(i for group in suspects for i in group))
    arrays = source.take(indices)
    row_of = {int(index): row for row, index in enumerate(indices)}
    groups = []
    for group in suspects:
        by_bytes: dict[bytes, list[int]] = defaultdict(list)
        for index in group:
            by_bytes[arrays[row_of[index]].tobytes()].append(index)
        groups.extend(sorted(same) for same in by_bytes.values() if len(same) > 1)
    return sorted(groups)


def near_groups(source: ImageSource, coordinates: np.ndarray, values_per_image: int,
                threshold: float, exact: list[list[int]]) -> tuple[list[list[int]], bool]:
    """Images linked by chains of pairs closer than ``threshold``, in groups of two or more.

    ``threshold`` is a root-mean-square difference per pixel value. A projection onto principal
    components never lengthens a distance, so neighbours within the radius in component space
    include every truly close pair; each candidate pair is then checked on the pixels themselves
    when they fit in ``CHECK_VALUES``. Exact duplicates stand in the search as one image, and a
    group that is one exact-duplicate group and nothing more is left to the exact list. Returns
    the groups and whether the pairs were checked on the pixels.
    """
    representative = np.arange(len(coordinates))
    for group in exact:
        representative[group] = group[0]
    kept = np.flatnonzero(representative == np.arange(len(coordinates)))
    if len(kept) < 2 or threshold <= 0:
        return [], True
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    limit = threshold * threshold * values_per_image  # on squared distances
    wanted = min(NEIGHBOURS, len(kept) - 1)
    distances, neighbours = NearestNeighbors(n_neighbors=wanted).fit(
        coordinates[kept]).kneighbors()
    close = distances * distances < limit
    first = np.repeat(np.arange(len(kept)), wanted)[close.ravel()]
    second = neighbours.ravel()[close.ravel()]
    checked = len(np.unique(np.r_[first, second])) * values_per_image <= CHECK_VALUES
    if checked and len(first):
        truly = pixel_distances(source, kept[first], kept[second]) < limit
        first, second = first[truly], second[truly]

    links = coo_matrix((np.ones(len(first)), (first, second)), shape=(len(kept), len(kept)))
    _, labels = connected_components(links, directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels.tolist()):
        members[label].append(int(kept[position]))
    by_representative = {group[0]: group for group in exact}
    groups = [sorted(i for r in linked for i in by_representative.get(r, [r]))
              for linked in members.values() if len(linked) > 1]
    return sorted(groups), checked


def pixel_distances(source: ImageSource, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Squared distances between the images of each pair, read back in one pass."""
    involved = np.unique(np.r_[first, second])
    arrays = source.take(involved).reshape(len(involved), -1)
    a, b = np.searchsorted(involved, first), np.searchsorted(involved, second)
    out = np.empty(len(first))
    for start in range(0, len(first), PAIR_BATCH):
        stop = start + PAIR_BATCH
        diff = arrays[a[start:stop]].astype(np.float64) - arrays[b[start:stop]]
        out[start:stop] = np.einsum("ij,ij->i", diff, diff)
    return out
