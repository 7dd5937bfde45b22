"""A practitioner's journey in a real browser: reason, add a young person, chronology, exports."""

import uuid

import httpx2
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.test_pages import assert_accessible, assert_marked, sign_in_as
from tests.conftest import DEMO_PASSWORD, LiveServer

pytestmark = pytest.mark.browser
SCRIPT = "<script>window.__xss = 1; alert('xss')</script><img src=x onerror=\"window.__xss=1\">"


def test_practitioner_records_a_young_person_and_their_chronology(
    page: Page, live_server: LiveServer
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in_as(page, live_server, "demo-practitioner")
    page.get_by_role("link", name="Young people").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Why are you opening young people's records?")
    assert_accessible(page)
    page.get_by_label("Strategy meeting").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Young people")
    assert_accessible(page)

    page.get_by_role("button", name="Add a young person").click()
    page.get_by_role("button", name="Add young person").click()
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    assert_accessible(page)
    family = f"Test{uuid.uuid4().hex[:6]}"
    page.get_by_label("First name").fill("Quinn")
    page.get_by_label("Last name").fill(family)
    page.get_by_label("Preferred name (optional)").fill(SCRIPT)
    page.locator("#date_of_birth-day").fill("3")
    page.locator("#date_of_birth-month").fill("9")
    page.locator("#date_of_birth-year").fill("2012")
    page.get_by_label("Home address (optional)").fill(SCRIPT)
    page.get_by_role("button", name="Add young person").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Quinn {family}")
    expect(page.locator("h1")).to_contain_text(SCRIPT)
    assert_accessible(page)
    assert_marked(page)

    page.get_by_role("button", name="Add a concern or protective factor").click()
    page.get_by_label("Neighbourhood").check()
    page.get_by_label("Sign of risk").check()
    page.get_by_label("Category").select_option("hotels-taxis-food")
    page.get_by_label("Summary").fill("Keeps going missing " + SCRIPT)
    page.get_by_label("Detail (optional)").fill(SCRIPT)
    page.get_by_role("button", name="Save entry").click()
    expect(page.locator("#wording")).to_contain_text("Some wording may blame the young person")
    assert_accessible(page)
    page.get_by_label("I have reviewed the wording and want to save it as written").check()
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chronology")
    expect(page.locator("svg.csmap-chronology circle")).to_have_count(1)
    expect(page.locator("table.govuk-table")).to_contain_text("Keeps going missing " + SCRIPT)
    assert_accessible(page)
    page.get_by_role("link", name="List").click()
    expect(page.locator(".csmap-entry")).to_contain_text(SCRIPT)

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Download PDF").click()
    assert pdf_download.value.suggested_filename.endswith(".pdf")

    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0


def test_other_agency_practitioner_cannot_see_it(page: Page, live_server: LiveServer) -> None:
    token = httpx2.post(
        f"{live_server.url}/api/token", data={"username": "demo-practitioner", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    created = httpx2.post(
        f"{live_server.url}/api/young-people",
        json={
            "given_name": "Sky",
            "family_name": f"Test{uuid.uuid4().hex[:6]}",
            "date_of_birth": "2011-02-03",
        },
        headers={"Authorization": f"Bearer {token}", "X-Access-Reason": "browser test"},
    )
    assert created.status_code == 201, created.text
    sign_in_as(page, live_server, "demo-practitioner-2")
    page.goto(f"/young-people/{created.json()['id']}")
    page.get_by_label("Duty enquiry").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
