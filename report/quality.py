"""Does the distance-quantile grouping mean anything? Every figure the report answers with.

Builds on the analysis: the diagnostics, the other groupings with one shared silhouette score,
the principal components behind the map and the eigen-images, and the duplicate groups. Like the
analysis it does no I/O, so it can be used as a library without the report. scikit-learn is
only imported when something here needs it, so a run with principal components turned off
costs what the quantile cut alone costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import Analysis
from .components import Components, components, one_thread
from .config import ReviewSettings
from .diagnostics import Diagnostics, diagnose
from .duplicates import Duplicates, exact_groups, near_groups
from .groupings import (
    GroupStats,
    Grouping,
    cluster_sums,
    describe_clusters,
    kmeans_labels,
    normalized_distances,
    quantile_labels,
    silhouette,
    silhouette_sample,
)
from .sources import ImageSource


@dataclass(frozen=True)
class Review:
    diagnostics: Diagnostics
    groupings: list[Grouping]
    components: Components | None
    duplicates: Duplicates
    silhouette_images: int  # how many images the silhouette scores were computed over

    @property
    def best(self) -> Grouping | None:
        """The grouping with the highest silhouette, if any grouping has one."""
        scored = [g for g in self.groupings if g.silhouette is not None]
        return max(scored, key=lambda g: g.silhouette) if scored else None


def quantile_stats(analysis: Analysis) -> list[GroupStats]:
    """The quantile clusters' statistics, from what the analysis already holds."""
    measures = analysis.measures
    sums = [None if s.mean_image is None else s.mean_image * s.size for s in analysis.summaries]
    return describe_clusters(analysis.clusters, len(analysis.summaries), sums, measures)


def review(source: ImageSource, analysis: Analysis, settings: ReviewSettings) -> Review:
    """Everything the report's "Do these clusters mean anything?" section shows.

    ``source`` holds the same preprocessed images, in the same order, that ``analysis`` was
    made from (``LocalImages(in_chunks(images))`` for an in-memory stack).
    """
    if settings.components > 0:
        with one_thread():
            return _review(source, analysis, settings)
    return _review(source, analysis, settings)


def _review(source: ImageSource, analysis: Analysis, settings: ReviewSettings) -> Review:
    measures = analysis.measures
    count = len(analysis.summaries)
    image_count = len(analysis.distances)
    values_per_image = int(analysis.mean_image.size)

    found = None
    if settings.components > 0:
        found = components(source, image_count, values_per_image, settings.components)
    coordinates = None if found is None else found.coordinates

    labelings = {"quantile": analysis.clusters}
    if "normalized" in settings.methods:
        labelings["normalized"] = quantile_labels(normalized_distances(source), count)
    if "kmeans" in settings.methods:
        labelings["kmeans"] = (kmeans_labels(coordinates, count, measures.distances)
                               if coordinates is not None
                               else np.ones(image_count, dtype=np.int64))

    others = [m for m in settings.methods if m != "quantile"]
    sums = dict(zip(others, cluster_sums(source, [labelings[m] for m in others], count)))
    sample = silhouette_sample(image_count)
    groupings = []
    for method in settings.methods:
        labels = labelings[method]
        stats = (quantile_stats(analysis) if method == "quantile"
                 else describe_clusters(labels, count, sums[method], measures))
        groupings.append(Grouping(method, labels, stats, silhouette(coordinates, labels, sample)))

    exact = exact_groups(source, measures)
    near, checked = None, True
    if coordinates is not None and settings.near_threshold > 0:
        near, checked = near_groups(source, coordinates, values_per_image,
                                    settings.near_threshold, exact)
    return Review(
        diagnostics=diagnose(measures, analysis.mean_image.shape),
        groupings=groupings,
        components=found,
        duplicates=Duplicates(exact, near, settings.near_threshold, checked),
        silhouette_images=0 if coordinates is None else len(sample),
    )
