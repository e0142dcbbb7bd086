"""The ranking as CSV and as JSON, for spreadsheets and for scripts that compare runs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .outcome import Outcome

SCHEMA_VERSION = 1
# Cells starting with these are run as formulas by spreadsheet programs. A cell that already
# starts with an apostrophe is guarded too, so removing one leading apostrophe always restores
# the exact name.
_GUARDED_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")


def guard_cell(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would otherwise read as a formula."""
    return "'" + text if text.startswith(_GUARDED_PREFIXES) else text


def records(outcome: Outcome) -> list[dict[str, Any]]:
    """One record per image in ranking order: rank from 1, path, distance, cluster."""
    analysis = outcome.analysis
    return [
        {
            "rank": position + 1,
            "path": outcome.names[index],
            "distance": float(analysis.distances[index]),
            "cluster": int(analysis.clusters[index]),
        }
        for position, index in enumerate(analysis.order)
    ]


def ranking_csv(outcome: Outcome) -> bytes:
    """The ranking with header ``rank,path,distance,cluster``; paths guarded and quoted."""
    buffer = io.StringIO(newline="")
    # CRLF line ends (RFC 4180) make the writer quote any cell holding a lone CR as well.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["rank", "path", "distance", "cluster"])
    for record in records(outcome):
        writer.writerow([record["rank"], guard_cell(record["path"]),
                         repr(record["distance"]), record["cluster"]])
    return buffer.getvalue().encode("utf-8")


def ranking_json(outcome: Outcome) -> bytes:
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
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
