"""Area services: which area a point is in, where a postcode is, areas with their indicators for
choropleths and the API, and rates per 1,000 young people.

Areas, indicators and postcodes are published statistical geography, not person records: anyone
who may view places may read them, and they change only by import.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure
from contexts.errors import InvalidInput, NotFound
from mapping.areas.models import AreaIndicator, Indicator, IndicatorCode, Postcode, SmallArea
from mapping.areas.schemas import AreaFilter, AreaRead, AreaRef, IndicatorRead, IndicatorValue, PostcodeRead
from mapping.places.models import WGS84
from mapping.places.schemas import normalise_postcode

GEOJSON_DIGITS = 6
"""Decimal places of degrees in GeoJSON output: about 10 cm, finer than any boundary file."""
YOUNG_BANDS = ((IndicatorCode.POPULATION_10_17, "10-17"), (IndicatorCode.POPULATION_0_15, "0-15"))
"""Where the young population comes from, best first: aged 10-17, else the 0-15 the IoD gives."""


@dataclass(frozen=True, slots=True)
class LonLat:
    """A point in WGS84 degrees."""

    longitude: float
    latitude: float


@dataclass(frozen=True, slots=True)
class ChoroplethRow:
    """An area to shade: its boundary (GeoJSON) and its latest deprivation and population figures."""

    code: str
    name: str
    kind: str
    edition: int
    geometry: dict[str, Any]
    imd_decile: int | None
    population_total: float | None
    population_young: float | None
    young_age_band: str | None


def rate_per_1000(count: float, population: float | None) -> float | None:
    """The count per 1,000 people; None when the population is unknown or not positive."""
    if population is None or population <= 0:
        return None
    return 1000.0 * count / population


def area_for_point(
    session: Session, longitude: float, latitude: float, *, kind: str | None = None
) -> list[AreaRef]:
    """The areas whose boundary contains the point (one per kind and edition), newest edition first."""
    point = func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)
    query = select(SmallArea.kind, SmallArea.edition, SmallArea.code, SmallArea.name).where(
        func.ST_Intersects(SmallArea.geom, point)
    )
    if kind is not None:
        query = query.where(SmallArea.kind == kind)
    rows = session.execute(query.order_by(SmallArea.kind, SmallArea.edition.desc(), SmallArea.code))
    return [AreaRef(kind=row.kind, edition=row.edition, code=row.code, name=row.name) for row in rows]


def locate_postcode(session: Session, postcode: str) -> LonLat | None:
    """Where a postcode is, from the imported directory; None if it is unknown or not a postcode."""
    try:
        normalised = normalise_postcode(postcode)
    except ValueError:
        return None
    row = session.execute(
        select(func.ST_X(Postcode.geom).label("x"), func.ST_Y(Postcode.geom).label("y")).where(
            Postcode.postcode == normalised
        )
    ).one_or_none()
    return LonLat(row.x, row.y) if row else None


def read_postcode(*, session: Session, actor: Actor, postcode: str) -> PostcodeRead:
    """A postcode's point, its directory codes and the imported areas it lies in."""
    ensure(actor, Permission.VIEW_PLACES)
    try:
        normalised = normalise_postcode(postcode)
    except ValueError as wrong:
        raise InvalidInput(str(wrong), field="postcode") from wrong
    row = session.execute(
        select(Postcode, func.ST_X(Postcode.geom).label("x"), func.ST_Y(Postcode.geom).label("y")).where(
            Postcode.postcode == normalised
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"The postcode {normalised} is not in the imported postcode directory.")
    found: Postcode = row[0]
    return PostcodeRead(
        postcode=found.postcode,
        longitude=row.x,
        latitude=row.y,
        lsoa_code=found.lsoa_code,
        lsoa_edition=found.lsoa_edition,
        ward_code=found.ward_code,
        areas=area_for_point(session, row.x, row.y),
    )


# Areas with their latest indicators


def _latest(code: str) -> ColumnElement[Any]:
    """The area's value of an indicator in its latest period (NULL if it has none)."""
    return (
        select(AreaIndicator.value)
        .where(AreaIndicator.area_id == SmallArea.id, AreaIndicator.indicator == code)
        .order_by(AreaIndicator.period.desc())
        .limit(1)
        .correlate(SmallArea)
        .scalar_subquery()
    )


def _shaded() -> Select[Any]:
    """Areas with their boundary as GeoJSON and the figures a choropleth needs."""
    young = [_latest(code) for code, _ in YOUNG_BANDS]
    return select(
        SmallArea.id,
        SmallArea.code,
        SmallArea.name,
        SmallArea.kind,
        SmallArea.edition,
        func.ST_AsGeoJSON(SmallArea.geom, GEOJSON_DIGITS).label("geojson"),
        _latest(IndicatorCode.IMD_DECILE).label("imd_decile"),
        _latest(IndicatorCode.POPULATION_TOTAL).label("population_total"),
        func.coalesce(*young).label("population_young"),
        case(
            *((value.is_not(None), band) for value, (_, band) in zip(young, YOUNG_BANDS, strict=True))
        ).label("young_age_band"),
    )


def latest_edition(session: Session, kind: str) -> int | None:
    """The newest boundary edition imported for a kind of area."""
    return session.scalar(select(func.max(SmallArea.edition)).where(SmallArea.kind == kind))


def _filtered(query: Select[Any], filters: AreaFilter) -> Select[Any]:
    """The query narrowed by kind, edition and bounding box."""
    if filters.kind is not None:
        query = query.where(SmallArea.kind == filters.kind)
    if filters.edition is not None:
        query = query.where(SmallArea.edition == filters.edition)
    if filters.bbox is not None:
        query = query.where(func.ST_Intersects(SmallArea.geom, func.ST_MakeEnvelope(*filters.bbox, WGS84)))
    return query


def _row(row: Any) -> ChoroplethRow:
    """One shaded area."""
    return ChoroplethRow(
        code=row.code,
        name=row.name,
        kind=row.kind,
        edition=row.edition,
        geometry=json.loads(row.geojson),
        imd_decile=None if row.imd_decile is None else int(row.imd_decile),
        population_total=row.population_total,
        population_young=row.population_young,
        young_age_band=row.young_age_band,
    )


def areas_with_indicators(
    session: Session,
    *,
    kind: str,
    bbox: tuple[float, float, float, float] | None = None,
    edition: int | None = None,
) -> list[ChoroplethRow]:
    """Every area of a kind (newest edition unless one is named) in the box, with its latest figures."""
    chosen = edition if edition is not None else latest_edition(session, kind)
    if chosen is None:
        return []
    filters = AreaFilter(kind=kind, edition=chosen, bbox=bbox)
    rows = session.execute(_filtered(_shaded(), filters).order_by(SmallArea.code))
    return [_row(row) for row in rows]


def list_areas(
    *, session: Session, actor: Actor, filters: AreaFilter, limit: int = 100, offset: int = 0
) -> tuple[list[ChoroplethRow], int]:
    """One page of areas by kind, edition and code, and how many match in all."""
    ensure(actor, Permission.VIEW_PLACES)
    total = session.scalar(
        select(func.count()).select_from(_filtered(select(SmallArea.id), filters).subquery())
    )
    ordered = _filtered(_shaded(), filters).order_by(SmallArea.kind, SmallArea.edition.desc(), SmallArea.code)
    rows = session.execute(ordered.limit(limit).offset(offset))
    return [_row(row) for row in rows], int(total or 0)


def read_area(
    *, session: Session, actor: Actor, code: str, kind: str | None = None, edition: int | None = None
) -> AreaRead:
    """An area by code (the newest edition unless one is named) with every indicator value it has."""
    ensure(actor, Permission.VIEW_PLACES)
    query = select(SmallArea, func.ST_AsGeoJSON(SmallArea.geom, GEOJSON_DIGITS).label("geojson")).where(
        SmallArea.code == code
    )
    if kind is not None:
        query = query.where(SmallArea.kind == kind)
    if edition is not None:
        query = query.where(SmallArea.edition == edition)
    row = session.execute(query.order_by(SmallArea.edition.desc(), SmallArea.kind).limit(1)).one_or_none()
    if row is None:
        raise NotFound(f"There is no area with the code {code[:20]}.")
    area: SmallArea = row[0]
    return AreaRead(
        kind=area.kind,
        edition=area.edition,
        code=area.code,
        name=area.name,
        geometry=json.loads(row.geojson),
        indicators=indicator_values(session, area.id),
    )


def indicator_values(session: Session, area_id: int) -> list[IndicatorValue]:
    """Every indicator value an area has, by indicator then newest period first."""
    rows = session.execute(
        select(AreaIndicator, Indicator.label, Indicator.unit)
        .join(Indicator, Indicator.code == AreaIndicator.indicator)
        .where(AreaIndicator.area_id == area_id)
        .order_by(AreaIndicator.indicator, AreaIndicator.period.desc())
    )
    return [
        IndicatorValue(
            indicator=row[0].indicator,
            label=row.label,
            unit=row.unit,
            period=row[0].period,
            value=row[0].value,
            source=row[0].source,
        )
        for row in rows
    ]


def indicator_catalogue(*, session: Session, actor: Actor) -> list[IndicatorRead]:
    """The indicators an area may have, by code."""
    ensure(actor, Permission.VIEW_PLACES)
    rows = session.scalars(select(Indicator).order_by(Indicator.code))
    return [IndicatorRead(code=row.code, label=row.label, unit=row.unit) for row in rows]


def as_feature(row: ChoroplethRow) -> dict[str, Any]:
    """An area as GeoJSON Feature fields (id, geometry, properties)."""
    properties = {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "edition": row.edition,
        "imd_decile": row.imd_decile,
        "population_total": row.population_total,
        "population_young": row.population_young,
        "young_age_band": row.young_age_band,
    }
    return {"id": row.code, "geometry": row.geometry, "properties": properties}
