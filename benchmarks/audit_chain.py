"""What the hash-chained audit trail costs, against a plain append-only table.

Each event is written in its own transaction, as a request writes it, by 1 and by 4
concurrent writers; then `verify_chain` reads the whole chain back. The baseline is the
same table without the chaining trigger (what an app would otherwise use).
"""

import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event, verify_chain

EVENTS = 4000
ORIGIN = RequestOrigin(request_id="0123456789abcdef0123456789abcdef", client_address="127.0.0.1")
INSERT = (
    "INSERT INTO {table} (action, object_type, object_id, reason, request_id, client_address) "
    "VALUES ('view', 'user_account', :object_id, 'allocated worker', :request_id, '127.0.0.1')"
)
PLAIN_INSERT = text(INSERT.format(table="audit_plain"))
CHAINED_INSERT = text(INSERT.format(table="audit_event"))


def chained_write(engine: Engine, number: int) -> None:
    """One audited view, in its own transaction, through the service."""
    with Session(engine) as session, session.begin():
        record_event(
            session=session,
            action=AuditAction.VIEW,
            actor=None,
            origin=ORIGIN,
            object_type="user_account",
            object_id=number,
            reason="allocated worker",
        )


def plain_write(engine: Engine, number: int) -> None:
    """The same row into a table without the chain, in its own transaction."""
    with engine.begin() as connection:
        connection.execute(PLAIN_INSERT, {"object_id": str(number), "request_id": ORIGIN.request_id})


def chained_sql_write(engine: Engine, number: int) -> None:
    """The same raw INSERT into the chained table: isolates the trigger's cost."""
    with engine.begin() as connection:
        connection.execute(CHAINED_INSERT, {"object_id": str(number), "request_id": ORIGIN.request_id})


def rate(write: Callable[[Engine, int], None], engine: Engine, writers: int) -> float:
    """Events per second for EVENTS writes spread over `writers` threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(lambda number: write(engine, number), range(EVENTS)))
    return EVENTS / (time.perf_counter() - started)


def prepare(cluster: Cluster) -> tuple[Engine, Engine]:
    """A migrated database with a chain-free copy of the audit table; app and owner engines."""
    from alembic import command

    cluster.ensure_database("bench")
    config = alembic_config(cluster.url(OWNER_ROLE, "bench"))
    config.attributes["skip_logging_config"] = True
    command.upgrade(config, "head")
    owner = create_engine(cluster.url(OWNER_ROLE, "bench"))
    with owner.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE audit_plain (LIKE audit_event INCLUDING DEFAULTS INCLUDING IDENTITY);"
                "ALTER TABLE audit_plain ALTER chain_seq DROP NOT NULL, ALTER prev_hash DROP NOT NULL,"
                " ALTER hash DROP NOT NULL;"
                f"GRANT SELECT, INSERT ON audit_plain TO {APP_ROLE};"
                f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};"
            )
        )
    return create_engine(cluster.url(APP_ROLE, "bench"), pool_size=8), owner


def main() -> None:
    """Run the benchmark on a throwaway cluster and print the figures."""
    root = Path(tempfile.mkdtemp(prefix="csmap-bench-"))
    cluster = Cluster(root, 54391)
    console = Console()
    try:
        cluster.ensure_started()
        app_engine, owner = prepare(cluster)
        table = Table(title=f"Audit writes, one event per transaction ({EVENTS} events)")
        table.add_column("writers", justify="right")
        table.add_column("plain table (events/s)", justify="right")
        table.add_column("hash-chained, same SQL (events/s)", justify="right")
        table.add_column("hash-chained, csmap service (events/s)", justify="right")
        for writers in (1, 4):
            table.add_row(
                str(writers),
                f"{rate(plain_write, app_engine, writers):,.0f}",
                f"{rate(chained_sql_write, app_engine, writers):,.0f}",
                f"{rate(chained_write, app_engine, writers):,.0f}",
            )
        console.print(table)
        with Session(owner) as session:
            started = time.perf_counter()
            report = verify_chain(session=session)
            elapsed = time.perf_counter() - started
        console.print(
            f"csmap audit verify: {report.rows_checked:,} events in {elapsed:.2f} s "
            f"({report.rows_checked / elapsed:,.0f} events/s), intact={report.ok}"
        )
        app_engine.dispose()
        owner.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
