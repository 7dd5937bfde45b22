"""Place services: check geometry in PostGIS, add, read, change, archive and list places; audited.

Places are the partnership's shared map of contexts, not person records: everyone who may view
places sees them all, and every change is recorded in the audit trail with who made it.
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from geoalchemy2 import WKBElement
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ARRAY, LargeBinary, Select, bindparam, func, select, text
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure
from contexts.audit.models import AuditAction, AuditEvent
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import Conflict, InvalidInput, NotFound
from contexts.young_people.service import Area
from mapping.places.models import WGS84, Place, PlaceTypeEntry
from mapping.places.schemas import (
    GEOMETRY_TYPES,
    PlaceCreate,
    PlaceFeature,
    PlaceFilter,
    PlaceRead,
    PlaceTypeCreate,
    PlaceUpdate,
)

WGS84_NAMES = frozenset(
    name.lower()
    for name in (
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:6.6:4326",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "OGC:CRS84",
        "CRS84",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
    )
)
EDITABLE = ("name", "address", "postcode", "owner_name", "owner_contact", "licence_refs", "external_ref")
CHECK_GEOMETRIES = text(
    """
    WITH given AS (
        SELECT i, ST_GeomFromWKB(w, 4326) AS g
        FROM unnest(:wkbs) WITH ORDINALITY AS t(w, i)
    ), checked AS (
        SELECT i, ST_IsEmpty(g) AS empty, ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason,
               CASE WHEN :repair AND NOT ST_IsValid(g)
                    THEN ST_CollectionExtract(ST_MakeValid(g), ST_Dimension(g) + 1) ELSE g END AS r
        FROM given
    )
    SELECT i, empty, valid, reason, ST_IsEmpty(r) AS r_empty, ST_IsValid(r) AS r_valid,
           r @ ST_MakeEnvelope(:west, :south, :east, :north, 4326) AS inside,
           ST_FlipCoordinates(r) @ ST_MakeEnvelope(:west, :south, :east, :north, 4326) AS flipped_inside,
           ST_AsBinary(r) AS wkb
    FROM checked ORDER BY i
    """
).bindparams(bindparam("wkbs", type_=ARRAY(LargeBinary)))


class GeometryError(ValueError):
    """A geometry that cannot be stored, with the reason in words a user can act on."""


@dataclass(frozen=True, slots=True)
class CheckedGeometry:
    """The outcome of checking one geometry: WKB to store, or the problem."""

    wkb: bytes | None
    problem: str | None = None
    repaired: bool = False


# Geometry: structure in Python, validity and area in PostGIS


def crs_problem(crs: object) -> str | None:
    """Say what is wrong with a GeoJSON `crs` member, if anything (only WGS84 is accepted)."""
    if crs is None:
        return None
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    if isinstance(name, str) and name.strip().lower() in WGS84_NAMES:
        return None
    named = f" ({name[:60]})" if isinstance(name, str) else ""
    return (
        f"The geometry's crs{named} is not WGS84: send longitude and latitude in EPSG:4326, "
        "as GeoJSON (RFC 7946) expects"
    )


def coordinates_problem(geometry: BaseGeometry) -> str | None:
    """Say whether the coordinates are not finite longitude/latitude degrees, and what they look like."""
    coordinates = shapely.get_coordinates(geometry)
    if coordinates.size == 0:
        return None
    if not bool(((coordinates == coordinates) & (abs(coordinates) != math.inf)).all()):
        return "Every coordinate must be a finite number"
    xs, ys = coordinates[:, 0], coordinates[:, 1]
    if bool((abs(xs) <= 180).all() and (abs(ys) <= 90).all()):
        return None
    if bool((xs >= -1e5).all() and (xs <= 8e5).all() and (ys >= -1e5).all() and (ys <= 1.3e6).all()):
        return (
            "The coordinates look like British National Grid eastings and northings (metres): "
            "send WGS84 longitude and latitude (EPSG:4326), longitude first"
        )
    return "Coordinates must be a longitude (-180 to 180) then a latitude (-90 to 90)"


def shape_from_geojson(geometry: Mapping[str, Any]) -> BaseGeometry:
    """A 2D shape from a GeoJSON geometry in WGS84; raises GeometryError naming the problem."""
    problem = crs_problem(geometry.get("crs"))
    if problem:
        raise GeometryError(problem)
    kind = geometry.get("type")
    if kind not in GEOMETRY_TYPES:
        raise GeometryError(f"The geometry type must be one of {', '.join(GEOMETRY_TYPES)}")
    try:
        parsed = shape({"type": kind, "coordinates": geometry.get("coordinates")})
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, GEOSException) as malformed:
        raise GeometryError(f"The coordinates do not make a {kind}: {str(malformed)[:120]}") from malformed
    return checked_shape(parsed)


def shape_from_wkt(wkt: str) -> BaseGeometry:
    """A 2D shape from WKT in WGS84 longitude/latitude; raises GeometryError naming the problem."""
    try:
        parsed = shapely.from_wkt(wkt)
    except (GEOSException, ValueError) as malformed:
        raise GeometryError("This is not well-known text (WKT), e.g. POINT (-1.5 52.4)") from malformed
    if parsed.geom_type not in GEOMETRY_TYPES:
        raise GeometryError(f"The geometry type must be one of {', '.join(GEOMETRY_TYPES)}")
    return checked_shape(parsed)


def checked_shape(parsed: BaseGeometry) -> BaseGeometry:
    """The shape in 2D once its coordinates are known to be degrees."""
    problem = coordinates_problem(parsed)
    if problem:
        raise GeometryError(problem)
    return shapely.force_2d(parsed)


def _validity_problem(reason: str) -> str:
    """PostGIS's reason as advice, e.g. 'Self-intersection[-1.5 52.4]'."""
    what, _, where = reason.partition("[")
    near = f" near {where.rstrip(']')}" if where else ""
    return (
        f"The geometry is not valid ({what.strip()}{near}): a boundary must not cross itself. "
        "Draw it again, or ask for it to be repaired (repair=true)"
    )


def check_geometries(
    session: Session, shapes: Sequence[BaseGeometry], *, area: Area, repair: bool = False
) -> list[CheckedGeometry]:
    """Check shapes in one PostGIS query: not empty, valid (or repaired when asked), inside the area."""
    if not shapes:
        return []
    rows = session.execute(
        CHECK_GEOMETRIES,
        {
            "wkbs": [shapely.to_wkb(one) for one in shapes],
            "repair": repair,
            "west": area.min_longitude,
            "south": area.min_latitude,
            "east": area.max_longitude,
            "north": area.max_latitude,
        },
    )
    return [_outcome(row) for row in rows]


def _outcome(row: Any) -> CheckedGeometry:
    """One geometry's check results in words."""
    if row.empty:
        return CheckedGeometry(None, "The geometry is empty: draw a point, line or area")
    if not row.r_valid:
        return CheckedGeometry(None, _validity_problem(row.reason or "invalid"))
    if row.r_empty:
        return CheckedGeometry(None, "Repairing the geometry left nothing of it: draw it again")
    if not row.inside:
        swapped = " (it would be inside with longitude and latitude swapped)" if row.flipped_inside else ""
        return CheckedGeometry(None, f"The geometry is outside this deployment's area{swapped}")
    return CheckedGeometry(bytes(row.wkb), repaired=not row.valid)


def stored_geometry(
    session: Session, geometry: Mapping[str, Any], *, area: Area, repair: bool, field: str = "geometry"
) -> WKBElement:
    """A GeoJSON geometry checked and ready to store; InvalidInput naming the field otherwise."""
    try:
        parsed = shape_from_geojson(geometry)
    except GeometryError as problem:
        raise InvalidInput(str(problem), field=field) from problem
    outcome = check_geometries(session, [parsed], area=area, repair=repair)[0]
    if outcome.wkb is None:
        raise InvalidInput(outcome.problem or "The geometry cannot be stored", field=field)
    return WKBElement(outcome.wkb, srid=WGS84)


# Place types


def place_types(*, session: Session, include_inactive: bool = False) -> list[PlaceTypeEntry]:
    """The place types, by label."""
    query = select(PlaceTypeEntry).order_by(PlaceTypeEntry.label)
    if not include_inactive:
        query = query.where(PlaceTypeEntry.is_active.is_(True))
    return list(session.scalars(query))


def active_type_codes(session: Session) -> set[str]:
    """The codes a place may be given."""
    return set(session.scalars(select(PlaceTypeEntry.code).where(PlaceTypeEntry.is_active.is_(True))))


def add_place_type(
    *, session: Session, actor: Actor, origin: RequestOrigin, data: PlaceTypeCreate
) -> PlaceTypeEntry:
    """Add a type to the taxonomy; a code in use is a conflict."""
    ensure(actor, Permission.MANAGE_PLACE_TYPES)
    if session.get(PlaceTypeEntry, data.code) is not None:
        raise Conflict(f"There is already a place type '{data.code}'.")
    entry = PlaceTypeEntry(code=data.code, label=data.label, icon=data.icon, is_active=True)
    session.add(entry)
    session.flush()
    record_event(
        session=session,
        action=AuditAction.CREATE,
        actor=actor,
        origin=origin,
        object_type="place_type",
        object_id=entry.code,
    )
    return entry


def _type_code(session: Session, code: str) -> str:
    """An active type's code, or a 422 naming the field."""
    if code not in active_type_codes(session):
        raise InvalidInput(f"There is no place type '{code[:40]}': see GET /api/place-types.", field="type")
    return code


# Places


def _audit(session: Session, actor: Actor, origin: RequestOrigin, action: AuditAction, place_id: int) -> None:
    """Record a change to a place."""
    record_event(
        session=session, action=action, actor=actor, origin=origin, object_type="place", object_id=place_id
    )


def audit_events(
    actor: Actor | None, origin: RequestOrigin, changes: Iterable[tuple[AuditAction, int]], username: str
) -> list[AuditEvent]:
    """Audit events for many changes at once (imports), as `record_event` would write them."""
    return [
        AuditEvent(
            action=action,
            actor_user_id=actor.user_id if actor else None,
            actor_username=actor.username if actor else username[:64],
            agency_id=actor.agency_id if actor else None,
            object_type="place",
            object_id=str(place_id),
            request_id=origin.request_id,
            client_address=origin.client_address,
        )
        for action, place_id in changes
    ]


def _ref_in_use(session: Session, external_ref: str | None, place_id: int | None) -> None:
    """Refuse an external reference another place already has."""
    if external_ref is None:
        return
    holder = session.scalar(select(Place.id).where(Place.external_ref == external_ref))
    if holder is not None and holder != place_id:
        raise Conflict(f"Place {holder} already has the external reference '{external_ref[:100]}'.")


def create_place(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    data: PlaceCreate,
    area: Area,
    repair: bool = False,
) -> Place:
    """Add a place; the geometry must be valid (or repaired when asked) and inside the area."""
    ensure(actor, Permission.EDIT_PLACES)
    code = _type_code(session, data.type)
    geom = stored_geometry(session, data.geometry.model_dump(exclude_none=True), area=area, repair=repair)
    _ref_in_use(session, data.external_ref, None)
    place = Place(
        name=data.name,
        place_type=code,
        geom=geom,
        created_by_agency_id=actor.agency_id,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
        **{name: getattr(data, name) for name in EDITABLE if name != "name"},
    )
    session.add(place)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, place.id)
    return place


def get_place(*, session: Session, actor: Actor, place_id: int) -> Place:
    """A place by id (archived ones too), or NotFound."""
    ensure(actor, Permission.VIEW_PLACES)
    place = session.get(Place, place_id)
    if place is None:
        raise NotFound("There is no such place.")
    return place


def update_place(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    place_id: int,
    data: PlaceUpdate,
    area: Area,
    repair: bool = False,
) -> Place:
    """Change the fields sent; a stale version or an archived place changes nothing."""
    ensure(actor, Permission.EDIT_PLACES)
    place = get_place(session=session, actor=actor, place_id=place_id)
    if place.archived_at is not None:
        raise Conflict("This place is archived: it can no longer be changed.")
    if data.version != place.version:
        raise Conflict(
            "Someone changed this place since you opened it. Reload it and make your change again."
        )
    given = data.model_dump(exclude_unset=True, exclude={"version", "geometry", "type"})
    if "name" in given and given["name"] is None:
        raise InvalidInput("A place needs a name.", field="name")
    # Every check queries the database: make them all before changing the place (autoflush).
    code = _type_code(session, data.type) if data.type is not None else place.place_type
    geom = (
        stored_geometry(session, data.geometry.model_dump(exclude_none=True), area=area, repair=repair)
        if data.geometry is not None
        else None
    )
    if "external_ref" in given:
        _ref_in_use(session, given["external_ref"], place.id)
    if "licence_refs" in given and given["licence_refs"] is None:
        given["licence_refs"] = []
    place.place_type = code
    if geom is not None:
        place.geom = geom
    for name in EDITABLE:
        if name in given:
            setattr(place, name, given[name])
    if not session.is_modified(place):
        return place
    place.updated_by_id = actor.user_id
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, place.id)
    return place


def archive_place(*, session: Session, actor: Actor, origin: RequestOrigin, place_id: int) -> Place:
    """Take a place off lists and maps; records that refer to it keep it."""
    ensure(actor, Permission.EDIT_PLACES)
    place = get_place(session=session, actor=actor, place_id=place_id)
    if place.archived_at is not None:
        return place
    place.archived_at = datetime.now(UTC)
    place.updated_by_id = actor.user_id
    session.flush()
    _audit(session, actor, origin, AuditAction.DELETE, place.id)
    return place


# Reading


def _readable() -> Select[Any]:
    """Places with their geometry as GeoJSON and their type's label and icon."""
    return select(
        Place, func.ST_AsGeoJSON(Place.geom, 7).label("geojson"), PlaceTypeEntry.label, PlaceTypeEntry.icon
    ).join(PlaceTypeEntry, PlaceTypeEntry.code == Place.place_type)


def _read(place: Place, geojson: str, label: str) -> PlaceRead:
    """One place for reading."""
    return PlaceRead(
        id=place.id,
        name=place.name,
        type=place.place_type,
        type_label=label,
        geometry=json.loads(geojson),
        address=place.address,
        postcode=place.postcode,
        owner_name=place.owner_name,
        owner_contact=place.owner_contact,
        licence_refs=list(place.licence_refs or []),
        external_ref=place.external_ref,
        created_at=place.created_at,
        updated_at=place.updated_at,
        archived_at=place.archived_at,
        version=place.version,
    )


def read_place(*, session: Session, actor: Actor, place_id: int) -> PlaceRead:
    """A place by id, shaped for reading."""
    ensure(actor, Permission.VIEW_PLACES)
    row = session.execute(_readable().where(Place.id == place_id)).one_or_none()
    if row is None:
        raise NotFound("There is no such place.")
    return _read(row[0], row.geojson, row.label)


def _escape_like(value: str) -> str:
    """Escape LIKE wildcards so a search matches them literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], filters: PlaceFilter) -> Select[Any]:
    """The query narrowed by type, name, bounding box and archiving."""
    if not filters.archived:
        query = query.where(Place.archived_at.is_(None))
    if filters.types:
        query = query.where(Place.place_type.in_(filters.types))
    if filters.search and filters.search.strip():
        query = query.where(Place.name.ilike(f"%{_escape_like(filters.search.strip())}%"))
    if filters.bbox is not None:
        query = query.where(func.ST_Intersects(Place.geom, func.ST_MakeEnvelope(*filters.bbox, WGS84)))
    return query


def list_places(
    *, session: Session, actor: Actor, filters: PlaceFilter, limit: int = 100, offset: int = 0
) -> tuple[list[PlaceRead], int]:
    """One page of places by name, and how many match in all."""
    ensure(actor, Permission.VIEW_PLACES)
    total = session.scalar(select(func.count()).select_from(_filtered(select(Place.id), filters).subquery()))
    rows = session.execute(
        _filtered(_readable(), filters).order_by(Place.name, Place.id).limit(limit).offset(offset)
    )
    return [_read(row[0], row.geojson, row.label) for row in rows], int(total or 0)


def as_feature(place: PlaceRead) -> PlaceFeature:
    """A place as a GeoJSON Feature."""
    properties = place.model_dump(mode="json", exclude={"id", "geometry"})
    return PlaceFeature(id=place.id, geometry=place.geometry, properties=properties)


def icons_of(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Marker letters by type code."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.execute(
        select(PlaceTypeEntry.code, PlaceTypeEntry.icon).where(PlaceTypeEntry.code.in_(wanted))
    )
    return {row.code: row.icon for row in rows}
