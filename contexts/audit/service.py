"""Write audit events and verify the chain."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from contexts.access import Actor, audit_visible_to
from contexts.audit.chain import GENESIS_HASH, epoch_microseconds, row_hash
from contexts.audit.models import AuditAction, AuditEvent


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a request came from, for the audit trail."""

    request_id: str | None = None
    client_address: str | None = None


AUDIT_INSERT = insert(cast(Table, AuditEvent.__table__))
"""One audit row, built once: a request writes at least one, and building the statement and its cache
key again each time cost more than sending it."""


def record_event(
    *,
    session: Session,
    action: AuditAction,
    actor: Actor | None,
    origin: RequestOrigin,
    object_type: str | None = None,
    object_id: object | None = None,
    reason: str | None = None,
    username: str | None = None,
    agency_id: int | None = None,
) -> None:
    """Add an audit event to the current transaction; the trigger chains it.

    A plain Core INSERT on the session's connection, after flushing what is pending (the row's keys
    may name a user or agency added in this transaction): no ORM statement handling for a row that
    is never read back in the request.
    """
    session.flush()
    session.connection().execute(
        AUDIT_INSERT,
        {
            "action": action,
            "actor_user_id": actor.user_id if actor else None,
            "actor_username": actor.username if actor else username,
            "agency_id": actor.agency_id if actor else agency_id,
            "object_type": object_type,
            "object_id": None if object_id is None else str(object_id),
            "reason": reason,
            "request_id": origin.request_id,
            "client_address": origin.client_address,
        },
    )


def recent_events(*, session: Session, actor: Actor, limit: int = 50) -> list[AuditEvent]:
    """Return the latest events of the agencies the actor may see, newest first."""
    query = (
        select(AuditEvent)
        .where(audit_visible_to(actor, AuditEvent.agency_id))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def own_sign_ins(*, session: Session, actor: Actor, limit: int = 5) -> list[AuditEvent]:
    """Return the actor's own latest sign-in events, newest first."""
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.actor_username == actor.username,
            AuditEvent.action.in_([AuditAction.SIGN_IN, AuditAction.SIGN_IN_FAILED]),
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of checking the audit chain."""

    rows_checked: int
    head_hash: str
    broken_event_id: int | None = None
    broken_chain_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Say whether every row checked out."""
        return self.problem is None


def canonical_values(event: AuditEvent) -> list[object | None]:
    """Return the row's fields in the order the trigger hashes them."""
    return [
        event.chain_seq,
        epoch_microseconds(event.occurred_at),
        event.actor_user_id,
        event.actor_username,
        event.agency_id,
        event.action.value,
        event.object_type,
        event.object_id,
        event.reason,
        event.request_id,
        event.client_address,
    ]


def _events_in_chain_order(session: Session) -> Iterator[AuditEvent]:
    """Stream every sealed audit event in chain order."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.chain_seq.is_not(None))
        .order_by(AuditEvent.chain_seq)
        .execution_options(yield_per=2000)
    )
    yield from session.scalars(query)


def verify_chain(*, session: Session) -> ChainReport:
    """Recompute every hash and link; name the first row that does not check out.

    Committed rows are always sealed, so an unsealed row seen here was tampered with.
    """
    unsealed = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.chain_seq.is_(None)))
    if unsealed is not None:
        return ChainReport(0, GENESIS_HASH, unsealed, None, "it was never sealed into the chain")
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _events_in_chain_order(session):
        problem = None
        if event.chain_seq != expected_seq:
            problem = f"row number {expected_seq} is missing (found {event.chain_seq})"
        elif event.prev_hash != expected_prev:
            problem = "its link to the previous row does not match"
        elif event.hash != row_hash(expected_prev, canonical_values(event)):
            problem = "its content does not match its hash"
        if problem is not None:
            return ChainReport(checked, expected_prev, event.id, event.chain_seq, problem)
        expected_prev = event.hash or ""
        expected_seq += 1
        checked += 1
    return ChainReport(checked, expected_prev)
