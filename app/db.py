"""Engine, session factory and the request-scoped session (the request owns the transaction)."""

from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import AccessDenied
from mapping import registry as model_registry

MODELS = model_registry.metadata
"""Every table, domain and mapping alike, imported wherever the app or the command line opens a
session: foreign keys such as missing_episode.missing_from_place_id resolve only then."""


def make_engine(url: str, threads: int = 4) -> Engine:
    """Create an engine that survives database restarts (pre-ping) and never hangs forever."""
    return create_engine(
        url,
        pool_pre_ping=True,
        # One connection per request thread (the app caps AnyIO's thread pool at start-up), so a
        # thread never waits for the pool while holding a request.
        pool_size=threads,
        max_overflow=4,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "csmap"},
    )


@lru_cache(maxsize=4)
def engine_for(url: str, threads: int = 4) -> Engine:
    """Return one shared engine per URL."""
    return make_engine(url, threads)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Return a session factory bound to the app database."""
    return sessionmaker(
        bind=engine_for(settings.database_url, settings.request_threads), expire_on_commit=False
    )


def request_transaction(request: Request, session: Session) -> Iterator[Session]:
    """Yield the session; commit when the route returns, roll back when it raises.

    A refusal (AccessDenied) rolls the work back, then commits its own audit event.
    """
    try:
        yield session
        session.commit()
    except AccessDenied:
        session.rollback()
        _record_denial(request, session)
        session.commit()
        raise
    except BaseException:
        session.rollback()
        raise


def get_session(request: Request) -> Iterator[Session]:
    """A new session per request, in one transaction."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield from request_transaction(request, session)


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
