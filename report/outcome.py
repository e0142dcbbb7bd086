"""What a run found, gathered in one place for the report and the exports to read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Analysis
from .discovery import Skipped
from .loading import Thumbnail


@dataclass(frozen=True)
class Outcome:
    """The analysis together with the names, thumbnails and bookkeeping around it."""

    title: str
    settings: dict[str, Any]
    version: str
    names: list[str]
    keys: list[str]
    paths: list[Path]
    thumbnails: list[Thumbnail]
    frames: list[int]
    analysis: Analysis
    skipped: list[Skipped]
    ignored: int
    non_images: int
