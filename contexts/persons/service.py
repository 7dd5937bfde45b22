"""Persons of concern, links and people in concerns: scoped by `contexts.access`, audited with reasons."""

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure, visible_to
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import Concern
from contexts.concerns.service import concerns_visible_to
from contexts.errors import AccessDenied, Conflict, InvalidInput, NotFound
from contexts.language.checker import Rule, check_text
from contexts.language.schemas import LanguageFinding
from contexts.persons.models import ConcernPerson, PersonLink, PersonOfConcern
from contexts.persons.schemas import (
    DEFAULT_REVIEW_DAYS,
    ConcernPersonCreate,
    ConcernPersonRead,
    LinkCreate,
    LinkRead,
    LinkUpdate,
    PersonOfConcernCreate,
    PersonOfConcernRead,
    PersonOfConcernUpdate,
)
from contexts.young_people.models import YoungPerson
from contexts.young_people.service import get_young_person, people_visible_to

PERSON_OF_CONCERN = "person_of_concern"
PERSON_LINK = "person_link"
CONCERN_PERSON = "concern_person"
GRADING = ("source_evaluation", "intelligence_assessment", "handling_code")
LINK_FIELDS = (
    "relationship_type",
    "description",
    "source_agency_id",
    *GRADING,
    "observed_date",
    "review_by_date",
)


def _audit(
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    action: AuditAction,
    reason: str | None,
    object_type: str,
    oid: object,
) -> None:
    """Record access to a person's information with the stated reason."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type=object_type,
        object_id=oid,
        reason=reason,
    )


def persons_of_concern_visible_to(actor: Actor) -> ColumnElement[bool]:
    """The persons of concern the actor may see."""
    return visible_to(actor, PersonOfConcern.agency_id)


def _visible_people(actor: Actor) -> Any:
    """Ids of the young people the actor may see, as a subquery."""
    return select(YoungPerson.id).where(people_visible_to(actor))


def links_visible_to(actor: Actor) -> ColumnElement[bool]:
    """Links the actor may see: recorded by a visible agency, and every person at either end visible."""
    return and_(
        visible_to(actor, PersonLink.agency_id),
        PersonLink.young_person_id.in_(_visible_people(actor)),
        or_(
            PersonLink.linked_young_person_id.is_(None),
            PersonLink.linked_young_person_id.in_(_visible_people(actor)),
        ),
        or_(
            PersonLink.person_of_concern_id.is_(None),
            PersonLink.person_of_concern_id.in_(
                select(PersonOfConcern.id).where(persons_of_concern_visible_to(actor))
            ),
        ),
    )


# Persons of concern


def create_person_of_concern(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, data: PersonOfConcernCreate
) -> PersonOfConcern:
    """Record a person of concern in the actor's agency."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = PersonOfConcern(**data.model_dump(), agency_id=actor.agency_id, created_by_id=actor.user_id)
    session.add(person)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, PERSON_OF_CONCERN, person.id)
    return person


def get_person_of_concern(*, session: Session, actor: Actor, person_id: int) -> PersonOfConcern:
    """A person of concern the actor may see; others look as if they do not exist."""
    ensure(actor, Permission.VIEW_PEOPLE)
    person = session.scalar(
        select(PersonOfConcern).where(PersonOfConcern.id == person_id, persons_of_concern_visible_to(actor))
    )
    if person is None:
        raise NotFound("No such person of concern in the records you can see.")
    return person


def open_person_of_concern(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int
) -> PersonOfConcern:
    """Open a person of concern's record; audited with the reason."""
    person = get_person_of_concern(session=session, actor=actor, person_id=person_id)
    _audit(session, actor, origin, AuditAction.VIEW, reason, PERSON_OF_CONCERN, person.id)
    return person


def search_persons_of_concern(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PersonOfConcern], int]:
    """Find persons of concern by name or alias; the search is audited, its words are not stored."""
    ensure(actor, Permission.VIEW_PEOPLE)
    query = select(PersonOfConcern).where(persons_of_concern_visible_to(actor))
    if text and text.strip():
        term = text.strip().lower()
        alias = func.unnest(PersonOfConcern.aliases).table_valued("value").render_derived()
        query = query.where(
            or_(
                func.lower(PersonOfConcern.name).contains(term, autoescape=True),
                select(alias.c.value)
                .where(func.lower(alias.c.value).contains(term, autoescape=True))
                .exists(),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(PersonOfConcern.name, PersonOfConcern.id).limit(limit).offset(offset)
    people = list(session.scalars(page))
    _audit(session, actor, origin, AuditAction.VIEW, None, "person_of_concern_search", f"{len(people)} shown")
    return people, total


def update_person_of_concern(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    data: PersonOfConcernUpdate,
) -> PersonOfConcern:
    """Change a person of concern's record; a stale version is refused and nothing is lost."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = get_person_of_concern(session=session, actor=actor, person_id=person_id)
    if person.agency_id != actor.agency_id:
        raise AccessDenied("Only the recording agency can change this record.")
    if data.version != person.version:
        raise Conflict(
            "Someone changed this record since you opened it. Reload it and make your change again."
        )
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "name" in changes and changes["name"] is None:
        raise InvalidInput("A person of concern needs a name.", field="name")
    if "aliases" in changes and changes["aliases"] is None:
        changes["aliases"] = []
    for name, value in changes.items():
        setattr(person, name, value)
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, PERSON_OF_CONCERN, person.id)
    return person


def read_person_of_concern(person: PersonOfConcern) -> PersonOfConcernRead:
    """A person of concern for reading."""
    return PersonOfConcernRead(
        id=person.id,
        agency_id=person.agency_id,
        name=person.name,
        aliases=list(person.aliases),
        date_of_birth=person.date_of_birth,
        approximate_age=person.approximate_age,
        description=person.description,
        created_by_id=person.created_by_id,
        created_at=person.created_at,
        version=person.version,
    )


# Links


def _check_grading(values: dict[str, Any]) -> None:
    """A 3x5x2 grading is given whole or not at all; name the first missing part."""
    given = [values.get(part) is not None for part in GRADING]
    if any(given) and not all(given):
        missing = GRADING[given.index(False)]
        raise InvalidInput("Give all three parts of the 3x5x2 grading, or none.", field=missing)


def _check_source_agency(session: Session, agency_id: int | None) -> None:
    """The source agency exists."""
    if agency_id is None or session.get(Agency, agency_id) is None:
        raise InvalidInput(
            "Say which agency the information came from: nobody is linked by association alone.",
            field="source_agency_id",
        )


def _check_other_person(session: Session, actor: Actor, person_id: int, data: LinkCreate) -> None:
    """The link names exactly one other person, visible to the actor, and not the young person."""
    if data.linked_young_person_id is None and data.person_of_concern_id is None:
        raise InvalidInput(
            "Say who the young person is linked to: another young person or a person of concern.",
            field="person_of_concern_id",
        )
    if data.linked_young_person_id is not None and data.person_of_concern_id is not None:
        raise InvalidInput(
            "A link joins the young person to one other person: give a young person or a person of concern.",
            field="linked_young_person_id",
        )
    if data.linked_young_person_id is not None:
        if data.linked_young_person_id == person_id:
            raise InvalidInput(
                "A young person cannot be linked to themselves.", field="linked_young_person_id"
            )
        seen = session.scalar(
            select(YoungPerson.id).where(
                YoungPerson.id == data.linked_young_person_id, people_visible_to(actor)
            )
        )
        if seen is None:
            raise InvalidInput(
                "No such young person in the records you can see.", field="linked_young_person_id"
            )
    if data.person_of_concern_id is not None:
        seen = session.scalar(
            select(PersonOfConcern.id).where(
                PersonOfConcern.id == data.person_of_concern_id, persons_of_concern_visible_to(actor)
            )
        )
        if seen is None:
            raise InvalidInput(
                "No such person of concern in the records you can see.", field="person_of_concern_id"
            )


def add_link(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int, data: LinkCreate
) -> PersonLink:
    """Link a young person to another person, with the source, grading and review date."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    _check_other_person(session, actor, person.id, data)
    _check_source_agency(session, data.source_agency_id)
    _check_grading(data.model_dump())
    review_by = data.review_by_date or data.observed_date + timedelta(days=DEFAULT_REVIEW_DAYS)
    link = PersonLink(
        **data.model_dump(exclude={"review_by_date"}),
        review_by_date=review_by,
        young_person_id=person.id,
        agency_id=actor.agency_id,
        created_by_id=actor.user_id,
    )
    session.add(link)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, PERSON_LINK, link.id)
    return link


def _visible_link(session: Session, actor: Actor, link_id: int) -> PersonLink:
    """A link the actor may see; others look as if they do not exist."""
    ensure(actor, Permission.VIEW_PEOPLE)
    link = session.scalar(select(PersonLink).where(PersonLink.id == link_id, links_visible_to(actor)))
    if link is None:
        raise NotFound("No such link in the records you can see.")
    return link


def _own_link(session: Session, actor: Actor, link_id: int) -> PersonLink:
    """A link the actor's agency recorded, for changing."""
    ensure(actor, Permission.EDIT_PEOPLE)
    link = _visible_link(session, actor, link_id)
    if link.agency_id != actor.agency_id:
        raise AccessDenied("Only the recording agency can change this link.")
    return link


def update_link(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, link_id: int, data: LinkUpdate
) -> PersonLink:
    """Change a link; a stale version or a rule broken by the merged values changes nothing."""
    link = _own_link(session, actor, link_id)
    if data.version != link.version:
        raise Conflict("Someone changed this link since you opened it. Reload it and make your change again.")
    given = data.model_dump(exclude_unset=True, exclude={"version"})
    for required in ("relationship_type", "source_agency_id", "observed_date", "review_by_date"):
        if required in given and given[required] is None:
            raise InvalidInput("This cannot be left empty.", field=required)
    merged = {name: given.get(name, getattr(link, name)) for name in LINK_FIELDS}
    if any(part in given for part in GRADING):
        merged |= {part: given.get(part) for part in GRADING}
    _check_grading(merged)
    if "source_agency_id" in given:
        _check_source_agency(session, merged["source_agency_id"])
    if merged["review_by_date"] <= merged["observed_date"]:
        raise InvalidInput("The review date must be after the date observed.", field="review_by_date")
    changed = False
    for name in LINK_FIELDS:
        if merged[name] != getattr(link, name):
            setattr(link, name, merged[name])
            changed = True
    if not changed:
        return link
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, PERSON_LINK, link.id)
    return link


def delete_link(*, session: Session, actor: Actor, origin: RequestOrigin, reason: str, link_id: int) -> None:
    """Remove a link the actor's agency recorded; the removal is audited."""
    link = _own_link(session, actor, link_id)
    session.delete(link)
    session.flush()
    _audit(session, actor, origin, AuditAction.DELETE, reason, PERSON_LINK, link_id)


def links_of(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[PersonLink], int]:
    """A young person's links, at either end, newest observed first; the view is audited."""
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    query = select(PersonLink).where(
        or_(PersonLink.young_person_id == person.id, PersonLink.linked_young_person_id == person.id),
        links_visible_to(actor),
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(PersonLink.observed_date.desc(), PersonLink.id.desc()).limit(limit).offset(offset)
    links = list(session.scalars(page))
    _audit(session, actor, origin, AuditAction.VIEW, reason, PERSON_LINK, f"young_person:{person.id}")
    return links, total


def _young_person_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of young people by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(YoungPerson.id, YoungPerson.given_name, YoungPerson.family_name).where(
            YoungPerson.id.in_(wanted)
        )
    )
    return {row.id: f"{row.given_name} {row.family_name}" for row in rows}


def _person_of_concern_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of persons of concern by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(PersonOfConcern.id, PersonOfConcern.name).where(PersonOfConcern.id.in_(wanted))
    )
    return {row.id: row.name for row in rows}


def read_links(
    *, session: Session, links: Sequence[PersonLink], rules: tuple[Rule, ...] = (), today: date | None = None
) -> list[LinkRead]:
    """Shape links for reading, flagging those past their review date, with names looked up once."""
    if not links:
        return []
    today = today or date.today()
    young = _young_person_names(
        session, [link.young_person_id for link in links] + [link.linked_young_person_id for link in links]
    )
    others = _person_of_concern_names(session, [link.person_of_concern_id for link in links])
    agencies = {
        row.id: row.name
        for row in session.execute(
            select(Agency.id, Agency.name).where(Agency.id.in_({link.source_agency_id for link in links}))
        )
    }
    return [_read_link(link, young, others, agencies, rules, today) for link in links]


def _read_link(
    link: PersonLink,
    young: dict[int, str],
    others: dict[int, str],
    agencies: dict[int, str],
    rules: tuple[Rule, ...],
    today: date,
) -> LinkRead:
    """One link for reading."""
    if link.linked_young_person_id is not None:
        linked_name = young.get(link.linked_young_person_id, "")
    else:
        linked_name = others.get(link.person_of_concern_id or 0, "")
    findings = [LanguageFinding.model_validate(f) for f in check_text(link.description or "", rules)]
    return LinkRead(
        id=link.id,
        young_person_id=link.young_person_id,
        young_person_name=young.get(link.young_person_id, ""),
        linked_young_person_id=link.linked_young_person_id,
        person_of_concern_id=link.person_of_concern_id,
        linked_name=linked_name,
        relationship_type=link.relationship_type,
        description=link.description,
        agency_id=link.agency_id,
        source_agency_id=link.source_agency_id,
        source_agency_name=agencies.get(link.source_agency_id, ""),
        source_evaluation=link.source_evaluation,
        intelligence_assessment=link.intelligence_assessment,
        handling_code=link.handling_code,
        observed_date=link.observed_date,
        review_by_date=link.review_by_date,
        is_past_review=link.review_by_date < today,
        created_by_id=link.created_by_id,
        created_at=link.created_at,
        version=link.version,
        language_findings={"description": findings} if findings else {},
    )


# People involved in a concern


def _concern_to_change(session: Session, actor: Actor, concern_id: int) -> Concern:
    """A concern the actor may see and whose recording agency is the actor's."""
    ensure(actor, Permission.EDIT_PEOPLE)
    concern = session.scalar(select(Concern).where(Concern.id == concern_id, concerns_visible_to(actor)))
    if concern is None:
        raise NotFound("No such entry in the records you can see.")
    get_young_person(session=session, actor=actor, person_id=concern.young_person_id)
    if concern.agency_id != actor.agency_id:
        raise AccessDenied("Only the recording agency can change this entry.")
    return concern


def add_concern_person(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    concern_id: int,
    data: ConcernPersonCreate,
) -> ConcernPersonRead:
    """Say who was involved in a concern: one young person or one person of concern."""
    concern = _concern_to_change(session, actor, concern_id)
    if (data.young_person_id is None) == (data.person_of_concern_id is None):
        raise InvalidInput(
            "Give one young person or one person of concern.",
            field="person_of_concern_id" if data.young_person_id is None else "young_person_id",
        )
    if data.young_person_id is not None:
        if data.young_person_id == concern.young_person_id:
            raise InvalidInput("This entry is already about that young person.", field="young_person_id")
        if (
            session.scalar(
                select(YoungPerson.id).where(YoungPerson.id == data.young_person_id, people_visible_to(actor))
            )
            is None
        ):
            raise InvalidInput("No such young person in the records you can see.", field="young_person_id")
        same = ConcernPerson.young_person_id == data.young_person_id
    else:
        if (
            session.scalar(
                select(PersonOfConcern.id).where(
                    PersonOfConcern.id == data.person_of_concern_id, persons_of_concern_visible_to(actor)
                )
            )
            is None
        ):
            raise InvalidInput(
                "No such person of concern in the records you can see.", field="person_of_concern_id"
            )
        same = ConcernPerson.person_of_concern_id == data.person_of_concern_id
    if (
        session.scalar(select(ConcernPerson.id).where(ConcernPerson.concern_id == concern.id, same))
        is not None
    ):
        raise Conflict("That person is already listed on this entry.")
    entry = ConcernPerson(concern_id=concern.id, added_by_id=actor.user_id, **data.model_dump())
    session.add(entry)
    session.flush()
    session.refresh(entry)
    _audit(session, actor, origin, AuditAction.CREATE, reason, CONCERN_PERSON, entry.id)
    return read_concern_people(session=session, entries=[entry])[0]


def remove_concern_person(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, concern_id: int, entry_id: int
) -> None:
    """Take someone off a concern's list of people involved."""
    concern = _concern_to_change(session, actor, concern_id)
    entry = session.scalar(
        select(ConcernPerson).where(ConcernPerson.id == entry_id, ConcernPerson.concern_id == concern.id)
    )
    if entry is None:
        raise NotFound("No such person on this entry.")
    session.delete(entry)
    session.flush()
    _audit(session, actor, origin, AuditAction.DELETE, reason, CONCERN_PERSON, entry_id)


def concern_people(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, concern_id: int
) -> list[ConcernPersonRead]:
    """The people involved in a concern the actor may see; the view is audited."""
    ensure(actor, Permission.VIEW_PEOPLE)
    concern = session.scalar(select(Concern).where(Concern.id == concern_id, concerns_visible_to(actor)))
    if concern is None:
        raise NotFound("No such entry in the records you can see.")
    get_young_person(session=session, actor=actor, person_id=concern.young_person_id)
    entries = session.scalars(
        select(ConcernPerson)
        .where(
            ConcernPerson.concern_id == concern.id,
            or_(
                ConcernPerson.young_person_id.is_(None),
                ConcernPerson.young_person_id.in_(_visible_people(actor)),
            ),
            or_(
                ConcernPerson.person_of_concern_id.is_(None),
                ConcernPerson.person_of_concern_id.in_(
                    select(PersonOfConcern.id).where(persons_of_concern_visible_to(actor))
                ),
            ),
        )
        .order_by(ConcernPerson.id)
    ).all()
    _audit(session, actor, origin, AuditAction.VIEW, reason, CONCERN_PERSON, f"concern:{concern.id}")
    return read_concern_people(session=session, entries=entries)


def read_concern_people(*, session: Session, entries: Sequence[ConcernPerson]) -> list[ConcernPersonRead]:
    """Shape people involved in a concern for reading, with their names."""
    young = _young_person_names(session, [entry.young_person_id for entry in entries])
    others = _person_of_concern_names(session, [entry.person_of_concern_id for entry in entries])
    return [
        ConcernPersonRead(
            id=entry.id,
            concern_id=entry.concern_id,
            young_person_id=entry.young_person_id,
            person_of_concern_id=entry.person_of_concern_id,
            name=young.get(entry.young_person_id or 0, "") or others.get(entry.person_of_concern_id or 0, ""),
            role=entry.role,
            added_by_id=entry.added_by_id,
            added_at=entry.added_at,
        )
        for entry in entries
    ]
