"""What a run found, gathered in one place for the report and the exports to read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Analysis
from .discovery import Skipped
from .store import ThumbnailStore


@dataclass(frozen=True)
class Outcome:
    """The analysis together with the names, thumbnails and bookkeeping around it.

    Thumbnails (and, through ``store``, the arrays) live in temporary files until ``close``.
    """

    title: str
    settings: dict[str, Any]
    version: str
    names: list[str]
    keys: list[str]
    paths: list[Path]
    thumbnails: ThumbnailStore
    analysis: Analysis
    skipped: list[Skipped]
    ignored: int
    non_images: int
    store: Any = None
    review: Any = None  # a quality.Review, when the run made one

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
