"""Importing area boundaries (GeoJSON) and indicator tables (the English Indices of Deprivation 2019
and 2025 CSVs with their official long headers, and long CSVs): every row checked first, a report
naming each bad row, all or nothing unless told to skip, and the `csmap import` commands."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.young_people.service import Area
from mapping.areas.importer import (
    load_area_file,
    load_indicator_file,
    read_area_file,
    read_indicator_file,
)
from mapping.areas.models import AreaIndicator, Indicator, SmallArea
from mapping.areas.schemas import AreaImportReport, IndicatorImportReport
from mapping.places.importer import ImportFileError
from tests.conftest import Database
from tests.test_demo_and_cli import run_cli

DATA = Path(__file__).parent / "data"
ENGLAND_AND_WALES = Area(-6.5, 49.8, 2.0, 55.9)
LSOA_2011 = (DATA / "lsoa2011_sample.geojson").read_bytes()
LSOA_2021 = (DATA / "lsoa2021_sample.geojson").read_bytes()
IOD_2019 = (DATA / "iod2019_file7_sample.csv").read_bytes()
IOD_2025 = (DATA / "iod2025_file7_sample.csv").read_bytes()
IOD_2019_DECILE = "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"


def load_areas(session: Session, content: bytes, **options: Any) -> AreaImportReport:
    """Import boundary file content as LSOAs in England and Wales."""
    options.setdefault("kind", "lsoa")
    return load_area_file(session=session, content=content, area=ENGLAND_AND_WALES, **options)


def load_values(session: Session, content: bytes, **options: Any) -> IndicatorImportReport:
    """Import indicator file content."""
    return load_indicator_file(session=session, content=content, name="sample.csv", **options)


def values_of(session: Session, code: str, edition: int) -> dict[tuple[str, str], float]:
    """Every stored value of an area, by (indicator, period)."""
    rows = session.execute(
        select(AreaIndicator.indicator, AreaIndicator.period, AreaIndicator.value)
        .join(SmallArea, SmallArea.id == AreaIndicator.area_id)
        .where(SmallArea.code == code, SmallArea.edition == edition)
    )
    return {(row.indicator, row.period): row.value for row in rows}


def area_count(session: Session) -> int:
    """How many areas are held."""
    return int(session.scalar(select(func.count()).select_from(SmallArea)) or 0)


def feature(
    code: str | None, geometry: dict[str, Any] | None, name: str = "Testshire 009Z"
) -> dict[str, Any]:
    """A boundary feature with LSOA21CD and LSOA21NM."""
    properties = {"LSOA21NM": name} | ({"LSOA21CD": code} if code else {})
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def square(west: float, south: float, size: float = 0.01) -> dict[str, Any]:
    """A square Polygon in WGS84."""
    ring = [
        [west, south],
        [west + size, south],
        [west + size, south + size],
        [west, south + size],
        [west, south],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[-1.51, 52.40], [-1.50, 52.41], [-1.50, 52.40], [-1.51, 52.41], [-1.51, 52.40]]],
}


def collection(*features: Any, **extra: Any) -> bytes:
    """A FeatureCollection as bytes."""
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}).encode()


# Boundaries


def test_ons_style_boundaries_load_with_code_name_and_edition_found_by_themselves(
    db_session: Session,
) -> None:
    report = load_areas(db_session, LSOA_2021)
    assert (report.written, report.rows, report.created, report.updated, report.edition) == (
        True,
        3,
        3,
        0,
        2021,
    )
    areas = db_session.execute(
        select(SmallArea.code, SmallArea.name, SmallArea.kind, func.GeometryType(SmallArea.geom)).where(
            SmallArea.edition == 2021, SmallArea.code.like("X01%")
        )
    ).all()
    assert sorted(areas) == [
        ("X01000001", "Testshire 001A", "lsoa", "MULTIPOLYGON"),
        ("X01000002", "Testshire 001B", "lsoa", "MULTIPOLYGON"),
        ("X01000004", "Testshire 002C", "lsoa", "MULTIPOLYGON"),
    ]
    square_km = db_session.scalar(
        select(func.ST_Area(SmallArea.geom_bng) / 1e6).where(SmallArea.code == "X01000001")
    )
    assert square_km is not None
    assert 0.7 < square_km < 0.8  # 0.01 degrees square at 52.4 N: about 0.68 km by 1.11 km


def test_both_editions_are_held_apart_and_reimporting_updates(db_session: Session) -> None:
    load_areas(db_session, LSOA_2011)
    load_areas(db_session, LSOA_2021)
    before = area_count(db_session)
    renamed = LSOA_2021.replace(b"Testshire 001A", b"Testshire 001A renamed")
    again = load_areas(db_session, renamed)
    assert (again.created, again.updated) == (0, 3)
    assert area_count(db_session) == before
    rows = db_session.execute(select(SmallArea.edition, SmallArea.name).where(SmallArea.code == "X01000001"))
    names = {row.edition: row.name for row in rows}
    assert names == {2011: "Testshire 001A", 2021: "Testshire 001A renamed"}


def test_british_national_grid_boundaries_are_converted_to_wgs84(db_session: Session) -> None:
    ring = [[433000, 279000], [434000, 279000], [434000, 280000], [433000, 280000], [433000, 279000]]
    content = collection(
        feature("X01000777", {"type": "Polygon", "coordinates": [ring]}),
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
    )
    report = load_areas(db_session, content)
    assert report.created == 1
    west, south, area = db_session.execute(
        select(
            func.ST_XMin(SmallArea.geom), func.ST_YMin(SmallArea.geom), func.ST_Area(SmallArea.geom_bng)
        ).where(SmallArea.code == "X01000777")
    ).one()
    assert -1.53 < west < -1.51
    assert 52.40 < south < 52.42
    assert area == pytest.approx(1_000_000, rel=1e-6)


def test_bad_features_are_named_and_nothing_is_written(db_session: Session) -> None:
    content = collection(
        feature("X01000101", square(-1.53, 52.40)),
        feature("X01000102", BOW_TIE),
        feature("X01000103", {"type": "Point", "coordinates": [-1.5, 52.4]}),
        feature(None, square(-1.52, 52.40)),
        feature("X01000101", square(-1.51, 52.40)),
        feature(
            "X01000105",
            {
                "type": "Polygon",
                "coordinates": [[[433000, 279000], [434000, 279000], [433000, 280000], [433000, 279000]]],
            },
        ),
        "not a feature",
        feature("X01000107", square(2.35, 48.85)),
    )
    before = area_count(db_session)
    report = load_areas(db_session, content)
    assert not report.written
    assert area_count(db_session) == before
    found = {(p.location, p.field): p.problem for p in report.problems}
    assert set(found) == {
        ("features[1]", "geometry"),
        ("features[2]", "geometry"),
        ("features[3]", "LSOA21CD"),
        ("features[4]", "LSOA21CD"),
        ("features[5]", "geometry"),
        ("features[6]", "feature"),
    }
    assert "Self-intersection" in found[("features[1]", "geometry")]
    assert "--repair" in found[("features[1]", "geometry")]
    assert "Polygon or MultiPolygon" in found[("features[2]", "geometry")]
    assert "same code is on features[0]" in found[("features[4]", "LSOA21CD")]
    assert "British National Grid" in found[("features[5]", "geometry")]
    assert report.outside == 1
    assert (report.rows, report.valid) == (8, 2)


def test_skip_invalid_loads_the_good_features_and_leaves_out_those_outside_the_area(
    db_session: Session,
) -> None:
    content = collection(
        feature("X01000201", square(-1.53, 52.40)),
        feature("X01000202", BOW_TIE),
        feature("X01000203", square(2.35, 48.85)),
    )
    report = load_areas(db_session, content, skip_invalid=True)
    assert (report.written, report.created, report.outside) == (True, 1, 1)
    codes = set(db_session.scalars(select(SmallArea.code).where(SmallArea.code.like("X010002%"))))
    assert codes == {"X01000201"}


def test_repair_mends_a_self_intersecting_boundary(db_session: Session) -> None:
    report = load_areas(db_session, collection(feature("X01000301", BOW_TIE)), repair=True)
    assert report.created == 1
    valid, kind = db_session.execute(
        select(func.ST_IsValid(SmallArea.geom), func.GeometryType(SmallArea.geom)).where(
            SmallArea.code == "X01000301"
        )
    ).one()
    assert (valid, kind) == (True, "MULTIPOLYGON")


def test_named_fields_and_edition_for_other_files(db_session: Session) -> None:
    content = collection(
        {
            "type": "Feature",
            "properties": {"ref": "W1", "title": "North ward"},
            "geometry": square(-1.5, 52.4),
        }
    )
    with pytest.raises(ImportFileError, match="--edition"):
        read_area_file(content, kind="ward", code_field="ref")
    report = load_areas(db_session, content, kind="ward", code_field="ref", name_field="title", edition=2024)
    assert report.created == 1
    ward = db_session.execute(select(SmallArea.name, SmallArea.edition).where(SmallArea.code == "W1")).one()
    assert tuple(ward) == ("North ward", 2024)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b'{"type": "FeatureCollection", "features": [', "not valid JSON", id="json"),
        pytest.param(b'{"type": "Feature"}', "must be a FeatureCollection", id="not-collection"),
        pytest.param(collection(), "has no features", id="no-features"),
        pytest.param(
            collection(
                feature("X1", square(-1.5, 52.4)), crs={"type": "name", "properties": {"name": "EPSG:3857"}}
            ),
            "crs (EPSG:3857) is neither WGS84",
            id="wrong-crs",
        ),
        pytest.param(
            collection({"type": "Feature", "properties": {"FID": 1}, "geometry": square(-1.5, 52.4)}),
            "no code property",
            id="no-code",
        ),
        pytest.param(b"\xff\xfe", "not UTF-8", id="encoding"),
    ],
)
def test_a_malformed_boundary_file_is_refused_as_a_whole(content: bytes, words: str) -> None:
    with pytest.raises(ImportFileError) as refused:
        read_area_file(content, kind="lsoa")
    assert words in refused.value.detail


# The English Indices of Deprivation


def test_iod_2019_file_7_is_recognised_by_its_headers_and_matched_to_2011_lsoas(db_session: Session) -> None:
    load_areas(db_session, LSOA_2011)
    load_areas(db_session, LSOA_2021)
    report = load_values(db_session, IOD_2019)
    assert (report.format, report.written, report.rows, report.valid) == ("iod2019", True, 3, 3)
    assert report.indicators == [
        "idaci_decile",
        "idaci_rank",
        "idaci_score",
        "imd_decile",
        "imd_rank",
        "imd_score",
        "population_0_15",
        "population_total",
    ]
    assert report.created == 3 * 8
    assert values_of(db_session, "X01000001", 2011) == {
        ("imd_score", "2019"): 34.567,
        ("imd_rank", "2019"): 5210,
        ("imd_decile", "2019"): 2,
        ("idaci_score", "2019"): 0.271,
        ("idaci_rank", "2019"): 4900,
        ("idaci_decile", "2019"): 2,
        ("population_total", "2015"): 1612,
        ("population_0_15", "2015"): 352,
    }
    assert values_of(db_session, "X01000001", 2021) == {}


def test_iod_2025_file_7_is_recognised_by_its_headers_and_matched_to_2021_lsoas(db_session: Session) -> None:
    load_areas(db_session, LSOA_2021)
    report = load_values(db_session, IOD_2025)
    assert (report.format, report.written, report.created) == ("iod2025", True, 24)
    assert values_of(db_session, "X01000004", 2021) == {
        ("imd_score", "2025"): 45.1,
        ("imd_rank", "2025"): 1203,
        ("imd_decile", "2025"): 1,
        ("idaci_score", "2025"): 0.402,
        ("idaci_rank", "2025"): 1100,
        ("idaci_decile", "2025"): 1,
        ("population_total", "2022"): 1932,
        ("population_0_15", "2022"): 455,
    }
    again = load_values(db_session, IOD_2025)
    assert (again.created, again.updated) == (0, 24)


def test_codes_without_areas_are_named_and_skipped_only_when_asked(db_session: Session) -> None:
    load_areas(db_session, LSOA_2021)
    refused = load_values(db_session, IOD_2019)
    assert not refused.written
    assert [(p.location, p.field) for p in refused.problems] == [
        ("row 2", "LSOA code (2011)"),
        ("row 3", "LSOA code (2011)"),
        ("row 4", "LSOA code (2011)"),
    ]
    assert "no lsoa (2011 edition) with the code X01000003" in refused.problems[2].problem
    assert values_of(db_session, "X01000001", 2021) == {}

    partly = load_values(db_session, IOD_2025.replace(b"X01000004", b"X01009999"), skip_invalid=True)
    assert (partly.written, partly.rows, partly.valid, partly.created) == (True, 3, 2, 16)
    assert [p.location for p in partly.problems] == ["row 4"]


def test_bad_cells_are_named_by_row_and_official_header(db_session: Session) -> None:
    load_areas(db_session, LSOA_2011)
    lines = IOD_2019.decode().splitlines()
    bad_decile = lines[1].replace(",34.567,5210,2,", ",34.567,5210,11,")
    bad_score = lines[2].replace(",8.123,", ",high,")
    content = "\n".join([lines[0], bad_decile, bad_score, lines[3]]).encode()
    report = load_values(db_session, content)
    assert not report.written
    assert [(p.location, p.field, p.problem) for p in report.problems] == [
        ("row 2", IOD_2019_DECILE, "Enter a number from 1 to 10"),
        ("row 3", "Index of Multiple Deprivation (IMD) Score", "Enter a number"),
    ]
    assert values_of(db_session, "X01000003", 2011) == {}


def test_an_iod_file_without_a_required_column_is_refused_naming_it() -> None:
    lines = IOD_2019.decode().splitlines()
    header = lines[0].split(",")
    dropped = header.index(IOD_2019_DECILE)
    content = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != dropped) for line in lines)
    with pytest.raises(ImportFileError) as refused:
        read_indicator_file(content.encode())
    assert refused.value.detail == f"The Indices of Deprivation CSV has no '{IOD_2019_DECILE}' column."


def test_the_edition_can_be_given_when_the_headers_do_not_tell() -> None:
    minimal = (
        "LSOA code (2021),Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived),"
        f"{IOD_2019_DECILE}\nX01000001,100,1\n"
    )
    assert read_indicator_file(minimal.encode()).format == "iod2025"
    assert read_indicator_file(minimal.encode(), edition=2030).format == "iod2030"


# Long indicator files


def test_a_long_file_adds_new_indicators_to_the_catalogue(db_session: Session) -> None:
    load_areas(db_session, LSOA_2021)
    content = (
        "area_code,indicator,period,value,label,unit\n"
        "X01000001,population_10_17,2023,170,,\n"
        "X01000002,population_10_17,2023,155,,\n"
        "X01000001,school_exclusions,2023-24,12,Permanent and suspended exclusions,pupils\n"
    )
    report = load_values(db_session, content.encode())
    assert (report.format, report.written, report.created) == ("long", True, 3)
    assert values_of(db_session, "X01000001", 2021) == {
        ("population_10_17", "2023"): 170,
        ("school_exclusions", "2023-24"): 12,
    }
    added = db_session.get(Indicator, "school_exclusions")
    assert added is not None
    assert (added.label, added.unit) == ("Permanent and suspended exclusions", "pupils")


def test_a_long_file_with_bad_rows_writes_nothing(db_session: Session) -> None:
    load_areas(db_session, LSOA_2021)
    content = (
        "area_code,indicator,period,value\n"
        "X01000001,population_10_17,2023,170\n"
        "X01000001,Population 10-17,2023,170\n"
        "X01000002,population_10_17,2023,lots\n"
        "X01000001,population_10_17,2023,171\n"
        "X01000404,population_10_17,2023,99\n"
    )
    report = load_values(db_session, content.encode())
    assert not report.written
    assert [(p.location, p.field) for p in report.problems] == [
        ("row 3", "indicator"),
        ("row 4", "value"),
        ("row 5", "period"),
        ("row 6", "area_code"),
    ]
    assert values_of(db_session, "X01000001", 2021) == {}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"code,value\nX1,3\n", "no 'area_code', 'indicator', 'period' column", id="neither"),
        pytest.param(b'area_code,indicator,period,value\n"X1,a,1,2\n', "cannot be read at line", id="quote"),
        pytest.param(b"  \n", "The file is empty", id="empty"),
    ],
)
def test_a_malformed_indicator_file_is_refused_as_a_whole(content: bytes, words: str) -> None:
    with pytest.raises(ImportFileError) as refused:
        read_indicator_file(content)
    assert words in refused.value.detail


# The commands


def test_the_commands_import_boundaries_then_deprivation(fresh_database: Database, tmp_path: Path) -> None:
    areas = run_cli(
        fresh_database, "import", "areas", str(DATA / "lsoa2011_sample.geojson"), "--kind", "lsoa"
    )
    assert areas.returncode == 0, areas.stderr
    assert "Imported 3 lsoa areas (2011): 3 added, 0 updated." in areas.stderr
    values = run_cli(fresh_database, "import", "indicators", str(DATA / "iod2019_file7_sample.csv"))
    assert values.returncode == 0, values.stderr
    assert "iod2019 values of" in values.stderr
    assert "24 added, 0 updated." in values.stderr
    unmatched = run_cli(fresh_database, "import", "indicators", str(DATA / "iod2025_file7_sample.csv"))
    assert unmatched.returncode == 1
    assert (
        "row 2, LSOA code (2021): There is no lsoa (2021 edition) with the code X01000001" in unmatched.stderr
    )
    assert "Nothing imported" in unmatched.stderr


def test_the_commands_refuse_malformed_files(fresh_database: Database, tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection"', encoding="utf-8")
    refused = run_cli(fresh_database, "import", "areas", str(broken), "--kind", "lsoa")
    assert refused.returncode == 2
    assert "broken.geojson: The file is not valid JSON" in refused.stderr
    table = tmp_path / "table.csv"
    table.write_text("code,value\nX1,3\n", encoding="utf-8")
    wrong = run_cli(fresh_database, "import", "indicators", str(table))
    assert wrong.returncode == 2
    assert "table.csv: The CSV is neither an English Indices of Deprivation file" in wrong.stderr
    shown = run_cli(fresh_database, "import", "indicators", "--help")
    assert "LSOA code (2011)" in shown.stdout
