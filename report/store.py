"""Stores for the preprocessed arrays and thumbnails of one run.

A run can hold far more images than memory: arrays and thumbnails are appended to temporary
files as they are decoded and read back in chunks, so memory holds a few numbers per image.
The files are read with plain reads rather than mapped, which keeps them out of the process's
own memory and in the operating system's file cache. A collection whose arrays fit in
``IN_MEMORY`` bytes keeps them in memory instead: its passes then read nothing back.
"""

from __future__ import annotations

import tempfile
from array import array
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from .decoding import Thumbnail

# Both stores write through a buffer this large and seek only when a read has moved the file
# away from its end: a run of appends then costs a system call per megabyte, not two per image.
BUFFER = 1 << 20
# Arrays up to this many bytes in all (6,710 grayscale images of 100x100) are kept in memory.
IN_MEMORY = 64 << 20


def _spool(suffix: str) -> BinaryIO:
    return tempfile.TemporaryFile(prefix="mean-image-report-", suffix=suffix, buffering=BUFFER)


class ArrayStore:
    """Equal-shaped uint8 arrays, appended in order and read back in chunks.

    Give ``expected``, the most arrays that will be appended, and they are kept in memory
    when that many fit in :data:`IN_MEMORY` bytes; otherwise they go to a temporary file.
    """

    def __init__(self, shape: tuple[int, ...], expected: int = 0):
        self.shape = tuple(shape)
        self.item_bytes = int(np.prod(self.shape))
        self.count = 0
        self._memory: np.ndarray | None = None
        self._file: BinaryIO | None = None
        if 0 < expected * self.item_bytes <= IN_MEMORY:
            # Pages the system gives only once written: skipped files cost nothing.
            self._memory = np.empty((expected, *self.shape), dtype=np.uint8)
        else:
            self._file = _spool(".u8")
        self._at_end = True

    def append(self, pixels: np.ndarray | bytes) -> None:
        data = pixels if isinstance(pixels, bytes) else np.ascontiguousarray(pixels).tobytes()
        if len(data) != self.item_bytes:
            raise ValueError(f"expected {self.item_bytes} bytes of pixels, got {len(data)}")
        if self._memory is not None and self.count == len(self._memory):
            self._move_to_file()  # more arrays than expected
        if self._memory is not None:
            self._memory[self.count] = np.frombuffer(data, np.uint8).reshape(self.shape)
        else:
            if not self._at_end:
                self._file.seek(self.count * self.item_bytes)
                self._at_end = True
            self._file.write(data)
        self.count += 1

    @property
    def in_memory(self) -> bool:
        """Whether the arrays are kept in memory rather than in a temporary file."""
        return self._memory is not None

    def _move_to_file(self) -> None:
        self._file = _spool(".u8")
        self._file.write(self._memory[: self.count].tobytes())
        self._memory = None

    def chunks(self, size: int = 256) -> Iterator[np.ndarray]:
        """The arrays in order, ``size`` at a time, as uint8 arrays not to be written to."""
        if self._memory is not None:
            for start in range(0, self.count, size):
                chunk = self._memory[start : min(start + size, self.count)]
                chunk.flags.writeable = False  # a view of the store itself
                yield chunk
            return
        self._file.flush()
        self._at_end = False
        for start in range(0, self.count, size):
            n = min(size, self.count - start)
            self._file.seek(start * self.item_bytes)
            block = np.frombuffer(self._file.read(n * self.item_bytes), dtype=np.uint8)
            yield block.reshape(n, *self.shape)

    def read_all(self) -> np.ndarray:
        """Every array as one in-memory stack; for small sets and tests."""
        blocks = list(self.chunks())
        return np.concatenate(blocks) if blocks else np.empty((0, *self.shape), np.uint8)

    def close(self) -> None:
        self._memory = None
        if self._file is not None:
            self._file.close()


class ThumbnailStore:
    """Encoded thumbnails appended in order; any one can be read back by its index."""

    def __init__(self) -> None:
        self._file = _spool(".thumbs")
        self._at_end = True
        # Typed arrays rather than lists of ints: a few bytes per thumbnail, not a hundred.
        self._offsets = array("Q", [0])
        self._widths = array("H")
        self._heights = array("H")

    def __len__(self) -> int:
        return len(self._widths)

    def append(self, thumbnail: Thumbnail) -> None:
        if not self._at_end:
            self._file.seek(self._offsets[-1])
            self._at_end = True
        self._file.write(thumbnail.data)
        self._offsets.append(self._offsets[-1] + len(thumbnail.data))
        self._widths.append(thumbnail.width)
        self._heights.append(thumbnail.height)

    def __getitem__(self, index: int) -> Thumbnail:
        start, end = self._offsets[index], self._offsets[index + 1]
        self._file.flush()
        self._at_end = False
        self._file.seek(start)
        return Thumbnail(self._file.read(end - start), *self.size(index))

    def read_many(self, indices: Iterable[int]) -> Iterator[Thumbnail]:
        """The thumbnails at ascending ``indices``, in one forward pass over the file.

        A page that shows thousands of thumbnails reads them here in a fraction of the time
        that a seek, a flush and a read for each would take.
        """
        self._file.flush()
        self._at_end = False
        position = -1
        for index in indices:
            start, end = self._offsets[index], self._offsets[index + 1]
            if start != position:
                self._file.seek(start)
            position = end
            yield Thumbnail(self._file.read(end - start), *self.size(index))

    def size(self, index: int) -> tuple[int, int]:
        return self._widths[index], self._heights[index]

    def close(self) -> None:
        self._file.close()
