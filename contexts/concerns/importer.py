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

How it runs: the file is streamed through the csv module and each row is checked in Python, a chunk
at a time: its formats, and its young person, place and external id against the agencies, categories,
young people and places read once at the start and the rows before it in the file. While the next
chunk is checked, a second thread loads the last one on the import's connection (it waits on
PostgreSQL, which frees the interpreter; see `contexts.concerns.import_loader`): PostGIS places the
rows, concerns imported before are matched by external id, changed ones are updated with their
revisions as an edit does, rows identical to what csmap holds are left alone, and new ones are copied
straight into concern. The import counts its new concerns for hotspot maps itself
(`contexts.concerns.lattice`): each chunk's facts as it is written, the lattice counts once, at the
end. All of it happens inside a savepoint: an import refused for bad rows is rolled back to it, so
nothing is written. The import is recorded (concern_import) with one audit event for the whole
run. Problems name the row (the header is row 1), the column and what is wrong; they never repeat a
cell's contents, so free text never reaches a report or a log.
"""

import csv
import math
import re
import sys
import time as clock
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from contexts import bulk
from contexts.access import Actor, Permission, Role, can, visible_to
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.import_loader import CheckedRow, Chunk, ChunkLoader, Found, RowProblem, prepare
from contexts.concerns.import_loader import ConcernFileError as ConcernFileError
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
from contexts.errors import AccessDenied
from contexts.language.checker import Rule, check_text
from contexts.young_people.models import YoungPerson
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
PARTNERSHIP, DAY, EXACT = Sensitivity.PARTNERSHIP.value, DatePrecision.DAY.value, DatePrecision.EXACT.value
UK = ZoneInfo("Europe/London")
"""The hotspot counts' days are UK days."""
NO_PERSON = "There is no young person with this local id in the recording agency"
PLACE = table("place", column("id"), column("external_ref"))
"""The places a row may name (mapping.places owns the model; contexts do not import mapping)."""
CHUNK_ROWS = 50_000
"""Rows checked in Python while PostgreSQL loads the previous chunk."""
Location = tuple[float | None, float | None, bool, str | None]
"""A row's x and y, whether they are easting and northing (else longitude and latitude), its place_ref."""
PLACE_ID = re.compile(r"[0-9]{1,9}")
"""A place_ref that may be a csmap place id."""


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
    """Checks each row's formats, young person, place and external id; notes every problem by column."""

    positions: dict[str, int]
    width: int
    agencies: dict[str, int]
    allowed_agencies: frozenset[int] | None
    categories: dict[str, int]
    people: dict[tuple[int, str], int]
    """Young people's ids by agency and local id."""
    places: dict[str, int]
    """Places' ids by external_ref."""
    place_ids: frozenset[int]
    area: Area
    now: datetime
    rules: Sequence[Rule]
    problems: list[RowProblem] = field(default_factory=list)
    first_rows: dict[tuple[int, str], int] = field(default_factory=dict)
    """The first good row of the file with each agency's external id."""
    pick: Callable[[list[str]], tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        """Prepare the picker of cells (absent columns read as empty)."""
        self.pick = itemgetter(*(self.positions.get(name, self.width) for name in FIELDS))

    def _bad(self, row: int, column: str, problem: str) -> None:
        """Note a problem."""
        self.problems.append(RowProblem(row, column, problem))

    def check(self, row: int, cells: list[str]) -> CheckedRow | None:
        """The checked row for a good row; None (with its problems noted) for a bad one."""
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
        context_value, kind_value = self._choice(row, "context", context), self._choice(row, "kind", kind)
        grading = self._grading(row, evaluation, assessment, handling)
        shared = self._choice(row, "sensitivity", sensitivity) or PARTNERSHIP
        category_id = self._category(row, category)
        self._texts(row, summary, detail)
        where = self._location(row, longitude, latitude, easting, northing, place_ref)
        if (
            len(self.problems) > before
            or when is None
            or where is None
            or agency_id is None
            or category_id is None
            or context_value is None
            or kind_value is None
        ):
            return None
        known = self._known(row, agency_id, external_id, person, where[3])
        if known is None:
            return None
        moment, precision_value = when
        return CheckedRow(
            row, agency_id, external_id, known[0], moment, moment.astimezone(UK).date(), precision_value,
            context_value, kind_value, category_id, summary, detail or None, known[1], where[0], where[1],
            where[2], grading[0], grading[1], grading[2], shared,
            self._flagged(summary, detail) if self.rules else 0,
        )  # fmt: skip

    def _known(
        self, row: int, agency_id: int, external_id: str, person: str, place_ref: str | None
    ) -> tuple[int, int | None] | None:
        """The young person's and place's ids, for a row whose external id is new to the file."""
        first = self.first_rows.setdefault((agency_id, external_id), row)
        if first != row:
            self._bad(row, "external_id", f"The same source_agency and external_id are on row {first}")
        person_id = self.people.get((agency_id, person))
        if person_id is None:
            self._bad(row, "young_person_ref", NO_PERSON)
        place_id = None
        if place_ref is not None:
            place_id = self.places.get(place_ref)
            if place_id is None and PLACE_ID.fullmatch(place_ref) and int(place_ref) in self.place_ids:
                place_id = int(place_ref)
            if place_id is None:
                self._bad(row, "place_ref", "There is no place with this reference")
        if first != row or person_id is None or (place_ref is not None and place_id is None):
            return None
        return person_id, place_id

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

    def _when(self, row: int, text: str, precision: str) -> tuple[datetime, str] | None:
        """When it happened (UTC if no offset) and how exactly; never in the future."""
        moment, implied = _moment(text)
        if moment is None:
            self._bad(row, "occurred_at", "Enter an ISO 8601 date (2026-03-01) or date and time")
            return None
        if moment > self.now:
            self._bad(row, "occurred_at", "When it happened cannot be in the future")
            return None
        chosen = self._choice(row, "occurred_precision", precision) or implied
        if chosen == EXACT and implied == DAY:
            self._bad(row, "occurred_precision", "A date without a time cannot be exact")
        return moment, chosen

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
    ) -> Location | None:
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
            return None, None, False, place_ref
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

    def _lon_lat(self, row: int, longitude: float | None, latitude: float | None) -> Location | None:
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
        return longitude, latitude, False, None

    def _grid(self, row: int, easting: float | None, northing: float | None) -> Location | None:
        """A British National Grid position on the grid (the area is checked after converting it)."""
        if easting is None or northing is None:
            return None
        if not (0 <= easting <= GRID_LIMITS[0] and 0 <= northing <= GRID_LIMITS[1]):
            self._bad(row, "easting", "An easting runs 0 to 700000 and a northing 0 to 1300000 (metres)")
            return None
        return easting, northing, True, None

    def _flagged(self, summary: str, detail: str) -> int:
        """How many phrases the language rules flag in the two texts."""
        return len(check_text(summary, self.rules)) + len(check_text(detail, self.rules))


def _moment(text: str) -> tuple[datetime | None, str]:
    """An ISO 8601 date or date-time as an aware datetime, and the precision it implies."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC), DAY
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, EXACT


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
    """A row checker for this header, with agencies, categories, young people and places looked up once."""
    allowed = _may_import(actor)
    agencies = {
        code.lower(): agency_id for agency_id, code in session.execute(select(Agency.id, Agency.code))
    }
    categories = {
        code.lower(): category_id
        for category_id, code in session.execute(
            select(ConcernCategory.id, ConcernCategory.code).where(ConcernCategory.is_active.is_(True))
        )
    }
    people = select(YoungPerson.agency_id, YoungPerson.local_id, YoungPerson.id).where(
        YoungPerson.local_id.is_not(None)
    )
    if allowed is not None:  # a system administrator imports for any agency
        people = people.where(
            visible_to(actor, YoungPerson.agency_id), YoungPerson.agency_id.in_(sorted(allowed))
        )
    places = session.execute(select(PLACE.c.id, PLACE.c.external_ref)).all()
    return RowChecker(
        positions=_header(header),
        width=len(header),
        agencies=agencies,
        allowed_agencies=allowed,
        categories=categories,
        people={(agency_id, str(ref)): person for agency_id, ref, person in session.execute(people)},
        places={ref: place_id for place_id, ref in places if ref is not None},
        place_ids=frozenset(place_id for place_id, _ in places),
        area=area,
        now=now,
        rules=rules,
    )


def _chunks(
    records: Iterator[tuple[int, list[str]]], checker: RowChecker
) -> Iterator[tuple[int, list[CheckedRow]]]:
    """(rows read, good rows) for each chunk of the file."""
    read, good = 0, []
    for row, cells in records:
        if not cells:
            continue
        read += 1
        checked = checker.check(row, cells)
        if checked is not None:
            good.append(checked)
        if read == CHUNK_ROWS:
            yield read, good
            read, good = 0, []
    if read:
        yield read, good


def _load(
    records: Iterator[tuple[int, list[str]]],
    checker: RowChecker,
    loader: ChunkLoader,
    progress: ImportProgress,
) -> int:
    """Check and plan chunks on this thread while the loader's thread looks up and writes; rows read.

    The loader's thread spends its time waiting on PostgreSQL (which frees the interpreter). While it
    looks up chunk k + 1 and writes chunk k, this thread checks chunk k + 2; then it plans chunk k + 1
    from its look-ups, in Python, while the loader looks up chunk k + 2.
    """
    rows = 0
    busy = 0.0
    chunks = _chunks(records, checker)
    writes: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=1) as worker:
        waiting: tuple[Chunk, int, Future[Found]] | None = None
        while True:
            started = clock.perf_counter()
            checked = next(chunks, None)
            ahead = None
            if checked is not None:
                rows += checked[0]
                chunk = prepare(checked[1])
                ahead = (chunk, checked[0], worker.submit(loader.look_up, chunk))
            busy += clock.perf_counter() - started
            if waiting is not None:
                busy += _plan(waiting, checker, loader, worker, writes)
                progress.advance(waiting[1])
            if ahead is None:
                break
            waiting = ahead
        if loader.skip_invalid or not (checker.problems or loader.problems):
            started = clock.perf_counter()
            loader.count_ahead()
            busy += clock.perf_counter() - started
        _first_failure(writes)
    loader.phase_seconds[CHECKING_PHASE] = busy
    return rows


@contextmanager
def _quick_hand_over() -> Iterator[None]:
    """Let threads take turns every tenth of a millisecond while an import runs (then as before).

    The loading thread wakes each time PostgreSQL answers and needs the interpreter for a moment;
    at the default 5 ms it would often wait that long for the checking thread to let go, with the
    database idle meanwhile.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(HAND_OVER_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


HAND_OVER_SECONDS = 0.0001


def _plan(
    waiting: tuple[Chunk, int, Future[Found]],
    checker: RowChecker,
    loader: ChunkLoader,
    worker: ThreadPoolExecutor,
    writes: list[Future[None]],
) -> float:
    """Plan a looked-up chunk and queue its writes; the seconds planning took on this thread."""
    chunk, _, looking = waiting
    try:
        found = looking.result()
    except Exception:
        _first_failure(writes)
        raise
    started = clock.perf_counter()
    batch = loader.plan(chunk, found, write=loader.skip_invalid or not checker.problems)
    if batch is not None:
        writes.append(worker.submit(loader.write, batch))
    return clock.perf_counter() - started


def _first_failure(writes: list[Future[None]]) -> None:
    """Raise the first queued write's failure, if any (a later statement fails only because of it)."""
    for done in writes:
        done.result()


CHECKING_PHASE = "reading, checking and planning (beside the database)"
IMPORT_PHASES = ("look-ups", "writing", "counting", CHECKING_PHASE)
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
    loader = ChunkLoader(
        connection=bulk.raw_connection(session), user_id=actor.user_id, area=area, skip_invalid=skip_invalid
    )
    loader.begin()
    shown.phase("Importing rows", expected_rows)
    with _quick_hand_over():
        report.rows = _load(records, checker, loader, shown)
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
