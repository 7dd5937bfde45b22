"""Chronology exports: CSV that spreadsheet programs cannot turn into formulas."""

import csv
import io

from contexts.concerns.models import CONTEXT_LABELS
from contexts.concerns.schemas import ChronologyEntry

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "When",
    "Date precision",
    "Context",
    "Kind",
    "Category",
    "Summary",
    "Detail",
    "Agency",
    "Recorded by",
    "Recorded at",
    "Place id",
    "3x5x2 grading",
    "Sensitivity",
]


def safe_cell(value: object) -> str:
    """Text for a CSV cell; a leading = + - @ tab or CR is neutralised with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _grading(entry: ChronologyEntry) -> str:
    """The 3x5x2 grading as written by police, e.g. 2C P."""
    if entry.source_evaluation is None:
        return ""
    return f"{entry.source_evaluation}{entry.intelligence_assessment} {entry.handling_code}"


def chronology_csv(entries: list[ChronologyEntry]) -> str:
    """A CSV of the entries in chronology order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            safe_cell(value)
            for value in (
                entry.occurred_at.isoformat(timespec="minutes"),
                entry.occurred_precision.value,
                CONTEXT_LABELS[entry.context],
                entry.kind.value,
                entry.category_label,
                entry.summary,
                entry.detail,
                entry.agency_name,
                entry.recorded_by,
                entry.recorded_at.isoformat(timespec="minutes"),
                entry.place_id,
                _grading(entry),
                entry.sensitivity.value,
            )
        )
    return buffer.getvalue()
