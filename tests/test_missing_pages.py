"""Missing episode pages: record and change an episode in UK time, every validation path, wording
review, linked entries, the list with its overdue tags, the places table and map, and isolation."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.web.missing import how_long
from contexts.missing.models import MissingEpisode, MissingEpisodeConcern
from mapping.places.models import Place, PlaceType
from tests.conftest import World
from tests.test_assessment_pages import HTML, csrf_of, input_value, signed_in
from tests.test_concerns import add as add_concern
from tests.test_young_people import create, headers

UK = ZoneInfo("Europe/London")
TODAY = datetime.now(UK).date()
FOUR_DAYS_AGO = TODAY - timedelta(days=4)
SIX_DAYS_AGO = TODAY - timedelta(days=6)


@pytest.fixture
def browser(client: TestClient, world: World) -> TestClient:
    """The practitioner signed in through the web, having given a reason."""
    return signed_in(client, "user-practitioner")


@pytest.fixture
def person_id(client: TestClient, world: World) -> int:
    """A young person of the practitioner's agency."""
    return int(create(client, headers(client, "user-practitioner"))["id"])


@pytest.fixture
def place(db_session: Session) -> Place:
    """A place known to the partnership."""
    found = Place(
        name="Station Road takeaway", place_type=PlaceType.TAKEAWAY, geom="SRID=4326;POINT(-1.5 52.4)"
    )
    db_session.add(found)
    db_session.flush()
    return found


def when(prefix: str, day: date | None, clock: str = "") -> dict[str, str]:
    """The four date and time boxes of one question."""
    return {
        f"{prefix}-day": str(day.day) if day else "",
        f"{prefix}-month": str(day.month) if day else "",
        f"{prefix}-year": str(day.year) if day else "",
        f"{prefix}-time": clock,
    }


def fields(token: str, **changes: Any) -> dict[str, Any]:
    """A valid episode: missing six days ago from an address, still missing."""
    return {
        "csrf_token": token,
        "missing_from_place_id": "",
        "missing_from_address": "Oak House children's home",
        **when("missing_since", SIX_DAYS_AGO, "21:30"),
        **when("reported_at", SIX_DAYS_AGO, "23:05"),
        **when("found_at", None),
        "found_place_id": "",
        "found_address": "",
        "found_with": "",
        **when("return_interview", None),
        "notes": "Left after tea; staff searched the grounds.",
        **changes,
    }


def new_url(person_id: int) -> str:
    """The record-an-episode form of a young person."""
    return f"/young-people/{person_id}/missing/new"


def count(db_session: Session) -> int:
    """How many episodes exist."""
    return int(db_session.scalar(select(func.count()).select_from(MissingEpisode)) or 0)


def record(client: TestClient, person_id: int, **changes: Any) -> int:
    """Fill in and send the record form; return the new episode's id."""
    form = client.get(new_url(person_id), headers=HTML)
    response = client.post(
        new_url(person_id), data=fields(csrf_of(form.text), **changes), headers=HTML, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/missing-episodes/(\d+)\?saved=recorded", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


def uk(day: date, clock: str) -> datetime:
    """A UK date and time as a UTC time."""
    hours, minutes = clock.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), tzinfo=UK).astimezone(UTC)


def hours(span: timedelta) -> str:
    """A duration as the pages word it (one clock change may fall inside it)."""
    return how_long(span.total_seconds() / 3600)


def test_the_form_asks_for_dates_with_times(browser: TestClient, person_id: int, place: Place) -> None:
    page = browser.get(new_url(person_id), headers=HTML)
    assert page.status_code == 200
    assert "Record a missing episode" in page.text
    for name in ("missing_since", "reported_at", "found_at", "return_interview"):
        for part in ("day", "month", "year", "time"):
            assert f'name="{name}-{part}"' in page.text
    assert (
        f'<option value="{place.id}">Station Road takeaway – Fast-food outlet or takeaway</option>'
        in page.text
    )
    assert "Times are UK time" in page.text


def test_an_empty_form_names_what_is_missing_and_saves_nothing(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    response = browser.post(new_url(person_id), data={"csrf_token": csrf_of(form.text)}, headers=HTML)
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert "Select the place they went missing from, or enter an address" in response.text
    assert "Enter the date and time they went missing" in response.text
    assert 'href="#missing_from_place_id"' in response.text
    assert 'href="#missing_since-day"' in response.text
    assert count(db_session) == 0


@pytest.mark.parametrize(
    ("changes", "message", "anchor"),
    [
        (
            {**when("found_at", SIX_DAYS_AGO, "20:00")},
            "The time they were found cannot be before the time they went missing",
            "found_at-day",
        ),
        (
            {**when("missing_since", TODAY + timedelta(days=2), "10:00"), **when("reported_at", None)},
            "The time they went missing cannot be in the future",
            "missing_since-day",
        ),
        (
            {**when("reported_at", SIX_DAYS_AGO, "20:00")},
            "The time they were reported missing cannot be before the time they went missing",
            "reported_at-day",
        ),
        (
            {**when("missing_since", SIX_DAYS_AGO, "25:99")},
            "Enter the time using the 24-hour clock",
            "missing_since-day",
        ),
        (
            {**when("missing_since", SIX_DAYS_AGO, "")},
            "Enter the time as well as the date",
            "missing_since-day",
        ),
        (
            {"missing_since-day": "31", "missing_since-month": "2", "missing_since-year": str(TODAY.year)},
            "Enter a real date",
            "missing_since-day",
        ),
        (
            {"found_with": "Two adults in a car"},
            "Enter the date and time they were found, or leave where and with whom empty",
            "found_at-day",
        ),
        (
            {
                **when("found_at", FOUR_DAYS_AGO, "08:00"),
                **when("return_interview", FOUR_DAYS_AGO, "07:00"),
            },
            "The return interview cannot be offered before they were found",
            "return_interview-day",
        ),
        (
            {**when("found_at", FOUR_DAYS_AGO, "08:00"), "return_interview_declined": "yes"},
            "Enter when the return interview was offered before saying it was declined",
            "return_interview_declined",
        ),
        ({"missing_from_place_id": "999999"}, "That place does not exist.", "missing_from_place_id"),
    ],
)
def test_bad_input_is_named_and_nothing_is_saved(
    browser: TestClient,
    person_id: int,
    db_session: Session,
    changes: dict[str, str],
    message: str,
    anchor: str,
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    sent = fields(csrf_of(form.text), **changes)
    response = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert response.status_code == 422
    assert message in response.text
    assert f'href="#{anchor}"' in response.text
    assert "Left after tea; staff searched the grounds.</textarea>" in response.text
    assert input_value(response.text, "missing_since-time") == sent["missing_since-time"]
    assert count(db_session) == 0


def test_flagged_wording_is_shown_for_review_then_saved(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    sent = fields(csrf_of(form.text), notes="She keeps going missing and absconded again.")
    warned = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert warned.status_code == 200
    assert "Some wording may blame the young person" in warned.text
    assert "In the notes" in warned.text
    assert count(db_session) == 0
    saved = browser.post(
        new_url(person_id), data={**sent, "wording_reviewed": "yes"}, headers=HTML, follow_redirects=False
    )
    assert saved.status_code == 303
    assert count(db_session) == 1


def test_an_episode_is_recorded_in_uk_time_with_its_place_and_linked_entries(
    browser: TestClient, person_id: int, place: Place, db_session: Session
) -> None:
    entry = add_concern(
        browser, headers(browser, "user-practitioner"), person_id, summary="Seen at <the> station"
    )
    episode_id = record(
        browser,
        person_id,
        missing_from_place_id=str(place.id),
        missing_from_address="",
        concerns=[str(entry["id"])],
        **when("found_at", FOUR_DAYS_AGO, "7:15"),
        found_address="Car park behind the market",
        found_with="Two older males <b>unknown</b>",
    )
    stored = db_session.get(MissingEpisode, episode_id)
    assert stored is not None
    assert stored.missing_since == uk(SIX_DAYS_AGO, "21:30")
    assert stored.reported_at == uk(SIX_DAYS_AGO, "23:05")
    assert stored.found_at == uk(FOUR_DAYS_AGO, "07:15")
    assert stored.missing_from_place_id == place.id
    links = db_session.scalars(
        select(MissingEpisodeConcern.concern_id).where(MissingEpisodeConcern.missing_episode_id == episode_id)
    ).all()
    assert list(links) == [entry["id"]]

    page = browser.get(f"/missing-episodes/{episode_id}?saved=recorded", headers=HTML).text
    assert "Missing episode recorded." in page
    assert "Station Road takeaway" in page
    assert f"{SIX_DAYS_AGO:%-d %B %Y}, 21:30" in page
    assert f"{FOUR_DAYS_AGO:%-d %B %Y}, 07:15" in page
    assert "Two older males &lt;b&gt;unknown&lt;/b&gt;" in page
    assert "1 day" in page
    assert "Overdue" in page
    assert f'href="/young-people/{person_id}/chronology?view=list#entry-{entry["id"]}"' in page
    assert "Seen at &lt;the&gt; station" in page


def test_the_list_shows_durations_overdue_interviews_and_the_places(
    browser: TestClient, person_id: int, place: Place, db_session: Session
) -> None:
    still = record(
        browser,
        person_id,
        **when("missing_since", TODAY - timedelta(days=1), "10:00"),
        **when("reported_at", None),
    )
    overdue = record(
        browser,
        person_id,
        missing_from_place_id=str(place.id),
        **when("found_at", FOUR_DAYS_AGO, "09:30"),
        found_with="Her aunt",
    )
    offered = record(
        browser,
        person_id,
        **when("missing_since", TODAY - timedelta(days=10), "18:00"),
        **when("reported_at", None),
        **when("found_at", TODAY - timedelta(days=9), "20:00"),
        **when("return_interview", TODAY - timedelta(days=8)),
        return_interview_declined="yes",
    )
    page = browser.get(f"/young-people/{person_id}/missing", headers=HTML).text
    assert "3 episodes, newest first" in page
    assert (
        page.index(f'id="episode-{still}"')
        < page.index(f'id="episode-{overdue}"')
        < page.index(f'id="episode-{offered}"')
    )
    rows = dict(re.findall(r'id="episode-(\d+)">(.*?)</tr>', page, re.S))
    assert "Still missing" in rows[str(still)]
    assert "Overdue" in rows[str(overdue)]
    assert "Her aunt" in rows[str(overdue)]
    assert hours(uk(FOUR_DAYS_AGO, "09:30") - uk(SIX_DAYS_AGO, "21:30")) in rows[str(overdue)]
    assert "Declined" in rows[str(offered)]
    assert f"Offered {TODAY - timedelta(days=8):%-d %B %Y}" in rows[str(offered)]
    assert (
        hours(uk(TODAY - timedelta(days=9), "20:00") - uk(TODAY - timedelta(days=10), "18:00"))
        in rows[str(offered)]
    )
    # The map is drawn by a module from the API; the same places are in a table beside it.
    assert 'src="/static/build/leaflet/leaflet.js"' in page
    assert '<script type="module" src="/static/js/missing-map.mjs"></script>' in page
    assert f'data-places-url="/api/young-people/{person_id}/missing-places"' in page
    assert 'role="region" aria-label="Map of the places' in page
    assert "https://" not in page
    places_table = page.split('id="places-caption"', 1)[1]
    assert places_table.count('<td class="govuk-table__cell">Went missing from</td>') == 1
    assert "Found at</td>" not in places_table
    assert "Station Road takeaway" in places_table
    assert "2 places were recorded only as an address" in places_table
    assert "Oak House children&#39;s home" in rows[str(still)]
    stored = db_session.get(MissingEpisode, offered)
    assert stored is not None
    assert stored.return_interview_offered_at == uk(TODAY - timedelta(days=8), "12:00")


def test_the_map_api_answers_the_signed_in_browser(browser: TestClient, person_id: int, place: Place) -> None:
    record(
        browser, person_id, missing_from_place_id=str(place.id), **when("found_at", FOUR_DAYS_AGO, "09:30")
    )
    response = browser.get(
        f"/api/young-people/{person_id}/missing-places", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert [f["properties"]["kind"] for f in body["features"]] == ["missing_from"]
    assert body["features"][0]["geometry"] == {"type": "Point", "coordinates": [-1.5, 52.4]}


def test_changing_an_episode_records_when_found_and_a_stale_version_keeps_what_was_typed(
    browser: TestClient, person_id: int, place: Place, db_session: Session
) -> None:
    head = headers(browser, "user-practitioner")
    first = add_concern(browser, head, person_id, summary="First entry")
    second = add_concern(browser, head, person_id, summary="Second entry")
    episode_id = record(browser, person_id, concerns=[str(first["id"])])
    url = f"/missing-episodes/{episode_id}/edit"
    form = browser.get(url, headers=HTML)
    assert form.status_code == 200
    assert input_value(form.text, "missing_since-time") == "21:30"
    assert input_value(form.text, "missing_since-day") == str(SIX_DAYS_AGO.day)
    version = re.search(r'name="version" value="(\d+)"', form.text)
    assert version is not None
    found = {
        **fields(csrf_of(form.text), version=version.group(1), concerns=[str(second["id"])]),
        **when("found_at", TODAY, "00:05"),
        "found_place_id": str(place.id),
        "found_with": "Alone",
        **when("return_interview", TODAY),
    }
    db_session.execute(
        update(MissingEpisode)
        .where(MissingEpisode.id == episode_id)
        .values(notes="Changed elsewhere", version=MissingEpisode.version + 1)
    )
    db_session.flush()
    stale = browser.post(url, data=found, headers=HTML)
    assert stale.status_code == 409
    assert "Someone changed this episode since you opened it" in stale.text
    assert input_value(stale.text, "found_with") == "Alone"
    fresh = re.search(r'name="version" value="(\d+)"', stale.text)
    assert fresh is not None
    saved = browser.post(url, data={**found, "version": fresh.group(1)}, headers=HTML, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/missing-episodes/{episode_id}?saved=changed"
    db_session.expire_all()
    stored = db_session.get(MissingEpisode, episode_id)
    assert stored is not None
    assert stored.found_at == uk(TODAY, "00:05")
    assert stored.found_place_id == place.id
    assert stored.return_interview_offered_at is not None
    assert stored.found_at <= stored.return_interview_offered_at <= datetime.now(UTC)
    links = db_session.scalars(
        select(MissingEpisodeConcern.concern_id).where(MissingEpisodeConcern.missing_episode_id == episode_id)
    ).all()
    assert list(links) == [second["id"]]


def test_other_agency_gets_404(client: TestClient, world: World, person_id: int) -> None:
    practitioner = signed_in(client, "user-practitioner")
    episode_id = record(practitioner, person_id)
    other = signed_in(client, "other-practitioner", "Duty enquiry")
    for path in (
        f"/missing-episodes/{episode_id}",
        f"/missing-episodes/{episode_id}/edit",
        f"/young-people/{person_id}/missing",
        new_url(person_id),
    ):
        assert other.get(path, headers=HTML).status_code == 404, path
