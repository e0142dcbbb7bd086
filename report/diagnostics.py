"""How much of the distance ranking is only brightness or background tone.

The rank correlation is the Spearman coefficient: the Pearson correlation of tie-averaged
ranks. It is worked out here in numpy rather than through ``scipy.stats.spearmanr`` (the tests
check the two agree) because importing ``scipy.stats`` takes about a second, which would more
than double a run over a small folder that asks for nothing else from scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import ImageMeasures

# Fewer images than this give a rank correlation that says nothing.
MIN_IMAGES = 3


@dataclass(frozen=True)
class Diagnostics:
    """Rank correlations of the distance with brightness and with background tone.

    Each is None when there is not enough variation to define it (too few images, or a
    measure that is the same for every image).
    """

    brightness_rank_correlation: float | None
    background_rank_correlation: float | None


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, with tied values sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    # Positions start..end-1 (0-based) share the rank (start + end + 1) / 2 (1-based).
    shared = np.repeat((starts + ends + 1) / 2, ends - starts)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = shared
    return ranks


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation of ``x`` and ``y``; None where it is undefined."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} values against {len(y)}")
    if len(x) < MIN_IMAGES:
        return None
    rx = average_ranks(np.asarray(x, dtype=np.float64))
    ry = average_ranks(np.asarray(y, dtype=np.float64))
    rx -= rx.mean()
    ry -= ry.mean()
    scale = np.sqrt(np.dot(rx, rx) * np.dot(ry, ry))
    if scale == 0:
        return None  # one of the two is constant
    return float(np.clip(np.dot(rx, ry) / scale, -1.0, 1.0))


def has_border(shape: tuple[int, ...]) -> bool:
    """Whether images of this shape have a ring of border pixels apart from their inside."""
    return min(shape[:2]) > 2


def diagnose(measures: ImageMeasures, shape: tuple[int, ...]) -> Diagnostics:
    """The two rank correlations; the background one only where images have a border."""
    background = None
    if has_border(shape):
        background = rank_correlation(measures.distances, measures.border)
    return Diagnostics(
        brightness_rank_correlation=rank_correlation(measures.distances, measures.brightness),
        background_rank_correlation=background,
    )


def strength(correlation: float) -> str:
    """A word for the size of a correlation, on the usual rough scale."""
    size = abs(correlation)
    if size >= 0.5:
        return "strongly"
    if size >= 0.3:
        return "moderately"
    if size >= 0.1:
        return "weakly"
    return "hardly"
