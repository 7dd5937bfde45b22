"""Link pages: provenance on every link, past-review tags, the add-a-link form with its searches, a new
person of concern made in the same step, every validation path, wording review, and isolation."""

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.persons.models import PersonLink, PersonOfConcern
from tests.conftest import World
from tests.test_assessment_pages import HTML, csrf_of, input_value, signed_in
from tests.test_persons import add_link, link, new_person
from tests.test_young_people import create, headers

TODAY = date.today()


@pytest.fixture
def browser(client: TestClient, world: World) -> TestClient:
    """The practitioner signed in through the web, having given a reason."""
    return signed_in(client, "user-practitioner")


@pytest.fixture
def person_id(client: TestClient, world: World) -> int:
    """A young person of the practitioner's agency."""
    return int(create(client, headers(client, "user-practitioner"))["id"])


def new_url(person_id: int) -> str:
    """The add-a-link form of a young person."""
    return f"/young-people/{person_id}/links/new"


def fields(token: str, world: World, **changes: Any) -> dict[str, Any]:
    """A valid link to a new person of concern, observed five days ago, graded 2 C P."""
    observed = TODAY - timedelta(days=5)
    return {
        "csrf_token": token,
        "who": "new",
        "yp_q": "",
        "linked_young_person_id": "",
        "poc_q": "",
        "person_of_concern_id": "",
        "poc_name": "Tyrone Example",
        "poc_aliases": "Big T, T-Man",
        "poc_age": "30",
        "poc_description": "Drives a black hatchback.",
        "relationship_type": "adult_of_concern",
        "description": "Seen collecting her from school in a car.",
        "source_agency_id": str(world.other_agency.id),
        "source_evaluation": "2",
        "intelligence_assessment": "C",
        "handling_code": "P",
        "observed-day": str(observed.day),
        "observed-month": str(observed.month),
        "observed-year": str(observed.year),
        "review-day": "",
        "review-month": "",
        "review-year": "",
        **changes,
    }


def counts(db_session: Session) -> tuple[int, int]:
    """How many links and persons of concern exist."""
    links = db_session.scalar(select(func.count()).select_from(PersonLink)) or 0
    people = db_session.scalar(select(func.count()).select_from(PersonOfConcern)) or 0
    return int(links), int(people)


def post(client: TestClient, person_id: int, world: World, **changes: Any) -> Any:
    """Send the add-a-link form."""
    form = client.get(new_url(person_id) + "?who=new", headers=HTML)
    return client.post(
        new_url(person_id),
        data=fields(csrf_of(form.text), world, **changes),
        headers=HTML,
        follow_redirects=False,
    )


def test_the_first_question_is_who_then_the_form_asks_how_where_from_and_when(
    browser: TestClient, person_id: int, world: World
) -> None:
    choose = browser.get(new_url(person_id), headers=HTML)
    assert choose.status_code == 200
    for value in ("young_person", "existing", "new"):
        assert f'name="who" type="radio" value="{value}"' in choose.text
    assert "Nobody is labelled by association alone" in choose.text
    unanswered = browser.get(new_url(person_id) + "?who=", headers=HTML)
    assert unanswered.status_code == 422
    assert "Select who the young person is linked to" in unanswered.text
    assert 'href="#who"' in unanswered.text
    page = browser.get(new_url(person_id) + "?who=new", headers=HTML)
    assert page.status_code == 200
    assert "Add a link to a new person of concern" in page.text
    assert 'name="who" value="new"' in page.text
    assert 'name="poc_name"' in page.text
    assert 'name="linked_young_person_id"' not in page.text
    assert f'<option value="{world.other_agency.id}">Test agency second</option>' in page.text
    for name in ("source_evaluation", "intelligence_assessment", "handling_code"):
        assert f'name="{name}"' in page.text
    assert input_value(page.text, "observed-day") == str(TODAY.day)
    assert input_value(page.text, "review-day") == ""
    assert "Leave empty to review it 90 days after" in page.text
    young = browser.get(new_url(person_id) + "?who=young_person", headers=HTML).text
    assert 'name="linked_young_person_id"' in young
    assert 'name="poc_name"' not in young


def test_an_empty_form_names_what_is_missing_and_saves_nothing(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id) + "?who=new", headers=HTML)
    response = browser.post(
        new_url(person_id),
        data={
            "csrf_token": csrf_of(form.text),
            "who": "new",
            "observed-day": "",
            "observed-month": "",
            "observed-year": "",
        },
        headers=HTML,
    )
    assert response.status_code == 422
    for message, anchor in (
        ("Enter the name the person is known by", "poc_name"),
        ("Select how they are related", "relationship_type"),
        ("Select the agency the information came from", "source_agency_id"),
        ("Enter the date the link was known to be true", "observed-day"),
    ):
        assert message in response.text
        assert f'href="#{anchor}"' in response.text
    tampered = browser.post(
        new_url(person_id), data={"csrf_token": csrf_of(form.text), "who": "x"}, headers=HTML
    )
    assert tampered.status_code == 422
    assert "Select who the young person is linked to" in tampered.text
    assert counts(db_session) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message", "anchor"),
    [
        (
            {"intelligence_assessment": ""},
            "Give all three parts of the 3x5x2 grading, or none",
            "intelligence_assessment",
        ),
        (
            {"observed-day": "1", "observed-month": "1", "observed-year": str(TODAY.year + 1)},
            "The date observed cannot be in the future",
            "observed-day",
        ),
        (
            {"review-day": "1", "review-month": "1", "review-year": str(TODAY.year - 1)},
            "The review date must be after the date observed",
            "review-day",
        ),
        ({"poc_name": ""}, "Enter the name the person is known by", "poc_name"),
        ({"poc_age": "old"}, "Enter the approximate age as a whole number", "poc_age"),
        ({"who": "young_person"}, "Select the young person they are linked to", "linked_young_person_id"),
        ({"who": "existing"}, "Select the person of concern they are linked to", "person_of_concern_id"),
        ({"source_agency_id": "999999"}, "nobody is linked by association alone", "source_agency_id"),
        ({"relationship_type": "enemy"}, "Select how they are related", "relationship_type"),
    ],
)
def test_bad_input_is_named_keeps_what_was_typed_and_saves_nothing(
    browser: TestClient,
    person_id: int,
    world: World,
    db_session: Session,
    changes: dict[str, str],
    message: str,
    anchor: str,
) -> None:
    response = post(browser, person_id, world, **changes)
    assert response.status_code == 422
    assert message in response.text
    assert f'href="#{anchor}"' in response.text
    assert "Seen collecting her from school in a car.</textarea>" in response.text
    assert counts(db_session) == (0, 0)


def test_search_finds_young_people_to_choose_from_without_saving(
    browser: TestClient, person_id: int, world: World, db_session: Session
) -> None:
    head = headers(browser, "user-practitioner")
    bailey = create(browser, head, given_name="Bailey", family_name="Greywell")
    create(browser, head, given_name="Morgan", family_name="Hollins")
    found = post(browser, person_id, world, who="young_person", find="young_person", yp_q="Greywell")
    assert found.status_code == 200
    options = re.findall(
        r'<option value="(\d+)"', found.text.split('id="linked_young_person_id"', 1)[1].split("</select>")[0]
    )
    assert options == [str(bailey["id"])]
    assert input_value(found.text, "yp_q") == "Greywell"
    assert "Seen collecting her from school in a car.</textarea>" in found.text
    everyone = post(browser, person_id, world, who="young_person", find="young_person", yp_q="")
    listed = everyone.text.split('id="linked_young_person_id"', 1)[1].split("</select>")[0]
    assert f'value="{person_id}"' not in listed, "a young person is not offered a link to themselves"
    assert counts(db_session) == (0, 0)


def test_a_link_to_another_young_person_shows_its_provenance(
    browser: TestClient, person_id: int, world: World
) -> None:
    friend = create(
        browser, headers(browser, "user-practitioner"), given_name="Bailey", family_name="Greywell"
    )
    saved = post(
        browser,
        person_id,
        world,
        who="young_person",
        linked_young_person_id=str(friend["id"]),
        relationship_type="peer",
        source_evaluation="",
        intelligence_assessment="",
        handling_code="",
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/young-people/{person_id}/links?added=1"
    page = browser.get(saved.headers["location"], headers=HTML).text
    assert "Link added." in page
    assert f'<a class="govuk-link" href="/young-people/{friend["id"]}">Bailey Greywell</a>' in page
    assert "Young person · Peer" in page
    assert "Test agency second" in page
    assert "Not graded" in page
    observed = TODAY - timedelta(days=5)
    assert f"{observed:%-d %B %Y}" in page
    assert f"{observed + timedelta(days=90):%-d %B %Y}" in page
    assert "Past review date" not in page
    # The other young person's record shows the same link, pointing back.
    back = browser.get(f"/young-people/{friend['id']}/links", headers=HTML).text
    assert "Jordan Ashdown" in back
    assert "recorded on Jordan Ashdown&#39;s record" in back


def test_a_new_person_of_concern_is_recorded_with_the_link(
    browser: TestClient, person_id: int, world: World, db_session: Session
) -> None:
    saved = post(browser, person_id, world)
    assert saved.status_code == 303, saved.text
    stored = db_session.scalars(select(PersonOfConcern)).one()
    assert (stored.name, stored.aliases, stored.approximate_age) == ("Tyrone Example", ["Big T", "T-Man"], 30)
    assert stored.description == "Drives a black hatchback."
    link_row = db_session.scalars(select(PersonLink)).one()
    assert link_row.person_of_concern_id == stored.id
    assert link_row.review_by_date == link_row.observed_date + timedelta(days=90)
    page = browser.get(f"/young-people/{person_id}/links", headers=HTML).text
    assert "Tyrone Example" in page
    assert "Person of concern · Adult of concern" in page
    assert "2 – untested source; C – known indirectly; P – may be shared lawfully" in page


def test_an_existing_person_of_concern_is_found_and_linked(
    browser: TestClient, person_id: int, world: World, db_session: Session
) -> None:
    known = new_person(browser, headers(browser, "user-practitioner"), name="Dean <Example>", aliases=["D"])
    found = post(browser, person_id, world, who="existing", find="existing", poc_q="dean")
    assert found.status_code == 200
    assert (
        f'<option value="{known["id"]}">Dean &lt;Example&gt; (also known as D; about 30)</option>'
        in found.text
    )
    saved = post(browser, person_id, world, who="existing", person_of_concern_id=str(known["id"]))
    assert saved.status_code == 303, saved.text
    assert counts(db_session) == (1, 1)


def test_flagged_wording_is_shown_for_review_then_saved(
    browser: TestClient, person_id: int, world: World, db_session: Session
) -> None:
    warned = post(browser, person_id, world, description="Her boyfriend, who is 24, picks her up.")
    assert warned.status_code == 200
    assert "Some wording may blame the young person" in warned.text
    assert "In the description" in warned.text
    assert counts(db_session) == (0, 0)
    saved = post(
        browser,
        person_id,
        world,
        description="Her boyfriend, who is 24, picks her up.",
        wording_reviewed="yes",
    )
    assert saved.status_code == 303
    assert counts(db_session) == (1, 1)


def test_links_past_their_review_date_are_tagged(browser: TestClient, person_id: int, world: World) -> None:
    head = headers(browser, "user-practitioner")
    other = new_person(browser, head)
    add_link(
        browser,
        head,
        person_id,
        link(
            world,
            person_of_concern_id=other["id"],
            observed_date=(TODAY - timedelta(days=200)).isoformat(),
            description="<script>alert(1)</script>",
        ),
    )
    fresh = new_person(browser, head, name="Someone Else")
    add_link(browser, head, person_id, link(world, person_of_concern_id=fresh["id"]))
    page = browser.get(f"/young-people/{person_id}/links", headers=HTML).text
    assert "2 links, most recently observed first; 1 past its review date." in page
    cards = re.findall(
        r'<div class="govuk-summary-card csmap-link-card" id="link-\d+">(.*?)</dl>', page, re.S
    )
    assert len(cards) == 2
    assert "Past review date" not in cards[0]
    assert "Past review date" in cards[1]
    assert "past its review date: check the link still holds" in cards[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cards[1]
    assert "<script>alert(1)</script>" not in page


def test_other_agency_gets_404(client: TestClient, world: World, person_id: int) -> None:
    other = signed_in(client, "other-practitioner", "Duty enquiry")
    for path in (f"/young-people/{person_id}/links", new_url(person_id)):
        assert other.get(path, headers=HTML).status_code == 404, path
