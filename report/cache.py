"""A cache of decoded images and of finished reports, so unchanged work is not done twice.

Decoded entries are keyed by the file's path, size and modification time and by every setting
that changes the array or the thumbnail; a report entry records what a written report was made
from, so a rerun over unchanged input can leave it as it is. SQLite keeps both in one file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from .store import Thumbnail

log = logging.getLogger(__name__)

SCHEMA = 1
FILE_NAME = f"cache-v{SCHEMA}.sqlite"

CachedImage = tuple[bytes, Thumbnail, int]  # pixels, thumbnail, frame count


def fingerprint(value: Any) -> str:
    """A stable digest of any JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Cache:
    """Decoded images and report records in one SQLite file in ``folder``."""

    def __init__(self, folder: Path, settings_key: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self.settings_key = settings_key
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.executescript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS images (
                settings TEXT NOT NULL, path BLOB NOT NULL, size INTEGER NOT NULL,
                mtime INTEGER NOT NULL, pixels BLOB, thumbnail BLOB, thumb_width INTEGER,
                thumb_height INTEGER, frames INTEGER, error TEXT,
                PRIMARY KEY (settings, path));
            CREATE TABLE IF NOT EXISTS reports (
                target BLOB PRIMARY KEY, inputs TEXT NOT NULL, digests TEXT NOT NULL);
        """)
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

    def _index(self) -> set[int]:
        """Hashes of (path, size, mtime) of every entry: a few bytes each, to test quickly."""
        if self._known is None:
            rows = self._db.execute("SELECT path, size, mtime FROM images WHERE settings = ?",
                                    (self.settings_key,))
            self._known = {hash((bytes(path), size, mtime)) for path, size, mtime in rows}
        return self._known

    def has(self, path: Path | str, size: int, mtime: int) -> bool:
        """Very probably holds ``path`` as it is now; ``get`` then makes sure."""
        return hash((os.fsencode(path), size, mtime)) in self._index()

    def get(self, path: Path | str, size: int, mtime: int) -> CachedImage | str | None:
        """The cached result for ``path``: the decoded image, or the reason it was skipped;
        None when the cache holds no entry for the file as it is now."""
        row = self._db.execute(
            "SELECT pixels, thumbnail, thumb_width, thumb_height, frames, error FROM images "
            "WHERE settings = ? AND path = ? AND size = ? AND mtime = ?",
            (self.settings_key, os.fsencode(path), size, mtime)).fetchone()
        if row is None:
            return None
        pixels, thumbnail, width, height, frames, error = row
        if error is not None:
            return error
        return bytes(pixels), Thumbnail(bytes(thumbnail), width, height), frames

    def put(self, path: Path | str, size: int, mtime: int, result: CachedImage | str) -> None:
        if isinstance(result, str):
            values = (None, None, None, None, None, result)
        else:
            pixels, thumbnail, frames = result
            values = (pixels, thumbnail.data, thumbnail.width, thumbnail.height, frames, None)
        self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (self.settings_key, os.fsencode(path), size, mtime, *values))
        self._pending += 1
        if self._pending >= 500:
            self.commit()

    def report_is_current(self, report: Path, inputs: str) -> bool:
        """True when ``report`` and every file written with it came from ``inputs``, and all
        are still as they were written."""
        row = self._db.execute("SELECT inputs, digests FROM reports WHERE target = ?",
                               (os.fsencode(os.path.abspath(report)),)).fetchone()
        if row is None or row[0] != inputs:
            return False
        digests = json.loads(row[1])
        return all(file_digest(Path(name)) == digest for name, digest in digests.items())

    def record_report(self, report: Path, files: list[Path], inputs: str) -> None:
        """Remember which inputs made ``report`` and the files, as now written, that go with it."""
        digests = {os.path.abspath(path): file_digest(path) for path in files}
        self._db.execute("INSERT OR REPLACE INTO reports VALUES (?, ?, ?)",
                         (os.fsencode(os.path.abspath(report)), inputs,
                          json.dumps(digests, sort_keys=True)))
        self.commit()

    def commit(self) -> None:
        self._db.commit()
        self._pending = 0

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()
