"""Engine, session factory and the request-scoped session (the request owns the transaction)."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from starlette.concurrency import run_in_threadpool

from app.settings import Settings
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import AccessDenied
from mapping import registry as model_registry

MODELS = model_registry.metadata
"""Every table, domain and mapping alike, imported wherever the app or the command line opens a
session: foreign keys such as missing_episode.missing_from_place_id resolve only then."""


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection unused for longer than this is checked before a request gets it."""


def make_engine(url: str, threads: int = 4) -> Engine:
    """Create an engine that survives database restarts and never hangs forever."""
    engine = create_engine(
        url,
        # One connection per request thread (the app caps AnyIO's thread pool at start-up), so a
        # thread never waits for the pool while holding a request.
        pool_size=threads,
        max_overflow=4,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "csmap"},
    )
    ping_idle_connections(engine)
    speak_utc(engine)
    return engine


def speak_utc(engine: Engine) -> None:
    """Set each new connection's time zone to UTC, whatever the server's default.

    Times then come back in one zone on every deployment (date_trunc without a zone, such as the
    monthly language counts, cuts months in UTC as the place profile does), and psycopg reads them
    with its fixed-offset fast path: under a named zone such as Etc/UTC or Europe/London it looks
    the offset up for every value, a third of the time it takes to fetch a long chronology.
    """

    @event.listens_for(engine, "connect")
    def set_time_zone(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.autocommit = autocommit


def ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only when it has sat idle, as HikariCP does.

    A restart or an idle time-out can only have broken a connection that sat in the pool; one
    handed back a moment ago is answering. Under load connections come back within milliseconds, so
    requests no longer pay a `SELECT 1` round trip each (pool_pre_ping's cost), while a connection
    broken during a quiet spell is still replaced before any request sees it.
    """

    @event.listens_for(engine, "checkin")
    def note_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise exc.DisconnectionError() from error


@lru_cache(maxsize=4)
def engine_for(url: str, threads: int = 4) -> Engine:
    """Return one shared engine per URL."""
    return make_engine(url, threads)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Return a session factory bound to the app database."""
    return sessionmaker(
        bind=engine_for(settings.database_url, settings.request_threads), expire_on_commit=False
    )


@asynccontextmanager
async def request_transaction(
    request: Request, session: Session, *, close: bool = False
) -> AsyncIterator[Session]:
    """Yield the session; commit when the route returns, roll back when it raises.

    A refusal (AccessDenied) rolls the work back, then commits its own audit event. Opening needs no
    database work (the session connects on its first query), so only the end takes a thread-pool
    hand-off, with the close in the same one when asked.
    """
    try:
        yield session
    except BaseException as error:
        # Shielded: a request cancelled mid-way (the client went away) still rolls back and closes.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_end_request, request, session, error, close)
        raise
    await run_in_threadpool(_end_request, request, session, None, close)


def _end_request(request: Request, session: Session, error: BaseException | None, close: bool) -> None:
    """Commit, or roll back (recording a refusal); then close the session when asked."""
    try:
        if error is None:
            session.commit()
            return
        session.rollback()
        if isinstance(error, AccessDenied):
            _record_denial(request, session)
            session.commit()
    finally:
        if close:
            session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A new session per request, in one transaction."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    async with request_transaction(request, factory(), close=True) as session:
        yield session


def _record_denial(request: Request, session: Session) -> None:
    """Audit a refused attempt in its own transaction, after the work was rolled back."""
    client = request.client.host if request.client else None
    route = request.scope.get("route")
    record_event(
        session=session,
        action=AuditAction.DENIED,
        actor=getattr(request.state, "actor", None),
        origin=RequestOrigin(getattr(request.state, "request_id", None), client),
        object_type="route",
        object_id=f"{request.method} {getattr(route, 'path', '?')}"[:64],
    )


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
