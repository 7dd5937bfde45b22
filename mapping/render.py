"""Folium map builders: each returns (header, html, script) fragments for our own Jinja templates.

Leaflet and its plugins load from our own /static/build (folium's defaults point at public CDNs,
which the Content-Security-Policy forbids). There is no basemap: tiles would come from another
origin, and the records' sensitivity rules one out. The script fragment is inline, so templates
must give its <script> the request's CSP nonce. Data goes into the script only through folium's
`tojson`, which escapes <, > and &; pop-ups and tooltips are added as text by
/static/js/places-map.mjs, never as HTML.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import folium
from branca.element import CssLink, Figure, JavascriptLink
from folium.plugins import Draw

from contexts.young_people.service import Area

LEAFLET_JS = [("leaflet", "/static/build/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/static/build/leaflet/leaflet.css")]
DRAW_JS = [("leaflet_draw_js", "/static/build/leaflet-draw/leaflet.draw.js")]
DRAW_CSS = [("leaflet_draw_css", "/static/build/leaflet-draw/leaflet.draw.css")]
MAP_MODULE = "/static/js/places-map.mjs"
DRAW_OPTIONS: dict[str, Any] = {
    "marker": True,
    "polyline": {"shapeOptions": {"color": "#1d70b8", "weight": 4}},
    "polygon": {"allowIntersection": False, "showArea": False, "shapeOptions": {"color": "#1d70b8"}},
    "rectangle": False,
    "circle": False,
    "circlemarker": False,
}


@dataclass(frozen=True, slots=True)
class MapFragments:
    """A rendered map: links for <head>, the map's element, and the script that draws it."""

    header: str
    html: str
    script: str


def _base_map(element_id: str, area: Area) -> folium.Map:
    """A map with no tiles, Leaflet served locally, centred on the deployment's area."""
    centre = [
        (area.min_latitude + area.max_latitude) / 2,
        (area.min_longitude + area.max_longitude) / 2,
    ]
    figure = folium.Map(
        location=centre,
        zoom_start=6,
        tiles=None,
        control_scale=True,
        attribution_control=False,
        scroll_wheel_zoom=False,
        keyboard=True,
    )
    figure._id = element_id
    figure.default_js = list(LEAFLET_JS)
    figure.default_css = list(LEAFLET_CSS)
    return figure


def _links(figure: folium.Map) -> str:
    """The stylesheet and script links folium collected, refusing any outside our static files."""
    root = figure.get_root()
    assert isinstance(root, Figure)
    styles: list[str] = []
    scripts: list[str] = []
    for child in root.header._children.values():
        if isinstance(child, CssLink | JavascriptLink):
            url = str(child.url)
            if not url.startswith("/static/"):
                raise ValueError(f"A map asset would load from outside our static files: {url}")
            if isinstance(child, CssLink):
                styles.append(f'<link rel="stylesheet" href="{escape(url)}">')
            else:
                scripts.append(f'<script src="{escape(url)}"></script>')
    scripts.append(f'<script type="module" src="{MAP_MODULE}"></script>')
    return "\n".join(styles + scripts)


def _fragments(figure: folium.Map, *, label: str, data: Mapping[str, str], area: Area) -> MapFragments:
    """Render the map into the three fragments; the element stays hidden until the module shows it."""
    root = figure.get_root()
    assert isinstance(root, Figure)
    root.render()
    script = root.script.render()
    if "</" in script:
        raise ValueError("The map script would end its own <script> element.")
    attributes = {
        "data-map": figure.get_name(),
        "data-area": f"{area.min_longitude},{area.min_latitude},{area.max_longitude},{area.max_latitude}",
        **{f"data-{key}": value for key, value in data.items()},
    }
    extra = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
    html = (
        f'<div id="{figure.get_name()}" class="csmap-map csmap-map--plain" role="region" '
        f'aria-label="{escape(label)}" {extra} hidden></div>'
    )
    return MapFragments(header=_links(figure), html=html, script=script)


def places_map(
    features: Sequence[Mapping[str, Any]], *, area: Area, label: str, element_id: str = "places"
) -> MapFragments:
    """A map of places; each feature's properties give `id`, `name`, `type_label` and `icon`."""
    figure = _base_map(element_id, area)
    layer = folium.GeoJson({"type": "FeatureCollection", "features": list(features)}, control=False)
    layer.add_to(figure)
    return _fragments(figure, label=label, data={"layer": layer.get_name(), "role": "places"}, area=area)


def drawing_map(*, area: Area, label: str, geometry_input: str, element_id: str = "draw") -> MapFragments:
    """A map to draw one place on (a marker, a line or an area) with Leaflet.draw.

    The module keeps the drawing and the hidden GeoJSON field `geometry_input` in step.
    """
    figure = _base_map(element_id, area)
    draw = Draw(  # type: ignore[no-untyped-call]
        position="topleft",
        show_geometry_on_click=False,
        draw_options=DRAW_OPTIONS,
        edit_options={"poly": {"allowIntersection": False}},
    )
    draw.default_js = list(DRAW_JS)
    draw.default_css = list(DRAW_CSS)
    draw.add_to(figure)
    data = {"drawn-items": f"drawnItems_{draw.get_name()}", "geometry-input": geometry_input, "role": "draw"}
    return _fragments(figure, label=label, data=data, area=area)
