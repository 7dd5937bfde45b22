"""Young people: the records partner systems integrate against (names kept stable)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.responses import model_response
from app.db import SessionDep
from app.deps import AccessReason, AreaDep, OriginDep, PeopleEditor, PeopleViewer
from contexts.young_people.models import RecordStatus
from contexts.young_people.schemas import (
    YoungPersonCreate,
    YoungPersonPage,
    YoungPersonRead,
    YoungPersonUpdate,
)
from contexts.young_people.service import (
    create_young_person,
    read_of,
    read_young_person,
    search_young_people,
    summary_of,
    update_young_person,
)

router = APIRouter(prefix="/api/young-people", tags=["young people"])
DUPLICATES: dict[int | str, dict[str, Any]] = {
    409: {"description": "Possible duplicates (listed in `candidates`), or a stale version"}
}
REASON: dict[int | str, dict[str, Any]] = {428: {"description": "No reason given: send X-Access-Reason"}}


@router.post("", response_model=YoungPersonRead, status_code=201, responses=DUPLICATES | REASON)
def create(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    data: YoungPersonCreate,
) -> YoungPersonRead:
    """Add a young person to your agency; likely duplicates are listed first (409) until confirmed."""
    person = create_young_person(
        session=session, actor=actor, origin=origin, reason=reason, data=data, area=area
    )
    return read_of(person)


@router.get("", response_model=YoungPersonPage)
def search(
    actor: PeopleViewer,
    session: SessionDep,
    origin: OriginDep,
    q: Annotated[
        str | None, Query(max_length=100, description="Name, local id, NHS number or police reference")
    ] = None,
    date_of_birth: date | None = None,
    status: RecordStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> YoungPersonPage:
    """Find young people in the records you can see."""
    people, total = search_young_people(
        session=session,
        actor=actor,
        origin=origin,
        text=q,
        born=date_of_birth,
        status=status,
        limit=limit,
        offset=offset,
    )
    return YoungPersonPage(items=[summary_of(p) for p in people], total=total, limit=limit, offset=offset)


@router.get("/{person_id}", response_model=YoungPersonRead, responses=REASON)
def read(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, person_id: int
) -> Response:
    """Open a young person's record (audited with your reason)."""
    return model_response(
        read_young_person(session=session, actor=actor, origin=origin, reason=reason, person_id=person_id)
    )


@router.patch("/{person_id}", response_model=YoungPersonRead, responses=DUPLICATES | REASON)
def update(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    data: YoungPersonUpdate,
) -> YoungPersonRead:
    """Change a record; send the version you read, a stale one gets 409 and changes nothing."""
    person = update_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id, data=data
    )
    return read_of(person)
