"""Folium map builders: each returns (header, html, script) fragments for our own Jinja templates.

Leaflet and its plugins load from our own /static/build (folium's defaults point at public CDNs,
which the Content-Security-Policy forbids). There is no basemap: tiles would come from another
origin, and the records' sensitivity rules one out. The script fragment is inline, so templates
must give its <script> the request's CSP nonce. Data goes into the script only through folium's
`tojson`, which escapes <, > and &; pop-ups and tooltips are added as text by
/static/js/places-map.mjs and /static/js/hotspot-map.mjs, never as HTML.

The hotspot map carries no data in its script: its layers start empty and
/static/js/hotspot-map.mjs fills them from a JSON element of the page (the cells) or from layer
requests made when a layer is switched on (places, areas, the agency's own density). Cells travel
compactly: each cell is its id, its figures and a shared outline, placed by a polynomial from
British National Grid metres to degrees that `cell_outlines` fits and checks against PostGIS.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any, Final

import folium
import numpy as np
from branca.element import CssLink, Figure, JavascriptLink
from folium.plugins import Draw, Fullscreen, MarkerCluster
from numpy.typing import NDArray

from contexts.young_people.service import Area
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.grid import Grid, GridShape, cell_centroids, cell_polygons
from mapping.hotspots.service import SQUARE_METRES_PER_KM2, Audience, HotspotMap, significant, trend_labels

LEAFLET_JS = [("leaflet", "/static/build/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/static/build/leaflet/leaflet.css")]
DRAW_JS = [("leaflet_draw_js", "/static/build/leaflet-draw/leaflet.draw.js")]
DRAW_CSS = [("leaflet_draw_css", "/static/build/leaflet-draw/leaflet.draw.css")]
MARKERCLUSTER_JS = [("markerclusterjs", "/static/build/leaflet-markercluster/leaflet.markercluster.js")]
MARKERCLUSTER_CSS = [
    ("markerclustercss", "/static/build/leaflet-markercluster/MarkerCluster.css"),
    ("markerclusterdefaultcss", "/static/build/leaflet-markercluster/MarkerCluster.Default.css"),
]
FULLSCREEN_JS = [("Control.Fullscreen.js", "/static/build/leaflet-fullscreen/Control.FullScreen.js")]
FULLSCREEN_CSS = [("Control.FullScreen.css", "/static/build/leaflet-fullscreen/Control.FullScreen.css")]
MAP_MODULE = "/static/js/places-map.mjs"
HOTSPOT_MODULE = "/static/js/hotspot-map.mjs"
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

    @property
    def styles(self) -> str:
        """The header's stylesheet links alone, for <head>."""
        return "\n".join(line for line in self.header.splitlines() if line.startswith("<link"))

    @property
    def scripts(self) -> str:
        """The header's script elements alone, to place just before the map so they do not hold up the
        page's first paint."""
        return "\n".join(line for line in self.header.splitlines() if line.startswith("<script"))


def _base_map(element_id: str, area: Area, *, canvas: bool = False) -> folium.Map:
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
        prefer_canvas=canvas,
    )
    figure._id = element_id
    figure.default_js = list(LEAFLET_JS)
    figure.default_css = list(LEAFLET_CSS)
    return figure


def _links(figure: folium.Map, module: str = MAP_MODULE) -> str:
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
    scripts.append(f'<script type="module" src="{module}"></script>')
    return "\n".join(styles + scripts)


def _fragments(
    figure: folium.Map,
    *,
    label: str,
    data: Mapping[str, str],
    area: Area,
    module: str = MAP_MODULE,
    hidden: bool = True,
) -> MapFragments:
    """Render the map into the three fragments; the element stays hidden until the module shows it, unless
    `hidden` is false (the page then hides it without JavaScript itself)."""
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
        f'aria-label="{escape(label)}" {extra}{" hidden" if hidden else ""}></div>'
    )
    return MapFragments(header=_links(figure, module), html=html, script=script)


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


# Hotspot maps ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GiBin:
    """A Gi* confidence bin as the legend, the pop-ups and the table name it."""

    value: int
    label: str
    colour: str


GI_BINS: Final = (
    GiBin(-3, "Cold spot 99%", "#2166ac"),
    GiBin(-2, "Cold spot 95%", "#67a9cf"),
    GiBin(-1, "Cold spot 90%", "#d1e5f0"),
    GiBin(0, "Not significant", "#f7f7f7"),
    GiBin(1, "Hot spot 90%", "#fddbc7"),
    GiBin(2, "Hot spot 95%", "#ef8a62"),
    GiBin(3, "Hot spot 99%", "#b2182b"),
)
"""ColorBrewer's 7-class RdBu, a diverging palette readable with the common colour-vision deficiencies,
from the coldest bin to the hottest (the legend's order)."""
BIN_LABELS: Final = {entry.value: entry.label for entry in GI_BINS}
HOTSPOT_DRAW_OPTIONS: dict[str, Any] = {
    "polygon": {"allowIntersection": False, "showArea": False, "shapeOptions": {"color": "#0b0c0c"}},
    "rectangle": {"shapeOptions": {"color": "#0b0c0c"}},
    "marker": False,
    "polyline": False,
    "circle": False,
    "circlemarker": False,
}
EMPTY_COLLECTION: Final = {"type": "FeatureCollection", "features": []}
MAX_ZOOM: Final = 18
FIT_DEGREES: Final = (3, 4)
FIT_SAMPLES: Final = 21
FIT_TOLERANCE: Final = 1e-6
"""Largest error, in degrees (about 0.1 m), allowed of the polynomial that places cells; the cells
the API sends are rounded to 6 decimal places, about the same."""
Project = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""British National Grid points (n, 2) to WGS84 longitude, latitude (n, 2)."""


def trend_words(trend: str | None) -> str:
    """An emerging hot-spot pattern's code in words: 'persistent_hot_spot' -> 'Persistent hot spot'."""
    if not trend:
        return "No trend"
    return trend.replace("_", " ").capitalize()


@lru_cache(maxsize=16)
def hotspots_map(
    *, area: Area, label: str, source: str, agency_layer: bool, element_id: str = "hotspots"
) -> MapFragments:
    """A hotspot map whose layers start empty for /static/js/hotspot-map.mjs to fill.

    It carries no data, so it is rendered once for each set of arguments (folium compiles its
    templates on every render) and the same fragments serve every page.

    Cells come from the JSON element `source`; places, areas (by deprivation decile, and by the
    map's records per 1,000 young people) and (when `agency_layer`) the agency's own concern density
    are fetched when switched on in the layer control. Leaflet.draw draws the
    area that filters the map; the full-screen button and the layer control sit on the map.
    """
    figure = _base_map(element_id, area, canvas=True)
    # Clustering needs a highest zoom, which a map without tiles does not otherwise have.
    figure.options["max_zoom"] = MAX_ZOOM
    cells = folium.GeoJson(EMPTY_COLLECTION, name="Hot and cold spots", show=True)
    cells.add_to(figure)
    data = {"role": "hotspots", "source": source, "cells": cells.get_name()}
    if agency_layer:
        own = folium.GeoJson(EMPTY_COLLECTION, name="Your agency's concerns (density)", show=False)
        own.add_to(figure)
        data["agency"] = own.get_name()
    places = MarkerCluster(name="Places", show=False)  # type: ignore[no-untyped-call]
    places.default_js = list(MARKERCLUSTER_JS)
    places.default_css = list(MARKERCLUSTER_CSS)
    places.add_to(figure)
    areas = folium.GeoJson(EMPTY_COLLECTION, name="Deprivation (IMD decile) by small area", show=False)
    areas.add_to(figure)
    rates = folium.GeoJson(EMPTY_COLLECTION, name="Rate per 1,000 young people by small area", show=False)
    rates.add_to(figure)
    draw = Draw(  # type: ignore[no-untyped-call]
        position="topleft",
        show_geometry_on_click=False,
        draw_options=HOTSPOT_DRAW_OPTIONS,
        edit_options={"edit": False, "remove": False},
    )
    draw.default_js = list(DRAW_JS)
    draw.default_css = list(DRAW_CSS)
    draw.add_to(figure)
    fullscreen = Fullscreen(  # type: ignore[no-untyped-call]
        position="topleft", title="Show the map full screen", title_cancel="Leave full screen"
    )
    fullscreen.default_js = list(FULLSCREEN_JS)
    fullscreen.default_css = list(FULLSCREEN_CSS)
    fullscreen.add_to(figure)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(figure)
    data |= {
        "places": places.get_name(),
        "areas": areas.get_name(),
        "rates": rates.get_name(),
        "drawn-items": f"drawnItems_{draw.get_name()}",
    }
    # Shown from the start, so the page's first layout places it and the module's first look at its size
    # does not lay the page out again; the page hides it when JavaScript is off.
    return _fragments(figure, label=label, data=data, area=area, module=HOTSPOT_MODULE, hidden=False)


def cell_layout(grid: Grid, project: Project, cells: Sequence[int]) -> dict[str, Any]:
    """How the browser draws the given cells of a grid, as JSON-ready values.

    Every cell is its centre plus one shared outline (`ring`, metres). The centre comes from the
    cell id as mapping.hotspots.grid lays cells out; a polynomial in kilometres from the grid's
    middle (`fit`) turns metres into degrees. When no polynomial is close enough (a study area
    hundreds of kilometres across) each cell's outline is sent in degrees instead (`rings`).
    """
    centre = cell_centroids(grid)[0]
    layout: dict[str, Any] = {
        "shape": grid.shape.value,
        "size": grid.cell_size,
        "origin": [grid.origin_x, grid.origin_y],
        "columns": grid.columns,
        "row_spacing": grid.row_spacing,
        "first_centre": [float(centre[0] - grid.origin_x), float(centre[1] - grid.origin_y)],
        "odd_row_shift": 0.5 if grid.shape is GridShape.HEX else 0.0,
        "ring": np.round(cell_polygons(grid, [0])[0] - centre, 3).tolist(),
    }
    fit = polynomial_fit(grid, project)
    if fit is not None:
        layout["fit"] = fit
        return layout
    outlines = project(cell_polygons(grid, list(cells)).reshape(-1, 2)) if cells else np.zeros((0, 2))
    per_cell = np.round(outlines, 6).reshape(len(cells), -1, 2)
    layout["rings"] = {str(cell): ring for cell, ring in zip(cells, per_cell.tolist(), strict=True)}
    return layout


def polynomial_fit(grid: Grid, project: Project) -> dict[str, Any] | None:
    """The lowest-degree polynomial from metres to degrees within FIT_TOLERANCE over the grid, if any."""
    west, south = grid.origin_x - grid.cell_size, grid.origin_y - grid.cell_size
    east = grid.origin_x + (grid.columns + 1) * grid.cell_size
    north = grid.origin_y + grid.rows * grid.row_spacing + 2 * grid.cell_size
    middle = np.array([(west + east) / 2, (south + north) / 2])
    fitted = _lattice(west, south, east, north, FIT_SAMPLES)
    checked = _lattice(west, south, east, north, FIT_SAMPLES - 1, offset=0.5)
    degrees = project(np.vstack([fitted, checked]))
    for degree in FIT_DEGREES:
        terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]
        design = _design(fitted, middle, terms)
        solved = [np.linalg.lstsq(design, degrees[: len(fitted), k], rcond=None)[0] for k in (0, 1)]
        error = max(
            float(np.abs(_design(checked, middle, terms) @ solved[k] - degrees[len(fitted) :, k]).max())
            for k in (0, 1)
        )
        if error <= FIT_TOLERANCE:
            return {
                "middle": middle.tolist(),
                "terms": terms,
                "lon": solved[0].tolist(),
                "lat": solved[1].tolist(),
                "error": error,
            }
    return None


def _lattice(
    west: float, south: float, east: float, north: float, count: int, offset: float = 0.0
) -> NDArray[np.float64]:
    """A count x count lattice of points over a rectangle (shifted by `offset` of a step)."""
    steps = (np.arange(count) + offset) / max(1, count - 1)
    xs, ys = np.meshgrid(west + steps * (east - west), south + steps * (north - south))
    return np.column_stack([xs.ravel(), ys.ravel()])


def _design(points: NDArray[np.float64], middle: NDArray[np.float64], terms: list[tuple[int, int]]) -> Any:
    """The polynomial's design matrix: u**i * v**j for each term, u and v in km from the middle."""
    u, v = (points[:, 0] - middle[0]) / 1000, (points[:, 1] - middle[1]) / 1000
    return np.column_stack([u**i * v**j for i, j in terms])


@dataclass(slots=True)
class CellRow:
    """One cell as the table, the pop-ups and the map's data give it (not frozen: a page makes thousands,
    and a frozen dataclass sets each field through object.__setattr__, twice as slow)."""

    cell_id: int
    count: int | None
    rate: float | None
    gi_bin: int
    trend: str | None
    z: float | None = None
    p_fdr: float | None = None

    @property
    def bin_label(self) -> str:
        """The bin in words."""
        return BIN_LABELS[self.gi_bin]

    @property
    def trend_label(self) -> str:
        """The trend in words."""
        return trend_words(self.trend)

    @property
    def z_text(self) -> str:
        """The Gi* z-score as the table and pop-ups show it."""
        return "" if self.z is None else f"{self.z:.2f}"

    @property
    def p_text(self) -> str:
        """The FDR-adjusted p-value as the table and pop-ups show it."""
        return "" if self.p_fdr is None else f"{self.p_fdr:.3g}"


def cell_rate(count: float, grid: Grid) -> float:
    """Records per square kilometre, to one decimal place, as the hotspot API gives it."""
    area = grid.cell_size**2 * (1.0 if grid.shape is GridShape.SQUARE else math.sqrt(3) / 2)
    return round(count * SQUARE_METRES_PER_KM2 / area, 1)


def cell_rows(computed: HotspotMap, policy: DisclosurePolicy) -> list[CellRow]:
    """The study area's cells worth showing (a count above 0, a significant bin or a trend), hottest first.

    Partners' counts are published by the disclosure policy, their rates computed from the published
    counts, and every distinct row passes the policy's allow-list, as the API's partner cells do.
    """
    grid, statistics = computed.grid, computed.statistics
    if grid is None or statistics is None:
        return []
    partner = computed.query.audience is Audience.PARTNER
    counts = policy.publish_counts(computed.counts) if partner else computed.counts.astype(np.float64)
    bins = statistics.result.bins
    keep = _shown_hottest_first(computed.cells, counts, bins, statistics.patterns)
    trends = trend_labels(statistics, counts.size)
    z = np.round(statistics.result.z[keep], 4).tolist()
    p_fdr = significant(statistics.result.p_fdr, 4)[keep].tolist()
    rates: dict[int, float] = {}
    rows = []
    for at, cell_id, value, gi_bin, z_at, p_at in zip(
        keep.tolist(),
        computed.cells[keep].tolist(),
        counts[keep].tolist(),
        bins[keep].tolist(),
        z,
        p_fdr,
        strict=True,
    ):
        count = None if math.isnan(value) else int(value)
        if count is not None and count not in rates:
            rates[count] = cell_rate(count, grid)
        row = CellRow(
            cell_id=cell_id,
            count=count,
            rate=None if count is None else rates[count],
            gi_bin=gi_bin,
            trend=trends[at],
            z=None if partner else z_at,
            p_fdr=None if partner else p_at,
        )
        rows.append(row)
    if partner:
        _check_partner_rows(rows, policy)
    return rows


def _shown_hottest_first(
    cells: NDArray[np.int64],
    counts: NDArray[np.float64],
    bins: NDArray[np.int8],
    patterns: NDArray[np.int8] | None,
) -> NDArray[np.intp]:
    """Positions of the cells worth showing: the hottest bin first, then the larger count (hidden as 0),
    then the lower id."""
    trend = patterns != 0 if patterns is not None else np.zeros(counts.size, bool)
    shown = np.nan_to_num(counts)
    keep = np.flatnonzero((shown > 0) | (bins != 0) | trend)
    return keep[np.lexsort((cells[keep], -shown[keep], -bins[keep].astype(np.int64)))]


def _check_partner_rows(rows: Sequence[CellRow], policy: DisclosurePolicy) -> None:
    """Pass each distinct partner row through the disclosure policy's allow-list (it raises on a leak)."""
    seen: set[tuple[int | None, float | None, int, str | None]] = set()
    for row in rows:
        key = (row.count, row.rate, row.gi_bin, row.trend)
        if key not in seen:
            seen.add(key)
            given: dict[str, object] = {"cell_id": row.cell_id, "count": row.count, "rate": row.rate}
            given |= {"bin": row.gi_bin} | ({"trend": row.trend} if row.trend else {})
            policy.partner_properties(given)
