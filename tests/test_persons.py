"""Persons of concern and links: provenance required, review dates, isolation, audit, people in concerns."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.audit.models import AuditAction, AuditEvent
from contexts.persons.models import PersonLink, RelationshipType
from tests.conftest import World
from tests.test_concerns import add as add_concern
from tests.test_young_people import create, headers

TODAY = date.today()


@pytest.fixture
def head(client: TestClient, world: World) -> dict[str, str]:
    """A practitioner's headers (bearer token and reason)."""
    return headers(client, "user-practitioner")


@pytest.fixture
def young(client: TestClient, head: dict[str, str]) -> int:
    """A young person of the practitioner's agency."""
    return int(create(client, head)["id"])


def new_person(client: TestClient, head: dict[str, str], **changes: Any) -> dict[str, Any]:
    """Record a person of concern and return it."""
    body = {"name": "Tyrone Example", "aliases": ["Big T"], "approximate_age": 30, **changes}
    response = client.post("/api/persons-of-concern", json=body, headers=head)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def link(world: World, **changes: Any) -> dict[str, Any]:
    """A valid new link's body."""
    return {
        "relationship_type": "adult_of_concern",
        "description": "Seen collecting her from school in a car.",
        "source_agency_id": world.other_agency.id,
        "observed_date": (TODAY - timedelta(days=5)).isoformat(),
        **changes,
    }


def add_link(
    client: TestClient, head: dict[str, str], person_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """Add a link and return it."""
    response = client.post(f"/api/young-people/{person_id}/links", json=body, headers=head)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def links(client: TestClient, head: dict[str, str], person_id: int) -> dict[str, Any]:
    """A young person's page of links."""
    response = client.get(f"/api/young-people/{person_id}/links", headers=head)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def events(session: Session, object_type: str) -> list[tuple[AuditAction, str | None, str | None]]:
    """The audit events of one object type, oldest first."""
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)
    ).all()
    return [(row.action, row.reason, row.object_id) for row in rows]


def test_person_of_concern_is_recorded_opened_and_changed_with_reasons_audited(
    client: TestClient, head: dict[str, str], world: World, db_session: Session
) -> None:
    person = new_person(client, head, description="Drives a silver hatchback.")
    assert (person["agency_id"], person["aliases"], person["version"]) == (world.agency.id, ["Big T"], 1)
    url = f"/api/persons-of-concern/{person['id']}"
    opened = client.get(url, headers=head)
    assert opened.status_code == 200
    assert opened.json()["description"] == "Drives a silver hatchback."
    changed = client.patch(url, json={"version": 1, "aliases": ["Big T", "TJ"]}, headers=head)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["aliases"], changed.json()["version"]) == (["Big T", "TJ"], 2)
    pid = str(person["id"])
    assert events(db_session, "person_of_concern") == [
        (AuditAction.CREATE, "allocated worker", pid),
        (AuditAction.VIEW, "allocated worker", pid),
        (AuditAction.UPDATE, "allocated worker", pid),
    ]


def test_person_of_concern_search_by_name_or_alias(client: TestClient, head: dict[str, str]) -> None:
    tyrone = new_person(client, head)
    new_person(client, head, name="Someone Else", aliases=[])

    def found(q: str) -> list[int]:
        """Ids of the persons of concern a search finds."""
        body = client.get("/api/persons-of-concern", params={"q": q}, headers=head).json()
        return [item["id"] for item in body["items"]]

    assert found("tyrone") == [tyrone["id"]]
    assert found("big t") == [tyrone["id"]]
    assert found("100%") == []
    assert client.get("/api/persons-of-concern", headers=head).json()["total"] == 2


def test_stale_person_of_concern_edit_gets_409_and_changes_nothing(
    client: TestClient, head: dict[str, str]
) -> None:
    person = new_person(client, head)
    url = f"/api/persons-of-concern/{person['id']}"
    assert client.patch(url, json={"version": 1, "name": "Tyrone E"}, headers=head).status_code == 200
    stale = client.patch(url, json={"version": 1, "name": "Lost update"}, headers=head)
    assert stale.status_code == 409
    assert client.get(url, headers=head).json()["name"] == "Tyrone E"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "body.name"),
        ({"approximate_age": 200}, "body.approximate_age"),
        ({"date_of_birth": (TODAY + timedelta(days=1)).isoformat()}, "body.date_of_birth"),
        ({"aliases": [""]}, "body.aliases.0"),
    ],
)
def test_bad_person_of_concern_is_422_naming_the_field_and_saves_nothing(
    client: TestClient, head: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    body = {"name": "Tyrone Example", **changes}
    response = client.post("/api/persons-of-concern", json=body, headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert client.get("/api/persons-of-concern", headers=head).json()["total"] == 0


def test_clearing_a_person_of_concerns_name_is_refused(client: TestClient, head: dict[str, str]) -> None:
    person = new_person(client, head)
    url = f"/api/persons-of-concern/{person['id']}"
    response = client.patch(url, json={"version": 1, "name": None}, headers=head)
    assert response.status_code == 422
    assert response.json()["fields"][0]["path"] == "name"
    assert client.get(url, headers=head).json()["name"] == "Tyrone Example"


def test_link_to_person_of_concern_keeps_its_provenance_and_default_review_date(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    person = new_person(client, head)
    created = add_link(
        client,
        head,
        young,
        link(
            world,
            person_of_concern_id=person["id"],
            source_evaluation="2",
            intelligence_assessment="B",
            handling_code="C",
        ),
    )
    observed = TODAY - timedelta(days=5)
    assert created["person_of_concern_id"] == person["id"]
    assert created["linked_young_person_id"] is None
    assert created["linked_name"] == "Tyrone Example"
    assert created["young_person_name"] == "Jordan Ashdown"
    assert created["source_agency_id"] == world.other_agency.id
    assert created["source_agency_name"] == world.other_agency.name
    assert (created["source_evaluation"], created["intelligence_assessment"], created["handling_code"]) == (
        "2",
        "B",
        "C",
    )
    assert created["observed_date"] == observed.isoformat()
    assert created["review_by_date"] == (observed + timedelta(days=90)).isoformat()
    assert created["is_past_review"] is False
    assert created["agency_id"] == world.agency.id
    page = links(client, head, young)
    assert (page["total"], [item["id"] for item in page["items"]]) == (1, [created["id"]])
    assert events(db_session, "person_link") == [
        (AuditAction.CREATE, "allocated worker", str(created["id"])),
        (AuditAction.VIEW, "allocated worker", f"young_person:{young}"),
    ]


def test_link_between_young_people_shows_in_both_records(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    peer = create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)
    created = add_link(
        client, head, young, link(world, linked_young_person_id=peer["id"], relationship_type="peer")
    )
    assert created["linked_name"] == "Casey Birchley"
    assert [item["id"] for item in links(client, head, peer["id"])["items"]] == [created["id"]]
    assert [item["id"] for item in links(client, head, young)["items"]] == [created["id"]]


def test_links_past_their_review_date_are_flagged(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    person = new_person(client, head)
    old = add_link(
        client,
        head,
        young,
        link(
            world, person_of_concern_id=person["id"], observed_date=(TODAY - timedelta(days=200)).isoformat()
        ),
    )
    explicit = add_link(
        client,
        head,
        young,
        link(
            world,
            person_of_concern_id=person["id"],
            observed_date=(TODAY - timedelta(days=200)).isoformat(),
            review_by_date=(TODAY + timedelta(days=10)).isoformat(),
        ),
    )
    assert old["is_past_review"] is True
    assert explicit["is_past_review"] is False
    flags = {item["id"]: item["is_past_review"] for item in links(client, head, young)["items"]}
    assert flags == {old["id"]: True, explicit["id"]: False}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"relationship_type": "boyfriend"}, "body.relationship_type"),
        ({"observed_date": (TODAY + timedelta(days=1)).isoformat()}, "body.observed_date"),
        ({"review_by_date": (TODAY - timedelta(days=6)).isoformat()}, "body.review_by_date"),
        ({"review_by_date": (TODAY - timedelta(days=5)).isoformat()}, "body.review_by_date"),
        ({"source_agency_id": None}, "body.source_agency_id"),
        ({"source_agency_id": 999999}, "source_agency_id"),
        ({"observed_date": None}, "body.observed_date"),
        ({"source_evaluation": "1"}, "intelligence_assessment"),
        ({"source_evaluation": "1", "intelligence_assessment": "A"}, "handling_code"),
        ({"source_evaluation": "9"}, "body.source_evaluation"),
        ({"person_of_concern_id": None}, "person_of_concern_id"),
        ({"person_of_concern_id": 999999}, "person_of_concern_id"),
        ({"linked_young_person_id": 999999}, "linked_young_person_id"),
        ({"description": "x" * 10_001}, "body.description"),
    ],
)
def test_bad_links_are_422_naming_the_field_and_save_nothing(
    client: TestClient,
    head: dict[str, str],
    young: int,
    world: World,
    changes: dict[str, Any],
    field: str,
) -> None:
    person = new_person(client, head)
    body = link(world, person_of_concern_id=person["id"])
    body.update(changes)
    if changes.get("linked_young_person_id"):
        body["person_of_concern_id"] = None
    response = client.post(f"/api/young-people/{young}/links", json=body, headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert links(client, head, young)["total"] == 0


def test_a_young_person_cannot_be_linked_to_themselves_or_to_two_people(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    url = f"/api/young-people/{young}/links"
    itself = client.post(url, json=link(world, linked_young_person_id=young), headers=head)
    assert itself.status_code == 422
    assert itself.json()["fields"][0]["path"] == "linked_young_person_id"
    person = new_person(client, head)
    peer = create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)
    both = client.post(
        url,
        json=link(world, linked_young_person_id=peer["id"], person_of_concern_id=person["id"]),
        headers=head,
    )
    assert both.status_code == 422
    assert both.json()["fields"][0]["path"] == "linked_young_person_id"
    assert links(client, head, young)["total"] == 0


def test_another_agencys_people_cannot_be_linked(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    other = headers(client, "other-practitioner")
    their_person = new_person(client, other)
    their_young = create(client, other, given_name="Riley", family_name="Other")
    url = f"/api/young-people/{young}/links"
    by_person = client.post(url, json=link(world, person_of_concern_id=their_person["id"]), headers=head)
    assert (by_person.status_code, by_person.json()["fields"][0]["path"]) == (422, "person_of_concern_id")
    by_young = client.post(url, json=link(world, linked_young_person_id=their_young["id"]), headers=head)
    assert (by_young.status_code, by_young.json()["fields"][0]["path"]) == (422, "linked_young_person_id")


def test_database_refuses_a_link_without_exactly_one_linked_person(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    savepoint = db_session.begin_nested()
    db_session.add(
        PersonLink(
            young_person_id=young,
            agency_id=world.agency.id,
            relationship_type=RelationshipType.PEER,
            source_agency_id=world.agency.id,
            observed_date=TODAY,
            review_by_date=TODAY + timedelta(days=1),
        )
    )
    with pytest.raises(IntegrityError, match="ck_person_link_one_linked_person"):
        db_session.flush()
    savepoint.rollback()


def test_link_edits_are_versioned_checked_and_audited(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    person = new_person(client, head)
    created = add_link(client, head, young, link(world, person_of_concern_id=person["id"]))
    url = f"/api/links/{created['id']}"
    changed = client.patch(url, json={"version": 1, "relationship_type": "associate"}, headers=head)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["relationship_type"], changed.json()["version"]) == ("associate", 2)
    stale = client.patch(url, json={"version": 1, "relationship_type": "peer"}, headers=head)
    assert stale.status_code == 409
    early = (TODAY - timedelta(days=10)).isoformat()
    backwards = client.patch(url, json={"version": 2, "review_by_date": early}, headers=head)
    assert (backwards.status_code, backwards.json()["fields"][0]["path"]) == (422, "review_by_date")
    partial = client.patch(url, json={"version": 2, "source_evaluation": "1"}, headers=head)
    assert (partial.status_code, partial.json()["fields"][0]["path"]) == (422, "intelligence_assessment")
    unknown = client.patch(url, json={"version": 2, "source_agency_id": 999999}, headers=head)
    assert (unknown.status_code, unknown.json()["fields"][0]["path"]) == (422, "source_agency_id")
    emptied = client.patch(url, json={"version": 2, "observed_date": None}, headers=head)
    assert (emptied.status_code, emptied.json()["fields"][0]["path"]) == (422, "observed_date")
    item = links(client, head, young)["items"][0]
    assert (item["relationship_type"], item["version"], item["source_evaluation"]) == ("associate", 2, None)
    assert client.delete(url, headers=head).status_code == 204
    assert links(client, head, young)["total"] == 0
    assert [e[0] for e in events(db_session, "person_link") if e[2] == str(created["id"])] == [
        AuditAction.CREATE,
        AuditAction.UPDATE,
        AuditAction.DELETE,
    ]


def test_another_agency_sees_no_persons_or_links(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    person = new_person(client, head)
    created = add_link(client, head, young, link(world, person_of_concern_id=person["id"]))
    other = headers(client, "other-practitioner")
    assert client.get(f"/api/persons-of-concern/{person['id']}", headers=other).status_code == 404
    patch = {"version": 1, "name": "X"}
    assert (
        client.patch(f"/api/persons-of-concern/{person['id']}", json=patch, headers=other).status_code == 404
    )
    assert client.get("/api/persons-of-concern", headers=other).json()["total"] == 0
    assert client.get(f"/api/young-people/{young}/links", headers=other).status_code == 404
    body = link(world, person_of_concern_id=person["id"])
    assert client.post(f"/api/young-people/{young}/links", json=body, headers=other).status_code == 404
    link_url = f"/api/links/{created['id']}"
    assert client.patch(link_url, json={"version": 1, "description": "X"}, headers=other).status_code == 404
    assert client.delete(link_url, headers=other).status_code == 404
    assert (
        links(client, head, young)["items"][0]["description"] == "Seen collecting her from school in a car."
    )


@pytest.mark.parametrize("role", [Role.ANALYST, Role.NEIGHBOURHOOD])
def test_analysts_and_neighbourhood_teams_cannot_see_people(
    client: TestClient, head: dict[str, str], young: int, world: World, role: Role
) -> None:
    person = new_person(client, head)
    created = add_link(client, head, young, link(world, person_of_concern_id=person["id"]))
    theirs = headers(client, world.users[role].username)
    assert client.get("/api/persons-of-concern", headers=theirs).status_code == 403
    assert client.get(f"/api/persons-of-concern/{person['id']}", headers=theirs).status_code == 403
    assert client.post("/api/persons-of-concern", json={"name": "X"}, headers=theirs).status_code == 403
    assert client.get(f"/api/young-people/{young}/links", headers=theirs).status_code == 403
    assert client.delete(f"/api/links/{created['id']}", headers=theirs).status_code == 403
    assert links(client, head, young)["total"] == 1


def test_link_descriptions_get_language_findings(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    person = new_person(client, head)
    description = "He is her boyfriend and she keeps going missing with him."
    created = add_link(
        client, head, young, link(world, person_of_concern_id=person["id"], description=description)
    )
    assert created["description"] == description
    assert "keeps going missing" in {f["phrase"] for f in created["language_findings"]["description"]}
    listed = links(client, head, young)["items"][0]
    assert listed["language_findings"] == created["language_findings"]


def test_people_are_attached_to_and_detached_from_a_concern(
    client: TestClient, head: dict[str, str], young: int, world: World, db_session: Session
) -> None:
    entry = add_concern(client, head, young)
    person = new_person(client, head)
    peer = create(client, head, given_name="Casey", family_name="Birchley", confirm_not_duplicate=True)
    url = f"/api/concerns/{entry['id']}/people"
    adult = client.post(
        url, json={"person_of_concern_id": person["id"], "role": "Drove the car"}, headers=head
    )
    assert adult.status_code == 201, adult.text
    assert (adult.json()["name"], adult.json()["role"]) == ("Tyrone Example", "Drove the car")
    friend = client.post(url, json={"young_person_id": peer["id"], "role": "Was with her"}, headers=head)
    assert friend.status_code == 201
    again = client.post(url, json={"person_of_concern_id": person["id"], "role": "Again"}, headers=head)
    assert again.status_code == 409
    listed = client.get(url, headers=head).json()
    assert [item["name"] for item in listed] == ["Tyrone Example", "Casey Birchley"]
    assert client.delete(f"{url}/{adult.json()['id']}", headers=head).status_code == 204
    assert client.delete(f"{url}/{adult.json()['id']}", headers=head).status_code == 404
    assert [item["id"] for item in client.get(url, headers=head).json()] == [friend.json()["id"]]
    assert [(action, reason) for action, reason, _ in events(db_session, "concern_person")] == [
        (AuditAction.CREATE, "allocated worker"),
        (AuditAction.CREATE, "allocated worker"),
        (AuditAction.VIEW, "allocated worker"),
        (AuditAction.DELETE, "allocated worker"),
        (AuditAction.VIEW, "allocated worker"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "Present"}, "person_of_concern_id"),
        ({"young_person_id": 1, "person_of_concern_id": 1, "role": "Present"}, "young_person_id"),
        ({"person_of_concern_id": 999999, "role": "Present"}, "person_of_concern_id"),
        ({"young_person_id": 999999, "role": "Present"}, "young_person_id"),
        ({"young_person_id": "itself", "role": "Present"}, "young_person_id"),
        ({"person_of_concern_id": "known", "role": ""}, "body.role"),
    ],
)
def test_bad_concern_people_are_422_naming_the_field_and_save_nothing(
    client: TestClient, head: dict[str, str], young: int, body: dict[str, Any], field: str
) -> None:
    entry = add_concern(client, head, young)
    person = new_person(client, head)
    replacements = {"itself": young, "known": person["id"]}
    sent = {
        key: replacements.get(value, value) if isinstance(value, str) else value
        for key, value in body.items()
    }
    url = f"/api/concerns/{entry['id']}/people"
    response = client.post(url, json=sent, headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert client.get(url, headers=head).json() == []


def test_another_agency_cannot_see_or_change_a_concerns_people(
    client: TestClient, head: dict[str, str], young: int, world: World
) -> None:
    entry = add_concern(client, head, young)
    person = new_person(client, head)
    url = f"/api/concerns/{entry['id']}/people"
    attached = client.post(url, json={"person_of_concern_id": person["id"], "role": "Present"}, headers=head)
    other = headers(client, "other-practitioner")
    assert client.get(url, headers=other).status_code == 404
    assert (
        client.post(url, json={"person_of_concern_id": person["id"], "role": "X"}, headers=other).status_code
        == 404
    )
    assert client.delete(f"{url}/{attached.json()['id']}", headers=other).status_code == 404
    assert len(client.get(url, headers=head).json()) == 1
