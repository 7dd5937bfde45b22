"""Downloads of a map's data: GeoJSON, CSV and Excel, formula-safe, with the protective marking.

The caller passes features already shaped for their audience (partner features have been through
`mapping.disclosure`); these writers only change the format. Text is never turned into a formula:
CSV cells that start with = + - @, a tab or a carriage return get a leading apostrophe, and Excel
cells holding text are written as text, whatever they start with. Numbers stay numbers.
"""

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Feature = Mapping[str, Any]


def columns_of(features: Sequence[Feature]) -> list[str]:
    """The id and every property name, in the order first seen."""
    names: dict[str, None] = {"id": None}
    for feature in features:
        names.update(dict.fromkeys(feature.get("properties", {})))
    return list(names)


def rows_of(features: Sequence[Feature], columns: Sequence[str]) -> list[list[Any]]:
    """One row per feature, in column order (missing values as None)."""
    return [
        [feature.get("id") if name == "id" else feature.get("properties", {}).get(name) for name in columns]
        for feature in features
    ]


def csv_cell(value: object) -> object:
    """A value for a CSV cell: numbers as they are, text neutralised against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        return "'" + text if text.startswith(FORMULA_STARTS) else text
    return value


def to_csv(features: Sequence[Feature]) -> str:
    """The features' properties as CSV with a header row."""
    columns = columns_of(features)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(value) for value in row] for row in rows_of(features, columns))
    return buffer.getvalue()


def _write_row(sheet: Any, row_number: int, values: Iterable[object]) -> None:
    """Write one row; text cells are typed as text so nothing is ever evaluated."""
    for column, value in enumerate(values, start=1):
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        cell = sheet.cell(row=row_number, column=column, value=value)
        if isinstance(value, str):
            cell.data_type = "s"


def to_xlsx(features: Sequence[Feature], *, title: str, marking: str) -> bytes:
    """The features' properties as an Excel workbook, the marking above the table and on every page."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31] or "Data"
    columns = columns_of(features)
    _write_row(sheet, 1, [marking])
    sheet.cell(row=1, column=1).font = Font(bold=True)
    _write_row(sheet, 2, columns)
    for offset, row in enumerate(rows_of(features, columns)):
        _write_row(sheet, 3 + offset, row)
    sheet.oddHeader.center.text = marking
    sheet.oddFooter.center.text = marking
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_geojson(features: Sequence[Feature], **members: object) -> bytes:
    """A FeatureCollection with any extra top-level members (window, audience ...)."""
    return json.dumps({"type": "FeatureCollection", **members, "features": list(features)}).encode()
