"""Count an import's new concerns into the hotspot aggregate: the rows migration 0011's SQL would write.

The SQL in migrations/versions/2026-11-21_hotspot_aggregate.py (`CONCERN_FACTS`, `count_facts`) is the
reference: a fact per located concern in hotspot_fact, and per calendar year a row of monthly counts
in hotspot_cell_count for each lattice cell and filter value. Counting a million concerns that way
spends most of an import's time evaluating the same expressions row by row and grouping nine ways in
PostgreSQL. Here each chunk's new concerns come back from their INSERT with what the facts need
(the British National Grid point PostGIS computed, the UK local day), the young people and places they
refer to are read once, the facts are copied in, and the lattice counts are grouped at the end with
numpy and upserted in one statement. Tests compare the result with `hotspot_rebuild()`.
"""

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

FACT_SIZE = 50
"""The fine lattice of a fact's cx and cy, in metres; the 250 m and 1 km lattices are 5 and 20 of it."""
RESIDENTIAL = frozenset({"private_address", "hmo"})
"""Place types that may be a young person's home: their records are kept apart (restricted_to -1)."""
RETURNING = (
    "RETURNING id, young_person_id, place_id, agency_id, category_id, context, kind, "
    "sensitivity = 'agency_only', ST_X(point_bng), ST_Y(point_bng), "
    "(occurred_at AT TIME ZONE 'Europe/London')::date"
)
"""What an INSERT of concerns returns for counting them (the columns of `AddedConcern`)."""
FACT_COLUMNS = (
    "source, record_id, occurred_on, month, x, y, cx, cy, agency_id, restricted_to, "
    "context, kind, category_id, place_type, age_band, gender"
)
MONTHS = ", ".join(f"m{number:02d}" for number in range(1, 13))
KEY = "lattice, dimension, value, source, restricted_to, year, cx, cy"
COUNTS_TABLE = "concern_import_count"
CREATE_COUNTS = f"""
CREATE TEMP TABLE {COUNTS_TABLE} ON COMMIT DROP AS SELECT * FROM hotspot_cell_count WITH NO DATA
"""
UPSERT_COUNTS = f"""
INSERT INTO hotspot_cell_count AS total ({KEY}, {MONTHS})
SELECT {KEY}, {MONTHS} FROM {COUNTS_TABLE} ORDER BY {KEY}
ON CONFLICT ({KEY}) DO UPDATE SET
""" + ", ".join(f"m{number:02d} = total.m{number:02d} + EXCLUDED.m{number:02d}" for number in range(1, 13))
"""Rows go in key order so that concurrent writers lock shared rows in the same order."""
PEOPLE = "SELECT id, date_of_birth, gender FROM young_person WHERE id = ANY(%(ids)s)"
PLACES = """
SELECT p.id, p.place_type, ST_X(a.geom), ST_Y(a.geom)
FROM place p CROSS JOIN LATERAL (SELECT ST_PointOnSurface(p.geom_bng) AS geom) a
WHERE p.id = ANY(%(ids)s) AND a.geom IS NOT NULL AND NOT ST_IsEmpty(a.geom)
"""
SOURCE_CONCERN = 1
LAYERS = (
    ("context", 1),
    ("kind", 2),
    ("category_id", 3),
    ("agency_id", 4),
    ("place_type", 5),
    ("age_band", 6),
    ("gender", 7),
)
"""The 250 m lattice's filter dimensions, numbered as the aggregate numbers them."""
CODED = frozenset({"context", "kind", "place_type", "age_band", "gender"})
"""Dimensions whose value is the hotspot_code of its text (the others are ids)."""

AddedConcern = tuple[int, int, int | None, int, int, str, str, bool, float | None, float | None, date]
"""id, young person, place, agency, category, context, kind, agency only, x, y (BNG) and local day."""


def code(value: str) -> int:
    """hotspot_code(value): the first 32 bits of the text's MD5, as a signed integer."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[:4], "big", signed=True)


def lattice_index(value: float, size: int) -> int:
    """hotspot_lattice_index(value, size): i with i * size <= value < (i + 1) * size, exactly."""
    index = math.floor(value / size)
    if (index + 1) * size <= value:
        return index + 1
    if index * size > value:
        return index - 1
    return index


def age_band(born: date | None, on_day: date) -> str:
    """hotspot_age_band(born, on_day): the band of the young person's age in whole years that day."""
    if born is None or on_day < born:
        return "not_known"
    years = on_day.year - born.year - ((on_day.month, on_day.day) < (born.month, born.day))
    for limit, band in ((10, "under_10"), (14, "10_to_13"), (16, "14_to_15"), (18, "16_to_17")):
        if years < limit:
            return band
    return "18_and_over"


@dataclass(slots=True)
class LatticeCounter:
    """Writes the facts of each chunk's new concerns, and keeps what the lattice counts need."""

    connection: psycopg.Connection[Any]
    people: dict[int, tuple[date | None, str]] = field(default_factory=dict)
    places: dict[int, tuple[str, float, float]] = field(default_factory=dict)
    codes: dict[str | None, int | None] = field(default_factory=lambda: {None: None})
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, added: Sequence[AddedConcern]) -> None:
        """Copy in the facts of some new concerns and note them for the lattice counts."""
        self._look_up(added)
        columns = self.columns
        if not columns:
            for name in ("restricted_to", "year", "month", "cx", "cy", *(name for name, _ in LAYERS)):
                columns[name] = []
        copying = f"COPY hotspot_fact ({FACT_COLUMNS}) FROM STDIN"
        with self.connection.cursor() as cursor, cursor.copy(copying) as copy:
            for fact in self._facts(added):
                copy.write_row(fact)
                for name, value in zip(columns, self._noted(fact), strict=True):
                    columns[name].append(value)

    def _look_up(self, added: Sequence[AddedConcern]) -> None:
        """Read the young people and places of these concerns not read before."""
        people = {row[1] for row in added} - self.people.keys()
        if people:
            for person_id, born, gender in self.connection.execute(PEOPLE, {"ids": sorted(people)}):
                self.people[person_id] = (born, gender or "not_known")
        places = {row[2] for row in added if row[2] is not None} - self.places.keys()
        if places:
            for place_id, place_type, x, y in self.connection.execute(PLACES, {"ids": sorted(places)}):
                self.places[place_id] = (place_type, x, y)

    def _facts(self, added: Iterable[AddedConcern]) -> Iterable[tuple[Any, ...]]:
        """hotspot_fact rows, as CONCERN_FACTS makes them (concerns without a location have none)."""
        for concern_id, person, place_id, agency, category, context, kind, agency_only, x, y, day in added:
            place = self.places.get(place_id) if place_id is not None else None
            if x is None or y is None:
                if place is None:
                    continue
                x, y = place[1], place[2]
            place_type = place[0] if place is not None else None
            born, gender = self.people[person]
            restricted = agency if agency_only else -1 if place_type in RESIDENTIAL else 0
            yield (
                SOURCE_CONCERN,
                concern_id,
                day,
                day.replace(day=1),
                x,
                y,
                lattice_index(x, FACT_SIZE),
                lattice_index(y, FACT_SIZE),
                agency,
                restricted,
                context,
                kind,
                category,
                place_type,
                age_band(born, day),
                gender,
            )

    def _noted(self, fact: tuple[Any, ...]) -> tuple[Any, ...]:
        """What the lattice counts keep of a fact, its texts as their codes."""
        codes = self.codes
        texts = (fact[10], fact[11], fact[13], fact[14], fact[15])
        for text in texts:
            if text not in codes:
                codes[text] = code(text)
        context, kind, place_type, band, gender = (codes[text] for text in texts)
        month: date = fact[3]
        return (
            fact[9], month.year, month.month, fact[6], fact[7],
            context, kind, fact[12], fact[8], place_type, band, gender,
        )  # fmt: skip

    def finish(self) -> None:
        """Group the noted concerns on both lattices and every layer, and add them to the counts."""
        if not self.columns or not self.columns["year"]:
            return
        self.connection.execute(f"DROP TABLE IF EXISTS {COUNTS_TABLE}")
        self.connection.execute(CREATE_COUNTS)
        copying = f"COPY {COUNTS_TABLE} ({KEY}, {MONTHS}) FROM STDIN"
        with self.connection.cursor() as cursor, cursor.copy(copying) as copy:
            for row in lattice_rows(self.columns):
                copy.write_row(row)
        self.connection.execute(UPSERT_COUNTS)
        self.connection.execute(f"DROP TABLE {COUNTS_TABLE}")


def lattice_rows(noted: dict[str, list[Any]]) -> Iterable[tuple[int, ...]]:
    """hotspot_cell_count rows for noted concerns: count_facts' nine groupings, months side by side."""
    fine = {name: np.asarray(noted[name], dtype=np.int64) for name in ("restricted_to", "year", "month")}
    cx, cy = np.asarray(noted["cx"], dtype=np.int64), np.asarray(noted["cy"], dtype=np.int64)
    every = np.ones(len(cx), dtype=bool)
    base = [fine["restricted_to"], fine["year"]]
    yield from _grouped(1000, 0, [*base, cx // 20, cy // 20], fine["month"], every)
    quarter = [*base, cx // 5, cy // 5]
    yield from _grouped(250, 0, quarter, fine["month"], every)
    for name, dimension in LAYERS:
        given = np.asarray([value is not None for value in noted[name]], dtype=bool)
        values = np.asarray([0 if value is None else value for value in noted[name]], dtype=np.int64)
        yield from _grouped(250, dimension, [*quarter, values], fine["month"], given)


def _grouped(
    lattice: int,
    dimension: int,
    keys: list[NDArray[np.int64]],
    month: NDArray[np.int64],
    rows: NDArray[np.bool_],
) -> Iterable[tuple[int, ...]]:
    """One grouping of the chosen rows: a row per distinct key, with its counts for months 1 to 12.

    Each key column is ranked among its distinct values and the ranks packed into one integer, so
    that one sort finds the groups (a borough's cells, years and values multiply to far below 2**63).
    """
    distinct: list[NDArray[np.int64]] = []
    if not rows.any():
        return
    packed = np.zeros(int(rows.sum()), dtype=np.int64)
    for column in keys:
        values, ranks = np.unique(column[rows], return_inverse=True)
        distinct.append(values)
        packed = packed * len(values) + ranks
    groups, group_of = np.unique(packed, return_inverse=True)
    counts = np.zeros((len(groups), 12), dtype=np.int64)
    np.add.at(counts, (group_of, month[rows] - 1), 1)
    decoded: list[list[int]] = []
    for values in reversed(distinct):
        groups, digit = np.divmod(groups, len(values))
        decoded.insert(0, values[digit].tolist())
    restricted, year, cells_x, cells_y = decoded[:4]
    value = decoded[4] if len(decoded) > 4 else [0] * len(year)
    for index, months in enumerate(counts.tolist()):
        yield (
            lattice, dimension, value[index], SOURCE_CONCERN, restricted[index], year[index],
            cells_x[index], cells_y[index], *months,
        )  # fmt: skip
