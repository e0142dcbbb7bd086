"""Groups of images that are the same, or nearly, after preprocessing.

Exact duplicates are found without hashing every image: only images that agree on their exact
pixel sums and distance can be equal, and just those few are read back and compared in full.
Near duplicates are neighbours in principal-component space within a threshold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .analysis import ImageMeasures
from .components import gather


@dataclass(frozen=True)
class Duplicates:
    """Groups of image indices (input order), each sorted, the groups by their first member.

    ``near`` is None when the search was not made (no components, or a threshold of 0).
    """

    exact: list[list[int]]
    near: list[list[int]] | None
    threshold: float


def exact_groups(chunks: Iterable[np.ndarray], measures: ImageMeasures) -> list[list[int]]:
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
    arrays = gather(chunks, indices)
    row_of = {int(index): row for row, index in enumerate(indices)}
    groups = []
    for group in suspects:
        by_bytes: dict[bytes, list[int]] = defaultdict(list)
        for index in group:
            by_bytes[arrays[row_of[index]].tobytes()].append(index)
        groups.extend(sorted(same) for same in by_bytes.values() if len(same) > 1)
    return sorted(groups)


def near_groups(coordinates: np.ndarray, values_per_image: int, threshold: float,
                exact: list[list[int]]) -> list[list[int]]:
    """Images linked by chains of neighbours closer than ``threshold``, in groups of two or more.

    ``threshold`` is a root-mean-square difference per pixel value, so the radius in component
    space is the threshold times the square root of the values per image. Groups that are one
    exact-duplicate group and nothing more are left to the exact list.
    """
    if len(coordinates) < 2 or threshold <= 0:
        return []
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    radius = threshold * np.sqrt(values_per_image)
    graph = NearestNeighbors(radius=radius).fit(coordinates).radius_neighbors_graph(
        coordinates, mode="connectivity")
    _, labels = connected_components(graph, directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels.tolist()):
        members[label].append(index)
    exact_sets = {tuple(group) for group in exact}
    groups = [group for group in members.values()
              if len(group) > 1 and tuple(group) not in exact_sets]
    return sorted(groups)
