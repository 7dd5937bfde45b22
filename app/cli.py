"""The `csmap` command: serve, migrate, demo data, users, audit checks and the local database."""

import csv
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import engine_for
from app.localdb import Cluster, LocalDatabaseError
from app.settings import Settings, get_settings
from contexts.access import Actor, Permission, Role, can
from contexts.accounts.models import User
from contexts.accounts.schemas import UserCreate
from contexts.accounts.service import actor_for, create_user
from contexts.agencies.models import AgencyKind
from contexts.agencies.schemas import AgencyCreate
from contexts.agencies.service import create_agency, get_agency_by_code
from contexts.audit.service import RequestOrigin, verify_chain
from contexts.concerns.importer import ConcernImportReport, import_concerns_file
from contexts.demo.progress import Silent, TerminalProgress
from contexts.demo.service import DemoSize, build_demo, remove_demo_accounts
from contexts.errors import DomainError
from contexts.language.checker import load_rules
from contexts.young_people.service import Area
from mapping.areas.demo import build_demo_areas
from mapping.areas.importer import load_area_file, load_indicator_file
from mapping.areas.postcodes import import_postcodes
from mapping.areas.schemas import ListedImportReport
from mapping.places.importer import import_places, read_places_file
from mapping.places.schemas import ImportReport

ROOT = Path(__file__).resolve().parent.parent
cli = typer.Typer(help="csmap: Contextual Safeguarding Map.", no_args_is_help=True, add_completion=False)
audit_cli = typer.Typer(help="Check the audit trail.", no_args_is_help=True)
db_cli = typer.Typer(help="A private PostGIS cluster under .data/ for development.", no_args_is_help=True)
import_cli = typer.Typer(help="Load records from files.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
cli.add_typer(db_cli, name="db")
cli.add_typer(import_cli, name="import")
console = Console(stderr=True, soft_wrap=True)


def _owner_session(settings: Settings) -> Session:
    """A session as the owner role (administrative commands)."""
    return Session(bind=engine_for(settings.owner_database_url), expire_on_commit=False)


def _fail(message: str, code: int = 1) -> None:
    """Print an error and exit."""
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration, optionally for an explicit owner URL."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        config.attributes["url"] = url
    return config


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on")] = 8000,
    proxy_headers: Annotated[bool, typer.Option(help="Trust X-Forwarded-* from the proxy")] = False,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes (one per core)")] = 1,
) -> None:
    """Serve the web app and API."""
    import uvicorn

    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        workers=workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    check: Annotated[bool, typer.Option(help="Only check the models match the migrations")] = False,
) -> None:
    """Bring the database schema up to date (as the owner role)."""
    config = alembic_config()
    if check:
        command.check(config)
        return
    command.upgrade(config, revision)


@cli.command()
def demo(
    size: Annotated[DemoSize, typer.Option(help="How big a borough")] = DemoSize.SMALL,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data")] = 2026,
    remove: Annotated[bool, typer.Option(help="Disable every demo account instead")] = False,
) -> None:
    """Load the fictional demo borough once (or disable its accounts)."""
    settings = get_settings()
    with _owner_session(settings) as session, session.begin():
        if remove:
            console.print(f"Disabled {remove_demo_accounts(session=session)} demo accounts.")
            return
        summary = build_demo(session=session, size=size, seed=seed, password=settings.demo_password)
        areas = build_demo_areas(session, seed)
    if areas.created:
        console.print(
            f"Demo areas loaded: {areas.areas} fictional neighbourhoods, {areas.postcodes} postcodes."
        )
    if summary.created:
        console.print(f"Demo borough loaded: {summary.agencies} agencies, {summary.users} users.")
    else:
        console.print("Demo borough already loaded: nothing changed.")


@cli.command("create-agency")
def create_agency_command(
    code: Annotated[str, typer.Option(help="Short unique code, e.g. met-police")],
    name: Annotated[str, typer.Option(help="Full name")],
    kind: Annotated[AgencyKind, typer.Option(help="Kind of agency")],
) -> None:
    """Add an agency."""
    with _owner_session(get_settings()) as session, session.begin():
        try:
            agency = create_agency(session=session, data=AgencyCreate(code=code, name=name, kind=kind))
        except DomainError as problem:
            _fail(problem.detail)
        console.print(f"Agency {agency.code} added (id {agency.id}).")


@cli.command("create-user")
def create_user_command(
    username: Annotated[str, typer.Option(help="Sign-in name (lower case)")],
    display_name: Annotated[str, typer.Option(help="Full name")],
    agency: Annotated[str, typer.Option(help="Agency code")],
    role: Annotated[list[Role], typer.Option(help="Role; repeat for several")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
) -> None:
    """Add a user (prompts for the password unless --password-stdin)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    with _owner_session(get_settings()) as session, session.begin():
        try:
            found = get_agency_by_code(session=session, code=agency)
            data = UserCreate(
                username=username,
                display_name=display_name,
                agency_id=found.id,
                roles=role,
                password=password,
            )
            user = create_user(session=session, data=data)
        except DomainError as problem:
            _fail(problem.detail)
        except ValueError as invalid:
            _fail(str(invalid).split("\n", 1)[-1])
        console.print(f"User {user.username} added to {found.name}.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; name the first row that does not check out."""
    with _owner_session(get_settings()) as session:
        report = verify_chain(session=session)
    if report.ok:
        console.print(f"Audit chain intact: {report.rows_checked} events. Head hash {report.head_hash}")
        return
    _fail(
        f"Audit chain broken at event id {report.broken_event_id} (row {report.broken_chain_seq}): "
        f"{report.problem}. {report.rows_checked} events before it check out.",
        code=2,
    )


PLACES_HELP = """Import places from a GeoJSON FeatureCollection or a CSV file.

Every row is checked first (geometry in PostGIS: valid, not empty, inside the deployment's area,
WGS84). If any row is bad nothing is written, unless --skip-invalid loads the valid rows. The
report names each bad row: the CSV line (the header is line 1) or the GeoJSON feature index, the
field and the problem.

\b
CSV columns (header row required; other columns are ignored):
  name, type            required; type is a place type code (GET /api/place-types)
  longitude, latitude   WGS84 degrees, or
  easting, northing     British National Grid metres (EPSG:27700), or
  wkt                   a geometry in WGS84 as WKT, e.g. LINESTRING (-1.51 52.40, -1.50 52.41)
  address, postcode, owner_name, owner_contact, licence_refs (separated by ;), external_ref

GeoJSON: a FeatureCollection in WGS84 whose feature properties use the same names.

A row whose external_ref matches a place already in csmap updates that place instead of adding
another, so a file can be imported again after it changes.
"""


def _import_actor(session: Session, username: str | None) -> Actor | None:
    """The csmap user an import is made as, who must be allowed to edit places."""
    if username is None:
        return None
    user = session.scalar(select(User).where(User.username == username.lower(), User.is_active.is_(True)))
    if user is None:
        _fail(f"There is no active user {username}.")
        return None
    actor = actor_for(user)
    if not can(actor, Permission.EDIT_PLACES):
        _fail(f"{username} may not edit places.")
    return actor


def _print_report(report: ImportReport) -> None:
    """The problems (one line each) and a summary."""
    for problem in report.problems:
        console.print(f"  [red]{escape(str(problem))}[/]")
    if report.written:
        skipped = report.rows - report.valid
        console.print(
            f"Imported {report.created + report.updated} of {report.rows} places: {report.created} added, "
            f"{report.updated} updated" + (f", {skipped} bad rows skipped." if skipped else ".")
        )
    else:
        console.print(
            f"[bold red]Nothing imported:[/] {report.rows - report.valid} of {report.rows} rows have "
            "problems. Correct them, or use --skip-invalid to load the valid rows only."
        )


@import_cli.command("places", help=PLACES_HELP)
def import_places_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .geojson")
    ],
    skip_invalid: Annotated[bool, typer.Option(help="Load the valid rows even if some are bad")] = False,
    repair: Annotated[bool, typer.Option(help="Repair invalid polygons with ST_MakeValid")] = False,
    user: Annotated[str | None, typer.Option(help="The csmap user the import is recorded as")] = None,
) -> None:
    settings = get_settings()
    with _owner_session(settings) as session, session.begin():
        actor = _import_actor(session, user)
        try:
            rows = read_places_file(file.read_bytes(), name=file.name)
        except DomainError as problem:
            _fail(f"{file.name}: {problem.detail}", code=2)
        with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            report = import_places(
                session=session,
                rows=rows,
                actor=actor,
                origin=RequestOrigin(request_id="csmap-import"),
                area=Area(*settings.area_bbox),
                skip_invalid=skip_invalid,
                repair=repair,
                username=f"cli:{getpass.getuser()}",
                progress=advance,
            )
        _print_report(report)
    if not report.written:
        raise typer.Exit(1)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per import stage (only on a terminal), told (stage, done, total)."""
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        yield advance


def _print_area_report(report: ListedImportReport, what: str, extra: str = "") -> None:
    """The problems (the first thousand, one line each) and a summary of an area import."""
    for problem in report.problems:
        console.print(f"  [red]{escape(str(problem))}[/]")
    if report.unlisted:
        console.print(f"  [red]... and {report.unlisted:,} more problems.[/]")
    bad = report.rows - report.valid
    if not report.written:
        console.print(
            f"[bold red]Nothing imported:[/] {bad:,} of {report.rows:,} rows have problems. "
            "Correct them, or use --skip-invalid to load the valid rows only."
        )
        return
    console.print(
        f"Imported {what}: {report.created:,} added, {report.updated:,} updated"
        + extra
        + (f", {bad:,} bad rows skipped." if bad else ".")
    )


ImportFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
SkipInvalid = Annotated[bool, typer.Option(help="Load the valid rows even if some are bad")]


@import_cli.command("areas")
def import_areas_command(
    file: ImportFile,
    kind: Annotated[str, typer.Option(help="What the areas are: lsoa, msoa, ward, lad ...")],
    code_field: Annotated[str | None, typer.Option(help="Property holding the code (e.g. LSOA21CD)")] = None,
    name_field: Annotated[str | None, typer.Option(help="Property holding the name (e.g. LSOA21NM)")] = None,
    edition: Annotated[int | None, typer.Option(help="Boundary edition (read from e.g. LSOA21CD)")] = None,
    skip_invalid: SkipInvalid = False,
    repair: Annotated[bool, typer.Option(help="Repair invalid boundaries with ST_MakeValid")] = False,
) -> None:
    """Import area boundaries (LSOAs, wards ...) from a GeoJSON FeatureCollection.

    \b
    Coordinates in WGS84, or British National Grid when the file's crs names
    EPSG:27700. Codes and names come from properties such as LSOA21CD and
    LSOA21NM, found by themselves or named with --code-field, --name-field.
    Every boundary is checked first; if any is bad nothing is written, unless
    --skip-invalid. Areas wholly outside the deployment's area are left out;
    areas already held (same kind, edition and code) are updated.
    """
    settings = get_settings()
    with _owner_session(settings) as session, session.begin():
        try:
            with _progress_bar() as advance:
                report = load_area_file(
                    session=session,
                    content=file.read_bytes(),
                    kind=kind,
                    area=Area(*settings.area_bbox),
                    code_field=code_field,
                    name_field=name_field,
                    edition=edition,
                    skip_invalid=skip_invalid,
                    repair=repair,
                    progress=advance,
                )
        except DomainError as problem:
            _fail(f"{file.name}: {problem.detail}", code=2)
        outside = f", {report.outside:,} outside this deployment's area left out" if report.outside else ""
        _print_area_report(
            report, f"{report.created + report.updated:,} {kind} areas ({report.edition})", outside
        )
    if not report.written:
        raise typer.Exit(1)


@import_cli.command("indicators")
def import_indicators_command(
    file: ImportFile,
    edition: Annotated[
        int | None, typer.Option(help="Indices of Deprivation edition, if its headers do not tell")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Match codes to areas of this kind only")] = None,
    area_edition: Annotated[int | None, typer.Option(help="Match codes to this boundary edition")] = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Import indicator values from a CSV: the Indices of Deprivation or a long table.

    \b
    English Indices of Deprivation "File 7" CSV (2015, 2019, 2025 editions),
    told by its official headers: LSOA code (2011) or LSOA code (2021); the
    IMD score, rank and decile; the IDACI score, rank and decile; Total
    population: mid YYYY; Dependent Children aged 0-15: mid YYYY. Codes are
    matched to LSOAs of the file's edition: import those boundaries first.
    Long CSV: area_code, indicator, period, value (label, unit for a new one).
    Rows whose area code matches no area are reported (and skipped with
    --skip-invalid).
    """
    settings = get_settings()
    with _owner_session(settings) as session, session.begin():
        try:
            with _progress_bar() as advance:
                report = load_indicator_file(
                    session=session,
                    content=file.read_bytes(),
                    name=file.name,
                    edition=edition,
                    kind=kind,
                    area_edition=area_edition,
                    skip_invalid=skip_invalid,
                    progress=advance,
                )
        except DomainError as problem:
            _fail(f"{file.name}: {problem.detail}", code=2)
        _print_area_report(
            report, f"{report.format} values of {', '.join(report.indicators) or 'no indicators'}"
        )
    if not report.written:
        raise typer.Exit(1)


@import_cli.command("postcodes")
def import_postcodes_command(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    skip_invalid: SkipInvalid = False,
) -> None:
    """Import postcodes from ONS Postcode Directory or Code-Point Open CSV files.

    \b
    ONSPD: a header with pcds, lat, long, doterm (and lsoa21 or lsoa11,
    osward); terminated postcodes are skipped, and removed if held.
    Code-Point Open: no header; postcode, quality, eastings, northings, ...,
    ward code; converted from British National Grid in PostGIS. Give every
    file of the product at once.
    """
    with ExitStack() as stack, _owner_session(get_settings()) as session, session.begin():
        opened = [(file.name, stack.enter_context(file.open("rb"))) for file in files]
        try:
            with _progress_bar() as advance:
                report = import_postcodes(
                    session=session, files=opened, skip_invalid=skip_invalid, progress=advance
                )
        except DomainError as problem:
            _fail(problem.detail, code=2)
        extra = f", {report.terminated:,} terminated skipped" if report.terminated else ""
        extra += f", {report.unplaced:,} without a position skipped" if report.unplaced else ""
        _print_area_report(report, f"{report.created + report.updated:,} postcodes ({report.format})", extra)
    if not report.written:
        raise typer.Exit(1)


CONCERNS_HELP = """Import concerns from a partner agency's system: a UTF-8 CSV file with a header row.

Every row is checked before anything is written. If any row is bad nothing is written (exit code 1),
unless --skip-invalid loads the good rows. Each problem names the row (the header is row 1), the
column and what is wrong, never the text of a cell. A row whose source_agency and external_id were
imported before updates that concern (its version goes up and a revision records the change); a row
identical to what csmap holds is left alone. The import runs as --as USERNAME: the concerns are
recorded by that user, for their own agency (a system administrator may import for any agency).
With --check-wording the language rules are run over every summary and detail, and flagged phrases
are counted for supervisors' monthly counts, as when a concern is saved in csmap; it is much slower.

\b
Columns (header names in any case; other columns are ignored):
  external_id              required: the partner system's id for the entry
  source_agency            required: the recording agency's code
  young_person_ref         required: the young person's local id in that agency
  occurred_at              required: ISO 8601 date (precision day) or date-time (UTC if no offset)
  occurred_precision       optional: exact, day, month or approximate
  context                  required: individual, home, peer_group, school or neighbourhood
  kind                     required: risk, harm or protective
  category                 required: a category code (GET /api/concern-categories)
  summary                  required: at most 200 characters
  detail                   optional: at most 10,000 characters
  longitude, latitude      a location, one form per row: WGS84 degrees inside the area, or
  easting, northing          British National Grid metres (EPSG:27700), or
  place_ref                  a place's external_ref or csmap id
  source_evaluation, intelligence_assessment, handling_code
                           optional 3x5x2 grading: 1-3, A-E, P or C (all three or none)
  sensitivity              optional: partnership (the default) or agency_only
"""
SHOWN_PROBLEMS = 1000


def _import_user(session: Session, username: str) -> Actor:
    """The active csmap user an import runs as."""
    user = session.scalar(select(User).where(User.username == username.lower(), User.is_active.is_(True)))
    if user is None:
        _fail(f"There is no active user {username}.", code=2)
    assert user is not None
    return actor_for(user)


def _write_problems(report: ConcernImportReport, path: Path) -> None:
    """Every problem as CSV: row, column, problem."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("row", "column", "problem"))
        writer.writerows((problem.row, problem.column, problem.problem) for problem in report.problems)


def _print_concern_report(report: ConcernImportReport) -> None:
    """The problems (the first thousand, one line each) and the counts."""
    for problem in report.problems[:SHOWN_PROBLEMS]:
        console.print(f"  [red]{escape(str(problem))}[/]")
    if len(report.problems) > SHOWN_PROBLEMS:
        console.print(f"  [red]... and {len(report.problems) - SHOWN_PROBLEMS:,} more (see --report).[/]")
    if not report.written:
        console.print(
            f"[bold red]Nothing imported:[/] {report.rejected:,} of {report.rows:,} rows have problems. "
            "Correct them, or use --skip-invalid to load the valid rows only."
        )
        return
    flagged = f" Wording to review: {report.flagged:,} flagged phrases." if report.flagged else ""
    console.print(
        f"Imported {report.rows:,} rows: {report.loaded:,} loaded, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected; "
        f"{report.rows_per_second:,.0f} rows/s ({report.seconds:.1f} s).{flagged}"
    )


@import_cli.command("concerns", help=CONCERNS_HELP)
def import_concerns_command(
    file: ImportFile,
    as_user: Annotated[
        str, typer.Option("--as", help="The csmap user the import runs as", show_default=False)
    ],
    skip_invalid: SkipInvalid = False,
    check_wording: Annotated[
        bool, typer.Option(help="Count wording the language rules flag (slow on big files)")
    ] = False,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write every problem to this CSV file", dir_okay=False)
    ] = None,
) -> None:
    settings = get_settings()
    with _owner_session(settings) as session, session.begin():
        actor = _import_user(session, as_user)
        progress = TerminalProgress(console) if console.is_terminal else Silent()
        try:
            report = import_concerns_file(
                path=file,
                session=session,
                actor=actor,
                origin=RequestOrigin(request_id="csmap-import"),
                area=Area(*settings.area_bbox),
                rules=load_rules(settings.language_rules_file) if check_wording else (),
                skip_invalid=skip_invalid,
                progress=progress,
            )
        except DomainError as problem:
            progress.finish("")
            _fail(f"{file.name}: {problem.detail}", code=2)
        _print_concern_report(report)
        if report_file is not None:
            _write_problems(report, report_file)
    if not report.written:
        raise typer.Exit(1)


def _local_cluster() -> Cluster:
    """The development cluster under .data/ (port from CSMAP_LOCAL_PG_PORT)."""
    return Cluster(ROOT / ".data", int(os.environ.get("CSMAP_LOCAL_PG_PORT", "54329")))


@db_cli.command("up")
def db_up(database: Annotated[str, typer.Option(help="Database name")] = "csmap") -> None:
    """Create and start the local cluster and database if needed."""
    cluster = _local_cluster()
    try:
        cluster.ensure_started()
        cluster.ensure_database(database)
    except LocalDatabaseError as problem:
        _fail(str(problem))


@db_cli.command("env")
def db_env(database: Annotated[str, typer.Option(help="Database name")] = "csmap") -> None:
    """Print shell exports pointing csmap at the local cluster."""
    cluster = _local_cluster()
    typer.echo(f"export DATABASE_URL='{cluster.url('csmap_app', database)}'")
    typer.echo(f"export CSMAP_MIGRATION_DATABASE_URL='{cluster.url('csmap_owner', database)}'")


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the local cluster."""
    _local_cluster().stop()


def main() -> None:
    """Run the command line."""
    cli()
