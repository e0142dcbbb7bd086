"""The review's numbers against slow references and scikit-learn/scipy, and its edge cases."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import silhouette_score

from report import components as components_module
from report.analysis import analyse, border_ring, in_chunks, measure
from report.config import ReviewSettings
from report.diagnostics import average_ranks, rank_correlation
from report import duplicates as duplicates_module
from report.duplicates import exact_groups, near_groups
from report.groupings import (
    cluster_sums,
    describe_clusters,
    kmeans_labels,
    normalized_distances,
    silhouette,
)
from report.quality import review
from report.sources import LocalImages, gather


def random_set(seed, n, shape):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def names_for(n):
    return [f"img{i:03d}.png" for i in range(n)]


# Rank correlation -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_rank_correlation_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=40).astype(float)  # many ties
    y = x * 0.5 + rng.normal(size=40)
    assert rank_correlation(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_average_ranks_share_tied_positions():
    assert average_ranks(np.array([10.0, 20.0, 10.0, 30.0, 20.0])).tolist() == [
        1.5, 3.5, 1.5, 5.0, 3.5]


@pytest.mark.parametrize("x,y", [
    ([1.0, 2.0], [2.0, 1.0]),  # too few to say anything
    ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]),  # one side constant
])
def test_rank_correlation_is_none_where_undefined(x, y):
    assert rank_correlation(np.array(x), np.array(y)) is None


# Per-image measures -------------------------------------------------------------------------

def slow_measures(images, mean):
    """Brightness, border tone and distance pixel by pixel."""
    out = []
    for image in images:
        height, width = image.shape[:2]
        values, border = [], []
        for y in range(height):
            for x in range(width):
                pixel = np.atleast_1d(image[y, x]).tolist()
                values.extend(pixel)
                if y in (0, height - 1) or x in (0, width - 1):
                    border.extend(pixel)
        flat_mean = mean.reshape(-1).tolist()
        distance = sum((v - m) ** 2 for v, m in zip(values, flat_mean))
        out.append((sum(values) / len(values), sum(border) / len(border), distance,
                    sum(values), sum(v * v for v in values)))
    return out


@pytest.mark.parametrize("shape", [(5, 4), (4, 6, 3), (2, 3), (1, 1)])
def test_measures_match_a_per_pixel_reference(shape):
    images = random_set(7, 9, shape)
    mean = images.mean(axis=0)
    measured = measure(in_chunks(images)(), mean)
    for i, (brightness, border, distance, total, squares) in enumerate(
            slow_measures(images, mean)):
        assert measured.brightness[i] == pytest.approx(brightness)
        assert measured.border[i] == pytest.approx(border)
        assert measured.distances[i] == pytest.approx(distance)
        assert measured.sums[i] == total
        assert measured.squares[i] == squares


def test_border_ring_takes_each_edge_pixel_once():
    image = np.arange(20, dtype=np.uint8).reshape(1, 4, 5)
    ring = sorted(border_ring(image)[0].tolist())
    assert ring == [0, 1, 2, 3, 4, 5, 9, 10, 14, 15, 16, 17, 18, 19]


# Groupings --------------------------------------------------------------------------------

def test_normalized_distances_match_a_direct_computation():
    images = random_set(3, 11, (4, 5))
    images[4] = 77  # a flat image normalizes to all zeros
    flat = images.reshape(11, -1).astype(float)
    z = np.array([(row - row.mean()) / row.std() if row.std() > 0 else np.zeros_like(row)
                  for row in flat])
    expected = ((z - z.mean(axis=0)) ** 2).sum(axis=1)
    got = normalized_distances(LocalImages(in_chunks(images)))
    assert got == pytest.approx(expected, abs=1e-6)  # rounded to six decimals


def test_cluster_statistics_match_direct_computation():
    images = random_set(5, 20, (3, 3))
    labels = np.array([1, 2, 3] * 6 + [1, 1])
    measures = measure(in_chunks(images)(), images.mean(axis=0))
    (sums,) = cluster_sums(LocalImages(in_chunks(images)), [labels], 4)
    stats = describe_clusters(labels, 4, sums, measures)
    for number in (1, 2, 3):
        members = images[labels == number].reshape(-1, 9).astype(float)
        mean = members.mean(axis=0)
        assert stats[number - 1].size == len(members)
        assert stats[number - 1].spread == pytest.approx(((members - mean) ** 2).sum(1).mean())
        assert stats[number - 1].brightness == pytest.approx(members.mean())
    assert stats[3].size == 0 and stats[3].spread is None and stats[3].mean_image is None


def test_kmeans_numbers_clusters_by_distance_to_the_mean():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 90.0]])
    points = np.concatenate([c + rng.normal(size=(30, 2)) for c in centres])
    distances = np.concatenate([np.full(30, 5.0), np.full(30, 1.0), np.full(30, 9.0)])
    labels = kmeans_labels(points, 3, distances)
    assert labels[:30].tolist() == [2] * 30
    assert labels[30:60].tolist() == [1] * 30
    assert labels[60:].tolist() == [3] * 30
    assert np.array_equal(labels, kmeans_labels(points, 3, distances))


def test_kmeans_asks_for_no_more_clusters_than_distinct_points():
    points = np.array([[0.0, 0.0]] * 3 + [[1.0, 1.0]] * 2)
    labels = kmeans_labels(points, 4, np.arange(5.0))
    assert sorted(set(labels.tolist())) == [1, 2]


def test_silhouette_is_scikit_learns_on_the_whole_set_when_small():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3))
    labels = np.array([1, 2] * 25)
    expected = silhouette_score(points, labels)
    assert silhouette(points, labels, np.arange(50)) == pytest.approx(expected)
    assert silhouette(points, np.ones(50, dtype=int), np.arange(50)) is None
    assert silhouette(None, labels, np.arange(50)) is None


# Components -------------------------------------------------------------------------------

def test_components_fit_on_a_bounded_sample_and_project_everything(monkeypatch):
    images = random_set(2, 60, (4, 4))
    monkeypatch.setattr(components_module, "FIT_VALUES", 16 * 25)
    found = components_module.components(LocalImages(in_chunks(images)), 60, 16, 5)
    assert found.fitted_on == 25
    assert found.coordinates.shape == (60, 5)
    assert np.allclose(np.linalg.norm(found.vectors, axis=1), 1.0)
    assert 0 < found.explained.sum() <= 1
    # Projections are the centred images on the components.
    sample = gather(in_chunks(images)(), components_module.sample_indices(60, 25))
    centre = sample.reshape(25, -1).mean(axis=0)
    expected = (images.reshape(60, -1) - centre) @ found.vectors.T
    assert np.allclose(found.coordinates, expected, atol=1e-3)


def test_gather_collects_rows_across_chunk_boundaries():
    images = random_set(4, 600, (2, 2))
    wanted = np.array([0, 255, 256, 257, 599])
    assert np.array_equal(gather(in_chunks(images)(), wanted), images[wanted])


# Duplicates -------------------------------------------------------------------------------

def test_exact_duplicates_compare_pixels_not_just_sums():
    images = random_set(9, 6, (3, 3))
    images[3] = images[0]
    images[5] = images[0]
    measures = measure(in_chunks(images)(), images.mean(axis=0))
    assert exact_groups(LocalImages(in_chunks(images)), measures) == [[0, 3, 5]]

    # Same sums, squares and distances (forced), different pixels: not duplicates.
    forged = type(measures)(np.zeros(6), measures.brightness, measures.border,
                            np.zeros(6, dtype=np.int64), np.zeros(6, dtype=np.int64))
    assert exact_groups(LocalImages(in_chunks(images)), forged) == [[0, 3, 5]]


def test_near_duplicates_are_checked_on_the_pixels():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 200, size=(5, 10, 10)).astype(np.uint8)
    images[1] = images[0] + 1  # RMS difference 1 from image 0
    images[2] = images[0]
    images[2, 5, 5] += 40  # RMS difference 4 from image 0, all of it in one pixel
    chunks = LocalImages(in_chunks(images))
    # Coordinates that see only the first pixel: images 0, 1 and 2 look nearly the same there.
    coordinates = images.reshape(5, -1)[:, 1:2].astype(float)
    groups, checked = near_groups(chunks, coordinates, 100, 2.0, [])
    assert checked and groups == [[0, 1]]
    assert near_groups(chunks, coordinates, 100, 5.0, [])[0] == [[0, 1, 2]]
    assert near_groups(chunks, coordinates, 100, 0.5, [])[0] == []


def test_near_duplicates_count_an_exact_group_as_one_image(monkeypatch):
    images = np.zeros((6, 4, 4), dtype=np.uint8)
    images[3:] = 9  # RMS 9 from the others
    images[5, 0, 0] = 10
    chunks = LocalImages(in_chunks(images))
    coordinates = images.reshape(6, -1).astype(float)
    exact = [[0, 1, 2], [3, 4]]
    # Alone, an exact group is not a near group; joined by a close image, it is part of one.
    assert near_groups(chunks, coordinates, 16, 1.0, exact)[0] == [[3, 4, 5]]
    assert near_groups(chunks, coordinates, 16, 0.1, exact)[0] == []
    # Too many pixels to read back: the groups stand on the components alone, and say so.
    monkeypatch.setattr(duplicates_module, "CHECK_VALUES", 10)
    assert near_groups(chunks, coordinates, 16, 1.0, exact) == ([[3, 4, 5]], False)


# The whole review on degenerate input ----------------------------------------------------

def finite_or_none(value):
    return value is None or math.isfinite(value)


@pytest.mark.parametrize("images", [
    random_set(0, 1, (8, 8)),  # one image
    np.full((5, 8, 8), 200, dtype=np.uint8),  # identical images
    random_set(1, 3, (8, 8)),  # fewer images than clusters and components
    np.stack([np.pad(np.full((6, 6), v, np.uint8), 1, constant_values=255)
              for v in (0, 50, 100, 150, 200)]),  # a constant border
], ids=["one", "identical", "few", "constant-border"])
def test_review_never_produces_nan(images):
    names = names_for(len(images))
    result = review(LocalImages(in_chunks(images)), analyse(images, names, 4), ReviewSettings())
    values = [result.diagnostics.brightness_rank_correlation,
              result.diagnostics.background_rank_correlation]
    for grouping in result.groupings:
        values.append(grouping.silhouette)
        for stats in grouping.clusters:
            values += [stats.spread, stats.brightness, stats.distance_min, stats.distance_max]
        assert set(grouping.labels.tolist()) <= {1, 2, 3, 4}
    assert all(finite_or_none(v) for v in values)
    if result.components is not None:
        assert np.isfinite(result.components.coordinates).all()
        assert np.isfinite(result.components.explained).all()


def test_constant_border_has_no_background_correlation():
    images = np.stack([np.pad(np.full((6, 6), v, np.uint8), 1, constant_values=255)
                       for v in (0, 50, 100, 150, 200)])
    result = review(LocalImages(in_chunks(images)), analyse(images, names_for(5), 2),
                    ReviewSettings())
    assert result.diagnostics.background_rank_correlation is None
    # The brightness side is still defined.
    flat = images.reshape(5, -1).astype(float)
    distances = ((flat - flat.mean(axis=0)) ** 2).sum(axis=1)
    expected = spearmanr(distances, flat.mean(axis=1)).statistic
    assert result.diagnostics.brightness_rank_correlation == pytest.approx(expected)


def test_identical_images_are_one_exact_group_and_have_no_components():
    images = np.full((4, 5, 5), 9, dtype=np.uint8)
    result = review(LocalImages(in_chunks(images)), analyse(images, names_for(4), 2),
                    ReviewSettings())
    assert result.duplicates.exact == [[0, 1, 2, 3]]
    assert result.components is None
    assert result.duplicates.near is None
    assert all(g.silhouette is None for g in result.groupings)


def test_components_off_leaves_out_everything_that_needs_them():
    images = random_set(3, 12, (6, 6))
    settings = ReviewSettings(methods=("quantile", "normalized"), components=0)
    result = review(LocalImages(in_chunks(images)), analyse(images, names_for(12), 3), settings)
    assert [g.method for g in result.groupings] == ["quantile", "normalized"]
    assert result.components is None and result.duplicates.near is None
    assert all(g.silhouette is None for g in result.groupings)
