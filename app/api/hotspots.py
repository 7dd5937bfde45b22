"""Hotspot maps: Gi* hot and cold spots with trends on a square or hex grid, as GeoJSON (WGS84)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from app.db import SessionDep
from app.deps import AreaDep, OriginDep, SettingsDep, require
from contexts.access import Actor, Permission
from contexts.errors import InvalidInput
from mapping.hotspots.drawn import MAX_AREA_TEXT, MAX_AREA_VERTICES, parse_area
from mapping.hotspots.grid import GridShape
from mapping.hotspots.service import (
    Audience,
    HotspotFilters,
    HotspotQuery,
    SourceChoice,
    hotspot_geojson,
    hotspot_map,
    month_end,
)
from mapping.hotspots.stats import MAX_PERMUTATIONS

router = APIRouter(prefix="/api", tags=["hotspots"])
GEOJSON = "application/geo+json"
HotspotViewer = Annotated[Actor, require(Permission.VIEW_HOTSPOTS)]
Codes = Annotated[list[str] | None, Query(description="Codes; repeat or separate with commas")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection of every cell (WGS84)"},
    403: {"description": "audience=analyst asked for by someone who is not an analyst (audited)"},
    422: {"description": "Invalid input, naming the parameter: cell, from, bbox, area, context ..."},
}


def parse_day(value: str | None, *, name: str, last: bool) -> date | None:
    """A date as YYYY-MM-DD, or a month as YYYY-MM (its first day, or its last when `last`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 7:
            first = date.fromisoformat(f"{text}-01")
            return month_end(first) if last else first
        return date.fromisoformat(text)
    except ValueError as wrong:
        raise InvalidInput(f"Give {name} as YYYY-MM-DD or YYYY-MM.", field=name) from wrong


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Four comma-separated numbers: min lon, min lat, max lon, max lat."""
    if value is None or not value.strip():
        return None
    try:
        west, south, east, north = (float(part) for part in value.split(","))
    except ValueError as wrong:
        raise InvalidInput("Give bbox as min lon,min lat,max lon,max lat.", field="bbox") from wrong
    return west, south, east, north


def codes(values: list[str] | None) -> tuple[str, ...]:
    """Filter codes given repeated or comma-separated, blanks dropped."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def hotspot_filters(
    context: Codes = None,
    kind: Codes = None,
    category: Codes = None,
    agency: Codes = None,
    place_type: Codes = None,
    age_band: Codes = None,
    gender: Codes = None,
) -> HotspotFilters:
    """The filters from the query string."""
    return HotspotFilters(
        contexts=codes(context),
        kinds=codes(kind),
        categories=codes(category),
        agencies=codes(agency),
        place_types=codes(place_type),
        age_bands=codes(age_band),
        genders=codes(gender),
    )


def hotspot_query(
    filters: Annotated[HotspotFilters, Depends(hotspot_filters)],
    cell: Annotated[
        float | None, Query(description="Cell size in metres (at least 10); chosen if omitted")
    ] = None,
    shape: Annotated[GridShape, Query(description="square or hex")] = GridShape.SQUARE,
    date_from: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD or YYYY-MM")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD or YYYY-MM")] = None,
    source: Annotated[SourceChoice, Query(description="concerns, missing (found-at) or both")] = (
        SourceChoice.CONCERNS
    ),
    audience: Annotated[Audience, Query(description="analyst (exact) or partner (disclosure-controlled)")] = (
        Audience.ANALYST
    ),
    bbox: Annotated[str | None, Query(description="Study area: min lon,min lat,max lon,max lat")] = None,
    area: Annotated[
        str | None,
        Query(
            max_length=MAX_AREA_TEXT,
            description="Study area drawn as a GeoJSON Polygon or MultiPolygon (WGS84, compact JSON, "
            f"at most {MAX_AREA_VERTICES:,} corners): the cells meeting it, with whole-cell counts; "
            "not with bbox",
        ),
    ] = None,
    band: Annotated[float | None, Query(description="Distance band in metres (default two cells)")] = None,
    neighbours: Annotated[int | None, Query(ge=1, description="k nearest cells instead of a band")] = None,
    permutations: Annotated[int, Query(ge=0, le=MAX_PERMUTATIONS, description="0: analytic p")] = 0,
    seed: Annotated[int | None, Query(ge=0, description="Random seed for permutations")] = None,
    fdr: Annotated[bool, Query(description="Bins after Benjamini-Hochberg correction")] = True,
    trend: Annotated[bool, Query(description="Emerging hot-spot pattern from monthly slices")] = True,
) -> HotspotQuery:
    """The map asked for, from the query string."""
    return HotspotQuery(
        cell=cell,
        shape=shape,
        start=parse_day(date_from, name="from", last=False),
        end=parse_day(date_to, name="to", last=True),
        filters=filters,
        source=source,
        audience=audience,
        bbox=parse_bbox(bbox),
        area=parse_area(area),
        band=band,
        neighbours=neighbours,
        permutations=permutations,
        seed=seed,
        fdr=fdr,
        trend=trend,
    )


@router.get("/hotspots", response_class=Response, responses=RESPONSES)
def hotspots(
    actor: HotspotViewer,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
    area: AreaDep,
    query: Annotated[HotspotQuery, Depends(hotspot_query)],
) -> Response:
    """Every cell of the study grid (or of the area drawn) with its count, rate, Gi* statistics and trend.

    `audience=analyst` (analysts only) gives exact counts, z-scores and p-values; `audience=partner`
    gives counts under the disclosure rules, with bins and trends computed from those alone.
    """
    policy = settings.disclosure_policy()
    computed = hotspot_map(session=session, actor=actor, origin=origin, query=query, policy=policy, area=area)
    return Response(hotspot_geojson(session=session, hotspot_map=computed, policy=policy), media_type=GEOJSON)
