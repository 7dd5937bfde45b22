"""Build or remove the fictional borough of Kestrel Vale.

Every name here is invented. The build loads agencies and staff (ORM), then places, young people and
their chronologies: rows are generated in Python from the seed and streamed into PostgreSQL with COPY on
the session's own connection, inside the caller's transaction, and the tables are analysed at the end.
Demo generation is seeding, not a person reading or changing records, so it writes no audit events;
records still name demo users as their creators and recorders.

The designated young person (local id `DESIGNATED_LOCAL_ID`, "Rowan Ashdown", lead agency Children's
Social Care, so `demo-practitioner` sees them) has the long chronology the benchmarks read:
`Scale.designated_concerns` entries.
"""

import enum
import random
import time as clock
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, LiteralString, cast

import psycopg
from psycopg import sql
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.accounts.models import User, WebSession
from contexts.accounts.passwords import hash_password
from contexts.agencies.models import Agency, AgencyKind
from contexts.demo.borough import BOROUGH, BOROUGH_AREA, PlaceRow, generate_places
from contexts.demo.casework import Casework, add_casework
from contexts.demo.generate import (
    CONCERN_COLUMNS,
    DESIGNATED_LOCAL_ID,
    NULL,
    YOUNG_PERSON_COLUMNS,
    Agencies,
    Chronologies,
    Person,
    PlaceRef,
    allocate,
    young_people,
)
from contexts.demo.progress import DemoProgress, default_progress
from contexts.young_people.models import YoungPerson

__all__ = ["BOROUGH", "BOROUGH_AREA", "DESIGNATED_LOCAL_ID", "DemoSize", "build_demo", "remove_demo_accounts"]


class DemoSize(enum.StrEnum):
    """How big a demo borough to build."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True, slots=True)
class Scale:
    """How much of everything a size loads."""

    extra_staff: int
    young_people: int
    concerns: int
    designated_concerns: int
    place_factor: int


SCALES: dict[DemoSize, Scale] = {
    DemoSize.SMALL: Scale(
        extra_staff=0, young_people=200, concerns=4_000, designated_concerns=200, place_factor=1
    ),
    DemoSize.MEDIUM: Scale(
        extra_staff=60, young_people=5_000, concerns=100_000, designated_concerns=500, place_factor=2
    ),
    DemoSize.LARGE: Scale(
        extra_staff=600, young_people=100_000, concerns=2_000_000, designated_concerns=2_000, place_factor=4
    ),
}

EXTRA_STAFF = {size: scale.extra_staff for size, scale in SCALES.items()}
"""Extra practitioners per size, spread over the agencies, beyond the named demo users."""

DEMO_AGENCIES: list[tuple[str, str, AgencyKind]] = [
    ("kv-csc", f"{BOROUGH} Children's Social Care", AgencyKind.CHILDRENS_SOCIAL_CARE),
    ("kv-police", f"{BOROUGH} Police Safeguarding Hub", AgencyKind.POLICE),
    ("kv-health", f"{BOROUGH} Community Health Trust", AgencyKind.HEALTH),
    ("kv-education", f"{BOROUGH} Schools Inclusion Service", AgencyKind.EDUCATION),
    ("kv-youth", f"{BOROUGH} Youth Service", AgencyKind.YOUTH_SERVICE),
    ("kv-charity", "Brightpath Young People's Trust (fictional)", AgencyKind.VOLUNTARY_SECTOR),
    ("kv-csp", f"{BOROUGH} Community Safety Partnership", AgencyKind.COMMUNITY_SAFETY),
    ("kv-licensing", f"{BOROUGH} Licensing Team", AgencyKind.LICENSING),
]

NAMED_USERS: list[tuple[str, str, Role]] = [
    ("demo-practitioner", "Priya Practitioner (demo)", Role.PRACTITIONER),
    ("demo-supervisor", "Sam Supervisor (demo)", Role.SUPERVISOR),
    ("demo-analyst", "Alex Analyst (demo)", Role.ANALYST),
    ("demo-neighbourhood", "Nia Neighbourhood (demo)", Role.NEIGHBOURHOOD),
    ("demo-agency-admin", "Ade Agency-Admin (demo)", Role.AGENCY_ADMIN),
    ("demo-admin", "Morgan System-Admin (demo)", Role.SYSTEM_ADMIN),
]

GIVEN = ["Amani", "Bea", "Cal", "Dev", "Esme", "Finn", "Gita", "Hal", "Isla", "Jude", "Kai", "Lena"]
FAMILY = ["Ashdown", "Birchley", "Coldharbour", "Dunmere", "Eastwick", "Fallow", "Greywell", "Hollins"]
CHUNK_ROWS = 20_000
"""Rows per COPY write (and per progress step)."""
STATEMENT_ROWS = 200_000
"""Rows per COPY statement: foreign-key checks queue per statement, so keep each one bounded."""
BULK_ROWS = 50_000
"""From this many rows, an owner's load sets foreign keys and secondary indexes aside and rebuilds them."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo build did, and how long it took."""

    created: bool
    agencies: int
    users: int
    places: int = 0
    young_people: int = 0
    concerns: int = 0
    seconds: float = 0.0


def demo_exists(*, session: Session) -> bool:
    """Say whether the demo borough is already loaded."""
    return session.scalar(select(Agency.id).where(Agency.is_demo.is_(True)).limit(1)) is not None


def demo_anchor(today: date | None = None) -> datetime:
    """Midnight UTC at the start of `today`: demo chronologies end just before it."""
    return datetime.combine(today or datetime.now(UTC).date(), time(), UTC)


def build_demo(
    *,
    session: Session,
    size: DemoSize,
    seed: int,
    password: str,
    today: date | None = None,
    progress: DemoProgress | None = None,
) -> DemoSummary:
    """Load the demo borough once: agencies, staff, places, young people and their chronologies.

    The same seed and day give the same borough. Nothing is committed here: the caller's
    transaction holds the whole build, so a failed build leaves nothing behind.
    """
    if demo_exists(session=session):
        return DemoSummary(created=False, agencies=0, users=0)
    started = clock.perf_counter()
    scale = SCALES[size]
    report = progress or default_progress(scale.concerns)
    rng = random.Random(seed)
    agencies = [Agency(code=code, name=name, kind=kind, is_demo=True) for code, name, kind in DEMO_AGENCIES]
    session.add_all(agencies)
    session.flush()
    password_hash = hash_password(password)
    users = _named_users(agencies[0], agencies[1], password_hash)
    users += _extra_staff(agencies, scale.extra_staff, rng, password_hash)
    session.add_all(users)
    session.flush()
    staff = _staff(agencies, users)
    anchor = demo_anchor(today)
    connection = _raw(session)
    places = _load_places(connection, random.Random(f"{seed}:places"), scale, staff, report)
    people = _load_young_people(
        connection, random.Random(f"{seed}:people"), scale, staff, places, anchor, report
    )
    chronologies = Chronologies(
        random.Random(f"{seed}:concerns"),
        agencies=staff,
        categories=dict(connection.execute("SELECT code, id FROM concern_category").fetchall()),
        places=places,
        anchor=anchor,
    )
    report.phase("concerns", scale.concerns)
    with _bulk(connection, "concern", scale.concerns, report):
        _copy(connection, "concern", CONCERN_COLUMNS, _chronology_rows(chronologies, people), report)
    by_name = {user.username: user.id for user in users}
    plan = Casework(
        episodes=max(20, len(people) // 20),
        assessments=max(15, len(people) // 30),
        authors={
            agencies[0].id: by_name["demo-practitioner"],
            agencies[1].id: by_name["demo-practitioner-2"],
        },
        signers={agencies[0].id: by_name["demo-supervisor"], agencies[1].id: by_name["demo-supervisor-2"]},
    )
    add_casework(session, random.Random(f"{seed}:casework"), people, places, plan, anchor)
    report.phase("analyse", 1)
    connection.execute("ANALYZE place, young_person, concern, missing_episode, risk_assessment")
    seconds = clock.perf_counter() - started
    report.finish(
        f"{BOROUGH} (fictional) built in {seconds:.1f} s: {len(places):,} places, "
        f"{len(people):,} young people, {scale.concerns:,} concerns."
    )
    return DemoSummary(
        created=True,
        agencies=len(agencies),
        users=len(users),
        places=len(places),
        young_people=len(people),
        concerns=scale.concerns,
        seconds=seconds,
    )


def designated_young_person_id(*, session: Session) -> int | None:
    """The id of the demo's designated young person (the long chronology), if the demo is loaded."""
    query = (
        select(YoungPerson.id)
        .join(Agency, Agency.id == YoungPerson.agency_id)
        .where(Agency.code == "kv-csc", Agency.is_demo.is_(True), YoungPerson.local_id == DESIGNATED_LOCAL_ID)
    )
    return session.scalar(query)


def _raw(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


def _reserve_ids(connection: psycopg.Connection[Any], table: str, count: int) -> list[int]:
    """Take `count` ids from the table's sequence, so rows can be copied with their ids."""
    rows = connection.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table, count)
    ).fetchall()
    return sorted(int(row[0]) for row in rows)


@contextmanager
def _bulk(connection: psycopg.Connection[Any], table: str, rows: int, report: DemoProgress) -> Iterator[None]:
    """Load a big batch without per-row foreign-key checks and index updates, when we own the table.

    Each foreign key and secondary index is dropped and then recreated from its own definition
    (`pg_get_constraintdef`, `pg_get_indexdef`) in the same transaction, so the schema afterwards is
    exactly what the migrations made, every row is validated once by the recreated keys, and a failure
    rolls everything back. Small loads, and roles that do not own the table, load row by row.
    """
    owner = connection.execute(
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (table,)
    ).fetchone()
    if rows < BULK_ROWS or not (owner and owner[0]):
        yield
        return
    keys = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'f' ORDER BY conname",
        (table,),
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisunique "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        (table,),
    ).fetchall()
    quoted = sql.Identifier(table)
    for name, _ in keys:
        connection.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(quoted, sql.Identifier(name)))
    for name, _ in indexes:
        connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    yield
    report.phase(f"{table} keys", len(keys) + len(indexes))
    connection.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for _, definition in indexes:
        connection.execute(cast(LiteralString, definition))
        report.advance(1)
    for name, definition in keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(quoted, sql.Identifier(name))
            + sql.SQL(cast(LiteralString, definition))
        )
        report.advance(1)


def _copy(
    connection: psycopg.Connection[Any], table: str, columns: str, rows: Iterable[str], report: DemoProgress
) -> None:
    """Stream COPY text rows into a table, a bounded number per statement."""
    iterator = iter(rows)
    more = True
    while more:
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            in_statement = 0
            while in_statement < STATEMENT_ROWS:
                chunk = [row for _, row in zip(range(CHUNK_ROWS), iterator, strict=False)]
                if not chunk:
                    more = False
                    break
                copy.write("\n".join(chunk) + "\n")
                in_statement += len(chunk)
                report.advance(len(chunk))


def _staff(agencies: list[Agency], users: list[User]) -> Agencies:
    """Who records and who leads cases, per agency."""
    recorders: dict[int, list[int]] = {}
    leads: dict[int, list[int]] = {}
    for user in users:
        if Role.PRACTITIONER.value in user.roles or Role.SUPERVISOR.value in user.roles:
            recorders.setdefault(user.agency_id, []).append(user.id)
        if Role.PRACTITIONER.value in user.roles:
            leads.setdefault(user.agency_id, []).append(user.id)
    return Agencies(
        ids={agency.code: agency.id for agency in agencies},
        recorders={agency_id: tuple(ids) for agency_id, ids in recorders.items()},
        lead_practitioners={agency_id: tuple(ids) for agency_id, ids in leads.items()},
    )


def _load_places(
    connection: psycopg.Connection[Any],
    rng: random.Random,
    scale: Scale,
    staff: Agencies,
    report: DemoProgress,
) -> list[PlaceRef]:
    """The borough's places, recorded by the licensing team."""
    rows = generate_places(rng, scale.place_factor)
    ids = _reserve_ids(connection, "place", len(rows))
    report.phase("places", len(rows))
    _copy(
        connection,
        "place",
        "id, name, place_type, address, postcode, geom, created_by_agency_id",
        _place_rows(rows, ids, staff.ids["kv-licensing"]),
        report,
    )
    return [
        PlaceRef(i, row.place_type, row.name, row.longitude, row.latitude)
        for i, row in zip(ids, rows, strict=True)
    ]


def _place_rows(rows: list[PlaceRow], ids: list[int], agency_id: int) -> Iterator[str]:
    """COPY rows for places."""
    for place_id, row in zip(ids, rows, strict=True):
        point = f"SRID=4326;POINT({row.longitude:.6f} {row.latitude:.6f})"
        yield "\t".join(
            (
                str(place_id),
                row.name,
                row.place_type,
                row.address,
                row.postcode or NULL,
                point,
                str(agency_id),
            )
        )


def _load_young_people(
    connection: psycopg.Connection[Any],
    rng: random.Random,
    scale: Scale,
    staff: Agencies,
    places: list[PlaceRef],
    anchor: datetime,
    report: DemoProgress,
) -> list[Person]:
    """The young people, the designated one first."""
    ids = _reserve_ids(connection, "young_person", scale.young_people)
    counts = allocate(rng, scale.young_people, scale.concerns, scale.designated_concerns)
    schools = [place for place in places if place.place_type == "school"]
    people, rows = young_people(rng, ids=ids, counts=counts, agencies=staff, schools=schools, anchor=anchor)
    report.phase("young people", len(rows))
    with _bulk(connection, "young_person", len(rows), report):
        _copy(connection, "young_person", YOUNG_PERSON_COLUMNS, rows, report)
    return people


def _chronology_rows(chronologies: Chronologies, people: list[Person]) -> Iterator[str]:
    """Every young person's chronology, one after another."""
    for person in people:
        yield from chronologies.rows(person)


def _named_users(first: Agency, second: Agency, password_hash: str) -> list[User]:
    """One user of every role in the first agency and again (suffix -2) in the second."""
    users = []
    for agency, suffix in ((first, ""), (second, "-2")):
        for username, display_name, role in NAMED_USERS:
            name = display_name if not suffix else display_name.replace("(demo)", "(demo, second agency)")
            users.append(
                User(
                    username=f"{username}{suffix}",
                    display_name=name,
                    agency_id=agency.id,
                    roles=[role.value],
                    password_hash=password_hash,
                    is_demo=True,
                )
            )
    return users


def _extra_staff(agencies: list[Agency], count: int, rng: random.Random, password_hash: str) -> list[User]:
    """Fictional practitioners spread over the agencies."""
    staff = []
    for number in range(1, count + 1):
        agency = agencies[number % len(agencies)]
        name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)} (demo)"
        staff.append(
            User(
                username=f"demo-staff-{number:04d}",
                display_name=name,
                agency_id=agency.id,
                roles=[Role.PRACTITIONER.value],
                password_hash=password_hash,
                is_demo=True,
            )
        )
    return staff


def remove_demo_accounts(*, session: Session) -> int:
    """Disable every demo account and end its sessions; the audit trail keeps its history."""
    demo_ids = select(User.id).where(User.is_demo.is_(True))
    session.execute(delete(WebSession).where(WebSession.user_id.in_(demo_ids)))
    result = session.execute(
        update(User).where(User.is_demo.is_(True)).values(is_active=False, password_hash="!disabled")
    )
    return int(getattr(result, "rowcount", 0) or 0)
