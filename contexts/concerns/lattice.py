"""Count an import's new concerns into the hotspot aggregate: the rows migration 0011's SQL would write.

The SQL in migrations/versions/2026-11-21_hotspot_aggregate.py (`CONCERN_FACTS`, `count_facts`) is the
reference: a fact per located concern in hotspot_fact, and per calendar year a row of monthly counts
in hotspot_cell_count for each lattice cell and filter value. Counting a million concerns that way
spends most of an import's time evaluating the same expressions row by row and grouping nine ways in
PostgreSQL. Here the import hands over each chunk's new concerns with what the facts need (the British
National Grid point PostGIS computes for point_bng, the UK local day), the young people and places
they refer to are read once, the facts are copied in, and the lattice counts are grouped once with
numpy (while the import writes its last chunk) and upserted in one statement. Tests compare the
result with `hotspot_rebuild()`.
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import numpy as np
import psycopg
from numpy.typing import NDArray

from contexts import bulk

SOURCE_CONCERN = 1
"""hotspot_fact.source for a concern (2 is a missing episode's found-at location)."""
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
FACT_TYPES = (
    "smallint", "integer", "date", "date", "float8", "float8", "integer", "integer", "integer", "integer",
    "varchar", "varchar", "integer", "varchar", "varchar", "varchar",
)  # fmt: skip
"""hotspot_fact's columns' types, in FACT_COLUMNS order, for a binary COPY."""
NOTED = ("restricted_to", "year", "month", "cx", "cy", "context", "kind", "category_id", "agency_id",
         "place_type", "age_band", "gender")  # fmt: skip
"""What the lattice counts keep of each fact (texts as their hotspot_code)."""
COUNTS_TABLE = "concern_import_count"
COUNT_TYPES = ("smallint", "smallint", "integer", "smallint", "integer", "smallint", "integer", "integer",
               *(["integer"] * 12))  # fmt: skip
CREATE_COUNTS = (
    f"CREATE TEMP TABLE {COUNTS_TABLE} ON COMMIT DROP AS SELECT * FROM hotspot_cell_count WITH NO DATA"
)
UPSERT_COUNTS = f"""
INSERT INTO hotspot_cell_count AS total ({KEY}, {MONTHS})
SELECT {KEY}, {MONTHS} FROM {COUNTS_TABLE} ORDER BY {KEY}
ON CONFLICT ({KEY}) DO UPDATE SET
""" + ", ".join(f"m{number:02d} = total.m{number:02d} + EXCLUDED.m{number:02d}" for number in range(1, 13))
"""Rows go in key order so that concurrent writers lock shared rows in the same order."""
PEOPLE = "SELECT id, date_of_birth, gender FROM young_person WHERE id = ANY(%(ids)s::int[])"
PLACES = """
SELECT p.id, p.place_type, ST_X(a.geom), ST_Y(a.geom)
FROM place p
LEFT JOIN LATERAL (
    SELECT ST_PointOnSurface(p.geom_bng) AS geom WHERE p.geom_bng IS NOT NULL AND NOT ST_IsEmpty(p.geom_bng)
) a ON true
WHERE p.id = ANY(%(ids)s::int[])
"""
"""Each place's type and the point its concerns are counted at (none for an empty geometry)."""
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

People = dict[int, tuple[date | None, str]]
"""Young people's date of birth and gender (not_known when none is recorded), by id."""
Places = dict[int, tuple[str, float | None, float | None]]
"""Places' type and the British National Grid point their concerns are counted at, by id."""
UNKNOWN = (None, "not_known")
"""A young person deleted while an import runs (the import then refuses, as its key check finds)."""
AddedConcern = tuple[int, int, int | None, int, int, str, str, bool, float | None, float | None, date]
"""id, young person, place, agency, category, context, kind, agency only, x, y (BNG) and local day."""


def code(value: str) -> int:
    """hotspot_code(value): the first 32 bits of the text's MD5, as a signed integer."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[:4], "big", signed=True)


def lattice_indexes(values: Sequence[float], size: int) -> list[int]:
    """hotspot_lattice_index(value, size) of each value: i with i * size <= value < (i + 1) * size."""
    array = np.asarray(values, dtype=np.float64)
    index = np.floor(array / size)
    index = np.where((index + 1) * size <= array, index + 1, np.where(index * size > array, index - 1, index))
    return cast(list[int], index.astype(np.int64).tolist())


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
    """Makes the facts of each chunk's new concerns, writes them, and keeps what the lattice counts need.

    `look_up`, `write` and `finish` use the connection; `learn` and `facts` are Python only, so that an
    import can run them on another thread while the connection is busy.
    """

    connection: psycopg.Connection[Any]
    people: People = field(default_factory=dict)
    places: Places = field(default_factory=dict)
    codes: dict[str | None, int | None] = field(default_factory=lambda: {None: None})
    noted: dict[str, list[NDArray[np.int64]]] = field(default_factory=lambda: {name: [] for name in NOTED})
    """Each chunk's noted values, a column at a time (None as 0, see `given`)."""
    given: dict[str, list[NDArray[np.bool_]]] = field(
        default_factory=lambda: {name: [] for name, _ in LAYERS}
    )
    """Which of each chunk's layer values are given (a concern at no place has no place type)."""
    grouped: list[list[int]] | None = None
    """hotspot_cell_count's columns for every noted concern, once `group` has run."""

    def look_up(self, people: set[int], places: set[int]) -> tuple[People, Places]:
        """The young people and places among these not learnt yet, read from the database."""
        people_found: People = {}
        places_found: Places = {}
        wanted = people - self.people.keys()
        if wanted:
            for person_id, born, gender in self.connection.execute(
                PEOPLE, {"ids": bulk.ints(sorted(wanted))}
            ):
                people_found[person_id] = (born, gender or "not_known")
        wanted = places - self.places.keys()
        if wanted:
            for place_id, place_type, x, y in self.connection.execute(
                PLACES, {"ids": bulk.ints(sorted(wanted))}
            ):
                places_found[place_id] = (place_type, x, y)
        return people_found, places_found

    def learn(self, people: People, places: Places) -> None:
        """Keep young people and places read by `look_up`, for `facts`."""
        self.people.update(people)
        self.places.update(places)

    def facts(self, added: Sequence[AddedConcern]) -> list[tuple[Any, ...]]:
        """The hotspot_fact rows of some new concerns, noted for the counts (no database needed)."""
        if not added:
            return []
        facts = self._facts(added)
        if not facts["record_id"]:
            return []
        facts["month"] = [day.replace(day=1) for day in facts["occurred_on"]]
        facts["source"] = [SOURCE_CONCERN] * len(facts["record_id"])
        self._note({
            **{name: facts[name] for name in ("restricted_to", "cx", "cy", "category_id", "agency_id")},
            **{name: self._coded(facts[name]) for name in CODED},
            "year": [day.year for day in facts["occurred_on"]],
            "month": [day.month for day in facts["occurred_on"]],
        })  # fmt: skip
        return list(zip(*(facts[name.strip()] for name in FACT_COLUMNS.split(",")), strict=True))

    def write(self, facts: bytes) -> None:
        """COPY fact rows, encoded by `bulk.encode_copy` with FACT_TYPES, into hotspot_fact."""
        if facts:
            bulk.send_copy(self.connection, "hotspot_fact", FACT_COLUMNS, facts)

    def _facts(self, added: Sequence[AddedConcern]) -> dict[str, list[Any]]:
        """hotspot_fact columns, as CONCERN_FACTS makes them (concerns without a location have none)."""
        places, people = self.places, self.people
        located = [
            row for row in added if (row[8] is not None and row[9] is not None) or self._anchored(row[2])
        ]
        if not located:
            return {"record_id": []}
        columns = (list(column) for column in zip(*located, strict=True))
        ids, persons, place_ids, agencies, categories, contexts, kinds, agency_only, xs, ys, days = columns
        at = [
            places[place] if x is None or y is None else None
            for place, x, y in zip(place_ids, xs, ys, strict=True)
        ]
        xs = [x if spot is None else spot[1] for x, spot in zip(xs, at, strict=True)]
        ys = [y if spot is None else spot[2] for y, spot in zip(ys, at, strict=True)]
        types = [places[place][0] if place in places else None for place in place_ids]
        known = [people.get(person, UNKNOWN) for person in persons]
        return {
            "record_id": ids,
            "occurred_on": days,
            "x": xs,
            "y": ys,
            "cx": lattice_indexes(xs, FACT_SIZE),
            "cy": lattice_indexes(ys, FACT_SIZE),
            "agency_id": agencies,
            "restricted_to": [
                agency if only else -1 if place_type in RESIDENTIAL else 0
                for agency, only, place_type in zip(agencies, agency_only, types, strict=True)
            ],
            "context": contexts,
            "kind": kinds,
            "category_id": categories,
            "place_type": types,
            "age_band": [age_band(born, day) for (born, _), day in zip(known, days, strict=True)],
            "gender": [gender for _, gender in known],
        }

    def _note(self, columns: dict[str, list[Any]]) -> None:
        """Keep a chunk's columns for the lattice counts as arrays (here, beside the database)."""
        for name, values in columns.items():
            if name in self.given:
                self.given[name].append(np.asarray([value is not None for value in values], dtype=bool))
                values = [0 if value is None else value for value in values]
            self.noted[name].append(np.asarray(values, dtype=np.int64))

    def _anchored(self, place_id: int | None) -> bool:
        """Whether concerns at this place are counted at a point of it (not if its geometry is empty)."""
        return place_id is not None and place_id in self.places and self.places[place_id][1] is not None

    def _coded(self, texts: list[str | None]) -> list[int | None]:
        """The hotspot_code of each text (None stays None)."""
        codes = self.codes
        for text in set(texts) - codes.keys():
            codes[text] = code(text) if text is not None else None
        return [codes[text] for text in texts]

    def group(self) -> None:
        """Group the noted concerns on both lattices and every layer, ready for `finish` (Python only:
        an import runs it while its last chunk is written)."""
        if self.noted["year"]:
            noted = {name: np.concatenate(parts) for name, parts in self.noted.items()}
            given = {name: np.concatenate(parts) for name, parts in self.given.items()}
            self.grouped = lattice_columns(noted, given)

    def finish(self) -> None:
        """Add the grouped counts (grouping them now if `group` has not) to hotspot_cell_count."""
        if not self.noted["year"]:
            return
        if self.grouped is None:
            self.group()
        self.connection.execute(f"DROP TABLE IF EXISTS {COUNTS_TABLE}")
        self.connection.execute(CREATE_COUNTS)
        counted = zip(*(self.grouped or []), strict=True)
        bulk.copy_rows(self.connection, COUNTS_TABLE, f"{KEY}, {MONTHS}", counted, COUNT_TYPES)
        self.connection.execute(UPSERT_COUNTS)
        self.connection.execute(f"DROP TABLE {COUNTS_TABLE}")


def lattice_columns(
    noted: dict[str, NDArray[np.int64]], given: dict[str, NDArray[np.bool_]]
) -> list[list[int]]:
    """hotspot_cell_count columns (key, then months 1 to 12) for noted concerns: count_facts' nine
    groupings of them, each calendar year's months side by side (a layer counts given values only)."""
    cx, cy, month = noted["cx"], noted["cy"], noted["month"]
    every = np.ones(len(cx), dtype=bool)
    base = [noted["restricted_to"], noted["year"]]
    quarter = [*base, cx // 5, cy // 5]
    groupings = [
        _grouped(1000, 0, [*base, cx // 20, cy // 20], month, every),
        _grouped(250, 0, quarter, month, every),
    ]
    for name, dimension in LAYERS:
        groupings.append(_grouped(250, dimension, [*quarter, noted[name]], month, given[name]))
    return [np.concatenate(parts).tolist() for parts in zip(*groupings, strict=True)]


def _grouped(
    lattice: int,
    dimension: int,
    keys: list[NDArray[np.int64]],
    month: NDArray[np.int64],
    rows: NDArray[np.bool_],
) -> list[NDArray[np.int64]]:
    """One grouping of the chosen rows: a row per distinct key, with its counts for months 1 to 12.

    Each key column (restricted_to, year, cx, cy and any value) is ranked (`_ranked`) and the ranks
    packed into one integer, so that one sort finds the groups (a borough's cells, years and values
    multiply to far below 2**63; if they did not, every column is ranked among its distinct values).
    """
    chosen = [column[rows] for column in keys]
    ranked = [_ranked(column) for column in chosen]
    if math.prod(max(len(values), 1) for _, values in ranked) >= PACKED_LIMIT:
        ranked = [_ranked(column, spread=0) for column in chosen]
    distinct: list[NDArray[np.int64]] = []
    packed = np.zeros(int(rows.sum()), dtype=np.int64)
    for ranks, values in ranked:
        distinct.append(values)
        packed = packed * max(len(values), 1) + ranks
    groups, group_of = np.unique(packed, return_inverse=True)
    by_month = np.bincount(group_of * 12 + month[rows] - 1, minlength=len(groups) * 12)
    counts = by_month.reshape(len(groups), 12)
    decoded: list[NDArray[np.int64]] = []
    for values in reversed(distinct):
        groups, digit = np.divmod(groups, max(len(values), 1))
        decoded.insert(0, values[digit])
    size = len(counts)
    value = decoded[4] if len(decoded) > 4 else np.zeros(size, dtype=np.int64)
    constant = [np.full(size, lattice), np.full(size, dimension)]
    restricted, year, cells_x, cells_y = decoded[:4]
    return [
        *constant, value, np.full(size, SOURCE_CONCERN), restricted, year, cells_x, cells_y, *counts.T,
    ]  # fmt: skip


PACKED_LIMIT = 2**62
SPREAD = 1 << 16
"""A key column whose values span fewer integers than this is ranked by offset, without a sort."""


def _ranked(column: NDArray[np.int64], spread: int = SPREAD) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Ranks for a key column and the value of each rank: the offset from its least value when the
    values span fewer than `spread` integers (cells, years, ids), else the rank among its distinct
    values (the value codes, which are hashes)."""
    if len(column) == 0:
        return column, column
    low, high = int(column.min()), int(column.max())
    if high - low < spread:
        return column - low, np.arange(low, high + 1, dtype=np.int64)
    values, ranks = np.unique(column, return_inverse=True)
    return ranks, values
