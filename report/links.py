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
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(page_folder))
    segments = [
        segment if segment == ".." else quote(os.fsencode(segment), safe="")
        for segment in relative.split(os.sep)
    ]
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
    into the rest of the file system and never names a home directory.
    """
    usable = [root for root in roots if is_within(page_folder, root)]
    return [
        relative_href(path, page_folder) if any(is_within(path, r) for r in usable) else None
        for path in paths
    ]
