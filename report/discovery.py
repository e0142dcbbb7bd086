"""Find the files in the input folder that are worth trying as images."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

# Files and folders that operating systems and archivers leave behind; never images.
SYSTEM_NAMES = frozenset({
    "thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "$recycle.bin",
    "system volume information", "icon\r",
})
# Extensions that say a file is not an image: passed over without trying to decode it.
NON_IMAGE_SUFFIXES = frozenset({
    ".txt", ".md", ".rst", ".json", ".csv", ".tsv", ".toml", ".yaml", ".yml", ".xml",
    ".html", ".htm", ".css", ".js", ".py", ".ini", ".cfg", ".log", ".db", ".sqlite",
    ".pdf", ".doc", ".docx", ".zip", ".gz", ".tar", ".7z", ".rar", ".mp4", ".mov",
    ".avi", ".mkv", ".mp3", ".wav", ".npy", ".npz",
})


class InputError(ValueError):
    """The input folder cannot be walked at all."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to try: how the report names it, where to open it, and its exact relative path.

    ``rel`` is for people (undecodable bytes shown as U+FFFD); ``key`` keeps those bytes, so two
    files whose names differ only there still sort and link apart. ``path`` is a local path, or
    for a URL input a ``remote.RemoteFile``.
    """

    rel: str
    path: str
    key: str = ""
    size: int = 0
    stamp: str = ""


@dataclass(frozen=True)
class Skipped:
    """A file left out of the analysis, with the reason a person should read."""

    rel: str
    reason: str


@dataclass
class Discovery:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: int = 0
    non_images: int = 0


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 become replacement characters."""
    return os.fsencode(name).decode("utf-8", errors="replace")


def printable(text: str) -> str:
    """Text safe to write to a terminal: control characters shown as escapes, not obeyed."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def file_stamp(info: os.stat_result) -> str:
    """What changes whenever a file's content may have: its modification and change times and
    its inode. The change time also moves when a file is renamed or its mtime is set back, as
    ``mv``, ``cp -p`` and ``touch -r`` do, so a cache keyed on it is not fooled by them."""
    return f"{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


def is_hidden(name: str, include_dotfiles: bool) -> bool:
    """True for system files and, unless asked for, dot-files.

    AppleDouble companions (``._name``) and ``.DS_Store`` are never images, so they stay
    hidden even when dot-files are wanted.
    """
    if name.lower() in SYSTEM_NAMES:
        return True
    if name.startswith("._") or name == ".DS_Store":
        return True
    return name.startswith(".") and not include_dotfiles


def matches(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether the include patterns take ``rel`` and no exclude pattern leaves it out."""
    included = any(fnmatchcase(rel, pattern) for pattern in include)
    return included and not any(fnmatchcase(rel, pattern) for pattern in exclude)


def discover(
    folder: Path,
    recursive: bool = False,
    include: tuple[str, ...] = ("*",),
    exclude: tuple[str, ...] = (),
    hidden: bool = False,
    skip: tuple[Path, ...] = (),
) -> Discovery:
    """Walk ``folder`` in a stable order and sort its files into candidates and the rest.

    Symbolic links are followed; each file is taken once, under the first relative path that
    reaches it, and a link back to a folder being walked is reported instead of followed.
    Folders in ``skip`` (the run's own outputs) are never entered.
    """
    try:
        info = folder.stat()
    except FileNotFoundError:
        raise InputError(f"input folder not found: {printable(str(folder))}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"input folder cannot be read: {printable(str(folder))} ({reason})"
                         ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"input is not a folder: {printable(str(folder))}")

    walker = _Walker(recursive, include, exclude, hidden,
                     frozenset(os.path.abspath(folder) for folder in skip))
    walker.walk(folder, "", [(info.st_dev, info.st_ino)])
    return walker.found


class _Walker:
    """Depth-first walk that remembers which folders and files it has already taken.

    The walk keeps its own stack rather than recursing, so any depth of folders is fine.
    """

    def __init__(self, recursive: bool, include: tuple[str, ...], exclude: tuple[str, ...],
                 hidden: bool, skip: frozenset[str] = frozenset()):
        self.skip = skip
        self.recursive = recursive
        self.include = include
        self.exclude = exclude
        self.hidden = hidden
        self.found = Discovery()
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: set[tuple[int, int]] = set()

    def wanted(self, rel: str) -> bool:
        return matches(rel, self.include, self.exclude)

    def listing(self, folder: str, prefix: str) -> Iterator[str]:
        """The names in ``folder`` in byte order; plain names stay light in a huge folder."""
        try:
            names = os.listdir(folder)
        except OSError as exc:
            reason = f"folder cannot be read: {exc.strerror}"
            self.found.skipped.append(Skipped(display_name(prefix) or ".", reason))
            names = []
        names.sort(key=os.fsencode)
        return iter(names)

    def walk(self, folder: Path, prefix: str, ancestors: list[tuple[int, int]]) -> None:
        self.seen_dirs.add(ancestors[-1])
        stack = [(self.listing(str(folder), prefix), str(folder), prefix, ancestors)]
        while stack:
            names, here, prefix, ancestors = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            path = os.path.join(here, name)
            folder_key = self.visit(name, path, prefix + name, ancestors)
            if folder_key is not None:
                self.seen_dirs.add(folder_key)
                stack.append((self.listing(path, prefix + name + "/"), path,
                              prefix + name + "/", ancestors + [folder_key]))

    def visit(self, name: str, path: str, key: str, ancestors: list[tuple[int, int]]
              ) -> tuple[int, int] | None:
        """Sort one entry; return its identity when it is a folder to walk into."""
        found = self.found
        rel = display_name(key)
        rel = key if rel == key else rel  # one string, not two equal ones, per file
        if is_hidden(name, self.hidden):
            log.debug("passed over %s: hidden or system file", printable(rel))
            found.ignored += 1
            return None
        try:
            info = os.stat(path)
        except OSError as exc:
            reason = "broken symbolic link" if os.path.islink(path) else exc.strerror
            found.skipped.append(Skipped(rel, f"cannot be read: {reason}"))
            return None
        identity = (info.st_dev, info.st_ino)

        if stat.S_ISDIR(info.st_mode):
            if not self.recursive:
                return None
            if os.path.abspath(path) in self.skip:
                log.debug("passed over %s: the tool's own output", printable(rel))
                return None
            if identity in ancestors:
                reason = "symbolic link loop: leads back to a folder that holds it"
                found.skipped.append(Skipped(rel, reason))
            elif identity in self.seen_dirs:
                log.debug("%s: folder already walked through another path", printable(rel))
            else:
                return identity
            return None

        if not stat.S_ISREG(info.st_mode):
            log.debug("passed over %s: not a regular file", printable(rel))
            found.ignored += 1
        elif not self.wanted(rel):
            pass
        elif os.path.splitext(name)[1].lower() in NON_IMAGE_SUFFIXES:
            log.debug("passed over %s: its extension says it is not an image", printable(rel))
            found.non_images += 1
        elif identity in self.seen_files:
            log.debug("%s: same file as one already taken through another path",
                      printable(rel))
        else:
            self.seen_files.add(identity)
            found.candidates.append(
                Candidate(rel, path, key, info.st_size, file_stamp(info)))
        return None
