"""Place profile: monthly counts per audience, trend, nearby places, linked-by-place alerts, audited names."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Actor
from contexts.accounts.models import User
from contexts.accounts.service import actor_for
from contexts.audit.models import AuditAction, AuditEvent
from mapping.disclosure import DisclosurePolicy
from mapping.places.alerts import LinkedPlaceAlert, linked_place_alerts
from mapping.places.models import Place
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


def actor_named(session: Session, username: str) -> Actor:
    """The actor of a test user."""
    return actor_for(session.scalars(select(User).where(User.username == username)).one())


def profile_for(session: Session, username: str, place_id: int) -> Any:
    """The profile as a user sees it."""
    actor = actor_named(session, username)
    return place_profile(session=session, actor=actor, place_id=place_id, policy=DisclosurePolicy())


def three_linked_and_one_too_far(client: TestClient, rank: int) -> None:
    """Three young people linked to the rank (two at it, one 70 m away) and one concern 1.4 km off."""
    head = headers(client, "user-practitioner")
    first, second, third = young_people(client, head, 3)
    at_rank(client, head, first, rank, 5)
    at_rank(client, head, second, rank, 20)
    near = (NOW - timedelta(days=40)).isoformat()
    add_concern(client, head, third, longitude=NEAR[0], latitude=NEAR[1], occurred_at=near)
    far = (NOW - timedelta(days=2)).isoformat()
    add_concern(client, head, third, longitude=FAR[0], latitude=FAR[1], occurred_at=far)


def test_three_young_people_at_one_place_raise_an_alert_for_analysts_and_the_lead_agency(
    client: TestClient, rank: int, db_session: Session
) -> None:
    three_linked_and_one_too_far(client, rank)
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


def alerts_for(session: Session, username: str, rule: LinkRule | None = None) -> list[LinkedPlaceAlert]:
    """The linked-by-place alerts a user is told of."""
    return linked_place_alerts(session=session, actor=actor_named(session, username), rule=rule)


def test_alert_list_names_the_place_for_analysts_and_the_lead_agency_only(
    client: TestClient, rank: int, db_session: Session
) -> None:
    three_linked_and_one_too_far(client, rank)
    (analyst,) = alerts_for(db_session, "user-analyst")
    profile = profile_for(db_session, "user-analyst", rank)
    assert (analyst.place_id, analyst.name, analyst.type_label) == (rank, "Station taxi rank", "Taxi rank")
    assert analyst.young_people == profile.young_people_recently == 3
    assert analyst.latest > NOW - timedelta(days=6)
    (practitioner,) = alerts_for(db_session, "user-practitioner")
    assert (practitioner.young_people, practitioner.own_young_people) == (3, 3)
    assert alerts_for(db_session, "other-practitioner") == []
    assert alerts_for(db_session, "user-neighbourhood") == []


def test_a_concern_at_a_place_links_only_to_that_place_and_a_point_to_every_place_near_it(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    people = young_people(client, head, 4)
    takeaway = db_session.scalars(select(Place.id).where(Place.name == "Late takeaway")).one()
    for person in people[:3]:
        at_rank(client, head, person, takeaway, 3)
    # 70 m from the rank and about 230 m from the takeaway: linked to the rank only.
    add_concern(client, head, people[3], longitude=NEAR[0], latitude=NEAR[1], occurred_at=NOW.isoformat())
    assert [(a.name, a.young_people) for a in alerts_for(db_session, "user-analyst")] == [
        ("Late takeaway", 3)
    ]
    assert [a.young_people for a in alerts_for(db_session, "user-analyst", LinkRule(minimum=2))] == [3]
    wide = LinkRule(radius_m=300, minimum=4)
    assert [(a.name, a.young_people) for a in alerts_for(db_session, "user-analyst", wide)] == [
        ("Late takeaway", 4)
    ]


def test_other_agencies_agency_only_entries_do_not_count_towards_their_alerts(
    client: TestClient, rank: int, db_session: Session
) -> None:
    head = headers(client, "user-practitioner")
    first, second, third = young_people(client, head, 3)
    at_rank(client, head, first, rank, 5)
    at_rank(client, head, second, rank, 6)
    at_rank(client, head, third, rank, 7, sensitivity="agency_only")
    assert [a.young_people for a in alerts_for(db_session, "user-practitioner")] == [3]
    assert [a.young_people for a in alerts_for(db_session, "user-analyst")] == [3]
    other = headers(client, "other-practitioner")
    (visitor,) = [
        int(create(client, other, given_name="Femi", family_name="Adeyemi", confirm_not_duplicate=True)["id"])
    ]
    at_rank(client, other, visitor, rank, 2)
    (alert,) = alerts_for(db_session, "other-practitioner")
    assert (alert.young_people, alert.own_young_people) == (3, 1)


def test_home_pages_and_api_tell_of_linked_places_with_markup_inert(
    client: TestClient, world: World, db_session: Session
) -> None:
    analyst = bearer(client, "user-analyst")
    rank = add_place(client, analyst, name="<b>Bold</b> rank", geometry=RANK)["id"]
    head = headers(client, "user-practitioner")
    for person in young_people(client, head, 3):
        at_rank(client, head, person, rank, 1)
    web_sign_in(client, "user-practitioner")
    home = client.get("/").text
    assert "Linked by place" in home
    assert "&lt;b&gt;Bold&lt;/b&gt; rank" in home
    assert "<b>Bold</b>" not in home
    assert f'href="/places/{rank}/young-people"' in home
    client.cookies.clear()
    web_sign_in(client, "user-neighbourhood")
    assert "Linked by place" not in client.get("/").text
    answer = client.get("/api/linked-by-place", headers=analyst).json()
    assert answer["rule"] == {"radius_m": 150.0, "days": 90, "minimum": 3}
    assert [(p["place_id"], p["young_people"]) for p in answer["places"]] == [(rank, 3)]
    partner = client.get("/api/linked-by-place", headers=bearer(client, "user-neighbourhood")).json()
    assert partner["places"] == []


def test_home_page_keeps_an_agencys_linked_places_for_a_minute(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = bearer(client, "user-analyst")
    rank = add_place(client, analyst, name="Depot rank", geometry=RANK)["id"]
    head = headers(client, "user-practitioner")
    first, second, third, fourth = young_people(client, head, 4)
    for person in (first, second, third):
        at_rank(client, head, person, rank, 1)
    web_sign_in(client, "user-practitioner")
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">3</td>' in client.get("/").text
    at_rank(client, head, fourth, rank, 1)
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">3</td>' in client.get("/").text
    monkeypatch.setattr("app.web.pages.LINK_ALERTS_FRESH_FOR", 0.0)
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">4</td>' in client.get("/").text
