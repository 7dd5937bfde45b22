"""Concerns: validation, the chronology and its filters, versioned edits with history, sensitivity."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.accounts.models import User
from contexts.accounts.service import actor_for
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction, AuditEvent
from contexts.audit.service import RequestOrigin
from contexts.concerns.models import ConcernCategory, ConcernKind, Context
from contexts.concerns.schemas import Chronology, ChronologyFilter, ConcernRead
from contexts.concerns.service import chronology_entries
from contexts.language.models import LanguageFlagCount
from mapping.places.models import Place, PlaceType
from tests.conftest import World, make_user
from tests.test_young_people import create, headers

NOW = datetime.now(UTC)


def concern(**changes: Any) -> dict[str, Any]:
    """A valid new concern."""
    return {
        "context": "neighbourhood",
        "kind": "risk",
        "category": "hotels-taxis-food",
        "summary": "Seen at the takeaway on the high street after 11pm",
        "detail": "Youth worker saw her with two adult men.",
        "occurred_at": (NOW - timedelta(days=3)).isoformat(),
        **changes,
    }


@pytest.fixture
def setup(client: TestClient, world: World) -> tuple[dict[str, str], int]:
    """A practitioner's headers and a young person of theirs."""
    head = headers(client, "user-practitioner")
    return head, int(create(client, head)["id"])


def add(client: TestClient, head: dict[str, str], person_id: int, **changes: Any) -> dict[str, Any]:
    """Add a concern and return it."""
    response = client.post(f"/api/young-people/{person_id}/concerns", json=concern(**changes), headers=head)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_categories_are_seeded_from_safeguard(client: TestClient, world: World) -> None:
    body = client.get("/api/concern-categories", headers=headers(client, "user-analyst")).json()
    labels = {category["label"] for category in body}
    assert {"Sexual health", "Absent or missing", "Gangs and older associates", "Use of technology"} <= labels
    assert "Protective factors" in {category["theme"] for category in body}


def test_concerns_in_all_five_contexts_build_the_chronology(
    client: TestClient, setup: tuple[dict[str, str], int], db_session: Session
) -> None:
    head, person_id = setup
    place = Place(
        name="Station Road takeaway", place_type=PlaceType.TAKEAWAY, geom="SRID=4326;POINT(-1.5 52.4)"
    )
    db_session.add(place)
    db_session.flush()
    contexts = ["individual", "home", "peer_group", "school", "neighbourhood"]
    for days, context in enumerate(contexts):
        add(
            client,
            head,
            person_id,
            context=context,
            occurred_at=(NOW - timedelta(days=10 - days)).isoformat(),
        )
    add(
        client,
        head,
        person_id,
        kind="protective",
        category="trusted-adult",
        context="school",
        place_id=place.id,
        summary="Trusted teacher",
        longitude=-1.49,
        latitude=52.41,
    )
    body = client.get(f"/api/young-people/{person_id}/chronology", headers=head).json()
    assert body["total"] == 6
    assert [item["context"] for item in body["items"][:5]] == contexts
    last = body["items"][-1]
    assert (last["kind"], last["place_id"], last["longitude"], last["latitude"]) == (
        "protective",
        place.id,
        -1.49,
        52.41,
    )
    assert last["recorded_by"] == "Test user-practitioner"
    views = db_session.scalars(select(AuditEvent).where(AuditEvent.object_type == "chronology")).all()
    assert [(v.action, v.reason) for v in views] == [(AuditAction.VIEW, "allocated worker")]


def test_chronology_filters(client: TestClient, setup: tuple[dict[str, str], int]) -> None:
    head, person_id = setup
    add(
        client,
        head,
        person_id,
        context="home",
        kind="harm",
        category="family",
        occurred_at=(NOW - timedelta(days=40)).isoformat(),
    )
    add(client, head, person_id, context="school", kind="protective", category="education-engagement")
    url = f"/api/young-people/{person_id}/chronology"

    def total(**params: Any) -> int:
        return int(client.get(url, params=params, headers=head).json()["total"])

    assert total(context="home") == 1
    assert total(context=["home", "school"]) == 2
    assert total(kind="protective") == 1
    assert total(category="family") == 1
    assert total(**{"from": (NOW - timedelta(days=10)).date().isoformat()}) == 1
    assert total(**{"to": (NOW - timedelta(days=30)).date().isoformat()}) == 1
    assert client.get(url, params={"context": "garden"}, headers=head).status_code == 422


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"context": "garden"}, "body.context"),
        ({"kind": "worry"}, "body.kind"),
        ({"occurred_at": (NOW + timedelta(days=1)).isoformat()}, "body.occurred_at"),
        ({"category": "no-such-category"}, "category"),
        ({"place_id": 999999}, "place_id"),
        ({"longitude": 10.0, "latitude": 60.0}, "longitude"),
        ({"longitude": -1.5}, "body"),
        ({"source_evaluation": "1"}, "body"),
        ({"summary": ""}, "body.summary"),
    ],
)
def test_bad_concerns_are_422_naming_the_field_and_save_nothing(
    client: TestClient, setup: tuple[dict[str, str], int], changes: dict[str, Any], field: str
) -> None:
    head, person_id = setup
    response = client.post(f"/api/young-people/{person_id}/concerns", json=concern(**changes), headers=head)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert client.get(f"/api/young-people/{person_id}/chronology", headers=head).json()["total"] == 0


def test_graded_intelligence_is_kept(client: TestClient, setup: tuple[dict[str, str], int]) -> None:
    head, person_id = setup
    graded = add(
        client, head, person_id, source_evaluation="2", intelligence_assessment="C", handling_code="P"
    )
    assert (graded["source_evaluation"], graded["intelligence_assessment"], graded["handling_code"]) == (
        "2",
        "C",
        "P",
    )


def test_edits_keep_history_and_stale_versions_get_409(
    client: TestClient, setup: tuple[dict[str, str], int]
) -> None:
    head, person_id = setup
    entry = add(client, head, person_id)
    url = f"/api/concerns/{entry['id']}"
    changed = client.patch(
        url,
        json={"version": entry["version"], "summary": "Seen at the takeaway", "kind": "harm"},
        headers=head,
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == entry["version"] + 1
    stale = client.patch(url, json={"version": entry["version"], "summary": "Lost update"}, headers=head)
    assert stale.status_code == 409
    history = client.get(f"{url}/history", headers=head).json()
    assert len(history) == 1
    assert history[0]["changed_by"] == "Test user-practitioner"
    assert history[0]["changes"]["kind"] == ["risk", "harm"]
    assert history[0]["changes"]["summary"][1] == "Seen at the takeaway"
    chronology = client.get(f"/api/young-people/{person_id}/chronology", headers=head).json()
    assert chronology["items"][0]["summary"] == "Seen at the takeaway"


def test_agency_only_entries_stay_in_the_recording_agency(
    client: TestClient, setup: tuple[dict[str, str], int], world: World, db_session: Session
) -> None:
    head, person_id = setup
    add(client, head, person_id, sensitivity="agency_only", summary="Kept inside the agency")
    add(client, head, person_id, summary="Shared with the partnership")
    colleague = make_user(db_session, world.agency, "colleague", *world.users)
    db_session.commit()
    own = client.get(
        f"/api/young-people/{person_id}/chronology", headers=headers(client, colleague.username)
    ).json()
    assert own["total"] == 2
    other = client.get(
        f"/api/young-people/{person_id}/chronology", headers=headers(client, "other-practitioner")
    )
    assert other.status_code == 404


def test_other_agency_cannot_add_to_the_chronology(
    client: TestClient, setup: tuple[dict[str, str], int]
) -> None:
    _, person_id = setup
    response = client.post(
        f"/api/young-people/{person_id}/concerns",
        json=concern(),
        headers=headers(client, "other-practitioner"),
    )
    assert response.status_code == 404


def test_victim_blaming_wording_is_flagged_not_changed(
    client: TestClient, setup: tuple[dict[str, str], int]
) -> None:
    head, person_id = setup
    detail = "She keeps going missing and is putting herself at risk."
    entry = add(client, head, person_id, detail=detail)
    assert entry["detail"] == detail
    phrases = {finding["phrase"] for finding in entry["language_findings"]["detail"]}
    assert {"keeps going missing", "putting herself at risk"} <= phrases
    assert "summary" not in entry["language_findings"]


def test_markup_is_stored_as_typed(client: TestClient, setup: tuple[dict[str, str], int]) -> None:
    head, person_id = setup
    entry = add(client, head, person_id, summary="<script>alert(1)</script>")
    assert entry["summary"] == "<script>alert(1)</script>"


def test_chronology_json_is_byte_for_byte_the_model_serialisation(
    client: TestClient, setup: tuple[dict[str, str], int], world: World, db_session: Session
) -> None:
    head, person_id = setup
    for days in range(4):
        add(client, head, person_id, occurred_at=(NOW - timedelta(days=20 - days)).isoformat())
    add(client, head, person_id, longitude=-1.49, latitude=52.41, kind="harm", context="home")
    add(client, head, person_id, kind="protective", category="trusted-adult", context="peer_group")
    add(client, head, person_id, sensitivity="agency_only", detail=None, occurred_precision="month")
    add(
        client,
        head,
        person_id,
        source_evaluation="2",
        intelligence_assessment="B",
        handling_code="P",
        summary='<script>alert("x")</script> & "quotes" – ünïcode',
    )
    user = db_session.scalars(select(User).where(User.username == "user-practitioner")).one()
    actor = actor_for(user)
    url = f"/api/young-people/{person_id}/chronology"
    pages: list[tuple[dict[str, Any], tuple[int, int], int]] = [
        ({}, (500, 0), 8),
        ({"limit": 2, "offset": 3}, (2, 3), 8),
        ({"limit": 4, "offset": 3}, (4, 3), 8),
        ({"limit": 8}, (8, 0), 8),
        ({"limit": 5, "offset": 5}, (5, 5), 8),
        ({"limit": 5, "offset": 50}, (5, 50), 8),
        ({"kind": "harm"}, (500, 0), 1),
    ]
    for params, (limit, offset), expected_total in pages:
        served = client.get(url, params=params, headers=head)
        filters = ChronologyFilter(kinds=[ConcernKind(params["kind"])] if "kind" in params else [])
        entries, total = chronology_entries(
            session=db_session,
            actor=actor,
            origin=RequestOrigin(),
            reason="test",
            person_id=person_id,
            filters=filters,
            limit=limit,
            offset=offset,
        )
        items = [ConcernRead.model_validate({**e._asdict(), "language_findings": {}}) for e in entries]
        model = Chronology(young_person_id=person_id, items=items, total=total, limit=limit, offset=offset)
        assert served.content == model.model_dump_json().encode()
        assert served.json()["total"] == total == expected_total
    body = client.get(url, params={"limit": 5, "offset": 50}, headers=head).json()
    assert (body["items"], body["total"]) == ([], 8)
    every_context: dict[str, Any] = {
        "context": [context.value for context in Context],
        "limit": 4,
        "offset": 2,
    }
    filtered = client.get(url, params=every_context, headers=head).json()
    unfiltered = client.get(url, params={"limit": 4, "offset": 2}, headers=head).json()
    assert filtered == unfiltered
    assert len(unfiltered["items"]) == 4


def test_chronology_names_entries_by_current_names_retired_categories_included(
    client: TestClient, setup: tuple[dict[str, str], int], db_session: Session
) -> None:
    head, person_id = setup
    entry = add(client, head, person_id, kind="protective", category="trusted-adult")
    category = db_session.scalars(
        select(ConcernCategory).where(ConcernCategory.code == "trusted-adult")
    ).one()
    category.is_active = False
    category.label = "Trusted adult (retired)"
    agency = db_session.get(Agency, entry["agency_id"])
    assert agency is not None
    agency.name = "Renamed children's services"
    db_session.flush()
    items = client.get(f"/api/young-people/{person_id}/chronology", headers=head).json()["items"]
    shown = next(item for item in items if item["id"] == entry["id"])
    assert (shown["category"], shown["category_label"]) == ("trusted-adult", "Trusted adult (retired)")
    assert shown["agency_name"] == "Renamed children's services"
    refused = client.post(
        f"/api/young-people/{person_id}/concerns", json=concern(category="trusted-adult"), headers=head
    )
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["path"] == "category"


def test_an_edit_comes_back_with_its_wording_to_review_and_an_empty_one_is_audited_as_a_view(
    client: TestClient, setup: tuple[dict[str, str], int], db_session: Session
) -> None:
    head, person_id = setup
    entry = add(client, head, person_id)
    url = f"/api/concerns/{entry['id']}"
    same = {"version": entry["version"], "summary": entry["summary"]}
    unchanged = client.patch(url, json=same, headers=head)
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == entry["version"]
    of_entry = (AuditEvent.object_type == "concern", AuditEvent.object_id == str(entry["id"]))
    events = db_session.scalars(select(AuditEvent).where(*of_entry).order_by(AuditEvent.id)).all()
    assert [event.action for event in events] == [AuditAction.CREATE, AuditAction.VIEW]
    assert client.get(f"{url}/history", headers=head).json() == []
    flagged = client.patch(
        url, json={"version": entry["version"], "detail": "She is putting herself at risk."}, headers=head
    )
    assert flagged.status_code == 200
    assert [f["phrase"] for f in flagged.json()["language_findings"]["detail"]] == ["putting herself at risk"]
    counts = db_session.scalars(
        select(LanguageFlagCount.flagged).where(
            LanguageFlagCount.record_type == "concern", LanguageFlagCount.record_id == entry["id"]
        )
    ).all()
    assert counts == [1]
