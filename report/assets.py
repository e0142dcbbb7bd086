"""The files a page is made from or brings along: templates, plotly.js, thumbnail folders.

Light on purpose: a run asks for these versions and digests before its workers start, and the
heavier rendering libraries load only afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

PLOTLY_FILE = "plotly.min.js"


def template_folder() -> Path:
    """The templates: packaged inside ``report`` when installed, at the top of a checkout."""
    packaged = Path(__file__).with_name("templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def templates_digest() -> str:
    """A digest of every template, so a report made by other templates is not taken as current."""
    digest = hashlib.sha256()
    for path in sorted(template_folder().iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def plotly_bundle() -> Path:
    """The plotly.js bundle that the plotly package ships, found without importing plotly,
    whose import alone costs a small run a twentieth of a second."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / PLOTLY_FILE


def plotly_js() -> bytes:
    """The plotly.js bundle's bytes, for inlining or copying."""
    return plotly_bundle().read_bytes()


@lru_cache(maxsize=1)
def plotly_version() -> str:
    """The bundle's own version, read from its header, for the matching CDN address."""
    with open(plotly_bundle(), "rb") as bundle:
        header = bundle.read(500).decode("ascii", errors="replace")
    found = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", header)
    if not found:
        raise RuntimeError("cannot tell the version of the bundled plotly.js")
    return found.group(1)


def thumbnail_folder(report_name: str) -> str:
    """The folder beside a page that holds its thumbnails when they are files."""
    return f"{Path(report_name).stem}-thumbs"
