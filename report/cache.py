"""A cache of decoded images and of finished reports, so unchanged work is not done twice.

Decoded entries are keyed by the file's absolute path, size and stamp (modification and change
times and inode, see ``discovery.file_stamp``) and by every
setting (and library version) that changes the array or the thumbnail; a report entry records
what a written report was made from, so a rerun over unchanged input can leave it as it is.
SQLite keeps both in one file. The cache only ever saves work: when it fails, the run warns
once and goes on without it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, TypeVar

from .decoding import CachedImage, Thumbnail

log = logging.getLogger(__name__)

SCHEMA = 2
FILE_NAME = f"cache-v{SCHEMA}.sqlite"
COMMIT_EVERY = 200

T = TypeVar("T")


def fingerprint(value: Any) -> str:
    """A stable digest of any JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_digest(path: Path | str) -> str | None:
    """The SHA-256 of a file's content, read in blocks; None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _key(path: Path | str) -> bytes:
    return os.fsencode(os.path.abspath(path))


def _guarded(fallback: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Make a cache method return ``fallback`` instead of failing, and retire the cache."""
    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: Cache, *args: Any, **kwargs: Any) -> T:
            if self.broken:
                return fallback
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError, ValueError, TypeError, KeyError,
                    AttributeError) as exc:
                self.broken = True
                log.warning("cache in %s failed (%s); going on without it", self.path, exc)
                return fallback
        return wrapper
    return decorate


class Cache:
    """Decoded images and report records in one SQLite file in ``folder``."""

    def __init__(self, folder: Path, settings_key: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self.settings_key = settings_key
        self.broken = False
        self._db = sqlite3.connect(self.path, timeout=10)
        try:
            self._db.executescript("""
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS images (
                    settings TEXT NOT NULL, path BLOB NOT NULL, size INTEGER NOT NULL,
                    stamp TEXT NOT NULL, pixels BLOB, thumbnail BLOB, thumb_width INTEGER,
                    thumb_height INTEGER, frames INTEGER, error TEXT,
                    PRIMARY KEY (settings, path));
                CREATE TABLE IF NOT EXISTS reports (
                    target BLOB PRIMARY KEY, inputs TEXT NOT NULL, digests TEXT NOT NULL);
            """)
        except sqlite3.Error:
            self._db.close()
            raise
        self._known: set[int] | None = None
        self._pending = 0

    @staticmethod
    def open_or_none(folder: Path | None, settings_key: str) -> Cache | None:
        """The cache, or None (with a warning) when it cannot be used; a run never fails on it."""
        if folder is None:
            return None
        try:
            return Cache(folder, settings_key)
        except (OSError, sqlite3.Error) as exc:
            log.warning("cache in %s cannot be used (%s); decoding everything", folder, exc)
            return None

    @_guarded(fallback=False)
    def has(self, path: Path | str, size: int, stamp: str) -> bool:
        """Very probably holds ``path`` as it is now; ``get`` then makes sure."""
        if self._known is None:
            # Hashes of (path, size, stamp) rather than the rows: a few bytes per entry.
            rows = self._db.execute("SELECT path, size, stamp FROM images WHERE settings = ?",
                                    (self.settings_key,))
            self._known = {hash((bytes(p), s, m)) for p, s, m in rows}
        return hash((_key(path), size, stamp)) in self._known

    @_guarded(fallback=None)
    def get(self, path: Path | str, size: int, stamp: str) -> CachedImage | str | None:
        """The cached result for ``path``: the decoded image, or the reason it was skipped;
        None when the cache holds no entry for the file as it is now."""
        row = self._db.execute(
            "SELECT pixels, thumbnail, thumb_width, thumb_height, frames, error FROM images "
            "WHERE settings = ? AND path = ? AND size = ? AND stamp = ?",
            (self.settings_key, _key(path), size, stamp)).fetchone()
        if row is None:
            return None
        pixels, thumbnail, width, height, frames, error = row
        if error is not None:
            return str(error)
        return bytes(pixels), Thumbnail(bytes(thumbnail), int(width), int(height)), int(frames)

    @_guarded(fallback=None)
    def put(self, path: Path | str, size: int, stamp: str, result: CachedImage | str) -> None:
        if isinstance(result, str):
            values = (None, None, None, None, None, result)
        else:
            pixels, thumbnail, frames = result
            values = (pixels, thumbnail.data, thumbnail.width, thumbnail.height, frames, None)
        self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (self.settings_key, _key(path), size, stamp, *values))
        self._pending += 1
        if self._pending >= COMMIT_EVERY:
            self._commit()

    @_guarded(fallback=False)
    def report_is_current(self, report: Path, inputs: str) -> bool:
        """True when ``report`` and every file written with it came from ``inputs``, and all
        are still as they were written (thumbnail files by their size)."""
        row = self._db.execute("SELECT inputs, digests FROM reports WHERE target = ?",
                               (_key(report),)).fetchone()
        if row is None or row[0] != inputs:
            return False
        recorded = json.loads(row[1])
        for name, digest in recorded["digests"].items():
            if file_digest(name) != digest:
                return False
        for name, size in recorded["sizes"].items():
            if not os.path.isfile(name) or os.path.getsize(name) != size:
                return False
        return True

    @_guarded(fallback=None)
    def record_report(self, report: Path, hashed: list[Path], sized: list[Path],
                      inputs: str) -> None:
        """Remember which inputs made ``report``: the digests of the ``hashed`` files and the
        sizes of the ``sized`` ones (its many thumbnails), as they are now on disk."""
        recorded = {
            "digests": {os.path.abspath(path): file_digest(path) for path in hashed},
            "sizes": {os.path.abspath(path): os.path.getsize(path) for path in sized},
        }
        self._db.execute("INSERT OR REPLACE INTO reports VALUES (?, ?, ?)",
                         (_key(report), inputs, json.dumps(recorded, sort_keys=True)))
        self._commit()

    def _commit(self) -> None:
        self._db.commit()
        self._pending = 0

    def close(self) -> None:
        try:
            if not self.broken:
                self._commit()
        except sqlite3.Error as exc:
            log.warning("cache in %s could not be saved (%s)", self.path, exc)
        finally:
            self._db.close()
