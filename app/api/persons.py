"""Persons of concern, links between people (with their provenance) and the people in a concern."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.db import SessionDep
from app.deps import AccessReason, LanguageRules, OriginDep, PeopleEditor, PeopleViewer
from contexts.persons.schemas import (
    ConcernPersonCreate,
    ConcernPersonRead,
    LinkCreate,
    LinkPage,
    LinkRead,
    LinkUpdate,
    PersonOfConcernCreate,
    PersonOfConcernPage,
    PersonOfConcernRead,
    PersonOfConcernUpdate,
)
from contexts.persons.service import (
    add_concern_person,
    add_link,
    concern_people,
    create_person_of_concern,
    delete_link,
    links_of,
    open_person_of_concern,
    read_links,
    read_person_of_concern,
    remove_concern_person,
    search_persons_of_concern,
    update_link,
    update_person_of_concern,
)

router = APIRouter(prefix="/api", tags=["persons of concern"])
REASON: dict[int | str, dict[str, Any]] = {428: {"description": "No reason given: send X-Access-Reason"}}
STALE: dict[int | str, dict[str, Any]] = {409: {"description": "A stale version: reload and try again"}}


@router.post("/persons-of-concern", response_model=PersonOfConcernRead, status_code=201, responses=REASON)
def create_person(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    data: PersonOfConcernCreate,
) -> PersonOfConcernRead:
    """Record a person of concern (an adult or young person outside csmap's records) in your agency."""
    person = create_person_of_concern(session=session, actor=actor, origin=origin, reason=reason, data=data)
    return read_person_of_concern(person)


@router.get("/persons-of-concern", response_model=PersonOfConcernPage)
def search_persons(
    actor: PeopleViewer,
    session: SessionDep,
    origin: OriginDep,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name or alias")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PersonOfConcernPage:
    """Find persons of concern in the records you can see."""
    people, total = search_persons_of_concern(
        session=session, actor=actor, origin=origin, text=q, limit=limit, offset=offset
    )
    return PersonOfConcernPage(
        items=[read_person_of_concern(p) for p in people], total=total, limit=limit, offset=offset
    )


@router.get("/persons-of-concern/{person_id}", response_model=PersonOfConcernRead, responses=REASON)
def read_person(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, person_id: int
) -> PersonOfConcernRead:
    """Open a person of concern's record (audited with your reason)."""
    person = open_person_of_concern(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    return read_person_of_concern(person)


@router.patch("/persons-of-concern/{person_id}", response_model=PersonOfConcernRead, responses=REASON | STALE)
def change_person(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    data: PersonOfConcernUpdate,
) -> PersonOfConcernRead:
    """Change a person of concern's record; send the version you read (409 if stale)."""
    person = update_person_of_concern(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id, data=data
    )
    return read_person_of_concern(person)


@router.post("/young-people/{person_id}/links", response_model=LinkRead, status_code=201, responses=REASON)
def create_link(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    person_id: int,
    data: LinkCreate,
) -> LinkRead:
    """Link a young person to another young person or a person of concern, with source and grading."""
    link = add_link(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id, data=data
    )
    return read_links(session=session, links=[link], rules=rules)[0]


@router.get("/young-people/{person_id}/links", response_model=LinkPage, responses=REASON)
def list_links(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    person_id: int,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LinkPage:
    """A young person's links (recorded on them or pointing at them); past-review ones are flagged."""
    links, total = links_of(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        limit=limit,
        offset=offset,
    )
    return LinkPage(
        young_person_id=person_id,
        items=read_links(session=session, links=links, rules=rules),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.patch("/links/{link_id}", response_model=LinkRead, responses=REASON | STALE)
def change_link(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    link_id: int,
    data: LinkUpdate,
) -> LinkRead:
    """Change a link your agency recorded; send the version you read (409 if stale)."""
    link = update_link(session=session, actor=actor, origin=origin, reason=reason, link_id=link_id, data=data)
    return read_links(session=session, links=[link], rules=rules)[0]


@router.delete("/links/{link_id}", status_code=204, response_class=Response, responses=REASON)
def remove_link(
    actor: PeopleEditor, reason: AccessReason, session: SessionDep, origin: OriginDep, link_id: int
) -> Response:
    """Remove a link your agency recorded (audited)."""
    delete_link(session=session, actor=actor, origin=origin, reason=reason, link_id=link_id)
    return Response(status_code=204)


@router.get("/concerns/{concern_id}/people", response_model=list[ConcernPersonRead], responses=REASON)
def list_concern_people(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, concern_id: int
) -> list[ConcernPersonRead]:
    """The people involved in a concern."""
    return concern_people(session=session, actor=actor, origin=origin, reason=reason, concern_id=concern_id)


@router.post(
    "/concerns/{concern_id}/people", response_model=ConcernPersonRead, status_code=201, responses=REASON
)
def attach_person(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    concern_id: int,
    data: ConcernPersonCreate,
) -> ConcernPersonRead:
    """Say who was involved in a concern your agency recorded: a young person or a person of concern."""
    return add_concern_person(
        session=session, actor=actor, origin=origin, reason=reason, concern_id=concern_id, data=data
    )


@router.delete(
    "/concerns/{concern_id}/people/{entry_id}", status_code=204, response_class=Response, responses=REASON
)
def detach_person(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    concern_id: int,
    entry_id: int,
) -> Response:
    """Take someone off a concern's list of people involved."""
    remove_concern_person(
        session=session, actor=actor, origin=origin, reason=reason, concern_id=concern_id, entry_id=entry_id
    )
    return Response(status_code=204)
