"""Place pages: the list with filters, map and table; one place; add and change forms drawn on a folium
map whose assets are all ours and whose inline script carries the CSP nonce; errors; markup inert."""

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mapping.places.models import Place
from tests.conftest import World, web_sign_in
from tests.test_assessment_pages import HTML, csrf_of, input_value

SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)>"
HOTEL = {
    "type": "Polygon",
    "coordinates": [[[-1.51, 52.40], [-1.50, 52.40], [-1.50, 52.41], [-1.51, 52.41], [-1.51, 52.40]]],
}
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[-1.51, 52.40], [-1.50, 52.41], [-1.50, 52.40], [-1.51, 52.41], [-1.51, 52.40]]],
}


@pytest.fixture
def analyst(client: TestClient, world: World) -> TestClient:
    """The analyst signed in through the web."""
    client.cookies.clear()
    web_sign_in(client, "user-analyst")
    return client


def form(token: str, **changes: Any) -> dict[str, Any]:
    """A valid taxi rank typed by longitude and latitude."""
    return {
        "csrf_token": token,
        "name": "Market Street taxi rank",
        "type": "taxi_rank",
        "geometry": "",
        "longitude": "-1.5123",
        "latitude": "52.4081",
        "address": "Market Street",
        "postcode": "cv1 1aa",
        "owner_name": "",
        "owner_contact": "",
        "licence_refs": "PH-1\nPH-2",
        "external_ref": "",
        **changes,
    }


def submit(browser: TestClient, **changes: Any) -> Any:
    """Send the add-a-place form."""
    page = browser.get("/places/new", headers=HTML)
    return browser.post(
        "/places/new", data=form(csrf_of(page.text), **changes), headers=HTML, follow_redirects=False
    )


def test_the_form_map_is_ours_and_its_script_carries_the_nonce(analyst: TestClient) -> None:
    page = analyst.get("/places/new", headers=HTML)
    assert page.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert inline, "the map script is inline"
    assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in inline)
    sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page.text)
    assert "/static/build/leaflet-draw/leaflet.draw.js" in sources
    assert "/static/build/leaflet-draw/leaflet.draw.css" in sources
    assert "/static/js/places-map.mjs" in sources
    assert not [url for url in sources if "//" in url]
    assert "L.Control.Draw" in page.text
    assert 'data-geometry-input="geometry"' in page.text
    assert 'id="longitude"' in page.text


def test_adding_a_place_by_longitude_and_latitude(analyst: TestClient, db_session: Session) -> None:
    sent = submit(analyst)
    assert sent.status_code == 303
    place = db_session.scalar(select(Place).where(Place.name == "Market Street taxi rank"))
    assert place is not None
    assert sent.headers["location"] == f"/places/{place.id}?saved=added"
    assert place.postcode == "CV1 1AA"
    assert place.licence_refs == ["PH-1", "PH-2"]
    page = analyst.get(sent.headers["location"], headers=HTML)
    assert "Place added." in page.text
    assert "Point at longitude -1.512300, latitude 52.408100" in page.text
    assert "PH-1, PH-2" in page.text


def test_adding_a_drawn_area(analyst: TestClient, db_session: Session) -> None:
    sent = submit(
        analyst, name="Grand Hotel", type="hotel", longitude="", latitude="", geometry=json.dumps(HOTEL)
    )
    assert sent.status_code == 303
    place = db_session.scalar(select(Place).where(Place.name == "Grand Hotel"))
    assert place is not None
    listed = analyst.get("/places", params={"q": "grand"}, headers=HTML)
    assert "Grand Hotel</a>" in listed.text
    assert "Area" in listed.text


@pytest.mark.parametrize(
    ("changes", "words", "anchor"),
    [
        pytest.param({"name": ""}, "Enter the place&#39;s name", "#name", id="name"),
        pytest.param({"type": ""}, "Select the type of place", "#type", id="type"),
        pytest.param({"postcode": "nonsense"}, "Enter a real UK postcode", "#postcode", id="postcode"),
        pytest.param(
            {"longitude": "", "latitude": ""},
            "Draw the place on the map, or enter",
            "#longitude",
            id="nowhere",
        ),
        pytest.param({"latitude": ""}, "Enter both the longitude and the latitude", "#longitude", id="half"),
        pytest.param({"longitude": "west"}, "Enter the longitude as a number", "#longitude", id="not-number"),
        pytest.param(
            {"longitude": "2.35", "latitude": "48.85"}, "outside this deployment", "#longitude", id="out"
        ),
    ],
)
def test_problems_are_summarised_and_nothing_is_saved(
    analyst: TestClient, db_session: Session, changes: dict[str, str], words: str, anchor: str
) -> None:
    before = db_session.scalars(select(Place.id)).all()
    sent = submit(analyst, **changes)
    assert sent.status_code == 422
    assert "govuk-error-summary" in sent.text
    assert words in sent.text
    assert f'href="{anchor}"' in sent.text
    assert db_session.scalars(select(Place.id)).all() == before
    if "name" not in changes:
        assert input_value(sent.text, "name") == "Market Street taxi rank"


def test_a_crossed_boundary_offers_repair(analyst: TestClient, db_session: Session) -> None:
    drawn = {
        "longitude": "",
        "latitude": "",
        "type": "hotel",
        "name": "Bow tie hotel",
        "geometry": json.dumps(BOW_TIE),
    }
    refused = submit(analyst, **drawn)
    assert refused.status_code == 422
    assert "Self-intersection" in refused.text
    assert 'name="repair"' in refused.text
    mended = submit(analyst, **drawn, repair="yes")
    assert mended.status_code == 303
    place = db_session.scalar(select(Place).where(Place.name == "Bow tie hotel"))
    assert place is not None


def test_changing_a_place_and_a_stale_change(analyst: TestClient, db_session: Session) -> None:
    url = submit(analyst).headers["location"].split("?")[0]
    edit = analyst.get(f"{url}/edit", headers=HTML)
    assert input_value(edit.text, "version") == "1"
    assert input_value(edit.text, "longitude") == "-1.512300"
    assert json.loads(html.unescape(input_value(edit.text, "geometry") or "{}"))["type"] == "Point"
    token = csrf_of(edit.text)
    saved = analyst.post(
        f"{url}/edit",
        data={**form(token, name="Renamed rank"), "version": "1"},
        headers=HTML,
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "Changes saved." in analyst.get(saved.headers["location"], headers=HTML).text
    stale = analyst.post(f"{url}/edit", data={**form(token, name="Stale name"), "version": "1"}, headers=HTML)
    assert stale.status_code == 409
    assert "Someone changed this place since you opened it" in stale.text
    assert input_value(stale.text, "name") == "Stale name"
    assert input_value(stale.text, "version") == "2"
    assert (
        db_session.scalar(select(Place.name).where(Place.id == int(url.rsplit("/", 1)[1]))) == "Renamed rank"
    )


def test_archiving_takes_a_place_off_the_list(analyst: TestClient) -> None:
    url = submit(analyst, name="Archive me rank").headers["location"].split("?")[0]
    page = analyst.get(url, headers=HTML)
    archived = analyst.post(
        f"{url}/archive", data={"csrf_token": csrf_of(page.text)}, headers=HTML, follow_redirects=False
    )
    assert archived.status_code == 303
    listed = analyst.get("/places", params={"q": "archive me"}, headers=HTML)
    assert "Archive me rank" not in listed.text
    assert "Archived" in analyst.get(url, headers=HTML).text


def test_markup_typed_into_fields_is_shown_as_text(analyst: TestClient) -> None:
    url = submit(analyst, name=SCRIPT, address=SCRIPT, owner_name=SCRIPT, licence_refs=SCRIPT).headers[
        "location"
    ]
    for page in (analyst.get(url, headers=HTML), analyst.get("/places", headers=HTML)):
        assert page.status_code == 200
        assert "<img src=x" not in page.text
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(" in page.text
        # In the map's script the name is JSON with <, > and & escaped, so it cannot end the element.
        assert "\\u003cscript\\u003ealert" in page.text


def test_who_sees_the_place_pages(client: TestClient, world: World) -> None:
    for username, list_status, new_status in (
        ("user-practitioner", 200, 403),
        ("user-neighbourhood", 200, 200),
        ("user-agency-admin", 403, 403),
    ):
        client.cookies.clear()
        web_sign_in(client, username)
        assert client.get("/places", headers=HTML).status_code == list_status
        assert client.get("/places/new", headers=HTML).status_code == new_status
        home = client.get("/", headers=HTML).text
        assert ('href="/places"' in home) == (list_status == 200)
