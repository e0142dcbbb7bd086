"""Relative, percent-encoded links from a page to files beside it or to original images."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def relative_href(target: Path, page_folder: Path) -> str:
    """A link from a page in ``page_folder`` to ``target``, percent-encoded segment by segment.

    Every byte outside the unreserved set is encoded, so a name such as ``javascript:x.png``
    becomes ``./javascript%3Ax.png`` and can never be read as a URL with a scheme.
    """
    return _href(_segments_between(page_folder, target))


def _segments_between(page_folder: Path | str, target: Path | str) -> list[str]:
    """The encoded path segments that lead from ``page_folder`` to ``target``."""
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(page_folder))
    if relative == os.curdir:
        return []
    return [segment if segment == ".." else quote(os.fsencode(segment), safe="")
            for segment in relative.split(os.sep)]


def _href(segments: list[str]) -> str:
    href = "/".join(segments)
    return href if href.startswith("..") else "./" + href


def is_within(path: Path | str, folder: Path | str) -> bool:
    """True when ``path`` lies inside ``folder``, judged on absolute paths as written."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def original_hrefs(paths: list[Path], page_folder: Path, roots: list[Path]) -> list[str | None]:
    """Links from the page to each original image, where one is reachable.

    A link is given only when both the page and the image lie inside one of ``roots`` (the
    config's folder, the current folder, or a site's folder), so a link never climbs out
    into the rest of the file system and never names a home directory. The way to each
    folder is worked out once, not once per image in it.
    """
    usable = [root for root in roots if is_within(page_folder, root)]
    folders: dict[str, list[str] | None] = {}
    hrefs: list[str | None] = []
    for path in paths:
        folder, name = os.path.split(path)
        if folder not in folders:
            # A file lies inside a root exactly when its folder is that root or inside it.
            reachable = any(is_within(folder, root) for root in usable)
            folders[folder] = _segments_between(page_folder, folder) if reachable else None
        segments = folders[folder]
        hrefs.append(None if segments is None
                     else _href([*segments, quote(os.fsencode(name), safe="")]))
    return hrefs
