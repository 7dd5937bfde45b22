"""Importing places from CSV and GeoJSON: every row checked first, a report naming each bad row, all
or nothing unless told to skip bad rows, updates by external_ref, and the `csmap import places` command."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.access import Actor
from contexts.accounts.service import actor_for
from contexts.audit.models import AuditAction, AuditEvent
from contexts.audit.service import RequestOrigin
from contexts.young_people.service import Area
from mapping.places.importer import ImportFileError, import_places, read_places_file
from mapping.places.models import Place
from tests.conftest import Database, World, bearer
from tests.test_demo_and_cli import run_cli

AREA = Area(-6.5, 49.8, 2.0, 55.9)
ORIGIN = RequestOrigin(request_id="test-import")
HEADER = "name,type,address,postcode,longitude,latitude,easting,northing,wkt,licence_refs,external_ref\n"
GOOD_CSV = (
    HEADER
    + "Rank by lon/lat,taxi_rank,1 Station Rd,cv1 2gt,-1.5123,52.4081,,,,,imp-1\n"
    + "Hotel by grid reference,hotel,,,,,433500,279000,,PL-1;PL-2,imp-2\n"
    + 'Route 12 by WKT,bus_route,,,,,,,"LINESTRING (-1.53 52.42, -1.52 52.43)",,imp-3\n'
)
BAD_CSV = (
    HEADER
    + "Good rank,taxi_rank,,,-1.5123,52.4081,,,,,\n"
    + "Bad postcode,hotel,,NOPE,-1.5,52.4,,,,,\n"
    + "Bad type,casino,,,-1.5,52.4,,,,,\n"
    + "In Paris,hotel,,,2.35,48.85,,,,,\n"
    + 'Bow tie,hotel,,,,,,,"POLYGON ((-1.51 52.40, -1.50 52.41, -1.50 52.40, -1.51 52.41, -1.51 52.40))",,\n'
    + "Not a number,hotel,,,west,52.4,,,,,\n"
    + "Nowhere,hotel,,,,,,,,,\n"
    + "Good hotel,hotel,,,-1.50,52.41,,,,,\n"
)


def analyst_actor(world: World) -> Actor:
    """The analyst of the first agency as an actor."""
    return actor_for(next(user for user in world.users.values() if user.username == "user-analyst"))


def count(session: Session) -> int:
    """How many places exist."""
    return int(session.scalar(select(func.count()).select_from(Place)) or 0)


def run(session: Session, content: str, name: str, actor: Actor | None = None, **options: Any) -> Any:
    """Read and import a file's text."""
    rows = read_places_file(content.encode(), name=name)
    return import_places(session=session, rows=rows, actor=actor, origin=ORIGIN, area=AREA, **options)


def test_a_good_csv_loads_every_row_with_each_way_of_placing_it(db_session: Session, world: World) -> None:
    before = count(db_session)
    report = run(db_session, GOOD_CSV, "places.csv", analyst_actor(world))
    assert report.written
    assert (report.rows, report.valid, report.created, report.updated) == (3, 3, 3, 0)
    assert report.problems == []
    assert count(db_session) == before + 3
    places = {
        p.external_ref: p for p in db_session.scalars(select(Place).where(Place.external_ref.like("imp-%")))
    }
    assert places["imp-1"].postcode == "CV1 2GT"
    assert places["imp-2"].licence_refs == ["PL-1", "PL-2"]
    longitude, latitude = db_session.execute(
        select(func.ST_X(Place.geom), func.ST_Y(Place.geom)).where(Place.external_ref == "imp-2")
    ).one()
    assert -1.52 < longitude < -1.50
    assert 52.40 < latitude < 52.42
    kinds = db_session.execute(
        select(Place.external_ref, func.GeometryType(Place.geom)).where(Place.external_ref.like("imp-%"))
    )
    assert dict(kinds.all()) == {"imp-1": "POINT", "imp-2": "POINT", "imp-3": "LINESTRING"}
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "place", AuditEvent.request_id == "test-import")
    ).all()
    assert sorted(e.object_id or "" for e in events) == sorted(str(p.id) for p in places.values())
    assert {e.action for e in events} == {AuditAction.CREATE}
    assert {e.actor_username for e in events} == {"user-analyst"}


EXPECTED_CSV_PROBLEMS = [
    ("row 3", "postcode", "real UK postcode"),
    ("row 4", "type", "no place type 'casino'"),
    ("row 5", "geometry", "outside this deployment's area"),
    ("row 6", "geometry", "Self-intersection"),
    ("row 7", "longitude", "Enter a number"),
    ("row 8", "geometry", "Give a longitude and latitude"),
]


def named(report: Any) -> list[tuple[str, str, str]]:
    """Each problem as (location, field, the expected words found in it)."""
    found = []
    for location, field, words in EXPECTED_CSV_PROBLEMS:
        match = [
            p for p in report.problems if p.location == location and p.field == field and words in p.problem
        ]
        if match:
            found.append((location, field, words))
    return found


def test_a_csv_with_bad_rows_loads_nothing_and_names_each_bad_row(db_session: Session, world: World) -> None:
    before = count(db_session)
    report = run(db_session, BAD_CSV, "bad.csv", analyst_actor(world))
    assert not report.written
    assert (report.rows, report.valid, report.created) == (8, 2, 0)
    assert named(report) == EXPECTED_CSV_PROBLEMS
    assert len(report.problems) == len(EXPECTED_CSV_PROBLEMS)
    assert count(db_session) == before


def test_skip_invalid_loads_the_valid_rows_and_reports_the_rest(db_session: Session, world: World) -> None:
    before = count(db_session)
    report = run(db_session, BAD_CSV, "bad.csv", analyst_actor(world), skip_invalid=True)
    assert report.written
    assert (report.created, report.updated) == (2, 0)
    assert named(report) == EXPECTED_CSV_PROBLEMS
    assert count(db_session) == before + 2
    names = set(
        db_session.scalars(select(Place.name).where(Place.name.in_(["Good rank", "Good hotel", "Bad type"])))
    )
    assert names == {"Good rank", "Good hotel"}


def test_repair_mends_a_bow_tie_in_an_import(db_session: Session) -> None:
    bow_tie = BAD_CSV.splitlines()[5]
    report = run(db_session, HEADER + bow_tie + "\n", "bow.csv", repair=True)
    assert report.written
    assert report.created == 1
    kind = db_session.scalar(select(func.GeometryType(Place.geom)).where(Place.name == "Bow tie"))
    assert kind == "MULTIPOLYGON"


def feature(name: str, geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    """A GeoJSON feature of a place."""
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"name": name, "type": "hotel", **properties},
    }


def collection(*features: Any, **extra: Any) -> str:
    """A FeatureCollection as text."""
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra})


def test_geojson_all_or_nothing_names_each_bad_feature(db_session: Session, world: World) -> None:
    text = collection(
        feature("Hotel A", {"type": "Point", "coordinates": [-1.5, 52.4]}, external_ref="g-1"),
        feature("Hotel B", {"type": "Point", "coordinates": [433500, 279000]}),
        feature("Hotel C", None),
        "not a feature",
        feature("Hotel D", {"type": "Point", "coordinates": [-1.5, 52.4]}, postcode="XX"),
        feature(
            "Hotel E",
            {"type": "LineString", "coordinates": [[-1.5, 52.4], [-1.49, 52.41]]},
            external_ref="g-1",
        ),
        feature("Hotel F", {"type": "LineString", "coordinates": [[-1.5, 52.4], [-1.49, 52.41]]}),
    )
    before = count(db_session)
    report = run(db_session, text, "places.geojson", analyst_actor(world))
    assert not report.written
    assert count(db_session) == before
    found = {(p.location, p.field) for p in report.problems}
    assert found == {
        ("features[1]", "geometry"),
        ("features[2]", "geometry"),
        ("features[3]", "feature"),
        ("features[4]", "postcode"),
        ("features[5]", "external_ref"),
    }
    grid = next(p for p in report.problems if p.location == "features[1]")
    assert "British National Grid" in grid.problem
    skipped = run(db_session, text, "places.geojson", analyst_actor(world), skip_invalid=True)
    assert (skipped.created, skipped.written) == (2, True)


def test_reimporting_updates_by_external_ref_instead_of_duplicating(
    db_session: Session, world: World
) -> None:
    actor = analyst_actor(world)
    run(db_session, GOOD_CSV, "places.csv", actor)
    before = count(db_session)
    changed = GOOD_CSV.replace("Rank by lon/lat", "Renamed rank").replace("PL-1;PL-2", "PL-3")
    report = run(db_session, changed, "places.csv", actor)
    assert (report.created, report.updated) == (0, 3)
    assert count(db_session) == before
    rank = db_session.scalar(select(Place).where(Place.external_ref == "imp-1"))
    assert rank is not None
    assert rank.name == "Renamed rank"
    assert rank.version == 2
    hotel = db_session.scalar(select(Place).where(Place.external_ref == "imp-2"))
    assert hotel is not None
    assert hotel.licence_refs == ["PL-3"]


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        pytest.param('{"type": "FeatureCollection", "features": [', "x.geojson", "not valid JSON", id="json"),
        pytest.param('{"type": "Feature"}', "x.geojson", "must be a FeatureCollection", id="not-collection"),
        pytest.param(
            collection(crs={"type": "name", "properties": {"name": "EPSG:27700"}}),
            "x.geojson",
            "The file's crs (EPSG:27700) is not WGS84",
            id="file-crs",
        ),
        pytest.param("type,longitude,latitude\nhotel,-1.5,52.4\n", "x.csv", "no 'name' column", id="no-name"),
        pytest.param(
            "name,type,address\nA,hotel,Road\n", "x.csv", "longitude and latitude", id="no-geometry"
        ),
        pytest.param('name,type,wkt\n"A,hotel,POINT (1 2)\n', "x.csv", "cannot be read at line", id="quote"),
        pytest.param("   \n", "x.csv", "The file is empty", id="empty"),
    ],
)
def test_a_malformed_file_is_refused_as_a_whole(content: str, name: str, words: str) -> None:
    with pytest.raises(ImportFileError) as refused:
        read_places_file(content.encode(), name=name)
    assert words in refused.value.detail


def test_a_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_places_file(b"name,type\n\xff\xfe,hotel\n", name="x.csv")


def test_markup_in_a_file_is_kept_as_text(db_session: Session) -> None:
    script = "<script>alert(1)</script>"
    report = run(db_session, f'name,type,longitude,latitude\n"{script}",hotel,-1.5,52.4\n', "x.csv")
    assert report.written
    assert db_session.scalar(select(Place.address).where(Place.name == script)) is None
    assert db_session.scalar(select(func.count()).select_from(Place).where(Place.name == script)) == 1


def test_the_api_imports_all_or_nothing(client: TestClient, world: World, db_session: Session) -> None:
    headers = bearer(client, "user-analyst")
    before = count(db_session)
    files = {"file": ("bad.csv", BAD_CSV.encode(), "text/csv")}
    refused = client.post("/api/places/import", files=files, headers=headers)
    assert refused.status_code == 422
    problems = refused.json()["report"]["problems"]
    assert [(p["location"], p["field"]) for p in problems] == [
        (loc, field) for loc, field, _ in EXPECTED_CSV_PROBLEMS
    ]
    assert count(db_session) == before
    loaded = client.post("/api/places/import", params={"skip_invalid": True}, files=files, headers=headers)
    assert loaded.status_code == 200
    assert loaded.json()["created"] == 2
    assert count(db_session) == before + 2


def test_the_api_refuses_a_malformed_file(client: TestClient, world: World, db_session: Session) -> None:
    before = count(db_session)
    files = {"file": ("x.geojson", b'{"type": "FeatureCollection", "features": [', "application/geo+json")}
    response = client.post("/api/places/import", files=files, headers=bearer(client, "user-analyst"))
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]
    assert response.json()["fields"] == [{"path": "file", "message": response.json()["detail"]}]
    assert count(db_session) == before
    practitioner = client.post("/api/places/import", files=files, headers=bearer(client, "user-practitioner"))
    assert practitioner.status_code == 403


def test_the_command_imports_all_or_nothing(fresh_database: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    refused = run_cli(fresh_database, "import", "places", str(bad))
    assert refused.returncode == 1
    for location, field, _ in EXPECTED_CSV_PROBLEMS:
        assert f"{location}, {field}:" in refused.stderr
    assert "Nothing imported" in refused.stderr
    skipped = run_cli(fresh_database, "import", "places", str(bad), "--skip-invalid")
    assert skipped.returncode == 0, skipped.stderr
    assert "Imported 2 of 8 places: 2 added, 0 updated, 6 bad rows skipped." in skipped.stderr

    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    first = run_cli(fresh_database, "import", "places", str(good))
    assert "3 added, 0 updated" in first.stderr
    again = run_cli(fresh_database, "import", "places", str(good))
    assert "0 added, 3 updated" in again.stderr


def test_the_command_refuses_a_malformed_file_and_explains_the_columns(
    fresh_database: Database, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection"', encoding="utf-8")
    refused = run_cli(fresh_database, "import", "places", str(broken))
    assert refused.returncode == 2
    assert "broken.geojson: The file is not valid JSON" in refused.stderr
    unknown = run_cli(fresh_database, "import", "places", str(broken), "--user", "nobody")
    assert unknown.returncode == 1
    assert "There is no active user nobody" in unknown.stderr
    shown = run_cli(fresh_database, "import", "places", "--help")
    for column in ("longitude, latitude", "easting, northing", "wkt", "external_ref", "--skip-invalid"):
        assert column in shown.stdout
