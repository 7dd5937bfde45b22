"""Places API: add, read, change, archive and list; every kind of bad geometry is refused with a 422
naming the problem and nothing written; repair on request; stale edits; who may view and edit."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.audit.models import AuditAction, AuditEvent
from mapping.places.models import Place
from mapping.places.schemas import normalise_postcode
from tests.conftest import World, bearer

TAXI_RANK = {"type": "Point", "coordinates": [-1.5123, 52.4081]}
HOTEL = {
    "type": "Polygon",
    "coordinates": [[[-1.51, 52.40], [-1.50, 52.40], [-1.50, 52.41], [-1.51, 52.41], [-1.51, 52.40]]],
}
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[-1.51, 52.40], [-1.50, 52.41], [-1.50, 52.40], [-1.51, 52.41], [-1.51, 52.40]]],
}
BUS_ROUTE = {"type": "LineString", "coordinates": [[-1.53, 52.42], [-1.52, 52.43], [-1.51, 52.42]]}


def analyst(client: TestClient) -> dict[str, str]:
    """Bearer headers of the analyst."""
    return bearer(client, "user-analyst")


def new_place(**changes: Any) -> dict[str, Any]:
    """A valid taxi rank."""
    return {"name": "Station taxi rank", "type": "taxi_rank", "geometry": TAXI_RANK, **changes}


def add(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    """Add a place through the API and return it."""
    response = client.post("/api/places", json=new_place(**changes), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def place_count(session: Session) -> int:
    """How many places exist."""
    return int(session.scalar(select(func.count()).select_from(Place)) or 0)


def place_events(session: Session) -> list[tuple[AuditAction, str | None]]:
    """The audit events about places, oldest first."""
    rows = session.execute(
        select(AuditEvent.action, AuditEvent.object_id)
        .where(AuditEvent.object_type == "place")
        .order_by(AuditEvent.id)
    )
    return [(row.action, row.object_id) for row in rows]


def test_add_read_change_archive_and_list(client: TestClient, world: World, db_session: Session) -> None:
    headers = analyst(client)
    created = add(
        client,
        headers,
        address="1 Station Road",
        postcode=" cv1  2gt ",
        owner_name="Pat Manager",
        owner_contact="024 7600 0000",
        licence_refs=["PH-123", " PH-123 ", "", "OP-9"],
        external_ref="lic-77",
    )
    assert created["type_label"] == "Taxi rank"
    assert created["postcode"] == "CV1 2GT"
    assert created["licence_refs"] == ["PH-123", "OP-9"]
    assert created["geometry"] == TAXI_RANK
    assert created["version"] == 1
    assert created["archived_at"] is None

    read = client.get(f"/api/places/{created['id']}", headers=headers).json()
    assert read == created

    changed = client.patch(
        f"/api/places/{created['id']}",
        json={"name": "Station Road taxi rank", "geometry": HOTEL, "type": "hotel", "version": 1},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Station Road taxi rank"
    assert changed.json()["type"] == "hotel"
    assert changed.json()["geometry"]["type"] == "Polygon"
    assert changed.json()["version"] == 2
    assert changed.json()["owner_name"] == "Pat Manager"

    listed = client.get("/api/places", params={"q": "road taxi"}, headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]

    archived = client.delete(f"/api/places/{created['id']}", headers=headers)
    assert archived.status_code == 204
    assert client.get("/api/places", params={"q": "road taxi"}, headers=headers).json()["total"] == 0
    with_archived = client.get("/api/places", params={"q": "road taxi", "archived": True}, headers=headers)
    assert with_archived.json()["total"] == 1
    assert client.get(f"/api/places/{created['id']}", headers=headers).json()["archived_at"] is not None

    place_id = str(created["id"])
    assert place_events(db_session) == [
        (AuditAction.CREATE, place_id),
        (AuditAction.UPDATE, place_id),
        (AuditAction.DELETE, place_id),
    ]


def test_list_filters_by_type_name_and_bounding_box(client: TestClient, world: World) -> None:
    headers = analyst(client)
    rank = add(client, headers, name="Filter rank")
    hotel = add(client, headers, name="Filter hotel", type="hotel", geometry=HOTEL)
    route = add(client, headers, name="Filter route 12", type="bus_route", geometry=BUS_ROUTE)

    def ids(**params: Any) -> list[int]:
        body = client.get("/api/places", params={"q": "filter", **params}, headers=headers).json()
        return [item["id"] for item in body["items"]]

    assert ids() == [hotel["id"], rank["id"], route["id"]]
    assert ids(type=["hotel", "bus_route"]) == [hotel["id"], route["id"]]
    assert ids(bbox="-1.5130,52.4075,-1.5115,52.4090") == [rank["id"]]
    assert ids(limit=1, offset=1) == [rank["id"]]
    assert client.get("/api/places", params={"q": "50%_"}, headers=headers).json()["total"] == 0
    bad = client.get("/api/places", params={"bbox": "1,2,3"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["path"] == "bbox"


def test_geojson_feature_collection(client: TestClient, world: World) -> None:
    headers = analyst(client)
    route = add(client, headers, name="GeoJSON route", type="bus_route", geometry=BUS_ROUTE)
    response = client.get("/api/places.geojson", params={"q": "geojson route"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["total"] == 1
    feature = body["features"][0]
    assert feature["type"] == "Feature"
    assert feature["id"] == route["id"]
    assert feature["geometry"] == BUS_ROUTE
    assert feature["properties"]["name"] == "GeoJSON route"
    assert feature["properties"]["type_label"] == "Bus route"


BAD_GEOMETRIES = [
    pytest.param(BOW_TIE, "Self-intersection", id="self-intersecting"),
    pytest.param({"type": "Polygon", "coordinates": []}, "empty", id="empty"),
    pytest.param(
        {"type": "Point", "coordinates": [2.35, 48.85]}, "outside this deployment's area", id="outside"
    ),
    pytest.param(
        {"type": "Point", "coordinates": [52.4, -1.5]}, "longitude and latitude swapped", id="swapped"
    ),
    pytest.param(
        {
            "type": "Point",
            "coordinates": [-1.5, 52.4],
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        },
        "is not WGS84",
        id="crs-member",
    ),
    pytest.param(
        {"type": "Point", "coordinates": [433000, 279000]}, "British National Grid", id="bng-coordinates"
    ),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[-1.5, 52.4], [-1.4, 52.4]]]}, "do not make a Polygon", id="ring"
    ),
    pytest.param({"type": "Point", "coordinates": ["a", "b"]}, "do not make a Point", id="not-numbers"),
]


@pytest.mark.parametrize(("geometry", "words"), BAD_GEOMETRIES)
def test_bad_geometry_is_refused_naming_the_problem_and_nothing_is_written(
    client: TestClient, world: World, db_session: Session, geometry: dict[str, Any], words: str
) -> None:
    before = place_count(db_session)
    response = client.post("/api/places", json=new_place(geometry=geometry), headers=analyst(client))
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert response.json()["fields"][0]["path"] == "geometry"
    assert place_count(db_session) == before
    assert place_events(db_session) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"type": "Circle", "coordinates": [1, 2]}, "body.geometry.type", id="unknown-type"),
        pytest.param({"coordinates": [1, 2]}, "body.geometry.type", id="no-type"),
        pytest.param("POINT (1 2)", "body.geometry", id="not-an-object"),
    ],
)
def test_malformed_geojson_is_refused_naming_the_member(
    client: TestClient, world: World, db_session: Session, body: object, path: str
) -> None:
    before = place_count(db_session)
    response = client.post("/api/places", json=new_place(geometry=body), headers=analyst(client))
    assert response.status_code == 422
    assert path in [field["path"] for field in response.json()["fields"]]
    assert place_count(db_session) == before


def test_malformed_json_body_is_refused(client: TestClient, world: World, db_session: Session) -> None:
    before = place_count(db_session)
    headers = {**analyst(client), "Content-Type": "application/json"}
    response = client.post("/api/places", content=b'{"name": "x", "geometry": {', headers=headers)
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]
    assert place_count(db_session) == before


def test_a_bow_tie_is_repaired_only_when_asked(client: TestClient, world: World) -> None:
    headers = analyst(client)
    refused = client.post("/api/places", json=new_place(type="hotel", geometry=BOW_TIE), headers=headers)
    assert refused.status_code == 422
    repaired = client.post(
        "/api/places",
        params={"repair": True},
        json=new_place(type="hotel", geometry=BOW_TIE),
        headers=headers,
    )
    assert repaired.status_code == 201, repaired.text
    geometry = repaired.json()["geometry"]
    assert geometry["type"] == "MultiPolygon"
    assert len(geometry["coordinates"]) == 2


def test_repair_also_applies_to_changes(client: TestClient, world: World) -> None:
    headers = analyst(client)
    place = add(client, headers, type="hotel", geometry=HOTEL)
    url = f"/api/places/{place['id']}"
    assert client.patch(url, json={"geometry": BOW_TIE, "version": 1}, headers=headers).status_code == 422
    assert client.get(url, headers=headers).json()["geometry"]["type"] == "Polygon"
    fixed = client.patch(
        url, params={"repair": True}, json={"geometry": BOW_TIE, "version": 1}, headers=headers
    )
    assert fixed.status_code == 200
    assert fixed.json()["geometry"]["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        pytest.param({"type": "casino"}, "type", "no place type 'casino'", id="unknown-type"),
        pytest.param({"postcode": "NOT A POSTCODE"}, "body.postcode", "real UK postcode", id="postcode"),
        pytest.param({"name": "   "}, "body.name", "at least 1 character", id="blank-name"),
        pytest.param({"licence_refs": ["x" * 101]}, "body.licence_refs.0", "at most 100", id="long-licence"),
    ],
)
def test_fields_are_checked(
    client: TestClient, world: World, changes: dict[str, Any], path: str, words: str
) -> None:
    response = client.post("/api/places", json=new_place(**changes), headers=analyst(client))
    assert response.status_code == 422
    assert response.json()["fields"][0]["path"] == path
    assert words in response.json()["fields"][0]["message"]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("sw1a1aa", "SW1A 1AA"), ("M1 1AE", "M1 1AE"), ("  b33   8th ", "B33 8TH"), ("GIR0AA", "GIR 0AA")],
)
def test_postcodes_are_normalised(typed: str, stored: str) -> None:
    assert normalise_postcode(typed) == stored


@pytest.mark.parametrize("typed", ["SW1A", "12345", "SW1A 1CA", "QQ1 1AA1", ""])
def test_postcodes_that_are_not_uk_postcodes_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="real UK postcode"):
        normalise_postcode(typed)


def test_a_stale_edit_is_refused_and_changes_nothing(client: TestClient, world: World) -> None:
    headers = analyst(client)
    place = add(client, headers)
    url = f"/api/places/{place['id']}"
    assert client.patch(url, json={"name": "First edit", "version": 1}, headers=headers).status_code == 200
    stale = client.patch(url, json={"name": "Second edit", "version": 1}, headers=headers)
    assert stale.status_code == 409
    assert "Reload" in stale.json()["detail"]
    assert client.get(url, headers=headers).json()["name"] == "First edit"


def test_archived_places_cannot_be_changed(client: TestClient, world: World) -> None:
    headers = analyst(client)
    place = add(client, headers)
    url = f"/api/places/{place['id']}"
    assert client.delete(url, headers=headers).status_code == 204
    assert client.patch(url, json={"name": "Later", "version": 1}, headers=headers).status_code == 409


def test_an_external_ref_belongs_to_one_place(client: TestClient, world: World) -> None:
    headers = analyst(client)
    add(client, headers, external_ref="same-ref")
    clash = client.post("/api/places", json=new_place(external_ref="same-ref"), headers=headers)
    assert clash.status_code == 409


@pytest.mark.parametrize(
    ("username", "may_view", "may_edit"),
    [
        ("user-analyst", True, True),
        ("user-neighbourhood", True, True),
        ("user-practitioner", True, False),
        ("user-supervisor", True, False),
        ("user-agency-admin", False, False),
        ("user-system-admin", False, False),
    ],
)
def test_who_may_view_and_edit_places(
    client: TestClient, world: World, username: str, may_view: bool, may_edit: bool
) -> None:
    place = add(client, analyst(client))
    headers = bearer(client, username)
    assert client.get("/api/places", headers=headers).status_code == (200 if may_view else 403)
    assert client.get(f"/api/places/{place['id']}", headers=headers).status_code == (200 if may_view else 403)
    created = client.post("/api/places", json=new_place(), headers=headers)
    assert created.status_code == (201 if may_edit else 403)
    changed = client.patch(
        f"/api/places/{place['id']}", json={"name": "Edited", "version": 1}, headers=headers
    )
    assert changed.status_code == (200 if may_edit else 403)
    assert client.delete(f"/api/places/{place['id']}", headers=headers).status_code == (
        204 if may_edit else 403
    )


def test_place_types_are_listed_and_system_admins_add_them(client: TestClient, world: World) -> None:
    listed = client.get("/api/place-types", headers=bearer(client, "user-practitioner"))
    assert listed.status_code == 200
    codes = {entry["code"] for entry in listed.json()}
    assert {"hotel", "taxi_rank", "bus_route", "hmo"} <= codes
    new_type = {"code": "nail_bar", "label": "Nail bar", "icon": "NB"}
    assert client.post("/api/place-types", json=new_type, headers=analyst(client)).status_code == 403
    admin = bearer(client, "user-system-admin")
    created = client.post("/api/place-types", json=new_type, headers=admin)
    assert created.status_code == 201
    assert created.json() == {**new_type, "is_active": True}
    assert client.post("/api/place-types", json=new_type, headers=admin).status_code == 409
    bad = client.post("/api/place-types", json={**new_type, "code": "Nail Bar!"}, headers=admin)
    assert bad.status_code == 422
    place = add(client, analyst(client), type="nail_bar")
    assert place["type_label"] == "Nail bar"


def test_markup_is_stored_and_returned_as_typed(client: TestClient, world: World) -> None:
    script = "<script>alert('x')</script>"
    place = add(client, analyst(client), name=script, address=f"<b>{script}</b>", owner_name=script)
    assert place["name"] == script
    assert place["address"] == f"<b>{script}</b>"
