"""The hotspot map's cells on one canvas: each painted in its Gi* bin's colour where the API places it,
a click on a cell opens its pop-up as text, the layer control hides and shows them, the month slider
draws a month's cells, and the page marks the first frame painted with them; without JavaScript the
empty map is not shown."""

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_hotspot_map_journey import MAP, layer_switch
from tests.browser.test_pages import sign_in_as
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

CELL = """([selector, index]) => {
    const container = document.querySelector(selector);
    const canvas = window[container.dataset.cells].csmapCanvas;
    const {record, ring} = canvas.cell(index);
    const map = window[container.dataset.map];
    const corners = ring.slice(0, -1);
    const middle = L.latLng(
        corners.reduce((sum, [, latitude]) => sum + latitude, 0) / corners.length,
        corners.reduce((sum, [longitude]) => sum + longitude, 0) / corners.length,
    );
    const point = map.latLngToContainerPoint(middle);
    const box = canvas._container.getBoundingClientRect();
    const frame = container.getBoundingClientRect();
    const x = Math.round(frame.left + point.x - box.left);
    const y = Math.round(frame.top + point.y - box.top);
    const pixel = Array.from(canvas._container.getContext('2d').getImageData(x, y, 1, 1).data);
    return {record, pixel, x: point.x, y: point.y, count: canvas.cellCount(), zoom: map.getZoom()};
}"""


def cell_on_screen(page: Page, index: int = 0) -> dict[str, Any]:
    """A drawn cell's record, the canvas pixel at its middle and where that is in the map."""
    found: dict[str, Any] = page.evaluate(CELL, [MAP, index])
    return found


def colour_of(page: Page, gi_bin: int) -> tuple[int, int, int]:
    """A bin's colour as the legend in the page's data gives it."""
    colour: str = page.evaluate(
        """(value) => JSON.parse(document.getElementById('hotspot-data').textContent)
            .bins.find((entry) => entry.value === value).colour""",
        gi_bin,
    )
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_cells_are_painted_in_their_bins_colour_and_open_their_pop_up(
    page: Page, live_server: LiveServer
) -> None:
    sign_in_as(page, live_server, "demo-analyst")
    page.goto("/maps/hotspots")
    hotspots = page.locator(MAP)
    expect(hotspots).to_have_attribute("data-drawn", re.compile(r"^[1-9][0-9]*$"))
    drawn = int(hotspots.get_attribute("data-drawn") or "0")
    assert page.evaluate("() => performance.getEntriesByName('csmap-map-painted').length") == 1

    # Zoomed in (animated, with the map's own buttons) until a cell is many pixels across.
    first = cell_on_screen(page)
    assert first["count"] == drawn
    assert first["record"]["bin"] == 3
    page.evaluate(
        """([selector, index]) => {
            const container = document.querySelector(selector);
            const {ring} = window[container.dataset.cells].csmapCanvas.cell(index);
            window[container.dataset.map].panTo([ring[0][1], ring[0][0]], {animate: false});
        }""",
        [MAP, 0],
    )
    zoom_in = page.locator(f"{MAP} .leaflet-control-zoom-in")
    for _ in range(4):
        zoom_in.click()
        page.wait_for_timeout(400)
    hottest = cell_on_screen(page)
    assert hottest["zoom"] >= first["zoom"] + 3
    red, green, blue, alpha = hottest["pixel"]
    assert (red, green, blue) == pytest.approx(colour_of(page, 3), abs=2)
    assert alpha == pytest.approx(0.75 * 255, abs=2)

    box = hotspots.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + hottest["x"], box["y"] + hottest["y"])
    popup = hotspots.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(f"Cell {hottest['record']['cell_id']}")
    expect(popup).to_contain_text(f"Count: {hottest['record']['count']}")
    expect(popup).to_contain_text("Hot spot 99%")
    tags = popup.evaluate("(node) => [...node.querySelectorAll('*')].map((child) => child.tagName)")
    assert set(tags) <= {"SPAN", "STRONG", "BR"}
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)

    # The layer control hides the cells and shows them again.
    page.locator(f"{MAP} .leaflet-control-layers label", has_text="Hot and cold spots").locator(
        "input"
    ).uncheck()
    on_map = "(selector) => Boolean(window[document.querySelector(selector).dataset.cells].csmapCanvas._map)"
    assert page.evaluate(on_map, MAP) is False
    page.mouse.click(box["x"] + hottest["x"], box["y"] + hottest["y"])
    expect(popup).to_have_count(0)
    layer_switch(page, "Hot and cold spots")
    assert cell_on_screen(page)["pixel"][3] > 0

    # A month's cells replace the whole window's.
    page.locator("#month-slider").fill("1")
    expect(hotspots).to_have_attribute("data-month", re.compile(r" only$"))
    month = int(hotspots.get_attribute("data-drawn") or "0")
    assert cell_on_screen(page)["count"] == month
    expect(page.locator("#cells-table tbody tr")).to_have_count(month)


def test_without_javascript_the_empty_map_is_not_shown(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in_as(page, live_server, "demo-analyst")
        page.goto("/maps/hotspots")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hotspot map")
        expect(page.locator(MAP)).to_be_attached()
        expect(page.locator(MAP)).to_be_hidden()
        expect(page.get_by_role("link", name="CSV", exact=True)).to_be_visible()
    finally:
        context.close()
