"""One run from config to written files: discover, load, analyse, render, write."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .analysis import analyse
from .atomic import write_atomically
from .config import Config
from .discovery import discover
from .exports import ranking_csv, ranking_json
from .loading import load_images
from .outcome import Outcome
from .render import render_report

log = logging.getLogger(__name__)


class NoImagesError(RuntimeError):
    """The input held no image that could be used."""


@dataclass(frozen=True)
class Written:
    report: Path
    csv: Path
    json: Path


def compute(config: Config, progress: bool = False) -> Outcome:
    """Find and decode the images and run the analysis; nothing is written."""
    found = discover(config.input.folder, config.input.recursive, config.input.include,
                     config.input.exclude, config.input.hidden)
    log.info("found %d candidate files in %s", len(found.candidates), config.input.path)
    if found.ignored or found.non_images:
        log.info("passed over %d hidden or system files and %d non-image files",
                 found.ignored, found.non_images)

    loaded = load_images(found.candidates, config.preprocess, config.output.thumbnail_size,
                         progress=progress)
    skipped = found.skipped + loaded.skipped
    if not loaded.names:
        detail = f"; {len(skipped)} files could not be read" if skipped else ""
        if found.non_images or found.ignored:
            detail += (f"; passed over {found.non_images} non-image and {found.ignored}"
                       " hidden or system files")
        raise NoImagesError(f"no usable images found in {config.input.path}{detail}")
    log.info("decoded %d images, skipped %d", len(loaded.names), len(skipped))

    return Outcome(
        title=config.title,
        settings=config.settings(),
        version=__version__,
        names=loaded.names,
        thumbnails=loaded.thumbnails,
        frames=loaded.frames,
        analysis=analyse(loaded.pixels, loaded.names, config.cluster_count),
        skipped=sorted(skipped, key=lambda s: s.rel),
        ignored=found.ignored,
        non_images=found.non_images,
    )


def run(config: Config, progress: bool = False) -> Written:
    """Compute the outcome and write the report, CSV and JSON, all or none of them."""
    outcome = compute(config, progress)
    output = config.output
    write_atomically({
        output.path: render_report(outcome).encode("utf-8"),
        output.csv_path: ranking_csv(outcome),
        output.json_path: ranking_json(outcome),
    })
    return Written(output.path, output.csv_path, output.json_path)
