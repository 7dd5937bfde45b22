"""Practitioner pages: reason once per sign-in, search, add a young person, profile, chronology, exports."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.templating import build_environment
from app.web.chronology import mark_shape
from contexts.audit.models import AuditAction, AuditEvent
from contexts.concerns.models import ConcernKind
from tests.conftest import World, web_sign_in
from tests.test_concerns import add
from tests.test_young_people import create, headers

HTML = {"Accept": "text/html"}


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms."""
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.fixture
def browser(client: TestClient, world: World) -> TestClient:
    """The practitioner signed in through the web, having given a reason."""
    web_sign_in(client, "user-practitioner")
    form = client.get("/reason", headers=HTML)
    response = client.post(
        "/reason",
        data={"csrf_token": csrf_of(form.text), "choice": "Allocated worker", "next": "/young-people"},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.headers["location"] == "/young-people"
    return client


def test_opening_a_record_asks_for_a_reason_first(client: TestClient, world: World) -> None:
    person = create(client, headers(client, "user-practitioner"))
    web_sign_in(client, "user-practitioner")
    response = client.get(f"/young-people/{person['id']}", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/reason?next=%2Fyoung-people%2F{person['id']}"
    form = client.get(response.headers["location"], headers=HTML)
    assert "Why are you opening young people" in form.text
    empty = client.post(
        "/reason", data={"csrf_token": csrf_of(form.text), "choice": "other", "other": ""}, headers=HTML
    )
    assert empty.status_code == 422
    assert "Enter your reason" in empty.text
    typed = client.post(
        "/reason",
        data={
            "csrf_token": csrf_of(form.text),
            "choice": "other",
            "other": "Court report",
            "next": f"/young-people/{person['id']}",
        },
        headers=HTML,
    )
    assert typed.status_code == 200
    assert "opened for: Court report" in typed.text


def test_reason_is_in_every_view_audit_event(browser: TestClient, db_session: Session) -> None:
    person = create(browser, headers(browser, "user-practitioner"))
    browser.get(f"/young-people/{person['id']}", headers=HTML)
    browser.get(f"/young-people/{person['id']}/chronology", headers=HTML)
    events = db_session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == AuditAction.VIEW, AuditEvent.object_id == str(person["id"])
        )
    ).all()
    assert {event.object_type for event in events} == {"young_person", "chronology"}
    assert {event.reason for event in events} == {"Allocated worker"}


def test_search_lists_matches(browser: TestClient) -> None:
    create(browser, headers(browser, "user-practitioner"))
    page = browser.get("/young-people?q=ashdown", headers=HTML)
    assert "1 young person found" in page.text
    assert "Jordan Ashdown" in page.text
    assert "0 young people found" in browser.get("/young-people?q=nobody", headers=HTML).text
    bad = browser.get("/young-people?dob-day=31&dob-month=2&dob-year=2012", headers=HTML)
    assert "Enter a real date" in bad.text


def test_add_a_young_person_with_errors_then_duplicate_warning(browser: TestClient) -> None:
    form = browser.get("/young-people/new", headers=HTML)
    token = csrf_of(form.text)
    empty = browser.post("/young-people/new", data={"csrf_token": token}, headers=HTML)
    assert empty.status_code == 422
    for message in (
        "Enter the young person&#39;s first name",
        "Enter the young person&#39;s last name",
        "Enter the date of birth",
    ):
        assert message in empty.text
    year = datetime.now(UTC).year - 13
    fields = {
        "csrf_token": token,
        "given_name": "Riley",
        "family_name": "Dunmere",
        "dob-day": "4",
        "dob-month": "5",
        "dob-year": str(year),
        "nhs_number": "123",
        "flags": ["send"],
    }
    bad_nhs = browser.post("/young-people/new", data=fields, headers=HTML)
    assert bad_nhs.status_code == 422
    assert "check digit" in bad_nhs.text
    assert 'value="Riley"' in bad_nhs.text
    fields["nhs_number"] = "943 476 5919"
    created = browser.post("/young-people/new", data=fields, headers=HTML, follow_redirects=False)
    assert created.status_code == 303
    again = browser.post(
        "/young-people/new", data={**fields, "given_name": "Rylee", "nhs_number": ""}, headers=HTML
    )
    assert again.status_code == 409
    assert "Possible matches" in again.text
    assert "Riley Dunmere" in again.text
    confirmed = browser.post(
        "/young-people/new",
        data={**fields, "given_name": "Rylee", "nhs_number": "", "confirm_not_duplicate": "yes"},
        headers=HTML,
        follow_redirects=False,
    )
    assert confirmed.status_code == 303


def test_profile_shows_the_five_contexts_at_a_glance(browser: TestClient) -> None:
    head = headers(browser, "user-practitioner")
    person = create(browser, head)
    add(browser, head, person["id"], context="school", kind="protective", category="education-engagement")
    add(browser, head, person["id"], context="school", kind="risk")
    add(browser, head, person["id"], occurred_at=(datetime.now(UTC) - timedelta(days=200)).isoformat())
    page = browser.get(f"/young-people/{person['id']}", headers=HTML).text
    school = re.search(r'<th scope="row" class="govuk-table__header">School</th>(.*?)</tr>', page, re.S)
    assert school is not None
    assert re.findall(r">(\d+)</td>", school.group(1)) == ["1", "0", "1"]
    neighbourhood = re.search(
        r'<th scope="row" class="govuk-table__header">Neighbourhood</th>(.*?)</tr>', page, re.S
    )
    assert neighbourhood is not None
    assert re.findall(r">(\d+)</td>", neighbourhood.group(1)) == ["0", "0", "0"]


def test_chronology_grid_table_and_list_hold_the_same_entries(browser: TestClient) -> None:
    head = headers(browser, "user-practitioner")
    person = create(browser, head)
    for context, kind in (("home", "harm"), ("peer_group", "risk"), ("school", "protective")):
        category = "trusted-adult" if kind == "protective" else "family"
        add(
            browser,
            head,
            person["id"],
            context=context,
            kind=kind,
            category=category,
            summary=f"{context} <b>entry</b>",
        )
    grid = browser.get(f"/young-people/{person['id']}/chronology", headers=HTML).text
    assert grid.count("<polygon") == 1 + 1
    assert grid.count("<rect x=") >= 1
    assert grid.count('class="govuk-table__row" id="entry-') == 3
    assert "home &lt;b&gt;entry&lt;/b&gt;" in grid
    assert "<b>entry</b>" not in grid
    listing = browser.get(f"/young-people/{person['id']}/chronology?view=list", headers=HTML).text
    assert listing.count('class="csmap-entry"') == 3
    filtered = browser.get(f"/young-people/{person['id']}/chronology?view=list&kind=harm", headers=HTML).text
    assert filtered.count('class="csmap-entry"') == 1


def test_csv_export_neutralises_formulas_and_is_audited(browser: TestClient, db_session: Session) -> None:
    head = headers(browser, "user-practitioner")
    person = create(browser, head)
    add(browser, head, person["id"], summary='=HYPERLINK("http://x")', detail="+1 more\ttab")
    add(browser, head, person["id"], summary="@SUM(A1)", detail="-2")
    response = browser.get(f"/young-people/{person['id']}/chronology.csv", headers=HTML)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["When", "Date precision", "Context"]
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "'@SUM(A1)" in cells
    assert "'-2" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    exported = db_session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT)).one()
    assert (exported.object_type, exported.reason) == ("chronology_csv", "Allocated worker")


def test_pdf_export_has_the_marking_on_every_page(browser: TestClient) -> None:
    head = headers(browser, "user-practitioner")
    person = create(browser, head)
    for number in range(60):
        add(
            browser,
            head,
            person["id"],
            summary=f"Entry number {number} <script>alert(1)</script>",
            occurred_at=(datetime.now(UTC) - timedelta(days=number + 1)).isoformat(),
        )
    response = browser.get(f"/young-people/{person['id']}/chronology.pdf", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) >= 2
    texts = [page.extract_text() for page in reader.pages]
    assert all(text.count("OFFICIAL-SENSITIVE") >= 2 for text in texts)
    assert "<script>alert(1)</script>" in re.sub(r"\s", "", "".join(texts))


def test_add_concern_form_warns_about_wording_and_saves_after_review(
    browser: TestClient, db_session: Session
) -> None:
    person = create(browser, headers(browser, "user-practitioner"))
    url = f"/young-people/{person['id']}/concerns/new"
    form = browser.get(url, headers=HTML)
    today = datetime.now(UTC)
    fields = {
        "csrf_token": csrf_of(form.text),
        "context": "neighbourhood",
        "kind": "risk",
        "category": "missing",
        "summary": "Keeps going missing at weekends",
        "detail": "",
        "occurred-day": str(today.day),
        "occurred-month": str(today.month),
        "occurred-year": str(today.year),
        "occurred_precision": "day",
    }
    warned = browser.post(url, data=fields, headers=HTML)
    assert warned.status_code == 200
    assert "Some wording may blame the young person" in warned.text
    assert "went missing" in warned.text
    assert 'value="Keeps going missing at weekends"' in warned.text
    assert "Chronology" not in warned.headers.get("location", "")
    saved = browser.post(
        url, data={**fields, "wording_reviewed": "yes"}, headers=HTML, follow_redirects=False
    )
    assert saved.status_code == 303
    chronology = browser.get(saved.headers["location"], headers=HTML).text
    assert "Keeps going missing at weekends" in chronology


def test_add_concern_form_names_missing_fields(browser: TestClient) -> None:
    person = create(browser, headers(browser, "user-practitioner"))
    url = f"/young-people/{person['id']}/concerns/new"
    form = browser.get(url, headers=HTML)
    response = browser.post(
        url,
        data={
            "csrf_token": csrf_of(form.text),
            "occurred-day": "",
            "occurred-month": "",
            "occurred-year": "",
        },
        headers=HTML,
    )
    assert response.status_code == 422
    for message in (
        "Select the context",
        "Select whether this is a risk, harm or protective factor",
        "Enter a short summary",
        "Enter when it happened",
    ):
        assert message in response.text


def test_other_agency_cannot_open_pages(client: TestClient, world: World) -> None:
    person = create(client, headers(client, "user-practitioner"))
    web_sign_in(client, "other-practitioner")
    form = client.get("/reason", headers=HTML)
    client.post("/reason", data={"csrf_token": csrf_of(form.text), "choice": "Duty enquiry"}, headers=HTML)
    assert client.get(f"/young-people/{person['id']}", headers=HTML).status_code == 404
    assert client.get(f"/young-people/{person['id']}/chronology.csv", headers=HTML).status_code == 404


def test_home_lists_overdue_return_interviews_reviews_and_flagged_wording(
    client: TestClient, world: World, db_session: Session
) -> None:
    from contexts.assessments.models import RiskAssessment
    from tests.test_assessments import assessment

    head = headers(client, "user-practitioner")
    person = create(client, head)
    found = datetime.now(UTC) - timedelta(days=4)
    episode = {
        "missing_from_address": "Children's home",
        "missing_since": (found - timedelta(hours=10)).isoformat(),
        "reported_at": (found - timedelta(hours=9)).isoformat(),
        "found_at": found.isoformat(),
    }
    created = client.post(f"/api/young-people/{person['id']}/missing-episodes", json=episode, headers=head)
    assert created.status_code == 201, created.text
    body = client.post(
        f"/api/young-people/{person['id']}/assessments",
        json=assessment(submit=True, judgement="She keeps going missing."),
        headers=head,
    ).json()
    signed = client.post(
        f"/api/assessments/{body['id']}/sign-off",
        json={"version": body["version"]},
        headers=headers(client, "user-supervisor"),
    )
    assert signed.status_code == 200
    db_session.execute(
        update(RiskAssessment).values(review_date=datetime.now(UTC).date() - timedelta(days=2))
    )
    web_sign_in(client, "user-practitioner")
    page = client.get("/", headers=HTML).text
    assert "Return interviews overdue" in page
    assert page.count("Jordan Ashdown") == 2
    web_sign_in(client, "user-supervisor")
    supervisor_page = client.get("/", headers=HTML).text
    assert "Wording flagged in saved records" in supervisor_page
    assert re.search(r"Test agency first</td>\s*<td[^>]*>1</td>", supervisor_page)


def test_profile_shows_latest_judgement_missing_episodes_and_open_actions(browser: TestClient) -> None:
    from tests.test_assessments import assessment

    head = headers(browser, "user-practitioner")
    person = create(browser, head)
    assert "No risk assessment yet." in browser.get(f"/young-people/{person['id']}", headers=HTML).text
    browser.post(f"/api/young-people/{person['id']}/assessments", json=assessment(), headers=head)
    since = datetime.now(UTC) - timedelta(hours=5)
    browser.post(
        f"/api/young-people/{person['id']}/missing-episodes",
        json={
            "missing_from_address": "Home",
            "missing_since": since.isoformat(),
            "reported_at": since.isoformat(),
        },
        headers=head,
    )
    page = browser.get(f"/young-people/{person['id']}", headers=HTML).text
    assert "Significant risk" in page
    assert "Still missing" in page
    assert "Visit the hotel" in page
    assert "Open actions" in page


@pytest.mark.parametrize("kind", list(ConcernKind))
def test_grid_marks_drawn_in_python_match_the_legend_macro(kind: ConcernKind) -> None:
    macro = build_environment().get_template("people/_mark.html").module.mark  # type: ignore[attr-defined]
    drawn_by_macro = " ".join(str(macro(kind, 120.5, 80.0)).split())
    assert str(mark_shape(kind, 120.5, 80.0)) == drawn_by_macro
