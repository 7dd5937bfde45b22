"""OGC API - Features (Part 1: Core) over csmap's shareable layers, for QGIS and other GIS clients.

Collections register here with what they need to answer `items` and `item` requests; the web layer
turns them into the standard's JSON documents and links. Every collection names the permission it
needs, and only disclosure-controlled or non-personal layers are registered: places (businesses and
public spaces, never residential types), small areas with their indicators, and partner hotspots.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, can, ensure
from contexts.audit.service import RequestOrigin
from contexts.errors import InvalidInput, NotFound
from contexts.young_people.service import Area
from mapping.areas.models import SmallArea
from mapping.areas.schemas import AreaFilter
from mapping.areas.service import as_feature as area_feature
from mapping.areas.service import list_areas, read_area
from mapping.disclosure import RESIDENTIAL_PLACE_TYPES, DisclosurePolicy
from mapping.hotspots.grid import GridShape, cell_polygons
from mapping.hotspots.models import TIME_ZONE
from mapping.hotspots.service import Audience, HotspotQuery, hotspot_map, month_end, to_wgs84
from mapping.places.models import WGS84, Place, PlaceTypeEntry
from mapping.render import CellRow, cell_rows

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
WORLD = (-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed time interval; either end may be open (None)."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """What an items request asks for."""

    bbox: tuple[float, float, float, float] | None = None
    interval: Interval | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    origin: RequestOrigin = RequestOrigin()
    """Where the request came from, for the audit events of layers that write them."""


@dataclass(frozen=True, slots=True)
class ItemPage:
    """Features of one page and how many match in all."""

    features: list[dict[str, Any]]
    matched: int


@dataclass(frozen=True, slots=True)
class Collection:
    """One layer of the service."""

    id: str
    title: str
    description: str
    permission: Permission
    items: Callable[[Session, Actor, ItemQuery], ItemPage]
    item: Callable[[Session, Actor, str, RequestOrigin], dict[str, Any]]
    spatial_extent: Callable[[Session], tuple[float, float, float, float]]
    temporal: bool = False
    keywords: Sequence[str] = field(default_factory=tuple)


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """A `bbox` parameter: four numbers (or six, heights ignored) in CRS84, inside the world."""
    if text is None or not text.strip():
        return None
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput("bbox must be four numbers separated by commas.", field="bbox") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise InvalidInput("bbox must be four numbers: west, south, east, north.", field="bbox")
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(
            "bbox must lie inside the world: longitudes -180..180, latitudes -90..90.", field="bbox"
        )
    if west > east:
        raise InvalidInput("bbox crossing the antimeridian is not supported here.", field="bbox")
    return west, south, east, north


def _instant(text: str) -> datetime:
    """An RFC 3339 date-time (or date) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        problem = "datetime must be RFC 3339, e.g. 2026-01-31T00:00:00Z."
        raise InvalidInput(problem, field="datetime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_datetime(text: str | None) -> Interval | None:
    """A `datetime` parameter: an instant, or an interval `start/end` with `..` or empty for open."""
    if text is None or not text.strip():
        return None
    if "/" not in text:
        moment = _instant(text.strip())
        return Interval(moment, moment)
    start_text, _, end_text = text.partition("/")
    start = None if start_text in ("", "..") else _instant(start_text)
    end = None if end_text in ("", "..") else _instant(end_text)
    if start is not None and end is not None and start > end:
        raise InvalidInput("datetime starts after it ends.", field="datetime")
    return Interval(start, end)


def check_limit(limit: int) -> int:
    """A page size inside the service's bounds."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT:,}.", field="limit")
    return limit


def _place_feature(row: Any) -> dict[str, Any]:
    """A place as a GeoJSON feature: what a business or public space is, never who runs it."""
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": row.geometry,
        "properties": {
            "name": row.name,
            "type": row.place_type,
            "type_label": row.label,
            "address": row.address,
            "postcode": row.postcode,
            "licence_refs": list(row.licence_refs or []),
            "updated_at": row.updated_at.isoformat(),
        },
    }


def _shareable_places() -> Any:
    """Places a GIS client may receive: current, not residential, geometry as GeoJSON."""
    return (
        select(
            Place.id,
            Place.name,
            Place.place_type,
            PlaceTypeEntry.label,
            Place.address,
            Place.postcode,
            Place.licence_refs,
            Place.updated_at,
            func.ST_AsGeoJSON(Place.geom, 7).cast(JSONB).label("geometry"),
        )
        .join(PlaceTypeEntry, PlaceTypeEntry.code == Place.place_type)
        .where(Place.archived_at.is_(None), Place.place_type.not_in(sorted(RESIDENTIAL_PLACE_TYPES)))
    )


def _place_items(session: Session, actor: Actor, query: ItemQuery) -> ItemPage:
    """One page of shareable places, optionally inside a bbox and changed within an interval."""
    ensure(actor, Permission.VIEW_PLACES)
    selected = _shareable_places()
    if query.bbox is not None:
        selected = selected.where(func.ST_Intersects(Place.geom, func.ST_MakeEnvelope(*query.bbox, WGS84)))
    if query.interval is not None and query.interval.start is not None:
        selected = selected.where(Place.updated_at >= query.interval.start)
    if query.interval is not None and query.interval.end is not None:
        selected = selected.where(Place.updated_at <= query.interval.end)
    rows = session.execute(
        selected.add_columns(func.count().over().label("matched"))
        .order_by(Place.id)
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    matched = rows[0].matched if rows else _count(session, selected) if query.offset else 0
    return ItemPage([_place_feature(row) for row in rows], int(matched))


def _count(session: Session, selected: Any) -> int:
    """How many rows a query matches."""
    return int(session.scalar(select(func.count()).select_from(selected.subquery())) or 0)


def _place_item(session: Session, actor: Actor, feature_id: str, _origin: RequestOrigin) -> dict[str, Any]:
    """One shareable place by id."""
    ensure(actor, Permission.VIEW_PLACES)
    row = (
        session.execute(_shareable_places().where(Place.id == int(feature_id))).one_or_none()
        if feature_id.isdigit()
        else None
    )
    if row is None:
        raise NotFound("There is no such feature in this collection.")
    return _place_feature(row)


def _place_extent(session: Session) -> tuple[float, float, float, float]:
    """The bounding box of the shareable places (the world when there are none)."""
    box = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(Place.geom)),
            func.ST_YMin(func.ST_Extent(Place.geom)),
            func.ST_XMax(func.ST_Extent(Place.geom)),
            func.ST_YMax(func.ST_Extent(Place.geom)),
        ).where(Place.archived_at.is_(None))
    ).one()
    return WORLD if box[0] is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


PLACES = Collection(
    id="places",
    title="Places",
    description="Hotels, taxi ranks, takeaways, parks, stations and other places the partnership "
    "works with (residential places of concern are never included).",
    permission=Permission.VIEW_PLACES,
    items=_place_items,
    item=_place_item,
    spatial_extent=_place_extent,
    temporal=True,
    keywords=("places", "contextual safeguarding"),
)


def _area_items(session: Session, actor: Actor, query: ItemQuery) -> ItemPage:
    """One page of small areas with their latest deprivation and population figures."""
    rows, total = list_areas(
        session=session,
        actor=actor,
        filters=AreaFilter(bbox=query.bbox),
        limit=query.limit,
        offset=query.offset,
    )
    return ItemPage([{"type": "Feature", **area_feature(row)} for row in rows], total)


def _area_item(session: Session, actor: Actor, feature_id: str, _origin: RequestOrigin) -> dict[str, Any]:
    """One small area by code, with every indicator's latest value."""
    area = read_area(session=session, actor=actor, code=feature_id)
    latest: dict[str, float] = {}
    for value in area.indicators:
        latest.setdefault(value.indicator, value.value)
    properties = {"code": area.code, "name": area.name, "kind": area.kind, "edition": area.edition, **latest}
    return {"type": "Feature", "id": area.code, "geometry": area.geometry, "properties": properties}


def _area_extent(session: Session) -> tuple[float, float, float, float]:
    """The bounding box of the imported areas (the world when there are none)."""
    extent = func.ST_Extent(SmallArea.geom)
    box = session.execute(
        select(func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent), func.ST_YMax(extent))
    ).one()
    return WORLD if box[0] is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


AREAS = Collection(
    id="areas",
    title="Small areas",
    description="Small-area boundaries (LSOAs, wards) with their deprivation decile and population, "
    "for rates per 1,000 young people.",
    permission=Permission.VIEW_PLACES,
    items=_area_items,
    item=_area_item,
    spatial_extent=_area_extent,
    keywords=("areas", "deprivation", "population"),
)

HOTSPOT_CELL: Final = 250.0
WHOLE_WORLD: Final = Area(-180.0, -90.0, 180.0, 90.0)
"""The hotspot collection never narrows its study area by a bbox (a bbox picks cells of the map), so
the deployment's area is not needed to check one."""


def _local_day(moment: datetime) -> date:
    """The day of an instant in UK local time, as records are dated."""
    return moment.astimezone(ZoneInfo(TIME_ZONE)).date()


def hotspot_window(interval: Interval | None) -> tuple[date | None, date | None]:
    """The whole months a `datetime` touches; none given: the service's last twelve months."""
    if interval is None:
        return None, None
    start = None if interval.start is None else _local_day(interval.start).replace(day=1)
    end = None if interval.end is None else month_end(_local_day(interval.end))
    return start, end


@dataclass(frozen=True, slots=True)
class HotspotCells:
    """The partner map's cells worth showing, with their outlines (GeoJSON polygons) and window."""

    rows: list[CellRow]
    outlines: dict[int, dict[str, Any]]
    period: str


def partner_cells(
    session: Session,
    actor: Actor,
    interval: Interval | None,
    policy: DisclosurePolicy,
    origin: RequestOrigin,
) -> HotspotCells:
    """The partner hotspot map of the window (250 m squares over the study area), audited."""
    start, end = hotspot_window(interval)
    query = HotspotQuery(
        cell=HOTSPOT_CELL, shape=GridShape.SQUARE, start=start, end=end, audience=Audience.PARTNER
    )
    computed = hotspot_map(
        session=session, actor=actor, origin=origin, query=query, policy=policy, area=WHOLE_WORLD
    )
    rows = sorted(cell_rows(computed, policy), key=lambda row: row.cell_id)
    period = f"{computed.window.start:%Y-%m}/{computed.window.end:%Y-%m}"
    if computed.grid is None or not rows:
        return HotspotCells([], {}, period)
    rings = cell_polygons(computed.grid, [row.cell_id for row in rows])
    degrees = np.round(to_wgs84(session, rings.reshape(-1, 2)), 6).reshape(rings.shape)
    outlines = {
        row.cell_id: {"type": "Polygon", "coordinates": [degrees[index].tolist()]}
        for index, row in enumerate(rows)
    }
    return HotspotCells(rows, outlines, period)


def _inside(outline: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    """Whether a cell's outline meets the bbox."""
    xs = [float(point[0]) for point in outline["coordinates"][0]]
    ys = [float(point[1]) for point in outline["coordinates"][0]]
    west, south, east, north = bbox
    return min(xs) <= east and max(xs) >= west and min(ys) <= north and max(ys) >= south


def _cell_feature(
    row: CellRow, outline: dict[str, Any], period: str, policy: DisclosurePolicy
) -> dict[str, Any]:
    """A partner cell as a feature, its properties passed through the disclosure allow-list."""
    properties: dict[str, object] = {"cell_id": row.cell_id, "count": row.count, "rate": row.rate}
    properties |= {"bin": row.gi_bin, "period": period} | ({"trend": row.trend} if row.trend else {})
    checked = policy.partner_properties(properties)
    return {"type": "Feature", "id": row.cell_id, "geometry": outline, "properties": checked}


def hotspots_collection(policy: DisclosurePolicy) -> Collection:
    """Partner hotspot cells as a collection, under the deployment's disclosure policy.

    Items are the cells of the partner map worth showing (a shown count, a significant bin or a
    trend), exactly as partners see them on /maps/partner; `datetime` chooses the window in whole
    months (by default the last twelve) and `bbox` keeps the cells that meet it.
    """

    def items(session: Session, actor: Actor, query: ItemQuery) -> ItemPage:
        """One page of cells of the window, in cell order."""
        found = partner_cells(session, actor, query.interval, policy, query.origin)
        box = query.bbox
        rows = [row for row in found.rows if box is None or _inside(found.outlines[row.cell_id], box)]
        page = rows[query.offset : query.offset + query.limit]
        features = [_cell_feature(row, found.outlines[row.cell_id], found.period, policy) for row in page]
        return ItemPage(features, len(rows))

    def item(session: Session, actor: Actor, feature_id: str, origin: RequestOrigin) -> dict[str, Any]:
        """One cell of the default window's map."""
        found = partner_cells(session, actor, None, policy, origin)
        row = next((row for row in found.rows if str(row.cell_id) == feature_id), None)
        if row is None:
            raise NotFound("There is no such feature in this collection.")
        return _cell_feature(row, found.outlines[row.cell_id], found.period, policy)

    return Collection(
        id="hotspots",
        title="Hotspots (partner level)",
        description="Hot and cold spots on 250 m squares, disclosure-controlled: counts under the "
        f"threshold ({policy.threshold}) hidden, the rest rounded to {policy.rounding_base}; agency-only "
        "records and residential places left out. datetime chooses the months (default: the last twelve).",
        permission=Permission.VIEW_HOTSPOTS,
        items=items,
        item=item,
        spatial_extent=_hotspot_extent,
        temporal=True,
        keywords=("hotspots", "Getis-Ord Gi*", "disclosure-controlled"),
    )


def _hotspot_extent(session: Session) -> tuple[float, float, float, float]:
    """Where the cells lie: the small areas' extent, else the places'."""
    extent = _area_extent(session)
    return extent if extent != WORLD else _place_extent(session)


COLLECTIONS: dict[str, Collection] = {PLACES.id: PLACES, AREAS.id: AREAS}


def register(collection: Collection) -> None:
    """Add a layer to the service (areas and partner hotspots register themselves)."""
    COLLECTIONS[collection.id] = collection


def collection(collection_id: str) -> Collection:
    """A registered collection, or NotFound."""
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFound("There is no such collection.")
    return found


def visible_collections(actor: Actor) -> list[Collection]:
    """The collections this actor may read, in a stable order."""
    return [c for _, c in sorted(COLLECTIONS.items()) if can(actor, c.permission)]


def describe(collection: Collection, session: Session) -> Mapping[str, Any]:
    """The collection's extent member."""
    return {"spatial": {"bbox": [list(collection.spatial_extent(session))], "crs": CRS84}}
