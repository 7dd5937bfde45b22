"""The demo analyst opens the hotspot map of the demo borough in a real browser: significant cells and
trends, the month slider, places and small areas, a drawn polygon as a filter (drawn again on the
filtered page), a CSV download and the published partner view, which the demo neighbourhood user then
opens. Pages pass axe and nothing is fetched from another origin."""

import csv
import io
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.test_pages import assert_accessible, assert_marked, sign_in_as, sign_out
from tests.conftest import DEMO_PASSWORD, LiveServer

pytestmark = pytest.mark.browser
MAP = "#map_hotspots"
MARKUP = '<img src=x onerror="window.__xss=1">'


def layer_switch(page: Page, name: str) -> None:
    """Tick an overlay in the map's layer control."""
    page.locator(f"{MAP} .leaflet-control-layers label", has_text=name).locator("input").check()


def first_cell(page: Page) -> dict[str, Any]:
    """The first drawn cell's id and outline (longitude, latitude) as the map holds them."""
    cell: dict[str, Any] = page.evaluate(
        """(selector) => {
            const container = document.querySelector(selector);
            const cell = window[container.dataset.cells].csmapCanvas.cell(0);
            return {id: cell.record.cell_id, ring: cell.ring};
        }""",
        MAP,
    )
    return cell


def assert_table_gives_the_map_data(page: Page) -> None:
    """The table beside the map has a row per drawn cell, with the map data's figures."""
    data = json.loads(page.locator("#hotspot-data").text_content() or "{}")
    cells = data["cells"]
    rows = page.locator("#cells-table tbody tr")
    expect(rows).to_have_count(len(cells["id"]))
    for index in (0, len(cells["id"]) - 1):
        texts = rows.nth(index).locator("th, td").all_inner_texts()
        count = cells["count"][index]
        assert texts[0] == str(cells["id"][index])
        assert texts[1] == (data["hidden"] if count is None else str(count))
        label = next(entry["label"] for entry in data["bins"] if entry["value"] == cells["bin"][index])
        assert texts[3] == label


def add_place_named(page: Page, username: str, name: str) -> None:
    """Add a takeaway in the town centre through the API, as the user."""
    token = page.request.post("/api/token", form={"username": username, "password": DEMO_PASSWORD}).json()
    created = page.request.post(
        "/api/places",
        data={
            "name": name,
            "type": "takeaway",
            "geometry": {"type": "Point", "coordinates": [-1.4512, 52.3904]},
        },
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert created.status == 201, created.text()


def open_place_popup(page: Page, name: str) -> None:
    """Zoom the clustered places layer to the named place and open its pop-up."""
    page.evaluate(
        """([selector, name]) => {
            const container = document.querySelector(selector);
            const cluster = window[container.dataset.places];
            const named = (m) => m.getIcon().options.html.dataset.name.includes(name);
            const marker = cluster.getLayers().find(named);
            cluster.zoomToShowLayer(marker, () => marker.openPopup());
        }""",
        [MAP, name],
    )


def draw_area(page: Page, corners: list[tuple[int, int]]) -> None:
    """Pick the polygon tool, click each corner, then finish the shape."""
    page.locator(f"{MAP} .leaflet-draw-draw-polygon").click()
    box = page.locator(MAP).bounding_box()
    assert box is not None
    for x, y in corners:
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(150)
    page.locator(f"{MAP} .leaflet-draw-actions a", has_text="Finish").click()


def other_origins(requests: list[str], live_server: LiveServer) -> list[str]:
    """Requests that left the live server's origin."""
    origin = urlsplit(live_server.url)
    return [
        url
        for url in requests
        if urlsplit(url).scheme not in {"data", "blob"}
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]


def test_an_analyst_maps_hotspots_and_publishes_them_for_partners(
    page: Page, live_server: LiveServer
) -> None:
    requests: list[str] = []

    def on_request(request: Request) -> None:
        requests.append(request.url)

    page.on("request", on_request)
    sign_in_as(page, live_server, "demo-analyst")
    marked_up = f"Kebab {uuid.uuid4().hex[:6]} {MARKUP}"
    add_place_named(page, "demo-analyst", marked_up)
    page.get_by_role("link", name="Hotspot map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hotspot map")
    hotspots = page.locator(MAP)
    expect(hotspots).to_be_visible()
    expect(hotspots).to_have_attribute("data-drawn", re.compile(r"^[1-9][0-9]*$"))
    table = page.locator("#cells-table tbody")
    expect(table.locator("tr").first).to_contain_text("Hot spot 99%")
    trends = table.locator("td:nth-child(5)").all_inner_texts()
    assert any(trend not in ("No pattern", "No trend") for trend in trends)
    expect(page.locator(f"{MAP} .leaflet-control-zoom-fullscreen")).to_be_visible()
    assert_table_gives_the_map_data(page)
    assert_accessible(page)
    assert_marked(page)

    # The cells sit where the API draws them.
    cell = first_cell(page)
    api = page.request.get("/api/hotspots", params={"cell": "250"}).json()
    drawn = next(f for f in api["features"] if f["properties"]["cell_id"] == cell["id"])
    for (longitude, latitude), (x, y) in zip(drawn["geometry"]["coordinates"][0], cell["ring"], strict=False):
        assert (x, y) == pytest.approx((longitude, latitude), abs=2e-6)

    # One month at a time.
    slider = page.locator("#month-slider")
    expect(slider).to_be_enabled()
    slider.fill("12")
    expect(page.locator("#month-shown")).to_contain_text(" only")
    expect(hotspots).to_have_attribute("data-month", re.compile(r" only$"))
    slider.fill("0")
    expect(page.locator("#month-shown")).to_contain_text("Whole window")

    # Places and small areas, fetched when switched on.
    layer_switch(page, "Places")
    layer_switch(page, "Deprivation")
    expect(hotspots).to_have_attribute("data-layers-loaded", "2")
    layer_switch(page, "Rate per 1,000")
    expect(hotspots).to_have_attribute("data-layers-loaded", "3")
    expect(page.get_by_text("shaded by the map's records per 1,000 young people")).to_be_attached()
    expect(page.locator("#rate-legend li").first).to_contain_text("per 1,000")
    expect(hotspots.locator(".leaflet-marker-icon").first).to_be_visible()
    open_place_popup(page, marked_up)
    expect(hotspots.locator(".leaflet-popup-content")).to_contain_text(marked_up)
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => window.__xss") is None
    page.locator(f"{MAP} .leaflet-popup-close-button").click()
    assert_accessible(page)

    # An area drawn on the map filters it.
    draw_area(page, [(260, 150), (420, 150), (440, 300), (300, 330), (260, 260)])
    expect(page).to_have_url(re.compile(r"[?&]area=%7B%22type%22%3A%22Polygon%22"))
    expect(page.get_by_text("Filtered to the area drawn on the map")).to_be_visible()
    expect(page.locator("#area-note")).to_contain_text("A polygon drawn on the map (5 corners)")
    expect(hotspots).to_be_visible()
    expect(hotspots).to_have_attribute("data-area-drawn", "1")
    assert_accessible(page)

    # The same cells as CSV.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows
    assert {"cell_id", "count", "gi_bin", "trend"} <= set(rows[0])

    # Published for partners.
    page.get_by_role("button", name="Publish for partners").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Partner hotspot map")
    partner_url = page.url
    assert "/maps/partner?" in partner_url
    sign_out(page)

    sign_in_as(page, live_server, "demo-neighbourhood")
    page.goto(partner_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Partner hotspot map")
    expect(page.locator(MAP)).to_be_visible()
    assert_table_gives_the_map_data(page)
    counts = page.locator("#cells-table tbody td:nth-child(2)").all_inner_texts()
    assert all(count == "fewer than 8" or (int(count) >= 10 and int(count) % 5 == 0) for count in counts)
    assert page.get_by_role("button", name="Publish for partners").count() == 0
    assert_accessible(page)
    assert_marked(page)

    assert not other_origins(requests, live_server), f"requests left {live_server.url}"
    assert any(
        url.endswith("/static/build/leaflet-markercluster/leaflet.markercluster.js") for url in requests
    )
    assert any(url.endswith("/static/js/hotspot-map.mjs") for url in requests)
