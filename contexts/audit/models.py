"""Audit event table.

Rows are sealed when their transaction commits, by a deferred trigger (see the first
migration): under a transaction-scoped advisory lock it numbers the row (`chain_seq`) and
stores the previous row's hash and its own. Until then the three chain fields are NULL.
The app's database role may only SELECT and INSERT.
"""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, FetchedValue, ForeignKey, Identity, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from contexts.agencies.models import enum_column
from contexts.base import Base


class AuditAction(enum.StrEnum):
    """Things the audit trail records."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    VIEW = "view"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    SHARE = "share"
    DENIED = "denied"


class AuditEvent(Base):
    """One audited action."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, server_default=FetchedValue())
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_username: Mapped[str | None] = mapped_column(String(64))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "audit_action"))
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64), server_default=FetchedValue())
    hash: Mapped[str | None] = mapped_column(String(64), server_default=FetchedValue())
