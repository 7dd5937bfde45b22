"""Read the audit trail of the agencies you may see."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from app.db import SessionDep
from app.deps import AuditViewer
from contexts.audit.models import AuditAction
from contexts.audit.service import recent_events

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEventRead(BaseModel):
    """An audit event (the reason is free text and shown only to auditors)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    chain_seq: int | None
    occurred_at: datetime
    actor_username: str | None
    agency_id: int | None
    action: AuditAction
    object_type: str | None
    object_id: str | None
    reason: str | None
    request_id: str | None
    client_address: str | None


@router.get("/events", response_model=list[AuditEventRead])
def audit_events(
    actor: AuditViewer, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AuditEventRead]:
    """The latest audit events of your agency (all agencies for system administrators)."""
    return [
        AuditEventRead.model_validate(event)
        for event in recent_events(session=session, actor=actor, limit=limit)
    ]
