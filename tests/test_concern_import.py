"""Importing concerns from a partner's CSV: every row checked first, a report naming each bad row (never
its text), all or nothing unless told to skip bad rows, updates by (agency, external_id) with revisions,
one audit event per import, and the `csmap import concerns` command."""

import csv
import io
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from geoalchemy2 import WKTElement
from numpy.typing import NDArray
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from contexts import bulk
from contexts.access import Actor, Role
from contexts.accounts.models import User
from contexts.accounts.service import actor_for
from contexts.agencies.models import Agency, AgencyKind
from contexts.audit.models import AuditEvent
from contexts.audit.service import RequestOrigin
from contexts.concerns import import_loader, importer, lattice
from contexts.concerns.import_loader import CheckedRow, ChunkLoader, prepare
from contexts.concerns.importer import ConcernFileError, ConcernImportReport, import_concerns
from contexts.concerns.models import Concern, ConcernCategory, ConcernImport, ConcernRevision
from contexts.errors import AccessDenied
from contexts.language.checker import load_rules
from contexts.language.models import LanguageFlagCount
from contexts.young_people.models import YoungPerson
from contexts.young_people.service import Area
from mapping.places.models import Place
from tests.conftest import Database, World, make_agency, make_user, password_hash, rolled_back_session
from tests.test_demo_and_cli import run_cli

AREA = Area(-6.5, 49.8, 2.0, 55.9)
ORIGIN = RequestOrigin(request_id="test-concern-import")
MARKER = "Zebra-Quartz-7731"
HEADER = (
    "external_id,source_agency,young_person_ref,occurred_at,context,kind,category,summary,detail,"
    "longitude,latitude,easting,northing,place_ref,source_evaluation,intelligence_assessment,handling_code\n"
)


def line(ext: str, **cells: str) -> str:
    """One CSV row: a good row at a longitude and latitude unless cells say otherwise."""
    row = {
        "external_id": ext,
        "source_agency": "first",
        "young_person_ref": "YP-1",
        "occurred_at": "2026-03-01T16:30:00+00:00",
        "context": "neighbourhood",
        "kind": "risk",
        "category": "hotspot",
        "summary": "Seen at the station with older adults",
        "detail": "",
        "longitude": "-1.5123",
        "latitude": "52.4081",
        "easting": "",
        "northing": "",
        "place_ref": "",
        "source_evaluation": "",
        "intelligence_assessment": "",
        "handling_code": "",
    }
    row.update(cells)
    return ",".join(row.values()) + "\n"


GRID = {"longitude": "", "latitude": "", "easting": "433500", "northing": "279000"}
AT_PLACE = {"longitude": "", "latitude": "", "place_ref": "PL-STATION"}
GOOD = (
    HEADER
    + line("EXT-1", detail="Carer told us the next day", source_evaluation="2").replace(",2,,\n", ",2,B,C\n")
    + line("EXT-2", occurred_at="2026-02-14", context="school", kind="protective", **GRID)
    + line("EXT-3", young_person_ref="YP-2", category="missing", kind="harm", **AT_PLACE)
)


@pytest.fixture(scope="module")
def owner_engine(test_database: Database) -> Iterator[Engine]:
    """Engine connected as the owner role, which may check new concerns' keys in bulk."""
    engine = create_engine(test_database.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["app role, keys checked row by row", "owner role, keys checked in bulk"])
def db_session(request: pytest.FixtureRequest, app_engine: Engine, owner_engine: Engine) -> Iterator[Session]:
    """Every test here runs as both roles: the web app's (foreign key triggers check each new concern)
    and the owner's, as `csmap import concerns` runs (keys checked and locked a table at a time)."""
    with rolled_back_session(owner_engine if request.param.startswith("owner") else app_engine) as session:
        yield session


@pytest.fixture
def people(db_session: Session, world: World) -> dict[str, YoungPerson]:
    """Two young people of the first agency and one of the second, with local ids."""
    made = {
        ref: YoungPerson(
            agency_id=agency.id,
            given_name="Test",
            family_name=ref,
            date_of_birth=datetime(2010, 5, 1, tzinfo=UTC).date(),
            local_id=ref,
        )
        for ref, agency in (("YP-1", world.agency), ("YP-2", world.agency), ("YP-9", world.other_agency))
    }
    db_session.add_all(made.values())
    db_session.add(
        Place(name="Test station", place_type="station", geom=WKTElement("POINT(-1.51 52.41)", srid=4326),
              external_ref="PL-STATION")
    )  # fmt: skip
    db_session.flush()
    return made


def practitioner(world: World) -> Actor:
    """The first agency's practitioner."""
    return actor_for(world.users[Role.PRACTITIONER])


def run(session: Session, actor: Actor, text: str, **options: Any) -> ConcernImportReport:
    """Import a CSV given as text."""
    return import_concerns(
        session=session,
        lines=io.StringIO(text, newline=""),
        file_name="partner.csv",
        actor=actor,
        origin=ORIGIN,
        area=AREA,
        **options,
    )


def imported(session: Session, prefix: str = "EXT-") -> dict[str, Concern]:
    """Concerns with external ids starting with the prefix, by external id."""
    rows = session.scalars(select(Concern).where(Concern.external_id.like(f"{prefix}%")))
    return {concern.external_id or "": concern for concern in rows}


def position(session: Session, concern: Concern) -> tuple[float, float] | None:
    """A concern's longitude and latitude, if it has a point."""
    if concern.point is None:
        return None
    row = session.execute(
        select(func.ST_X(Concern.point), func.ST_Y(Concern.point)).where(Concern.id == concern.id)
    ).one()
    return float(row[0]), float(row[1])


def test_a_good_file_loads_every_row_with_each_form_of_location(
    db_session: Session, world: World, people: dict[str, YoungPerson]
) -> None:
    actor = practitioner(world)
    report = run(db_session, actor, GOOD)
    assert (report.rows, report.loaded, report.updated, report.unchanged, report.rejected) == (3, 3, 0, 0, 0)
    assert report.written
    assert report.problems == []
    assert report.import_id is not None
    assert set(report.phase_seconds) == set(importer.IMPORT_PHASES)
    assert 0 < sum(report.phase_seconds.values()) <= 2 * report.seconds
    loaded = imported(db_session)
    first, second, third = loaded["EXT-1"], loaded["EXT-2"], loaded["EXT-3"]
    assert first.young_person_id == people["YP-1"].id
    assert third.young_person_id == people["YP-2"].id
    assert {c.agency_id for c in loaded.values()} == {world.agency.id}
    assert {c.recorded_by_id for c in loaded.values()} == {actor.user_id}
    assert {c.version for c in loaded.values()} == {1}
    assert first.occurred_at == datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert first.occurred_precision == "exact"
    assert second.occurred_precision == "day"
    assert second.occurred_at == datetime(2026, 2, 14, tzinfo=UTC)
    assert (first.context, first.kind, second.context, second.kind) == (
        "neighbourhood",
        "risk",
        "school",
        "protective",
    )
    codes = {row.id: row.code for row in db_session.execute(select(ConcernCategory.id, ConcernCategory.code))}
    assert (codes[first.category_id], codes[third.category_id]) == ("hotspot", "missing")
    assert first.detail == "Carer told us the next day"
    assert second.detail is None
    assert (first.source_evaluation, first.intelligence_assessment, first.handling_code) == ("2", "B", "C")
    assert second.source_evaluation is None
    assert first.sensitivity == "partnership"
    assert position(db_session, first) == (-1.5123, 52.4081)
    grid = position(db_session, second)
    assert grid is not None
    assert -1.52 < grid[0] < -1.50
    assert 52.40 < grid[1] < 52.42
    assert position(db_session, third) is None
    assert third.place_id == db_session.scalar(select(Place.id).where(Place.external_ref == "PL-STATION"))


def test_a_place_can_be_named_by_its_csmap_id(db_session: Session, world: World, people: Any) -> None:
    place_id = db_session.scalar(select(Place.id).where(Place.external_ref == "PL-STATION"))
    report = run(
        db_session, practitioner(world), HEADER + line("EXT-P", **{**AT_PLACE, "place_ref": str(place_id)})
    )
    assert report.loaded == 1
    assert imported(db_session)["EXT-P"].place_id == place_id


def test_importing_the_same_file_again_changes_nothing(
    db_session: Session, world: World, people: Any
) -> None:
    actor = practitioner(world)
    run(db_session, actor, GOOD)
    before = {ext: (c.id, c.version, c.updated_at) for ext, c in imported(db_session).items()}
    db_session.expire_all()
    again = run(db_session, actor, GOOD)
    assert (again.rows, again.loaded, again.updated, again.unchanged, again.rejected) == (3, 0, 0, 3, 0)
    db_session.expire_all()
    after = {ext: (c.id, c.version, c.updated_at) for ext, c in imported(db_session).items()}
    assert after == before
    ids = [concern_id for concern_id, _, _ in before.values()]
    assert db_session.scalar(select(func.count()).where(ConcernRevision.concern_id.in_(ids))) == 0


def test_a_changed_row_updates_the_concern_with_a_revision_as_an_edit_does(
    db_session: Session, world: World, people: Any
) -> None:
    actor = practitioner(world)
    run(db_session, actor, GOOD)
    changed = GOOD.replace(
        "Seen at the station with older adults,Carer", "Seen at the bus station,Carer"
    ).replace("EXT-2,first,YP-1,2026-02-14,school", "EXT-2,first,YP-1,2026-02-14,peer_group")
    assert changed != GOOD
    db_session.expire_all()
    report = run(db_session, actor, changed)
    assert (report.loaded, report.updated, report.unchanged) == (0, 2, 1)
    db_session.expire_all()
    loaded = imported(db_session)
    assert loaded["EXT-1"].summary == "Seen at the bus station"
    assert loaded["EXT-1"].version == 2
    assert loaded["EXT-2"].context == "peer_group"
    assert loaded["EXT-2"].version == 2
    assert loaded["EXT-3"].version == 1
    revisions = {
        r.concern_id: r for r in db_session.scalars(select(ConcernRevision).where(
            ConcernRevision.concern_id.in_([c.id for c in loaded.values()])))
    }  # fmt: skip
    first = revisions[loaded["EXT-1"].id]
    assert first.version == 2
    assert first.changed_by_id == actor.user_id
    assert first.changes == {"summary": ["Seen at the station with older adults", "Seen at the bus station"]}
    assert revisions[loaded["EXT-2"].id].changes == {"context": ["school", "peer_group"]}
    assert loaded["EXT-3"].id not in revisions


def test_a_moved_location_is_an_update_with_both_coordinates_in_the_revision(
    db_session: Session, world: World, people: Any
) -> None:
    actor = practitioner(world)
    run(db_session, actor, HEADER + line("EXT-M"))
    db_session.expire_all()
    report = run(db_session, actor, HEADER + line("EXT-M", longitude="-1.5000"))
    assert report.updated == 1
    concern = imported(db_session)["EXT-M"]
    revision = db_session.scalar(select(ConcernRevision).where(ConcernRevision.concern_id == concern.id))
    assert revision is not None
    assert revision.changes == {"longitude": [-1.5123, -1.5], "latitude": [52.4081, 52.4081]}


BAD_ROWS: list[tuple[str, str, dict[str, str]]] = [
    ("future", "occurred_at", {"occurred_at": (datetime.now(UTC) + timedelta(days=2)).date().isoformat()}),
    ("not-a-date", "occurred_at", {"occurred_at": "01/03/2026"}),
    ("context", "context", {"context": "street"}),
    ("kind", "kind", {"kind": "worry"}),
    ("category", "category", {"category": "no-such-code"}),
    ("agency", "source_agency", {"source_agency": "nowhere"}),
    ("other-agency", "source_agency", {"source_agency": "second", "young_person_ref": "YP-9"}),
    ("person", "young_person_ref", {"young_person_ref": "YP-404"}),
    ("place", "place_ref", {**AT_PLACE, "place_ref": "PL-NOWHERE"}),
    ("paris", "longitude", {"longitude": "2.35", "latitude": "48.85"}),
    ("grid-north", "easting", {**GRID, "easting": "100000", "northing": "1200000"}),
    ("grid-off", "easting", {**GRID, "easting": "-5"}),
    ("both", "location", {"place_ref": "PL-STATION"}),
    ("neither", "location", {"longitude": "", "latitude": ""}),
    ("half", "latitude", {"latitude": "north"}),
    ("long-summary", "summary", {"summary": MARKER + "x" * 200}),
    ("long-detail", "detail", {"detail": MARKER + "y" * 10_000}),
    ("empty-summary", "summary", {"summary": ""}),
    ("grading", "source_evaluation", {"source_evaluation": "1"}),
    (
        "sensitivity",
        "sensitivity",
        {"source_evaluation": "4", "intelligence_assessment": "A", "handling_code": "P"},
    ),
    ("", "external_id", {}),
]
"""(external_id, the column the problem names, cells): each row breaks one rule."""


def bad_file() -> tuple[str, set[tuple[int, str]]]:
    """A file of a good row, every kind of bad row, a duplicate id and a short row; the expected problems."""
    text = HEADER + line("EXT-GOOD", summary=f"Good row {MARKER}")
    expected: set[tuple[int, str]] = set()
    for index, (ext, column, cells) in enumerate(BAD_ROWS, start=3):
        text += line(ext, **{"summary": f"Bad row {MARKER}", **cells})
        expected.add((index, "source_evaluation" if ext == "sensitivity" else column))
    row = len(BAD_ROWS) + 3
    text += line("EXT-GOOD", summary=f"Again {MARKER}") + f"EXT-SHORT,first,{MARKER}\n"
    expected |= {(row, "external_id"), (row + 1, "row")}
    return text, expected


def test_bad_rows_load_nothing_and_the_report_names_each_row_and_column(
    db_session: Session, world: World, people: Any
) -> None:
    text, expected = bad_file()
    before = db_session.scalar(select(func.count()).select_from(Concern))
    report = run(db_session, practitioner(world), text)
    assert not report.written
    assert report.import_id is None
    assert "counting" not in report.phase_seconds
    assert "writing" not in report.phase_seconds
    assert {(problem.row, problem.column) for problem in report.problems} == expected
    assert report.rejected == len(expected)
    assert report.rows == len(BAD_ROWS) + 3
    assert db_session.scalar(select(func.count()).select_from(Concern)) == before
    assert db_session.scalar(select(func.count()).select_from(ConcernImport)) == 0
    assert all(MARKER not in str(problem) for problem in report.problems)


def test_skip_invalid_loads_the_good_rows_and_reports_the_rest(
    db_session: Session, world: World, people: Any
) -> None:
    text, expected = bad_file()
    report = run(db_session, practitioner(world), text, skip_invalid=True)
    assert report.written
    assert (report.loaded, report.rejected) == (1, len(expected))
    assert {(problem.row, problem.column) for problem in report.problems} == expected
    assert list(imported(db_session)) == ["EXT-GOOD"]
    assert imported(db_session)["EXT-GOOD"].summary == f"Good row {MARKER}"
    record = db_session.get(ConcernImport, report.import_id)
    assert record is not None
    assert (record.rows_read, record.rows_loaded, record.rows_rejected, record.skip_invalid) == (
        len(BAD_ROWS) + 3,
        1,
        len(expected),
        True,
    )


def test_precision_can_be_given_but_a_date_alone_is_never_exact(
    db_session: Session, world: World, people: Any
) -> None:
    header = HEADER.replace("\n", ",occurred_precision\n")
    text = header + "".join(
        line(ext, occurred_at=when).replace("\n", f",{precision}\n")
        for ext, when, precision in (
            ("EXT-MONTH", "2026-03-01", "month"),
            ("EXT-EXACT", "2026-03-01", "exact"),
            ("EXT-ODD", "2026-03-01T10:00:00", "fortnight"),
        )
    )
    report = run(db_session, practitioner(world), text, skip_invalid=True)
    assert [(p.row, p.column) for p in report.problems] == [
        (3, "occurred_precision"),
        (4, "occurred_precision"),
    ]
    assert imported(db_session)["EXT-MONTH"].occurred_precision == "month"


def test_a_file_loaded_in_chunks_is_still_all_or_nothing_and_finds_duplicates_across_chunks(
    db_session: Session, world: World, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    good = [line(f"EXT-K{index}") for index in range(5)]
    late_problem = HEADER + "".join(good) + line("EXT-K9", young_person_ref="YP-404")
    refused = run(db_session, practitioner(world), late_problem)
    assert [(p.row, p.column) for p in refused.problems] == [(7, "young_person_ref")]
    assert not refused.written
    assert imported(db_session, "EXT-K") == {}
    repeated = HEADER + "".join(good) + line("EXT-K1")
    report = run(db_session, practitioner(world), repeated, skip_invalid=True)
    assert [(p.row, p.column, p.problem) for p in report.problems] == [
        (7, "external_id", "The same source_agency and external_id are on row 3")
    ]
    assert (report.rows, report.loaded, report.rejected) == (6, 5, 1)
    assert sorted(imported(db_session, "EXT-K")) == [f"EXT-K{index}" for index in range(5)]


def test_an_external_id_already_held_for_another_young_person_is_refused(
    db_session: Session, world: World, people: Any
) -> None:
    actor = practitioner(world)
    run(db_session, actor, HEADER + line("EXT-X"))
    report = run(db_session, actor, HEADER + line("EXT-X", young_person_ref="YP-2"))
    assert [(p.row, p.column) for p in report.problems] == [(2, "young_person_ref")]
    assert imported(db_session)["EXT-X"].young_person_id == people["YP-1"].id


def test_each_import_writes_one_audit_event_and_a_record(
    db_session: Session, world: World, people: Any
) -> None:
    actor = practitioner(world)
    report = run(db_session, actor, GOOD)
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.request_id == ORIGIN.request_id)))
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("create", "concern_import", str(report.import_id))
    ]
    assert events[0].actor_user_id == actor.user_id
    assert MARKER not in (events[0].reason or "")
    record = db_session.get(ConcernImport, report.import_id)
    assert record is not None
    assert (record.imported_by_id, record.agency_id, record.file_name, record.rows_loaded) == (
        actor.user_id,
        world.agency.id,
        "partner.csv",
        3,
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("external_id,source_agency\nEXT-1,first\n", "no young_person_ref, occurred_at"),
        (HEADER.replace("longitude,latitude,easting,northing,place_ref", "a,b,c,d,e"), "needs longitude"),
        (HEADER.replace("latitude", "lat"), "longitude column without latitude"),
        (HEADER.replace("summary", "kind"), "twice"),
        (HEADER + 'EXT-1,first,"YP-1"x,2026-03-01\n', "cannot be read at row 2"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(
    db_session: Session, world: World, text: str, words: str
) -> None:
    with pytest.raises(ConcernFileError, match=words):
        run(db_session, practitioner(world), text)


def test_only_people_who_record_concerns_may_import(db_session: Session, world: World, people: Any) -> None:
    with pytest.raises(AccessDenied):
        run(db_session, actor_for(world.users[Role.ANALYST]), GOOD)


def test_a_system_administrator_may_import_for_any_agency(
    db_session: Session, world: World, people: Any
) -> None:
    admin = actor_for(world.users[Role.SYSTEM_ADMIN])
    report = run(db_session, admin, HEADER + line("EXT-A", source_agency="second", young_person_ref="YP-9"))
    assert report.loaded == 1
    concern = imported(db_session)["EXT-A"]
    assert (concern.agency_id, concern.recorded_by_id) == (world.other_agency.id, admin.user_id)


def test_cells_are_read_in_any_case_with_spaces_trimmed(
    db_session: Session, world: World, people: Any
) -> None:
    text = HEADER.upper().replace("EXTERNAL_ID", " External_Id ") + line(
        " EXT-C ", context="Peer_Group", kind="RISK", category="HOTSPOT", source_agency="FIRST"
    )
    report = run(db_session, practitioner(world), text)
    assert report.loaded == 1, report.problems
    assert imported(db_session)["EXT-C"].context == "peer_group"


def test_flagged_wording_is_counted_for_supervisors_when_asked(
    db_session: Session, world: World, people: Any
) -> None:
    text = HEADER + line("EXT-W", summary="Reported that she absconded from placement") + line("EXT-N")
    report = run(db_session, practitioner(world), text, rules=load_rules())
    assert report.flagged == 1
    concern = imported(db_session)["EXT-W"]
    counts = list(
        db_session.scalars(select(LanguageFlagCount).where(LanguageFlagCount.record_id == concern.id))
    )
    assert [(c.record_type, c.flagged, c.agency_id) for c in counts] == [("concern", 1, world.agency.id)]
    unflagged = imported(db_session)["EXT-N"].id
    assert db_session.scalar(select(func.count()).where(LanguageFlagCount.record_id == unflagged)) == 0


# The command


def seed(database: Database) -> None:
    """An agency, a practitioner, an analyst and a young person, committed."""
    engine = create_engine(database.owner_url)
    with Session(engine) as session, session.begin():
        agency = Agency(code="first", name="First agency", kind=AgencyKind.CHILDRENS_SOCIAL_CARE)
        session.add(agency)
        session.flush()
        make_user(session, agency, "pat", Role.PRACTITIONER)
        session.add(User(username="ali", display_name="Ali", agency_id=agency.id, roles=["analyst"],
                         password_hash=password_hash()))  # fmt: skip
        session.add(
            YoungPerson(agency_id=agency.id, given_name="T", family_name="P", local_id="YP-1",
                        date_of_birth=datetime(2010, 1, 1, tzinfo=UTC).date())
        )  # fmt: skip
    engine.dispose()


def test_the_command_imports_all_or_nothing_and_never_prints_free_text(
    fresh_database: Database, tmp_path: Path
) -> None:
    seed(fresh_database)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + line("EXT-1") + line("EXT-2", category="nope", summary=MARKER, detail=MARKER))
    refused = run_cli(fresh_database, "import", "concerns", str(bad), "--as", "pat")
    assert refused.returncode == 1
    assert "row 3, category" in refused.stderr
    assert "Nothing imported" in refused.stderr
    report = tmp_path / "problems.csv"
    skipped = run_cli(
        fresh_database,
        "import",
        "concerns",
        str(bad),
        "--as",
        "pat",
        "--skip-invalid",
        "--report",
        str(report),
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "1 loaded, 0 updated, 0 unchanged, 1 rejected" in skipped.stderr
    assert report.read_text().splitlines()[1] == "3,category,There is no active category with this code"
    for output in (refused, skipped):
        assert MARKER not in output.stdout + output.stderr
    assert MARKER not in report.read_text()
    good = tmp_path / "good.csv"
    good.write_text(HEADER + line("EXT-1"))
    again = run_cli(fresh_database, "import", "concerns", str(good), "--as", "pat")
    assert again.returncode == 0
    assert "0 loaded, 0 updated, 1 unchanged" in again.stderr


def test_the_command_refuses_unknown_users_the_wrong_role_and_unreadable_files(
    fresh_database: Database, tmp_path: Path
) -> None:
    seed(fresh_database)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + line("EXT-1"))
    nobody = run_cli(fresh_database, "import", "concerns", str(good), "--as", "nobody")
    assert nobody.returncode == 2
    assert "no active user nobody" in nobody.stderr
    analyst = run_cli(fresh_database, "import", "concerns", str(good), "--as", "ali")
    assert analyst.returncode == 2
    assert "may import concerns" in analyst.stderr
    broken = tmp_path / "broken.csv"
    broken.write_bytes(HEADER.encode() + b"EXT-1,first,\xff\xfe\n")
    unreadable = run_cli(fresh_database, "import", "concerns", str(broken), "--as", "pat")
    assert unreadable.returncode == 2
    assert "not UTF-8" in unreadable.stderr
    missing = run_cli(fresh_database, "import", "concerns", str(good))
    assert missing.returncode == 2
    assert "--as" in missing.stderr
    shown = run_cli(fresh_database, "import", "concerns", "--help")
    for column in ("external_id", "young_person_ref", "easting, northing", "place_ref", "handling_code"):
        assert column in shown.stdout


def _aggregate(session: Session) -> tuple[list[Any], list[Any]]:
    """Every hotspot fact and lattice count, in key order."""
    facts = session.execute(text("SELECT * FROM hotspot_fact ORDER BY source, record_id")).all()
    cells = session.execute(
        text(
            "SELECT * FROM hotspot_cell_count WHERE "
            + " + ".join(f"abs(m{n:02d})" for n in range(1, 13))
            + " > 0 ORDER BY lattice, dimension, value, source, restricted_to, year, cx, cy"
        )
    ).all()
    return list(facts), list(cells)


def test_imported_concerns_are_counted_for_hotspot_maps_once_at_the_end(
    db_session: Session, world: World, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    actor = practitioner(world)
    rows = [line(f"EXT-H{index}", occurred_at=f"2026-0{1 + index % 3}-0{1 + index}") for index in range(5)]
    run(db_session, actor, HEADER + "".join(rows) + line("EXT-H9", **AT_PLACE))
    moved = line("EXT-H0", occurred_at="2026-01-01", longitude="-1.4", latitude="52.3")
    report = run(db_session, actor, HEADER + moved + line("EXT-H7"), skip_invalid=True)
    assert (report.loaded, report.updated) == (1, 1)
    counted = _aggregate(db_session)
    assert len(counted[0]) >= 7
    db_session.execute(text("SELECT hotspot_rebuild()"))
    assert _aggregate(db_session) == counted
    assert db_session.scalar(text("SELECT current_setting('csmap.hotspot_counts', true)")) == ""
    after = run(db_session, actor, HEADER + line("EXT-H8"))
    assert after.loaded == 1
    db_session.add(
        Concern(
            young_person_id=people["YP-1"].id,
            agency_id=world.agency.id,
            recorded_by_id=actor.user_id,
            occurred_at=datetime(2026, 3, 3, tzinfo=UTC),
            occurred_precision="day",
            context="home",
            kind="risk",
            category_id=imported(db_session)["EXT-H8"].category_id,
            summary="Recorded by hand after the import",
            point=WKTElement("POINT(-1.45 52.39)", srid=4326),
        )
    )
    db_session.flush()
    counted = _aggregate(db_session)
    db_session.execute(text("SELECT hotspot_rebuild()"))
    assert _aggregate(db_session) == counted


def test_a_refused_import_counts_nothing(db_session: Session, world: World, people: Any) -> None:
    before = _aggregate(db_session)
    refused = run(db_session, practitioner(world), HEADER + line("EXT-R1") + line("EXT-R2", context="attic"))
    assert not refused.written
    assert _aggregate(db_session) == before


def test_only_the_owner_role_checks_keys_in_bulk(app_engine: Engine, owner_engine: Engine) -> None:
    for engine, expected in ((app_engine, False), (owner_engine, True)):
        with Session(engine) as session, session.begin():
            loader = ChunkLoader(connection=bulk.raw_connection(session), user_id=0, area=AREA)
            loader.begin()
            assert loader.bulk_keys is expected
            loader.end(keep=False)


@pytest.mark.parametrize("role", ["app", "owner"])
def test_a_key_gone_before_the_chunk_is_written_refuses_the_import(
    role: str, app_engine: Engine, owner_engine: Engine
) -> None:
    with Session(owner_engine if role == "owner" else app_engine) as session, session.begin():
        agency = make_agency(session, "gone")
        user = make_user(session, agency, "gone-practitioner", Role.PRACTITIONER)
        category = session.scalars(select(func.min(ConcernCategory.id))).one()
        loader = ChunkLoader(connection=bulk.raw_connection(session), user_id=user.id, area=AREA)
        loader.begin()
        assert loader.bulk_keys is (role == "owner")
        gone = CheckedRow(
            2, agency.id, "EXT-G1", -1, datetime(2026, 3, 1, tzinfo=UTC), date(2026, 3, 1), "exact", "home",
            "risk", category, "Seen at the station", None, None, -1.5, 52.4, False, None, None, None,
            "partnership", 0,
        )  # fmt: skip
        with pytest.raises(ConcernFileError, match="was removed while it was imported"):
            loader.load(prepare([gone]), write=True)
        session.rollback()


TRICKY_IDS = ('EXT "quoted"', "EXT\\back\\slash", "EXT,comma", "{EXT}", "ÉXT-ü 1", "NULL")


def test_external_ids_with_quotes_backslashes_and_braces_are_matched_when_imported_again(
    db_session: Session, world: World, people: dict[str, YoungPerson]
) -> None:
    rows = [next(csv.reader([line(f"EXT-T{index}")])) for index in range(len(TRICKY_IDS))]
    for row, external_id in zip(rows, TRICKY_IDS, strict=True):
        row[0] = external_id
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    first = run(db_session, practitioner(world), HEADER + buffer.getvalue())
    assert (first.loaded, first.problems) == (len(TRICKY_IDS), [])
    assert set(TRICKY_IDS) <= set(imported(db_session, ""))
    again = run(db_session, practitioner(world), HEADER + buffer.getvalue())
    assert (again.loaded, again.updated, again.unchanged) == (0, 0, len(TRICKY_IDS))


def test_array_literals_read_back_exactly(db_session: Session) -> None:
    numbers = [0.1, -1.5123, 1e-300, 433500.123456789, 2.0**60 + 0.5, None]
    texts = [*TRICKY_IDS, "", " leading", "tab\there"]
    connection = bulk.raw_connection(db_session)
    found = connection.execute(
        "SELECT %(floats)s::float8[], %(ints)s::int[], %(texts)s::text[], %(flags)s::bool[]",
        {
            "floats": bulk.floats(numbers),
            "ints": bulk.ints([1, -2, 2**31 - 1]),
            "texts": bulk.texts(texts),
            "flags": bulk.flags([True, False]),
        },
    ).fetchone()
    assert found == (numbers, [1, -2, 2**31 - 1], texts, [True, False])


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_matching_earlier_imports_probes_the_unique_index_even_with_a_generic_plan(
    db_session: Session,
) -> None:
    connection = bulk.raw_connection(db_session)
    match = import_loader.MATCH.replace("%(ids)s", "$2").replace("%(agency)s", "$1")
    connection.execute(f"PREPARE csmap_match(integer, text) AS {match}")
    connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    found = connection.execute(
        'EXPLAIN (FORMAT JSON) EXECUTE csmap_match(1, \'{"EXT-1","EXT-2"}\')'
    ).fetchone()
    connection.execute("DEALLOCATE csmap_match")
    assert found is not None
    nodes = list(_plan_nodes(found[0][0]["Plan"]))
    on_concern = [node for node in nodes if node.get("Relation Name") == "concern"]
    assert on_concern
    assert {node["Node Type"] for node in on_concern} <= {"Index Scan", "Index Only Scan"}
    assert {node["Index Name"] for node in on_concern} == {"uq_concern_agency_external_id"}


def test_threads_hand_over_quickly_during_an_import_and_as_before_after_it(
    db_session: Session, world: World, people: dict[str, YoungPerson]
) -> None:
    seen: list[tuple[int, float]] = []

    class Watching:
        """Notes the switch interval while the import reports progress."""

        def phase(self, name: str, total: int) -> None:
            """Ignore the phase."""

        def advance(self, rows: int) -> None:
            """Note the interval after each chunk."""
            seen.append((rows, sys.getswitchinterval()))

        def finish(self, message: str) -> None:
            """Ignore the end."""

    before = sys.getswitchinterval()
    report = run(db_session, practitioner(world), GOOD, progress=Watching())
    assert report.loaded == 3
    assert [rows for rows, _ in seen] == [3]
    assert seen[0][1] == pytest.approx(importer.HAND_OVER_SECONDS)
    assert sys.getswitchinterval() == before


def test_a_bulk_import_holds_its_young_people_as_foreign_keys_would(fresh_database: Database) -> None:
    seed(fresh_database)
    engine = create_engine(fresh_database.owner_url)
    with Session(engine) as session, session.begin():
        actor = actor_for(session.scalars(select(User).where(User.username == "pat")).one())
        report = run(session, actor, HEADER + line("EXT-L1") + line("EXT-L2", **GRID))
        assert report.loaded == 2
        person = session.scalars(select(YoungPerson.id).where(YoungPerson.local_id == "YP-1")).one()
        with psycopg.connect(fresh_database.cluster.conninfo("csmap_owner", fresh_database.name)) as other:
            other.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM young_person WHERE id = %s", (person,))
    with Session(engine) as session, session.begin():
        session.execute(text("DELETE FROM young_person WHERE id = :id"), {"id": person})
        assert session.scalar(select(func.count()).select_from(Concern)) == 0
    engine.dispose()


def test_counts_kept_apart_and_edge_days_are_counted_as_a_rebuild_counts_them(
    db_session: Session, world: World, people: dict[str, YoungPerson]
) -> None:
    db_session.add(
        YoungPerson(agency_id=world.agency.id, given_name="Test", family_name="Leap", local_id="YP-LEAP",
                    date_of_birth=datetime(2012, 2, 29, tzinfo=UTC).date(), gender="female")
    )  # fmt: skip
    db_session.add_all(
        [
            Place(name="Shared house", place_type="hmo", geom=WKTElement("POINT(-1.50 52.40)", srid=4326),
                  external_ref="PL-HMO"),
            Place(name="Park", place_type="park", external_ref="PL-PARK", geom=WKTElement(
                "POLYGON((-1.53 52.41,-1.52 52.41,-1.52 52.42,-1.53 52.41))", srid=4326)),
        ]
    )  # fmt: skip
    db_session.flush()
    header = HEADER.rstrip("\n") + ",sensitivity\n"
    rows = [
        line("EXT-E1").rstrip("\n") + ",agency_only\n",
        line("EXT-E2", longitude="", latitude="", place_ref="PL-HMO").rstrip("\n") + ",\n",
        line("EXT-E3", longitude="", latitude="", place_ref="PL-PARK").rstrip("\n") + ",\n",
        line("EXT-E4", young_person_ref="YP-LEAP", occurred_at="2026-02-28T12:00:00+00:00").rstrip("\n")
        + ",\n",
        line("EXT-E5", young_person_ref="YP-LEAP", occurred_at="2026-03-01T12:00:00+00:00").rstrip("\n")
        + ",\n",
        line("EXT-E6", occurred_at="2026-03-31T23:30:00+00:00", kind="protective").rstrip("\n") + ",\n",
        line("EXT-E7", occurred_at="2025-12-31T23:59:00+00:00", **GRID).rstrip("\n") + ",\n",
    ]
    report = run(db_session, practitioner(world), header + "".join(rows))
    assert report.loaded == len(rows)
    counted = _aggregate(db_session)
    facts = {row.record_id: row for row in counted[0]}
    by_ext = imported(db_session, "EXT-E")
    assert facts[by_ext["EXT-E1"].id].restricted_to == world.agency.id
    assert facts[by_ext["EXT-E2"].id].restricted_to == -1
    assert (facts[by_ext["EXT-E4"].id].age_band, facts[by_ext["EXT-E5"].id].age_band) == (
        "10_to_13",
        "14_to_15",
    )
    assert facts[by_ext["EXT-E6"].id].month.month == 4
    db_session.execute(text("SELECT hotspot_rebuild()"))
    assert _aggregate(db_session) == counted


def test_the_import_counts_with_the_aggregates_own_rules(db_session: Session) -> None:
    values = [0.0, 49.999999999, 50.0, -0.0001, -50.0, 433512.5, 1e-12, 279000.00000000006, 0.1 + 0.2]
    index = text("SELECT hotspot_lattice_index(:value, 50)")
    expected = [db_session.scalar(index, {"value": value}) for value in values]
    assert lattice.lattice_indexes(values, 50) == expected
    for word in ("home", "park", "not_known", "16_to_17", "Ünïcode café"):
        assert lattice.code(word) == db_session.scalar(text("SELECT hotspot_code(:word)"), {"word": word})
    born_on = (None, date(2012, 2, 29), date(2010, 5, 1), date(2016, 12, 31))
    days = (date(2026, 2, 28), date(2026, 3, 1), date(2026, 5, 1), date(2026, 4, 30), date(2011, 1, 1))
    for born in born_on:
        for day in days:
            expected = db_session.scalar(
                text("SELECT hotspot_age_band(:born, :day)"), {"born": born, "day": day}
            )
            assert lattice.age_band(born, day) == expected


def _noted(mode: str, size: int, rng: np.random.Generator) -> dict[str, NDArray[np.int64]]:
    """Noted lattice columns: a borough's narrow ranges, hash-like layer values, or every key column
    spread so wide that packing them by offset would overflow."""
    if mode == "many":
        spread = {"restricted_to": 60_000, "year": 60_000, "cx": 300_000, "cy": 300_000}
        noted = {name: rng.integers(0, span, size) for name, span in spread.items()}
        layers = {name: rng.integers(0, 60_000, size) for name, _ in lattice.LAYERS}
    else:
        noted = {
            "restricted_to": rng.choice([0, -1, 5], size),
            "year": rng.choice([2025, 2026], size),
            "cx": rng.integers(-40, 400, size),
            "cy": rng.integers(5500, 5900, size),
        }
        width = 1 << 40 if mode == "hashes" else 1
        layers = {name: rng.integers(-3, 4, size) * width for name, _ in lattice.LAYERS}
    return {**noted, **layers, "month": rng.integers(1, 13, size)}


@pytest.mark.parametrize("mode", ["narrow", "hashes", "many"])
def test_lattice_counts_equal_a_plain_count_of_every_grouping(mode: str) -> None:
    rng = np.random.default_rng(7)
    size = 3000
    noted = _noted(mode, size, rng)
    given = {name: rng.random(size) < 0.8 for name, _ in lattice.LAYERS}
    expected: Counter[tuple[int, ...]] = Counter()
    for row in range(size):
        restricted, year, month = (int(noted[name][row]) for name in ("restricted_to", "year", "month"))
        cx, cy = int(noted["cx"][row]), int(noted["cy"][row])
        expected[(1000, 0, 0, restricted, year, cx // 20, cy // 20, month)] += 1
        expected[(250, 0, 0, restricted, year, cx // 5, cy // 5, month)] += 1
        for name, dimension in lattice.LAYERS:
            if given[name][row]:
                value = int(noted[name][row])
                expected[(250, dimension, value, restricted, year, cx // 5, cy // 5, month)] += 1
    counted: Counter[tuple[int, ...]] = Counter()
    for grouped in zip(*lattice.lattice_columns(noted, given), strict=True):
        lattice_size, dimension, value, source, restricted, year, cx, cy = grouped[:8]
        assert source == lattice.SOURCE_CONCERN
        for month, count in enumerate(grouped[8:], start=1):
            if count:
                counted[(lattice_size, dimension, value, restricted, year, cx, cy, month)] += count
    assert counted == expected
