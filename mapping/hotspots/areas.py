"""Records per small area for a hotspot query, and the rate per 1,000 young people that a
choropleth shades by.

The facts a map counts (`query_scope`: sources, visibility, filters, window) are counted in the
area that holds each one, exactly: every fact inside the areas counts in one area, however the
areas and the grid lie. Facts are first put on the 50 m lattice; a lattice square lying wholly
inside one area gives that area its whole count, and only the squares an area boundary crosses
are placed fact by fact (a fact on a shared boundary goes to the area added first). Facts
outside every area of the edition count nowhere. For partners the counts then pass through the
disclosure gate and the rate is worked out from the published count, never the true one.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure
from mapping.areas.models import SmallArea
from mapping.areas.service import ChoroplethRow, rate_per_1000
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.models import FINE_LATTICE
from mapping.hotspots.service import (
    Audience,
    HotspotQuery,
    Window,
    fact_conditions,
    month_window,
    query_scope,
    raw_connection,
    scope_params,
)

AREA_COUNTS_SQL = """
WITH fact AS MATERIALIZED (
    SELECT cx, cy, x, y FROM hotspot_fact WHERE {conditions}
),
square AS (
    SELECT cx, cy, count(*) AS n,
           ST_MakeEnvelope(
               cx * {size}.0, cy * {size}.0, (cx + 1) * {size}.0, (cy + 1) * {size}.0, 27700
           ) AS box
    FROM fact GROUP BY cx, cy
),
whole AS (
    SELECT DISTINCT ON (s.cx, s.cy) s.cx, s.cy, s.n, a.code
    FROM square AS s
    JOIN small_area AS a ON a.kind = %(kind)s AND a.edition = %(edition)s AND ST_Within(s.box, a.geom_bng)
    ORDER BY s.cx, s.cy, a.id
),
crossed AS (
    SELECT s.cx, s.cy FROM square AS s
    WHERE NOT EXISTS (SELECT 1 FROM whole AS w WHERE w.cx = s.cx AND w.cy = s.cy)
      AND EXISTS (
          SELECT 1 FROM small_area AS a
          WHERE a.kind = %(kind)s AND a.edition = %(edition)s AND ST_Intersects(a.geom_bng, s.box)
      )
),
placed AS (
    SELECT owner.code, count(*) AS n
    FROM fact AS f
    JOIN crossed AS c ON c.cx = f.cx AND c.cy = f.cy
    CROSS JOIN LATERAL (
        SELECT a.code FROM small_area AS a
        WHERE a.kind = %(kind)s AND a.edition = %(edition)s
          AND ST_Covers(a.geom_bng, ST_SetSRID(ST_MakePoint(f.x, f.y), 27700))
        ORDER BY a.id LIMIT 1
    ) AS owner
    GROUP BY owner.code
)
SELECT code, sum(n)::int8 FROM (SELECT code, n FROM whole UNION ALL SELECT code, n FROM placed) AS counted
GROUP BY code
"""


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
    conditions, params = fact_conditions(scope)
    params |= scope_params(scope, window) | _lattice_range(session, kind, edition)
    params |= {"kind": kind, "edition": edition}
    sql = AREA_COUNTS_SQL.format(conditions=conditions, size=FINE_LATTICE)
    with raw_connection(session).cursor() as cursor:
        cursor.execute(sql, params)
        return {str(code): int(count) for code, count in cursor.fetchall()}, window


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
