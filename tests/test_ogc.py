"""OGC API - Features at /ogc: landing, conformance, collections, items with bbox/datetime/limit/next."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.audit.models import AuditAction, AuditEvent
from mapping.areas.demo import build_demo_areas
from tests.conftest import World, bearer, web_sign_in
from tests.test_places import BUS_ROUTE, HOTEL, TAXI_RANK, add


def get(client: TestClient, path: str, head: dict[str, str], **params: Any) -> Any:
    """GET a JSON document, asserting success."""
    response = client.get(path, params=params or None, headers=head)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def head(client: TestClient, world: World) -> dict[str, str]:
    """The analyst's bearer headers, with three shareable places and a residential one."""
    analyst = bearer(client, "user-analyst")
    add(client, analyst, name="Station taxi rank", geometry=TAXI_RANK, owner_contact="07700 900123")
    add(client, analyst, name="Riverside Hotel <b>x</b>", type="hotel", geometry=HOTEL)
    add(client, analyst, name="Number 12 route", type="bus_route", geometry=BUS_ROUTE)
    add(client, analyst, name="Flat above the shop", type="private_address", geometry=TAXI_RANK)
    return analyst


def test_landing_page_links_to_the_api_description_conformance_and_data(
    client: TestClient, head: dict[str, str]
) -> None:
    body = get(client, "/ogc", head)
    rels = {item["rel"]: item["href"] for item in body["links"]}
    assert {"self", "alternate", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["data"].endswith("/ogc/collections")
    assert client.get(rels["service-desc"].replace("http://testserver", "")).status_code == 200
    conformance = get(client, "/ogc/conformance", head)["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance


def test_collections_describe_places_with_extent_and_item_links(
    client: TestClient, head: dict[str, str]
) -> None:
    body = get(client, "/ogc/collections", head)
    places = next(c for c in body["collections"] if c["id"] == "places")
    west, south, east, north = places["extent"]["spatial"]["bbox"][0]
    assert (west, south, east, north) == pytest.approx((-1.53, 52.40, -1.50, 52.43))
    assert any(link["rel"] == "items" and link["type"] == "application/geo+json" for link in places["links"])
    assert get(client, "/ogc/collections/places", head)["id"] == "places"


def test_items_are_geojson_without_residential_places_or_owner_contacts(
    client: TestClient, head: dict[str, str]
) -> None:
    response = client.get("/ogc/collections/places/items", params={"limit": 100}, headers=head)
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    names = sorted(feature["properties"]["name"] for feature in body["features"])
    assert names == ["Number 12 route", "Riverside Hotel <b>x</b>", "Station taxi rank"]
    assert (body["numberMatched"], body["numberReturned"]) == (3, 3)
    assert {feature["geometry"]["type"] for feature in body["features"]} == {"Point", "Polygon", "LineString"}
    assert "07700" not in response.text
    assert "Flat above the shop" not in response.text


def test_paging_follows_next_links_to_every_feature_once(client: TestClient, head: dict[str, str]) -> None:
    seen: list[int] = []
    url: str | None = "/ogc/collections/places/items?limit=2"
    pages = 0
    while url:
        body = get(client, url.replace("http://testserver", ""), head)
        seen += [feature["id"] for feature in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) == 3


def test_bbox_and_datetime_filter_items(client: TestClient, head: dict[str, str]) -> None:
    def names(**params: Any) -> list[str]:
        body = get(client, "/ogc/collections/places/items", head, **params)
        return sorted(feature["properties"]["name"] for feature in body["features"])

    assert names(bbox="-1.515,52.405,-1.511,52.409") == ["Station taxi rank"]
    assert names(bbox="-1.515,52.405,0,-1.511,52.409,10") == ["Station taxi rank"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert names(datetime=f"{later}/..") == []
    assert len(names(datetime=f"{earlier}/..")) == 3
    assert len(names(datetime=f"../{later}")) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "-1,52,-1.5"}, "bbox"),
        ({"bbox": "-200,52,-1.5,53"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "2026-02-01T00:00:00Z/2026-01-01T00:00:00Z"}, "datetime"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    client: TestClient, head: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = client.get("/ogc/collections/places/items", params=params, headers=head)
    assert response.status_code == 422
    assert field in response.text


def test_one_feature_by_id_and_unknown_ones_are_404(client: TestClient, head: dict[str, str]) -> None:
    first = get(client, "/ogc/collections/places/items", head)["features"][0]
    one = get(client, f"/ogc/collections/places/items/{first['id']}", head)
    assert (one["type"], one["id"]) == ("Feature", first["id"])
    assert any(link["rel"] == "collection" for link in one["links"])
    assert client.get("/ogc/collections/places/items/999999", headers=head).status_code == 404
    assert client.get("/ogc/collections/places/items/abc", headers=head).status_code == 404
    assert client.get("/ogc/collections/nothing/items", headers=head).status_code == 404


def test_access_needs_a_sign_in_and_the_collection_permission(
    client: TestClient, head: dict[str, str], db_session: Session
) -> None:
    assert client.get("/ogc").status_code == 401
    admin = bearer(client, "user-agency-admin")
    assert get(client, "/ogc/collections", admin)["collections"] == []
    assert client.get("/ogc/collections/places/items", headers=admin).status_code == 403
    denied = db_session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.DENIED)).all()
    assert [event.actor_username for event in denied] == ["user-agency-admin"]


def test_html_pages_show_typed_markup_as_text(client: TestClient, head: dict[str, str]) -> None:
    web_sign_in(client, "user-analyst")
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/places/items"):
        page = client.get(path, params={"f": "html"})
        assert page.status_code == 200, path
        assert "<b>x</b>" not in page.text
    listing = client.get("/ogc/collections/places/items", headers={"Accept": "text/html"})
    assert "Riverside Hotel &lt;b&gt;x&lt;/b&gt;" in listing.text


def test_areas_collection_serves_demo_neighbourhoods_with_deprivation(
    client: TestClient, world: World, db_session: Session
) -> None:
    built = build_demo_areas(db_session, 2026)
    head = bearer(client, "user-neighbourhood")
    listed = {c["id"] for c in get(client, "/ogc/collections", head)["collections"]}
    assert {"areas", "places"} <= listed
    first = get(client, "/ogc/collections/areas/items", head, limit=5)
    assert (first["numberMatched"], first["numberReturned"]) == (built.areas, 5)
    feature = first["features"][0]
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert 1 <= feature["properties"]["imd_decile"] <= 10
    one = get(client, f"/ogc/collections/areas/items/{feature['id']}", head)
    assert one["properties"]["name"] == feature["properties"]["name"]
    assert "imd_decile" in one["properties"]
    assert client.get("/ogc/collections/areas/items/NOPE", headers=head).status_code == 404


def test_reading_partner_hotspots_is_audited_with_where_the_request_came_from(
    client: TestClient, head: dict[str, str], db_session: Session
) -> None:
    traced = {**head, "X-Request-ID": "qgis-layer-0001"}
    get(client, "/ogc/collections/hotspots/items", traced)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.object_type == "hotspot_map")).all()
    assert [(e.action, e.object_id, e.request_id) for e in events] == [
        (AuditAction.VIEW, "partner", "qgis-layer-0001")
    ]
    assert events[0].client_address
