"""The audit trail: append-only for the app role, hash-chained, and checked by `csmap audit verify`."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from contexts.audit.chain import GENESIS_HASH, row_hash
from contexts.audit.models import AuditAction, AuditEvent
from contexts.audit.service import RequestOrigin, canonical_values, record_event, verify_chain
from tests.conftest import Database

ORIGIN = RequestOrigin(request_id="req-1234567", client_address="127.0.0.1")


def add_events(session: Session, count: int) -> None:
    """Write a few audit events."""
    for number in range(count):
        record_event(
            session=session,
            action=AuditAction.VIEW,
            actor=None,
            origin=ORIGIN,
            object_type="user_account",
            object_id=number,
            reason=f"strategy meeting {number} | café",
        )


def seal(session: Session) -> None:
    """Fire the commit-time sealing now, inside the test's transaction."""
    session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    session.expire_all()


def test_rows_are_sealed_into_a_chain_at_commit(db_session: Session) -> None:
    add_events(db_session, 3)
    assert db_session.scalars(select(AuditEvent.chain_seq)).all() == [None, None, None]
    seal(db_session)
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.chain_seq)).all()
    assert [event.chain_seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    for event in events:
        assert event.prev_hash is not None
        assert event.hash == row_hash(event.prev_hash, canonical_values(event))
    assert verify_chain(session=db_session).ok


def test_chain_cannot_be_forged_by_the_writer(db_session: Session) -> None:
    forged = AuditEvent(action=AuditAction.VIEW, chain_seq=99, prev_hash="f" * 64, hash="e" * 64)
    db_session.add(forged)
    db_session.flush()
    seal(db_session)
    assert forged.chain_seq == 1
    assert forged.prev_hash == GENESIS_HASH
    assert forged.hash != "e" * 64


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET reason = 'changed'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
def test_app_role_cannot_change_audit_rows(db_session: Session, statement: str) -> None:
    add_events(db_session, 1)
    with pytest.raises(ProgrammingError, match="permission denied"), db_session.begin_nested():
        db_session.execute(text(statement))
    assert db_session.scalar(select(AuditEvent.reason)) == "strategy meeting 0 | café"


def test_app_role_cannot_touch_migrations_table(db_session: Session) -> None:
    with pytest.raises(ProgrammingError, match="permission denied"), db_session.begin_nested():
        db_session.execute(text("SELECT * FROM alembic_version"))


def run_verify(database: Database) -> subprocess.CompletedProcess[str]:
    """Run `csmap audit verify` against a database."""
    env = {**os.environ, "DATABASE_URL": database.app_url, "CSMAP_MIGRATION_DATABASE_URL": database.owner_url}
    return subprocess.run(
        [sys.executable, "-m", "app", "audit", "verify"], env=env, capture_output=True, text=True, check=False
    )


def committed_events(database: Database, count: int) -> None:
    """Commit audit events as the app role."""
    engine = create_engine(database.app_url)
    with Session(engine) as session, session.begin():
        add_events(session, count)
    engine.dispose()


def as_owner(database: Database, statement: str) -> None:
    """Run a statement as the owner role, as a rogue administrator could."""
    engine = create_engine(database.owner_url)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def test_verify_passes_on_an_intact_chain(fresh_database: Database) -> None:
    committed_events(fresh_database, 5)
    result = run_verify(fresh_database)
    assert result.returncode == 0, result.stderr
    assert "intact: 5 events" in result.stderr


def test_verify_names_the_row_the_owner_changed(fresh_database: Database) -> None:
    committed_events(fresh_database, 5)
    as_owner(fresh_database, "UPDATE audit_event SET reason = 'nothing to see' WHERE chain_seq = 3")
    result = run_verify(fresh_database)
    assert result.returncode == 2
    assert "(row 3)" in result.stderr
    assert "content does not match its hash" in result.stderr


def test_verify_names_a_row_slipped_in_unsealed(fresh_database: Database) -> None:
    committed_events(fresh_database, 2)
    as_owner(
        fresh_database,
        "ALTER TABLE audit_event DISABLE TRIGGER audit_event_seal;"
        "INSERT INTO audit_event (action) VALUES ('view');"
        "ALTER TABLE audit_event ENABLE TRIGGER audit_event_seal;",
    )
    result = run_verify(fresh_database)
    assert result.returncode == 2
    assert "never sealed" in result.stderr


def test_concurrent_writers_make_one_unbroken_chain(fresh_database: Database) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: committed_events(fresh_database, 5), range(8)))
    result = run_verify(fresh_database)
    assert result.returncode == 0, result.stderr
    assert "intact: 40 events" in result.stderr


def test_verify_names_the_gap_the_owner_left(fresh_database: Database) -> None:
    committed_events(fresh_database, 5)
    as_owner(fresh_database, "DELETE FROM audit_event WHERE chain_seq = 2")
    result = run_verify(fresh_database)
    assert result.returncode == 2
    assert "row number 2 is missing" in result.stderr


def test_verify_catches_a_rehashed_row_by_its_successor(fresh_database: Database) -> None:
    committed_events(fresh_database, 4)
    engine = create_engine(fresh_database.owner_url)
    with Session(engine) as session, session.begin():
        row = session.scalars(select(AuditEvent).where(AuditEvent.chain_seq == 2)).one()
        row.reason = "rewritten"
        row.hash = row_hash(row.prev_hash or "", canonical_values(row))
    engine.dispose()
    result = run_verify(fresh_database)
    assert result.returncode == 2
    assert "(row 3)" in result.stderr
    assert "link to the previous row" in result.stderr
