"""Agencies of the partnership."""

from fastapi import APIRouter

from app.db import SessionDep
from app.deps import AgencyAdmin, OriginDep, SignedIn
from contexts.agencies.schemas import AgencyCreate, AgencyRead
from contexts.agencies.service import create_agency, list_agencies
from contexts.audit.models import AuditAction
from contexts.audit.service import record_event

router = APIRouter(prefix="/api/agencies", tags=["agencies"])


@router.get("", response_model=list[AgencyRead])
def list_agencies_route(_: SignedIn, session: SessionDep) -> list[AgencyRead]:
    """Every agency in the partnership."""
    return [AgencyRead.model_validate(agency) for agency in list_agencies(session=session)]


@router.post("", response_model=AgencyRead, status_code=201)
def create_agency_route(
    actor: AgencyAdmin, session: SessionDep, origin: OriginDep, data: AgencyCreate
) -> AgencyRead:
    """Add an agency (system administrators)."""
    agency = create_agency(session=session, data=data)
    record_event(
        session=session,
        action=AuditAction.CREATE,
        actor=actor,
        origin=origin,
        object_type="agency",
        object_id=agency.id,
    )
    return AgencyRead.model_validate(agency)
