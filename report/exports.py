"""The ranking as CSV and as JSON, for spreadsheets and for scripts that compare runs."""

from __future__ import annotations

import csv
import io
import itertools
import json
from typing import Any, Iterable, Iterator

from .outcome import Outcome

SCHEMA_VERSION = 2
# Scores and correlations are kept to this many decimals, so noise in the last bits of a
# floating-point sum never changes a published file.
SCORE_PLACES = 4
# Cells starting with these are run as formulas by spreadsheet programs. A cell that already
# starts with an apostrophe is guarded too, so removing one leading apostrophe always restores
# the exact name.
_GUARDED_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")


def guard_cell(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would otherwise read as a formula."""
    return "'" + text if text.startswith(_GUARDED_PREFIXES) else text


def records(outcome: Outcome) -> Iterator[dict[str, Any]]:
    """One record per image in ranking order: rank from 1, path, distance, cluster.

    Made one at a time, so a large ranking is never held twice.
    """
    analysis = outcome.analysis
    distances = analysis.distances[analysis.order].tolist()
    clusters = analysis.clusters[analysis.order].tolist()
    for position, index in enumerate(analysis.order.tolist()):
        yield {
            "rank": position + 1,
            "path": outcome.names[index],
            "distance": distances[position],
            "cluster": clusters[position],
        }


def ranking_csv(outcome: Outcome) -> Iterator[bytes]:
    """The ranking with header ``rank,path,distance,cluster``, as UTF-8 pieces.

    Paths are guarded and quoted; pieces of about a thousand rows keep memory flat.
    """
    buffer = io.StringIO(newline="")
    # CRLF line ends (RFC 4180) make the writer quote any cell holding a lone CR as well.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["rank", "path", "distance", "cluster"])
    for record in records(outcome):
        writer.writerow([record["rank"], guard_cell(record["path"]),
                         repr(record["distance"]), record["cluster"]])
        if record["rank"] % 1000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def ranking_json(outcome: Outcome) -> Iterator[bytes]:
    """Settings, clusters, the ranking and the skipped files, under a schema version."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mean-image-report", "version": outcome.version},
        "settings": outcome.settings,
        "images_used": len(outcome.names),
        "clusters": [
            {
                "cluster": summary.number,
                "size": summary.size,
                "distance_min": summary.distance_min,
                "distance_max": summary.distance_max,
            }
            for summary in outcome.analysis.summaries
        ],
        "edges": [float(edge) for edge in outcome.analysis.edges],
        **review_document(outcome),
        "records": records(outcome),
        "skipped": [{"path": s.rel, "reason": s.reason} for s in outcome.skipped],
    }
    return _json_with_record_lines(document, "records")


def _rounded(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def _score(value: float | None) -> float | None:
    return _rounded(value, SCORE_PLACES)


def review_document(outcome: Outcome) -> dict[str, Any]:
    """The review's figures: diagnostics, each grouping and the duplicate groups.

    Each grouping's ``image_clusters`` follow the order of ``records``; paths in duplicate
    groups are sorted. Anything undefined for the input is null.
    """
    review = outcome.review
    if review is None:
        return {}
    order = outcome.analysis.order
    names = outcome.names

    def paths(groups: list[list[int]] | None) -> list[list[str]] | None:
        return None if groups is None else [sorted(names[i] for i in group) for group in groups]

    found = review.components
    return {
        "diagnostics": {
            "brightness_rank_correlation":
                _score(review.diagnostics.brightness_rank_correlation),
            "background_rank_correlation":
                _score(review.diagnostics.background_rank_correlation),
        },
        "principal_components": None if found is None else {
            "fitted_on": found.fitted_on,
            "explained_variance_ratio": [_score(float(v)) for v in found.explained],
        },
        "groupings": [
            {
                "method": grouping.method,
                "silhouette": _score(grouping.silhouette),
                "silhouette_images": None if grouping.silhouette is None
                                     else review.silhouette_images,
                "clusters": [
                    {"cluster": c.number, "size": c.size, "spread": _rounded(c.spread, 1),
                     "brightness": _rounded(c.brightness, SCORE_PLACES)}
                    for c in grouping.clusters
                ],
                "image_clusters": grouping.labels[order].tolist(),
            }
            for grouping in review.groupings
        ],
        "duplicates": {
            "exact": paths(review.duplicates.exact),
            "near": paths(review.duplicates.near),
            "near_threshold": review.duplicates.threshold,
            "near_checked_on_pixels": None if review.duplicates.near is None
                                      else review.duplicates.checked,
        },
    }


def _json_with_record_lines(document: dict[str, Any], list_key: str) -> Iterator[bytes]:
    """Indented JSON, as UTF-8 pieces, with each entry of ``document[list_key]`` (any
    iterable, last in the document) on a line of its own.

    One line per image keeps diffs of a report kept in git readable, lets the fast C encoder
    do the bulk of the work, and never holds the whole text.
    """
    entries: Iterable[Any] = document[list_key]
    rest = {key: value for key, value in document.items() if key != list_key}
    head = json.dumps({**rest, list_key: []}, indent=2, ensure_ascii=False, allow_nan=False)
    marker = f'"{list_key}": []\n}}'
    if not head.endswith(marker):
        raise ValueError(f"{list_key} must be the document's last key")
    yield head[: -len(marker)].encode("utf-8")
    # One encoder for every entry: json.dumps with options builds a new one per call.
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    lines = (f"    {encode(entry)}" for entry in entries)
    first = next(lines, None)
    if first is None:
        yield f'"{list_key}": []\n}}\n'.encode()
        return
    yield f'"{list_key}": [\n{first}'.encode("utf-8")
    while block := list(itertools.islice(lines, 1000)):
        yield ("".join(f",\n{line}" for line in block)).encode("utf-8")
    yield b"\n  ]\n}\n"
