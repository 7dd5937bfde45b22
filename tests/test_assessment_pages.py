"""Risk assessment pages: the form without JavaScript, every validation path, wording review, the
proportional weighting boxes, stale versions, supervisor sign-off rules, history and what changed."""

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.assessments.models import AssessmentStatus, RiskAssessment
from contexts.assessments.service import three_months_from
from tests.conftest import World, make_user, web_sign_in
from tests.test_concerns import add as add_concern
from tests.test_young_people import create, headers

HTML = {"Accept": "text/html"}
TODAY = date.today()


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms."""
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def input_value(page: str, name: str) -> str | None:
    """The value of the first input with this name in a page, or None when there is none."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    if tag is None:
        return None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def signed_in(client: TestClient, username: str, reason: str = "Allocated worker") -> TestClient:
    """Sign in through the web as a browser would and give the reason for opening records."""
    client.cookies.clear()
    web_sign_in(client, username)
    form = client.get("/reason", headers=HTML)
    response = client.post(
        "/reason",
        data={"csrf_token": csrf_of(form.text), "choice": reason, "next": "/young-people"},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def browser(client: TestClient, world: World) -> TestClient:
    """The practitioner signed in through the web, having given a reason."""
    return signed_in(client, "user-practitioner")


@pytest.fixture
def person_id(client: TestClient, world: World) -> int:
    """A young person of the practitioner's agency."""
    return int(create(client, headers(client, "user-practitioner"))["id"])


def fields(token: str, **changes: Any) -> dict[str, Any]:
    """A valid assessment form, as the browser sends it (with the empty rows left empty)."""
    due = TODAY + timedelta(days=14)
    base: dict[str, Any] = {
        "csrf_token": token,
        "indicators-0-context": "neighbourhood",
        "indicators-0-sign": "risk",
        "indicators-0-indicator": "Seen at hotels with older males",
        "indicators-0-evidence": "Two sightings reported by the hotel manager.",
        "indicators-1-context": "",
        "indicators-1-indicator": "",
        "indicators-1-evidence": "",
        "protective-0-context": "school",
        "protective-0-description": "Trusted relationship with the form tutor",
        "protective-1-context": "",
        "protective-1-description": "",
        "weight-individual": "10",
        "weight-home": "10",
        "weight-peer_group": "30",
        "weight-school": "0",
        "weight-neighbourhood": "50",
        "judgement": "Adults at the hotel may be exploiting her; the peer group is how they reach her.",
        "local_category": "significant risk",
        "actions-0-context": "neighbourhood",
        "actions-0-who": "Licensing team",
        "actions-0-what": "Visit the hotel",
        "actions-0-due-day": str(due.day),
        "actions-0-due-month": str(due.month),
        "actions-0-due-year": str(due.year),
        "actions-1-context": "",
        "actions-1-who": "",
        "actions-1-what": "",
        "actions-1-due-day": "",
        "actions-1-due-month": "",
        "actions-1-due-year": "",
        "review-day": "",
        "review-month": "",
        "review-year": "",
        "action": "draft",
    }
    return {**base, **changes}


def count(db_session: Session) -> int:
    """How many assessments exist."""
    return int(db_session.scalar(select(func.count()).select_from(RiskAssessment)) or 0)


def new_url(person_id: int) -> str:
    """The new-assessment form of a young person."""
    return f"/young-people/{person_id}/assessments/new"


def save(client: TestClient, person_id: int, **changes: Any) -> int:
    """Fill in and send the new-assessment form; return the new assessment's id."""
    form = client.get(new_url(person_id), headers=HTML)
    response = client.post(
        new_url(person_id), data=fields(csrf_of(form.text), **changes), headers=HTML, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/assessments/(\d+)\?saved=\w+", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


def test_the_form_offers_empty_rows_and_a_review_date_three_months_on(
    browser: TestClient, person_id: int
) -> None:
    page = browser.get(new_url(person_id), headers=HTML)
    assert page.status_code == 200
    for row in range(3):
        assert f'name="indicators-{row}-indicator"' in page.text
        assert f'name="protective-{row}-description"' in page.text
        assert f'name="actions-{row}-who"' in page.text
    assert 'name="indicators-3-indicator"' not in page.text
    review = three_months_from(TODAY)
    assert input_value(page.text, "review-day") == str(review.day)
    assert input_value(page.text, "review-year") == str(review.year)
    none_chosen = re.search(r'<input[^>]*name="local_category"[^>]*value=""[^>]*>', page.text)
    assert none_chosen is not None
    assert "checked" in none_chosen.group(0)
    assert "Save as draft" in page.text
    assert "Send for sign-off" in page.text


def test_an_empty_form_names_what_is_missing_and_saves_nothing(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    response = browser.post(
        new_url(person_id), data={"csrf_token": csrf_of(form.text), "action": "submit"}, headers=HTML
    )
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert "Enter the context weighting: five whole numbers that add up to 100" in response.text
    assert "Enter your judgement and the reasons for it" in response.text
    assert 'href="#weight-individual"' in response.text
    assert 'href="#judgement"' in response.text
    assert count(db_session) == 0


def test_weighting_must_add_up_to_100_and_the_error_names_the_total(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    sent = fields(csrf_of(form.text), **{"weight-neighbourhood": "40", "judgement": "Typed <b>judgement</b>"})
    response = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert response.status_code == 422
    assert "The context weighting must add up to 100 (it adds up to 90)" in response.text
    assert input_value(response.text, "weight-neighbourhood") == "40"
    assert "Typed &lt;b&gt;judgement&lt;/b&gt;</textarea>" in response.text
    assert input_value(response.text, "indicators-0-indicator") == "Seen at hotels with older males"
    assert count(db_session) == 0
    bad = browser.post(
        new_url(person_id), data={**sent, "weight-home": "ten", "weight-school": "150"}, headers=HTML
    )
    assert bad.status_code == 422
    assert "Enter the home weighting as a whole number from 0 to 100" in bad.text
    assert "Enter the school weighting as a whole number from 0 to 100" in bad.text
    assert 'href="#weight-home"' in bad.text


def test_each_row_and_date_problem_is_named_and_nothing_is_saved(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    late = three_months_from(TODAY) + timedelta(days=1)
    sent = fields(
        csrf_of(form.text),
        **{
            "indicators-1-indicator": "Unexplained money",
            "protective-1-context": "home",
            "actions-0-due-day": "1",
            "actions-0-due-month": "1",
            "actions-0-due-year": str(TODAY.year - 1),
            "actions-1-who": "Youth worker",
            "actions-1-due-day": "31",
            "actions-1-due-month": "2",
            "actions-1-due-year": str(TODAY.year + 1),
            "review-day": str(late.day),
            "review-month": str(late.month),
            "review-year": str(late.year),
            "local_category": "made up",
        },
    )
    response = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert response.status_code == 422
    for message in (
        "Indicator 2: select the context",
        "Indicator 2: select sign of risk or sign of harm",
        "Indicator 2: give the evidence (write it, tick entries from the chronology, or both)",
        "Protective factor 2: describe the protective factor",
        "Action 1: the date it will be done by cannot be in the past",
        "Action 2: select the context",
        "Action 2: enter what will be done",
        "Action 2: enter a real date",
        "The review date must be between today and",
        "Select a local category, or None chosen",
    ):
        assert message in response.text, message
    for anchor in ("#indicators-1-context", "#indicators-1-sign", "#actions-0-due-day", "#review-day"):
        assert f'href="{anchor}"' in response.text
    assert 'value="Youth worker"' in response.text
    assert count(db_session) == 0


def test_flagged_wording_is_shown_for_review_then_saved_as_written(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    form = browser.get(new_url(person_id), headers=HTML)
    sent = fields(
        csrf_of(form.text),
        judgement="She is putting herself at risk by going to the hotel.",
        **{"indicators-0-evidence": "Her boyfriend is 24 and keeps going missing with her."},
    )
    warned = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert warned.status_code == 200
    assert "Some wording may blame the young person" in warned.text
    assert "In the judgement" in warned.text
    assert "In the evidence for indicator 1" in warned.text
    assert "I have reviewed the wording" in warned.text
    assert count(db_session) == 0
    saved = browser.post(
        new_url(person_id), data={**sent, "wording_reviewed": "yes"}, headers=HTML, follow_redirects=False
    )
    assert saved.status_code == 303
    stored = db_session.scalars(select(RiskAssessment)).one()
    assert stored.judgement == "She is putting herself at risk by going to the hotel."


def test_a_sent_assessment_shows_evidence_links_and_proportional_boxes(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    head = headers(browser, "user-practitioner")
    entry = add_concern(browser, head, person_id, summary="Seen at the <Station> hotel")
    form = browser.get(new_url(person_id), headers=HTML)
    assert f'name="indicators-0-concerns" type="checkbox" value="{entry["id"]}"' in form.text
    assessment_id = save(
        browser,
        person_id,
        action="submit",
        **{"indicators-0-evidence": "", "indicators-0-concerns": [str(entry["id"])]},
    )
    stored = db_session.get(RiskAssessment, assessment_id)
    assert stored is not None
    assert stored.status is AssessmentStatus.SUBMITTED
    assert stored.indicators[0].concern_ids == [entry["id"]]
    assert stored.indicators[0].evidence is None
    assert [(a.who, a.what) for a in stored.actions] == [("Licensing team", "Visit the hotel")]
    assert len(stored.protective_factors) == 1
    assert stored.review_date == three_months_from(TODAY)

    page = browser.get(f"/assessments/{assessment_id}?saved=submitted", headers=HTML).text
    assert "Assessment sent for sign-off." in page
    assert "Waiting for sign-off" in page
    assert f'href="/young-people/{person_id}/chronology?view=list#entry-{entry["id"]}"' in page
    assert "Seen at the &lt;Station&gt; hotel" in page
    assert "Sign of risk" in page
    boxes = dict(
        re.findall(r'<rect class="csmap-weighting__box" data-context="(\w+)"[^>]* width="(\d+)%"', page)
    )
    assert boxes == {"individual": "10", "home": "10", "peer_group": "30", "neighbourhood": "50"}
    starts = re.findall(r'<rect class="csmap-weighting__box" data-context="\w+" x="(\d+)%"', page)
    assert starts == ["0", "10", "20", "50"]
    assert "Neighbourhood 50%" in page
    table = re.findall(
        r'<th scope="row" class="govuk-table__header">.*?</svg> (\w[\w ]*)</th>\s*<td[^>]*>(\d+)%', page
    )
    assert table == [
        ("Individual", "10"),
        ("Home", "10"),
        ("Peer group", "30"),
        ("School", "0"),
        ("Neighbourhood", "50"),
    ]
    assert "Significant risk (chosen by the practitioner)" in page
    assert "Licensing team" in page
    assert 'action="/assessments/' not in page, "a practitioner is not offered the sign-off form"


def test_editing_keeps_rows_adds_three_and_a_stale_version_keeps_what_was_typed(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    assessment_id = save(browser, person_id)
    url = f"/assessments/{assessment_id}/edit"
    form = browser.get(url, headers=HTML)
    assert form.status_code == 200
    assert 'value="Seen at hotels with older males"' in form.text
    assert 'name="indicators-3-indicator"' in form.text
    assert 'name="indicators-4-indicator"' not in form.text
    version = re.search(r'name="version" value="(\d+)"', form.text)
    assert version is not None
    token = csrf_of(form.text)
    # Someone else saves a change first.
    db_session.execute(
        update(RiskAssessment)
        .where(RiskAssessment.id == assessment_id)
        .values(judgement="Changed elsewhere", version=RiskAssessment.version + 1)
    )
    db_session.flush()
    typed = fields(token, version=version.group(1), judgement="My rewritten judgement")
    stale = browser.post(url, data=typed, headers=HTML)
    assert stale.status_code == 409
    assert "Someone changed this assessment since you opened it" in stale.text
    assert "My rewritten judgement</textarea>" in stale.text
    db_session.expire_all()
    stored = db_session.get(RiskAssessment, assessment_id)
    assert stored is not None
    assert stored.judgement == "Changed elsewhere"
    fresh = re.search(r'name="version" value="(\d+)"', stale.text)
    assert fresh is not None
    assert fresh.group(1) == str(stored.version)
    saved = browser.post(url, data={**typed, "version": fresh.group(1)}, headers=HTML, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/assessments/{assessment_id}?saved=changed"
    db_session.expire_all()
    stored = db_session.get(RiskAssessment, assessment_id)
    assert stored is not None
    assert stored.judgement == "My rewritten judgement"


def test_sign_off_rules(client: TestClient, world: World, person_id: int, db_session: Session) -> None:
    author = signed_in(client, "user-practitioner")
    assessment_id = save(author, person_id, action="submit")
    page = author.get(f"/assessments/{assessment_id}", headers=HTML).text
    version = re.search(r"Sign-off", page)
    assert version is not None
    denied = author.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(page), "version": "1"},
        headers=HTML,
    )
    assert denied.status_code == 403

    # A supervisor who wrote the assessment cannot sign it off.
    supervisor = signed_in(client, "user-supervisor")
    own = save(supervisor, person_id, action="submit")
    own_page = supervisor.get(f"/assessments/{own}", headers=HTML).text
    assert "another supervisor in your agency must sign it off" in own_page
    assert f'action="/assessments/{own}/sign-off"' not in own_page
    refused = supervisor.post(
        f"/assessments/{own}/sign-off", data={"csrf_token": csrf_of(own_page), "version": "1"}, headers=HTML
    )
    assert refused.status_code == 403

    # A supervisor in another agency cannot even see it.
    make_user(db_session, world.other_agency, "other-supervisor", Role.SUPERVISOR)
    db_session.commit()
    elsewhere = signed_in(client, "other-supervisor")
    assert elsewhere.get(f"/assessments/{assessment_id}", headers=HTML).status_code == 404
    hidden = elsewhere.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(elsewhere.get("/", headers=HTML).text), "version": "1"},
        headers=HTML,
    )
    assert hidden.status_code == 404

    # The supervisor of the agency, who did not write it, signs it off.
    supervisor = signed_in(client, "user-supervisor")
    view = supervisor.get(f"/assessments/{assessment_id}", headers=HTML).text
    assert f'action="/assessments/{assessment_id}/sign-off"' in view
    too_long = supervisor.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(view), "version": "1", "note": "x" * 5001},
        headers=HTML,
    )
    assert too_long.status_code == 422
    assert "The note must be 5,000 characters or fewer" in too_long.text
    stale = supervisor.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(view), "version": "99", "note": "Agreed"},
        headers=HTML,
    )
    assert stale.status_code == 409
    assert "The assessment changed since you opened it" in stale.text
    assert "Agreed</textarea>" in stale.text
    signed = supervisor.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(view), "version": "1", "note": "Agreed in supervision"},
        headers=HTML,
        follow_redirects=False,
    )
    assert signed.status_code == 303
    done = supervisor.get(signed.headers["location"], headers=HTML).text
    assert "Assessment signed off." in done
    assert "Signed off by Test user-supervisor" in done
    assert "Agreed in supervision" in done
    again = supervisor.post(
        f"/assessments/{assessment_id}/sign-off",
        data={"csrf_token": csrf_of(view), "version": "2"},
        headers=HTML,
    )
    assert again.status_code == 409
    assert "Only a submitted assessment can be signed off" in again.text
    # Signed off, it cannot change any more.
    assert supervisor.get(f"/assessments/{assessment_id}/edit", headers=HTML).status_code == 409


def test_history_is_newest_first_with_status_and_overdue_reviews(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    first = save(browser, person_id)
    second = save(browser, person_id, action="submit")
    db_session.execute(
        update(RiskAssessment)
        .where(RiskAssessment.id == first)
        .values(status=AssessmentStatus.SIGNED_OFF, review_date=TODAY - timedelta(days=2))
    )
    db_session.flush()
    page = browser.get(f"/young-people/{person_id}/assessments", headers=HTML).text
    assert "2 assessments, newest first" in page
    assert page.index(f'id="assessment-{second}"') < page.index(f'id="assessment-{first}"')
    rows = dict(re.findall(r'id="assessment-(\d+)">(.*?)</tr>', page, re.S))
    assert "Review overdue" in rows[str(first)]
    assert "Signed off" in rows[str(first)]
    assert "Review overdue" not in rows[str(second)]
    assert "Waiting for sign-off" in rows[str(second)]
    assert f'href="/assessments/{second}/changes"' in page
    assert f'href="/assessments/{first}/changes"' not in page


def test_changes_page_compares_with_the_assessment_before(browser: TestClient, person_id: int) -> None:
    first = save(browser, person_id)
    nothing = browser.get(f"/assessments/{first}/changes", headers=HTML).text
    assert "there is nothing earlier to compare it with" in nothing
    second = save(
        browser,
        person_id,
        judgement="The hotel is now the main concern.",
        local_category="serious risk",
        **{
            "weight-peer_group": "20",
            "weight-neighbourhood": "60",
            "indicators-0-sign": "harm",
            "indicators-1-context": "peer_group",
            "indicators-1-sign": "risk",
            "indicators-1-indicator": "New older friends",
            "indicators-1-evidence": "Seen in cars after school.",
            "protective-0-description": "Attends youth club weekly",
        },
    )
    page = browser.get(f"/assessments/{second}/changes", headers=HTML).text
    assert "The weighting changed for 2 contexts." in page
    assert re.search(r"Peer group</th>\s*<td[^>]*>30%</td>\s*<td[^>]*>20%</td>\s*<td[^>]*><strong>-10", page)
    assert re.search(
        r"Neighbourhood</th>\s*<td[^>]*>50%</td>\s*<td[^>]*>60%</td>\s*<td[^>]*><strong>\+10", page
    )
    assert "<li>New older friends</li>" in page
    assert "Seen at hotels with older males: sign of risk → <strong>sign of harm</strong>" in page
    assert "<li>Attends youth club weekly</li>" in page
    assert "<li>Trusted relationship with the form tutor</li>" in page
    assert "Changed from <strong>Significant risk</strong> to <strong>Serious risk</strong>" in page
    assert "The judgement was rewritten." in page
    assert "The hotel is now the main concern." in page


def test_other_agency_gets_404_and_reason_is_asked_first(
    client: TestClient, world: World, person_id: int
) -> None:
    author = signed_in(client, "user-practitioner")
    assessment_id = save(author, person_id)
    client.cookies.clear()
    web_sign_in(client, "other-practitioner")
    asked = client.get(f"/assessments/{assessment_id}", headers=HTML, follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/reason?next=")
    other = signed_in(client, "other-practitioner", "Duty enquiry")
    for path in (
        f"/assessments/{assessment_id}",
        f"/assessments/{assessment_id}/changes",
        f"/assessments/{assessment_id}/edit",
        f"/young-people/{person_id}/assessments",
        new_url(person_id),
    ):
        assert other.get(path, headers=HTML).status_code == 404, path


def test_evidence_from_another_young_persons_chronology_is_refused(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    head = headers(browser, "user-practitioner")
    other = create(browser, head, given_name="Casey", family_name="Birchley")
    theirs = add_concern(browser, head, other["id"])
    form = browser.get(new_url(person_id), headers=HTML)
    sent = fields(csrf_of(form.text), **{"indicators-0-concerns": [str(theirs["id"])]})
    response = browser.post(new_url(person_id), data=sent, headers=HTML)
    assert response.status_code == 422
    assert "These concerns are not in this young person&#39;s chronology" in response.text
    assert 'href="#assessment-form"' in response.text
    tampered = browser.post(new_url(person_id), data={**sent, "indicators-0-concerns": ["x"]}, headers=HTML)
    assert tampered.status_code == 422
    assert "Indicator 1: tick entries from the list" in tampered.text
    assert count(db_session) == 0


def test_a_draft_is_sent_for_sign_off_from_the_change_form(
    browser: TestClient, person_id: int, db_session: Session
) -> None:
    assessment_id = save(browser, person_id)
    url = f"/assessments/{assessment_id}/edit"
    form = browser.get(url, headers=HTML)
    sent = browser.post(
        url,
        data=fields(csrf_of(form.text), version="1", action="submit"),
        headers=HTML,
        follow_redirects=False,
    )
    assert sent.headers["location"] == f"/assessments/{assessment_id}?saved=submitted"
    stored = db_session.get(RiskAssessment, assessment_id)
    assert stored is not None
    assert stored.status is AssessmentStatus.SUBMITTED
    again = browser.get(url, headers=HTML).text
    assert "Save changes" in again
    assert "Send for sign-off" not in again
