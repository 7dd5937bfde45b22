"""Map pages: the hotspot map for analysts and partners, its downloads, the published partner view,
and the layers the map fetches when they are switched on (places, small areas).

The cells come from the hotspot service in the page request, already aggregated (and, for
partners, through the disclosure gate), and go to the page once: compactly for the map and as a
table beside it. Nothing here counts records itself.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import numpy as np
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from numpy.typing import NDArray
from pydantic_core import from_json
from shapely.geometry import mapping as geojson_of
from shapely.geometry import shape
from sqlalchemy.orm import Session

from app.api.hotspots import parse_bbox, parse_day
from app.db import SessionDep
from app.deps import AreaDep, OriginDep, SettingsDep, require
from app.settings import Settings
from app.templating import render
from app.web.forms import error_list
from contexts.access import Actor, Permission, can
from contexts.agencies.service import list_agencies
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import CONTEXT_LABELS, ConcernKind
from contexts.concerns.service import categories
from contexts.errors import InvalidInput
from contexts.young_people.models import Gender
from contexts.young_people.service import Area
from mapping.areas.service import ChoroplethRow, areas_with_indicators
from mapping.disclosure import RESIDENTIAL_PLACE_TYPES, DisclosurePolicy
from mapping.exports import to_csv, to_geojson, to_xlsx
from mapping.hotspots.areas import AreaRate, area_rates
from mapping.hotspots.drawn import MAX_AREA_TEXT, parse_area
from mapping.hotspots.grid import GridShape
from mapping.hotspots.models import AgeBand
from mapping.hotspots.service import (
    Audience,
    HotspotFilters,
    HotspotMap,
    HotspotQuery,
    SourceChoice,
    collection_members,
    describe_query,
    hotspot_geojson,
    hotspot_map,
    month_window,
    to_wgs84,
)
from mapping.hotspots.trend import PATTERNS
from mapping.places.schemas import PlaceFilter
from mapping.places.service import icons_of, list_places, place_types
from mapping.render import GI_BINS, CellRow, MapFragments, cell_layout, cell_rows, hotspots_map, trend_words

router = APIRouter(include_in_schema=False)
HotspotViewer = Annotated[Actor, require(Permission.VIEW_HOTSPOTS)]
PlaceViewer = Annotated[Actor, require(Permission.VIEW_PLACES)]
DEFAULT_CELL: Final = "250"
CELL_CHOICES: Final = ("auto", "100", "250", "500", "1000")
MAX_LAYER_PLACES: Final = 10_000
AREA_TOLERANCE: Final = 0.0001
"""Simplification of small-area outlines for the map, in degrees (about 7 to 11 metres)."""
AREA_DIGITS: Final = 5
TREND_CODES: Final = [pattern.value.replace(" ", "_") for pattern in PATTERNS]
DATA_ELEMENT: Final = "hotspot-data"
AGE_BAND_LABELS: Final = {
    AgeBand.UNDER_10: "Under 10",
    AgeBand.AGED_10_TO_13: "10 to 13",
    AgeBand.AGED_14_TO_15: "14 to 15",
    AgeBand.AGED_16_TO_17: "16 to 17",
    AgeBand.AGED_18_AND_OVER: "18 and over",
    AgeBand.NOT_KNOWN: "Not known",
}
FORMATS: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
FIELD_ORDER: Final = (
    "from",
    "to",
    "cell",
    "shape",
    "source",
    "context",
    "kind",
    "category",
    "place_type",
    "agency",
    "age_band",
    "gender",
    "audience",
    "bbox",
    "area",
)
ERROR_ANCHORS: Final = {"bbox": "bbox-error", "area": "area-error"}
"""The drawn-area fields are hidden: the error summary links to their messages instead."""


@dataclass(frozen=True, slots=True)
class MapForm:
    """What the map's form asked for, as typed, so the form can show it again."""

    date_from: str = ""
    date_to: str = ""
    cell: str = DEFAULT_CELL
    shape: str = GridShape.SQUARE.value
    source: str = SourceChoice.CONCERNS.value
    context: str = ""
    kind: str = ""
    category: str = ""
    place_type: str = ""
    agency: str = ""
    age_band: str = ""
    gender: str = ""
    audience: str = ""
    bbox: str = ""
    area: str = ""

    def params(self, **changes: str) -> dict[str, str]:
        """The form as query parameters (blanks left out), with changes."""
        given = replace(self, **changes)
        names = dict(zip(FIELD_ORDER, _values(given), strict=True))
        return {name: value for name, value in names.items() if value}


def _values(form: MapForm) -> tuple[str, ...]:
    """The form's values in FIELD_ORDER."""
    return (
        form.date_from,
        form.date_to,
        form.cell,
        form.shape,
        form.source,
        form.context,
        form.kind,
        form.category,
        form.place_type,
        form.agency,
        form.age_band,
        form.gender,
        form.audience,
        form.bbox,
        form.area,
    )


Text = Annotated[str, Query(max_length=80)]


def map_form(
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    cell: Annotated[str, Query(max_length=10)] = DEFAULT_CELL,
    shape: Annotated[str, Query(max_length=10)] = GridShape.SQUARE.value,
    source: Annotated[str, Query(max_length=10)] = SourceChoice.CONCERNS.value,
    context: Text = "",
    kind: Text = "",
    category: Text = "",
    place_type: Text = "",
    agency: Text = "",
    age_band: Text = "",
    gender: Text = "",
    audience: Annotated[str, Query(max_length=10)] = "",
    bbox: Annotated[str, Query(max_length=100)] = "",
    area: Annotated[str, Query(max_length=MAX_AREA_TEXT)] = "",
) -> MapForm:
    """The map's form from the query string."""
    return MapForm(
        date_from.strip(),
        date_to.strip(),
        cell.strip() or DEFAULT_CELL,
        shape.strip(),
        source.strip(),
        context.strip(),
        kind.strip(),
        category.strip(),
        place_type.strip(),
        agency.strip(),
        age_band.strip(),
        gender.strip(),
        audience.strip(),
        bbox.strip(),
        area.strip(),
    )


FormDep = Annotated[MapForm, Depends(map_form)]


def audience_for(actor: Actor, asked: str, *, partner_only: bool) -> Audience:
    """The audience of the map: partner when forced or asked, else analyst for analysts."""
    if partner_only:
        return Audience.PARTNER
    if not asked:
        return Audience.ANALYST if can(actor, Permission.VIEW_ANALYST_HOTSPOTS) else Audience.PARTNER
    try:
        return Audience(asked)
    except ValueError:
        raise InvalidInput("Choose who the map is for: analysts or partners.", field="audience") from None


def grid_shape(value: str) -> GridShape:
    """The cell shape, or InvalidInput naming the field."""
    try:
        return GridShape(value)
    except ValueError:
        raise InvalidInput("Choose square or hexagonal cells.", field="shape") from None


def source_choice(value: str) -> SourceChoice:
    """Which records to count, or InvalidInput naming the field."""
    try:
        return SourceChoice(value)
    except ValueError:
        raise InvalidInput("Choose concerns, missing episodes or both.", field="source") from None


def cell_size(value: str) -> float | None:
    """The cell size in metres, or None for automatic."""
    if value == "auto":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(
            "Enter the cell size as a number of metres, or choose automatic.", field="cell"
        ) from None


def query_of(form: MapForm, audience: Audience) -> HotspotQuery:
    """The hotspot query the form describes."""
    single = {name: (value,) if value else () for name, value in _filter_values(form).items()}
    return HotspotQuery(
        cell=cell_size(form.cell),
        shape=grid_shape(form.shape),
        start=parse_day(form.date_from, name="from", last=False),
        end=parse_day(form.date_to, name="to", last=True),
        filters=HotspotFilters(**single),
        source=source_choice(form.source),
        audience=audience,
        bbox=parse_bbox(form.bbox),
        area=parse_area(form.area),
    )


def _filter_values(form: MapForm) -> dict[str, str]:
    """The filter fields, named as HotspotFilters names them."""
    return {
        "contexts": form.context,
        "kinds": form.kind,
        "categories": form.category,
        "place_types": form.place_type,
        "agencies": form.agency,
        "age_bands": form.age_band,
        "genders": form.gender,
    }


def map_facts(computed: HotspotMap, policy: DisclosurePolicy) -> dict[str, Any]:
    """How the map was made and its total: the hotspot API's top-level members, with the drawn
    area described in words for the page."""
    return collection_members(computed, policy) | {"area": area_facts(computed)}


def area_facts(computed: HotspotMap) -> dict[str, Any] | None:
    """The drawn area the map was limited to, in words and figures for the page (None: no area)."""
    drawn = computed.query.area
    if drawn is None:
        return None
    cells = int(computed.cells.size)
    kind = "polygon" if drawn.kind == "Polygon" else "set of polygons"
    return {
        "description": drawn.describe(),
        "cells": cells,
        "words": f"A {kind} drawn on the map ({drawn.vertices} corners): the {cells:,} cells that meet it, "
        "each with its whole count",
    }


@dataclass(frozen=True, slots=True)
class MapView:
    """A computed map ready for the page: its members, its cells and the data for the browser."""

    members: dict[str, Any]
    rows: list[CellRow]
    data: dict[str, Any]


def map_view(
    session: Session, computed: HotspotMap, policy: DisclosurePolicy, layers: dict[str, str | None]
) -> MapView:
    """The map's facts, its table rows and the browser's data, from the service's arrays."""
    rows = cell_rows(computed, policy)
    members = map_facts(computed, policy)
    data: dict[str, Any] = {
        "audience": computed.query.audience.value,
        "hidden": policy.hidden_label,
        "bins": [{"value": b.value, "label": b.label, "colour": b.colour} for b in GI_BINS],
        "trends": [trend_words(code) for code in TREND_CODES],
        "months": members["window"]["months"],
        "bbox": list(computed.query.bbox) if computed.query.bbox else None,
        "area": computed.query.area.geometry() if computed.query.area else None,
        "layers": layers,
        "cells": _columns(rows),
        "layout": None,
    }
    if computed.grid is not None:

        def project(points: NDArray[np.float64]) -> NDArray[np.float64]:
            return to_wgs84(session, points)

        data["layout"] = cell_layout(computed.grid, project, [row.cell_id for row in rows])
    return MapView(members=members, rows=rows, data=data)


def _columns(rows: Sequence[CellRow]) -> dict[str, list[Any]]:
    """The cells as columns, trends as indexes into the data's `trends`."""
    columns: dict[str, list[Any]] = {
        "id": [row.cell_id for row in rows],
        "count": [row.count for row in rows],
        "rate": [row.rate for row in rows],
        "bin": [row.gi_bin for row in rows],
        "trend": [TREND_CODES.index(row.trend) if row.trend in TREND_CODES else None for row in rows],
    }
    if rows and rows[0].z is not None:
        columns["z"] = [row.z_text for row in rows]
        columns["p"] = [row.p_text for row in rows]
    return columns


def own_agency_code(session: Session, actor: Actor) -> str | None:
    """The code of the actor's agency."""
    return next(
        (agency.code for agency in list_agencies(session=session) if agency.id == actor.agency_id), None
    )


def resolved_params(form: MapForm, computed: HotspotMap) -> dict[str, str]:
    """The form with the window and the cell size as the map used them, so a link stays the same map."""
    window = computed.window
    cell = form.cell if computed.grid is None else f"{computed.grid.cell_size:g}"
    return form.params(date_from=window.start.isoformat(), date_to=window.end.isoformat(), cell=cell)


def layer_urls(session: Session, actor: Actor, form: MapForm, computed: HotspotMap) -> dict[str, str | None]:
    """Where the map fetches its layers when they are switched on."""
    audience = computed.query.audience
    urls: dict[str, str | None] = {
        "places": "/maps/layers/places?" + urlencode({"audience": audience.value}),
        "areas": "/maps/layers/areas",
        "rates": "/maps/layers/areas?"
        + urlencode(resolved_params(form, computed) | {"audience": audience.value, "rates": "true"}),
        "slice": "/api/hotspots?" + urlencode(_slice_params(form, computed)),
        "agency": None,
    }
    code = own_agency_code(session, actor)
    if audience is Audience.ANALYST and code is not None:
        params = resolved_params(form, computed) | {"agency": code, "source": "concerns", "trend": "false"}
        urls["agency"] = "/api/hotspots?" + urlencode(params | {"audience": audience.value})
    return urls


def _slice_params(form: MapForm, computed: HotspotMap) -> dict[str, str]:
    """The query of one month's slice, less its window: the map's filters, cell size and audience."""
    params = resolved_params(form, computed)
    params.pop("from", None)
    params.pop("to", None)
    return params | {"audience": computed.query.audience.value, "trend": "false"}


def filter_options(session: Session) -> dict[str, list[dict[str, str]]]:
    """The choices of each filter for the form's selects."""
    return {
        "context": [{"value": code.value, "text": label} for code, label in CONTEXT_LABELS.items()],
        "kind": [{"value": kind.value, "text": kind.value.capitalize()} for kind in ConcernKind],
        "category": [{"value": entry.code, "text": entry.label} for entry in categories(session=session)],
        "place_type": [
            {"value": entry.code, "text": entry.label}
            for entry in place_types(session=session)
            if entry.code not in RESIDENTIAL_PLACE_TYPES
        ],
        "agency": [{"value": entry.code, "text": entry.name} for entry in list_agencies(session=session)],
        "age_band": [{"value": band.value, "text": AGE_BAND_LABELS[band]} for band in AgeBand],
        "gender": [
            {"value": gender.value, "text": gender.value.replace("_", " ").capitalize()} for gender in Gender
        ],
    }


def _form_errors(problem: InvalidInput) -> dict[str, str]:
    """A service refusal as the form's error for its field."""
    field = problem.field if problem.field in FIELD_ORDER else "from"
    return {field or "from": problem.detail}


@dataclass(frozen=True, slots=True)
class MapRequest:
    """Everything a map page or download needs from the request."""

    actor: Actor
    session: Session
    origin: RequestOrigin
    settings: Settings
    area: Area


def compute(request: MapRequest, form: MapForm, audience: Audience) -> HotspotMap:
    """The map for the form and audience (audited by the service)."""
    return hotspot_map(
        session=request.session,
        actor=request.actor,
        origin=request.origin,
        query=query_of(form, audience),
        policy=request.settings.disclosure_policy(),
        area=request.area,
    )


def map_page(request: Request, asked: MapRequest, form: MapForm, *, partner_only: bool) -> Response:
    """The hotspot map page; a refused query shows the form again with the problem."""
    context: dict[str, Any] = {
        "active_nav": "maps",
        "form": form,
        "options": filter_options(asked.session),
        "cells": CELL_CHOICES,
        "partner_only": partner_only,
        "analyst": can(asked.actor, Permission.VIEW_ANALYST_HOTSPOTS),
        "bins": GI_BINS,
    }
    try:
        with asked.session.begin_nested():
            audience = audience_for(asked.actor, form.audience, partner_only=partner_only)
            computed = compute(asked, form, audience)
    except InvalidInput as problem:
        errors = _form_errors(problem)
        failed = {"field_errors": errors, "errors": error_list(errors, FIELD_ORDER, ERROR_ANCHORS)}
        return render(request, "maps/hotspots.html", context | failed, status_code=422)
    policy = asked.settings.disclosure_policy()
    urls = layer_urls(asked.session, asked.actor, form, computed)
    view = map_view(asked.session, computed, policy, urls)
    params = resolved_params(form, computed)
    page = context | {
        "field_errors": {},
        "errors": [],
        "audience": audience.value,
        "members": view.members,
        "rows": view.rows,
        "data": view.data,
        "data_json": htmlsafe_json_dumps(view.data, separators=(",", ":")),
        "data_element": DATA_ELEMENT,
        "hidden_label": policy.hidden_label,
        "map": _fragments(view, audience, asked.area),
        "downloads": {
            fmt: f"/maps/hotspots.{fmt}?" + urlencode(params | {"audience": audience.value})
            for fmt in FORMATS
        },
        "partner_link": "/maps/partner?" + urlencode(params),
        "clear_drawing": ("/maps/partner?" if partner_only else "/maps/hotspots?")
        + urlencode(form.params(bbox="", area="")),
    }
    return render(request, "maps/hotspots.html", page)


def _fragments(view: MapView, audience: Audience, area: Area) -> MapFragments | None:
    """The map's folium fragments, or None when there is nothing to draw."""
    if view.data["layout"] is None:
        return None
    label = "Map of hot and cold spots" + (" as partners see them" if audience is Audience.PARTNER else "")
    own = view.data["layers"]["agency"] is not None
    return hotspots_map(area=area, label=label, source=DATA_ELEMENT, agency_layer=own)


def map_request(
    actor: Actor, session: Session, origin: RequestOrigin, settings: Settings, area: Area
) -> MapRequest:
    """Bundle what the handlers were given."""
    return MapRequest(actor=actor, session=session, origin=origin, settings=settings, area=area)


@router.get("/maps/hotspots")
def hotspot_map_page(
    request: Request,
    actor: HotspotViewer,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
    area: AreaDep,
    form: FormDep,
) -> Response:
    """Hot and cold spots, trends, layers and a table; analysts choose the audience, others get partners'."""
    asked = map_request(actor, session, origin, settings, area)
    return map_page(request, asked, form, partner_only=False)


@router.get("/maps/partner")
def partner_map_page(
    request: Request,
    actor: HotspotViewer,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
    area: AreaDep,
    form: FormDep,
) -> Response:
    """The published partner view of a map: always disclosure-controlled, whoever opens it."""
    asked = map_request(actor, session, origin, settings, area)
    return map_page(request, asked, form, partner_only=True)


@router.get("/maps/hotspots.{fmt}")
def hotspot_download(
    actor: HotspotViewer,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
    area: AreaDep,
    form: FormDep,
    fmt: str,
) -> Response:
    """Every cell of the map as CSV, Excel or GeoJSON, for the same audience; the download is audited."""
    if fmt not in FORMATS:
        raise InvalidInput("Choose csv, xlsx or geojson.", field="format")
    asked = map_request(actor, session, origin, settings, area)
    audience = audience_for(actor, form.audience, partner_only=False)
    computed = compute(asked, form, audience)
    policy = settings.disclosure_policy()
    collection = from_json(hotspot_geojson(session=session, hotspot_map=computed, policy=policy))
    features = collection.pop("features")
    record_event(
        session=session,
        action=AuditAction.EXPORT,
        actor=actor,
        origin=origin,
        object_type="hotspot_map",
        object_id=audience.value,
        reason=f"format={fmt} {describe_query(computed.query, computed.window)}"[:1000],
    )
    drawn = "-drawn-area" if computed.query.area is not None else ""
    window = f"{computed.window.start:%Y-%m}-to-{computed.window.end:%Y-%m}"
    name = f"hotspots-{audience.value}-{window}{drawn}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(_download(fmt, features, collection, settings), media_type=FORMATS[fmt], headers=headers)


def _download(fmt: str, features: list[dict[str, Any]], members: dict[str, Any], settings: Settings) -> bytes:
    """The cells in one format, through the formula-safe writers."""
    if fmt == "csv":
        return to_csv(features).encode()
    if fmt == "xlsx":
        return to_xlsx(features, title="Hotspot cells", marking=settings.protective_marking)
    members.pop("type", None)
    return to_geojson(features, **members)


def _point_of(geometry: dict[str, Any]) -> list[float]:
    """Where a place's marker goes: the point itself, else a point on the line or inside the area."""
    if geometry.get("type") == "Point":
        return [round(float(value), 6) for value in geometry["coordinates"][:2]]
    point = shape(geometry).representative_point()
    return [round(point.x, 6), round(point.y, 6)]


@router.get("/maps/layers/places")
def places_layer(
    actor: PlaceViewer,
    session: SessionDep,
    audience: Annotated[str, Query(max_length=10)] = Audience.PARTNER.value,
) -> Response:
    """Current places as markers (name, type, icon letter); residential places only on analysts' maps."""
    places, _ = list_places(session=session, actor=actor, filters=PlaceFilter(), limit=MAX_LAYER_PLACES)
    exact = audience == Audience.ANALYST.value and can(actor, Permission.VIEW_ANALYST_HOTSPOTS)
    shown = [place for place in places if exact or place.type not in RESIDENTIAL_PLACE_TYPES]
    icons = icons_of(session, {place.type for place in shown})
    features = [
        {
            "type": "Feature",
            "id": place.id,
            "geometry": {"type": "Point", "coordinates": _point_of(place.geometry)},
            "properties": {
                "name": place.name,
                "type_label": place.type_label,
                "icon": icons.get(place.type, ""),
            },
        }
        for place in shown
    ]
    return JSONResponse(
        {"type": "FeatureCollection", "features": features}, media_type="application/geo+json"
    )


@router.get("/maps/layers/areas")
def areas_layer(
    actor: PlaceViewer,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
    form: FormDep,
    kind: Annotated[str, Query(max_length=20)] = "lsoa",
    rates: bool = False,
) -> Response:
    """Small areas with their deprivation decile, outlines simplified for the map; with `rates`, also
    the map's records in each area and the rate per 1,000 young people, for the map's audience."""
    rows = areas_with_indicators(session, kind=kind)
    members: dict[str, Any] = {}
    found: dict[str, AreaRate] = {}
    if rates:
        audience = audience_for(actor, form.audience, partner_only=False)
        query = query_of(form, audience)
        policy = settings.disclosure_policy()
        found = area_rates(session, actor, query, policy, rows)
        window = month_window(query.start, query.end)
        record_event(
            session=session,
            action=AuditAction.VIEW,
            actor=actor,
            origin=origin,
            object_type="hotspot_map",
            object_id=audience.value,
            reason=f"layer=area_rates kind={kind} {describe_query(query, window)}"[:1000],
        )
        members = {"audience": audience.value, "window": [window.start.isoformat(), window.end.isoformat()]}
        members["hidden_label"] = policy.hidden_label if audience is Audience.PARTNER else None
    features = [_area_feature(row, found.get(row.code)) for row in rows]
    return JSONResponse(
        {"type": "FeatureCollection", **members, "features": features}, media_type="application/geo+json"
    )


def _area_feature(row: ChoroplethRow, rate: AreaRate | None) -> dict[str, Any]:
    """One small area for the map: its simplified outline, decile and, when asked, its rate."""
    outline = shapely.simplify(shape(row.geometry), AREA_TOLERANCE, preserve_topology=True)
    properties: dict[str, Any] = {"code": row.code, "name": row.name, "imd_decile": row.imd_decile}
    if rate is not None:
        properties |= {
            "count": rate.count,
            "young_people": rate.young_people,
            "rate_per_1000": None if rate.rate_per_1000 is None else round(rate.rate_per_1000, 1),
        }
    return {
        "type": "Feature",
        "id": row.code,
        "geometry": geojson_of(shapely.set_precision(outline, 10**-AREA_DIGITS)),
        "properties": properties,
    }
