"""Places: the partnership's hotels, taxi ranks, takeaways, parks and routes, with GeoJSON geometry."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, UploadFile
from pydantic import BaseModel, TypeAdapter

from app.db import SessionDep
from app.deps import AreaDep, OriginDep, SettingsDep, SignedIn, require
from contexts.access import Actor, Permission
from contexts.errors import InvalidInput
from mapping.places.alerts import LinkedPlaceAlert, linked_place_alerts
from mapping.places.importer import load_file
from mapping.places.profile import LinkRule, PlaceProfile, place_profile
from mapping.places.schemas import (
    ImportReport,
    PlaceCreate,
    PlaceFeatureCollection,
    PlaceFilter,
    PlacePage,
    PlaceRead,
    PlaceTypeCreate,
    PlaceTypeRead,
    PlaceUpdate,
)
from mapping.places.service import (
    add_place_type,
    archive_place,
    as_feature,
    create_place,
    list_places,
    place_types,
    read_place,
    update_place,
)

router = APIRouter(prefix="/api", tags=["places"])
GEOJSON = "application/geo+json"
PlaceViewer = Annotated[Actor, require(Permission.VIEW_PLACES)]
PlaceEditor = Annotated[Actor, require(Permission.EDIT_PLACES)]
PlaceTypeManager = Annotated[Actor, require(Permission.MANAGE_PLACE_TYPES)]
Repair = Annotated[
    bool, Query(description="Repair an invalid geometry with ST_MakeValid instead of refusing it")
]
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid input, naming the field: geometry, type, postcode ..."}
}
STALE: dict[int | str, dict[str, Any]] = {409: {"description": "A stale version: reload and try again"}}


def place_filter(
    type: Annotated[list[str] | None, Query(description="Place type codes; repeat for several")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name")] = None,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat (WGS84)")] = None,
    archived: Annotated[bool, Query(description="Include archived places")] = False,
) -> PlaceFilter:
    """The list filters from the query string."""
    return PlaceFilter(types=type or [], search=q, bbox=parse_bbox(bbox), archived=archived)


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """A bounding box typed as four comma-separated numbers, west, south, east, north."""
    if value is None or not value.strip():
        return None
    try:
        west, south, east, north = (float(part) for part in value.split(","))
    except ValueError as wrong:
        raise InvalidInput("Give bbox as min lon,min lat,max lon,max lat.", field="bbox") from wrong
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput("The bbox must run west to east and south to north, in degrees.", field="bbox")
    return west, south, east, north


@router.get("/place-types", response_model=list[PlaceTypeRead])
def list_types(_: SignedIn, session: SessionDep) -> list[PlaceTypeRead]:
    """The place types a place may be given, by label."""
    return [PlaceTypeRead.model_validate(entry) for entry in place_types(session=session)]


@router.post("/place-types", response_model=PlaceTypeRead, status_code=201, responses=INVALID)
def add_type(
    actor: PlaceTypeManager, session: SessionDep, origin: OriginDep, data: PlaceTypeCreate
) -> PlaceTypeRead:
    """Add a place type (system administrators); 409 if the code is taken."""
    return PlaceTypeRead.model_validate(
        add_place_type(session=session, actor=actor, origin=origin, data=data)
    )


Filters = Annotated[PlaceFilter, Depends(place_filter)]


@router.get("/places", response_model=PlacePage)
def list_(
    actor: PlaceViewer,
    session: SessionDep,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PlacePage:
    """Places by name, filtered by type, part of the name and a bounding box; archived ones left out."""
    items, total = list_places(session=session, actor=actor, filters=filters, limit=limit, offset=offset)
    return PlacePage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/places.geojson",
    response_model=PlaceFeatureCollection,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection (WGS84)"}},
)
def list_features(
    actor: PlaceViewer,
    session: SessionDep,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The same list as a GeoJSON FeatureCollection, for QGIS, ArcGIS and web maps."""
    items, total = list_places(session=session, actor=actor, filters=filters, limit=limit, offset=offset)
    collection = PlaceFeatureCollection(
        features=[as_feature(item) for item in items], total=total, limit=limit, offset=offset
    )
    return Response(collection.model_dump_json(), media_type=GEOJSON)


@router.post("/places", response_model=PlaceRead, status_code=201, responses=INVALID)
def create(
    actor: PlaceEditor,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    data: PlaceCreate,
    repair: Repair = False,
) -> PlaceRead:
    """Add a place; its geometry is GeoJSON in WGS84, valid and inside the deployment's area."""
    place = create_place(session=session, actor=actor, origin=origin, data=data, area=area, repair=repair)
    return read_place(session=session, actor=actor, place_id=place.id)


@router.post("/places/import", response_model=ImportReport, responses=INVALID)
def import_file(
    actor: PlaceEditor,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    file: UploadFile,
    skip_invalid: Annotated[bool, Query(description="Load the valid rows even if some are bad")] = False,
    repair: Repair = False,
) -> ImportReport:
    """Import a GeoJSON FeatureCollection or CSV (columns as for `csmap import places`).

    Every row is checked first; with a bad row nothing is written (422 with the report naming each
    bad row) unless `skip_invalid`. Rows whose external_ref is known update that place.
    """
    return load_file(
        session=session,
        content=file.file.read(),
        name=file.filename or "",
        actor=actor,
        origin=origin,
        area=area,
        skip_invalid=skip_invalid,
        repair=repair,
        username=actor.username,
    )


@router.get("/places/{place_id}", response_model=PlaceRead)
def read(actor: PlaceViewer, session: SessionDep, place_id: int) -> PlaceRead:
    """One place (archived ones too, with `archived_at` set)."""
    return read_place(session=session, actor=actor, place_id=place_id)


@router.patch("/places/{place_id}", response_model=PlaceRead, responses=INVALID | STALE)
def update(
    actor: PlaceEditor,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    place_id: int,
    data: PlaceUpdate,
    repair: Repair = False,
) -> PlaceRead:
    """Change the fields sent; send the `version` you read: 409 if someone changed it since."""
    update_place(
        session=session, actor=actor, origin=origin, place_id=place_id, data=data, area=area, repair=repair
    )
    return read_place(session=session, actor=actor, place_id=place_id)


@router.delete("/places/{place_id}", status_code=204, response_class=Response)
def archive(actor: PlaceEditor, session: SessionDep, origin: OriginDep, place_id: int) -> Response:
    """Archive a place: it leaves lists and maps; records that refer to it keep it."""
    archive_place(session=session, actor=actor, origin=origin, place_id=place_id)
    return Response(status_code=204)


@router.get("/places/{place_id}/profile", response_model=None)
def place_profile_api(
    actor: PlaceViewer, session: SessionDep, settings: SettingsDep, place_id: int
) -> Response:
    """Concerns linked to the place by month (as the caller's role may see them), trend, nearby places."""
    profile = place_profile(
        session=session,
        actor=actor,
        place_id=place_id,
        policy=settings.disclosure_policy(),
        rule=settings.link_rule(),
    )
    return Response(PROFILE_JSON.dump_json(profile), media_type="application/json")


PROFILE_JSON: TypeAdapter[PlaceProfile] = TypeAdapter(PlaceProfile)


class LinkedByPlace(BaseModel):
    """Places where several young people are linked: every one for analysts, your agency's for case roles."""

    rule: LinkRule
    places: list[LinkedPlaceAlert]


@router.get("/linked-by-place", response_model=LinkedByPlace)
def linked_by_place(actor: PlaceViewer, session: SessionDep, settings: SettingsDep) -> LinkedByPlace:
    """Places where the linked-by-place rule fires, as the caller may be told (none for partners)."""
    rule = settings.link_rule()
    return LinkedByPlace(rule=rule, places=linked_place_alerts(session=session, actor=actor, rule=rule))
