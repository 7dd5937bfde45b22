"""Small areas: which area a point is in, areas with their latest indicators for choropleths, rates
per 1,000, the GeoJSON API, and the fictional demo neighbourhoods that tile Kestrel Vale."""

import math
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.demo.borough import BOROUGH_AREA
from mapping.areas.demo import DEMO_CODE_PREFIX, build_demo_areas, demo_tiles
from mapping.areas.models import AreaIndicator, Postcode, SmallArea
from mapping.areas.service import (
    area_for_point,
    areas_with_indicators,
    locate_postcode,
    rate_per_1000,
)
from tests.conftest import World, bearer
from tests.test_area_import import IOD_2025, LSOA_2011, LSOA_2021, load_areas, load_values

BOROUGH_BOX = box(
    BOROUGH_AREA.min_longitude,
    BOROUGH_AREA.min_latitude,
    BOROUGH_AREA.max_longitude,
    BOROUGH_AREA.max_latitude,
)


def add_value(
    session: Session, code: str, indicator: str, period: str, value: float, edition: int = 2021
) -> None:
    """Give an imported area an indicator value."""
    area_id = session.scalar(select(SmallArea.id).where(SmallArea.code == code, SmallArea.edition == edition))
    assert area_id is not None
    session.add(AreaIndicator(area_id=area_id, indicator=indicator, period=period, value=value))
    session.flush()


# Rates


def test_rate_per_1000() -> None:
    assert rate_per_1000(5, 2000) == 2.5
    assert rate_per_1000(0, 150) == 0.0
    assert rate_per_1000(3, 0) is None
    assert rate_per_1000(3, None) is None
    assert rate_per_1000(3, -10) is None


@given(count=st.integers(min_value=0, max_value=10_000), population=st.integers(min_value=1, max_value=10**7))
def test_a_rate_times_the_population_gives_the_count_back(count: int, population: int) -> None:
    rate = rate_per_1000(count, population)
    assert rate is not None
    assert math.isclose(rate * population / 1000, count, rel_tol=1e-9, abs_tol=1e-9)


# Points and areas


def test_area_for_point_finds_the_containing_area_of_each_kind_and_edition(db_session: Session) -> None:
    load_areas(db_session, LSOA_2011)
    load_areas(db_session, LSOA_2021)
    found = area_for_point(db_session, -1.505, 52.405)
    assert [(a.kind, a.edition, a.code, a.name) for a in found] == [
        ("lsoa", 2021, "X01000004", "Testshire 002C"),
        ("lsoa", 2011, "X01000003", "Testshire 002A"),
    ]
    assert [a.code for a in area_for_point(db_session, -1.525, 52.405, kind="lsoa")] == ["X01000001"] * 2
    assert area_for_point(db_session, -1.525, 52.405, kind="ward") == []
    assert area_for_point(db_session, -1.9, 52.405) == []


def test_areas_with_indicators_gives_the_latest_figures_of_the_newest_edition(db_session: Session) -> None:
    load_areas(db_session, LSOA_2011)
    load_areas(db_session, LSOA_2021)
    load_values(db_session, IOD_2025)
    add_value(db_session, "X01000001", "imd_decile", "2019", 7)
    add_value(db_session, "X01000001", "population_10_17", "2023", 170)
    rows = {
        row.code: row for row in areas_with_indicators(db_session, kind="lsoa", bbox=(-1.6, 52.3, -1.4, 52.5))
    }
    assert set(rows) == {"X01000001", "X01000002", "X01000004"}
    first = rows["X01000001"]
    assert (first.edition, first.imd_decile, first.population_total) == (2021, 2, 1701)
    assert (first.population_young, first.young_age_band) == (170, "10-17")
    second = rows["X01000002"]
    assert (second.imd_decile, second.population_young, second.young_age_band) == (8, 262, "0-15")
    assert first.geometry["type"] == "MultiPolygon"
    assert shape(first.geometry).bounds == pytest.approx((-1.53, 52.40, -1.52, 52.41))
    older = areas_with_indicators(db_session, kind="lsoa", edition=2011, bbox=(-1.6, 52.3, -1.4, 52.5))
    assert {row.code: row.imd_decile for row in older} == {
        "X01000001": None,
        "X01000002": None,
        "X01000003": None,
    }


def test_areas_with_indicators_narrows_to_the_box_and_knows_no_kind_it_has_not_got(
    db_session: Session,
) -> None:
    load_areas(db_session, LSOA_2021)
    inside = areas_with_indicators(db_session, kind="lsoa", bbox=(-1.535, 52.395, -1.522, 52.415))
    assert [row.code for row in inside] == ["X01000001"]
    assert areas_with_indicators(db_session, kind="ward") == []


# The API


def test_the_api_lists_areas_as_geojson(client: TestClient, world: World, db_session: Session) -> None:
    load_areas(db_session, LSOA_2021)
    load_areas(db_session, LSOA_2011)
    load_values(db_session, IOD_2025)
    headers = bearer(client, "user-neighbourhood")
    response = client.get(
        "/api/areas", params={"kind": "lsoa", "edition": 2021, "bbox": "-1.6,52.3,-1.4,52.5"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert (body["type"], body["total"]) == ("FeatureCollection", 3)
    first = body["features"][0]
    assert (first["id"], first["geometry"]["type"]) == ("X01000001", "MultiPolygon")
    assert first["properties"] == {
        "code": "X01000001",
        "name": "Testshire 001A",
        "kind": "lsoa",
        "edition": 2021,
        "imd_decile": 2,
        "population_total": 1701.0,
        "population_young": 348.0,
        "young_age_band": "0-15",
    }
    page = client.get(
        "/api/areas", params={"bbox": "-1.6,52.3,-1.4,52.5", "limit": 2, "offset": 2}, headers=headers
    )
    assert page.json()["total"] == 6
    assert [f["id"] for f in page.json()["features"]] == ["X01000004", "X01000001"]
    assert client.get("/api/areas", params={"bbox": "west"}, headers=headers).status_code == 422


def test_the_api_gives_one_area_with_every_indicator(
    client: TestClient, world: World, db_session: Session
) -> None:
    load_areas(db_session, LSOA_2021)
    load_values(db_session, IOD_2025)
    add_value(db_session, "X01000004", "imd_decile", "2019", 3)
    headers = bearer(client, "user-practitioner")
    response = client.get("/api/areas/X01000004", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["type"], body["id"], body["properties"]["name"]) == (
        "Feature",
        "X01000004",
        "Testshire 002C",
    )
    values = {(v["indicator"], v["period"]): v["value"] for v in body["properties"]["indicators"]}
    assert values[("imd_decile", "2025")] == 1
    assert values[("imd_decile", "2019")] == 3
    assert values[("population_0_15", "2022")] == 455
    decile = next(v for v in body["properties"]["indicators"] if v["indicator"] == "imd_decile")
    assert decile["period"] == "2025"
    assert decile["source"] == "iod2025: sample.csv"
    assert "decile" in decile["label"]
    assert client.get("/api/areas/X01999999", headers=headers).status_code == 404
    assert client.get("/api/areas/X01000004", params={"edition": 2011}, headers=headers).status_code == 404


def test_the_indicator_catalogue_and_who_may_read_areas(client: TestClient, world: World) -> None:
    catalogue = client.get("/api/indicators", headers=bearer(client, "user-analyst"))
    assert catalogue.status_code == 200
    codes = {entry["code"] for entry in catalogue.json()}
    assert {"imd_decile", "imd_rank", "imd_score", "population_total", "population_10_17"} <= codes
    assert client.get("/api/areas").status_code == 401
    admin = bearer(client, "user-agency-admin")
    for path in ("/api/areas", "/api/areas/X01000001", "/api/indicators"):
        assert client.get(path, headers=admin).status_code == 403


# The fictional demo neighbourhoods


def test_demo_tiles_cover_the_borough_without_gaps_or_overlaps() -> None:
    tiles = demo_tiles(2026)
    assert 40 <= len(tiles) <= 60
    assert all(tile.is_valid and not tile.is_empty for tile in tiles)
    assert sum(tile.area for tile in tiles) == pytest.approx(BOROUGH_BOX.area, rel=1e-9)
    assert shapely.union_all(tiles).symmetric_difference(BOROUGH_BOX).area == pytest.approx(0, abs=1e-12)
    sizes = sorted(tile.area for tile in tiles)
    assert sizes[-1] > 3 * sizes[0]  # irregular, not a grid
    again = demo_tiles(2026)
    assert all(a.equals(b) for a, b in zip(tiles, again, strict=True))
    assert not demo_tiles(7)[0].equals(tiles[0])


def demo_rows(session: Session) -> list[Any]:
    """The demo areas' choropleth rows."""
    return [
        row for row in areas_with_indicators(session, kind="lsoa") if row.code.startswith(DEMO_CODE_PREFIX)
    ]


def test_demo_areas_load_once_with_fictional_figures_and_postcodes(db_session: Session) -> None:
    first = build_demo_areas(db_session, 2026)
    assert first.created
    assert 40 <= first.areas <= 60
    again = build_demo_areas(db_session, 2026)
    assert not again.created
    rows = demo_rows(db_session)
    assert len(rows) == first.areas
    assert all(row.name.endswith("(fictional)") for row in rows)
    assert all(row.imd_decile is not None and 1 <= row.imd_decile <= 10 for row in rows)
    assert len({row.imd_decile for row in rows}) >= 5
    for row in rows:
        assert row.young_age_band == "10-17"
        assert row.population_total is not None
        assert row.population_young is not None
        assert 0 < row.population_young < row.population_total
    stored_area = db_session.scalar(
        select(func.sum(func.ST_Area(SmallArea.geom))).where(SmallArea.code.startswith(DEMO_CODE_PREFIX))
    )
    assert stored_area == pytest.approx(BOROUGH_BOX.area, rel=1e-9)
    postcodes = db_session.execute(
        select(Postcode.postcode, Postcode.lsoa_code).where(Postcode.source == "demo")
    )
    pairs = postcodes.all()
    assert len(pairs) == first.postcodes
    for postcode, lsoa_code in pairs:
        point = locate_postcode(db_session, postcode)
        assert point is not None
        assert [area.code for area in area_for_point(db_session, point.longitude, point.latitude)] == [
            lsoa_code
        ]
