"""The ranking as CSV and as JSON, for spreadsheets and for scripts that compare runs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Iterator

from .outcome import Outcome

SCHEMA_VERSION = 1
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
        "records": records(outcome),
        "skipped": [{"path": s.rel, "reason": s.reason} for s in outcome.skipped],
    }
    return _json_with_record_lines(document, "records")


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
    separator = f'"{list_key}": [\n'
    for entry in entries:
        yield (separator + "    " + json.dumps(entry, ensure_ascii=False, allow_nan=False)
               ).encode("utf-8")
        separator = ",\n"
    yield (f'"{list_key}": []\n}}\n' if separator.startswith('"') else "\n  ]\n}\n").encode()
