"""Young person services: every read and change is scoped by `contexts.access` and audited."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, Select, bindparam, column, func, or_, select, table
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure, visibility_of, visible_to, visible_to_anyone_given
from contexts.accounts.models import User
from contexts.accounts.service import now_utc
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import Conflict, InvalidInput, NotFound
from contexts.young_people.models import RecordStatus, YoungPerson
from contexts.young_people.schemas import (
    Coordinates,
    PossibleDuplicate,
    YoungPersonCreate,
    YoungPersonRead,
    YoungPersonSummary,
    YoungPersonUpdate,
    age_on,
)

OBJECT_TYPE = "young_person"
DUPLICATE_SIMILARITY = 0.4
_place = table("place", column("id"), column("place_type"))


@dataclass(frozen=True, slots=True)
class Area:
    """The deployment's area in WGS84 degrees: points outside it are refused."""

    min_longitude: float
    min_latitude: float
    max_longitude: float
    max_latitude: float

    def contains(self, point: Coordinates) -> bool:
        """Say whether the point lies inside the area."""
        return (
            self.min_longitude <= point.longitude <= self.max_longitude
            and self.min_latitude <= point.latitude <= self.max_latitude
        )

    def holds_box(self, west: float, south: float, east: float, north: float) -> bool:
        """Say whether a box (degrees, west-south-east-north) lies wholly inside the area."""
        return (
            self.min_longitude <= west
            and east <= self.max_longitude
            and self.min_latitude <= south
            and north <= self.max_latitude
        )


class PossibleDuplicates(Conflict):
    """Records with the same date of birth and a similar name already exist."""

    code = "possible_duplicates"

    def __init__(self, candidates: list[PossibleDuplicate]) -> None:
        super().__init__(
            f"{len(candidates)} record(s) have the same date of birth and a similar name. "
            "Check they are not the same young person, then save again with confirm_not_duplicate."
        )
        self.candidates = candidates

    def extra(self) -> dict[str, object]:
        """List the records that may be the same young person."""
        return {"candidates": [candidate.model_dump(mode="json") for candidate in self.candidates]}


def people_visible_to(actor: Actor) -> ColumnElement[bool]:
    """The young people the actor may see."""
    return visible_to(actor, YoungPerson.agency_id)


def _audit(
    session: Session, actor: Actor, origin: RequestOrigin, action: AuditAction, reason: str, oid: object
) -> None:
    """Record access to a young person's record with the stated reason."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type=OBJECT_TYPE,
        object_id=oid,
        reason=reason,
    )


def find_possible_duplicates(
    *, session: Session, actor: Actor, given_name: str, family_name: str, date_of_birth: date
) -> list[PossibleDuplicate]:
    """Visible records with the same date of birth and a similar full name."""
    name = f"{given_name} {family_name}".lower()
    query = (
        select(YoungPerson)
        .where(
            people_visible_to(actor),
            YoungPerson.date_of_birth == date_of_birth,
            func.similarity(YoungPerson.full_name, name) >= DUPLICATE_SIMILARITY,
        )
        .order_by(func.similarity(YoungPerson.full_name, name).desc())
        .limit(10)
    )
    return [
        PossibleDuplicate(
            id=p.id, given_name=p.given_name, family_name=p.family_name, date_of_birth=p.date_of_birth
        )
        for p in session.scalars(query)
    ]


def _check_links(
    session: Session, actor: Actor, lead_practitioner_id: int | None, school_place_id: int | None
) -> None:
    """The lead practitioner works in the actor's agency; the school is a place of type school."""
    if lead_practitioner_id is not None:
        lead = session.get(User, lead_practitioner_id)
        if lead is None or lead.agency_id != actor.agency_id or not lead.is_active:
            raise InvalidInput(
                "The lead practitioner must be an active user in your agency.", field="lead_practitioner_id"
            )
    if school_place_id is not None:
        kind = session.scalar(select(_place.c.place_type).where(_place.c.id == school_place_id))
        if kind != "school":
            raise InvalidInput("The school must be a place of type school.", field="school_place_id")


def _point(point: Coordinates | None, area: Area) -> object | None:
    """A PostGIS point for coordinates inside the deployment's area."""
    if point is None:
        return None
    if not area.contains(point):
        raise InvalidInput("The home location is outside this deployment's area.", field="home_point")
    return from_shape(Point(point.longitude, point.latitude), srid=4326)


def create_young_person(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, data: YoungPersonCreate, area: Area
) -> YoungPerson:
    """Add a young person to the actor's agency, after warning of likely duplicates."""
    ensure(actor, Permission.EDIT_PEOPLE)
    if not data.confirm_not_duplicate:
        candidates = find_possible_duplicates(
            session=session,
            actor=actor,
            given_name=data.given_name,
            family_name=data.family_name,
            date_of_birth=data.date_of_birth,
        )
        if candidates:
            raise PossibleDuplicates(candidates)
    _check_links(session, actor, data.lead_practitioner_id, data.school_place_id)
    fields = data.model_dump(exclude={"confirm_not_duplicate", "home_point"})
    person = YoungPerson(**fields, agency_id=actor.agency_id, created_by_id=actor.user_id)
    person.home_point = _point(data.home_point, area)  # type: ignore[assignment]
    session.add(person)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, person.id)
    return person


def visible_record(*columns: Any) -> Select[Any]:
    """A young person's record by `person_id`, if visible to the actor `visibility_of` describes."""
    return select(*columns).where(
        YoungPerson.id == bindparam("person_id"), visible_to_anyone_given(YoungPerson.agency_id)
    )


VISIBLE_RECORD = visible_record(YoungPerson)
VISIBLE_RECORD_ID = visible_record(YoungPerson.id)
VISIBLE_RECORD_VALUES = visible_record(*YoungPerson.__table__.columns)
"""Built once: nearly every request about a young person runs one of them first."""
NOT_VISIBLE = "No such young person in the records you can see."


def get_young_person(*, session: Session, actor: Actor, person_id: int) -> YoungPerson:
    """A record the actor may see; others look as if they do not exist."""
    ensure(actor, Permission.VIEW_PEOPLE)
    person: YoungPerson | None = session.scalar(
        VISIBLE_RECORD, {"person_id": person_id, **visibility_of(actor)}
    )
    if person is None:
        raise NotFound(NOT_VISIBLE)
    return person


def visible_person_id(*, session: Session, actor: Actor, person_id: int) -> int:
    """`get_young_person` for callers that need only to know the record is there and visible."""
    return int(read_visible(session, actor, person_id, VISIBLE_RECORD_ID)["id"])


def read_visible(session: Session, actor: Actor, person_id: int, statement: Select[Any]) -> dict[str, Any]:
    """A visible record's columns (a `visible_record` statement's) by name, or NotFound.

    One Core query on the session's connection (after flushing what is pending, as a session query
    would), with no record loaded into the session.
    """
    ensure(actor, Permission.VIEW_PEOPLE)
    session.flush()
    values = (
        session.connection()
        .execute(statement, {"person_id": person_id, **visibility_of(actor)})
        .mappings()
        .first()
    )
    if values is None:
        raise NotFound(NOT_VISIBLE)
    return dict(values)


def open_young_person(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int
) -> YoungPerson:
    """Open a record for viewing; audited with the reason."""
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    _audit(session, actor, origin, AuditAction.VIEW, reason, person.id)
    return person


def _escape_like(text: str) -> str:
    """Make LIKE wildcards in typed text match literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(
    actor: Actor, text: str | None, born: date | None, status: RecordStatus | None
) -> Select[YoungPerson]:
    """The search query: name (similar or prefix), or an identifier, and filters."""
    query = select(YoungPerson).where(people_visible_to(actor))
    if text and text.strip():
        term = text.strip().lower()
        query = query.where(
            or_(
                YoungPerson.full_name.op("%")(term),
                YoungPerson.full_name.contains(term, autoescape=True),
                YoungPerson.preferred_name.ilike(_escape_like(term), escape="\\"),
                YoungPerson.local_id == text.strip(),
                YoungPerson.nhs_number == text.replace(" ", ""),
                YoungPerson.police_reference == text.strip(),
            )
        ).order_by(func.similarity(YoungPerson.full_name, term).desc(), YoungPerson.id)
    else:
        query = query.order_by(YoungPerson.family_name, YoungPerson.given_name, YoungPerson.id)
    if born is not None:
        query = query.where(YoungPerson.date_of_birth == born)
    if status is not None:
        query = query.where(YoungPerson.status == status)
    return query


def _count(session: Session, query: Select[YoungPerson]) -> int:
    """How many rows a search finds."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def search_young_people(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    text: str | None = None,
    born: date | None = None,
    status: RecordStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[YoungPerson], int]:
    """Find young people the actor may see; the search is audited, its words are not stored."""
    ensure(actor, Permission.VIEW_PEOPLE)
    query = _search(actor, text, born, status)
    # One pass over the matches gives the page and, by a window count, the total.
    rows = session.execute(query.add_columns(func.count().over()).limit(limit).offset(offset)).all()
    people = [row[0] for row in rows]
    total = rows[0][1] if rows else _count(session, query) if offset else 0
    record_event(
        session=session,
        action=AuditAction.VIEW,
        actor=actor,
        origin=origin,
        object_type="young_person_search",
        object_id=f"{len(people)} shown",
    )
    return people, total


def update_young_person(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    data: YoungPersonUpdate,
) -> YoungPerson:
    """Change a record; a stale version is refused and nothing is lost."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    if data.version != person.version:
        raise Conflict(
            "Someone changed this record since you opened it. Reload it and make your change again."
        )
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for name, value in changes.items():
        setattr(person, name, value)
    if data.status is RecordStatus.CLOSED and person.closed_at is None:
        person.closed_at = now_utc()
    if data.status is RecordStatus.OPEN:
        person.closed_at = None
        person.closed_reason = None
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, person.id)
    return person


def summary_of(person: YoungPerson, today: date | None = None) -> YoungPersonSummary:
    """The list line for a record."""
    return YoungPersonSummary.model_validate(
        {**_columns(person), "age": age_on(person.date_of_birth, today or date.today())}
    )


def read_of(person: YoungPerson, today: date | None = None) -> YoungPersonRead:
    """The full record for its case team."""
    return _read_values(_columns(person), today)


def _read_values(values: Mapping[str, Any], today: date | None = None) -> YoungPersonRead:
    """The full record for its case team, from its column values by name."""
    point = None
    if values["home_point"] is not None:
        shape = to_shape(values["home_point"])
        assert isinstance(shape, Point)
        point = Coordinates(longitude=shape.x, latitude=shape.y)
    return YoungPersonRead.model_validate(
        {**values, "age": age_on(values["date_of_birth"], today or date.today()), "home_point": point}
    )


def read_young_person(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int
) -> YoungPersonRead:
    """`read_of(open_young_person(...))`: audited the same, without loading the record into the session."""
    values = read_visible(session, actor, person_id, VISIBLE_RECORD_VALUES)
    _audit(session, actor, origin, AuditAction.VIEW, reason, person_id)
    return _read_values(values)


def _columns(person: YoungPerson) -> dict[str, object]:
    """The record's column values by name."""
    return {
        attribute.key: getattr(person, attribute.key) for attribute in YoungPerson.__mapper__.column_attrs
    }
