"""Publish one or more reports as a folder that GitHub Pages can serve as it is."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .assembly import compute, page_files
from .assets import PLOTLY_FILE, plotly_js
from .atomic import check_writable, write_atomically
from .config import Config
from .formatting import png_data_uri
from .links import relative_href
from .outcome import Outcome
from .pipeline import decoder_pool, open_cache
from .render import environment

log = logging.getLogger(__name__)

INDEX = "index"
INDEX_TEMPLATE = "site_index.html.j2"


@dataclass(frozen=True)
class PublishedPage:
    name: str
    title: str
    href: str
    image_count: int
    cluster_count: int
    mean_uri: str


def safe_page_names(configs: list[Config]) -> list[str]:
    """Page names from the config file names, safe on GitHub Pages.

    Lower case (so no two differ only by case), no leading underscore or dot (Jekyll and some
    servers hide those), no characters that need encoding, never "index", and never repeated.
    """
    names: list[str] = []
    for config in configs:
        ascii_stem = unicodedata.normalize("NFKD", config.source.stem).encode("ascii", "ignore")
        stem = re.sub(r"[^a-z0-9._-]+", "-", ascii_stem.decode().lower()).strip("._-")
        stem = stem or "report"
        if stem == INDEX:
            stem = "index-report"
        name, number = stem, 2
        while name in names:
            name, number = f"{stem}-{number}", number + 1
        names.append(name)
    return names


def render_index(pages: list[PublishedPage]) -> str:
    template = environment().get_template(INDEX_TEMPLATE)
    return template.render(pages=pages, total=sum(p.image_count for p in pages))


def _compute_one(config: Config, progress: bool, use_cache: bool) -> Outcome:
    """One config's outcome, its workers started before its folder is walked."""
    cache = open_cache(config, use_cache)
    try:
        with decoder_pool(config) as pool:
            return compute(config, progress, cache, pool=pool)
    finally:
        if cache is not None:
            cache.close()


def build_site(configs: list[Config], folder: Path, progress: bool = False,
               use_cache: bool = True) -> list[Path]:
    """Compute every config's report and write them, with shared assets, into ``folder``.

    With one config its report is the site's ``index.html``; with several, each report is a
    page named after its config and ``index.html`` lists them. Nothing is written unless every
    report could be computed. Returns the pages written, the index first.
    """
    names = [INDEX] if len(configs) == 1 else safe_page_names(configs)
    check_writable(folder / f"{INDEX}.html")
    files: dict[Path, Any] = {}
    outcomes = []
    pages = []
    try:
        for config, name in zip(configs, names):
            # The site's own files must never be read back as input.
            config = replace(config, output=replace(config.output, site=folder))
            outcome = _compute_one(config, progress, use_cache)
            outcomes.append(outcome)
            report = folder / f"{name}.html"
            files.update(page_files(outcome, report, "directory", [folder], "files",
                                    config.output.layout))
            pages.append(PublishedPage(
                name=name,
                title=outcome.title,
                href=relative_href(report, folder),
                image_count=len(outcome.names),
                cluster_count=config.cluster_count,
                mean_uri=png_data_uri(outcome.analysis.mean_image),
            ))
        if len(configs) > 1:
            files[folder / f"{INDEX}.html"] = render_index(pages).encode("utf-8")
        files[folder / PLOTLY_FILE] = plotly_js()
        files[folder / ".nojekyll"] = b""
        write_atomically(files)
    finally:
        for outcome in outcomes:
            outcome.close()
    log.info("wrote a site of %d report(s) to %s", len(configs), folder)
    written = [folder / f"{name}.html" for name in names]
    return written if len(configs) == 1 else [folder / f"{INDEX}.html", *written]
