"""Map data downloads: formula-safe CSV and Excel, numbers kept as numbers, the marking on the sheet."""

import csv
import io
import json
import zipfile
from typing import Any

from openpyxl import load_workbook

from mapping.exports import to_csv, to_geojson, to_xlsx

FEATURES: list[dict[str, Any]] = [
    {
        "type": "Feature",
        "id": "c1",
        "geometry": None,
        "properties": {"count": 10, "gi_z": -2.5, "name": "=HYPERLINK(1)"},
    },
    {
        "type": "Feature",
        "id": "c2",
        "geometry": None,
        "properties": {"count": None, "trend": "new", "name": "+1-2"},
    },
    {"type": "Feature", "id": "c3", "geometry": None, "properties": {"name": "@sum", "refs": ["-L1", "L2"]}},
    {"type": "Feature", "id": "c4", "geometry": None, "properties": {"name": "\tTab", "count": 0}},
]


def test_csv_neutralises_text_that_could_run_as_a_formula_and_keeps_numbers() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(FEATURES))))
    assert rows[0] == ["id", "count", "gi_z", "name", "trend", "refs"]
    assert rows[1] == ["c1", "10", "-2.5", "'=HYPERLINK(1)", "", ""]
    assert rows[2] == ["c2", "", "", "'+1-2", "new", ""]
    assert rows[3][3] == "'@sum"
    assert rows[3][5] == "'-L1, L2"
    assert rows[4][3] == "'\tTab"


def test_excel_writes_text_as_text_never_formulas_and_carries_the_marking() -> None:
    data = to_xlsx(FEATURES, title="Hotspots", marking="OFFICIAL-SENSITIVE")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    assert "OFFICIAL-SENSITIVE" in sheet_xml
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet["A1"].value == "OFFICIAL-SENSITIVE"
    assert [cell.value for cell in sheet[2]] == ["id", "count", "gi_z", "name", "trend", "refs"]
    assert (sheet["D3"].value, sheet["D3"].data_type) == ("=HYPERLINK(1)", "s")
    assert (sheet["B3"].value, sheet["C3"].value) == (10, -2.5)
    assert sheet["F5"].value == "-L1, L2"


def test_geojson_keeps_members_and_features() -> None:
    body = json.loads(to_geojson(FEATURES, audience="partner"))
    assert (body["type"], body["audience"], len(body["features"])) == ("FeatureCollection", "partner", 4)
