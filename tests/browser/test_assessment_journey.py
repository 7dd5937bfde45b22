"""A practitioner records a missing episode, a risk assessment and a link in a real browser; a
supervisor signs the assessment off. Every page passes axe, the map draws from our own origin only,
and script typed into free text never runs."""

import re
import uuid
from datetime import date, timedelta
from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Dialog, Page, Request, expect

from tests.browser.test_pages import assert_accessible, assert_marked, sign_in_as, sign_out
from tests.conftest import DEMO_PASSWORD, LiveServer

pytestmark = pytest.mark.browser
SCRIPT = "<script>window.__xss = 1; alert('xss')</script><img src=x onerror=\"window.__xss=1\">"


def give_reason(page: Page) -> None:
    """Answer the once-per-sign-in question about why records are opened."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Why are you opening young people's records?")
    page.get_by_label("Allocated worker").check()
    page.get_by_role("button", name="Continue").click()


def fill_date(page: Page, prefix: str, day: date, clock: str | None = None) -> None:
    """Type a date (and a time) into a GOV.UK date input."""
    page.locator(f"#{prefix}-day").fill(str(day.day))
    page.locator(f"#{prefix}-month").fill(str(day.month))
    page.locator(f"#{prefix}-year").fill(str(day.year))
    if clock is not None:
        page.locator(f"#{prefix}-time").fill(clock)


def no_script_ran(page: Page, dialogs: list[str]) -> None:
    """Nothing typed as markup was run or turned into an element."""
    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0


def test_missing_episode_assessment_and_sign_off(page: Page, live_server: LiveServer) -> None:
    token = httpx2.post(
        f"{live_server.url}/api/token", data={"username": "demo-practitioner", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    api = {"Authorization": f"Bearer {token}", "X-Access-Reason": "browser test"}
    family = f"Test{uuid.uuid4().hex[:6]}"
    created = httpx2.post(
        f"{live_server.url}/api/young-people",
        json={"given_name": "Robin", "family_name": family, "date_of_birth": "2011-05-06"},
        headers=api,
    )
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]
    entry = httpx2.post(
        f"{live_server.url}/api/young-people/{person_id}/concerns",
        json={
            "context": "neighbourhood",
            "kind": "risk",
            "category": "hotels-taxis-food",
            "summary": "Seen at the takeaway after midnight",
            "occurred_at": (date.today() - timedelta(days=4)).isoformat(),
        },
        headers=api,
    )
    assert entry.status_code == 201, entry.text

    dialogs: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    sign_in_as(page, live_server, "demo-practitioner")

    # A missing episode: from a known place, found at another, with script in every free-text box.
    page.goto(f"/young-people/{person_id}/missing")
    give_reason(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Missing episodes")
    page.get_by_role("button", name="Record a missing episode").click()
    page.get_by_role("button", name="Save missing episode").click()
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    assert_accessible(page)
    page.locator("#missing_from_place_id").select_option(index=1)
    page.locator("#missing_from_address").fill(SCRIPT)
    fill_date(page, "missing_since", date.today() - timedelta(days=3), "21:30")
    fill_date(page, "found_at", date.today() - timedelta(days=2), "09:15")
    page.locator("#found_place_id").select_option(index=2)
    page.locator("#found_with").fill(SCRIPT)
    page.locator("#notes").fill("She keeps going missing. " + SCRIPT)
    page.get_by_text("Link entries from the chronology").click()
    page.get_by_label("Seen at the takeaway after midnight").check()
    page.get_by_role("button", name="Save missing episode").click()
    expect(page.locator("#wording")).to_contain_text("Some wording may blame the young person")
    assert_accessible(page)
    page.get_by_label("I have reviewed the wording and want to save it as written").check()
    page.get_by_role("button", name="Save missing episode").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Missing episode of")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Missing episode recorded.")
    expect(page.get_by_text("She keeps going missing. " + SCRIPT)).to_be_visible()
    assert_accessible(page)
    assert_marked(page)

    page.get_by_role("link", name="Back to missing episodes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Missing episodes")
    map_box = page.locator("#missing-map")
    expect(map_box).to_have_attribute("data-drawn", "2")
    expect(map_box).to_have_class(re.compile(r"\bleaflet-container\b"))
    expect(map_box.locator("path.leaflet-interactive")).to_have_count(2)
    expect(page.get_by_role("region", name=re.compile("Map of the places"))).to_be_visible()
    expect(page.locator("#missing-map-status")).to_have_text("2 places are shown on the map.")
    places = page.locator("table").filter(has_text="The places on the map")
    expect(places.locator("tbody tr")).to_have_count(2)
    assert_accessible(page)
    assert_marked(page)

    # A risk assessment with evidence and weighting, sent for sign-off.
    page.goto(f"/young-people/{person_id}/assessments")
    expect(page.get_by_role("heading", level=1)).to_have_text("Risk assessments")
    page.get_by_role("button", name="Start a new assessment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New risk assessment")
    page.locator("#indicators-0-context").select_option("neighbourhood")
    page.locator("#indicators-0-sign-2").check()
    page.locator("#indicators-0-indicator").fill("Seen with older adults at night " + SCRIPT)
    page.locator("#indicators-0-evidence").fill(SCRIPT)
    page.locator("#indicators-0 .govuk-details__summary").click()
    page.locator("#indicators-0").get_by_label("Seen at the takeaway after midnight").check()
    page.locator("#protective-0-context").select_option("school")
    page.locator("#protective-0-description").fill("Trusted form tutor " + SCRIPT)
    for context, share in (
        ("individual", "10"),
        ("home", "5"),
        ("peer_group", "25"),
        ("neighbourhood", "50"),
    ):
        page.locator(f"#weight-{context}").fill(share)
    judgement = "Adults at the takeaway may be exploiting her. " + SCRIPT
    page.locator("#judgement").fill(judgement)
    page.get_by_label("Significant risk").check()
    page.locator("#actions-0-context").select_option("neighbourhood")
    page.locator("#actions-0-who").fill("Licensing team")
    page.locator("#actions-0-what").fill("Visit the takeaway " + SCRIPT)
    fill_date(page, "actions-0-due", date.today() + timedelta(days=14))
    page.get_by_role("button", name="Send for sign-off").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("The context weighting must add up to 100 (it adds up to 90)")
    expect(page.locator("#judgement")).to_have_value(judgement)
    assert_accessible(page)
    summary.get_by_role("link", name=re.compile("adds up to 90")).click()
    expect(page.locator("#weight-individual")).to_be_focused()
    page.locator("#weight-school").fill("10")
    page.get_by_role("button", name="Send for sign-off").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Assessment sent for sign-off.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Risk assessment of")
    boxes = page.locator("rect.csmap-weighting__box")
    expect(boxes).to_have_count(5)
    widths = {
        boxes.nth(i).get_attribute("data-context"): boxes.nth(i).get_attribute("width") for i in range(5)
    }
    assert widths == {
        "individual": "10%",
        "home": "5%",
        "peer_group": "25%",
        "school": "10%",
        "neighbourhood": "50%",
    }
    expect(page.get_by_text(judgement)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Seen at the takeaway after midnight"))).to_be_visible()
    assert_accessible(page)
    assert_marked(page)
    assessment_url = page.url.split("?", 1)[0]
    no_script_ran(page, dialogs)

    # A link to a new person of concern, with its source and grading.
    page.goto(f"/young-people/{person_id}/links/new")
    assert_accessible(page)
    page.get_by_label("A new person of concern").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a link to a new person of concern")
    page.locator("#poc_name").fill("Dean Example")
    page.locator("#poc_age").fill("30")
    page.locator("#poc_description").fill(SCRIPT)
    page.get_by_label("Adult of concern").check()
    page.locator("#description").fill("Seen collecting her from school " + SCRIPT)
    page.locator("#source_agency_id").select_option(index=2)
    page.locator("#source_evaluation").select_option("2")
    page.locator("#intelligence_assessment").select_option("C")
    page.get_by_role("button", name="Add link").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Give all three parts of the 3x5x2 grading")
    assert_accessible(page)
    page.locator("#handling_code").select_option("P")
    page.get_by_role("button", name="Add link").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Link added.")
    expect(page.get_by_text("Seen collecting her from school " + SCRIPT)).to_be_visible()
    expect(
        page.get_by_text("2 – untested source; C – known indirectly; P – may be shared lawfully")
    ).to_be_visible()
    assert_accessible(page)
    assert_marked(page)
    no_script_ran(page, dialogs)
    sign_out(page)

    # The supervisor of the same agency signs it off.
    sign_in_as(page, live_server, "demo-supervisor")
    page.goto(assessment_url)
    give_reason(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Risk assessment of")
    page.get_by_label("Note (optional)").fill("Agreed in supervision " + SCRIPT)
    page.get_by_role("button", name="Sign off").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Assessment signed off.")
    expect(page.get_by_text("Signed off by Sam Supervisor (demo)")).to_be_visible()
    expect(page.get_by_text("Agreed in supervision " + SCRIPT)).to_be_visible()
    assert_accessible(page)
    assert_marked(page)
    page.goto(assessment_url + "/changes")
    expect(page.get_by_role("heading", level=1)).to_have_text("What changed since the last assessment")
    assert_accessible(page)
    page.goto(f"/young-people/{person_id}/assessments")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("Signed off")
    assert_accessible(page)

    no_script_ran(page, dialogs)
    origin = urlsplit(live_server.url)
    elsewhere = [
        url
        for url in requests
        if urlsplit(url).scheme not in {"data", "blob"}
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]
    assert not elsewhere, f"requests left {live_server.url}: {elsewhere}"
    assert any(url.endswith(f"/api/young-people/{person_id}/missing-places") for url in requests)
    assert any(url.endswith("/static/build/leaflet/leaflet.js") for url in requests)
