"""Load checked concern rows into PostgreSQL a chunk at a time, inside the import's savepoint.

The rows arrive checked and resolved in Python (`importer.RowChecker`: young people, places and
repeated external ids are looked up there, and each row's UK day is worked out, beside the
database). Per chunk, the loader's thread asks PostgreSQL only what needs it (`ChunkLoader.look_up`):
PostGIS places the located rows (easting/northing converted, and the British National Grid point
concern.point_bng will hold, which the hotspot counts use), one probe of the unique index per
external id finds concerns imported before, and the sequence gives ids for the new ones. The
checking thread then plans the chunk (`plan`, Python only): its problems, its new and changed rows
and their hotspot facts, encoded in COPY's binary format. The loader's thread writes them (`write`):
changed concerns updated by one statement that bumps each version and writes its revision, as an
edit does, and new ones copied straight into concern. A role that may set session_replication_role
(the owner, as `csmap import concerns` runs) checks and locks the new concerns' keys a table at a
time instead of firing a foreign key trigger per key per row. New concerns are counted for hotspot
maps by `contexts.concerns.lattice`.
"""

import struct
import time as clock
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any, NamedTuple, cast

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

from contexts import bulk
from contexts.concerns import lattice
from contexts.errors import InvalidInput
from contexts.young_people.service import Area


class CheckedRow(NamedTuple):
    """A row whose formats, young person, place and external id have been checked in Python."""

    row: int
    agency_id: int
    external_id: str
    young_person_id: int
    occurred_at: datetime
    local_day: date
    """The UK day it happened on (the hotspot counts' day)."""
    occurred_precision: str
    context: str
    kind: str
    category_id: int
    summary: str
    detail: str | None
    place_id: int | None
    x: float | None
    """Longitude, or easting when `grid`; None for a row placed by place_ref."""
    y: float | None
    grid: bool
    source_evaluation: str | None
    intelligence_assessment: str | None
    handling_code: str | None
    sensitivity: str
    flagged: int


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with one row: its number (the header is row 1), the column, the problem."""

    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        """The problem in one line, e.g. 'row 7, category: There is no active category with this code'."""
        return f"row {self.row}, {self.column}: {self.problem}"


class ConcernFileError(InvalidInput):
    """The file as a whole cannot be read (not CSV, not UTF-8, missing columns): nothing is imported."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="file")


OTHER_PERSON = "This external_id is already recorded for a different young person"
KEY_GONE = (
    "A young person, place, agency, category or user the file refers to was removed "
    "while it was imported: nothing was imported. Import the file again."
)


LOCATE = """
SELECT ST_X(q.point), ST_Y(q.point), ST_X(q.bng), ST_Y(q.bng)
FROM unnest(%(x)s::float8[], %(y)s::float8[], %(grid)s::bool[]) WITH ORDINALITY AS u(x, y, grid, n)
CROSS JOIN LATERAL (
    SELECT CASE WHEN u.grid THEN ST_Transform(ST_SetSRID(ST_MakePoint(u.x, u.y), 27700), 4326)
                ELSE ST_SetSRID(ST_MakePoint(u.x, u.y), 4326) END
) AS p(point)
CROSS JOIN LATERAL (SELECT p.point, ST_Transform(p.point, 27700)) AS q(point, bng)
ORDER BY u.n
"""
"""Each located row's WGS84 point and the British National Grid point concern.point_bng will hold
(the same ST_Transform of the same point)."""
UNPLACED = (None, None, None, None)
"""LOCATE's row for a row placed by place_ref."""

MATCH = """
SELECT u.external_id, c.id, c.young_person_id
FROM unnest(%(ids)s::text[]) AS u(external_id)
CROSS JOIN LATERAL (
    SELECT id, young_person_id FROM concern
    WHERE agency_id = %(agency)s AND external_id = u.external_id AND external_id IS NOT NULL LIMIT 1
) c
"""
"""Concerns imported before, one agency's external ids at a time: a probe of the unique index per id,
whatever plan the statement is given once prepared (an index scan of the agency filtered by the
whole array would compare every concern with every id)."""

CHANGED_TABLE = """
CREATE TEMP TABLE concern_import_row (
    concern_id integer NOT NULL,
    agency_id integer NOT NULL,
    flagged integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    occurred_precision text NOT NULL,
    context text NOT NULL,
    kind text NOT NULL,
    category_id integer NOT NULL,
    summary text NOT NULL,
    detail text,
    place_id integer,
    point geometry(Point, 4326),
    source_evaluation text,
    intelligence_assessment text,
    handling_code text,
    sensitivity text NOT NULL
) ON COMMIT DROP
"""
"""A chunk's rows for concerns imported before, as the UPDATE compares them."""
CHANGED_COLUMNS = (
    "concern_id, agency_id, flagged, occurred_at, occurred_precision, context, kind, category_id, "
    "summary, detail, place_id, point, source_evaluation, intelligence_assessment, handling_code, "
    "sensitivity"
)
CHANGED_TYPES = ("int4", "int4", "int4", "timestamptz", "text", "text", "text", "int4", "text", "text",
                 "int4", "geometry", "text", "text", "text", "text")  # fmt: skip

COMPARED = (
    ("occurred_at", "occurred_at"),
    ("occurred_precision", "occurred_precision"),
    ("context", "context"),
    ("kind", "kind"),
    ("category", "category_id"),
    ("summary", "summary"),
    ("detail", "detail"),
    ("place_id", "place_id"),
    ("source_evaluation", "source_evaluation"),
    ("intelligence_assessment", "intelligence_assessment"),
    ("handling_code", "handling_code"),
    ("sensitivity", "sensitivity"),
)
"""Fields an import may change, as named in a revision, and their columns."""


def _change(name: str, column: str) -> str:
    """A revision's entry for one field: [before, after] when it differs, else NULL (dropped)."""
    return (
        f"'{name}', CASE WHEN c.{column} IS DISTINCT FROM r.{column} "
        f"THEN jsonb_build_array(c.{column}, r.{column}) END"
    )


CHANGES = (
    "jsonb_strip_nulls(jsonb_build_object("
    + ", ".join(_change(name, column) for name, column in COMPARED)
    + ", 'longitude', CASE WHEN c.point IS DISTINCT FROM r.point "
    "THEN jsonb_build_array(ST_X(c.point), ST_X(r.point)) END"
    ", 'latitude', CASE WHEN c.point IS DISTINCT FROM r.point "
    "THEN jsonb_build_array(ST_Y(c.point), ST_Y(r.point)) END))"
)

# Each concern is locked and compared in one look-up by id; the update then finds the locked row by
# its ctid (a direct fetch), however many rows of the chunk changed.
UPDATE = f"""
WITH diff AS (
    SELECT r.concern_id, c.row_ctid, r.flagged, r.agency_id, c.version + 1 AS version, {CHANGES} AS changes,
           r.occurred_at, r.occurred_precision, r.context, r.kind, r.category_id, r.summary, r.detail,
           r.place_id, r.point, r.source_evaluation, r.intelligence_assessment, r.handling_code,
           r.sensitivity
    FROM concern_import_row r
    CROSS JOIN LATERAL (SELECT *, ctid AS row_ctid FROM concern WHERE id = r.concern_id FOR UPDATE) c
),
changed AS (
    UPDATE concern c
    SET occurred_at = d.occurred_at, occurred_precision = d.occurred_precision, context = d.context,
        kind = d.kind, category_id = d.category_id, summary = d.summary, detail = d.detail,
        place_id = d.place_id, point = d.point, source_evaluation = d.source_evaluation,
        intelligence_assessment = d.intelligence_assessment, handling_code = d.handling_code,
        sensitivity = d.sensitivity, version = d.version, updated_at = now()
    FROM diff d
    WHERE c.ctid = d.row_ctid AND d.changes <> '{{}}'::jsonb
    RETURNING c.id, c.version, d.changes, d.flagged, d.agency_id
),
revisions AS (
    INSERT INTO concern_revision (concern_id, version, changed_by_id, changes)
    SELECT id, version, %(user_id)s, changes FROM changed
),
flags AS (
    INSERT INTO language_flag_count (agency_id, user_id, record_type, record_id, flagged)
    SELECT agency_id, %(user_id)s, 'concern', id, flagged FROM changed WHERE flagged > 0
)
SELECT count(*), coalesce(sum(flagged), 0) FROM changed
"""

NEW_COLUMNS = (
    "id, young_person_id, agency_id, recorded_by_id, occurred_at, occurred_precision, context, kind, "
    "category_id, summary, detail, place_id, point, source_evaluation, intelligence_assessment, "
    "handling_code, sensitivity, external_id"
)
NEW_TYPES = ("int4", "int4", "int4", "int4", "timestamptz", "text", "text", "text", "int4", "text", "text",
             "int4", "geometry", "text", "text", "text", "text", "text")  # fmt: skip
NEW_IDS = "SELECT nextval('concern_id_seq'::regclass) FROM generate_series(1, %(count)s)"
NEW_FLAGS = """
INSERT INTO language_flag_count (agency_id, user_id, record_type, record_id, flagged)
SELECT u.agency_id, %(user_id)s, 'concern', u.id, u.flagged
FROM unnest(%(agencies)s::int[], %(ids)s::int[], %(flags)s::int[]) AS u(agency_id, id, flagged)
"""

DEFER_COUNTS = "SELECT set_config('csmap.hotspot_counts', 'deferred', true)"
COUNT_NOW = "SELECT set_config('csmap.hotspot_counts', '', true)"
"""The import counts its new concerns into the hotspot aggregate itself (`lattice`), so the INSERT
trigger is told to leave them (migration 0013): counted per chunk, scattered rows would upsert most
of the lattice again each time."""

LOADER_SETTINGS = (
    ("work_mem", "'256MB'"),
    ("timezone", "'UTC'"),
    ("jit", "off"),
)
"""Set for the import only. Revisions record times in UTC, as the concerns service does. Compiling a
chunk's statements (jit) costs more than it saves."""

BULK_KEYS = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
"""Whether this role may check the new concerns' keys in bulk (PostgreSQL 15+: GRANT SET ON PARAMETER
session_replication_role, given to the owner role by `csmap db up` and the tests' clusters)."""
KEY_SHARE = """
WITH held AS (SELECT t.id FROM {table} AS t WHERE t.id = ANY(%(ids)s::int[]) FOR KEY SHARE OF t)
SELECT count(*) FROM held
"""
"""How many of a chunk's keys into one table exist, locking them as a foreign key check does."""
CONCERN_KEYS = (
    ("young_person", "young_person_id"),
    ("place", "place_id"),
    ("agency", "agency_id"),
    ("concern_category", "category_id"),
)
"""The tables a new concern refers to (besides the importing user), and its fields that refer."""
USER_KEY_SHARE = "SELECT 1 FROM user_account WHERE id = %(user_id)s FOR KEY SHARE"

EWKB_POINT = struct.Struct("<BIIdd")
"""A point in PostGIS's extended well-known binary: little-endian, type 1 with an SRID, x, y."""
EWKB_POINT_WITH_SRID = 0x20000001
WGS84 = 4326


def ewkb_point(longitude: float | None, latitude: float | None) -> bytes | None:
    """A WGS84 point as PostGIS's binary input takes it (None without coordinates)."""
    if longitude is None or latitude is None:
        return None
    return EWKB_POINT.pack(1, EWKB_POINT_WITH_SRID, WGS84, longitude, latitude)


def _geometry_dumper(oid: int) -> type[Dumper]:
    """A binary dumper that sends EWKB bytes as this database's geometry type (for COPY)."""

    class GeometryDumper(Dumper):
        """EWKB bytes, as they are."""

        format = pq.Format.BINARY

        def dump(self, obj: Any) -> bytes:
            """The bytes themselves."""
            return cast(bytes, obj)

    GeometryDumper.oid = oid
    return GeometryDumper


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk's checked rows with the parameters of its look-ups, made ready beside the loader."""

    rows: list[CheckedRow]
    located: int
    """How many rows have their own point (the others are placed by place_ref)."""
    places: dict[str, str]
    """LOCATE's parameters."""
    external_ids: dict[int, str]
    """MATCH's parameter for each agency."""


IN_WRITING_ORDER = attrgetter("young_person_id", "occurred_at")
"""New concerns go in each young person's together: the chronology index and the young person key
checks then touch each page once, and a chronology later reads fewer pages."""


def prepare(rows: list[CheckedRow]) -> Chunk:
    """Put a chunk's rows in writing order and build its look-ups' arrays (on the checking thread)."""
    rows.sort(key=IN_WRITING_ORDER)
    by_agency: dict[int, list[str]] = {}
    for row in rows:
        by_agency.setdefault(row.agency_id, []).append(row.external_id)
    located = [row for row in rows if row.x is not None]
    places = {
        "x": bulk.floats(row.x for row in located),
        "y": bulk.floats(row.y for row in located),
        "grid": bulk.flags(row.grid for row in located),
    }
    return Chunk(rows, len(located), places, {agency: bulk.texts(ids) for agency, ids in by_agency.items()})


class Found(NamedTuple):
    """What the database told about a chunk: LOCATE's rows, concerns imported before,
    ids for the new ones, and the young people and places the hotspot counts had not read yet."""

    places: list[tuple[Any, ...]]
    """LOCATE's rows, one for each located row in order."""
    known: dict[tuple[int, str], tuple[int, int]]
    ids: list[int]
    people: lattice.People
    place_points: lattice.Places


@dataclass(slots=True)
class Batch:
    """A chunk's writes, made ready beside the loader: rows to COPY and keys to hold."""

    new: int = 0
    encoded_new: bytes = b""
    """New concerns, in NEW_COLUMNS order, encoded for COPY."""
    changed: int = 0
    encoded_changed: bytes = b""
    """Rows for concerns imported before, in CHANGED_COLUMNS order, encoded for COPY."""
    keys: dict[str, list[int]] = field(default_factory=dict)
    """The new concerns' keys into each table they refer to."""
    flagged: list[tuple[int, int, int]] = field(default_factory=list)
    """(agency, concern id, phrases flagged) of new concerns the language rules flagged."""
    facts: bytes = b""
    """The new concerns' hotspot_fact rows, encoded for COPY."""


@dataclass(slots=True)
class ChunkLoader:
    """Loads chunks of checked rows on the import's connection, in a savepoint.

    `look_up` and `write` use the connection (the loading thread); `plan`, between them, is Python
    only and runs on the checking thread, so that the database is kept busy while it runs.
    """

    connection: psycopg.Connection[Any]
    user_id: int
    area: Area
    skip_invalid: bool = False
    """Whether good rows are written when others have problems (else nothing is, once one has)."""
    problems: list[RowProblem] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """Added, updated, unchanged and flagged so far."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    bulk_keys: bool = False
    """Whether new concerns' keys are checked a table at a time (see `write`)."""
    geometry: type[Dumper] | None = None
    encoder: psycopg.Cursor[Any] | None = None
    held: dict[str, set[int]] = field(default_factory=dict)
    """Keys locked so far, by table (see `_hold_keys`)."""
    counter: lattice.LatticeCounter = field(init=False)

    def __post_init__(self) -> None:
        """Count new concerns on the same connection."""
        self.counter = lattice.LatticeCounter(self.connection)

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        """Add the time the block takes to a phase."""
        started = clock.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + clock.perf_counter() - started

    def begin(self) -> None:
        """Create the temporary table and mark where to roll back to if the import is refused."""
        for name, value in LOADER_SETTINGS:
            self.connection.execute(f"SET LOCAL {name} = {value}")
        self.bulk_keys = self.connection.execute(BULK_KEYS).fetchone() == (True,)
        found = self.connection.execute("SELECT 'geometry'::regtype::oid").fetchone()
        self.geometry = _geometry_dumper(int(found[0])) if found else None
        self.connection.execute("DROP TABLE IF EXISTS concern_import_row")
        self.connection.execute(CHANGED_TABLE)
        self.connection.execute(DEFER_COUNTS)
        self.connection.execute("SAVEPOINT concern_import")

    def load(self, chunk: Chunk, *, write: bool) -> None:
        """Look up, plan and write one chunk on this thread."""
        batch = self.plan(chunk, self.look_up(chunk), write=write)
        if batch is not None:
            self.write(batch)

    def look_up(self, chunk: Chunk) -> Found:
        """Place the chunk's rows, match them to concerns imported before, and draw ids for new ones."""
        with self._timed("look-ups"):
            places: list[tuple[Any, ...]] = []
            if chunk.located:
                with self.connection.cursor(binary=True) as cursor:
                    places = cursor.execute(LOCATE, chunk.places).fetchall()
            known = self._match(chunk)
            new = sum((row.agency_id, row.external_id) not in known for row in chunk.rows)
            ids = [found for (found,) in self.connection.execute(NEW_IDS, {"count": new}).fetchall()]
            people, place_points = self.counter.look_up(
                {row.young_person_id for row in chunk.rows},
                {row.place_id for row in chunk.rows if row.place_id is not None},
            )
        return Found(places, known, ids, people, place_points)

    def _match(self, chunk: Chunk) -> dict[tuple[int, str], tuple[int, int]]:
        """Concerns imported before with these rows' external ids: (concern id, young person id)."""
        known: dict[tuple[int, str], tuple[int, int]] = {}
        for agency_id, external_ids in chunk.external_ids.items():
            found = self.connection.execute(MATCH, {"agency": agency_id, "ids": external_ids})
            for external_id, concern_id, person_id in found:
                known[(agency_id, external_id)] = (concern_id, person_id)
        return known

    def plan(self, chunk: Chunk, found: Found, *, write: bool) -> Batch | None:
        """Note the chunk's problems and, when it is to be written, make its writes ready.

        Python only (no database): it runs on the checking thread while the loader works.
        """
        self.counter.learn(found.people, found.place_points)
        writing = write and (self.skip_invalid or not self.problems)
        new: list[tuple[CheckedRow, bytes | None]] = []
        changed: list[tuple[Any, ...]] = []
        added: list[lattice.AddedConcern] = []
        area, known, new_ids, places = self.area, found.known, iter(found.ids), iter(found.places)
        for row in chunk.rows:
            longitude, latitude, bng_x, bng_y = UNPLACED if row.x is None else next(places)
            recorded = known.get((row.agency_id, row.external_id))
            if row.grid and not (
                area.min_longitude <= longitude <= area.max_longitude
                and area.min_latitude <= latitude <= area.max_latitude
            ):
                self._bad(row.row, "easting", "The location is outside this deployment's area")
            elif recorded is not None and recorded[1] != row.young_person_id:
                self._bad(row.row, "young_person_ref", OTHER_PERSON)
            elif not writing:
                continue
            elif recorded is None:
                concern_id = next(new_ids)
                new.append((row, ewkb_point(longitude, latitude)))
                added.append(
                    (concern_id, row.young_person_id, row.place_id, row.agency_id, row.category_id,
                     row.context, row.kind, row.sensitivity == "agency_only", bng_x, bng_y, row.local_day)
                )  # fmt: skip
            else:
                changed.append(self._changed_row(recorded[0], row, ewkb_point(longitude, latitude)))
        if not writing or (self.problems and not self.skip_invalid):
            return None
        return self._batch(new, changed, added)

    def _batch(
        self,
        new: list[tuple[CheckedRow, bytes | None]],
        changed: list[tuple[Any, ...]],
        added: list[lattice.AddedConcern],
    ) -> Batch:
        """A chunk's writes, encoded for COPY, with the keys its new concerns refer to."""
        encoder = self._encoder()
        rows = [row for row, _ in new]
        ids = [concern[0] for concern in added]
        batch = Batch(new=len(new), changed=len(changed))
        if new:
            encoded = (
                self._new_row(concern_id, row, point)
                for concern_id, (row, point) in zip(ids, new, strict=True)
            )
            batch.encoded_new = bulk.encode_copy(encoder, self._types(NEW_TYPES), encoded)
        if changed:
            batch.encoded_changed = bulk.encode_copy(encoder, self._types(CHANGED_TYPES), changed)
        batch.keys = {
            table: sorted({getattr(row, name) for row in rows} - {None}) for table, name in CONCERN_KEYS
        }
        batch.flagged = [(row.agency_id, concern_id, row.flagged)
                         for concern_id, row in zip(ids, rows, strict=True) if row.flagged]  # fmt: skip
        facts = self.counter.facts(added)
        batch.facts = bulk.encode_copy(encoder, lattice.FACT_TYPES, facts) if facts else b""
        return batch

    def _encoder(self) -> psycopg.Cursor[Any]:
        """A cursor whose adapters encode COPY rows (points as EWKB); it never runs a statement."""
        if self.encoder is None:
            self.encoder = self.connection.cursor()
            if self.geometry is not None:
                self.encoder.adapters.register_dumper(None, self.geometry)
        return self.encoder

    def _types(self, types: Sequence[str]) -> list[int | str]:
        """COPY column types, geometry as this database's oid."""
        oid = self.geometry.oid if self.geometry is not None else 0
        return [oid if name == "geometry" else name for name in types]

    def _new_row(self, concern_id: int, row: CheckedRow, point: bytes | None) -> tuple[Any, ...]:
        """A new concern's row, in NEW_COLUMNS order."""
        return (
            concern_id, row.young_person_id, row.agency_id, self.user_id, row.occurred_at,
            row.occurred_precision, row.context, row.kind, row.category_id, row.summary, row.detail,
            row.place_id, point, row.source_evaluation, row.intelligence_assessment, row.handling_code,
            row.sensitivity, row.external_id,
        )  # fmt: skip

    @staticmethod
    def _changed_row(concern_id: int, row: CheckedRow, point: bytes | None) -> tuple[Any, ...]:
        """A row for a concern imported before, in CHANGED_COLUMNS order."""
        return (
            concern_id, row.agency_id, row.flagged, row.occurred_at, row.occurred_precision, row.context,
            row.kind, row.category_id, row.summary, row.detail, row.place_id, point, row.source_evaluation,
            row.intelligence_assessment, row.handling_code, row.sensitivity,
        )  # fmt: skip

    def count_ahead(self) -> None:
        """Group the hotspot counts now, on the checking thread, while the last chunks are written."""
        self.counter.group()

    def write(self, batch: Batch) -> None:
        """Update changed concerns, add new ones and count them for hotspot maps.

        With the privilege (see BULK_KEYS), new concerns' keys are checked and locked a table at a
        time, as the foreign key triggers would one row at a time, and the triggers are skipped for
        their COPY (replica mode; constraints and indexes still apply). The hotspot trigger it also
        skips is deferred for the import anyway.
        """
        with self._timed("writing"):
            self._update(batch.changed, batch.encoded_changed)
            self._insert(batch)
        with self._timed("counting"):
            self.counter.write(batch.facts)

    def end(self, *, keep: bool) -> None:
        """Count what was added and keep it, or undo it all; then drop the temporary table."""
        if keep:
            with self._timed("counting"):
                self.counter.finish()
        self.connection.execute(
            "RELEASE SAVEPOINT concern_import" if keep else "ROLLBACK TO SAVEPOINT concern_import"
        )
        if self.encoder is not None:
            self.encoder.close()
        self.connection.execute(COUNT_NOW)
        self.connection.execute("DROP TABLE concern_import_row")
        for name, _ in LOADER_SETTINGS:
            self.connection.execute(f"RESET {name}")

    def _bad(self, row: int, column: str, problem: str) -> None:
        """Note a problem."""
        self.problems.append(RowProblem(row, column, problem))

    def _update(self, changed: int, encoded: bytes) -> None:
        """Update the concerns whose rows changed, with their revisions; count the unchanged."""
        if not changed:
            return
        self.connection.execute("TRUNCATE concern_import_row")
        bulk.send_copy(self.connection, "concern_import_row", CHANGED_COLUMNS, encoded)
        found = self.connection.execute(UPDATE, {"user_id": self.user_id}).fetchone()
        updated, flagged = (int(found[0]), int(found[1])) if found else (0, 0)
        self.counts[1] += updated
        self.counts[2] += changed - updated
        self.counts[3] += flagged

    def _insert(self, batch: Batch) -> None:
        """COPY the new concerns in (see `write`) and count their language flags."""
        if not batch.new:
            return
        if self.bulk_keys:
            self._hold_keys(batch.keys)
            self.connection.execute("SET LOCAL session_replication_role = replica")
        try:
            bulk.send_copy(self.connection, "concern", NEW_COLUMNS, batch.encoded_new)
        except psycopg.errors.ForeignKeyViolation as gone:
            raise ConcernFileError(KEY_GONE) from gone
        if self.bulk_keys:
            self.connection.execute("SET LOCAL session_replication_role = origin")
        if batch.flagged:
            agencies, concern_ids, flags = (list(column) for column in zip(*batch.flagged, strict=True))
            self.connection.execute(
                NEW_FLAGS,
                {"user_id": self.user_id, "agencies": agencies, "ids": concern_ids, "flags": flags},
            )
            self.counts[3] += sum(flags)
        self.counts[0] += batch.new

    def _hold_keys(self, keys: dict[str, list[int]]) -> None:
        """Lock what a chunk's new concerns refer to and earlier chunks' did not (a lock lasts until the
        transaction ends); ConcernFileError if any of it has been deleted."""
        missing = 0
        if "user_account" not in self.held:
            user = self.connection.execute(USER_KEY_SHARE, {"user_id": self.user_id}).fetchone()
            missing += 0 if user else 1
            self.held["user_account"] = {self.user_id}
        for table, keyed in keys.items():
            held = self.held.setdefault(table, set())
            wanted = [key for key in keyed if key not in held]
            if not wanted:
                continue
            found = self.connection.execute(KEY_SHARE.format(table=table), {"ids": bulk.ints(wanted)})
            locked = found.fetchone()
            missing += len(wanted) - (int(locked[0]) if locked else 0)
            held.update(wanted)
        if missing:
            raise ConcernFileError(KEY_GONE)
