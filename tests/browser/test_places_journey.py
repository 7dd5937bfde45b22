"""An analyst draws a taxi rank (a marker) and a hotel (an area) on the map in a real browser, saves
them, and finds them on the list, its map and their own pages; markup in a name stays text in the
pop-ups; every page passes axe and nothing is fetched from another origin."""

import json
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Dialog, Page, Request, expect

from tests.browser.test_pages import assert_accessible, assert_marked, sign_in_as
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
MARKUP = '<img src=x onerror="window.__xss=1">'


def draw_marker(page: Page, x: int, y: int) -> None:
    """Pick the marker tool and place a marker at a point of the map."""
    page.locator("#map_draw .leaflet-draw-draw-marker").click()
    box = page.locator("#map_draw").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.click(box["x"] + x, box["y"] + y)


def draw_area(page: Page, corners: list[tuple[int, int]]) -> None:
    """Pick the polygon tool, click each corner, then finish the shape."""
    page.locator("#map_draw .leaflet-draw-draw-polygon").click()
    box = page.locator("#map_draw").bounding_box()
    assert box is not None
    for x, y in corners:
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(150)
    page.locator("#map_draw .leaflet-draw-actions a", has_text="Finish").click()


def drawn_geometry(page: Page) -> dict[str, object]:
    """The GeoJSON the drawing put in the form's hidden field."""
    value: dict[str, object] = json.loads(page.locator("#geometry").input_value())
    return value


def test_an_analyst_draws_a_taxi_rank_and_a_hotel(page: Page, live_server: LiveServer) -> None:
    dialogs: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    tag = uuid.uuid4().hex[:6]
    rank_name = f"Market Street taxi rank {tag}"
    hotel_name = f"Grand Hotel {tag} {MARKUP}"

    sign_in_as(page, live_server, "demo-analyst")
    page.get_by_role("link", name="Places", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Places")
    assert_accessible(page)

    # The taxi rank: a marker.
    page.get_by_role("button", name="Add a place").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a place")
    expect(page.locator("#map_draw")).to_be_visible()
    assert_accessible(page)
    page.locator("#name").fill(rank_name)
    page.locator("#type").select_option("taxi_rank")
    page.locator("#postcode").fill("cv1 1aa")
    page.locator("#owner_name").fill("Pat Operator")
    draw_marker(page, 200, 220)
    geometry = drawn_geometry(page)
    assert geometry["type"] == "Point"
    expect(page.locator("#longitude")).not_to_have_value("")
    expect(page.locator("#map_draw-status")).to_contain_text("A point is drawn at longitude")
    page.get_by_role("button", name="Save place").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Place added.")
    expect(page.get_by_role("heading", level=1)).to_have_text(rank_name)
    expect(page.get_by_text("CV1 1AA")).to_be_visible()
    expect(page.locator("#map_places")).to_have_attribute("data-drawn", "1")
    assert_accessible(page)
    assert_marked(page)

    # The hotel: an area, with markup in its name.
    page.goto("/places/new")
    page.locator("#name").fill(hotel_name)
    page.locator("#type").select_option("hotel")
    draw_area(page, [(180, 180), (300, 180), (300, 280), (180, 280)])
    geometry = drawn_geometry(page)
    assert geometry["type"] == "Polygon"
    expect(page.locator("#longitude")).to_have_value("")
    expect(page.locator("#map_draw-status")).to_have_text("An area is drawn.")
    page.get_by_role("button", name="Save place").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Place added.")
    expect(page.get_by_role("heading", level=1)).to_have_text(hotel_name)
    expect(page.locator("#map_places path.leaflet-interactive")).to_have_count(1)
    assert_accessible(page)

    # Both on the list, its table and its map; the pop-ups show names as text.
    page.goto(f"/places?q={tag}")
    rows = page.locator("#places-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=rank_name)).to_contain_text("Taxi rank")
    expect(rows.filter(has_text=hotel_name)).to_contain_text("Hotel, B&B or short let")
    places_map = page.locator("#map_places")
    expect(places_map).to_have_attribute("data-drawn", "2")
    expect(places_map.locator(".leaflet-marker-icon")).to_have_text("TR")
    assert_accessible(page)
    places_map.locator("path.leaflet-interactive").click()
    expect(places_map.locator(".leaflet-popup-content")).to_contain_text(hotel_name)
    assert page.locator("img[src='x']").count() == 0
    places_map.locator(".leaflet-popup-content").get_by_role("link", name="Open this place").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(hotel_name)
    page.get_by_role("link", name="Back to places").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Places")

    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    origin = urlsplit(live_server.url)
    elsewhere = [
        url
        for url in requests
        if urlsplit(url).scheme not in {"data", "blob"}
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]
    assert not elsewhere, f"requests left {live_server.url}: {elsewhere}"
    assert any(url.endswith("/static/build/leaflet-draw/leaflet.draw.js") for url in requests)
    assert any(url.endswith("/static/js/places-map.mjs") for url in requests)
