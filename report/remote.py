"""Read an input given as a URL (``s3://``, ``gs://``, ``file://``...) through fsspec.

The listing follows the rules of a local walk (hidden and system files, include and exclude
patterns, extensions that are not images) and its order, so a collection gives the same report
from a bucket as from a folder. Each file is fetched whole and decoded from memory by the
usual decoder. fsspec and its back ends are imported only for such an input, and the storage
options never reach a message: back-end errors are redacted before they are shown.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, InputSettings
from .discovery import (NON_IMAGE_SUFFIXES, Candidate, Discovery, InputError, is_hidden,
                        matches, printable)
from .extras import MissingExtra, install_hint, require
from .decoding import DecodeError
from .redaction import redact

log = logging.getLogger(__name__)

# Protocols whose fsspec back end one of the package's extras installs.
PROTOCOL_EXTRAS = {"s3": "s3", "s3a": "s3"}


def protocol(url: str) -> str:
    return url.split("://", 1)[0].lower()


def _wanted_by(settings: InputSettings, source: Path) -> str:
    if settings.from_command_line:
        return f"--input {printable(settings.path)}"
    return f"{source}: [input] path {printable(settings.path)}"


def filesystem(settings: InputSettings, source: Path) -> tuple[Any, str]:
    """The fsspec file system for a URL input and the folder's path inside it.

    Nothing is fetched yet; a missing back end or a bad option stops the run here, before any
    work, with a message that names the config key (and, for a missing back end, what to
    install).
    """
    wanted_by = _wanted_by(settings, source)
    scheme = protocol(settings.path)
    extra = PROTOCOL_EXTRAS.get(scheme)
    try:
        fsspec_core = require("fsspec.core", extra or "s3", wanted_by)
    except MissingExtra:
        if extra:
            raise
        raise MissingExtra(f"{wanted_by} needs fsspec, which is not installed: "
                           "pip install fsspec") from None
    options = settings.storage_options.plain()
    try:
        return fsspec_core.url_to_fs(settings.path, **options)
    except ImportError as exc:
        hint = install_hint(extra) if extra else redact(str(exc), options)
        raise MissingExtra(f"{wanted_by} needs the fsspec back end for {scheme}://, which is "
                           f"not installed: {hint}") from None
    except ValueError as exc:
        raise ConfigError(f"{wanted_by}: {redact(str(exc), options)}") from None
    except Exception as exc:  # noqa: BLE001 - back ends reject options in their own ways
        raise ConfigError(f"{wanted_by}: the storage options were refused "
                          f"({type(exc).__name__}: {redact(str(exc), options)})") from None


@dataclass(frozen=True)
class RemoteFile:
    """One file behind a URL, fetched when decoded; picklable, so workers can fetch it too.

    Its ``repr`` is the URL alone: the file system it holds carries the storage options.
    """

    fs: Any
    path: str
    url: str

    def __repr__(self) -> str:
        return f"RemoteFile({self.url!r})"

    def fetch(self) -> io.BytesIO:
        """The file's bytes; a failure to read is a :class:`DecodeError` that may pass."""
        try:
            return io.BytesIO(self.fs.cat_file(self.path))
        except FileNotFoundError:
            raise DecodeError("cannot be read: not found", passing=True) from None
        except PermissionError:
            raise DecodeError("cannot be read: permission denied", passing=True) from None
        except Exception as exc:  # noqa: BLE001 - network and back-end errors of every kind
            detail = redact(str(exc) or type(exc).__name__, self.fs.storage_options)
            raise DecodeError(f"cannot be read: {detail}", passing=True) from None


def walk_order(rel: str) -> tuple[bytes, ...]:
    """The order of a local walk: folder by folder, names in byte order."""
    return tuple(part.encode("utf-8", "surrogateescape") for part in rel.split("/"))


def discover_remote(settings: InputSettings, source: Path) -> Discovery:
    """List a URL input's files and sort them into candidates and the rest, as a walk does."""
    fs, root = filesystem(settings, source)
    shown = printable(settings.path)
    options = settings.storage_options.plain()
    try:
        if not fs.isdir(root):
            if fs.exists(root):
                raise InputError(f"input is not a folder: {shown}")
            raise InputError(f"input folder not found: {shown}")
        listing = fs.find(root, maxdepth=None if settings.recursive else 1, withdirs=True,
                          detail=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - back ends raise many kinds
        reason = redact(str(exc) or type(exc).__name__, options)
        raise InputError(f"input folder cannot be read: {shown} ({reason})") from None

    found = Discovery()
    hidden_seen: set[str] = set()
    prefix = root.rstrip("/") + "/"
    entries = sorted(((path[len(prefix):], path, info) for path, info in listing.items()
                      if path.startswith(prefix)), key=lambda entry: walk_order(entry[0]))
    for rel, path, info in entries:
        parts = rel.split("/")
        hidden_at = next((i for i, part in enumerate(parts)
                          if is_hidden(part, settings.hidden)), None)
        if hidden_at is not None:
            # Counted once, like a local walk that passes over a hidden folder as one entry.
            hidden_seen.add("/".join(parts[: hidden_at + 1]))
            continue
        if info.get("type") != "file" or not matches(rel, settings.include, settings.exclude):
            continue
        if os.path.splitext(parts[-1])[1].lower() in NON_IMAGE_SUFFIXES:
            log.debug("passed over %s: its extension says it is not an image", printable(rel))
            found.non_images += 1
            continue
        remote = RemoteFile(fs, path, fs.unstrip_protocol(path))
        found.candidates.append(Candidate(rel, remote, rel, int(info.get("size") or 0)))
    found.ignored = len(hidden_seen)
    return found
