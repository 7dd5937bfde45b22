"""Hotspot maps over PostGIS: counts per grid cell and month from the aggregate, Gi*, trend, GeoJSON.

What is counted. Concerns with a location (their point, else a point on their place) and, with
`source`, where missing young people were found; never a young person's home. A record counts in
the window when its date (UK local time) lies between `start` and `end`, both included. Analysts
see every record the partnership shares plus their own agency's agency-only concerns (the rule of
`contexts.access.entry_visible_to`), exactly. Partners see disclosure-controlled figures computed
from records every agency may see: agency-only concerns and records at residential place types
(which may be a young person's home) are left out of partner maps altogether, before suppression.

The study grid. A `bbox` (WGS84) or, without one, the extent of the records in the window's
months that the audience may see (whatever the other filters), widened to whole kilometre squares
of the British National Grid; a filtered map and the unfiltered one of the same window share a
grid. Cells are squares or hexagons of `cell` metres (chosen from the records' spacing when not
given, `choose_cell_size`), anchored so that the same size always gives the same cells. Every
record in the study area falls in exactly one cell, so the cell counts add up to the records.

A drawn area (`area`, a GeoJSON Polygon or MultiPolygon in WGS84, `mapping.hotspots.drawn`; not
with a `bbox`). The study area is the set of the grid's cells (the same regular cells as ever)
whose inside meets the area's inside (projected to British National Grid in PostGIS), and each
keeps its whole count: every record in the window inside one of those cells is counted there,
whether or not it lies inside the drawn outline. The counting rectangle is widened by a cell's
diameter so that every such cell lies wholly inside it. Counting only the records inside the
outline would give each cell the outline cuts a fraction of its area, so those cells would look
cold because of the drawing, not the records; Gi* compares cells of equal size, so cells stay
whole. Gi*, the FDR correction and the trends are computed over the selected cells alone (the
engine's `within`): their mean and variance are the area's, and a neighbourhood stops at the
area's edge, as it stops at a bbox's edge, rather than counting the cells outside as empty. Only
the selected cells are returned. A cell's count is the same as in the whole map with the same
cell size and filters, so partners' published counts for an area are those they already see,
and a drawing cannot be used to subtract one view from another.

Where counts come from (`CountPlan`). A square grid whose cell size is a whole multiple of a
lattice of `hotspot_cell_count` (1 km, else 250 m), over whole months, with at most one filter
dimension (on the 250 m lattice, when that dimension's codes are distinct), sums lattice cells:
it reads a row per lattice cell and calendar year, however many records there are. Anything
else (hex grids, other sizes, part months, several filters) reads `hotspot_fact`, counted on
its 50 m lattice when the cell size allows, else point by point with the engine's own
`assign_cells`. Every way gives the same counts (the tests hold them to it).

Output (`hotspot_geojson`): a FeatureCollection of every cell in WGS84, its vertices projected
once per grid in PostGIS and kept for the grids in use. Analysts get `count`, `rate` (records
per square kilometre in the window), `gi_z`, `gi_p`, `gi_p_fdr`, `gi_bin` and `trend`; partners
get `count` and `rate` as published (null when hidden), `bin` and `trend`, each distinct set of
values passed through `DisclosurePolicy.partner_properties`, and the published total.

Statistics. Gi* with binary distance-band weights (default band: two cells) or k nearest cells,
each cell its own neighbour; analytic p-values or conditional permutations; Benjamini-Hochberg;
bins -3..3; an emerging hot-spot pattern per cell from the monthly slices (Mann-Kendall on the
monthly z-scores, analytic). Analysts get them on the true counts. Partners get bins and
patterns computed on the published counts alone (hidden counts taken as 0, for the window and
for each month), so that nothing a partner sees depends on a count the disclosure rules hide.
"""

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import shapely
from numpy.typing import NDArray
from pydantic_core import to_json
from scipy import sparse
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import ConcernCategory, ConcernKind, Context
from contexts.errors import InvalidInput
from contexts.young_people.models import Gender
from contexts.young_people.service import Area
from mapping.disclosure import DisclosurePolicy, partner_geometry
from mapping.hotspots.drawn import DrawnArea, cells_meeting, check_inside
from mapping.hotspots.grid import (
    MIN_CELL_SIZE,
    Grid,
    GridShape,
    HotspotInputError,
    assign_cells,
    cell_polygons,
    choose_cell_size,
    grid_for_extent,
)
from mapping.hotspots.models import (
    COARSE_LATTICE,
    DIMENSION_CODES,
    FILTER_LATTICE,
    FINE_LATTICE,
    MONTH_COLUMNS,
    PARTNERSHIP,
    RESIDENTIAL,
    RESIDENTIAL_PLACE_TYPES,
    TEXT_DIMENSIONS,
    TIME_ZONE,
    AgeBand,
    Dimension,
    Source,
    value_code,
)
from mapping.hotspots.stats import (
    DistanceBand,
    HotspotResult,
    NearestNeighbours,
    Neighbourhood,
    benjamini_hochberg,
    confidence_bins,
    gi_star,
    gi_star_z,
    neighbour_weights,
    two_sided_p,
)
from mapping.hotspots.trend import PATTERNS, emerging_codes, mann_kendall
from mapping.places.models import PlaceTypeEntry

MAX_MONTHS: Final = 120
KILOMETRE: Final = 1000
DEFAULT_BAND_CELLS: Final = 2
SQUARE_METRES_PER_KM2: Final = 1_000_000
ENGINE_FIELDS: Final = {"cell_size": "cell", "distance_band": "band", "neighbours": "neighbours"}
HEADS_CACHE_GRIDS: Final = 8
HEADS_CACHE_CELLS: Final = 400_000
MATRIX_CACHE_GRIDS: Final = 8
MATRIX_CACHE_ENTRIES: Final = 5_000_000
NOT_KNOWN: Final = "not_known"
MAX_DECIMAL_EXPONENT: Final = 300


class Audience(StrEnum):
    """Who a map is for: analysts see exact figures, partners disclosure-controlled ones."""

    ANALYST = "analyst"
    PARTNER = "partner"


class SourceChoice(StrEnum):
    """Which records a map counts."""

    CONCERNS = "concerns"
    MISSING = "missing"
    BOTH = "both"


SOURCES: Final[Mapping[SourceChoice, tuple[int, ...]]] = {
    SourceChoice.CONCERNS: (Source.CONCERN.value,),
    SourceChoice.MISSING: (Source.MISSING.value,),
    SourceChoice.BOTH: (Source.CONCERN.value, Source.MISSING.value),
}
CONCERN_ONLY_DIMENSIONS: Final = frozenset({Dimension.CONTEXT, Dimension.KIND, Dimension.CATEGORY})
FACT_EXPRESSIONS: Final[Mapping[Dimension, str]] = {
    Dimension.CONTEXT: "context",
    Dimension.KIND: "kind",
    Dimension.CATEGORY: "category_id::text",
    Dimension.AGENCY: "agency_id::text",
    Dimension.PLACE_TYPE: "place_type",
    Dimension.AGE_BAND: "age_band",
    Dimension.GENDER: "gender",
}


@dataclass(frozen=True)
class HotspotFilters:
    """Filter values as users give them (codes); empty means no filter on that dimension."""

    contexts: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    place_types: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()

    def by_dimension(self) -> dict[Dimension, tuple[str, ...]]:
        """The filters in use, keyed by dimension."""
        given = {
            Dimension.CONTEXT: self.contexts,
            Dimension.KIND: self.kinds,
            Dimension.CATEGORY: self.categories,
            Dimension.AGENCY: self.agencies,
            Dimension.PLACE_TYPE: self.place_types,
            Dimension.AGE_BAND: self.age_bands,
            Dimension.GENDER: self.genders,
        }
        return {dimension: values for dimension, values in given.items() if values}


@dataclass(frozen=True)
class HotspotQuery:
    """Everything a hotspot map request asks for."""

    cell: float | None = None
    shape: GridShape = GridShape.SQUARE
    start: date | None = None
    end: date | None = None
    filters: HotspotFilters = field(default_factory=HotspotFilters)
    source: SourceChoice = SourceChoice.CONCERNS
    audience: Audience = Audience.ANALYST
    bbox: tuple[float, float, float, float] | None = None
    area: DrawnArea | None = None
    band: float | None = None
    neighbours: int | None = None
    permutations: int = 0
    seed: int | None = None
    fdr: bool = True
    trend: bool = True


@dataclass(frozen=True)
class Window:
    """The dates counted (both included) and the calendar months they touch."""

    start: date
    end: date
    months: tuple[date, ...]

    @property
    def whole_months(self) -> bool:
        """Whether the window starts on a first and ends on a last day of a month."""
        return self.start.day == 1 and (self.end + timedelta(days=1)).day == 1


@dataclass(frozen=True)
class StudyArea:
    """A rectangle of whole British National Grid kilometre squares, by their indexes (inclusive)."""

    kx0: int
    ky0: int
    kx1: int
    ky1: int

    def bounds(self) -> tuple[float, float, float, float]:
        """The rectangle in metres: west, south, east, north."""
        return (
            float(self.kx0 * KILOMETRE),
            float(self.ky0 * KILOMETRE),
            float((self.kx1 + 1) * KILOMETRE),
            float((self.ky1 + 1) * KILOMETRE),
        )

    def widened(self, squares: int) -> "StudyArea":
        """The rectangle with `squares` more kilometre squares on every side."""
        return StudyArea(self.kx0 - squares, self.ky0 - squares, self.kx1 + squares, self.ky1 + squares)

    def lattice_range(self, lattice: int) -> dict[str, int]:
        """The inclusive range of lattice cell indexes inside the rectangle, as query parameters."""
        per_km = KILOMETRE // lattice
        return {
            "x0": self.kx0 * per_km,
            "x1": (self.kx1 + 1) * per_km - 1,
            "y0": self.ky0 * per_km,
            "y1": (self.ky1 + 1) * per_km - 1,
        }


@dataclass(frozen=True)
class Scope:
    """Which facts a map may count: sources, visibility, filters (as stored values)."""

    sources: tuple[int, ...]
    restricted: tuple[int, ...]
    filters: dict[Dimension, tuple[str, ...]]
    excluded_place_types: tuple[str, ...] = ()
    coded: frozenset[Dimension] = frozenset()
    """Filter dimensions whose known values all have distinct lattice codes."""

    def lattice_values(self, dimension: Dimension) -> list[int]:
        """A filter's values as the lattice numbers them (every record: 0)."""
        if dimension is Dimension.ALL:
            return [0]
        values = self.filters[dimension]
        if dimension in TEXT_DIMENSIONS:
            return [value_code(value) for value in values]
        return [int(value) for value in values]


@dataclass(frozen=True)
class CountPlan:
    """How the counts are read: a lattice of the aggregate, or the facts (binned or point by point)."""

    table: str
    lattice: int | None
    dimension: Dimension = Dimension.ALL

    def describe(self) -> str:
        """A short description for benchmarks and logs."""
        if self.table == "cells":
            return f"{self.lattice} m lattice ({self.dimension.value})"
        return "facts, 50 m lattice" if self.lattice else "facts, point by point"


@dataclass(frozen=True)
class CellStatistics:
    """Gi* and trend for every cell of the grid, in cell-id order."""

    result: HotspotResult
    patterns: NDArray[np.int8] | None


@dataclass(frozen=True)
class HotspotMap:
    """A computed map: the grid, its cells in the study area, their true counts and statistics.

    `cells` are the ids of the grid's cells in the study area, ascending (every cell, unless an area
    was drawn); `counts` and the statistics' arrays follow them, position by position.
    """

    query: HotspotQuery
    window: Window
    neighbourhood: Neighbourhood | None
    grid: Grid | None
    cells: NDArray[np.int64]
    counts: NDArray[np.int64]
    statistics: CellStatistics | None
    plan: CountPlan | None
    filters: dict[str, list[str]]


def hotspot_map(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    query: HotspotQuery,
    policy: DisclosurePolicy,
    area: Area,
    today: date | None = None,
) -> HotspotMap:
    """Count, test and label every cell of the study grid for the query's audience; audit the query."""
    ensure(actor, Permission.VIEW_HOTSPOTS)
    if query.audience is Audience.ANALYST:
        ensure(actor, Permission.VIEW_ANALYST_HOTSPOTS)
    window = month_window(query.start, query.end, today=today)
    scope = query_scope(session=session, actor=actor, query=query, policy=policy)
    study = study_area(session=session, query=query, window=window, scope=scope, area=area)
    if study is None:
        _audit(session, actor, origin, query, window)
        return _empty_map(query, window)
    cell = query.cell if query.cell is not None else chosen_cell_size(session, window, scope, study)
    study, grid, cells = study_cells(session, query, study, cell)
    neighbourhood = neighbourhood_for(query, grid)
    monthly, plan = monthly_counts(session=session, grid=grid, study=study, window=window, scope=scope)
    if cells is not None:
        monthly = monthly[:, cells]
    statistics = cell_statistics(grid, monthly, neighbourhood, query, policy, cells)
    _audit(session, actor, origin, query, window)
    return HotspotMap(
        query=query,
        window=window,
        neighbourhood=neighbourhood,
        grid=grid,
        cells=np.arange(grid.n_cells, dtype=np.int64) if cells is None else cells,
        counts=monthly.sum(axis=0),
        statistics=statistics,
        plan=plan,
        filters=_filters_echo(query),
    )


def _audit(
    session: Session, actor: Actor, origin: RequestOrigin, query: HotspotQuery, window: Window
) -> None:
    """Record who looked at which map (the query, never the figures)."""
    record_event(
        session=session,
        action=AuditAction.VIEW,
        actor=actor,
        origin=origin,
        object_type="hotspot_map",
        object_id=query.audience.value,
        reason=describe_query(query, window),
    )


def _empty_map(query: HotspotQuery, window: Window) -> HotspotMap:
    """A map with no study area: nothing the audience may see was recorded in the window."""
    return HotspotMap(
        query=query,
        window=window,
        neighbourhood=None,
        grid=None,
        cells=np.zeros(0, dtype=np.int64),
        counts=np.zeros(0, dtype=np.int64),
        statistics=None,
        plan=None,
        filters=_filters_echo(query),
    )


def _filters_echo(query: HotspotQuery) -> dict[str, list[str]]:
    """The filters as asked, for the response."""
    return {dimension.value: list(values) for dimension, values in query.filters.by_dimension().items()}


def describe_query(query: HotspotQuery, window: Window) -> str:
    """The query in one line for the audit trail: what was looked at, never what was found."""
    parts = [
        f"cell={'auto' if query.cell is None else f'{query.cell:g}'}",
        f"shape={query.shape.value}",
        f"from={window.start.isoformat()}",
        f"to={window.end.isoformat()}",
        f"source={query.source.value}",
    ]
    parts += [f"{name}={','.join(values)}" for name, values in _filters_echo(query).items()]
    if query.bbox is not None:
        parts.append("bbox=" + ",".join(f"{value:g}" for value in query.bbox))
    if query.area is not None:
        parts.append("area=" + query.area.describe().replace(" ", "_"))
    return " ".join(parts)[:1000]


def local_today() -> date:
    """Today in UK local time."""
    return datetime.now(ZoneInfo(TIME_ZONE)).date()


def month_end(day: date) -> date:
    """The last day of the day's month."""
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after the day's month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_index(day: date) -> int:
    """Months since year 0, for arithmetic on months."""
    return day.year * 12 + day.month - 1


def month_window(start: date | None, end: date | None, *, today: date | None = None) -> Window:
    """The window asked for; by default the twelve calendar months ending with this one."""
    end = end or month_end(today or local_today())
    start = start or add_months(end, -11)
    if start > end:
        raise InvalidInput(
            f"The window starts ({start.isoformat()}) after it ends ({end.isoformat()}).", field="from"
        )
    count = month_index(end) - month_index(start) + 1
    if count > MAX_MONTHS:
        raise InvalidInput(
            f"The window spans {count} months; the most is {MAX_MONTHS}. Choose a later 'from'.",
            field="from",
        )
    months = tuple(add_months(start, offset) for offset in range(count))
    return Window(start=start, end=end, months=months)


def query_scope(*, session: Session, actor: Actor, query: HotspotQuery, policy: DisclosurePolicy) -> Scope:
    """Check the filters and work out which facts the audience may count."""
    filters, coded = resolve_filters(session, query.filters, query.source, query.audience, policy)
    if query.audience is Audience.ANALYST:
        restricted: tuple[int, ...] = (PARTNERSHIP, RESIDENTIAL, actor.agency_id)
        excluded: tuple[str, ...] = ()
    else:
        restricted = (PARTNERSHIP,)
        excluded = tuple(sorted(policy.hidden_place_types - RESIDENTIAL_PLACE_TYPES))
    return Scope(SOURCES[query.source], restricted, filters, excluded, coded)


def resolve_filters(
    session: Session,
    filters: HotspotFilters,
    source: SourceChoice,
    audience: Audience,
    policy: DisclosurePolicy,
) -> tuple[dict[Dimension, tuple[str, ...]], frozenset[Dimension]]:
    """Each filter's values as the facts store them (unknown ones refused by name), and the
    dimensions whose known values have distinct lattice codes."""
    given = filters.by_dimension()
    for dimension in given.keys() & CONCERN_ONLY_DIMENSIONS:
        if source is not SourceChoice.CONCERNS:
            raise InvalidInput(
                f"The {dimension.value} filter applies to concerns only: use source=concerns.",
                field=dimension.value,
            )
    known: dict[Dimension, Mapping[str, str]] = {}
    for dimension in given:
        known[dimension] = known_values(session, dimension)
    if audience is Audience.PARTNER:
        hidden = set(given.get(Dimension.PLACE_TYPE, ())) & policy.hidden_place_types
        if hidden:
            raise InvalidInput(
                "Residential place types are never shown to partners.", field=Dimension.PLACE_TYPE.value
            )
    stored = {dimension: _stored(dimension, values, known[dimension]) for dimension, values in given.items()}
    coded = frozenset(
        dimension
        for dimension, values in known.items()
        if dimension not in TEXT_DIMENSIONS
        or len({value_code(value) for value in values.values()}) == len(values)
    )
    return stored, coded


def known_values(session: Session, dimension: Dimension) -> Mapping[str, str]:
    """Every value a filter may take, as given -> as stored."""
    if dimension is Dimension.CONTEXT:
        return {value.value: value.value for value in Context}
    if dimension is Dimension.KIND:
        return {value.value: value.value for value in ConcernKind}
    if dimension is Dimension.AGE_BAND:
        return {value.value: value.value for value in AgeBand}
    if dimension is Dimension.GENDER:
        return {value.value: value.value for value in Gender} | {NOT_KNOWN: NOT_KNOWN}
    if dimension is Dimension.CATEGORY:
        rows = session.execute(select(ConcernCategory.code, ConcernCategory.id)).all()
        return {str(code): str(number) for code, number in rows}
    if dimension is Dimension.AGENCY:
        return {str(code): str(number) for code, number in session.execute(select(Agency.code, Agency.id))}
    return {str(code): str(code) for code in session.scalars(select(PlaceTypeEntry.code))}


def _stored(dimension: Dimension, values: Sequence[str], known: Mapping[str, str]) -> tuple[str, ...]:
    """The stored form of each value, refusing one that is not known (without repeating it)."""
    unknown = [value for value in values if value not in known]
    if unknown:
        choices = ", ".join(sorted(known)) if len(known) <= 20 else f"{len(known)} known codes"
        raise InvalidInput(
            f"{len(unknown)} {dimension.value} value(s) are not known; choose from {choices}.",
            field=dimension.value,
        )
    return tuple(sorted({known[value] for value in values}))


def study_area(
    *, session: Session, query: HotspotQuery, window: Window, scope: Scope, area: Area
) -> StudyArea | None:
    """The bbox's or the drawn area's kilometre squares, or those holding the audience's records in the
    window's months."""
    if query.bbox is not None and query.area is not None:
        raise InvalidInput("Give a bbox or an area drawn on the map, not both.", field="area")
    if query.bbox is not None:
        return bbox_study_area(session, query.bbox, area)
    if query.area is not None:
        check_inside(query.area, area)
        return _squares_covering(area_in_metres(session, query.area).bounds)
    sql = (
        "SELECT min(cx), min(cy), max(cx), max(cy) FROM hotspot_cell_count "
        "WHERE lattice = %(lattice)s AND dimension = 0 AND value = 0 "
        "AND source = ANY(%(sources)s) AND restricted_to = ANY(%(restricted)s) "
        f"AND year BETWEEN %(first_year)s AND %(last_year)s AND ({_counted_in_window(window)})"
    )
    params = scope_params(scope, window) | {"lattice": COARSE_LATTICE}
    with raw_connection(session).cursor() as cursor:
        row = cursor.execute(sql, params).fetchone()
    if row is None or row[0] is None:
        return None
    return StudyArea(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _counted_in_window(window: Window) -> str:
    """SQL that a lattice row counts something in the window's months (column names are ours)."""
    by_year: dict[int, list[str]] = {}
    for month in window.months:
        by_year.setdefault(month.year, []).append(MONTH_COLUMNS[month.month - 1])
    return " OR ".join(f"(year = {year} AND {' + '.join(columns)} > 0)" for year, columns in by_year.items())


def check_bbox(bbox: tuple[float, float, float, float], area: Area) -> None:
    """Refuse a bbox that is not west-south-east-north in degrees, or lies outside the deployment's area."""
    west, south, east, north = bbox
    if not all(math.isfinite(value) for value in bbox):
        raise InvalidInput("The bbox has a missing or infinite number.", field="bbox")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(
            "The bbox must run west to east and south to north, in degrees inside the world.", field="bbox"
        )
    if not area.holds_box(west, south, east, north):
        raise InvalidInput("The bbox must lie inside the deployment's area.", field="bbox")


def bbox_study_area(session: Session, bbox: tuple[float, float, float, float], area: Area) -> StudyArea:
    """The kilometre squares covering a WGS84 bbox once projected to British National Grid."""
    check_bbox(bbox, area)
    row = session.execute(
        text(
            "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT ST_Transform("
            "ST_Segmentize(ST_MakeEnvelope(:west, :south, :east, :north, 4326), 0.01), 27700) AS g) AS box"
        ),
        dict(zip(("west", "south", "east", "north"), bbox, strict=True)),
    ).one()
    return _squares_covering((row[0], row[1], row[2], row[3]))


def _squares_covering(bounds: tuple[float, float, float, float]) -> StudyArea:
    """The kilometre squares covering British National Grid bounds (west, south, east, north)."""
    west, south, east, north = bounds
    return StudyArea(
        math.floor(west / KILOMETRE),
        math.floor(south / KILOMETRE),
        math.ceil(east / KILOMETRE) - 1,
        math.ceil(north / KILOMETRE) - 1,
    )


def area_in_metres(session: Session, drawn: DrawnArea) -> BaseGeometry:
    """The drawn area in British National Grid, its edges followed in steps of 0.01 degrees."""
    wkb = session.execute(
        text(
            "SELECT ST_AsBinary(ST_Transform(ST_Segmentize("
            "ST_SetSRID(ST_GeomFromGeoJSON(:area), 4326), 0.01), 27700))"
        ),
        {"area": drawn.geojson},
    ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def study_cells(
    session: Session, query: HotspotQuery, study: StudyArea, cell: float
) -> tuple[StudyArea, Grid, NDArray[np.int64] | None]:
    """The grid, and for a drawn area the counting rectangle widened to hold whole cells and the
    ids of the cells meeting the area (None: every cell of the grid)."""
    if query.area is None:
        return study, study_grid(study, cell, query.shape), None
    check_cell_size(cell)
    diameter = cell * (math.sqrt(2) if query.shape is GridShape.SQUARE else 2 / math.sqrt(3))
    widened = study.widened(math.ceil(diameter / KILOMETRE))
    grid = study_grid(widened, cell, query.shape)
    cells = cells_meeting(grid, area_in_metres(session, query.area))
    if cells.size < 2:
        raise InvalidInput(
            "The area drawn meets fewer than two cells: draw a larger area or choose smaller cells.",
            field="area",
        )
    return widened, grid, cells


def chosen_cell_size(session: Session, window: Window, scope: Scope, study: StudyArea) -> float:
    """A cell size from the spacing of the distinct locations counted in the window (any filter)."""
    sql = (
        "SELECT DISTINCT x, y FROM hotspot_fact WHERE source = ANY(%(sources)s) "
        "AND restricted_to = ANY(%(restricted)s) AND occurred_on BETWEEN %(start)s AND %(end)s "
        "AND cx BETWEEN %(x0)s AND %(x1)s AND cy BETWEEN %(y0)s AND %(y1)s"
    )
    params = scope_params(scope, window) | study.lattice_range(FINE_LATTICE)
    points = fetch_rows(session, sql, params, [("x", ">f8"), ("y", ">f8")])
    if points.size == 0:
        raise InvalidInput("There are no records in the study area to choose a cell size from.", field="cell")
    return choose_cell_size(points["x"], points["y"])


def study_grid(study: StudyArea, cell: float, shape: GridShape) -> Grid:
    """The grid over the study area, refusing a cell size the area cannot use (naming `cell`)."""
    check_cell_size(cell)
    try:
        grid = grid_for_extent(*study.bounds(), cell_size=float(cell), shape=shape)
    except HotspotInputError as refused:
        raise InvalidInput(refused.detail, field="cell") from refused
    if grid.n_cells < 2:
        raise InvalidInput("The study area holds a single cell: choose a smaller cell size.", field="cell")
    return grid


def check_cell_size(cell: float) -> None:
    """Refuse a cell size below the engine's smallest (naming `cell`)."""
    if not math.isfinite(cell) or cell < MIN_CELL_SIZE:
        raise InvalidInput(f"The cell size must be at least {MIN_CELL_SIZE:g} metres.", field="cell")


def neighbourhood_for(query: HotspotQuery, grid: Grid) -> Neighbourhood:
    """The neighbourhood asked for: k nearest cells, a distance band, or two cells' width."""
    if query.neighbours is not None and query.band is not None:
        raise InvalidInput("Give a distance band or a number of neighbours, not both.", field="band")
    if query.neighbours is not None:
        return NearestNeighbours(query.neighbours)
    return DistanceBand(query.band if query.band is not None else DEFAULT_BAND_CELLS * grid.cell_size)


def lattice_dimension(window: Window, scope: Scope) -> Dimension | None:
    """The aggregate's layer that counts the scope's records exactly over the window, if one does:
    whole months, no place types left out, and no filter (`ALL`) or one whose codes are distinct."""
    if not window.whole_months or scope.excluded_place_types:
        return None
    dimensions = list(scope.filters)
    if not dimensions:
        return Dimension.ALL
    if len(dimensions) == 1 and dimensions[0] in scope.coded:
        return dimensions[0]
    return None


def count_plan(grid: Grid, window: Window, scope: Scope) -> CountPlan:
    """Choose the cheapest way to count that gives the exact counts."""
    size = grid.cell_size
    square_multiple = grid.shape is GridShape.SQUARE and size.is_integer()
    dimension = lattice_dimension(window, scope)
    if square_multiple and dimension is Dimension.ALL:
        for lattice in (COARSE_LATTICE, FILTER_LATTICE):
            if int(size) % lattice == 0:
                return CountPlan("cells", lattice)
    elif square_multiple and dimension is not None and int(size) % FILTER_LATTICE == 0:
        return CountPlan("cells", FILTER_LATTICE, dimension)
    if square_multiple and int(size) % FINE_LATTICE == 0:
        return CountPlan("facts", FINE_LATTICE)
    return CountPlan("facts", None)


def monthly_counts(
    *,
    session: Session,
    grid: Grid,
    study: StudyArea,
    window: Window,
    scope: Scope,
    plan: CountPlan | None = None,
) -> tuple[NDArray[np.int64], CountPlan]:
    """Counts per (month, cell) of the window over the grid, and how they were read (or `plan`)."""
    plan = plan or count_plan(grid, window, scope)
    if plan.table == "cells" and plan.lattice is not None:
        rows = lattice_rows(
            session, plan.lattice, plan.dimension, study.lattice_range(plan.lattice), window, scope
        )
        return fold_years(grid, plan.lattice, rows, window), plan
    if plan.lattice is not None:
        rows = _fact_lattice_rows(session, study, window, scope)
        return fold_lattice(grid, FINE_LATTICE, rows, len(window.months)), plan
    return _fact_point_counts(session, grid, study, window, scope), plan


LATTICE_COLUMNS: Final = [("month", ">i4"), ("cx", ">i4"), ("cy", ">i4"), ("n", ">i4")]
YEAR_COLUMNS: Final = [("year", ">i4"), ("cx", ">i4"), ("cy", ">i4")] + [(m, ">i4") for m in MONTH_COLUMNS]
MONTH_INDEX_SQL: Final = (
    "((date_part('year', month) * 12 + date_part('month', month) - 1)::int4 - %(base)s) AS month"
)


def scope_params(scope: Scope, window: Window) -> dict[str, Any]:
    """Query parameters every count shares."""
    return {
        "sources": list(scope.sources),
        "restricted": list(scope.restricted),
        "start": window.start,
        "end": window.end,
        "first": window.months[0],
        "last": window.months[-1],
        "base": month_index(window.months[0]),
        "first_year": window.months[0].year,
        "last_year": window.months[-1].year,
        "excluded": list(scope.excluded_place_types),
    }


def lattice_rows(
    session: Session,
    lattice: int,
    dimension: Dimension,
    cells: Mapping[str, int],
    window: Window,
    scope: Scope,
) -> NDArray[Any]:
    """(year, cx, cy, January..December) rows of one lattice layer in a range of its cells
    (`x0`..`x1`, `y0`..`y1`, inclusive)."""
    sql = (
        f"SELECT year::int4 AS year, cx, cy, {', '.join(MONTH_COLUMNS)} FROM hotspot_cell_count "
        "WHERE lattice = %(lattice)s AND dimension = %(dimension)s AND value = ANY(%(values)s) "
        "AND source = ANY(%(sources)s) AND restricted_to = ANY(%(restricted)s) "
        "AND year BETWEEN %(first_year)s AND %(last_year)s "
        "AND cx BETWEEN %(x0)s AND %(x1)s AND cy BETWEEN %(y0)s AND %(y1)s"
    )
    params = scope_params(scope, window) | dict(cells)
    params |= {
        "lattice": lattice,
        "dimension": DIMENSION_CODES[dimension],
        "values": scope.lattice_values(dimension),
    }
    return fetch_rows(session, sql, params, YEAR_COLUMNS)


def fact_conditions(scope: Scope) -> tuple[str, dict[str, Any]]:
    """SQL conditions on hotspot_fact for the scope's filters and exclusions."""
    clauses = [
        "source = ANY(%(sources)s)",
        "restricted_to = ANY(%(restricted)s)",
        "occurred_on BETWEEN %(start)s AND %(end)s",
        "cx BETWEEN %(x0)s AND %(x1)s",
        "cy BETWEEN %(y0)s AND %(y1)s",
    ]
    params: dict[str, Any] = {}
    for dimension, values in scope.filters.items():
        clauses.append(f"{FACT_EXPRESSIONS[dimension]} = ANY(%(f_{dimension.value})s)")
        params[f"f_{dimension.value}"] = list(values)
    if scope.excluded_place_types:
        clauses.append("(place_type IS NULL OR place_type <> ALL(%(excluded)s))")
    return " AND ".join(clauses), params


def _fact_lattice_rows(session: Session, study: StudyArea, window: Window, scope: Scope) -> NDArray[Any]:
    """(month, cx, cy, n) rows counted from the facts on the 50 m lattice."""
    conditions, params = fact_conditions(scope)
    sql = (
        f"SELECT {MONTH_INDEX_SQL}, cx, cy, count(*)::int4 AS n FROM hotspot_fact WHERE {conditions} "
        "GROUP BY 1, cx, cy"
    )
    params |= scope_params(scope, window) | study.lattice_range(FINE_LATTICE)
    return fetch_rows(session, sql, params, LATTICE_COLUMNS)


def _fact_point_counts(
    session: Session, grid: Grid, study: StudyArea, window: Window, scope: Scope
) -> NDArray[np.int64]:
    """Counts per (month, cell) from each fact's coordinates, binned by the engine itself."""
    conditions, params = fact_conditions(scope)
    sql = f"SELECT {MONTH_INDEX_SQL}, x, y FROM hotspot_fact WHERE {conditions}"
    params |= scope_params(scope, window) | study.lattice_range(FINE_LATTICE)
    rows = fetch_rows(session, sql, params, [("month", ">i4"), ("x", ">f8"), ("y", ">f8")])
    cells = assign_cells(grid, rows["x"], rows["y"])
    if (cells < 0).any():
        raise RuntimeError("A record in the study area fell outside its grid.")
    return _tally(rows["month"].astype(np.int64), cells, None, len(window.months), grid.n_cells)


def _lattice_cells(grid: Grid, lattice: int, cx: NDArray[Any], cy: NDArray[Any]) -> NDArray[np.int64]:
    """The grid's square cell holding each lattice cell (an exact union of lattice cells)."""
    size = int(grid.cell_size)
    column = (cx.astype(np.int64) * lattice - round(grid.origin_x)) // size
    row = (cy.astype(np.int64) * lattice - round(grid.origin_y)) // size
    if cx.size and (
        column.min() < 0 or row.min() < 0 or column.max() >= grid.columns or row.max() >= grid.rows
    ):
        raise RuntimeError("A lattice cell of the study area fell outside its grid.")
    return row * grid.columns + column


def fold_lattice(grid: Grid, lattice: int, rows: NDArray[Any], months: int) -> NDArray[np.int64]:
    """Sum (month, cx, cy, n) lattice rows into the grid's cells, per month."""
    cells = _lattice_cells(grid, lattice, rows["cx"], rows["cy"])
    return _tally(rows["month"].astype(np.int64), cells, rows["n"].astype(np.int64), months, grid.n_cells)


def fold_years(grid: Grid, lattice: int, rows: NDArray[Any], window: Window) -> NDArray[np.int64]:
    """Sum (year, cx, cy, January..December) lattice rows into the grid's cells, per window month."""
    table = rows.view(">i4").reshape(rows.size, -1).astype(np.int64)
    cells = _lattice_cells(grid, lattice, table[:, 1], table[:, 2])
    counts = table[:, 3:]
    months = table[:, :1] * 12 + np.arange(12) - month_index(window.months[0])
    keep = (months >= 0) & (months < len(window.months)) & (counts != 0)
    spread = np.broadcast_to(cells[:, None], counts.shape)
    return _tally(months[keep], spread[keep], counts[keep], len(window.months), grid.n_cells)


def _tally(
    months: NDArray[np.int64],
    cells: NDArray[np.int64],
    weights: NDArray[np.int64] | None,
    n_months: int,
    n_cells: int,
) -> NDArray[np.int64]:
    """A (months, cells) table of counts from month and cell indexes (and counts per row)."""
    flat = months * n_cells + cells
    table = np.bincount(flat, weights=weights, minlength=n_months * n_cells)
    return np.rint(table).astype(np.int64).reshape(n_months, n_cells)


def raw_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session, in the session's transaction (pending rows flushed)."""
    session.flush()
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


SEND_FUNCTIONS: Final = {">i4": "int4send", ">f8": "float8send"}


def fetch_rows(
    session: Session, sql: str, params: Mapping[str, Any], columns: Sequence[tuple[str, str]]
) -> NDArray[Any]:
    """Rows of a query's named int4 / float8 columns (never null) as a numpy record array.

    The database packs every row's values in network byte order into one bytea (string_agg of
    int4send / float8send), which numpy reads in place: one value crosses the wire, however many
    rows there are, where a result set or COPY would cost a Python step per row.
    """
    packed = " || ".join(f"{SEND_FUNCTIONS[kind]}(r.{name})" for name, kind in columns)
    statement = f"SELECT string_agg({packed}, ''::bytea) FROM ({sql}) AS r"
    with raw_connection(session).cursor(binary=True) as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    data = b"" if row is None or row[0] is None else bytes(row[0])
    return np.frombuffer(data, dtype=np.dtype(list(columns)))


def cell_statistics(
    grid: Grid,
    monthly: NDArray[np.int64],
    neighbourhood: Neighbourhood,
    query: HotspotQuery,
    policy: DisclosurePolicy,
    cells: NDArray[np.int64] | None = None,
) -> CellStatistics:
    """Gi* over the window and the monthly trend, on true counts (analysts) or published ones (partners).

    With `cells` (a drawn area) `monthly` holds those cells only, and only they are analysed.
    """
    values = monthly.sum(axis=0).astype(np.float64)
    slices = monthly.astype(np.float64)
    if query.audience is Audience.PARTNER:
        values = _published_or_zero(policy, monthly.sum(axis=0))
        slices = np.stack([_published_or_zero(policy, month) for month in monthly])
    within = None if cells is None else np.isin(np.arange(grid.n_cells), cells)
    on_grid = values
    if cells is not None:
        on_grid = np.zeros(grid.n_cells, dtype=np.float64)
        on_grid[cells] = values
    try:
        result = gi_star(
            grid,
            on_grid,
            neighbourhood,
            within=within,
            fdr=query.fdr,
            permutations=query.permutations,
            seed=query.seed,
        )
        patterns = (
            emerging_patterns(grid, slices, neighbourhood, fdr=query.fdr, within=within)
            if query.trend
            else None
        )
    except HotspotInputError as refused:
        raise InvalidInput(
            refused.detail, field=ENGINE_FIELDS.get(refused.field or "", refused.field)
        ) from refused
    return CellStatistics(result, patterns)


def emerging_patterns(
    grid: Grid,
    slices: NDArray[np.float64],
    neighbourhood: Neighbourhood,
    *,
    fdr: bool,
    within: NDArray[np.bool_] | None = None,
) -> NDArray[np.int8]:
    """`trend.emerging_hot_spots(...).codes`, with every month's neighbourhood sums in one product.

    The same Gi* per month (z, p, Benjamini-Hochberg, bins), Mann-Kendall and pattern rules as the
    engine; only the sums are taken with the grid's neighbour matrix (kept for the grids in use)
    instead of once per month, which is most of the cost of a year of monthly slices.
    """
    weights = neighbour_matrix(grid, neighbourhood, within)
    cardinality = np.asarray(weights.sum(axis=1), dtype=np.int64).ravel()
    lags = np.asarray(weights @ slices.T, dtype=np.float64).T
    z = np.stack([gi_star_z(values, lag, cardinality) for values, lag in zip(slices, lags, strict=True)])
    p = two_sided_p(z)
    tested = np.stack([benjamini_hochberg(month) for month in p]) if fdr else p
    bins = np.stack([confidence_bins(month_z, month_p) for month_z, month_p in zip(z, tested, strict=True)])
    return emerging_codes(bins, mann_kendall(z))


_matrix_cache: OrderedDict[tuple[Grid, Neighbourhood, bytes | None], sparse.csr_array] = OrderedDict()
_matrix_lock = threading.Lock()


def neighbour_matrix(
    grid: Grid, neighbourhood: Neighbourhood, within: NDArray[np.bool_] | None = None
) -> sparse.csr_array:
    """The engine's binary neighbour matrix for a grid's cells (all, or those `within`), each cell
    its own neighbour, kept a while."""
    key = (grid, neighbourhood, None if within is None else np.packbits(within).tobytes())
    with _matrix_lock:
        cached = _matrix_cache.get(key)
        if cached is not None:
            _matrix_cache.move_to_end(key)
            return cached
    matrix = neighbour_weights(grid, neighbourhood, within=within)
    with _matrix_lock:
        _matrix_cache[key] = matrix
        while len(_matrix_cache) > 1 and (
            len(_matrix_cache) > MATRIX_CACHE_GRIDS
            or sum(item.nnz for item in _matrix_cache.values()) > MATRIX_CACHE_ENTRIES
        ):
            _matrix_cache.popitem(last=False)
    return matrix


def _published_or_zero(policy: DisclosurePolicy, counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """The counts partners see, hidden ones as 0."""
    return np.nan_to_num(policy.publish_counts(counts), nan=0.0)


def rebuild_aggregate(*, session: Session) -> None:
    """Recompute the whole hotspot aggregate from concerns and missing episodes (after a repair)."""
    session.execute(text("SELECT hotspot_rebuild()"))


# GeoJSON --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureHeads:
    """Each cell's feature up to its first property (id, WGS84 polygon, `"cell_id":<id>`) as text.

    Written once per grid and kept for the grids in use, so a request writes only its values.
    The first cell's ring is kept as GeoJSON for the disclosure gate's geometry check.
    """

    heads: list[str]
    first_ring: list[list[float]]


_heads_cache: OrderedDict[Grid, FeatureHeads] = OrderedDict()
_heads_lock = threading.Lock()


def feature_heads(session: Session, grid: Grid) -> FeatureHeads:
    """The grid's feature heads (kept for recently used grids, as grids recur)."""
    with _heads_lock:
        cached = _heads_cache.get(grid)
        if cached is not None:
            _heads_cache.move_to_end(grid)
            return cached
    heads = _feature_heads(session, grid)
    with _heads_lock:
        _heads_cache[grid] = heads
        while len(_heads_cache) > 1 and (
            len(_heads_cache) > HEADS_CACHE_GRIDS
            or sum(len(item.heads) for item in _heads_cache.values()) > HEADS_CACHE_CELLS
        ):
            _heads_cache.popitem(last=False)
    return heads


def _feature_heads(session: Session, grid: Grid) -> FeatureHeads:
    """Project every distinct cell vertex once in PostGIS, then write every cell's head."""
    rings = cell_polygons(grid)
    vertices = rings.reshape(-1, 2)
    millimetres = np.rint(vertices * 1000).astype(np.int64)
    millimetres -= millimetres.min(axis=0)
    key = millimetres[:, 0] * (int(millimetres[:, 1].max()) + 1) + millimetres[:, 1]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    lonlat = np.round(to_wgs84(session, vertices[first]), 6)
    numbers = json_values(lonlat.ravel())
    written = np.array(
        ["[" + x + "," + y + "]" for x, y in zip(numbers[::2], numbers[1::2], strict=True)], dtype=object
    )
    corners = inverse.reshape(rings.shape[:2])
    ids = json_values(np.arange(grid.n_cells))
    columns: list[str | list[str] | NDArray[np.object_]] = [
        '{"type":"Feature","id":',
        ids,
        ',"geometry":{"type":"Polygon","coordinates":[[',
    ]
    for position in range(corners.shape[1]):
        columns += [written[corners[:, position]], "," if position < corners.shape[1] - 1 else "]]},"]
    columns += ['"properties":{"cell_id":', ids, "\0"]
    heads = joined(columns, grid.n_cells).split("\0")[:-1]
    return FeatureHeads(heads, lonlat[corners[0]].tolist())


def joined(columns: Sequence[str | Sequence[str] | NDArray[np.object_]], rows: int) -> str:
    """Text pieces laid out as a table (fixed text, or one piece per row) joined row by row.

    numpy fills whole columns at once, so no Python code runs per row.
    """
    table = np.empty((rows, len(columns)), dtype=object)
    for index, column in enumerate(columns):
        table[:, index] = column
    return "".join(table.ravel().tolist())


def to_wgs84(session: Session, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """British National Grid points (n, 2) as WGS84 longitude, latitude, in one PostGIS call."""
    record = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    parts = np.zeros(len(points), dtype=record)
    parts["order"], parts["kind"] = 1, 1
    parts["x"], parts["y"] = points[:, 0], points[:, 1]
    header = b"\x01" + (4).to_bytes(4, "little") + len(points).to_bytes(4, "little")
    wkb = header + parts.tobytes()
    projected = session.execute(
        text("SELECT ST_AsBinary(ST_Transform(ST_GeomFromWKB(:wkb, 27700), 4326), 'NDR')"), {"wkb": wkb}
    ).scalar_one()
    back = np.frombuffer(bytes(projected)[9:], dtype=record)
    return np.column_stack([back["x"], back["y"]])


def hotspot_geojson(*, session: Session, hotspot_map: HotspotMap, policy: DisclosurePolicy) -> bytes:
    """The map as a GeoJSON FeatureCollection in WGS84, for its audience."""
    grid, statistics = hotspot_map.grid, hotspot_map.statistics
    header = collection_members(hotspot_map, policy)
    if grid is None or statistics is None:
        return to_json(header | {"features": []})
    heads = _study_heads(feature_heads(session, grid), hotspot_map.cells)
    if hotspot_map.query.audience is Audience.PARTNER:
        properties = _partner_properties(heads, grid, hotspot_map.counts, statistics, policy)
    else:
        properties = _analyst_properties(grid, hotspot_map.counts, statistics)
    features = feature_text(heads, properties)
    return to_json(header)[:-1] + b',"features":[' + features.encode() + b"]}"


def _study_heads(heads: FeatureHeads, cells: NDArray[np.int64]) -> FeatureHeads:
    """The heads of the study area's cells (all of them unless an area was drawn)."""
    if cells.size == len(heads.heads):
        return heads
    return FeatureHeads([heads.heads[cell] for cell in cells.tolist()], heads.first_ring)


def feature_text(heads: FeatureHeads, properties: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Every cell as a GeoJSON feature, comma-separated: its head, then each (prefix, values) pair."""
    columns: list[str | Sequence[str]] = [heads.heads]
    for prefix, values in properties:
        columns += [prefix, values]
    columns.append("}},")
    return joined(columns, len(heads.heads))[:-1]


def collection_members(hotspot_map: HotspotMap, policy: DisclosurePolicy) -> dict[str, Any]:
    """The top-level members: how the map was made, and its total."""
    query, window = hotspot_map.query, hotspot_map.window
    members: dict[str, Any] = {
        "type": "FeatureCollection",
        "audience": query.audience.value,
        "cell": None if hotspot_map.grid is None else hotspot_map.grid.cell_size,
        "shape": query.shape.value,
        "neighbourhood": _neighbourhood_member(hotspot_map.neighbourhood),
        "inference": _inference_member(query),
        "fdr": query.fdr,
        "window": {
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "months": [month.strftime("%Y-%m") for month in window.months],
        },
        "source": query.source.value,
        "filters": hotspot_map.filters,
        **_study_area_members(query),
        "weights": "binary, each cell its own neighbour",
        "rate": "records per square kilometre in the window",
    }
    if query.audience is Audience.PARTNER:
        published = policy.publish_total(hotspot_map.counts)
        members |= {
            "total": published.value,
            "hidden_cells": published.hidden_parts,
            "disclosure": {
                "threshold": policy.threshold,
                "rounding_base": policy.rounding_base,
                "hidden": policy.hidden_label,
                "statistics": "bin and trend are computed from the published counts only, "
                "hidden counts taken as 0; agency-only records and residential places are not counted",
            },
        }
    else:
        members["total"] = int(hotspot_map.counts.sum())
    return members


def _study_area_members(query: HotspotQuery) -> dict[str, Any]:
    """The bbox or the drawn area the map was limited to, when one was given."""
    members: dict[str, Any] = {}
    if query.bbox is not None:
        members["bbox"] = list(query.bbox)
    if query.area is not None:
        members["area"] = query.area.geometry()
        members["area_cells"] = "the cells whose inside meets the area, each with its whole count"
    return members


def _neighbourhood_member(neighbourhood: Neighbourhood | None) -> dict[str, Any] | None:
    """The neighbourhood as the response names it."""
    if isinstance(neighbourhood, DistanceBand):
        return {"type": "distance_band", "distance_m": neighbourhood.metres}
    if isinstance(neighbourhood, NearestNeighbours):
        return {"type": "nearest_neighbours", "k": neighbourhood.k}
    return None


def _inference_member(query: HotspotQuery) -> dict[str, Any]:
    """Which p-values the map carries."""
    if query.permutations:
        return {"type": "permutation", "permutations": query.permutations, "seed": query.seed}
    return {"type": "analytic"}


def trend_labels(statistics: CellStatistics, cells: int) -> list[str | None]:
    """Each cell's emerging pattern as a short label (None without a trend)."""
    if statistics.patterns is None:
        return [None] * cells
    labels = [pattern.value.replace(" ", "_") for pattern in PATTERNS]
    return [labels[code] for code in statistics.patterns.tolist()]


def _rates(counts: NDArray[np.float64], grid: Grid) -> NDArray[np.float64]:
    """Records per square kilometre, to one decimal place."""
    area = grid.cell_size**2 * (1.0 if grid.shape is GridShape.SQUARE else math.sqrt(3) / 2)
    return np.round(counts * SQUARE_METRES_PER_KM2 / area, 1)


def _analyst_properties(
    grid: Grid, counts: NDArray[np.int64], statistics: CellStatistics
) -> list[tuple[str, list[str]]]:
    """Each cell's exact count, rate, Gi* z, p-values, bin and trend, as JSON text by property."""
    result = statistics.result
    return [
        (',"count":', json_values(counts)),
        (',"rate":', json_values(_rates(counts.astype(np.float64), grid))),
        (',"gi_z":', json_values(np.round(result.z, 4))),
        (',"gi_p":', json_values(significant(result.p, 4))),
        (',"gi_p_fdr":', json_values(significant(result.p_fdr, 4))),
        (',"gi_bin":', json_values(result.bins)),
        (',"trend":', json_values(trend_labels(statistics, counts.size))),
    ]


def json_values(values: NDArray[Any] | Sequence[object]) -> list[str]:
    """Each value as JSON text, serialised in one pass (numbers, null and labels without commas)."""
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return to_json(items).decode()[1:-1].split(",") if items else []


def significant(values: NDArray[np.float64], digits: int) -> NDArray[np.float64]:
    """Values rounded to a number of significant digits (p-values keep their size when tiny).

    Below 1e-300 the scale would overflow, so such values round to 0.
    """
    magnitude = np.floor(np.log10(np.where(values > 0, values, 1.0)))
    scale = 10.0 ** np.minimum(digits - 1 - magnitude, MAX_DECIMAL_EXPONENT)
    return np.asarray(np.round(values * scale) / scale, dtype=np.float64)


def _partner_properties(
    heads: FeatureHeads,
    grid: Grid,
    counts: NDArray[np.int64],
    statistics: CellStatistics,
    policy: DisclosurePolicy,
) -> list[tuple[str, list[str]]]:
    """Each cell's published count and rate, bin and trend, every distinct set passed through the gate."""
    published = policy.publish_counts(counts)
    shown = [None if math.isnan(value) else int(value) for value in published.tolist()]
    rates = [None if math.isnan(value) else value for value in _rates(published, grid).tolist()]
    bins = statistics.result.bins.tolist()
    trends = trend_labels(statistics, counts.size)
    # Every cell is the same generated polygon moved: the gate checks the shape on the first.
    partner_geometry({"type": "Polygon", "coordinates": [heads.first_ring]})
    return [(",", _checked_properties(policy, shown, rates, bins, trends))]


def _checked_properties(
    policy: DisclosurePolicy,
    shown: Sequence[int | None],
    rates: Sequence[float | None],
    bins: Sequence[int],
    trends: Sequence[str | None],
) -> list[str]:
    """Each cell's partner properties (after cell_id) as JSON text, every distinct set checked by the gate."""
    seen: dict[tuple[int | None, float | None, int, str | None], str] = {}
    out: list[str] = []
    for cell, key in enumerate(zip(shown, rates, bins, trends, strict=True)):
        properties = seen.get(key)
        if properties is None:
            count, rate, gi_bin, trend = key
            given: dict[str, object] = {"cell_id": cell, "count": count, "rate": rate, "bin": gi_bin}
            if trend is not None:
                given["trend"] = trend
            clean = policy.partner_properties(given)
            del clean["cell_id"]
            properties = to_json(clean).decode()[1:-1]
            seen[key] = properties
        out.append(properties)
    return out
