"""The vectorised core against a slow, obviously correct per-pixel reference."""

import math

import numpy as np
import pytest

from report import analysis


def reference(images, names, count):
    """Loops over every pixel, the way the original experiment did it."""
    n = len(images)
    flat = [[float(v) for v in np.asarray(image).reshape(-1)] for image in images]
    mean = [sum(image[p] for image in flat) / n for p in range(len(flat[0]))]
    distances = [sum((image[p] - mean[p]) ** 2 for p in range(len(mean))) for image in flat]
    order = sorted(range(n), key=lambda i: (distances[i], names[i]))

    ranked = sorted(distances)
    edges = []
    for k in range(1, count):
        position = (n - 1) * k / count
        low = math.floor(position)
        high = min(low + 1, n - 1)
        edges.append(ranked[low] + (ranked[high] - ranked[low]) * (position - low))
    clusters = [1 + sum(edge < d for edge in edges) for d in distances]
    return mean, distances, order, edges, clusters


def random_set(seed, n, shape):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


@pytest.mark.parametrize("seed,n,shape,count", [
    (0, 7, (3, 4), 3),
    (1, 12, (5, 2, 3), 4),
    (2, 2, (4, 4), 4),
    (3, 30, (6, 5), 5),
    (4, 1, (2, 3), 2),
])
def test_core_matches_reference(seed, n, shape, count):
    images = random_set(seed, n, shape)
    names = [f"img_{i:02d}.png" for i in range(n)][::-1]
    mean, distances, order, edges, clusters = reference(images, names, count)

    result = analysis.analyse(images, names, count)

    np.testing.assert_allclose(result.mean_image.reshape(-1), mean, rtol=1e-12)
    np.testing.assert_allclose(result.distances, distances, rtol=1e-9)
    assert result.order.tolist() == order
    np.testing.assert_allclose(result.edges, edges, rtol=1e-9)
    assert result.clusters.tolist() == clusters


def test_ties_share_a_cluster_and_are_ranked_by_name():
    # Mean 10.6: the two 11s tie at 0.16 and rank by name (b before d).
    stack = np.array([[[v]] for v in (10, 11, 9, 11, 12)], dtype=np.uint8)
    names = ["e.png", "d.png", "c.png", "b.png", "a.png"]

    result = analysis.analyse(stack, names, 4)
    mean, distances, order, edges, clusters = reference(stack, names, 4)

    assert result.order.tolist() == order
    ranked_names = [names[i] for i in result.order]
    assert ranked_names == ["b.png", "d.png", "e.png", "a.png", "c.png"]
    assert result.clusters.tolist() == clusters
    tied = [i for i, d in enumerate(result.distances) if d == result.distances[1]]
    assert len({int(result.clusters[i]) for i in tied}) == 1


def test_clusters_left_empty_by_ties_are_kept():
    stack = np.zeros((6, 2, 2), dtype=np.uint8)
    stack[5] = 200
    result = analysis.analyse(stack, [f"{i}.png" for i in range(6)], 4)

    sizes = [summary.size for summary in result.summaries]
    assert len(result.summaries) == 4
    assert sum(sizes) == 6
    assert 0 in sizes
    empty = result.summaries[sizes.index(0)]
    assert empty.distance_min is None and empty.mean_image is None


def test_identical_images_give_zero_distances_and_one_cluster():
    stack = np.full((8, 10, 10), 104, dtype=np.uint8)
    with np.errstate(all="raise"):
        result = analysis.analyse(stack, [f"same_{i}.png" for i in range(8)], 4)

    assert np.all(result.distances == 0.0)
    assert np.all(result.mean_image == 104.0)
    assert set(result.clusters.tolist()) == {1}
    assert [s.size for s in result.summaries] == [8, 0, 0, 0]


def test_uint8_values_never_wrap():
    white = np.full((2, 100, 100), 255, dtype=np.uint8)
    black = np.zeros((2, 100, 100), dtype=np.uint8)
    result = analysis.analyse(np.concatenate([white, black]), ["w1", "w2", "b1", "b2"], 2)

    assert np.all(result.mean_image == 127.5)
    np.testing.assert_array_equal(result.distances, [162_562_500.0] * 4)


def test_cluster_means_and_ranges_follow_their_members():
    images = random_set(7, 20, (4, 4))
    result = analysis.analyse(images, [f"{i}" for i in range(20)], 3)

    for summary in result.summaries:
        members = np.flatnonzero(result.clusters == summary.number)
        assert summary.size == len(members)
        if len(members):
            np.testing.assert_allclose(summary.mean_image, images[members].mean(axis=0))
            assert summary.distance_min == result.distances[members].min()
            assert summary.distance_max == result.distances[members].max()


def test_results_do_not_depend_on_chunking(monkeypatch):
    images = random_set(11, 50, (3, 3, 3))
    names = [f"{i}" for i in range(50)]
    whole = analysis.analyse(images, names, 4)
    monkeypatch.setattr(analysis, "CHUNK", 7)
    chunked = analysis.analyse(images, names, 4)

    np.testing.assert_allclose(chunked.mean_image, whole.mean_image, rtol=1e-12)
    np.testing.assert_allclose(chunked.distances, whole.distances, rtol=1e-12)
    assert chunked.order.tolist() == whole.order.tolist()



@pytest.mark.parametrize("shape", [(100, 100), (12, 9, 3)])
def test_distances_are_bit_for_bit_those_of_one_whole_pass(shape):
    """Slicing the distance pass for speed must not move any distance by a single bit."""
    images = random_set(12, 300, shape)
    mean = analysis.mean_image(images)
    diff = images.reshape(len(images), -1).astype(np.float64) - mean.reshape(-1)
    whole = np.einsum("ij,ij->i", diff, diff)

    for size in (1, 7, 256, 300):
        chunks = (images[start : start + size] for start in range(0, len(images), size))
        sliced = analysis.squared_distances(chunks, mean)
        assert sliced.tobytes() == whole.tobytes()

def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        analysis.mean_image(np.empty((0, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError):
        analysis.quantile_edges(np.arange(3.0), 0)
    with pytest.raises(ValueError):
        analysis.rank(np.arange(3.0), ["a", "b"])
