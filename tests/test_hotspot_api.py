"""GET /api/hotspots: GeoJSON for analysts and partners, who may ask for which, and refusals."""

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import get_session, request_transaction
from app.main import create_app
from app.settings import Settings
from contexts.audit.models import AuditAction, AuditEvent
from mapping.disclosure import PARTNER_PROPERTY_CHECKS, DisclosurePolicy
from mapping.hotspots.grid import GridShape
from mapping.hotspots.service import Audience
from tests.conftest import World, bearer
from tests.test_hotspot_service import MARKERS, Borough, build_borough, make_map

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

    def test_session(request: Request) -> Iterator[Session]:
        yield from request_transaction(request, db_session)

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
