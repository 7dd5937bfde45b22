"""Small areas with their deprivation and population indicators (GeoJSON), and postcode look-ups.

Areas and postcodes are published statistical geography, not person records: anyone who may view
places may read them. They change only by import (`csmap import areas | indicators | postcodes`).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.places import parse_bbox
from app.db import SessionDep
from app.deps import require
from contexts.access import Actor, Permission
from mapping.areas.schemas import (
    AreaFeature,
    AreaFeatureCollection,
    AreaFilter,
    IndicatorRead,
    PostcodeRead,
)
from mapping.areas.service import as_feature, indicator_catalogue, list_areas, read_area, read_postcode

router = APIRouter(prefix="/api", tags=["areas"])
GEOJSON = "application/geo+json"
AreaViewer = Annotated[Actor, require(Permission.VIEW_PLACES)]
Kind = Annotated[str | None, Query(max_length=20, description="lsoa, msoa, ward ... as imported")]
Edition = Annotated[int | None, Query(ge=1900, le=2100, description="Boundary edition, e.g. 2021")]
FEATURES: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}}, "description": "GeoJSON (WGS84)"},
    422: {"description": "A malformed bbox"},
}


@router.get("/areas", response_model=AreaFeatureCollection, responses=FEATURES)
def list_(
    actor: AreaViewer,
    session: SessionDep,
    kind: Kind = None,
    edition: Edition = None,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat (WGS84)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Areas as a GeoJSON FeatureCollection with their latest IMD decile and populations, by code."""
    filters = AreaFilter(kind=kind, edition=edition, bbox=parse_bbox(bbox))
    rows, total = list_areas(session=session, actor=actor, filters=filters, limit=limit, offset=offset)
    collection = AreaFeatureCollection(
        features=[AreaFeature(**as_feature(row)) for row in rows], total=total, limit=limit, offset=offset
    )
    return Response(collection.model_dump_json(), media_type=GEOJSON)


@router.get("/areas/{code}", response_model=AreaFeature, responses=FEATURES)
def read(
    actor: AreaViewer, session: SessionDep, code: str, kind: Kind = None, edition: Edition = None
) -> Response:
    """One area as a GeoJSON Feature whose properties hold every indicator value it has (404 if unknown)."""
    area = read_area(session=session, actor=actor, code=code, kind=kind, edition=edition)
    properties = area.model_dump(mode="json", exclude={"geometry"})
    feature = AreaFeature(id=area.code, geometry=area.geometry, properties=properties)
    return Response(feature.model_dump_json(), media_type=GEOJSON)


@router.get("/indicators", response_model=list[IndicatorRead])
def indicators(actor: AreaViewer, session: SessionDep) -> list[IndicatorRead]:
    """The indicator catalogue: codes, labels and units."""
    return indicator_catalogue(session=session, actor=actor)


@router.get(
    "/postcodes/{postcode}",
    response_model=PostcodeRead,
    responses={404: {"description": "Not in the imported directory"}, 422: {"description": "Not a postcode"}},
)
def postcode(actor: AreaViewer, session: SessionDep, postcode: str) -> PostcodeRead:
    """Where a postcode is, from the imported directory, and the areas it lies in."""
    return read_postcode(session=session, actor=actor, postcode=postcode)
