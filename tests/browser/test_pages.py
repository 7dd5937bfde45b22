"""The web pages in a real browser: sign-in journeys, accessibility, CSP, markings and escaping."""

import json
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, Request, Response, expect

from tests.conftest import DEMO_PASSWORD, ROOT, LiveServer

MARKING = "OFFICIAL-SENSITIVE"
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}

HOME_HEADINGS = {
    "demo-practitioner": "Practitioner home",
    "demo-supervisor": "Supervisor home",
    "demo-analyst": "Analyst home",
    "demo-neighbourhood": "Neighbourhood team home",
    "demo-agency-admin": "Agency administrator home",
    "demo-admin": "System administrator home",
    "demo-practitioner-2": "Practitioner home",
}

pytestmark = pytest.mark.browser


@cache
def axe_source() -> str:
    """The axe-core script, read once (installed by `npm ci`)."""
    return Path(AXE_SOURCE).read_text(encoding="utf-8")


def axe_problems(page: Page) -> list[str]:
    """Run axe-core's WCAG 2.x A/AA rules and describe each serious or critical violation."""
    # Audit the finished page: loaded, and GOV.UK Frontend's module has enhanced it.
    page.wait_for_load_state("load")
    expect(page.locator("body")).to_have_class(re.compile(r"\bgovuk-frontend-supported\b"))
    # Evaluated over CDP, which the page's Content-Security-Policy does not block.
    page.evaluate(axe_source())
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}}
    violations: list[dict[str, Any]] = page.evaluate(
        "async (options) => (await axe.run(document, options)).violations", options
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + json.dumps([node["target"] for node in violation["nodes"]])
        for violation in violations
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def assert_accessible(page: Page) -> None:
    """Fail with every serious or critical axe violation on the current page."""
    problems = axe_problems(page)
    assert not problems, f"axe found problems on {page.url}:\n" + "\n".join(problems)


def assert_marked(page: Page) -> None:
    """The protective marking heads and ends the page, and the demo banner shows."""
    markings = page.locator(".csmap-marking")
    expect(markings).to_have_count(2)
    expect(markings.first).to_have_text(MARKING)
    expect(markings.last).to_have_text(MARKING)
    expect(markings.first).to_be_visible()
    expect(markings.last).to_be_visible()
    positions: dict[str, float] = page.evaluate(
        """() => {
            // A focused skip link rightly shows above everything; measure the page at rest.
            if (document.activeElement instanceof HTMLElement) { document.activeElement.blur(); }
            const markings = document.querySelectorAll('.csmap-marking');
            const top = markings[0].getBoundingClientRect().top + window.scrollY;
            const bottom = markings[markings.length - 1].getBoundingClientRect().bottom + window.scrollY;
            return {top, bottom, height: document.documentElement.scrollHeight};
        }"""
    )
    assert positions["top"] == 0, f"the top marking is not at the top of {page.url}: {positions}"
    assert positions["bottom"] >= positions["height"] - 1, f"the bottom marking is not last on {page.url}"
    expect(page.locator(".csmap-demo-banner")).to_be_visible()
    expect(page.locator(".csmap-demo-banner")).to_contain_text("Fictional demo data")


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and send the sign-in form."""
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_as(page: Page, live_server: LiveServer, username: str) -> None:
    """Sign in and wait for the home page."""
    sign_in(page, username)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(HOME_HEADINGS[username])


def sign_out(page: Page) -> None:
    """Press the header's sign-out button."""
    page.locator("header").get_by_role("button", name="Sign out").click()


@pytest.mark.parametrize("username", list(HOME_HEADINGS))
def test_each_demo_user_signs_in_and_out(page: Page, live_server: LiveServer, username: str) -> None:
    sign_in(page, username)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(HOME_HEADINGS[username])
    assert_marked(page)
    assert_accessible(page)

    sign_out(page)

    expect(page).to_have_url(f"{live_server.url}/login?ended=signout")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to csmap")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out")
    assert_marked(page)

    page.goto("/")

    expect(page).to_have_url(f"{live_server.url}/login?next=%2F")
    expect(page.locator("#username")).to_be_visible()


def test_sign_in_page_is_accessible(page: Page) -> None:
    page.goto("/login")

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to csmap")
    assert_marked(page)
    assert_accessible(page)


def test_wrong_password_shows_an_accessible_error_summary(page: Page, live_server: LiveServer) -> None:
    sign_in(page, "demo-neighbourhood", "not-the-demo-password")

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There is a problem")
    expect(page).to_have_title("Error: Sign in – csmap")
    expect(page).to_have_url(f"{live_server.url}/login")
    assert_marked(page)
    assert_accessible(page)


def test_users_page_is_accessible(page: Page, live_server: LiveServer) -> None:
    sign_in_as(page, live_server, "demo-agency-admin")
    page.goto("/admin/users")

    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.get_by_role("table")).to_be_visible()
    assert_marked(page)
    assert_accessible(page)


def test_empty_new_user_form_shows_an_accessible_error_summary(page: Page, live_server: LiveServer) -> None:
    sign_in_as(page, live_server, "demo-agency-admin")
    page.goto("/admin/users/new")
    page.get_by_role("button", name="Add user").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link").first).to_have_attribute("href", "#username")
    expect(page).to_have_title("Error: Add a user – csmap")
    expect(page.locator("#username-error")).to_be_visible()
    links = summary.get_by_role("link")
    for href in [links.nth(index).get_attribute("href") for index in range(links.count())]:
        assert href is not None
        assert href.startswith("#")
        expect(page.locator(href)).to_have_count(1)
    assert_marked(page)
    assert_accessible(page)

    links.first.click()

    expect(page.locator("#username")).to_be_focused()


def test_audit_page_is_accessible(page: Page, live_server: LiveServer) -> None:
    sign_in_as(page, live_server, "demo-admin")
    page.goto("/admin/audit")

    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(page.get_by_role("table")).to_be_visible()
    assert_marked(page)
    assert_accessible(page)


def test_not_found_page_is_accessible(page: Page) -> None:
    response = page.goto("/no-such-page")

    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert_marked(page)
    assert_accessible(page)


@dataclass
class Traffic:
    """What the browser fetched, the documents it got back and what it logged."""

    requests: list[str] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def traffic(page: Page) -> Traffic:
    """Record every request, every document response and every console error of the page."""
    seen = Traffic()

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    def on_response(response: Response) -> None:
        if response.request.resource_type == "document":
            seen.documents.append(response)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    def on_page_error(error: Exception) -> None:
        seen.errors.append(f"uncaught: {error}")

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return seen


def test_a_full_journey_stays_on_our_origin_under_the_csp(
    page: Page, live_server: LiveServer, traffic: Traffic
) -> None:
    sign_in_as(page, live_server, "demo-admin")
    assert_marked(page)
    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    assert_marked(page)
    page.get_by_role("button", name="Add a user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a user")
    assert_marked(page)
    page.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    assert_marked(page)
    sign_out(page)
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out")
    assert_marked(page)

    origin = urlsplit(live_server.url)
    elsewhere = [
        url
        for url in traffic.requests
        if urlsplit(url).scheme not in {"data", "blob"}
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]
    assert traffic.requests, "no requests were recorded"
    assert not elsewhere, f"requests left {live_server.url}: {elsewhere}"
    # The stylesheet, GOV.UK Frontend's script and csmap's own module all loaded from here.
    assert any(url.endswith("/static/build/csmap.css") for url in traffic.requests)
    assert any(url.endswith("/static/build/govuk/govuk-frontend.min.js") for url in traffic.requests)
    assert any(url.endswith("/static/js/init.mjs") for url in traffic.requests)

    pages = [urlsplit(response.url).path for response in traffic.documents]
    for expected in ("/login", "/", "/admin/users", "/admin/users/new", "/admin/audit"):
        assert expected in pages, f"{expected} was not visited: {pages}"
    for response in traffic.documents:
        policy = response.header_value("content-security-policy") or ""
        assert "default-src 'self'" in policy, f"{response.url} has CSP {policy!r}"
        assert "frame-ancestors 'none'" in policy, f"{response.url} has CSP {policy!r}"

    assert not [text for text in traffic.errors if "Content Security Policy" in text], traffic.errors
    assert not [text for text in traffic.errors if text.startswith("uncaught:")], traffic.errors
    # GOV.UK Frontend's JavaScript ran (it is loaded as a module, which the CSP allows).
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')")


def test_a_user_name_that_looks_like_markup_is_shown_as_text(page: Page, live_server: LiveServer) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    name = "<img src=x onerror=alert(1)>Eve"
    username = f"xss-check-{uuid.uuid4().hex[:8]}"
    sign_in_as(page, live_server, "demo-agency-admin")
    page.goto("/admin/users/new")
    page.locator("#username").fill(username)
    page.locator("#display_name").fill(name)
    page.get_by_role("checkbox", name="Practitioner").check()
    page.locator("#password").fill("a-long-enough-password")
    page.get_by_role("button", name="Add user").click()

    expect(page).to_have_url(f"{live_server.url}/admin/users?notice=created")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("User added.")
    row = page.get_by_role("row").filter(has_text=username)
    while row.count() == 0 and page.get_by_role("link", name="Next").count():
        page.get_by_role("link", name="Next").first.click()
    expect(row).to_have_count(1)
    expect(row.get_by_role("rowheader")).to_have_text(name)
    expect(page.get_by_text(name, exact=True)).to_be_visible()
    expect(page.locator('img[src="x"]')).to_have_count(0)
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_tab_from_the_top_of_the_sign_in_page_reaches_the_skip_link_first(page: Page) -> None:
    page.goto("/login")
    page.keyboard.press("Tab")

    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    expect(skip).to_have_attribute("href", "#main-content")
