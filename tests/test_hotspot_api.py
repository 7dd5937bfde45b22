"""GET /api/hotspots: GeoJSON for analysts and partners, who may ask for which, and refusals."""

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import numpy as np
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from pydantic import ValidationError
from shapely.geometry import Polygon
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import get_session, request_transaction
from app.main import create_app
from app.settings import Settings
from contexts.audit.models import AuditAction, AuditEvent
from mapping.disclosure import PARTNER_PROPERTY_CHECKS, DisclosurePolicy
from mapping.hotspots.drawn import parse_area
from mapping.hotspots.grid import Grid, GridShape, assign_cells, cell_centroids, cell_polygons
from mapping.hotspots.service import Audience
from mapping.hotspots.stats import DistanceBand, gi_star
from tests.conftest import World, bearer
from tests.test_hotspot_service import (
    MARKERS,
    SOUTH,
    WEST,
    Borough,
    build_borough,
    expected_counts,
    make_map,
    reference_records,
    selected,
)

URL = "/api/hotspots"
WINDOW = {"from": "2026-01", "to": "2026-06"}
ANALYST_PROPERTIES = {"cell_id", "count", "rate", "gi_z", "gi_p", "gi_p_fdr", "gi_bin", "trend"}


@pytest.fixture
def borough(db_session: Session, world: World) -> Borough:
    """The service tests' records."""
    return build_borough(db_session, world)


def get(client: TestClient, username: str, **params: Any) -> httpx2.Response:
    """GET the hotspot map as a user."""
    response: httpx2.Response = client.get(URL, params=WINDOW | params, headers=bearer(client, username))
    return response


def body_of(response: httpx2.Response) -> dict[str, Any]:
    """A successful GeoJSON body."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body: dict[str, Any] = response.json()
    return body


def events(session: Session, action: AuditAction) -> list[AuditEvent]:
    """Audit events of one kind, oldest first."""
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_analysts_get_every_cell_with_exact_figures(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    body = body_of(get(client, "user-analyst", cell=250))
    computed = make_map(db_session, borough.analyst)
    assert computed.grid is not None
    assert computed.statistics is not None
    assert body["type"] == "FeatureCollection"
    assert (body["audience"], body["cell"], body["shape"], body["fdr"]) == ("analyst", 250.0, "square", True)
    assert body["neighbourhood"] == {"type": "distance_band", "distance_m": 500.0}
    assert body["inference"] == {"type": "analytic"}
    assert body["window"]["from"] == "2026-01-01"
    assert body["window"]["to"] == "2026-06-30"
    assert len(body["window"]["months"]) == 6
    features = body["features"]
    assert len(features) == computed.grid.n_cells
    counts = [feature["properties"]["count"] for feature in features]
    assert counts == computed.counts.tolist()
    assert sum(counts) == body["total"] > 0
    assert 0 in counts
    for cell, feature in enumerate(features):
        properties = feature["properties"]
        assert set(properties) == ANALYST_PROPERTIES
        assert properties["cell_id"] == feature["id"] == cell
        assert properties["rate"] == round(properties["count"] / 0.0625, 1)
        assert properties["gi_z"] == pytest.approx(computed.statistics.result.z[cell], abs=1e-4)
        assert properties["gi_bin"] == computed.statistics.result.bins[cell]
        assert feature["geometry"]["type"] == "Polygon"
        assert len(feature["geometry"]["coordinates"][0]) == 5


def test_cells_are_drawn_where_the_grid_puts_them(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    body = body_of(get(client, "user-analyst", cell=500, shape="hex"))
    computed = make_map(db_session, borough.analyst, cell=500.0, shape=GridShape.HEX)
    assert computed.grid is not None
    ring = body["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 7
    assert ring[0] == ring[-1]
    back = db_session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 27700) p"
        ),
        {"lon": ring[0][0], "lat": ring[0][1]},
    ).one()
    grid = computed.grid
    expected = (grid.origin_x + grid.cell_size, grid.origin_y + grid.circumradius / 2)
    assert back[0] == pytest.approx(expected[0], abs=0.1)
    assert back[1] == pytest.approx(expected[1], abs=0.1)


def test_partners_see_only_published_counts_bins_and_trends(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    response = get(client, "user-neighbourhood", cell=250, audience="partner")
    body = body_of(response)
    policy = DisclosurePolicy()
    computed = make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER)
    published = policy.publish_total(computed.counts)
    assert (body["total"], body["hidden_cells"]) == (published.value, published.hidden_parts)
    assert body["disclosure"]["threshold"] == 8
    counts = [feature["properties"]["count"] for feature in body["features"]]
    shown = [count for count in counts if count is not None]
    assert shown
    assert None in counts
    assert all(count >= 10 and count % 5 == 0 for count in shown)
    for feature in body["features"]:
        assert set(feature["properties"]) <= set(PARTNER_PROPERTY_CHECKS)
        assert feature["geometry"]["type"] == "Polygon"
        if feature["properties"]["count"] is None:
            assert feature["properties"]["rate"] is None
    for marker in MARKERS:
        assert marker not in response.text
    for word in ("Point", "gi_z", "gi_p", "summary", "address"):
        assert word not in response.text


def test_analyst_maps_carry_no_record_text_either(client: TestClient, borough: Borough) -> None:
    response = get(client, "user-analyst", cell=250, source="both")
    body_of(response)
    for marker in MARKERS:
        assert marker not in response.text
    assert "Point" not in response.text


@pytest.mark.parametrize("username", ["user-practitioner", "user-supervisor", "user-neighbourhood"])
def test_partner_users_get_the_partner_map(client: TestClient, borough: Borough, username: str) -> None:
    assert body_of(get(client, username, audience="partner"))["audience"] == "partner"


def test_partner_users_asking_for_the_analyst_map_get_403_and_an_audit_event(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    response = get(client, "user-neighbourhood", audience="analyst")
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    denied = events(db_session, AuditAction.DENIED)[-1]
    assert (denied.actor_username, denied.object_id) == ("user-neighbourhood", "GET /api/hotspots")
    assert not [event for event in events(db_session, AuditAction.VIEW) if event.object_type == "hotspot_map"]


@pytest.mark.parametrize("username", ["user-agency-admin", "user-system-admin"])
def test_administrators_have_no_hotspot_maps(client: TestClient, borough: Borough, username: str) -> None:
    assert get(client, username, audience="partner").status_code == 403


def test_each_map_request_is_audited(client: TestClient, borough: Borough, db_session: Session) -> None:
    body_of(get(client, "user-analyst", cell=500, kind="harm,risk"))
    event = events(db_session, AuditAction.VIEW)[-1]
    assert (event.object_type, event.object_id, event.actor_username) == (
        "hotspot_map",
        "analyst",
        "user-analyst",
    )
    assert event.reason is not None
    assert "kind=harm,risk" in event.reason


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"from": "2026-05-01", "to": "2026-04-01"}, "from"),
        ({"from": "2026-13"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"cell": 5}, "cell"),
        ({"cell": 10, "bbox": "-3,51,0,53"}, "cell"),
        ({"context": "nowhere"}, "context"),
        ({"agency": "first,nobody"}, "agency"),
        ({"gender": "unknowable"}, "gender"),
        ({"category": "family", "source": "missing"}, "category"),
        ({"bbox": "200,0,201,1"}, "bbox"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"band": 10}, "band"),
        ({"shape": "triangle"}, "query.shape"),
        ({"audience": "everyone"}, "query.audience"),
        ({"permutations": 100_000}, "query.permutations"),
    ],
)
def test_bad_input_is_422_naming_the_parameter_and_writes_nothing(
    client: TestClient, borough: Borough, db_session: Session, params: dict[str, Any], path: str
) -> None:
    before = len(events(db_session, AuditAction.VIEW))
    response = get(client, "user-analyst", **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert path in [field["path"] for field in response.json()["fields"]]
    assert len(events(db_session, AuditAction.VIEW)) == before


def test_a_window_with_nothing_recorded_is_an_empty_collection(client: TestClient, borough: Borough) -> None:
    body = body_of(get(client, "user-analyst", **{"from": "2020-01", "to": "2020-12"}))
    assert (body["features"], body["total"], body["cell"]) == ([], 0, None)


def test_unsafe_disclosure_settings_stop_the_service_at_start_up() -> None:
    with pytest.raises(ValidationError, match="Threshold 7 with rounding base 5 is refused"):
        Settings(disclosure_threshold=7)
    assert Settings(disclosure_threshold=10, disclosure_rounding=10).disclosure_policy().smallest_shown == 10


def test_the_configured_threshold_governs_partner_maps(
    settings: Settings, app_engine: Engine, db_session: Session, borough: Borough
) -> None:
    strict = Settings(**(settings.model_dump() | {"disclosure_threshold": 10, "disclosure_rounding": 10}))
    application = create_app(strict, factory=sessionmaker(bind=app_engine))

    async def test_session(request: Request) -> AsyncIterator[Session]:
        async with request_transaction(request, db_session) as session:
            yield session

    application.dependency_overrides[get_session] = test_session
    client = TestClient(application, base_url="http://testserver")
    body = body_of(get(client, "user-neighbourhood", audience="partner", cell=250))
    shown = [f["properties"]["count"] for f in body["features"] if f["properties"]["count"] is not None]
    assert shown
    assert all(count >= 10 and count % 10 == 0 for count in shown)
    assert body["disclosure"] | {"statistics": ""} == {
        "threshold": 10,
        "rounding_base": 10,
        "hidden": "fewer than 10",
        "statistics": "",
    }


# A drawn area ---------------------------------------------------------------------------------

PENTAGON = [
    (WEST + 140, SOUTH + 380),
    (WEST + 1_610, SOUTH + 110),
    (WEST + 1_890, SOUTH + 1_860),
    (WEST + 1_130, SOUTH + 2_640),
    (WEST + 360, SOUTH + 2_110),
]
"""An area over the west of the records' 3 km square. Its outline passes at least 0.6 m from every
corner of the 250 m squares and the 300 m hexagons, and its corners 10 m or more from their edges:
far more than the few centimetres reprojection moves it."""


def drawn_area(session: Session, corners: list[tuple[float, float]]) -> str:
    """A British National Grid outline as the map sends it: a compact GeoJSON Polygon in WGS84."""
    ring = []
    for x, y in [*corners, corners[0]]:
        longitude, latitude = session.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326) p"
            ),
            {"x": x, "y": y},
        ).one()
        ring.append([round(longitude, 6), round(latitude, 6)])
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def cells_inside(grid: Grid, corners: list[tuple[float, float]]) -> NDArray[np.int64]:
    """Ids of the cells whose inside meets the outline's inside, worked out here in metres."""
    outline = Polygon(corners)
    cells = [Polygon(ring) for ring in cell_polygons(grid)]
    return np.array(
        [
            cell
            for cell, shape in enumerate(cells)
            if shape.intersects(outline) and not shape.touches(outline)
        ],
        dtype=np.int64,
    )


@pytest.mark.parametrize(("cell", "shape"), [(250.0, GridShape.SQUARE), (300.0, GridShape.HEX)])
def test_an_area_gives_only_the_cells_meeting_it_with_whole_counts_and_gi_star_over_them(
    client: TestClient, borough: Borough, db_session: Session, cell: float, shape: GridShape
) -> None:
    area = drawn_area(db_session, PENTAGON)
    body = body_of(get(client, "user-analyst", cell=cell, shape=shape.value, area=area))
    event = events(db_session, AuditAction.VIEW)[-1]
    assert event.reason is not None
    assert "area=polygon_of_5_corners_within_" in event.reason
    computed = make_map(db_session, borough.analyst, cell=cell, shape=shape, area=parse_area(area))
    whole = make_map(db_session, borough.analyst, cell=cell, shape=shape)
    assert computed.grid is not None
    assert whole.grid is not None
    expected_ids = cells_inside(computed.grid, PENTAGON)
    ids = [feature["id"] for feature in body["features"]]
    assert ids == expected_ids.tolist() == computed.cells.tolist()
    records = selected(reference_records(db_session), actor=borough.analyst)
    counts = [feature["properties"]["count"] for feature in body["features"]]
    assert counts == expected_counts(computed.grid, records)[expected_ids].tolist()
    assert sum(counts) == body["total"]
    assert 0 < body["total"] < int(whole.counts.sum())
    inside = np.isin(
        assign_cells(computed.grid, [r.x for r in records], [r.y for r in records]), expected_ids
    )
    assert sum(counts) == int(inside.sum())
    centres = cell_centroids(computed.grid)[expected_ids]
    same_place = assign_cells(whole.grid, centres[:, 0], centres[:, 1])
    assert counts == whole.counts[same_place].tolist()
    mask = np.isin(np.arange(computed.grid.n_cells), expected_ids)
    on_grid = np.zeros(computed.grid.n_cells)
    on_grid[expected_ids] = counts
    engine = gi_star(computed.grid, on_grid, DistanceBand(2 * cell), within=mask)
    z = [feature["properties"]["gi_z"] for feature in body["features"]]
    assert z == pytest.approx(engine.z.tolist(), abs=1e-4)
    assert [feature["properties"]["gi_bin"] for feature in body["features"]] == engine.bins.tolist()
    assert body["area"] == json.loads(area)


def test_partners_asking_for_an_area_get_disclosure_controlled_cells_they_already_see(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    area = drawn_area(db_session, PENTAGON)
    response = get(client, "user-neighbourhood", cell=250, audience="partner", area=area)
    body = body_of(response)
    policy = DisclosurePolicy()
    computed = make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER, area=parse_area(area))
    whole = make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER)
    assert computed.grid is not None
    assert whole.grid is not None
    published = policy.publish_total(computed.counts)
    assert (body["total"], body["hidden_cells"]) == (published.value, published.hidden_parts)
    counts = [feature["properties"]["count"] for feature in body["features"]]
    assert [feature["id"] for feature in body["features"]] == computed.cells.tolist()
    assert any(count is not None for count in counts)
    assert None in counts
    assert all(count is None or (count >= 10 and count % 5 == 0) for count in counts)
    centres = cell_centroids(computed.grid)[computed.cells]
    same_place = assign_cells(whole.grid, centres[:, 0], centres[:, 1])
    shown_whole = policy.publish_counts(whole.counts[same_place])
    assert counts == [None if np.isnan(value) else int(value) for value in shown_whole.tolist()]
    for feature in body["features"]:
        assert set(feature["properties"]) <= set(PARTNER_PROPERTY_CHECKS)
    for marker in MARKERS:
        assert marker not in response.text
    for word in ("Point", "gi_z", "summary", "address"):
        assert word not in response.text


def test_an_area_in_two_parts_gives_the_cells_of_both(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    west = [(WEST + 140, SOUTH + 380), (WEST + 1_110, SOUTH + 410), (WEST + 620, SOUTH + 1_370)]
    east = [(WEST + 1_890, SOUTH + 1_640), (WEST + 2_860, SOUTH + 1_610), (WEST + 2_370, SOUTH + 2_830)]
    parts = [json.loads(drawn_area(db_session, corners))["coordinates"] for corners in (west, east)]
    both = json.dumps({"type": "MultiPolygon", "coordinates": parts})
    body = body_of(get(client, "user-analyst", cell=250, area=both))
    computed = make_map(db_session, borough.analyst, area=parse_area(both))
    assert computed.grid is not None
    expected = np.union1d(cells_inside(computed.grid, west), cells_inside(computed.grid, east))
    assert [feature["id"] for feature in body["features"]] == expected.tolist()
    records = selected(reference_records(db_session), actor=borough.analyst)
    counts = [feature["properties"]["count"] for feature in body["features"]]
    assert counts == expected_counts(computed.grid, records)[expected].tolist()
    assert body["total"] == sum(counts) > 0


def ring_text(ring: list[list[float]]) -> str:
    """A one-ring Polygon as compact GeoJSON text."""
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


SQUARE = [[-1.45, 52.39], [-1.44, 52.39], [-1.44, 52.40], [-1.45, 52.40], [-1.45, 52.39]]
CIRCLE = [
    [
        round(-1.45 + 0.01 * math.cos(2 * math.pi * i / 1_001), 6),
        round(52.39 + 0.01 * math.sin(2 * math.pi * i / 1_001), 6),
    ]
    for i in range(1_001)
]
BAD_AREAS: list[tuple[dict[str, str], str]] = [
    ({"area": '{"type":"Polygon","coordinates":[[[-1.45,52.39],'}, "area"),
    ({"area": "[1,2]"}, "area"),
    ({"area": '{"type":"Point","coordinates":[-1.45,52.39]}'}, "area"),
    ({"area": '{"type":"LineString","coordinates":[[-1.45,52.39],[-1.44,52.40]]}'}, "area"),
    ({"area": '{"type":"Polygon","coordinates":[]}'}, "area"),
    ({"area": '{"type":"MultiPolygon","coordinates":[[]]}'}, "area"),
    (
        {
            "area": '{"type":"Polygon","coordinates":'
            '[[["-1.45","52.39"],[-1.44,52.39],[-1.44,52.4],["-1.45","52.39"]]]}'
        },
        "area",
    ),
    ({"area": ring_text(SQUARE[:-1])}, "area"),
    (
        {"area": ring_text([[-1.45, 52.39], [-1.44, 52.40], [-1.44, 52.39], [-1.45, 52.40], [-1.45, 52.39]])},
        "area",
    ),
    ({"area": ring_text([[-1.45, 52.39], [-1.44, 52.39], [-1.43, 52.39], [-1.45, 52.39]])}, "area"),
    ({"area": ring_text([*CIRCLE, CIRCLE[0]])}, "area"),
    ({"area": ring_text([[200, 52.39], [201, 52.39], [201, 52.4], [200, 52.39]])}, "area"),
    ({"area": ring_text([[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]])}, "area"),
    ({"area": ring_text(SQUARE), "bbox": "-1.46,52.38,-1.43,52.41"}, "area"),
    ({"area": "x" * 40_001}, "query.area"),
]


@pytest.mark.parametrize(("params", "path"), BAD_AREAS)
def test_a_bad_area_is_422_naming_area_and_writes_nothing(
    client: TestClient, borough: Borough, db_session: Session, params: dict[str, str], path: str
) -> None:
    before = len(events(db_session, AuditAction.VIEW))
    response = get(client, "user-analyst", cell=250, **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert path in [field["path"] for field in response.json()["fields"]]
    assert len(events(db_session, AuditAction.VIEW)) == before


def test_an_area_inside_a_single_cell_is_refused_naming_area(
    client: TestClient, borough: Borough, db_session: Session
) -> None:
    tiny = drawn_area(
        db_session, [(WEST + 60, SOUTH + 60), (WEST + 190, SOUTH + 60), (WEST + 120, SOUTH + 190)]
    )
    response = get(client, "user-analyst", cell=250, area=tiny)
    assert response.status_code == 422
    assert "area" in [field["path"] for field in response.json()["fields"]]
    assert body_of(get(client, "user-analyst", cell=50, area=tiny))["features"]
