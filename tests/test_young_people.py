"""Young person records: validation, duplicates, agency isolation, reasons in the audit trail."""

from datetime import date, timedelta
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.audit.models import AuditAction, AuditEvent
from contexts.young_people.identifiers import nhs_number_is_valid
from tests.conftest import DEMO_PASSWORD, LiveServer, World, bearer

REASON = {"X-Access-Reason": "allocated worker"}
VALID_NHS = "943 476 5919"


def headers(client: TestClient, username: str) -> dict[str, str]:
    """Bearer token plus a stated reason."""
    return {**bearer(client, username), **REASON}


def person(**changes: Any) -> dict[str, Any]:
    """A valid new record."""
    born = date.today().replace(year=date.today().year - 14) - timedelta(days=40)
    return {"given_name": "Jordan", "family_name": "Ashdown", "date_of_birth": born.isoformat(), **changes}


def create(client: TestClient, head: dict[str, str], **changes: Any) -> dict[str, Any]:
    """Create a record and return it."""
    response = client.post("/api/young-people", json=person(**changes), headers=head)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("401-023-2137", True),
        ("9434765918", False),
        ("123456789", False),
        ("12345678901", False),
        ("abcdefghij", False),
        ("1000000010", False),
    ],
)
def test_nhs_number_check_digit(number: str, valid: bool) -> None:
    assert nhs_number_is_valid(number) is valid


def test_practitioner_creates_and_opens_a_record_with_reason_audited(
    client: TestClient, world: World, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    created = create(
        client,
        head,
        preferred_name="Jo",
        nhs_number=VALID_NHS,
        looked_after=True,
        home_point={"longitude": -1.5, "latitude": 52.4},
        home_address="1 Example Row",
    )
    assert created["agency_id"] == world.agency.id
    assert created["age"] == 14
    assert created["nhs_number"] == "9434765919"
    assert created["home_point"] == {"longitude": -1.5, "latitude": 52.4}
    opened = client.get(f"/api/young-people/{created['id']}", headers=head)
    assert opened.status_code == 200
    assert opened.json() == created
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "young_person").order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.reason, e.object_id) for e in events] == [
        (AuditAction.CREATE, "allocated worker", str(created["id"])),
        (AuditAction.VIEW, "allocated worker", str(created["id"])),
    ]


def test_opening_without_a_reason_is_428(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    created = create(client, head)
    response = client.get(f"/api/young-people/{created['id']}", headers=bearer(client, "user-practitioner"))
    assert response.status_code == 428
    assert response.json()["error"] == "reason_required"
    assert "X-Access-Reason" in response.json()["detail"]


def test_other_agency_cannot_see_or_change_the_record(client: TestClient, world: World) -> None:
    created = create(client, headers(client, "user-practitioner"))
    other = headers(client, "other-practitioner")
    assert client.get(f"/api/young-people/{created['id']}", headers=other).status_code == 404
    patch = {"version": created["version"], "preferred_name": "X"}
    assert client.patch(f"/api/young-people/{created['id']}", json=patch, headers=other).status_code == 404
    listed = client.get("/api/young-people", params={"q": "Jordan"}, headers=other).json()
    assert listed["total"] == 0


@pytest.mark.parametrize("role", [Role.ANALYST, Role.NEIGHBOURHOOD, Role.AGENCY_ADMIN])
def test_non_case_roles_cannot_open_person_records(client: TestClient, world: World, role: Role) -> None:
    created = create(client, headers(client, "user-practitioner"))
    head = headers(client, world.users[role].username)
    assert client.get(f"/api/young-people/{created['id']}", headers=head).status_code == 403
    assert client.get("/api/young-people", headers=head).status_code == 403
    assert client.post("/api/young-people", json=person(), headers=head).status_code == 403


def test_likely_duplicate_is_warned_before_saving(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    first = create(client, head)
    warned = client.post("/api/young-people", json=person(given_name="Jordon"), headers=head)
    assert warned.status_code == 409
    assert warned.json()["error"] == "possible_duplicates"
    assert [c["id"] for c in warned.json()["candidates"]] == [first["id"]]
    assert client.get("/api/young-people", headers=head).json()["total"] == 1
    confirmed = client.post(
        "/api/young-people", json=person(given_name="Jordon", confirm_not_duplicate=True), headers=head
    )
    assert confirmed.status_code == 201
    other_birthday = person(
        given_name="Jordan", date_of_birth=(date.today() - timedelta(days=3000)).isoformat()
    )
    assert client.post("/api/young-people", json=other_birthday, headers=head).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"date_of_birth": (date.today() + timedelta(days=1)).isoformat()}, "body.date_of_birth"),
        ({"date_of_birth": "1990-01-01"}, "body.date_of_birth"),
        ({"nhs_number": "9434765918"}, "body.nhs_number"),
        ({"gender": "robot"}, "body.gender"),
        ({"ethnicity": "martian"}, "body.ethnicity"),
        ({"given_name": ""}, "body.given_name"),
        ({"home_point": {"longitude": 20.0, "latitude": 60.0}}, "home_point"),
        ({"school_place_id": 999999}, "school_place_id"),
        ({"lead_practitioner_id": -1}, "lead_practitioner_id"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_saves_nothing(
    client: TestClient, world: World, changes: dict[str, Any], field: str
) -> None:
    head = headers(client, "user-practitioner")
    response = client.post("/api/young-people", json=person(**changes), headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert client.get("/api/young-people", headers=head).json()["total"] == 0


def test_lead_practitioner_must_be_in_own_agency(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    response = client.post(
        "/api/young-people", json=person(lead_practitioner_id=world.other_practitioner.id), headers=head
    )
    assert response.status_code == 422
    own = create(client, head, lead_practitioner_id=world.users[Role.PRACTITIONER].id)
    assert own["lead_practitioner_id"] == world.users[Role.PRACTITIONER].id


def test_stale_edit_gets_409_and_changes_nothing(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    created = create(client, head)
    url = f"/api/young-people/{created['id']}"
    first = client.patch(url, json={"version": created["version"], "preferred_name": "Jo"}, headers=head)
    assert first.status_code == 200
    assert first.json()["version"] == created["version"] + 1
    stale = client.patch(url, json={"version": created["version"], "preferred_name": "Jay"}, headers=head)
    assert stale.status_code == 409
    assert client.get(url, headers=head).json()["preferred_name"] == "Jo"


def test_closing_needs_a_reason(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    created = create(client, head)
    url = f"/api/young-people/{created['id']}"
    refused = client.patch(url, json={"version": created["version"], "status": "closed"}, headers=head)
    assert refused.status_code == 422
    closed = client.patch(
        url,
        json={"version": created["version"], "status": "closed", "closed_reason": "Moved out of area"},
        headers=head,
    )
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None


def test_search_by_name_dob_and_identifiers(client: TestClient, world: World) -> None:
    head = headers(client, "user-practitioner")
    jordan = create(client, head, local_id="LOC-1", police_reference="PR/77")
    create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)

    def ids(**params: Any) -> list[int]:
        return [
            item["id"]
            for item in client.get("/api/young-people", params=params, headers=head).json()["items"]
        ]

    assert ids(q="jordan ashdown") == [jordan["id"]]
    assert ids(q="Ashdwon Jordan")[:1] == [jordan["id"]]
    assert ids(q="ashd") == [jordan["id"]]
    assert ids(q="LOC-1") == [jordan["id"]]
    assert ids(q="PR/77") == [jordan["id"]]
    assert ids(q="100%_") == []
    assert len(ids(date_of_birth=jordan["date_of_birth"])) == 2

    def page(**params: Any) -> tuple[int, int]:
        body = client.get("/api/young-people", params=params, headers=head).json()
        return len(body["items"]), body["total"]

    born = jordan["date_of_birth"]
    assert page(date_of_birth=born, limit=1) == (1, 2)
    assert page(date_of_birth=born, limit=1, offset=1) == (1, 2)
    assert page(date_of_birth=born, limit=1, offset=5) == (0, 2)
    assert page(q="nobody-by-this-name") == (0, 0)


def test_served_app_records_a_young_person_and_a_concern_at_a_place(live_server: LiveServer) -> None:
    base = live_server.url
    token = httpx2.post(
        f"{base}/api/token", data={"username": "demo-practitioner", "password": DEMO_PASSWORD}
    )
    head = {"Authorization": f"Bearer {token.json()['access_token']}", **REASON}
    created = httpx2.post(f"{base}/api/young-people", json=person(confirm_not_duplicate=True), headers=head)
    assert created.status_code == 201, created.text
    entry = {
        "context": "home",
        "kind": "protective",
        "category": "family-support",
        "summary": "Aunt offers a safe place",
        "occurred_at": (date.today() - timedelta(days=2)).isoformat(),
    }
    added = httpx2.post(f"{base}/api/young-people/{created.json()['id']}/concerns", json=entry, headers=head)
    assert added.status_code == 201, added.text
