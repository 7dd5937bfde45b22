"""Place profile: monthly counts per audience, trend, nearby places, linked-by-place alerts, audited names."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.accounts.models import User
from contexts.accounts.service import actor_for
from contexts.audit.models import AuditAction, AuditEvent
from mapping.disclosure import DisclosurePolicy
from mapping.places.profile import LinkRule, place_profile
from tests.conftest import World, bearer, web_sign_in
from tests.test_concerns import add as add_concern
from tests.test_places import add as add_place
from tests.test_young_people import create, headers

NOW = datetime.now(UTC)
RANK = {"type": "Point", "coordinates": [-1.5, 52.4]}
# About 70 m and 1.4 km north of the rank.
NEAR = (-1.5, 52.4006)
FAR = (-1.5, 52.4126)


@pytest.fixture
def rank(client: TestClient, world: World) -> int:
    """A taxi rank with a takeaway 300 m away and a park 2 km away."""
    analyst = bearer(client, "user-analyst")
    place = add_place(client, analyst, name="Station taxi rank", geometry=RANK)
    add_place(
        client,
        analyst,
        name="Late takeaway",
        type="takeaway",
        geometry={"type": "Point", "coordinates": [-1.5, 52.4027]},
    )
    add_place(
        client,
        analyst,
        name="Far park",
        type="park",
        geometry={"type": "Point", "coordinates": [-1.5, 52.42]},
    )
    return int(place["id"])


def young_people(client: TestClient, head: dict[str, str], count: int) -> list[int]:
    """Several young people of one agency."""
    names = ["Asha", "Bilal", "Cerys", "Dara", "Eli"]
    return [
        int(create(client, head, given_name=names[i], family_name="Okafor", confirm_not_duplicate=True)["id"])
        for i in range(count)
    ]


def at_rank(
    client: TestClient, head: dict[str, str], person_id: int, place_id: int, days_ago: int, **more: Any
) -> None:
    """A concern recorded at the rank."""
    when = (NOW - timedelta(days=days_ago)).isoformat()
    add_concern(client, head, person_id, place_id=place_id, occurred_at=when, **more)


def profile_for(session: Session, username: str, place_id: int) -> Any:
    """The profile as a user sees it."""
    user = session.scalars(select(User).where(User.username == username)).one()
    return place_profile(session=session, actor=actor_for(user), place_id=place_id, policy=DisclosurePolicy())


def test_three_young_people_at_one_place_raise_an_alert_for_analysts_and_the_lead_agency(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    first, second, third = young_people(client, head, 3)
    at_rank(client, head, first, rank, 5)
    at_rank(client, head, second, rank, 20)
    add_concern(
        client,
        head,
        third,
        longitude=NEAR[0],
        latitude=NEAR[1],
        occurred_at=(NOW - timedelta(days=40)).isoformat(),
    )
    add_concern(
        client,
        head,
        third,
        longitude=FAR[0],
        latitude=FAR[1],
        occurred_at=(NOW - timedelta(days=2)).isoformat(),
    )
    analyst = profile_for(db_session, "user-analyst", rank)
    assert (analyst.audience, analyst.young_people_recently, analyst.alert) == ("analyst", 3, True)
    assert sum(month.count for month in analyst.months) == 3
    practitioner = profile_for(db_session, "user-practitioner", rank)
    assert (practitioner.audience, practitioner.own_young_people_recently, practitioner.alert) == (
        "case",
        3,
        True,
    )
    other = profile_for(db_session, "other-practitioner", rank)
    assert (other.own_young_people_recently, other.alert) == (0, False)
    partner = profile_for(db_session, "user-neighbourhood", rank)
    assert (partner.audience, partner.young_people_recently, partner.alert) == ("partner", None, False)
    assert all(month.count is None for month in partner.months)


def test_two_young_people_or_old_links_raise_no_alert(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    first, second, third = young_people(client, head, 3)
    at_rank(client, head, first, rank, 5)
    at_rank(client, head, second, rank, 6)
    at_rank(client, head, third, rank, 120)
    analyst = profile_for(db_session, "user-analyst", rank)
    assert (analyst.young_people_recently, analyst.alert) == (2, False)
    assert analyst.rule == LinkRule(radius_m=150, days=90, minimum=3)


def test_partners_see_rounded_counts_and_agency_only_entries_stay_in_their_agency(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    (person,) = young_people(client, head, 1)
    this_month = max(NOW - timedelta(hours=1), NOW.replace(day=1, hour=0, minute=0, second=1)).isoformat()
    for _ in range(11):
        add_concern(client, head, person, place_id=rank, occurred_at=this_month)
    add_concern(client, head, person, place_id=rank, occurred_at=this_month, sensitivity="agency_only")
    partner = profile_for(db_session, "user-neighbourhood", rank)
    assert [month.count for month in partner.months] == [None] * 11 + [10]
    own = profile_for(db_session, "user-practitioner", rank)
    other = profile_for(db_session, "other-practitioner", rank)
    assert sum(m.count for m in own.months) - sum(m.count for m in other.months) == 1


def test_trend_and_nearby_places(client: TestClient, rank: int, db_session: Session) -> None:
    head = headers(client, "user-practitioner")
    (person,) = young_people(client, head, 1)
    for months_ago in range(6):
        for _ in range(6 - months_ago):
            at_rank(client, head, person, rank, 30 * months_ago + 3)
    profile = profile_for(db_session, "user-analyst", rank)
    assert profile.trend.label == "Rising"
    assert [n.name for n in profile.nearby] == ["Late takeaway"]
    assert 290 <= profile.nearby[0].distance_m <= 310


def test_linked_young_people_page_needs_a_reason_lists_own_agency_and_is_audited(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    first, second = young_people(client, head, 2)
    at_rank(client, head, first, rank, 3)
    at_rank(client, head, second, rank, 4, summary="<script>alert(1)</script> seen near the rank")
    web_sign_in(client, "user-practitioner")
    asked = client.get(
        f"/places/{rank}/young-people", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/reason")
    page = client.get(f"/places/{rank}/young-people", headers={"X-Access-Reason": "strategy meeting"})
    assert page.status_code == 200
    assert page.text.count('href="/young-people/') == 2
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "place_young_people")
    ).all()
    assert [(e.action, e.reason, e.object_id) for e in events] == [
        (AuditAction.VIEW, "strategy meeting", str(rank))
    ]
    place_page = client.get(f"/places/{rank}")
    assert "Concerns linked to this place" in place_page.text
    assert "<script>alert(1)" not in place_page.text
    analyst = bearer(client, "user-analyst")
    assert (
        client.get(f"/places/{rank}/young-people", headers={**analyst, "Accept": "text/html"}).status_code
        == 403
    )


def test_profile_api_answers_by_role(client: TestClient, rank: int) -> None:
    head = headers(client, "user-practitioner")
    (person,) = young_people(client, head, 1)
    at_rank(client, head, person, rank, 3)
    analyst = client.get(f"/api/places/{rank}/profile", headers=bearer(client, "user-analyst")).json()
    assert (analyst["audience"], sum(m["count"] for m in analyst["months"])) == ("analyst", 1)
    partner = client.get(f"/api/places/{rank}/profile", headers=bearer(client, "user-neighbourhood")).json()
    assert partner["audience"] == "partner"
    assert {m["count"] for m in partner["months"]} == {None}
    assert partner["young_people_recently"] is None
    assert client.get("/api/places/999999/profile", headers=bearer(client, "user-analyst")).status_code == 404
