"""Postcodes: importing the ONS Postcode Directory and Code-Point Open (terminated postcodes skipped,
grid references converted in PostGIS, bad rows named, all or nothing), looking a postcode up without
a network call, the API and the `csmap import postcodes` command."""

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mapping.areas.models import Postcode
from mapping.areas.postcodes import import_postcodes
from mapping.areas.schemas import PostcodeImportReport
from mapping.areas.service import LonLat, locate_postcode
from mapping.places.importer import ImportFileError
from tests.conftest import Database, World, bearer
from tests.test_area_import import LSOA_2021, load_areas
from tests.test_demo_and_cli import run_cli

HEADER = "pcd,pcd2,pcds,dointr,doterm,osward,oseast1m,osnrth1m,osgrdind,lsoa11,lat,long,lsoa21\n"
ONSPD = (
    HEADER
    + "KV1 1AA,KV1  1AA,KV1 1AA,198001,,X05000001,434100,279600,1,X01000001,52.405,-1.525,X01000001\n"
    + "KV1 1AB,KV1  1AB,KV1 1AB,198001,,X05000001,434700,279600,1,X01000002,52.405,-1.515,X01000002\n"
    + "KV1 1AD,KV1  1AD,KV1 1AD,198001,201905,X05000001,434100,279600,1,X01000001,52.405,-1.525,\n"
    + "KV1 1AE,KV1  1AE,KV1 1AE,198001,,X05000002,,,9,,99.999999,0.000000,\n"
    + "KV2 3XY,KV2  3XY,KV2 3XY,200104,,X05000002,435400,279600,1,X01000003,52.405,-1.505,X01000004\n"
)
BAD_ONSPD = (
    HEADER
    + "KV1 1AA,KV1  1AA,KV1 1AA,198001,,X05000001,,,1,,52.405,-1.525,X01000001\n"
    + "NOT A PC,,NOT A PC,198001,,X05000001,,,1,,52.405,-1.525,X01000001\n"
    + "KV1 1AF,,KV1 1AF,198001,,X05000001,,,1,,north,-1.525,X01000001\n"
    + "KV1 1AG,,KV1 1AG,198001,,X05000001,,,1,,152.4,-1.525,X01000001\n"
    + "KV1 1AH,,KV1 1AH,198001,,X05000001,,,1,,52.405,-1.525,X01000001\n"
)
CODEPOINT = (
    '"KV9 9ZZ",10,433500,279000,"E92000001","E19000002","E18000005","","X06000001","X05000009"\n'
    '"KV109ZY",10,651410,313177,"E92000001","E19000002","E18000005","","X06000001","X05000010"\n'
    '"KV9 9ZX",90,0,0,"E92000001","","","","",""\n'
)


def load(session: Session, *files: tuple[str, str], **options: Any) -> PostcodeImportReport:
    """Import CSV texts as postcode files."""
    streams = [(name, io.BytesIO(content.encode())) for name, content in files]
    return import_postcodes(session=session, files=streams, **options)


def held(session: Session) -> dict[str, Postcode]:
    """The KV postcodes held, by postcode."""
    return {p.postcode: p for p in session.scalars(select(Postcode).where(Postcode.postcode.like("KV%")))}


def point_of(session: Session, postcode: str) -> tuple[float, float]:
    """A held postcode's longitude and latitude."""
    row = session.execute(
        select(func.ST_X(Postcode.geom), func.ST_Y(Postcode.geom)).where(Postcode.postcode == postcode)
    ).one()
    return row[0], row[1]


def test_onspd_loads_live_postcodes_and_skips_terminated_and_unplaced(db_session: Session) -> None:
    report = load(db_session, ("ONSPD.csv", ONSPD))
    assert (report.format, report.written, report.rows, report.valid) == ("onspd", True, 5, 5)
    assert (report.created, report.updated, report.terminated, report.unplaced) == (3, 0, 1, 1)
    codes = held(db_session)
    assert set(codes) == {"KV1 1AA", "KV1 1AB", "KV2 3XY"}
    found = codes["KV2 3XY"]
    assert (found.lsoa_code, found.lsoa_edition, found.ward_code, found.source) == (
        "X01000004",
        2021,
        "X05000002",
        "onspd",
    )
    assert point_of(db_session, "KV1 1AA") == pytest.approx((-1.525, 52.405))
    projected = db_session.scalar(
        select(func.ST_SRID(Postcode.geom_bng)).where(Postcode.postcode == "KV1 1AA")
    )
    assert projected == 27700


def test_reimporting_updates_and_removes_postcodes_since_terminated(db_session: Session) -> None:
    load(db_session, ("ONSPD.csv", ONSPD))
    newer = ONSPD.replace("KV1 1AB,198001,,", "KV1 1AB,198001,202402,").replace(
        "52.405,-1.505", "52.406,-1.506"
    )
    report = load(db_session, ("ONSPD.csv", newer))
    assert (report.created, report.updated, report.terminated) == (0, 1, 2)
    assert set(held(db_session)) == {"KV1 1AA", "KV2 3XY"}
    assert point_of(db_session, "KV2 3XY") == pytest.approx((-1.506, 52.406))


def test_an_lsoa11_only_directory_records_the_2011_edition(db_session: Session) -> None:
    older = "pcds,doterm,osward,lat,long,lsoa11\nKV3 1AA,,X05000001,52.4,-1.5,X01000003\n"
    load(db_session, ("ONSPD_2019.csv", older))
    found = held(db_session)["KV3 1AA"]
    assert (found.lsoa_code, found.lsoa_edition) == ("X01000003", 2011)


def test_bad_rows_are_named_and_nothing_is_written(db_session: Session) -> None:
    report = load(db_session, ("ONSPD.csv", BAD_ONSPD))
    assert not report.written
    assert (report.rows, report.valid) == (5, 2)
    assert [(p.location, p.field, p.problem) for p in report.problems] == [
        ("row 3", "pcds", "Enter a real UK postcode, for example SW1A 1AA"),
        ("row 4", "lat", "Enter a number"),
        ("row 5", "lat", "A latitude runs -90 to 90 and a longitude -180 to 180"),
    ]
    assert held(db_session) == {}
    skipped = load(db_session, ("ONSPD.csv", BAD_ONSPD), skip_invalid=True)
    assert (skipped.written, skipped.created) == (True, 2)
    assert set(held(db_session)) == {"KV1 1AA", "KV1 1AH"}


def test_code_point_open_grid_references_are_converted_in_postgis(db_session: Session) -> None:
    report = load(db_session, ("kv.csv", CODEPOINT))
    assert (report.format, report.created, report.unplaced) == ("codepoint", 2, 1)
    codes = held(db_session)
    assert set(codes) == {"KV9 9ZZ", "KV10 9ZY"}
    assert (codes["KV9 9ZZ"].ward_code, codes["KV9 9ZZ"].lsoa_code) == ("X05000009", None)
    longitude, latitude = point_of(db_session, "KV9 9ZZ")
    assert -1.53 < longitude < -1.50
    assert 52.40 < latitude < 52.42
    # The Ordnance Survey's worked example: E 651409.903, N 313177.270 is 52 39 27.2531 N, 1 43 4.5177 E
    # on OSGB36; WGS84 differs from OSGB36 there by well under 0.002 degrees.
    longitude, latitude = point_of(db_session, "KV10 9ZY")
    assert longitude == pytest.approx(1.71792, abs=0.002)
    assert latitude == pytest.approx(52.65757, abs=0.002)
    easting, northing = db_session.execute(
        select(func.ST_X(Postcode.geom_bng), func.ST_Y(Postcode.geom_bng)).where(
            Postcode.postcode == "KV9 9ZZ"
        )
    ).one()
    assert (easting, northing) == pytest.approx((433500, 279000), abs=0.01)


def test_several_code_point_files_load_together_and_problems_name_the_file(db_session: Session) -> None:
    second = (
        '"KV8 1AA",10,433600,279100,"E92000001","","","","","X05000011"\n"KV8 1A",10,1,1,"","","","","",""\n'
    )
    report = load(db_session, ("kv.csv", CODEPOINT), ("kw.csv", second))
    assert not report.written
    assert [(p.location, p.field) for p in report.problems] == [("kw.csv row 2", "postcode")]
    loaded = load(db_session, ("kv.csv", CODEPOINT), ("kw.csv", second), skip_invalid=True)
    assert loaded.created == 3


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param("name,value\nx,1\n", "neither an ONS Postcode Directory", id="neither"),
        pytest.param("pcds,doterm,long\nKV1 1AA,,-1.5\n", "has no 'lat' column", id="no-lat"),
        pytest.param('"KV9 9ZZ",10\n', "this file has 2 column(s)", id="short-code-point"),
        pytest.param("", "The file is empty", id="empty"),
    ],
)
def test_a_file_that_is_not_a_postcode_directory_is_refused(
    db_session: Session, content: str, words: str
) -> None:
    with pytest.raises(ImportFileError) as refused:
        load(db_session, ("x.csv", content))
    assert words in refused.value.detail


def test_a_ragged_file_is_refused_naming_the_line_and_the_transaction_carries_on(db_session: Session) -> None:
    ragged = (
        HEADER + "KV1 1AA,KV1  1AA,KV1 1AA,198001,,X05000001,,,1,,52.4,-1.5,X01000001\nKV1 1AB,too,short\n"
    )
    with pytest.raises(ImportFileError) as refused:
        load(db_session, ("ONSPD.csv", ragged))
    assert "line 3" in refused.value.detail
    assert db_session.execute(text("SELECT 1")).scalar() == 1
    assert held(db_session) == {}


def test_locate_postcode_normalises_and_needs_no_network(db_session: Session) -> None:
    load(db_session, ("ONSPD.csv", ONSPD))
    expected = LonLat(-1.525, 52.405)
    for typed in ("KV1 1AA", "kv11aa", "  kv1   1aa "):
        found = locate_postcode(db_session, typed)
        assert found is not None
        assert (found.longitude, found.latitude) == pytest.approx((expected.longitude, expected.latitude))
    assert locate_postcode(db_session, "KV1 1AD") is None
    assert locate_postcode(db_session, "KV9 9QQ") is None
    assert locate_postcode(db_session, "not a postcode") is None


def test_the_api_gives_a_postcodes_point_and_areas(
    client: TestClient, world: World, db_session: Session
) -> None:
    load_areas(db_session, LSOA_2021)
    load(db_session, ("ONSPD.csv", ONSPD))
    headers = bearer(client, "user-practitioner")
    response = client.get("/api/postcodes/kv2 3xy", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["postcode"] == "KV2 3XY"
    assert (body["longitude"], body["latitude"]) == pytest.approx((-1.505, 52.405))
    assert (body["lsoa_code"], body["lsoa_edition"], body["ward_code"]) == ("X01000004", 2021, "X05000002")
    assert body["areas"] == [{"kind": "lsoa", "edition": 2021, "code": "X01000004", "name": "Testshire 002C"}]
    assert client.get("/api/postcodes/KV9 9QQ", headers=headers).status_code == 404
    malformed = client.get("/api/postcodes/hello", headers=headers)
    assert malformed.status_code == 422
    assert malformed.json()["fields"][0]["path"] == "postcode"
    assert client.get("/api/postcodes/KV2 3XY").status_code == 401
    assert (
        client.get("/api/postcodes/KV2 3XY", headers=bearer(client, "user-agency-admin")).status_code == 403
    )


def test_the_command_imports_postcodes(fresh_database: Database, tmp_path: Path) -> None:
    bad = tmp_path / "ONSPD_bad.csv"
    bad.write_text(BAD_ONSPD, encoding="utf-8")
    refused = run_cli(fresh_database, "import", "postcodes", str(bad))
    assert refused.returncode == 1
    assert "row 3, pcds: Enter a real UK postcode" in refused.stderr
    assert "Nothing imported: 3 of 5 rows have problems" in refused.stderr
    good = tmp_path / "ONSPD.csv"
    good.write_text(ONSPD, encoding="utf-8")
    loaded = run_cli(fresh_database, "import", "postcodes", str(good))
    assert loaded.returncode == 0, loaded.stderr
    summary = "3 postcodes (onspd): 3 added, 0 updated, 1 terminated skipped, 1 without a position skipped."
    assert f"Imported {summary}" in loaded.stderr
    other = tmp_path / "notes.csv"
    other.write_text("name,value\nx,1\n", encoding="utf-8")
    wrong = run_cli(fresh_database, "import", "postcodes", str(other))
    assert wrong.returncode == 2
    assert "neither an ONS Postcode Directory" in wrong.stderr
