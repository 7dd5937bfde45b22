"""Risk assessments: evidence, weighting adding to 100, judgement, plan, sign-off by another supervisor."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.assessments.models import RiskAssessment
from contexts.assessments.service import three_months_from
from tests.conftest import World, make_user
from tests.test_concerns import add
from tests.test_young_people import create, headers


def assessment(**changes: Any) -> dict[str, Any]:
    """A valid assessment."""
    return {
        "indicators": [
            {
                "context": "neighbourhood",
                "sign": "risk",
                "indicator": "Seen at hotels with older males",
                "evidence": "Two sightings reported by the hotel manager.",
            },
            {
                "context": "peer_group",
                "sign": "harm",
                "indicator": "Unexplained money and phones",
                "evidence": "New phone found by carer.",
            },
        ],
        "protective_factors": [
            {"context": "school", "description": "Trusted relationship with the form tutor"}
        ],
        "weighting": {"individual": 10, "home": 10, "peer_group": 30, "school": 0, "neighbourhood": 50},
        "judgement": "Adults at the hotel may be exploiting her; the peer group is how they reach her.",
        "local_category": "significant risk",
        "actions": [
            {
                "context": "neighbourhood",
                "who": "Licensing team",
                "what": "Visit the hotel",
                "due_date": (date.today() + timedelta(days=14)).isoformat(),
            }
        ],
        **changes,
    }


@pytest.fixture
def case(client: TestClient, world: World) -> tuple[dict[str, str], int]:
    """The practitioner's headers and a young person of theirs."""
    head = headers(client, "user-practitioner")
    return head, int(create(client, head)["id"])


def post(client: TestClient, head: dict[str, str], person_id: int, **changes: Any) -> Any:
    """Create an assessment and return the response."""
    return client.post(f"/api/young-people/{person_id}/assessments", json=assessment(**changes), headers=head)


def test_practitioner_writes_and_a_supervisor_signs_off(
    client: TestClient, case: tuple[dict[str, str], int]
) -> None:
    head, person_id = case
    created = post(client, head, person_id, submit=True)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "submitted"
    assert body["review_date"] == three_months_from(date.today()).isoformat()
    assert body["weighting"]["neighbourhood"] == 50
    supervisor = headers(client, "user-supervisor")
    signed = client.post(
        f"/api/assessments/{body['id']}/sign-off",
        json={"version": body["version"], "note": "Agreed"},
        headers=supervisor,
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed_off"
    assert signed.json()["signed_off_by"] == "Test user-supervisor"
    locked = client.put(
        f"/api/assessments/{body['id']}",
        json={**assessment(), "version": signed.json()["version"]},
        headers=head,
    )
    assert locked.status_code == 409


def test_authors_cannot_sign_off_their_own(client: TestClient, world: World, db_session: Session) -> None:
    author = make_user(db_session, world.agency, "both-roles", Role.PRACTITIONER, Role.SUPERVISOR)
    db_session.commit()
    head = headers(client, author.username)
    person_id = create(client, head)["id"]
    body = post(client, head, person_id, submit=True).json()
    refused = client.post(
        f"/api/assessments/{body['id']}/sign-off", json={"version": body["version"]}, headers=head
    )
    assert refused.status_code == 403
    assert "own assessment" in refused.json()["detail"]


def test_practitioners_cannot_sign_off(client: TestClient, case: tuple[dict[str, str], int]) -> None:
    head, person_id = case
    body = post(client, head, person_id, submit=True).json()
    assert (
        client.post(f"/api/assessments/{body['id']}/sign-off", json={"version": 1}, headers=head).status_code
        == 403
    )


def test_drafts_cannot_be_signed_off(client: TestClient, case: tuple[dict[str, str], int]) -> None:
    head, person_id = case
    body = post(client, head, person_id).json()
    response = client.post(
        f"/api/assessments/{body['id']}/sign-off",
        json={"version": body["version"]},
        headers=headers(client, "user-supervisor"),
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"weighting": {"individual": 10, "home": 10, "peer_group": 30, "school": 0, "neighbourhood": 49}},
            "body.weighting",
        ),
        (
            {"weighting": {"individual": 110, "home": 0, "peer_group": 0, "school": 0, "neighbourhood": -10}},
            "body.weighting.individual",
        ),
        ({"judgement": ""}, "body.judgement"),
        ({"local_category": "very high"}, "local_category"),
        ({"review_date": (date.today() + timedelta(days=120)).isoformat()}, "review_date"),
        ({"review_date": (date.today() - timedelta(days=1)).isoformat()}, "review_date"),
        (
            {"indicators": [{"context": "home", "sign": "risk", "indicator": "No evidence given"}]},
            "body.indicators.0",
        ),
        (
            {"indicators": [{"context": "home", "sign": "maybe", "indicator": "x", "evidence": "y"}]},
            "body.indicators.0.sign",
        ),
        (
            {"indicators": [{"context": "home", "sign": "risk", "indicator": "x", "concern_ids": [999999]}]},
            "concern_ids",
        ),
    ],
)
def test_bad_assessments_are_422_and_save_nothing(
    client: TestClient, case: tuple[dict[str, str], int], changes: dict[str, Any], field: str
) -> None:
    head, person_id = case
    response = post(client, head, person_id, **changes)
    assert response.status_code == 422, response.text
    assert field in {f["path"] for f in response.json()["fields"]}
    assert client.get(f"/api/young-people/{person_id}/assessments", headers=head).json() == []


def test_indicators_link_to_concerns_in_the_chronology(
    client: TestClient, case: tuple[dict[str, str], int]
) -> None:
    head, person_id = case
    entry = add(client, head, person_id)
    indicators = [
        {
            "context": "neighbourhood",
            "sign": "risk",
            "indicator": "Hotel sightings",
            "concern_ids": [entry["id"]],
        }
    ]
    created = post(client, head, person_id, indicators=indicators)
    assert created.status_code == 201, created.text
    assert created.json()["indicators"][0]["concern_ids"] == [entry["id"]]


def test_history_and_changes_between_assessments(
    client: TestClient, case: tuple[dict[str, str], int]
) -> None:
    head, person_id = case
    first = post(client, head, person_id).json()
    second_body = assessment(
        weighting={"individual": 10, "home": 10, "peer_group": 50, "school": 0, "neighbourhood": 30},
        local_category="serious risk",
        indicators=[
            {
                "context": "peer_group",
                "sign": "harm",
                "indicator": "Unexplained money and phones",
                "evidence": "More",
            },
            {
                "context": "peer_group",
                "sign": "risk",
                "indicator": "New older friends",
                "evidence": "Seen twice",
            },
        ],
    )
    second = client.post(f"/api/young-people/{person_id}/assessments", json=second_body, headers=head).json()
    assert second["previous_id"] == first["id"]
    listed = client.get(f"/api/young-people/{person_id}/assessments", headers=head).json()
    assert [a["id"] for a in listed] == [second["id"], first["id"]]
    diff = client.get(f"/api/assessments/{second['id']}/changes", headers=head).json()
    assert diff["weighting"] == {"peer_group": [30, 50], "neighbourhood": [50, 30]}
    assert diff["local_category"] == ["significant risk", "serious risk"]
    assert diff["indicators_added"] == ["New older friends"]
    assert diff["indicators_removed"] == ["Seen at hotels with older males"]
    assert diff["judgement_changed"] is False


def test_stale_edit_is_409(client: TestClient, case: tuple[dict[str, str], int]) -> None:
    head, person_id = case
    body = post(client, head, person_id).json()
    url = f"/api/assessments/{body['id']}"
    assert (
        client.put(
            url, json={**assessment(judgement="Revised"), "version": body["version"]}, headers=head
        ).status_code
        == 200
    )
    stale = client.put(url, json={**assessment(judgement="Lost"), "version": body["version"]}, headers=head)
    assert stale.status_code == 409
    assert client.get(url, headers=head).json()["judgement"] == "Revised"


def test_overdue_reviews_are_listed(
    client: TestClient, case: tuple[dict[str, str], int], db_session: Session
) -> None:
    head, person_id = case
    body = post(client, head, person_id, submit=True).json()
    client.post(
        f"/api/assessments/{body['id']}/sign-off",
        json={"version": body["version"]},
        headers=headers(client, "user-supervisor"),
    )
    assert client.get("/api/assessments/overdue-reviews", headers=head).json() == []
    db_session.execute(update(RiskAssessment).values(review_date=date.today() - timedelta(days=1)))
    overdue = client.get("/api/assessments/overdue-reviews", headers=head).json()
    assert [(o["young_person_id"], o["assessment_id"]) for o in overdue] == [(person_id, body["id"])]
    assert (
        client.get("/api/assessments/overdue-reviews", headers=headers(client, "other-practitioner")).json()
        == []
    )


def test_other_agency_and_non_case_roles_see_nothing(
    client: TestClient, case: tuple[dict[str, str], int]
) -> None:
    head, person_id = case
    body = post(client, head, person_id).json()
    assert (
        client.get(
            f"/api/assessments/{body['id']}", headers=headers(client, "other-practitioner")
        ).status_code
        == 404
    )
    assert (
        client.get(f"/api/assessments/{body['id']}", headers=headers(client, "user-analyst")).status_code
        == 403
    )


def test_judgement_wording_is_flagged(client: TestClient, case: tuple[dict[str, str], int]) -> None:
    head, person_id = case
    body = post(
        client, head, person_id, judgement="She is putting herself at risk by going to the hotel."
    ).json()
    assert body["language_findings"]["judgement"][0]["phrase"] == "putting herself at risk"
