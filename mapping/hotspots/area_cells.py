"""Small areas on the hotspot aggregate's 250 m lattice, for counting records per area quickly.

`small_area_cell` (kept by the database as areas are written) says of every 250 m square that
meets an edition's areas which area holds all of it, or that it crosses an area's edge. A
square held by one area adds its `hotspot_cell_count` counts to that area. The records of the
crossing squares are read from `hotspot_fact` and placed one by one against the outlines, as
`areas.place_in_areas` does; reading them means scanning the facts (they have no spatial index), so
they are kept in memory, placed, with what the filters need, and read again only when one of those
squares' rows of the aggregate has changed.

Why that is exact: every statement that adds, removes or changes facts rewrites the every-record
rows (`dimension` 0) of the squares, sources, visibilities and years of the facts it touches
(migration `0011_hotspot_aggregate`), even when the counts come back the same (a record moved
within its square), so the row's version (`xmin`, `ctid`) changes. The kept records are used only
while every such row of the crossing squares is the version that was current when they were read.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from mapping.hotspots.models import (
    FILTER_LATTICE,
    FINE_LATTICE,
    MONTH_COLUMNS,
    TEXT_DIMENSIONS,
    Dimension,
    value_code,
)
from mapping.hotspots.service import Scope, Window, fetch_rows, known_values, lattice_rows, month_index

NULL_CODE: Final = 0
"""How a kept record stores an empty filter value (context, kind, category, place type)."""
KEY_SPAN: Final = 1 << 24
"""Squares are keyed `cx * KEY_SPAN + cy` (British National Grid squares are far fewer)."""
CACHE_ENTRIES: Final = 4
FINE_PER_SQUARE: Final = FILTER_LATTICE // FINE_LATTICE
FILTER_COLUMNS: Final[dict[Dimension, str]] = {
    Dimension.CONTEXT: "context",
    Dimension.KIND: "kind",
    Dimension.CATEGORY: f"coalesce(category_id, {NULL_CODE})",
    Dimension.AGENCY: "agency_id",
    Dimension.PLACE_TYPE: "place_type",
    Dimension.AGE_BAND: "age_band",
    Dimension.GENDER: "gender",
}
"""How each filter's value is read: ids as they are; text as its place among the known values (from 1;
0 when empty or not known), turned into `value_code`s in Python rather than hashed row by row."""
FACT_COLUMNS: Final = [("month", ">i4"), ("source", ">i4"), ("restricted_to", ">i4")] + [
    (dimension.value, ">i4") for dimension in FILTER_COLUMNS
]
VERSION_COLUMNS: Final = [
    ("source", ">i4"),
    ("restricted_to", ">i4"),
    ("year", ">i4"),
    ("cx", ">i4"),
    ("cy", ">i4"),
    ("xid", ">i4"),
    ("block", ">i4"),
    ("line", ">i4"),
]


@dataclass(frozen=True)
class AreaLayout:
    """An edition's areas in the order added, and its 250 m squares by key (sorted) with the index
    of the area holding each (-1: the square crosses an edge)."""

    fingerprint: str
    codes: list[str]
    outlines: list[BaseGeometry]
    keys: NDArray[np.int64]
    owners: NDArray[np.int64]
    squares: dict[str, int]
    """The range of squares (`x0`..`y1`) holding every square listed."""

    def owners_of(self, cx: NDArray[Any], cy: NDArray[Any]) -> NDArray[np.int64]:
        """The area holding each square (-1: crossing, -2: meeting no area)."""
        keys = cx.astype(np.int64) * KEY_SPAN + cy.astype(np.int64)
        if not self.keys.size:
            return np.full(keys.shape, -2, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[at] == keys, self.owners[at], -2)

    def crossing(self) -> NDArray[np.int64]:
        """The keys of the squares that cross an area's edge."""
        return self.keys[self.owners < 0]


@dataclass(frozen=True)
class CrossingFacts:
    """The records of the crossing squares in some calendar years: each one's area index (-1: none)
    and what the counts select on."""

    owners: NDArray[np.int64]
    columns: NDArray[Any]

    def counts(self, scope: Scope, window: Window, dimension: Dimension, areas: int) -> NDArray[np.int64]:
        """How many of the scope's records in the window's months each area holds."""
        columns = self.columns
        base = month_index(window.months[0])
        month = columns["month"].astype(np.int64) - base
        keep = (self.owners >= 0) & (month >= 0) & (month < len(window.months))
        keep &= np.isin(columns["source"], scope.sources) & np.isin(
            columns["restricted_to"], scope.restricted
        )
        if dimension is not Dimension.ALL:
            keep &= np.isin(columns[dimension.value], scope.lattice_values(dimension))
        return np.bincount(self.owners[keep], minlength=areas).astype(np.int64)


K = TypeVar("K")
V = TypeVar("V")
_layouts: OrderedDict[tuple[str, int, str], AreaLayout] = OrderedDict()
_crossing: OrderedDict[tuple[str, int, str, int, int], tuple[bytes, CrossingFacts]] = OrderedDict()
_lock = threading.Lock()


def _kept(cache: OrderedDict[K, V], key: K) -> V | None:
    """A cache's entry, marked as just used."""
    with _lock:
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
        return found


def _keep(cache: OrderedDict[K, V], key: K, value: V) -> None:
    """Keep an entry, forgetting the least recently used beyond the cache's size."""
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE_ENTRIES:
            cache.popitem(last=False)


def area_layout(session: Session, kind: str, edition: int) -> AreaLayout:
    """The edition's layout, kept while its areas stay the same."""
    fingerprint = session.execute(
        text(
            "SELECT md5(string_agg(id || ':' || code || ':' || md5(ST_AsBinary(geom_bng)), ',' ORDER BY id)) "
            "FROM small_area WHERE kind = :kind AND edition = :edition"
        ),
        {"kind": kind, "edition": edition},
    ).scalar_one()
    key = (kind, edition, str(fingerprint))
    layout = _kept(_layouts, key)
    if layout is None:
        layout = _read_layout(session, kind, edition, key[2])
        _keep(_layouts, key, layout)
    return layout


def _read_layout(session: Session, kind: str, edition: int, fingerprint: str) -> AreaLayout:
    """Read the edition's outlines (British National Grid) and its squares."""
    areas = session.execute(
        text(
            "SELECT id, code, ST_AsBinary(geom_bng) FROM small_area "
            "WHERE kind = :kind AND edition = :edition ORDER BY id"
        ),
        {"kind": kind, "edition": edition},
    ).all()
    index = {int(area_id): position for position, (area_id, _, _) in enumerate(areas)}
    squares = session.execute(
        text("SELECT cx, cy, area_id FROM small_area_cell WHERE kind = :kind AND edition = :edition"),
        {"kind": kind, "edition": edition},
    ).all()
    cx = np.array([row[0] for row in squares], dtype=np.int64)
    cy = np.array([row[1] for row in squares], dtype=np.int64)
    owners = np.array([-1 if row[2] is None else index[int(row[2])] for row in squares], dtype=np.int64)
    keys = cx * KEY_SPAN + cy
    order = np.argsort(keys)
    extent = {"x0": 0, "y0": 0, "x1": -1, "y1": -1}
    if cx.size:
        extent = {"x0": int(cx.min()), "y0": int(cy.min()), "x1": int(cx.max()), "y1": int(cy.max())}
    return AreaLayout(
        fingerprint=fingerprint,
        codes=[str(code) for _, code, _ in areas],
        outlines=[shapely.from_wkb(bytes(outline)) for _, _, outline in areas],
        keys=keys[order],
        owners=owners[order],
        squares=extent,
    )


def held_counts(
    session: Session, layout: AreaLayout, window: Window, scope: Scope, dimension: Dimension
) -> NDArray[np.int64]:
    """Each area's records in the squares it wholly holds, summed from the aggregate."""
    rows = lattice_rows(session, FILTER_LATTICE, dimension, layout.squares, window, scope)
    table = rows.view(">i4").reshape(rows.size, -1).astype(np.int64)
    months = table[:, :1] * 12 + np.arange(len(MONTH_COLUMNS)) - month_index(window.months[0])
    in_window = (months >= 0) & (months < len(window.months))
    totals = np.where(in_window, table[:, 3:], 0).sum(axis=1)
    owners = layout.owners_of(table[:, 1], table[:, 2])
    held = owners >= 0
    return np.bincount(owners[held], weights=totals[held], minlength=len(layout.codes)).astype(np.int64)


def crossing_facts(
    session: Session, layout: AreaLayout, kind: str, edition: int, window: Window
) -> CrossingFacts:
    """The crossing squares' records in the window's calendar years, placed (kept while current)."""
    years = (window.months[0].year, window.months[-1].year)
    signature = _crossing_signature(session, layout, years)
    key = (kind, edition, layout.fingerprint, *years)
    kept = _kept(_crossing, key)
    if kept is not None and kept[0] == signature:
        return kept[1]
    facts = _read_crossing(session, layout, years)
    _keep(_crossing, key, (signature, facts))
    return facts


def _crossing_signature(session: Session, layout: AreaLayout, years: tuple[int, int]) -> bytes:
    """A digest of the versions of the crossing squares' every-record rows in those years."""
    sql = (
        "SELECT source::int4 AS source, restricted_to, year::int4 AS year, cx, cy, "
        "(xmin::text::int8 - 2147483648)::int4 AS xid, ((ctid::text::point)[0])::int4 AS block, "
        "((ctid::text::point)[1])::int4 AS line FROM hotspot_cell_count "
        "WHERE lattice = %(lattice)s AND dimension = 0 AND value = 0 "
        "AND year BETWEEN %(first_year)s AND %(last_year)s "
        "AND cx BETWEEN %(x0)s AND %(x1)s AND cy BETWEEN %(y0)s AND %(y1)s"
    )
    params = {"lattice": FILTER_LATTICE, "first_year": years[0], "last_year": years[1]} | layout.squares
    rows = fetch_rows(session, sql, params, VERSION_COLUMNS)
    rows = rows[layout.owners_of(rows["cx"], rows["cy"]) == -1]
    rows = rows[np.lexsort([rows[name] for name in ("cy", "cx", "year", "restricted_to", "source")])]
    return hashlib.blake2b(rows.tobytes(), digest_size=32).digest()


def _read_crossing(session: Session, layout: AreaLayout, years: tuple[int, int]) -> CrossingFacts:
    """Read and place the crossing squares' records of those years (a scan of the facts)."""
    known = {dimension: sorted(known_values(session, dimension).values()) for dimension in TEXT_DIMENSIONS}
    selected = ", ".join(
        f"coalesce(array_position(%(known_{dimension.value})s::text[], {column}::text), {NULL_CODE})"
        f" AS {dimension.value}"
        if dimension in TEXT_DIMENSIONS
        else f"{column} AS {dimension.value}"
        for dimension, column in FILTER_COLUMNS.items()
    )
    sql = (
        "SELECT ((date_part('year', month) * 12 + date_part('month', month) - 1))::int4 AS month, "
        f"source::int4 AS source, restricted_to, {selected}, x, y FROM hotspot_fact "
        "WHERE month BETWEEN make_date(%(first_year)s, 1, 1) AND make_date(%(last_year)s, 12, 1) "
        "AND cx BETWEEN %(fx0)s AND %(fx1)s AND cy BETWEEN %(fy0)s AND %(fy1)s "
        f"AND ((cx + %(shift)s) / {FINE_PER_SQUARE} - %(offset)s)::int8 * {KEY_SPAN} "
        f"+ ((cy + %(shift)s) / {FINE_PER_SQUARE} - %(offset)s) = ANY(%(crossing)s)"
    )
    params = _crossing_params(layout, years) | {
        f"known_{dimension.value}": values for dimension, values in known.items()
    }
    rows = fetch_rows(session, sql, params, [*FACT_COLUMNS, ("x", ">f8"), ("y", ">f8")])
    owners = place_in_areas(rows["x"], rows["y"], layout.outlines)
    columns = np.empty(rows.size, dtype=[(name, "<i4") for name, _ in FACT_COLUMNS])
    for name, _ in FACT_COLUMNS:
        columns[name] = rows[name]
    for dimension, values in known.items():
        codes = np.array([NULL_CODE] + [value_code(value) for value in values], dtype=np.int64)
        columns[dimension.value] = codes[columns[dimension.value]]
    return CrossingFacts(owners, columns)


def _crossing_params(layout: AreaLayout, years: tuple[int, int]) -> dict[str, Any]:
    """The years, the range of 50 m squares, and the crossing squares' keys, for reading the facts.

    Keys are worked out with integer division of indexes shifted to be non-negative.
    """
    squares = layout.squares
    offset = max(0, -min(squares["x0"], squares["y0"]))
    return {
        "first_year": years[0],
        "last_year": years[1],
        "fx0": squares["x0"] * FINE_PER_SQUARE,
        "fx1": (squares["x1"] + 1) * FINE_PER_SQUARE - 1,
        "fy0": squares["y0"] * FINE_PER_SQUARE,
        "fy1": (squares["y1"] + 1) * FINE_PER_SQUARE - 1,
        "shift": offset * FINE_PER_SQUARE,
        "offset": offset,
        "crossing": layout.crossing().tolist(),
    }


def place_in_areas(
    x: NDArray[np.float64], y: NDArray[np.float64], outlines: Sequence[BaseGeometry]
) -> NDArray[np.int64]:
    """The index of the first outline covering each point (-1: none)."""
    owner = np.full(x.shape[0], -1, dtype=np.int64)
    for index, outline in enumerate(outlines):
        west, south, east, north = outline.bounds
        open_points = (owner < 0) & (x >= west) & (x <= east) & (y >= south) & (y <= north)
        candidates = np.flatnonzero(open_points)
        if candidates.size:
            shapely.prepare(outline)
            inside = shapely.intersects_xy(outline, x[candidates], y[candidates])
            owner[candidates[inside]] = index
    return owner
