"""Agencies of the partnership."""

from fastapi import APIRouter

from app.db import SessionDep
from app.deps import AgencyAdmin, OriginDep, SignedIn
from contexts.agencies.schemas import AgencyCreate, AgencyRead
from contexts.agencies.service import create_agency_as, list_agencies

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
    agency = create_agency_as(session=session, actor=actor, origin=origin, data=data)
    return AgencyRead.model_validate(agency)
