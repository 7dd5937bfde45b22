"""Missing episodes: validation, computed durations and return-interview deadlines, isolation, the map."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.accounts.service import actor_for
from contexts.audit.models import AuditAction, AuditEvent
from contexts.missing.service import overdue_return_interviews
from mapping.places.models import Place, PlaceType
from tests.conftest import World
from tests.test_concerns import add as add_concern
from tests.test_young_people import create, headers

NOW = datetime.now(UTC)
OVERDUE_URL = "/api/missing-episodes/overdue-return-interviews"


def ago(hours: float) -> str:
    """An ISO time this many hours before the tests started."""
    return (NOW - timedelta(hours=hours)).isoformat()


@pytest.fixture
def head(client: TestClient, world: World) -> dict[str, str]:
    """A practitioner's headers (bearer token and reason)."""
    return headers(client, "user-practitioner")


@pytest.fixture
def young(client: TestClient, head: dict[str, str]) -> int:
    """A young person of the practitioner's agency."""
    return int(create(client, head)["id"])


def episode(**changes: Any) -> dict[str, Any]:
    """A valid new episode: missing for a day, still missing."""
    return {
        "missing_from_address": "Oak House children's home",
        "missing_from_point": {"longitude": -1.5, "latitude": 52.4},
        "missing_since": ago(24),
        "reported_at": ago(23),
        "notes": "Left after tea; staff searched the grounds.",
        **changes,
    }


def add(client: TestClient, head: dict[str, str], person_id: int, **changes: Any) -> dict[str, Any]:
    """Record an episode and return it."""
    response = client.post(
        f"/api/young-people/{person_id}/missing-episodes", json=episode(**changes), headers=head
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def total(client: TestClient, head: dict[str, str], person_id: int) -> int:
    """How many episodes a young person has."""
    response = client.get(f"/api/young-people/{person_id}/missing-episodes", headers=head)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def moment(value: str) -> datetime:
    """Parse an ISO time from a response."""
    return datetime.fromisoformat(value)


def test_an_episode_while_missing_then_found(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    created = add(client, head, young)
    assert created["is_missing"] is True
    assert (created["duration_hours"], created["return_interview_due_by"]) == (None, None)
    assert created["return_interview_overdue"] is False
    assert created["missing_from_point"] == {"longitude": -1.5, "latitude": 52.4}
    assert created["agency_id"] == world.agency.id
    url = f"/api/missing-episodes/{created['id']}"
    found = client.patch(
        url,
        json={
            "version": created["version"],
            "found_at": ago(6),
            "found_address": "Bus station",
            "found_point": {"longitude": -1.49, "latitude": 52.41},
            "found_with": "Two adult men",
        },
        headers=head,
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["is_missing"] is False
    assert body["duration_hours"] == 18.0
    assert moment(body["return_interview_due_by"]) == moment(body["found_at"]) + timedelta(hours=72)
    assert body["return_interview_overdue"] is False
    assert body["version"] == created["version"] + 1
    assert client.get(url, headers=head).json()["found_with"] == "Two adult men"
    audited = db_session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "missing_episode").order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.reason, e.object_id) for e in audited] == [
        (AuditAction.CREATE, "allocated worker", str(created["id"])),
        (AuditAction.UPDATE, "allocated worker", str(created["id"])),
        (AuditAction.VIEW, "allocated worker", str(created["id"])),
    ]


def test_stale_version_gets_409_and_changes_nothing(
    client: TestClient, head: dict[str, str], young: int
) -> None:
    created = add(client, head, young)
    url = f"/api/missing-episodes/{created['id']}"
    first = client.patch(url, json={"version": created["version"], "found_at": ago(2)}, headers=head)
    assert first.status_code == 200
    stale = client.patch(url, json={"version": created["version"], "notes": "Lost update"}, headers=head)
    assert stale.status_code == 409
    assert client.get(url, headers=head).json()["notes"] == "Left after tea; staff searched the grounds."


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"found_at": ago(30)}, "found_at"),
        ({"reported_at": ago(30)}, "reported_at"),
        ({"missing_since": (NOW + timedelta(hours=2)).isoformat()}, "body.missing_since"),
        ({"reported_at": (NOW + timedelta(hours=2)).isoformat()}, "body.reported_at"),
        ({"found_at": (NOW + timedelta(hours=2)).isoformat()}, "body.found_at"),
        (
            {"found_at": ago(5), "return_interview_offered_at": (NOW + timedelta(hours=2)).isoformat()},
            "body.return_interview_offered_at",
        ),
        ({"found_at": ago(5), "return_interview_offered_at": ago(6)}, "return_interview_offered_at"),
        ({"return_interview_offered_at": ago(5)}, "found_at"),
        ({"found_with": "An adult"}, "found_at"),
        ({"found_at": ago(5), "return_interview_declined": True}, "return_interview_declined"),
        ({"missing_from_point": {"longitude": 10.0, "latitude": 60.0}}, "missing_from_point"),
        ({"found_at": ago(5), "found_point": {"longitude": 10.0, "latitude": 60.0}}, "found_point"),
        ({"missing_from_point": {"longitude": 200.0, "latitude": 52.0}}, "body.missing_from_point.longitude"),
        ({"missing_from_place_id": 999999}, "missing_from_place_id"),
        ({"found_at": ago(5), "found_place_id": 999999}, "found_place_id"),
        ({"missing_from_address": None, "missing_from_point": None}, "missing_from_address"),
        ({"missing_since": "yesterday"}, "body.missing_since"),
    ],
)
def test_bad_episodes_are_422_naming_the_field_and_save_nothing(
    client: TestClient, head: dict[str, str], young: int, changes: dict[str, Any], field: str
) -> None:
    url = f"/api/young-people/{young}/missing-episodes"
    response = client.post(url, json=episode(**changes), headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert total(client, head, young) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"found_at": ago(30)}, "found_at"),
        ({"missing_since": ago(2), "reported_at": ago(2)}, "found_at"),
        ({"missing_since": ago(2)}, "reported_at"),
        ({"missing_since": None}, "missing_since"),
        ({"found_point": {"longitude": 10.0, "latitude": 60.0}}, "found_point"),
        ({"found_at": None}, "found_at"),
        ({"return_interview_offered_at": ago(4)}, "return_interview_offered_at"),
    ],
)
def test_bad_changes_are_422_naming_the_field_and_change_nothing(
    client: TestClient, head: dict[str, str], young: int, changes: dict[str, Any], field: str
) -> None:
    created = add(client, head, young, found_at=ago(3), found_with="Her aunt")
    url = f"/api/missing-episodes/{created['id']}"
    response = client.patch(url, json={"version": created["version"], **changes}, headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    after = client.get(url, headers=head).json()
    assert {key: after[key] for key in ("version", "found_at", "missing_since", "found_point")} == {
        key: created[key] for key in ("version", "found_at", "missing_since", "found_point")
    }


def test_overdue_return_interviews_are_listed_for_the_home_page(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    overdue = add(client, head, young, missing_since=ago(100), reported_at=ago(99), found_at=ago(80))
    add(client, head, young, missing_since=ago(20), reported_at=ago(19), found_at=ago(10))
    add(
        client,
        head,
        young,
        missing_since=ago(200),
        reported_at=ago(199),
        found_at=ago(150),
        return_interview_offered_at=ago(140),
        return_interview_declined=True,
    )
    add(client, head, young)
    assert overdue["return_interview_overdue"] is True
    body = client.get(OVERDUE_URL, headers=head).json()
    assert body["total"] == 1
    (item,) = body["items"]
    assert (item["episode_id"], item["young_person_id"]) == (overdue["id"], young)
    assert (item["given_name"], item["family_name"]) == ("Jordan", "Ashdown")
    assert moment(item["return_interview_due_by"]) == moment(overdue["found_at"]) + timedelta(hours=72)
    assert item["hours_overdue"] >= 8
    actor = actor_for(world.users[Role.PRACTITIONER])
    assert [entry.episode_id for entry in overdue_return_interviews(db_session, actor)] == [overdue["id"]]
    assert client.get(OVERDUE_URL, params={"mine": True}, headers=head).json()["total"] == 0
    other = client.get(OVERDUE_URL, headers=headers(client, "other-practitioner")).json()
    assert other["total"] == 0
    offered = client.patch(
        f"/api/missing-episodes/{overdue['id']}",
        json={"version": overdue["version"], "return_interview_offered_at": ago(1)},
        headers=head,
    )
    assert offered.json()["return_interview_overdue"] is False
    assert client.get(OVERDUE_URL, headers=head).json()["total"] == 0


def test_mine_lists_only_the_lead_practitioners_young_people(
    client: TestClient, head: dict[str, str], world: World
) -> None:
    mine = create(client, head, lead_practitioner_id=world.users[Role.PRACTITIONER].id)
    theirs = create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)
    for person in (mine, theirs):
        add(client, head, person["id"], missing_since=ago(100), reported_at=ago(99), found_at=ago(80))
    assert client.get(OVERDUE_URL, headers=head).json()["total"] == 2
    only = client.get(OVERDUE_URL, params={"mine": True}, headers=head).json()
    assert [item["young_person_id"] for item in only["items"]] == [mine["id"]]


def test_concerns_are_linked_and_unlinked(client: TestClient, head: dict[str, str], young: int) -> None:
    created = add(client, head, young)
    entry = add_concern(client, head, young, category="missing")
    url = f"/api/missing-episodes/{created['id']}/concerns/{entry['id']}"
    linked = client.post(url, headers=head)
    assert linked.status_code == 201, linked.text
    assert linked.json()["concern_ids"] == [entry["id"]]
    assert client.post(url, headers=head).status_code == 409
    other_young = create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)
    elsewhere = add_concern(client, head, other_young["id"])
    wrong = client.post(f"/api/missing-episodes/{created['id']}/concerns/{elsewhere['id']}", headers=head)
    assert (wrong.status_code, wrong.json()["fields"][0]["path"]) == (422, "concern_id")
    unknown = client.post(f"/api/missing-episodes/{created['id']}/concerns/999999", headers=head)
    assert (unknown.status_code, unknown.json()["fields"][0]["path"]) == (422, "concern_id")
    assert client.delete(url, headers=head).status_code == 204
    assert client.delete(url, headers=head).status_code == 404
    assert client.get(f"/api/missing-episodes/{created['id']}", headers=head).json()["concern_ids"] == []


def test_missing_places_are_features_for_the_record_map(
    client: TestClient, head: dict[str, str], young: int, db_session: Session
) -> None:
    park = Place(
        name="Riverside park",
        place_type=PlaceType.PARK,
        geom="SRID=4326;POLYGON((-1.51 52.39, -1.50 52.39, -1.50 52.40, -1.51 52.39))",
    )
    db_session.add(park)
    db_session.flush()
    first = add(
        client,
        head,
        young,
        missing_since=ago(50),
        reported_at=ago(49),
        found_at=ago(40),
        found_place_id=park.id,
    )
    second = add(client, head, young, missing_from_point=None, missing_from_place_id=park.id)
    add(client, head, young, missing_from_point=None, missing_since=ago(10), reported_at=ago(9))
    response = client.get(f"/api/young-people/{young}/missing-places", headers=head)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["type"], body["young_person_id"]) == ("FeatureCollection", young)
    shapes = [
        (
            f["properties"]["episode_id"],
            f["properties"]["kind"],
            f["geometry"]["type"],
            f["properties"]["place_name"],
        )
        for f in body["features"]
    ]
    assert shapes == [
        (first["id"], "missing_from", "Point", None),
        (first["id"], "found_at", "Polygon", "Riverside park"),
        (second["id"], "missing_from", "Polygon", "Riverside park"),
    ]
    assert body["features"][0]["geometry"]["coordinates"] == [-1.5, 52.4]
    assert moment(body["features"][1]["properties"]["at"]) == moment(first["found_at"])
    audited = db_session.scalars(select(AuditEvent).where(AuditEvent.object_type == "missing_places")).all()
    assert [(e.action, e.reason, e.object_id) for e in audited] == [
        (AuditAction.VIEW, "allocated worker", f"young_person:{young}")
    ]


def test_another_agency_sees_nothing(client: TestClient, head: dict[str, str], young: int) -> None:
    created = add(client, head, young, found_at=ago(2))
    entry = add_concern(client, head, young)
    other = headers(client, "other-practitioner")
    url = f"/api/missing-episodes/{created['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert (
        client.patch(url, json={"version": created["version"], "notes": "X"}, headers=other).status_code
        == 404
    )
    assert client.get(f"/api/young-people/{young}/missing-episodes", headers=other).status_code == 404
    assert client.get(f"/api/young-people/{young}/missing-places", headers=other).status_code == 404
    assert (
        client.post(f"/api/young-people/{young}/missing-episodes", json=episode(), headers=other).status_code
        == 404
    )
    assert client.post(f"{url}/concerns/{entry['id']}", headers=other).status_code == 404
    assert client.get(url, headers=head).json()["notes"] == created["notes"]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.NEIGHBOURHOOD])
def test_analysts_and_neighbourhood_teams_cannot_see_episodes(
    client: TestClient, head: dict[str, str], young: int, world: World, role: Role
) -> None:
    created = add(client, head, young)
    theirs = headers(client, world.users[role].username)
    assert client.get(f"/api/missing-episodes/{created['id']}", headers=theirs).status_code == 403
    assert client.get(f"/api/young-people/{young}/missing-episodes", headers=theirs).status_code == 403
    assert client.get(f"/api/young-people/{young}/missing-places", headers=theirs).status_code == 403
    assert client.get(OVERDUE_URL, headers=theirs).status_code == 403
    response = client.post(f"/api/young-people/{young}/missing-episodes", json=episode(), headers=theirs)
    assert response.status_code == 403
    assert total(client, head, young) == 1


def test_reading_without_a_reason_is_428(client: TestClient, head: dict[str, str], young: int) -> None:
    created = add(client, head, young)
    bare = {"Authorization": head["Authorization"]}
    assert client.get(f"/api/missing-episodes/{created['id']}", headers=bare).status_code == 428
    assert client.get(f"/api/young-people/{young}/missing-places", headers=bare).status_code == 428


def test_notes_get_language_findings_and_stay_as_written(
    client: TestClient, head: dict[str, str], young: int
) -> None:
    notes = "She keeps going missing and absconded again."
    created = add(client, head, young, notes=notes)
    assert created["notes"] == notes
    assert {"keeps going missing", "absconded"} <= {
        f["phrase"] for f in created["language_findings"]["notes"]
    }
    listed = client.get(f"/api/young-people/{young}/missing-episodes", headers=head).json()["items"][0]
    assert listed["language_findings"] == created["language_findings"]
