"""The hotspot map pages, their downloads and layers, and the partner hotspots in the OGC API."""

import csv
import html
import io
import json
import re
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.audit.models import AuditAction, AuditEvent
from mapping.areas.demo import build_demo_areas
from mapping.disclosure import PARTNER_PROPERTY_CHECKS
from mapping.hotspots.areas import area_counts
from mapping.hotspots.service import HotspotQuery
from tests.conftest import World, bearer, web_sign_in
from tests.test_hotspot_api import PENTAGON, drawn_area, ring_text
from tests.test_hotspot_service import (
    END,
    MARKERS,
    POLICY,
    SOUTH,
    START,
    WEST,
    Borough,
    add_place,
    add_test_areas,
    build_borough,
)

WINDOW = {"from": "2026-01", "to": "2026-06", "cell": "250"}
MARKUP = '<img src=x onerror="window.__xss=1">'
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
DATA = re.compile(
    r'<script type="application/json" id="hotspot-data" nonce="[^"]+">(.*?)</script>', re.DOTALL
)


@pytest.fixture
def borough(db_session: Session, world: World) -> Borough:
    """The hotspot service tests' records: two agencies' concerns round a hotel, a park and a flat."""
    return build_borough(db_session, world)


def signed_in(app: FastAPI, username: str) -> TestClient:
    """A browser-like client of its own, signed in through the web form."""
    client = TestClient(app, base_url="http://testserver")
    assert web_sign_in(client, username).status_code == 303
    return client


def page(client: TestClient, path: str = "/maps/hotspots", **params: str) -> httpx2.Response:
    """GET a map page as a browser does."""
    response: httpx2.Response = client.get(path, params=params, headers={"Accept": "text/html"})
    return response


def data_of(response: httpx2.Response) -> dict[str, Any]:
    """The map's data from the page's JSON element."""
    assert response.status_code == 200, response.text[:2000]
    found = DATA.search(response.text)
    assert found is not None
    value: dict[str, Any] = json.loads(found.group(1))
    return value


def api_cells(client: TestClient, username: str, **params: str) -> dict[int, dict[str, Any]]:
    """The cells /api/hotspots gives worth drawing (a count, a significant bin or a trend), by id."""
    response = client.get("/api/hotspots", params=params, headers=bearer(client, username))
    assert response.status_code == 200, response.text
    cells = {}
    for feature in response.json()["features"]:
        p = feature["properties"]
        gi_bin = p.get("gi_bin", p.get("bin"))
        if (p["count"] or 0) > 0 or gi_bin != 0 or p.get("trend") not in (None, "no_pattern"):
            cells[p["cell_id"]] = p | {"bin": gi_bin}
    return cells


def map_cells(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The page's cells, by id, with their trend back as a code."""
    columns = data["cells"]
    codes = {words: words.lower().replace(" ", "_") for words in data["trends"]}
    return {
        cell: {
            "count": columns["count"][i],
            "rate": columns["rate"][i],
            "bin": columns["bin"][i],
            "trend": None if columns["trend"][i] is None else codes[data["trends"][columns["trend"][i]]],
        }
        for i, cell in enumerate(columns["id"])
    }


def events(session: Session, action: AuditAction) -> list[AuditEvent]:
    """Audit events of one kind, oldest first."""
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_analysts_get_the_analyst_map_and_its_table_gives_the_api_figures(
    app: FastAPI, client: TestClient, borough: Borough
) -> None:
    response = page(signed_in(app, "user-analyst"), **WINDOW)
    data = data_of(response)
    assert data["audience"] == "analyst"
    expected = api_cells(client, "user-analyst", **WINDOW)
    drawn = map_cells(data)
    assert drawn.keys() == expected.keys()
    assert any(cell["bin"] == 3 for cell in drawn.values())
    for cell, figures in drawn.items():
        wanted = expected[cell]
        assert figures == {key: wanted[key] for key in ("count", "rate", "bin", "trend")}
    columns = data["cells"]
    for index, cell in enumerate(columns["id"]):
        assert float(columns["z"][index]) == pytest.approx(expected[cell]["gi_z"], abs=0.0051)
        assert float(columns["p"][index]) == pytest.approx(expected[cell]["gi_p_fdr"], rel=0.01)
    hottest_first = [
        (-gi_bin, -(count or 0), cell)
        for gi_bin, count, cell in zip(columns["bin"], columns["count"], columns["id"], strict=True)
    ]
    assert hottest_first == sorted(hottest_first)
    assert "Publish for partners" in response.text


@pytest.mark.parametrize("username", ["user-neighbourhood", "user-practitioner", "user-supervisor"])
def test_everyone_else_gets_the_partner_map_with_nothing_that_could_identify(
    app: FastAPI, client: TestClient, borough: Borough, username: str
) -> None:
    response = page(signed_in(app, username), **WINDOW)
    data = data_of(response)
    assert data["audience"] == "partner"
    drawn = map_cells(data)
    assert drawn == {
        cell: {key: p[key] for key in ("count", "rate", "bin")} | {"trend": p.get("trend")}
        for cell, p in api_cells(client, username, **WINDOW | {"audience": "partner"}).items()
    }
    shown = [cell["count"] for cell in drawn.values() if cell["count"] is not None]
    assert shown
    assert all(count >= 10 and count % 5 == 0 for count in shown)
    for marker in MARKERS:
        assert marker not in response.text
    for word in ("Point", "gi_z", "Publish for partners", "Flat 3"):
        assert word not in response.text


@pytest.mark.parametrize("username", ["user-neighbourhood", "user-practitioner", "user-supervisor"])
def test_asking_for_the_analyst_map_without_being_an_analyst_is_403(
    app: FastAPI, borough: Borough, username: str, db_session: Session
) -> None:
    client = signed_in(app, username)
    assert page(client, **WINDOW | {"audience": "analyst"}).status_code == 403
    assert client.get("/maps/hotspots.csv", params=WINDOW | {"audience": "analyst"}).status_code == 403
    assert events(db_session, AuditAction.DENIED)[-1].actor_username == username


def test_the_published_link_always_shows_the_partner_view(app: FastAPI, borough: Borough) -> None:
    analyst = signed_in(app, "user-analyst")
    own = page(analyst, **WINDOW)
    link = re.search(r'href="(/maps/partner\?[^"]+)"', own.text)
    assert link is not None
    published = html.unescape(link.group(1))
    assert "audience" not in published
    assert "from=2026-01-01" in published
    assert "to=2026-06-30" in published
    for client in (analyst, signed_in(app, "user-neighbourhood")):
        shared = client.get(published + "&audience=analyst", headers={"Accept": "text/html"})
        assert data_of(shared)["audience"] == "partner"
        assert "Partner hotspot map" in shared.text
        for marker in MARKERS:
            assert marker not in shared.text


def test_downloads_give_every_cell_for_the_audience_and_are_audited(
    app: FastAPI, client: TestClient, borough: Borough, db_session: Session
) -> None:
    partner = signed_in(app, "user-neighbourhood")
    expected = client.get(
        "/api/hotspots", params=WINDOW | {"audience": "partner"}, headers=bearer(client, "user-neighbourhood")
    ).json()
    as_csv = partner.get("/maps/hotspots.csv", params=WINDOW)
    assert as_csv.status_code == 200
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(expected["features"])
    assert [row["count"] for row in rows] == [
        "" if f["properties"]["count"] is None else str(f["properties"]["count"])
        for f in expected["features"]
    ]
    assert set(rows[0]) <= {"id"} | set(PARTNER_PROPERTY_CHECKS)
    as_json = partner.get("/maps/hotspots.geojson", params=WINDOW).json()
    assert as_json["audience"] == "partner"
    assert [f["properties"] for f in as_json["features"]] == [f["properties"] for f in expected["features"]]
    workbook = load_workbook(io.BytesIO(partner.get("/maps/hotspots.xlsx", params=WINDOW).content))
    sheet = workbook.active
    assert sheet is not None
    assert sheet.cell(row=1, column=1).value == "OFFICIAL-SENSITIVE"
    assert sheet.max_row == len(expected["features"]) + 2
    for body in (as_csv.text, json.dumps(as_json)):
        for marker in MARKERS:
            assert marker not in body
        assert "Point" not in body
    exports = [
        event for event in events(db_session, AuditAction.EXPORT) if event.object_type == "hotspot_map"
    ]
    assert [event.reason.split(" ")[0] for event in exports if event.reason] == [
        "format=csv",
        "format=geojson",
        "format=xlsx",
    ]
    assert {(event.object_id, event.actor_username) for event in exports} == {
        ("partner", "user-neighbourhood")
    }


def test_every_inline_script_carries_the_nonce_and_every_asset_is_ours(
    app: FastAPI, borough: Borough
) -> None:
    response = page(signed_in(app, "user-analyst"), **WINDOW)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"])
    assert nonce is not None
    inline = [attributes for attributes in SCRIPT.findall(response.text) if "src=" not in attributes]
    assert len(inline) >= 2
    assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in inline)
    assets = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', response.text)
    assert "/static/build/leaflet-markercluster/leaflet.markercluster.js" in assets
    assert "/static/build/leaflet-fullscreen/Control.FullScreen.js" in assets
    assert "/static/js/hotspot-map.mjs" in assets
    assert all(url.startswith("/") and not url.startswith("//") for url in assets)
    for url in assets:
        assert client_get_ok(app, url)


def client_get_ok(app: FastAPI, url: str) -> bool:
    """Whether a static asset is served."""
    return TestClient(app).get(url).status_code == 200


def test_cells_are_placed_where_the_api_draws_them(
    app: FastAPI, client: TestClient, borough: Borough
) -> None:
    data = data_of(page(signed_in(app, "user-analyst"), **WINDOW | {"shape": "hex", "cell": "500"}))
    layout = data["layout"]
    response = client.get(
        "/api/hotspots",
        params=WINDOW | {"shape": "hex", "cell": "500"},
        headers=bearer(client, "user-analyst"),
    )
    outlines = {
        f["properties"]["cell_id"]: f["geometry"]["coordinates"][0] for f in response.json()["features"]
    }
    for cell in data["cells"]["id"]:
        row, column = divmod(cell, layout["columns"])
        x = (
            layout["origin"][0]
            + layout["first_centre"][0]
            + (column + (row % 2) * layout["odd_row_shift"]) * 500
        )
        y = layout["origin"][1] + layout["first_centre"][1] + row * layout["row_spacing"]
        for (dx, dy), (longitude, latitude) in zip(layout["ring"], outlines[cell], strict=True):
            placed = degrees(layout["fit"], x + dx, y + dy)
            assert placed == pytest.approx((longitude, latitude), abs=2e-6)


def degrees(fit: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    """The page's polynomial from metres to degrees, as /static/js/hotspot-map.mjs evaluates it."""
    u, v = (x - fit["middle"][0]) / 1000, (y - fit["middle"][1]) / 1000
    terms = [u**i * v**j for i, j in fit["terms"]]
    return (
        sum(c * t for c, t in zip(fit["lon"], terms, strict=True)),
        sum(c * t for c, t in zip(fit["lat"], terms, strict=True)),
    )


def test_a_refused_query_shows_the_form_again_with_the_problem(app: FastAPI, borough: Borough) -> None:
    response = page(signed_in(app, "user-analyst"), **{"from": "2026-13", "cell": "nine"})
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert 'href="#cell"' in response.text or 'href="#from"' in response.text
    assert "hotspot-data" not in response.text


def test_the_places_layer_names_places_as_data_and_keeps_residential_ones_from_partners(
    app: FastAPI, borough: Borough, db_session: Session, world: World
) -> None:
    recorder = world.users[Role.PRACTITIONER].id
    add_place(db_session, MARKUP, "hotel", f"POINT({WEST + 900} {SOUTH + 900})", recorder)
    analyst = signed_in(app, "user-analyst")
    for audience, residential in (("partner", False), ("analyst", True)):
        response = analyst.get("/maps/layers/places", params={"audience": audience})
        assert response.headers["content-type"] == "application/geo+json"
        names = {f["properties"]["name"] for f in response.json()["features"]}
        assert {MARKERS[3], "Fallow Park", MARKUP} <= names
        assert ("Flat 3" in names) is residential
        assert MARKERS[2] not in response.text
        assert {f["geometry"]["type"] for f in response.json()["features"]} == {"Point"}
    neighbourhood = signed_in(app, "user-neighbourhood").get(
        "/maps/layers/places", params={"audience": "analyst"}
    )
    assert "Flat 3" not in {f["properties"]["name"] for f in neighbourhood.json()["features"]}


def test_the_areas_layer_shades_small_areas_by_decile(
    app: FastAPI, world: World, db_session: Session
) -> None:
    built = build_demo_areas(db_session, 2026)
    body = signed_in(app, "user-neighbourhood").get("/maps/layers/areas").json()
    assert len(body["features"]) == built.areas
    for feature in body["features"]:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert 1 <= feature["properties"]["imd_decile"] <= 10


def test_analysts_get_their_own_agencys_density_layer(
    app: FastAPI, client: TestClient, borough: Borough
) -> None:
    data = data_of(page(signed_in(app, "user-analyst"), **WINDOW))
    assert data["layers"]["agency"] is not None
    assert "agency=first" in data["layers"]["agency"]
    own = client.get(data["layers"]["agency"], headers=bearer(client, "user-analyst")).json()
    everyone = client.get(
        data["layers"]["slice"] + "&from=2026-01&to=2026-06", headers=bearer(client, "user-analyst")
    )
    assert 0 < own["total"] < everyone.json()["total"]
    partner = data_of(page(signed_in(app, "user-analyst"), **WINDOW | {"audience": "partner"}))
    assert partner["layers"]["agency"] is None


def test_qgis_reads_partner_hotspots_from_ogc(client: TestClient, borough: Borough) -> None:
    head = bearer(client, "user-neighbourhood")
    listed = {c["id"] for c in client.get("/ogc/collections", headers=head).json()["collections"]}
    assert "hotspots" in listed
    window: dict[str, str | int] = {"datetime": "2026-01-01T00:00:00Z/2026-06-30T12:00:00Z", "limit": 10_000}
    body = client.get("/ogc/collections/hotspots/items", params=window, headers=head).json()
    assert body["numberReturned"] == body["numberMatched"] > 0
    counts = [f["properties"]["count"] for f in body["features"]]
    assert all(count is None or (count >= 10 and count % 5 == 0) for count in counts)
    assert any(count is not None for count in counts)
    for feature in body["features"]:
        assert set(feature["properties"]) <= set(PARTNER_PROPERTY_CHECKS)
        assert feature["properties"]["period"] == "2026-01/2026-06"
        assert feature["geometry"]["type"] == "Polygon"
    march = window | {"datetime": "2026-03-15T12:00:00Z"}
    one_month = client.get("/ogc/collections/hotspots/items", params=march, headers=head).json()
    assert {f["properties"]["period"] for f in one_month["features"]} <= {"2026-03/2026-03"}
    first = body["features"][0]["geometry"]["coordinates"][0]
    box = [
        min(p[0] for p in first),
        min(p[1] for p in first),
        max(p[0] for p in first),
        max(p[1] for p in first),
    ]
    small = window | {"bbox": ",".join(f"{value:.6f}" for value in box)}
    near = client.get("/ogc/collections/hotspots/items", params=small, headers=head).json()
    assert 0 < near["numberMatched"] < body["numberMatched"]
    assert body["features"][0]["id"] in {f["id"] for f in near["features"]}
    default = client.get("/ogc/collections/hotspots/items", headers=head).json()["features"][0]
    one = client.get(f"/ogc/collections/hotspots/items/{default['id']}", headers=head).json()
    assert (one["id"], one["properties"]) == (default["id"], default["properties"])
    assert client.get("/ogc/collections/hotspots/items/nowhere", headers=head).status_code == 404
    admin = bearer(client, "user-system-admin")
    assert client.get("/ogc/collections/hotspots/items", headers=admin).status_code == 403
    text_of_all = json.dumps(body)
    for marker in MARKERS:
        assert marker not in text_of_all


def test_a_page_with_an_area_names_the_filter_and_carries_the_shape_to_draw_again(
    app: FastAPI, client: TestClient, borough: Borough, db_session: Session
) -> None:
    area = drawn_area(db_session, PENTAGON)
    analyst = signed_in(app, "user-analyst")
    response = page(analyst, **WINDOW | {"area": area})
    data = data_of(response)
    assert data["area"] == json.loads(area)
    assert map_cells(data).keys() == api_cells(client, "user-analyst", **WINDOW | {"area": area}).keys()
    assert "Filtered to the area drawn on the map" in response.text
    note = re.search(r'<p class="govuk-body-s" id="area-note">([^<]+)</p>', response.text)
    assert note is not None
    assert "A polygon drawn on the map (5 corners): the " in html.unescape(note.group(1))
    field = re.search(r'name="area" id="area" value="([^"]*)"', response.text)
    assert field is not None
    assert html.unescape(field.group(1)) == area
    downloads = re.findall(r'href="(/maps/hotspots\.(?:csv|xlsx|geojson)\?[^"]+)"', response.text)
    assert len(downloads) == 3
    geojson = analyst.get(html.unescape(next(link for link in downloads if ".geojson?" in link)))
    assert geojson.status_code == 200
    assert "drawn-area" in geojson.headers["content-disposition"]
    assert geojson.json()["area"] == json.loads(area)
    link = re.search(r'href="(/maps/partner\?[^"]+)"', response.text)
    assert link is not None
    partner = signed_in(app, "user-neighbourhood")
    shared = partner.get(html.unescape(link.group(1)), headers={"Accept": "text/html"})
    published = data_of(shared)
    assert (published["audience"], published["area"]) == ("partner", json.loads(area))
    assert 'id="area-note"' in shared.text
    shown = [cell["count"] for cell in map_cells(published).values() if cell["count"] is not None]
    assert all(count >= 10 and count % 5 == 0 for count in shown)
    for marker in MARKERS:
        assert marker not in shared.text


def test_a_bad_area_shows_the_form_again_naming_the_area(app: FastAPI, borough: Borough) -> None:
    crossed = ring_text([[-1.45, 52.39], [-1.44, 52.4], [-1.44, 52.39], [-1.45, 52.4], [-1.45, 52.39]])
    response = page(signed_in(app, "user-analyst"), **WINDOW | {"area": crossed})
    assert response.status_code == 422
    assert 'href="#area-error"' in response.text
    assert 'id="area-error"' in response.text
    assert "crosses" in response.text
    assert "hotspot-data" not in response.text


def test_the_rates_layer_gives_each_area_the_maps_records_per_1000_young_people(
    app: FastAPI, borough: Borough, db_session: Session
) -> None:
    add_test_areas(db_session)
    db_session.commit()
    analyst = signed_in(app, "user-analyst")
    data = data_of(page(analyst, **WINDOW))
    assert "rates=true" in data["layers"]["rates"]
    body = analyst.get(data["layers"]["rates"]).json()
    assert body["window"] == ["2026-01-01", "2026-06-30"]
    assert body["audience"] == "analyst"
    properties = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    expected, _ = area_counts(
        db_session, borough.analyst, HotspotQuery(start=START, end=END), POLICY, kind="lsoa", edition=2021
    )
    assert {code: p["count"] for code, p in properties.items()} == expected
    assert all(p["rate_per_1000"] is None for p in properties.values())
    assert MARKERS[0] not in json.dumps(body)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.object_type == "hotspot_map")).all()
    assert any("layer=area_rates" in (event.reason or "") for event in events)
    neighbourhood = signed_in(app, "user-neighbourhood")
    assert neighbourhood.get(data["layers"]["rates"]).status_code == 403
    partner_url = data["layers"]["rates"].replace("audience=analyst", "audience=partner")
    partner = neighbourhood.get(partner_url).json()
    assert partner["audience"] == "partner"
    assert all(
        f["properties"]["count"] is None or f["properties"]["count"] % 5 == 0 for f in partner["features"]
    )
    plain = analyst.get("/maps/layers/areas").json()
    assert "count" not in plain["features"][0]["properties"]
