"""Principal components of the preprocessed images: the space k-means, the silhouette scores,
the 2-D map and the near-duplicate search all work in.

The components are fitted on a bounded random sample of the images and every image is then
projected in chunks, so memory and time stay bounded whatever the folder holds. scikit-learn's
incremental PCA over the whole store was measured here at 13 s on 3583 emoji, against about
0.5 s to fit the sample.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .sources import ImageSource

# At most this many pixel values (images times values per image) are held to fit the
# components: 1000 grayscale 100x100 images, 40 MB as float32.
FIT_VALUES = 10_000_000
SEED = 0
NEGLIGIBLE_SHARE = 1e-9


@dataclass(frozen=True)
class Components:
    """The fitted components and every image's coordinates on them (input order)."""

    coordinates: np.ndarray  # (images, components), float64
    vectors: np.ndarray  # (components, values per image), unit length
    explained: np.ndarray  # share of the variance each component explains
    fitted_on: int  # how many images the fit saw


@contextmanager
def one_thread() -> Iterator[None]:
    """Run BLAS and OpenMP on one thread, so sums come out the same on any number of cores.

    A multi-threaded BLAS adds partial sums in an order that depends on the thread count, which
    would change the last digits of the components, and so the page, from machine to machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def sample_indices(count: int, size: int, seed: int = SEED) -> np.ndarray:
    """``size`` distinct indices below ``count``, sorted, the same for the same arguments."""
    if count <= size:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size, replace=False))


def fit_size(count: int, values_per_image: int) -> int:
    return min(count, max(2, FIT_VALUES // max(1, values_per_image)))


def fit(sample: np.ndarray, wanted: int):
    """A fitted scikit-learn PCA, or None when the sample has no variation to explain."""
    flat = sample.reshape(len(sample), -1).astype(np.float32)
    # The centred data has rank below the sample size, so at most that many components exist.
    usable = min(wanted, len(flat) - 1, flat.shape[1])
    if usable < 1 or not np.any(flat != flat[0]):
        return None
    from sklearn.decomposition import PCA

    solver = "full" if min(flat.shape) <= 4 * usable else "randomized"
    # copy=False: the float32 sample is this function's own, so PCA may centre it in place.
    model = PCA(n_components=usable, svd_solver=solver, random_state=SEED, copy=False).fit(flat)
    # Directions that explain nothing (rounding noise, when the images span fewer dimensions
    # than asked for) are dropped rather than drawn as noise.
    keep = model.explained_variance_ratio_ > NEGLIGIBLE_SHARE
    if not keep.all():
        model.components_ = model.components_[keep]
        model.explained_variance_ = model.explained_variance_[keep]
        model.explained_variance_ratio_ = model.explained_variance_ratio_[keep]
        model.n_components_ = int(keep.sum())
    return model


def project_chunk(pixels: np.ndarray, center: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """A chunk's coordinates on the components: run wherever the chunk is."""
    return (pixels.reshape(len(pixels), -1) - center) @ vectors.T


def components(source: ImageSource, count: int, values_per_image: int, wanted: int
               ) -> Components | None:
    """Fit ``wanted`` components on a sample of the source's images, and project them all.

    None when there are too few images or no variation among them.
    """
    fit_on = sample_indices(count, fit_size(count, values_per_image))
    model = fit(source.take(fit_on), wanted)
    if model is None:
        return None
    vectors = model.components_.astype(np.float64)
    parts = source.map(project_chunk, model.mean_.astype(np.float64), vectors)
    return Components(
        coordinates=np.concatenate(parts) if parts else np.empty((0, len(vectors))),
        vectors=vectors,
        explained=model.explained_variance_ratio_.astype(np.float64),
        fitted_on=len(fit_on),
    )
