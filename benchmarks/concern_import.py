"""How fast `csmap import concerns` loads a partner's file, against the loop a user would otherwise write.

On a throwaway cluster: migrate, build the demo borough (CSMAP_BENCH_SIZE, default large: 100,000
young people and 2,000,000 concerns), VACUUM (ANALYZE), then write a CSV of CSMAP_BENCH_ROWS rows
(default 1,000,000) for Children's Social Care's young people: a third placed by longitude and latitude,
a third by easting and northing, a third by place; some with detail, some graded, a few with wording
the language rules flag. Then, each in its own transaction, committed:

1. the import of the whole file as demo-practitioner (every row checked, then loaded);
2. the same file again (every row unchanged: nothing written);
3. the file with one row in a hundred changed (updates with revisions);
4. a sample of CSMAP_BENCH_SAMPLE rows (default 20,000), without and with the wording check, rolled back.

Against it, on the first CSMAP_BENCH_SAMPLE rows (default 20,000) of another file, rolled back: the
obvious loop through SQLAlchemy, one young person look-up and one INSERT per row, with the same checks
in Python but no language check and no revisions. Its rate is extrapolated to the whole file and
labelled as such. Run: `.venv/bin/python -m benchmarks.concern_import`.
"""

import csv
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, column, create_engine, func, insert, select, table
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from benchmarks.practitioner import free_port
from contexts.accounts.models import User
from contexts.accounts.service import actor_for
from contexts.audit.service import RequestOrigin
from contexts.concerns.importer import IMPORT_PHASES, ConcernImportReport, import_concerns_file
from contexts.concerns.models import Concern, ConcernCategory
from contexts.demo.progress import Silent, TerminalProgress
from contexts.demo.service import DemoSize, build_demo
from contexts.language.checker import Rule, load_rules
from contexts.young_people.models import YoungPerson
from contexts.young_people.service import Area

PASSWORD = "demo-password-2026"
AREA = Area(-6.5, 49.8, 2.0, 55.9)
HEADER = (
    "external_id",
    "source_agency",
    "young_person_ref",
    "occurred_at",
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
)
SUMMARIES = (
    "Seen getting into a car with an unknown adult near the station",
    "Went missing overnight; found at an address outside the borough",
    "New phone and clothes that family cannot account for",
    "Attended youth club and spoke warmly about the mentor",
    "Older associates seen waiting outside school at the end of the day",
    "Returned home late smelling of cannabis; said a friend's brother drove them",
    "Teacher reports improved attendance and engagement in lessons",
    "Seen at the takeaway on the high street after midnight with adults",
    "Disclosed being asked to carry a package to another town",
    "Reported as absconded from placement for the third time this month",
)
DETAILS = (
    "Practitioner spoke to carer the next morning; carer shared that this has happened before.",
    "Police attended; no arrests. Information passed to the exploitation hub for review.",
    "School designated safeguarding lead informed; plan to meet with the young person this week.",
)
CONTEXTS = ("individual", "home", "peer_group", "school", "neighbourhood")
KINDS = ("risk", "risk", "harm", "protective")
PLACE = table("place", column("id"))


def prepare(cluster: Cluster, size: DemoSize, console: Console) -> str:
    """A migrated database with the demo loaded, vacuumed and analysed."""
    database = "concern_import_bench"
    cluster.ensure_database(database)
    config = alembic_config(cluster.url(OWNER_ROLE, database))
    config.attributes["skip_logging_config"] = True
    config.attributes["app_role"] = APP_ROLE
    command.upgrade(config, "head")
    engine = create_engine(cluster.url(OWNER_ROLE, database))
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        progress = TerminalProgress(console) if console.is_terminal else None
        build_demo(session=session, size=size, seed=2026, password=PASSWORD, progress=progress)
    engine.dispose()
    with psycopg.connect(cluster.conninfo(OWNER_ROLE, database), autocommit=True) as owner:
        owner.execute("VACUUM (ANALYZE) place, young_person, concern")
    console.print(f"Demo borough ({size.value}) built and vacuumed in {time.perf_counter() - started:.1f} s")
    return database


def _references(engine: Engine) -> tuple[list[str], list[str], list[int]]:
    """Local ids of Children's Social Care's young people, category codes and place ids."""
    agency = select(User.agency_id).where(User.username == "demo-practitioner").scalar_subquery()
    with engine.connect() as connection:
        refs = connection.scalars(
            select(YoungPerson.local_id).where(
                YoungPerson.agency_id == agency, YoungPerson.local_id.is_not(None)
            )
        )
        codes = list(connection.scalars(select(ConcernCategory.code)))
        places = list(connection.scalars(select(PLACE.c.id)))
    return [ref for ref in refs if ref], codes, places


ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
"""Rows happen before this hour: the same seed gives the same file all through a run."""


def rows(
    count: int, seed: int, refs: list[str], codes: list[str], places: list[int], prefix: str = "CSC"
) -> Iterator[list[str]]:
    """Generated CSV rows: the same seed gives the same file."""
    rng = random.Random(seed)
    now = ANCHOR
    for index in range(count):
        when = now - timedelta(minutes=rng.randint(60, 2 * 365 * 24 * 60))
        occurred = when.date().isoformat() if rng.random() < 0.3 else when.isoformat(timespec="seconds")
        location = ["", "", "", "", ""]
        form = index % 3
        if form == 0:
            location[0:2] = [
                f"{-1.52 + rng.uniform(-0.1, 0.1):.6f}",
                f"{52.41 + rng.uniform(-0.06, 0.06):.6f}",
            ]
        elif form == 1:
            location[2:4] = [
                f"{433_500 + rng.uniform(-6000, 6000):.1f}",
                f"{279_000 + rng.uniform(-6000, 6000):.1f}",
            ]
        else:
            location[4] = str(rng.choice(places))
        graded = rng.random() < 0.1
        yield [
            f"{prefix}-{index + 1:07d}",
            "kv-csc",
            rng.choice(refs),
            occurred,
            rng.choice(CONTEXTS),
            rng.choice(KINDS),
            rng.choice(codes),
            rng.choice(SUMMARIES),
            rng.choice(DETAILS) if rng.random() < 0.3 else "",
            *location,
            *(("2", "B", "C") if graded else ("", "", "")),
        ]


def write_csv(path: Path, generated: Iterator[list[str]], change_every: int = 0) -> None:
    """Write rows to a CSV file, changing the summary of one row in `change_every` when asked."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index, row in enumerate(generated):
            if change_every and index % change_every == 0:
                row[7] = row[7] + " (updated by the partner system)"
            writer.writerow(row)


def timed_import(
    engine: Engine, path: Path, console: Console, rules: tuple[Rule, ...] = (), keep: bool = True
) -> ConcernImportReport:
    """Import a file as demo-practitioner and commit (or roll back); the report."""
    with Session(engine) as session, session.begin():
        user = session.scalar(select(User).where(User.username == "demo-practitioner"))
        assert user is not None
        report = import_concerns_file(
            path=path,
            session=session,
            actor=actor_for(user),
            origin=RequestOrigin(request_id="benchmark"),
            area=AREA,
            rules=rules,
            progress=TerminalProgress(console) if console.is_terminal else Silent(),
        )
        if not keep:
            session.rollback()
        return report


def naive_import(engine: Engine, path: Path, limit: int) -> float:
    """The loop a user would write: per row, look the young person up and INSERT; seconds (rolled back)."""
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "demo-practitioner"))
        assert user is not None
        categories = {
            row.code: row.id for row in session.execute(select(ConcernCategory.code, ConcernCategory.id))
        }
        started = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                if index == limit:
                    break
                _naive_row(session, row, user, categories)
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


def _naive_point(session: Session, row: dict[str, str]) -> str | None:
    """The row's point as EWKT, converting easting and northing with one query."""
    if row["longitude"]:
        return f"SRID=4326;POINT({float(row['longitude'])} {float(row['latitude'])})"
    if not row["easting"]:
        return None
    grid = func.ST_SetSRID(func.ST_MakePoint(float(row["easting"]), float(row["northing"])), 27700)
    return session.scalar(select(func.ST_AsEWKT(func.ST_Transform(grid, 4326))))


def _naive_row(session: Session, row: dict[str, str], user: User, categories: dict[str, int]) -> None:
    """One row, as the obvious loop does it."""
    person = session.scalar(
        select(YoungPerson.id).where(
            YoungPerson.agency_id == user.agency_id, YoungPerson.local_id == row["young_person_ref"]
        )
    )
    if person is None or row["category"] not in categories:
        raise ValueError(f"bad row {row['external_id']}")
    when = datetime.fromisoformat(row["occurred_at"])
    session.execute(
        insert(Concern).values(
            young_person_id=person,
            agency_id=user.agency_id,
            recorded_by_id=user.id,
            occurred_at=when if when.tzinfo else when.replace(tzinfo=UTC),
            context=row["context"],
            kind=row["kind"],
            category_id=categories[row["category"]],
            summary=row["summary"],
            detail=row["detail"] or None,
            place_id=int(row["place_ref"]) if row["place_ref"] else None,
            point=_naive_point(session, row),
            external_id=row["external_id"],
        )
    )


def _line(name: str, report: ConcernImportReport) -> list[str]:
    """One table row for an import."""
    return [
        name,
        f"{report.rows:,}",
        f"{report.loaded:,} / {report.updated:,} / {report.unchanged:,}",
        f"{report.seconds:.1f}",
        f"{report.rows_per_second:,.0f}",
    ]


def run(cluster: Cluster, workdir: Path, console: Console, size: DemoSize) -> None:
    """Build, write the files, import them and print the table."""
    count = int(os.environ.get("CSMAP_BENCH_ROWS", "1000000"))
    sample = min(count, int(os.environ.get("CSMAP_BENCH_SAMPLE", "20000")))
    database = prepare(cluster, size, console)
    engine = create_engine(cluster.url(OWNER_ROLE, database))
    refs, codes, places = _references(engine)
    first, changed, other = workdir / "concerns.csv", workdir / "changed.csv", workdir / "other.csv"
    started = time.perf_counter()
    write_csv(first, rows(count, 1, refs, codes, places))
    write_csv(changed, rows(count, 1, refs, codes, places), change_every=100)
    write_csv(other, rows(sample, 2, refs, codes, places, prefix="LOOP"))
    console.print(
        f"Wrote three CSV files in {time.perf_counter() - started:.1f} s "
        f"({first.stat().st_size:,} bytes each)"
    )
    table = Table(title=f"Concern import on the {size.value} demo ({os.cpu_count()} cores)")
    for heading in ("run", "rows", "loaded / updated / unchanged", "seconds", "rows/s"):
        table.add_column(heading)
    phases = Table(title="Where each import's time went (seconds)")
    phases.add_column("run")
    for name, path in (
        ("csmap import concerns", first),
        ("same file again", first),
        ("1 row in 100 changed", changed),
    ):
        report = timed_import(engine, path, console)
        table.add_row(*_line(name, report))
        _phase_row(phases, name, report)
        console.print(f"{name}: {report.rows_per_second:,.0f} rows/s, load average {os.getloadavg()[0]:.1f}")
    for name, rules in (("sample, no wording check", ()), ("sample, --check-wording", load_rules())):
        report = timed_import(engine, other, console, rules, keep=False)
        table.add_row(f"{name} (rolled back)", *_line(name, report)[1:])
    seconds = naive_import(engine, other, sample)
    rate = sample / seconds
    table.add_row(
        f"SQLAlchemy loop, row by row ({sample:,}-row sample)",
        f"{sample:,}",
        "(rolled back)",
        f"{seconds:.1f}",
        f"{rate:,.0f}",
    )
    table.add_row(
        f"  the same loop extrapolated to {count:,} rows (estimate)",
        f"{count:,}",
        "",
        f"{count / rate:.0f}",
        f"{rate:,.0f}",
    )
    engine.dispose()
    console.print(table)
    console.print(phases)


def _phase_row(phases: Table, name: str, report: ConcernImportReport) -> None:
    """Add an import's phase times to the breakdown table."""
    if len(phases.columns) == 1:
        for phase in IMPORT_PHASES:
            phases.add_column(phase, justify="right")
    phases.add_row(name, *(f"{report.phase_seconds.get(phase, 0.0):.1f}" for phase in IMPORT_PHASES))


def main() -> None:
    """Run the concern import benchmark on a throwaway cluster."""
    console = Console(width=None if sys.stdout.isatty() else 120)
    size = DemoSize(os.environ.get("CSMAP_BENCH_SIZE", DemoSize.LARGE.value))
    workdir = Path(tempfile.mkdtemp(prefix="csmap-bench-concern-import-"))
    cluster = Cluster(workdir, free_port())
    try:
        cluster.ensure_started()
        run(cluster, workdir, console, size)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
