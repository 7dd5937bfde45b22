"""Records per small area for a hotspot query, and the rate per 1,000 young people that a
choropleth shades by.

The facts a map counts (`query_scope`: sources, visibility, filters, window) are counted in the
area that holds each one, exactly: every fact inside the areas counts in one area (a fact on a
shared boundary in the area added first), and facts outside every area of the edition count
nowhere. The map's bbox or drawn area does not limit the areas counted.

Where the aggregate can count the query (`lattice_dimension`: whole months, no filter or one
filter of distinct codes, no place types left out), an area gets the 250 m squares it wholly holds
from `hotspot_cell_count`, and the records of the squares crossing an edge are placed one by one
(`mapping.hotspots.area_cells`, which keeps them placed while they stay the same). Otherwise the
query's points are read once and placed in Python against prepared outlines (GEOS indexes a
prepared polygon's edges), each point tested only against the areas whose bounding box holds it;
the same test in PostGIS cannot keep a prepared outline while the area changes from row to row,
and was far slower. For partners the counts then pass through the disclosure gate and the rate is
worked out from the published count, never the true one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure
from mapping.areas.models import SmallArea
from mapping.areas.service import ChoroplethRow, rate_per_1000
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.area_cells import NULL_CODE, area_layout, crossing_facts, held_counts, place_in_areas
from mapping.hotspots.models import FINE_LATTICE, Dimension
from mapping.hotspots.service import (
    Audience,
    HotspotQuery,
    Scope,
    Window,
    fact_conditions,
    fetch_rows,
    lattice_dimension,
    month_window,
    query_scope,
    scope_params,
)

POINT_COLUMNS: Final = [("x", ">f8"), ("y", ">f8")]


@dataclass(frozen=True, slots=True)
class AreaRate:
    """An area's records in the window, its young people and the rate per 1,000 of them.

    `count` is None where the disclosure gate hides it (and then so is the rate).
    """

    count: int | None
    young_people: float | None
    rate_per_1000: float | None


def _lattice_range(session: Session, kind: str, edition: int) -> dict[str, int]:
    """The 50 m lattice squares covering the edition's areas, as the fact conditions bound them."""
    extent = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(SmallArea.geom_bng)),
            func.ST_YMin(func.ST_Extent(SmallArea.geom_bng)),
            func.ST_XMax(func.ST_Extent(SmallArea.geom_bng)),
            func.ST_YMax(func.ST_Extent(SmallArea.geom_bng)),
        ).where(SmallArea.kind == kind, SmallArea.edition == edition)
    ).one()
    if extent[0] is None:
        return {"x0": 0, "y0": 0, "x1": -1, "y1": -1}
    x0, y0, x1, y1 = (int(value // FINE_LATTICE) for value in extent)
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


def area_counts(
    session: Session, actor: Actor, query: HotspotQuery, policy: DisclosurePolicy, *, kind: str, edition: int
) -> tuple[dict[str, int], Window]:
    """True counts of the query's facts per area code (areas with none left out), and the window."""
    ensure(actor, Permission.VIEW_HOTSPOTS)
    if query.audience is Audience.ANALYST:
        ensure(actor, Permission.VIEW_ANALYST_HOTSPOTS)
    window = month_window(query.start, query.end)
    scope = query_scope(session=session, actor=actor, query=query, policy=policy)
    dimension = lattice_dimension(window, scope)
    if dimension is None or NULL_CODE in _filter_codes(scope, dimension):
        return placed_counts(session, scope, window, kind=kind, edition=edition), window
    return summed_counts(session, scope, window, dimension, kind=kind, edition=edition), window


def _filter_codes(scope: Scope, dimension: Dimension) -> list[int]:
    """The lattice codes the query's one filter selects (none without a filter)."""
    return [] if dimension is Dimension.ALL else scope.lattice_values(dimension)


def summed_counts(
    session: Session, scope: Scope, window: Window, dimension: Dimension, *, kind: str, edition: int
) -> dict[str, int]:
    """Counts per area from the aggregate's wholly held squares and the placed crossing records."""
    layout = area_layout(session, kind, edition)
    held = held_counts(session, layout, window, scope, dimension)
    crossing = crossing_facts(session, layout, kind, edition, window)
    counts = held + crossing.counts(scope, window, dimension, len(layout.codes))
    return {code: int(count) for code, count in zip(layout.codes, counts, strict=True) if count}


def placed_counts(
    session: Session, scope: Scope, window: Window, *, kind: str, edition: int
) -> dict[str, int]:
    """Counts per area from every one of the query's points, each placed against the outlines."""
    conditions, params = fact_conditions(scope)
    params |= scope_params(scope, window) | _lattice_range(session, kind, edition)
    points = fetch_rows(session, f"SELECT x, y FROM hotspot_fact WHERE {conditions}", params, POINT_COLUMNS)
    return count_in_areas(points["x"], points["y"], _outlines(session, kind, edition))


def _outlines(session: Session, kind: str, edition: int) -> list[tuple[str, BaseGeometry]]:
    """The edition's areas in British National Grid metres, in the order they were added."""
    rows = session.execute(
        select(SmallArea.code, func.ST_AsBinary(SmallArea.geom_bng))
        .where(SmallArea.kind == kind, SmallArea.edition == edition)
        .order_by(SmallArea.id)
    )
    return [(str(code), shapely.from_wkb(bytes(outline))) for code, outline in rows]


def count_in_areas(
    x: NDArray[np.float64], y: NDArray[np.float64], outlines: Sequence[tuple[str, BaseGeometry]]
) -> dict[str, int]:
    """How many points each area covers, a point covered by several going to the first."""
    owner = place_in_areas(x, y, [outline for _, outline in outlines])
    counts = np.bincount(owner[owner >= 0], minlength=len(outlines))
    return {code: int(count) for (code, _), count in zip(outlines, counts, strict=True) if count}


def area_rates(
    session: Session,
    actor: Actor,
    query: HotspotQuery,
    policy: DisclosurePolicy,
    areas: Sequence[ChoroplethRow],
) -> dict[str, AreaRate]:
    """Each area's count and rate per 1,000 young people (all of one kind and edition), published
    for partners."""
    if not areas:
        return {}
    counts, _ = area_counts(session, actor, query, policy, kind=areas[0].kind, edition=areas[0].edition)
    rates: dict[str, AreaRate] = {}
    for row in areas:
        true_count = counts.get(row.code, 0)
        shown = policy.publish_count(true_count) if query.audience is Audience.PARTNER else true_count
        rate = None if shown is None else rate_per_1000(shown, row.population_young)
        rates[row.code] = AreaRate(shown, row.population_young, rate)
    return rates
