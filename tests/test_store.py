"""The on-disk stores: what goes in comes back, whatever mix of appends and reads."""

import numpy as np
import pytest

from report.decoding import Thumbnail
from report.store import ArrayStore, ThumbnailStore


@pytest.mark.parametrize("expected", [0, 4, 7, 50])
def test_arrays_come_back_in_order_between_appends(expected):
    # 0 goes to a file at once, 4 starts in memory and moves to a file, 7 and 50 stay in memory.
    store = ArrayStore((3, 2), expected)
    assert store.in_memory == (expected > 0)
    images = np.arange(7 * 6, dtype=np.uint8).reshape(7, 3, 2)
    try:
        for image in images[:4]:
            store.append(image)
        assert np.array_equal(store.read_all(), images[:4])
        for image in images[4:]:
            store.append(image.tobytes())
        assert [len(chunk) for chunk in store.chunks(3)] == [3, 3, 1]
        assert store.in_memory == (expected >= 7)
        assert np.array_equal(store.read_all(), images)
    finally:
        store.close()


def test_thumbnails_come_back_one_by_one_and_in_a_pass():
    store = ThumbnailStore()
    thumbs = [Thumbnail(bytes([i]) * (i + 1), i + 10, i + 20) for i in range(6)]
    try:
        for thumb in thumbs[:3]:
            store.append(thumb)
        assert store[1] == thumbs[1]
        for thumb in thumbs[3:]:
            store.append(thumb)
        assert [store[i] for i in range(6)] == thumbs
        assert list(store.read_many([0, 2, 3, 5])) == [thumbs[i] for i in (0, 2, 3, 5)]
        store.append(Thumbnail(b"late", 1, 2))
        assert store[6] == Thumbnail(b"late", 1, 2) and store[5] == thumbs[5]
    finally:
        store.close()


def test_arrays_kept_in_memory_cannot_be_changed_through_a_chunk():
    store = ArrayStore((2, 2), 3)
    try:
        store.append(np.zeros((2, 2), np.uint8))
        chunk = next(store.chunks())
        with pytest.raises(ValueError):
            chunk[0, 0, 0] = 1
        assert store.read_all().sum() == 0
    finally:
        store.close()
