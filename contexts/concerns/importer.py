"""Import concerns from partners' systems: a CSV file checked in full, then loaded all or nothing.

Columns (a header row is required; names are matched without regard to case or surrounding spaces;
other columns are ignored):

=========================  ========  ===============================================================
column                     needed    meaning
=========================  ========  ===============================================================
external_id                yes       the partner system's id for the entry (at most 100 characters);
                                     importing the same (source_agency, external_id) again updates
                                     the concern instead of adding another
source_agency              yes       the recording agency's code; must be the importing user's own
                                     agency unless the user is a system administrator
young_person_ref           yes       the young person's local id in the recording agency
occurred_at                yes       ISO 8601 date (2026-03-01: precision "day") or date-time
                                     (2026-03-01T16:30:00+00:00: precision "exact"); a time without
                                     an offset is taken as UTC; never in the future
occurred_precision         no        exact, day, month or approximate (overrides the above)
context                    yes       individual, home, peer_group, school or neighbourhood
kind                       yes       risk, harm or protective
category                   yes       an active category code (GET /api/concern-categories)
summary                    yes       at most 200 characters
detail                     no        at most 10,000 characters
longitude, latitude        one of    WGS84 degrees, inside the deployment's area, or
easting, northing          these     British National Grid metres (EPSG:27700), or
place_ref                  three     a place's external_ref, or its csmap id
source_evaluation          no        3x5x2 grading: 1, 2 or 3 ...
intelligence_assessment    no        ... A, B, C, D or E ...
handling_code              no        ... P or C (all three parts, or none)
sensitivity                no        partnership (the default) or agency_only
=========================  ========  ===============================================================

How it runs: the file is streamed through the csv module and each row's formats are checked in Python,
a chunk at a time. While the next chunk is checked, a second thread loads the last one on the import's
connection (it waits on PostgreSQL, which frees the interpreter): COPY into a temporary staging table,
then set-based look-ups of young people, places, earlier rows of the file and concerns imported before,
easting/northing converted in PostGIS, and every remaining problem listed by row. Good rows are then
written, new concerns by one INSERT ... SELECT and changed ones by one UPDATE that bumps each version
and writes its revision, as an edit does; rows identical to what csmap holds are left alone. A role
that may set session_replication_role (the owner, as `csmap import concerns` runs) checks and locks the
new concerns' keys a table at a time instead of firing a foreign key trigger per key per row. The
import counts its new concerns for hotspot maps itself (`contexts.concerns.lattice`): each chunk's
facts as it is written, the lattice counts once, at the end, rather than chunk by chunk. All of it
happens inside a savepoint: an import refused for bad rows is rolled back to it, so nothing is written.
The import is recorded (concern_import) with one audit event for the whole run. Problems name the row
(the header is row 1), the column and what is wrong; they never repeat a cell's contents, so free text
never reaches a report or a log.
"""

import csv
import math
import time as clock
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, Role, can
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns import lattice
from contexts.concerns.models import (
    ConcernCategory,
    ConcernImport,
    ConcernKind,
    Context,
    DatePrecision,
    HandlingCode,
    IntelligenceAssessment,
    Sensitivity,
    SourceEvaluation,
)
from contexts.errors import AccessDenied, InvalidInput
from contexts.language.checker import Rule, check_text
from contexts.young_people.service import Area

REQUIRED = ("external_id", "source_agency", "young_person_ref", "occurred_at", "context", "kind")
REQUIRED_TEXT = ("category", "summary")
LOCATIONS = (("longitude", "latitude"), ("easting", "northing"), ("place_ref",))
LIMITS = {
    "external_id": 100,
    "young_person_ref": 40,
    "summary": 200,
    "detail": 10_000,
    "place_ref": 100,
}
GRADING = ("source_evaluation", "intelligence_assessment", "handling_code")
CHOICES: dict[str, frozenset[str]] = {
    "context": frozenset(member.value for member in Context),
    "kind": frozenset(member.value for member in ConcernKind),
    "occurred_precision": frozenset(member.value for member in DatePrecision),
    "sensitivity": frozenset(member.value for member in Sensitivity),
    "source_evaluation": frozenset(member.value for member in SourceEvaluation),
    "intelligence_assessment": frozenset(member.value for member in IntelligenceAssessment),
    "handling_code": frozenset(member.value for member in HandlingCode),
}
GRID_LIMITS = (700_000.0, 1_300_000.0)
STAGING_COLUMNS = (
    "row_number",
    "agency_id",
    "external_id",
    "young_person_ref",
    "occurred_at",
    "occurred_precision",
    "context",
    "kind",
    "category_id",
    "summary",
    "detail",
    "longitude",
    "latitude",
    "easting",
    "northing",
    "place_ref",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "sensitivity",
    "flagged",
)


class ImportProgress(Protocol):
    """Told what an import is doing (the demo's terminal progress bar fits)."""

    def phase(self, name: str, total: int) -> None:
        """A new phase of `total` steps."""

    def advance(self, rows: int) -> None:
        """Steps of the current phase done."""

    def finish(self, message: str) -> None:
        """The import is over."""


class _Quiet:
    """Reports nothing."""

    def phase(self, name: str, total: int) -> None:
        """Ignore the phase."""

    def advance(self, rows: int) -> None:
        """Ignore the rows."""

    def finish(self, message: str) -> None:
        """Ignore the end."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with one row: its number (the header is row 1), the column, the problem."""

    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        """The problem in one line, e.g. 'row 7, category: There is no active category with this code'."""
        return f"row {self.row}, {self.column}: {self.problem}"


@dataclass(slots=True)
class ConcernImportReport:
    """What an import found and did."""

    file_name: str
    rows: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0
    written: bool = False
    import_id: int | None = None
    seconds: float = 0.0
    problems: list[RowProblem] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Where the time went: checking rows in Python runs beside the database phases, which follow
    one another on the loading connection (copy, look-ups, writing, counting for hotspot maps)."""

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of the whole import."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class ConcernFileError(InvalidInput):
    """The file as a whole cannot be read (not CSV, not UTF-8, missing columns): nothing is imported."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="file")


# Reading and checking rows in Python


def _header(cells: Sequence[str]) -> dict[str, int]:
    """Column positions by name, or ConcernFileError naming what is missing or repeated."""
    names = [cell.strip().lower() for cell in cells]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in positions:
            raise ConcernFileError(f"The header names the column '{name[:40]}' twice.")
        if name:
            positions[name] = index
    missing = [name for name in (*REQUIRED, *REQUIRED_TEXT) if name not in positions]
    if missing:
        raise ConcernFileError(
            f"The CSV has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}."
        )
    for pair in LOCATIONS[:2]:
        if (pair[0] in positions) != (pair[1] in positions):
            raise ConcernFileError(
                f"The CSV has a {pair[0]} column without {pair[1]}, or the other way round."
            )
    if not any(all(name in positions for name in form) for form in LOCATIONS):
        raise ConcernFileError(
            "The CSV needs longitude and latitude columns, easting and northing columns, "
            "or a place_ref column."
        )
    return positions


FIELDS = (
    "external_id",
    "source_agency",
    "young_person_ref",
    "occurred_at",
    "occurred_precision",
    "context",
    "kind",
    "category",
    "summary",
    "detail",
    "longitude",
    "latitude",
    "easting",
    "northing",
    "place_ref",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "sensitivity",
)
"""Every column the import reads, in the order a row's cells are picked."""


@dataclass(slots=True)
class RowChecker:
    """Checks each row's formats and turns it into a staging row; notes every problem by column."""

    positions: dict[str, int]
    width: int
    agencies: dict[str, int]
    allowed_agencies: frozenset[int] | None
    categories: dict[str, int]
    area: Area
    now: datetime
    rules: Sequence[Rule]
    problems: list[RowProblem] = field(default_factory=list)
    pick: Callable[[list[str]], tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        """Prepare the picker of cells (absent columns read as empty)."""
        self.pick = itemgetter(*(self.positions.get(name, self.width) for name in FIELDS))

    def _bad(self, row: int, column: str, problem: str) -> None:
        """Note a problem."""
        self.problems.append(RowProblem(row, column, problem))

    def check(self, row: int, cells: list[str]) -> tuple[Any, ...] | None:
        """The staging row for a good row; None (with its problems noted) for a bad one."""
        if len(cells) != self.width:
            self._bad(row, "row", f"This row has {len(cells)} cells and the header {self.width}")
            return None
        cells.append("")
        values = list(map(str.strip, self.pick(cells)))
        external_id, agency, person, occurred, precision, context, kind, category = values[:8]
        summary, detail, longitude, latitude, easting, northing, place_ref = values[8:15]
        evaluation, assessment, handling, sensitivity = values[15:]
        before = len(self.problems)
        agency_id = self._agency(row, agency)
        self._ids(row, external_id, person)
        when = self._when(row, occurred, precision)
        coded = [self._choice(row, "context", context), self._choice(row, "kind", kind)]
        grading = self._grading(row, evaluation, assessment, handling)
        coded.append(self._choice(row, "sensitivity", sensitivity) or Sensitivity.PARTNERSHIP.value)
        category_id = self._category(row, category)
        self._texts(row, summary, detail)
        where = self._location(row, longitude, latitude, easting, northing, place_ref)
        if len(self.problems) > before or when is None or where is None:
            return None
        flagged = self._flagged(summary, detail) if self.rules else 0
        return (
            row,
            agency_id,
            external_id,
            person,
            *when,
            coded[0],
            coded[1],
            category_id,
            summary,
            detail or None,
            *where,
            *grading,
            coded[2],
            flagged,
        )

    def _agency(self, row: int, code: str) -> int | None:
        """The recording agency's id, if it exists and the importer may record for it."""
        agency_id = self.agencies.get(code) or self.agencies.get(code.lower())
        if agency_id is None:
            self._bad(
                row, "source_agency", "There is no agency with this code" if code else "Enter an agency code"
            )
        elif self.allowed_agencies is not None and agency_id not in self.allowed_agencies:
            self._bad(row, "source_agency", "You may import concerns only for your own agency")
        return agency_id

    def _ids(self, row: int, external_id: str, person: str) -> None:
        """The partner system's id and the young person's local id: both required and not too long."""
        for name, value in (("external_id", external_id), ("young_person_ref", person)):
            if not value or len(value) > LIMITS[name]:
                self._bad(row, name, f"Enter 1 to {LIMITS[name]} characters")

    def _when(self, row: int, text: str, precision: str) -> tuple[str, str] | None:
        """When it happened (as ISO text, UTC if no offset) and how exactly; never in the future."""
        moment, implied = _moment(text)
        if moment is None:
            self._bad(row, "occurred_at", "Enter an ISO 8601 date (2026-03-01) or date and time")
            return None
        if moment > self.now:
            self._bad(row, "occurred_at", "When it happened cannot be in the future")
            return None
        chosen = self._choice(row, "occurred_precision", precision) or implied
        if chosen == DatePrecision.EXACT and implied == DatePrecision.DAY:
            self._bad(row, "occurred_precision", "A date without a time cannot be exact")
        return moment.isoformat(), chosen

    def _choice(self, row: int, name: str, given: str) -> str | None:
        """One of a coded column's values (any case), or None when empty."""
        allowed = CHOICES[name]
        if given in allowed:
            return given
        for variant in (given.lower(), given.upper()):
            if variant in allowed:
                return variant
        if given or name in ("context", "kind"):
            self._bad(row, name, f"Enter one of: {', '.join(sorted(allowed))}")
        return None

    def _grading(self, row: int, *parts: str) -> list[str | None]:
        """The 3x5x2 grading: all three parts or none."""
        if not any(parts):
            return [None, None, None]
        chosen = [self._choice(row, name, part) for name, part in zip(GRADING, parts, strict=True)]
        if not all(parts):
            self._bad(row, "source_evaluation", "Give all three parts of the 3x5x2 grading, or none")
        return chosen

    def _category(self, row: int, code: str) -> int | None:
        """The active category with this code."""
        category_id = self.categories.get(code) or self.categories.get(code.lower())
        if category_id is None:
            self._bad(row, "category", "There is no active category with this code")
        return category_id

    def _texts(self, row: int, summary: str, detail: str) -> None:
        """The summary (required) and detail (optional), within their lengths."""
        if not summary:
            self._bad(row, "summary", "This cannot be empty")
        for name, text in (("summary", summary), ("detail", detail)):
            if len(text) > LIMITS[name]:
                self._bad(row, name, f"At most {LIMITS[name]:,} characters (this has {len(text):,})")

    def _location(
        self, row: int, longitude: str, latitude: str, easting: str, northing: str, place_ref: str
    ) -> tuple[Any, ...] | None:
        """Exactly one of: longitude and latitude, easting and northing, or place_ref."""
        forms = bool(longitude or latitude) + bool(easting or northing) + bool(place_ref)
        if forms != 1:
            words = "Give only one" if forms else "Give one"
            self._bad(row, "location", f"{words} of: longitude and latitude, easting and northing, place_ref")
            return None
        if place_ref:
            if len(place_ref) > LIMITS["place_ref"]:
                self._bad(row, "place_ref", f"At most {LIMITS['place_ref']} characters")
                return None
            return None, None, None, None, place_ref
        if longitude or latitude:
            return self._lon_lat(
                row, self._number(row, "longitude", longitude), self._number(row, "latitude", latitude)
            )
        return self._grid(row, self._number(row, "easting", easting), self._number(row, "northing", northing))

    def _number(self, row: int, name: str, text: str) -> float | None:
        """A finite number from a cell."""
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            self._bad(row, name, "Enter a number")
            return None
        return number

    def _lon_lat(self, row: int, longitude: float | None, latitude: float | None) -> tuple[Any, ...] | None:
        """A WGS84 position inside the deployment's area."""
        if longitude is None or latitude is None:
            return None
        area = self.area
        if not (
            area.min_longitude <= longitude <= area.max_longitude
            and area.min_latitude <= latitude <= area.max_latitude
        ):
            self._bad(row, "longitude", "The location is outside this deployment's area")
            return None
        return longitude, latitude, None, None, None

    def _grid(self, row: int, easting: float | None, northing: float | None) -> tuple[Any, ...] | None:
        """A British National Grid position on the grid (the area is checked after converting it)."""
        if easting is None or northing is None:
            return None
        if not (0 <= easting <= GRID_LIMITS[0] and 0 <= northing <= GRID_LIMITS[1]):
            self._bad(row, "easting", "An easting runs 0 to 700000 and a northing 0 to 1300000 (metres)")
            return None
        return None, None, easting, northing, None

    def _flagged(self, summary: str, detail: str) -> int:
        """How many phrases the language rules flag in the two texts."""
        return len(check_text(summary, self.rules)) + len(check_text(detail, self.rules))


def _moment(text: str) -> tuple[datetime | None, str]:
    """An ISO 8601 date or date-time as an aware datetime, and the precision it implies."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC), DatePrecision.DAY.value
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, DatePrecision.EXACT.value


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """CSV records numbered as a spreadsheet shows them (header row 1); ConcernFileError if unreadable."""
    reader = csv.reader(iter(lines), strict=True)
    row = 0
    try:
        for row, cells in enumerate(reader, start=1):
            yield row, cells
    except csv.Error as wrong:
        raise ConcernFileError(f"The CSV cannot be read at row {row + 1}: {wrong}.") from wrong
    except UnicodeDecodeError as wrong:
        raise ConcernFileError(f"The file is not UTF-8 text (at about row {row + 1}).") from wrong


# Loading in PostgreSQL

TEMP_TABLES = """
CREATE TEMP TABLE concern_import_staging (
    row_number integer NOT NULL,
    agency_id integer NOT NULL,
    external_id text NOT NULL,
    young_person_ref text NOT NULL,
    occurred_at timestamptz NOT NULL,
    occurred_precision text NOT NULL,
    context text NOT NULL,
    kind text NOT NULL,
    category_id integer NOT NULL,
    summary text NOT NULL,
    detail text,
    longitude double precision,
    latitude double precision,
    easting double precision,
    northing double precision,
    place_ref text,
    source_evaluation text,
    intelligence_assessment text,
    handling_code text,
    sensitivity text NOT NULL,
    flagged integer NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE concern_import_seen (
    agency_id integer NOT NULL,
    external_id text NOT NULL,
    row_number integer NOT NULL,
    PRIMARY KEY (agency_id, external_id)
) ON COMMIT DROP;
CREATE TEMP TABLE concern_import_row ON COMMIT DROP AS
SELECT s.*, 0 AS young_person_id, 0 AS place_id, NULL::geometry(Point, 4326) AS point,
       0 AS concern_id, 0 AS recorded_young_person_id, 0 AS first_row
FROM concern_import_staging s WITH NO DATA
"""
TEMP_NAMES = "concern_import_row, concern_import_seen, concern_import_staging"

SEEN = """
INSERT INTO concern_import_seen (agency_id, external_id, row_number)
SELECT DISTINCT ON (agency_id, external_id) agency_id, external_id, row_number
FROM concern_import_staging
ORDER BY agency_id, external_id, row_number
ON CONFLICT DO NOTHING
"""

RESOLVE = """
INSERT INTO concern_import_row
SELECT s.*,
       y.id,
       CASE WHEN s.place_ref IS NOT NULL THEN coalesce(
           (SELECT p.id FROM place p WHERE p.external_ref = s.place_ref),
           (SELECT p.id FROM place p WHERE s.place_ref ~ '^[0-9]{1,9}$' AND p.id = s.place_ref::integer)
       ) END,
       CASE
           WHEN s.easting IS NOT NULL
           THEN ST_Transform(ST_SetSRID(ST_MakePoint(s.easting, s.northing), 27700), 4326)
           WHEN s.longitude IS NOT NULL THEN ST_SetSRID(ST_MakePoint(s.longitude, s.latitude), 4326)
       END,
       c.id,
       c.young_person_id,
       seen.row_number
FROM concern_import_staging s
CROSS JOIN LATERAL (
    SELECT row_number FROM concern_import_seen
    WHERE agency_id = s.agency_id AND external_id = s.external_id LIMIT 1
) seen
LEFT JOIN LATERAL (
    SELECT id FROM young_person WHERE agency_id = s.agency_id AND local_id = s.young_person_ref LIMIT 1
) y ON true
LEFT JOIN LATERAL (
    SELECT id, young_person_id FROM concern
    WHERE agency_id = s.agency_id AND external_id = s.external_id AND external_id IS NOT NULL LIMIT 1
) c ON true
"""
"""Each staged row with its young person, place, point, any concern already imported with its
external_id, and the first row in the file with that external_id. A chunk is small beside the
tables it is looked up in: LIMIT 1 keeps each look-up an index probe (the chunk is not analysed,
so the planner might otherwise scan concern for every chunk)."""

PROBLEMS = """
SELECT r.row_number, v.column_name, v.problem
FROM (
    SELECT * FROM concern_import_row
    WHERE first_row <> row_number OR young_person_id IS NULL OR (place_ref IS NOT NULL AND place_id IS NULL)
       OR easting IS NOT NULL OR recorded_young_person_id <> young_person_id
) r
CROSS JOIN LATERAL (
    VALUES
        (r.first_row <> r.row_number, 'external_id',
         'The same source_agency and external_id are on row ' || r.first_row),
        (r.young_person_id IS NULL, 'young_person_ref',
         'There is no young person with this local id in the recording agency'),
        (r.place_ref IS NOT NULL AND r.place_id IS NULL, 'place_ref',
         'There is no place with this reference'),
        (r.easting IS NOT NULL
         AND NOT (ST_X(r.point) BETWEEN %(min_lon)s AND %(max_lon)s
                  AND ST_Y(r.point) BETWEEN %(min_lat)s AND %(max_lat)s),
         'easting', 'The location is outside this deployment''s area'),
        (r.first_row = r.row_number AND r.recorded_young_person_id <> r.young_person_id, 'young_person_ref',
         'This external_id is already recorded for a different young person')
) AS v(bad, column_name, problem)
WHERE v.bad
"""

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

MATCHED = "SELECT 1 FROM concern_import_row WHERE concern_id IS NOT NULL LIMIT 1"

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
    WHERE r.concern_id IS NOT NULL
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
SELECT (SELECT count(*) FROM diff), count(*), coalesce(sum(flagged), 0) FROM changed
"""

INSERT = f"""
INSERT INTO concern (
    young_person_id, agency_id, recorded_by_id, occurred_at, occurred_precision, context, kind,
    category_id, summary, detail, place_id, point, source_evaluation, intelligence_assessment,
    handling_code, sensitivity, external_id
)
SELECT young_person_id, agency_id, %(user_id)s, occurred_at, occurred_precision, context, kind,
       category_id, summary, detail, place_id, point, source_evaluation, intelligence_assessment,
       handling_code, sensitivity, external_id
FROM concern_import_row
WHERE concern_id IS NULL
ORDER BY young_person_id, occurred_at
{lattice.RETURNING}
"""
"""New concerns, each young person's together: the chronology index and the young person key checks
then touch each page once, and a chronology later reads fewer pages. They come back with what
counting them for hotspot maps needs (`lattice`)."""

DEFER_COUNTS = "SELECT set_config('csmap.hotspot_counts', 'deferred', true)"
COUNT_NOW = "SELECT set_config('csmap.hotspot_counts', '', true)"
"""The import counts its new concerns into the hotspot aggregate itself (`lattice`), so the INSERT
trigger is told to leave them (migration 0013): counted per chunk, scattered rows would upsert most
of the lattice again each time."""

NEW_FLAGS = """
INSERT INTO language_flag_count (agency_id, user_id, record_type, record_id, flagged)
SELECT r.agency_id, %(user_id)s, 'concern', c.id, r.flagged
FROM concern_import_row r
CROSS JOIN LATERAL (
    SELECT id FROM concern
    WHERE agency_id = r.agency_id AND external_id = r.external_id AND external_id IS NOT NULL LIMIT 1
) c
WHERE r.concern_id IS NULL AND r.flagged > 0
"""

LOADER_SETTINGS = (
    ("work_mem", "'256MB'"),
    ("timezone", "'UTC'"),
    ("jit", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
)
"""Set for the import only. Revisions record times in UTC, as the concerns service does. A chunk is
small beside young_person and concern, but unanalysed: without hash and merge joins the planner probes
their indexes per row instead of scanning concern for every chunk. Compiling a chunk's statements
(jit) costs more than it saves."""

BULK_KEYS = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
"""Whether this role may check the new concerns' keys in bulk (PostgreSQL 15+: GRANT SET ON PARAMETER
session_replication_role, given to the owner role by `csmap db up` and the tests' clusters)."""
KEY_SHARE = """
WITH wanted AS (
    SELECT DISTINCT {column} AS id FROM concern_import_row WHERE concern_id IS NULL AND {column} IS NOT NULL
),
held AS (SELECT t.id FROM {table} AS t WHERE t.id IN (SELECT id FROM wanted) FOR KEY SHARE OF t)
SELECT (SELECT count(*) FROM wanted) - (SELECT count(*) FROM held)
"""
"""How many of a chunk's keys into one table are missing, locking the rest as a foreign key check does."""
CONCERN_KEYS = (
    ("young_person", "young_person_id"),
    ("place", "place_id"),
    ("agency", "agency_id"),
    ("concern_category", "category_id"),
)
"""The tables a new concern refers to (besides the importing user), and its columns that refer."""
USER_KEY_SHARE = "SELECT 1 FROM user_account WHERE id = %(user_id)s FOR KEY SHARE"
CHUNK_ROWS = 50_000
"""Rows checked in Python while PostgreSQL loads the previous chunk."""


def _raw(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


def _may_import(actor: Actor) -> frozenset[int] | None:
    """The agencies the actor may import for (None: every agency); AccessDenied if none."""
    if actor.has_role(Role.SYSTEM_ADMIN):
        return None
    if not can(actor, Permission.EDIT_PEOPLE):
        raise AccessDenied("Only practitioners, supervisors and system administrators may import concerns.")
    return frozenset({actor.agency_id})


def _checker(
    session: Session, actor: Actor, header: list[str], area: Area, rules: Sequence[Rule], now: datetime
) -> RowChecker:
    """A row checker for this header, with the agencies and active categories looked up once."""
    agencies = {
        code.lower(): agency_id for agency_id, code in session.execute(select(Agency.id, Agency.code))
    }
    categories = {
        code.lower(): category_id
        for category_id, code in session.execute(
            select(ConcernCategory.id, ConcernCategory.code).where(ConcernCategory.is_active.is_(True))
        )
    }
    return RowChecker(
        positions=_header(header),
        width=len(header),
        agencies=agencies,
        allowed_agencies=_may_import(actor),
        categories=categories,
        area=area,
        now=now,
        rules=rules,
    )


def _chunks(records: Iterator[tuple[int, list[str]]], checker: RowChecker) -> Iterator[tuple[int, list[Any]]]:
    """(rows read, good staging rows) for each chunk of the file."""
    read, good = 0, []
    for row, cells in records:
        if not cells:
            continue
        read += 1
        staged = checker.check(row, cells)
        if staged is not None:
            good.append(staged)
        if read == CHUNK_ROWS:
            yield read, good
            read, good = 0, []
    if read:
        yield read, good


@dataclass(slots=True)
class ChunkLoader:
    """Loads one chunk of checked rows at a time on the import's connection, in a savepoint."""

    connection: psycopg.Connection[Any]
    user_id: int
    area: Area
    problems: list[RowProblem] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """Added, updated, unchanged and flagged so far."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    bulk_keys: bool = False
    """Whether new concerns' keys are checked a table at a time (see `_insert`)."""
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
        """Create the temporary tables and mark where to roll back to if the import is refused."""
        for name, value in LOADER_SETTINGS:
            self.connection.execute(f"SET LOCAL {name} = {value}")
        self.bulk_keys = self.connection.execute(BULK_KEYS).fetchone() == (True,)
        self.connection.execute(f"DROP TABLE IF EXISTS {TEMP_NAMES}")
        self.connection.execute(TEMP_TABLES)
        self.connection.execute(DEFER_COUNTS)
        self.connection.execute("SAVEPOINT concern_import")

    def load(self, rows: list[Any], *, write: bool) -> None:
        """Stage and resolve a chunk; note its problems; write its good rows when told to."""
        with self._timed("copy"):
            self._stage(rows)
        with self._timed("look-ups"):
            found = self._resolve()
        self.problems += found
        if write:
            with self._timed("writing"):
                added = self._write({problem.row for problem in found})
            with self._timed("counting"):
                self.counter.add(added)

    def end(self, *, keep: bool) -> None:
        """Count what was added and keep it, or undo it all; then drop the temporary tables."""
        if keep:
            with self._timed("counting"):
                self.counter.finish()
        self.connection.execute(
            "RELEASE SAVEPOINT concern_import" if keep else "ROLLBACK TO SAVEPOINT concern_import"
        )
        self.connection.execute(COUNT_NOW)
        self.connection.execute(f"DROP TABLE {TEMP_NAMES}")
        for name, _ in LOADER_SETTINGS:
            self.connection.execute(f"RESET {name}")

    def _stage(self, rows: list[Any]) -> None:
        """COPY the chunk's rows into the staging table."""
        self.connection.execute("TRUNCATE concern_import_staging, concern_import_row")
        columns = ", ".join(STAGING_COLUMNS)
        copying = f"COPY concern_import_staging ({columns}) FROM STDIN"
        with self.connection.cursor() as cursor, cursor.copy(copying) as copy:
            for row in rows:
                copy.write_row(row)

    def _resolve(self) -> list[RowProblem]:
        """Join the chunk to young people, places, earlier rows and earlier imports; its problems."""
        self.connection.execute(SEEN)
        self.connection.execute(RESOLVE)
        area = self.area
        bounds = {
            "min_lon": area.min_longitude,
            "max_lon": area.max_longitude,
            "min_lat": area.min_latitude,
            "max_lat": area.max_latitude,
        }
        found = self.connection.execute(PROBLEMS, bounds).fetchall()
        return [RowProblem(int(row), str(column), str(problem)) for row, column, problem in found]

    def _write(self, bad_rows: set[int]) -> list[lattice.AddedConcern]:
        """Drop the bad rows, update changed concerns and add new ones; the new ones, to be counted."""
        if bad_rows:
            self.connection.execute(
                "DELETE FROM concern_import_row WHERE row_number = ANY(%(rows)s)", {"rows": sorted(bad_rows)}
            )
        parameters = {"user_id": self.user_id}
        matched = updated = update_flags = 0
        if self.connection.execute(MATCHED).fetchone():
            matched, updated, update_flags = self.connection.execute(UPDATE, parameters).fetchone() or (
                0,
                0,
                0,
            )
        added = self._insert(parameters)
        new_flags = self.connection.execute(NEW_FLAGS, parameters).rowcount
        for index, value in enumerate(
            (len(added), updated, int(matched) - int(updated), int(update_flags) + new_flags)
        ):
            self.counts[index] += int(value)
        return added

    def _insert(self, parameters: dict[str, Any]) -> list[lattice.AddedConcern]:
        """Add the new concerns; what counting them needs.

        With the privilege (see BULK_KEYS), their keys are checked and locked a table at a time, as
        the foreign key triggers would one row at a time, and the triggers are skipped for this one
        statement (replica mode; constraints and indexes still apply). The hotspot trigger it also
        skips is deferred for the import anyway.
        """
        if not self.bulk_keys:
            return self.connection.execute(INSERT, parameters).fetchall()
        self._hold_keys(parameters)
        self.connection.execute("SET LOCAL session_replication_role = replica")
        added = self.connection.execute(INSERT, parameters).fetchall()
        self.connection.execute("SET LOCAL session_replication_role = origin")
        return added

    def _hold_keys(self, parameters: dict[str, Any]) -> None:
        """Lock what the chunk's new concerns refer to; ConcernFileError if any of it has gone."""
        missing = 0 if self.connection.execute(USER_KEY_SHARE, parameters).fetchone() else 1
        for table, column in CONCERN_KEYS:
            found = self.connection.execute(KEY_SHARE.format(table=table, column=column)).fetchone()
            missing += int(found[0]) if found else 0
        if missing:
            raise ConcernFileError(
                "A young person, place, agency, category or user the file refers to was removed "
                "while it was imported: nothing was imported. Import the file again."
            )


def _load(
    records: Iterator[tuple[int, list[str]]],
    checker: RowChecker,
    loader: ChunkLoader,
    skip_invalid: bool,
    progress: ImportProgress,
) -> int:
    """Check chunks in this thread while the loader's thread loads the one before; rows read.

    The loader's thread spends its time waiting on PostgreSQL (which frees the interpreter), so the
    checking of one chunk and the loading of the previous run side by side.
    """
    rows = 0
    checking = 0.0
    chunks = _chunks(records, checker)
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending: Future[None] | None = None
        while True:
            started = clock.perf_counter()
            chunk = next(chunks, None)
            checking += clock.perf_counter() - started
            if chunk is None:
                break
            read, good = chunk
            if pending is not None:
                pending.result()
                progress.advance(CHUNK_ROWS)
            rows += read
            write = skip_invalid or not (checker.problems or loader.problems)
            pending = worker.submit(loader.load, good, write=write)
        if pending is not None:
            pending.result()
            progress.advance(rows % CHUNK_ROWS or CHUNK_ROWS)
    loader.phase_seconds[CHECKING_PHASE] = checking
    return rows


CHECKING_PHASE = "reading and checking (beside the database)"
IMPORT_PHASES = ("copy", "look-ups", "writing", "counting", CHECKING_PHASE)
"""The phases a report times, as `ConcernImportReport.phase_seconds` names them."""


def _record(
    session: Session, actor: Actor, origin: RequestOrigin, report: ConcernImportReport, skip_invalid: bool
) -> int:
    """Keep the import's record and write its one audit event; the record's id."""
    entry = ConcernImport(
        agency_id=actor.agency_id,
        imported_by_id=actor.user_id,
        file_name=report.file_name[:255],
        skip_invalid=skip_invalid,
        rows_read=report.rows,
        rows_loaded=report.loaded,
        rows_updated=report.updated,
        rows_unchanged=report.unchanged,
        rows_rejected=report.rejected,
    )
    session.add(entry)
    session.flush()
    record_event(
        session=session,
        action=AuditAction.CREATE,
        actor=actor,
        origin=origin,
        object_type="concern_import",
        object_id=entry.id,
        reason=(
            f"Concern import: {report.loaded} added, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.rejected} rejected"
        ),
    )
    return entry.id


def import_concerns(
    *,
    session: Session,
    lines: Iterable[str],
    file_name: str,
    actor: Actor,
    origin: RequestOrigin,
    area: Area,
    rules: Sequence[Rule] = (),
    skip_invalid: bool = False,
    progress: ImportProgress | None = None,
    expected_rows: int = 0,
    now: datetime | None = None,
) -> ConcernImportReport:
    """Check every row of a concerns CSV, then load all of them, only the valid ones, or nothing.

    `lines` is the file's text (e.g. an open file); nothing is committed here. With problems and no
    `skip_invalid`, the report lists them and nothing is written. ConcernFileError if the file as a
    whole cannot be read; AccessDenied if the actor may not import concerns.
    """
    started = clock.perf_counter()
    report = ConcernImportReport(file_name=file_name)
    shown = progress or _Quiet()
    records = _records(lines)
    first = next(records, None)
    if first is None:
        raise ConcernFileError("The file is empty.")
    checker = _checker(session, actor, first[1], area, rules, now or datetime.now(UTC))
    loader = ChunkLoader(connection=_raw(session), user_id=actor.user_id, area=area)
    loader.begin()
    shown.phase("Importing rows", expected_rows)
    report.rows = _load(records, checker, loader, skip_invalid, shown)
    report.problems = sorted(checker.problems + loader.problems, key=lambda problem: problem.row)
    report.rejected = len({problem.row for problem in report.problems})
    report.written = skip_invalid or not report.problems
    if report.written:
        shown.phase("Counting for hotspot maps", 1)
    loader.end(keep=report.written)
    if report.written:
        report.loaded, report.updated, report.unchanged, report.flagged = loader.counts
        report.import_id = _record(session, actor, origin, report, skip_invalid)
    report.seconds = clock.perf_counter() - started
    report.phase_seconds = dict(loader.phase_seconds)
    shown.finish(_closing_line(report))
    return report


def _closing_line(report: ConcernImportReport) -> str:
    """One line for the end of the progress display."""
    if not report.written:
        return f"Checked {report.rows:,} rows in {report.seconds:.1f} s: nothing imported."
    return f"Imported {report.file_name} in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)."


def count_lines(path: Path) -> int:
    """Lines in a file, quickly (a progress bar's total: quoted line breaks make it an over-estimate)."""
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
    return max(total - 1, 0)


def import_concerns_file(*, path: Path, **options: Any) -> ConcernImportReport:
    """Import a concerns CSV file from disk (see `import_concerns` for the options)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return import_concerns(lines=handle, file_name=path.name, expected_rows=count_lines(path), **options)
