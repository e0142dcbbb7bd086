"""One run from config to written files: discover, load, analyse, render, write."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .analysis import analyse
from .atomic import check_writable, write_atomically
from .config import Config
from .discovery import discover, printable
from .exports import ranking_csv, ranking_json
from .loading import load_images
from .links import original_hrefs, relative_href
from .outcome import Outcome
from .render import PLOTLY_FILE, Page, plotly_js, render_report

log = logging.getLogger(__name__)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class NoImagesError(RuntimeError):
    """The input held no image that could be used."""


@dataclass(frozen=True)
class Written:
    report: Path
    csv: Path
    json: Path


def compute(config: Config, progress: bool = False) -> Outcome:
    """Find and decode the images and run the analysis; nothing is written."""
    if Path(config.input.path).is_absolute():
        log.warning("the input path %s is absolute and is shown as it is in the report; give "
                    "a relative path in reports you publish", printable(config.input.path))
    found = discover(config.input.folder, config.input.recursive, config.input.include,
                     config.input.exclude, config.input.hidden)
    log.info("found %s to try in %s", plural(len(found.candidates), "file"),
             config.input.path)
    if found.ignored or found.non_images:
        log.info("passed over %s and %s", plural(found.ignored, "hidden or system file"),
                 plural(found.non_images, "non-image file"))

    loaded = load_images(found.candidates, config.preprocess, config.output.thumbnail_size,
                         progress=progress)
    skipped = found.skipped + loaded.skipped
    if not loaded.names:
        detail = f"; {plural(len(skipped), 'file')} could not be read" if skipped else ""
        if found.non_images or found.ignored:
            detail += (f"; passed over {plural(found.non_images, 'non-image file')} and "
                       f"{plural(found.ignored, 'hidden or system file')}")
        raise NoImagesError(f"no usable images found in {config.input.path}{detail}")
    log.info("decoded %s, skipped %d", plural(len(loaded.names), "image"), len(skipped))

    return Outcome(
        title=config.title,
        settings=config.settings(),
        version=__version__,
        names=loaded.names,
        keys=loaded.keys,
        paths=loaded.paths,
        thumbnails=loaded.thumbnails,
        frames=loaded.frames,
        analysis=analyse(loaded.pixels, loaded.keys, config.cluster_count),
        skipped=sorted(skipped, key=lambda s: s.rel),
        ignored=found.ignored,
        non_images=found.non_images,
    )


def page_files(outcome: Outcome, report: Path, plotly: str, link_roots: list[Path]
               ) -> dict[Path, bytes]:
    """The report page and its CSV and JSON, as bytes keyed by where they go."""
    folder = report.parent
    csv_path, json_path = report.with_suffix(".csv"), report.with_suffix(".json")
    page = Page(
        plotly_js=plotly,
        originals=original_hrefs(outcome.paths, folder, link_roots),
        csv_href=relative_href(csv_path, folder),
        json_href=relative_href(json_path, folder),
    )
    return {
        report: render_report(outcome, page).encode("utf-8"),
        csv_path: ranking_csv(outcome),
        json_path: ranking_json(outcome),
    }


def run(config: Config, progress: bool = False) -> Written:
    """Compute the outcome and write the report, CSV and JSON, all or none of them."""
    output = config.output
    for target in (output.path, output.csv_path, output.json_path):
        check_writable(target)
    outcome = compute(config, progress)
    roots = [config.source.parent, Path.cwd()]
    files = page_files(outcome, output.path, output.plotly_js, roots)
    if output.plotly_js == "directory":
        files[output.path.with_name(PLOTLY_FILE)] = plotly_js().encode("utf-8")
    write_atomically(files)
    return Written(output.path, output.csv_path, output.json_path)
