"""What the page shows of the review: sentences that read the numbers, tables, plots, grids.

Kept apart from ``render`` so the page's core (mean image, histogram, ranking) reads on its own.
Rows are made by the caller's ``row_at``, so grids here look and behave like the ranking's.
"""

from __future__ import annotations

from typing import Any, Callable

import markupsafe
import numpy as np

from .diagnostics import MIN_IMAGES, has_border, strength
from .formatting import format_distance, format_signed, png_data_uri
from .groupings import Grouping
from .quality import Review

# Plots with more points than this show an even sample of the ranking (SVG slows beyond it).
PLOT_POINTS = 2000
EIGEN_IMAGES_SHOWN = 8
DUPLICATE_GROUPS_SHOWN = 100
# Below this many images the page warns that its figures say little.
FEW_IMAGES = 10
# When the middle 90 % of the images' border tones lie closer than this (0-255 scale), every
# image has in effect the same background.
STEADY_BORDER = 12
CLUSTER_COLOURS = ("#4c6ef5", "#f59f00", "#12b886", "#e03131", "#7048e8", "#1098ad",
                   "#d6336c", "#74b816", "#845ef7", "#495057")

Row = dict[str, Any]


def colour(number: int) -> str:
    return CLUSTER_COLOURS[(number - 1) % len(CLUSTER_COLOURS)]


def correlation_sentence(value: float | None, what: str, darker: str, lighter: str,
                         meaning: str) -> str:
    """One sentence reading a rank correlation of distance with ``what``.

    ``meaning`` says what a clear correlation implies; ``{amount}`` in it becomes "much" or
    "part", by the correlation's strength.
    """
    shown = f"Spearman \u03c1 = {format_signed(value)}"
    if abs(value) < 0.3:
        return (f"The distance is {strength(value)} related to {what} ({shown}); that alone "
                f"does not explain the ranking.")
    direction = darker if value < 0 else lighter
    amount = "much" if abs(value) >= 0.5 else "part"
    return (f"The distance {strength(value)} follows {what} ({shown}): {direction} lie "
            f"farther from the mean, so {meaning.format(amount=amount)}.")


def undefined_correlation(values: np.ndarray, distances: np.ndarray, what: str) -> str:
    """Why a rank correlation with ``what`` could not be computed, for the reader."""
    if len(values) < MIN_IMAGES:
        return f"There are too few images to relate the distance to {what}."
    if np.all(values == values[0]):
        return f"Every image has the same {what}, so it cannot explain the ranking."
    if np.all(distances == distances[0]):
        return "Every image lies at the same distance from the mean: there is no ranking."
    return f"There is not enough variation to relate the distance to {what}."


def readings(review: Review, outcome: Any) -> list[str]:
    """Sentences on brightness and background; what they cannot say, when they cannot."""
    measures = outcome.analysis.measures
    diagnostics = review.diagnostics
    brightness = diagnostics.brightness_rank_correlation
    background = diagnostics.background_rank_correlation
    sentences = [
        correlation_sentence(brightness, "mean brightness", "darker images", "lighter images",
                             "{amount} of this ranking measures tone, not content")
        if brightness is not None
        else undefined_correlation(measures.brightness, measures.distances, "mean brightness"),
    ]
    what = "background tone"
    low, high = np.percentile(measures.border, [5, 95]) if len(measures.border) else (0, 0)
    if background is not None and high - low < STEADY_BORDER:
        edge = (f"and the rank correlation with the border tone ({format_signed(background)}) "
                f"follows subjects that reach the edge of the frame" if abs(background) >= 0.1
                else "and the border tone's rank correlation with the distance is only "
                f"{format_signed(background)}")
        sentences.append(
            f"The background hardly varies: the border pixels of nine images in ten average "
            f"between {low:.0f} and {high:.0f}, so the background cannot explain the ranking, "
            f"{edge}.")
    elif background is not None:
        sentences.append(correlation_sentence(
            background, "the background tone, the mean of the border pixels",
            "images on darker backgrounds", "images on lighter backgrounds",
            "the background, not only the subject, shapes the distance"))
    elif not has_border(outcome.analysis.mean_image.shape):
        sentences.append("The images are too small to tell a background from the subject.")
    else:
        sentences.append(undefined_correlation(measures.border, measures.distances, what))
    return sentences


def unscored_reason(grouping: Grouping, review: Review, components_wanted: int) -> str:
    if components_wanted == 0:
        return "principal components are turned off ([clusters] components = 0)"
    if review.components is None:
        return "the images do not vary enough to find principal components"
    if len(np.unique(grouping.labels)) < 2:
        return "all its images fall in one cluster"
    return "every image is in a cluster of its own"


def silhouette_reading(score: float) -> str:
    """What a silhouette score says, on the scale its authors proposed."""
    if score < 0:
        return "on average its images lie nearer another cluster than their own"
    if score < 0.25:
        return "its clusters barely separate"
    if score < 0.5:
        return "its clusters are weakly separated"
    return "its clusters are well separated"


def verdict(review: Review, components_wanted: int, image_count: int) -> list[str]:
    """Sentences on the groupings' silhouettes, the quantile cut's first."""
    quantile = next(g for g in review.groupings if g.method == "quantile")
    if quantile.silhouette is None:
        reason = unscored_reason(quantile, review, components_wanted)
        sentences = [f"The distance-quantile cut cannot be scored: {reason}."]
    else:
        sentences = [f"The distance-quantile cut has a silhouette of "
                     f"{format_signed(quantile.silhouette)}: "
                     f"{silhouette_reading(quantile.silhouette)}."]
    best = review.best
    if best is not None and best is not quantile:
        sentences.append(f"Of the groupings computed, {best.title} scores best "
                         f"({format_signed(best.silhouette)}).")
    if best is not None and best.silhouette < 0.25:
        sentences.append("No grouping here reaches 0.25, below which clusters are usually "
                         "read as showing no real structure.")
    if image_count < FEW_IMAGES:
        sentences.append(f"With only {image_count} image{'s' if image_count != 1 else ''}, "
                         f"read these figures as hints, not findings.")
    return sentences


def even_positions(count: int, size: int) -> list[int]:
    """At most ``size`` positions below ``count``, evenly spaced, the first included."""
    if count <= size:
        return list(range(count))
    step = count / size
    return [int(i * step) for i in range(size)]


def plot_hover(path: str) -> str:
    """A path for plotly's hover label, which reads a few HTML tags and entities."""
    return str(markupsafe.escape(path))


def scatter_figure(review: Review, outcome: Any, positions: list[int]) -> dict[str, Any]:
    """Distance against brightness, one trace per quantile cluster, over ranking positions."""
    analysis = outcome.analysis
    order = analysis.order
    measures = analysis.measures
    by_cluster: dict[int, list[int]] = {}
    for position in positions:
        by_cluster.setdefault(int(analysis.clusters[order[position]]), []).append(position)
    traces = []
    for number in sorted(by_cluster):
        members = by_cluster[number]
        indices = order[members]
        traces.append({
            "type": "scatter",
            "mode": "markers",
            "name": f"cluster {number}",
            "x": np.round(measures.brightness[indices], 2).tolist(),
            "y": np.round(measures.distances[indices], 1).tolist(),
            # The distance is written here as the ranking writes it, so the two always agree.
            "text": [f"{plot_hover(outcome.names[i])}<br>distance "
                     f"{format_distance(measures.distances[i])}" for i in indices.tolist()],
            "customdata": [p + 1 for p in members],
            "hovertemplate": "%{text}<br>brightness %{x:.1f}"
                             "<extra>cluster " + str(number) + "</extra>",
            "marker": {"color": colour(number), "size": 6, "opacity": 0.75},
        })
    return {
        "data": traces,
        "layout": {
            "xaxis": {"title": {"text": "mean brightness (0 black, 255 white)"}},
            "yaxis": {"title": {"text": "squared distance to the mean image"}},
            "height": 380,
            "margin": {"l": 70, "r": 20, "t": 20, "b": 50},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": "#868e96"},
            "legend": {"title": {"text": "quantile cluster"}},
        },
    }


def map_data(review: Review, outcome: Any, positions: list[int]) -> dict[str, Any] | None:
    """The first two principal components of the plotted images, for the script to draw."""
    found = review.components
    if found is None or found.coordinates.shape[1] < 2:
        return None
    order = outcome.analysis.order
    indices = order[positions]
    coordinates = np.round(found.coordinates[indices, :2], 1)
    return {
        "x": coordinates[:, 0].tolist(),
        "y": coordinates[:, 1].tolist(),
        "ranks": [p + 1 for p in positions],
        "indices": indices.tolist(),
        "text": [plot_hover(outcome.names[i]) for i in indices.tolist()],
        "groupings": [{"method": g.method, "title": g.title, "labels": g.labels[indices].tolist()}
                      for g in review.groupings],
        "colours": list(CLUSTER_COLOURS),
        "axes": [f"component 1 ({found.explained[0]:.1%} of variance)",
                 f"component 2 ({found.explained[1]:.1%} of variance)"],
    }


def eigen_images(review: Review, shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """The leading components drawn as images: mid-grey is zero, light and dark the two signs."""
    found = review.components
    if found is None:
        return []
    shown = []
    for number, (vector, share) in enumerate(zip(found.vectors, found.explained), start=1):
        if number > EIGEN_IMAGES_SHOWN:
            break
        peak = float(np.abs(vector).max()) or 1.0
        pixels = 127.5 + 127.5 * vector / peak
        shown.append({"number": number, "uri": png_data_uri(pixels.reshape(shape)),
                      "share": f"{share:.1%}"})
    return shown


def grouping_entry(grouping: Grouping, best: Grouping | None, rows_of: Callable) -> dict:
    """One grouping's table row, cluster statistics and grids."""
    clusters = []
    for stats in grouping.clusters:
        clusters.append({
            "number": stats.number,
            "size": stats.size,
            "colour": colour(stats.number),
            "spread": format_distance(stats.spread),
            "brightness": "–" if stats.brightness is None else f"{stats.brightness:.1f}",
            "distance_min": stats.distance_min,
            "distance_max": stats.distance_max,
            "mean_uri": None if stats.mean_image is None else png_data_uri(stats.mean_image),
            "rows": rows_of(grouping.labels, stats.number) if grouping.method != "quantile"
                    else [],
        })
    return {
        "method": grouping.method,
        "title": grouping.title,
        "silhouette": format_signed(grouping.silhouette),
        "best": grouping is best,
        "clusters": clusters,
    }


def review_context(outcome: Any, components_wanted: int, row_at: Callable[[int], Row],
                   position_of: np.ndarray, grid_limit: int | None) -> dict[str, Any] | None:
    """Everything the review section of the page shows; None when the run made no review.

    ``row_at`` makes the row of a ranking position; ``position_of`` maps an image's input index
    to its position; ``grid_limit`` bounds each grid (None shows every member).
    """
    review: Review | None = outcome.review
    if review is None:
        return None
    analysis = outcome.analysis
    order = analysis.order
    count = len(order)

    def rows_of(labels: np.ndarray, number: int) -> list[Row]:
        members = np.flatnonzero(labels[order] == number).tolist()
        if grid_limit is not None:
            members = [members[p] for p in even_positions(len(members), grid_limit)]
        return [row_at(p) for p in members]

    def group_rows(groups: list[list[int]] | None) -> list[list[Row]] | None:
        if groups is None:
            return None
        return [[row_at(int(position_of[i])) for i in group]
                for group in groups[:DUPLICATE_GROUPS_SHOWN]]

    positions = even_positions(count, PLOT_POINTS)
    found = review.components
    diagnostics = review.diagnostics
    duplicates = review.duplicates
    return {
        "sentences": readings(review, outcome),
        "brightness_correlation": format_signed(diagnostics.brightness_rank_correlation),
        "background_correlation": format_signed(diagnostics.background_rank_correlation),
        "verdict": verdict(review, components_wanted, count),
        "groupings": [grouping_entry(g, review.best, rows_of) for g in review.groupings],
        "silhouette_images": review.silhouette_images,
        "methods": [g.method for g in review.groupings],
        "components": None if found is None else {
            "asked": components_wanted,
            "count": len(found.explained),
            "fitted_on": found.fitted_on,
            "explained": f"{float(found.explained.sum()):.1%}",
        },
        "components_wanted": components_wanted,
        "plotted": len(positions),
        "scatter": scatter_figure(review, outcome, positions),
        "map": map_data(review, outcome, positions),
        "plotted_indices": order[positions].tolist(),
        "eigen_images": eigen_images(review, analysis.mean_image.shape),
        "exact": group_rows(duplicates.exact),
        "exact_total": len(duplicates.exact),
        "near": group_rows(duplicates.near),
        "near_total": None if duplicates.near is None else len(duplicates.near),
        "near_threshold": f"{duplicates.threshold:g}",
        "near_checked": duplicates.checked,
        "groups_shown": DUPLICATE_GROUPS_SHOWN,
    }
