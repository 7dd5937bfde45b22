"""Agency services."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from contexts.access import Actor
from contexts.agencies.models import Agency
from contexts.agencies.schemas import AgencyCreate
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import Conflict, NotFound


def list_agencies(*, session: Session) -> list[Agency]:
    """Return every agency, by name."""
    return list(session.scalars(select(Agency).order_by(Agency.name)))


def get_agency_by_code(*, session: Session, code: str) -> Agency:
    """Return the agency with this code or raise NotFound."""
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound(f"No agency has the code '{code}'.")
    return agency


def create_agency(*, session: Session, data: AgencyCreate, is_demo: bool = False) -> Agency:
    """Add an agency; its code must be new."""
    if session.scalar(select(Agency.id).where(Agency.code == data.code)) is not None:
        raise Conflict(f"An agency with the code '{data.code}' already exists.")
    agency = Agency(code=data.code, name=data.name, kind=data.kind, is_demo=is_demo)
    session.add(agency)
    session.flush()
    return agency


def create_agency_as(*, session: Session, actor: Actor, origin: RequestOrigin, data: AgencyCreate) -> Agency:
    """Add an agency on behalf of a system administrator; audited."""
    agency = create_agency(session=session, data=data)
    record_event(
        session=session,
        action=AuditAction.CREATE,
        actor=actor,
        origin=origin,
        object_type="agency",
        object_id=agency.id,
    )
    return agency
