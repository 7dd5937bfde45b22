"""Missing episode services: record, change (versioned), list, overdue return interviews, the places map."""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, and_, column, func, select, table
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure, visible_to
from contexts.accounts.service import now_utc
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import Concern
from contexts.concerns.service import concerns_visible_to
from contexts.errors import AccessDenied, Conflict, InvalidInput, NotFound
from contexts.language.checker import Rule, check_text
from contexts.language.schemas import LanguageFinding
from contexts.language.service import note_flags
from contexts.missing.models import RETURN_INTERVIEW_HOURS, MissingEpisode, MissingEpisodeConcern
from contexts.missing.schemas import (
    MissingEpisodeCreate,
    MissingEpisodeRead,
    MissingEpisodeUpdate,
    MissingPlaceFeature,
    MissingPlaceProperties,
    OverdueReturnInterview,
)
from contexts.young_people.models import YoungPerson
from contexts.young_people.schemas import Coordinates
from contexts.young_people.service import Area, get_young_person, people_visible_to

OBJECT_TYPE = "missing_episode"
RETURN_INTERVIEW_WINDOW = timedelta(hours=RETURN_INTERVIEW_HOURS)
POINTS = ("missing_from_point", "found_point")
PLACES = ("missing_from_place_id", "found_place_id")
FOUND_DETAILS = ("found_place_id", "found_address", "found_point", "found_with")
CHECKED_TEXT = ("notes", "found_with")
_place = table("place", column("id"), column("name"), column("geom"))


def episodes_visible_to(actor: Actor) -> ColumnElement[bool]:
    """Episodes the actor may see: recorded by a visible agency, about a young person they may see."""
    return and_(
        visible_to(actor, MissingEpisode.agency_id),
        MissingEpisode.young_person_id.in_(select(YoungPerson.id).where(people_visible_to(actor))),
    )


def _audit(
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    action: AuditAction,
    reason: str | None,
    oid: object,
    object_type: str = OBJECT_TYPE,
) -> None:
    """Record access to a missing episode with the stated reason."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type=object_type,
        object_id=oid,
        reason=reason,
    )


def _check_place(session: Session, place_id: int | None, field: str) -> None:
    """A given place exists."""
    if place_id is not None and session.scalar(select(_place.c.id).where(_place.c.id == place_id)) is None:
        raise InvalidInput("That place does not exist.", field=field)


def _point(point: Coordinates | None, area: Area, field: str) -> Any:
    """A PostGIS point for coordinates inside the deployment's area."""
    if point is None:
        return None
    if not area.contains(point):
        raise InvalidInput("The location is outside this deployment's area.", field=field)
    return from_shape(Point(point.longitude, point.latitude), srid=4326)


def _check_episode(values: dict[str, Any]) -> None:
    """The rules an episode keeps whatever order its details arrive in; raise naming the field."""
    if all(
        values.get(name) is None
        for name in ("missing_from_place_id", "missing_from_address", "missing_from_point")
    ):
        raise InvalidInput(
            "Say where the young person went missing from: a place, an address or a point on the map.",
            field="missing_from_address",
        )
    since: datetime = values["missing_since"]
    reported: datetime | None = values.get("reported_at")
    found: datetime | None = values.get("found_at")
    offered: datetime | None = values.get("return_interview_offered_at")
    if reported is not None and reported < since:
        raise InvalidInput("The time reported cannot be before the time missing since.", field="reported_at")
    if found is None:
        for name in FOUND_DETAILS:
            if values.get(name) is not None:
                raise InvalidInput("Give the time found with where and with whom.", field="found_at")
        if offered is not None:
            raise InvalidInput(
                "A return interview is offered once the young person is found: give the time found.",
                field="found_at",
            )
    elif found < since:
        raise InvalidInput("The time found cannot be before the time missing since.", field="found_at")
    if offered is not None and found is not None and offered < found:
        raise InvalidInput(
            "The return interview cannot be offered before the young person was found.",
            field="return_interview_offered_at",
        )
    if values.get("return_interview_declined") and offered is None:
        raise InvalidInput(
            "Record when the return interview was offered before recording that it was declined.",
            field="return_interview_declined",
        )


def create_episode(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    data: MissingEpisodeCreate,
    area: Area,
    rules: Sequence[Rule] = (),
) -> MissingEpisode:
    """Record a missing episode for a young person."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    values = data.model_dump(exclude=set(POINTS))
    _check_episode({**values, **{name: getattr(data, name) for name in POINTS}})
    for field in PLACES:
        _check_place(session, values[field], field)
    points = {name: _point(getattr(data, name), area, name) for name in POINTS}
    episode = MissingEpisode(
        **values, **points, young_person_id=person.id, agency_id=actor.agency_id, recorded_by_id=actor.user_id
    )
    session.add(episode)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, episode.id)
    note_flags(
        session=session,
        actor=actor,
        record_type="missing_episode",
        record_id=episode.id,
        texts=(episode.notes, episode.found_with),
        rules=rules,
    )
    return episode


def get_episode(*, session: Session, actor: Actor, episode_id: int) -> MissingEpisode:
    """An episode the actor may see; others look as if they do not exist."""
    ensure(actor, Permission.VIEW_PEOPLE)
    episode = session.scalar(
        select(MissingEpisode).where(MissingEpisode.id == episode_id, episodes_visible_to(actor))
    )
    if episode is None:
        raise NotFound("No such missing episode in the records you can see.")
    return episode


def open_episode(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, episode_id: int
) -> MissingEpisode:
    """Open an episode for viewing; audited with the reason."""
    episode = get_episode(session=session, actor=actor, episode_id=episode_id)
    _audit(session, actor, origin, AuditAction.VIEW, reason, episode.id)
    return episode


def _own_episode(session: Session, actor: Actor, episode_id: int) -> MissingEpisode:
    """An episode the actor's agency recorded, for changing."""
    ensure(actor, Permission.EDIT_PEOPLE)
    episode = get_episode(session=session, actor=actor, episode_id=episode_id)
    if episode.agency_id != actor.agency_id:
        raise AccessDenied("Only the recording agency can change this episode.")
    return episode


def update_episode(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    episode_id: int,
    data: MissingEpisodeUpdate,
    area: Area,
    rules: Sequence[Rule] = (),
) -> MissingEpisode:
    """Change an episode (such as recording when found); a stale version changes nothing."""
    episode = _own_episode(session, actor, episode_id)
    if data.version != episode.version:
        raise Conflict(
            "Someone changed this episode since you opened it. Reload it and make your change again."
        )
    given = data.model_dump(exclude_unset=True, exclude={"version", *POINTS})
    if "missing_since" in given and given["missing_since"] is None:
        raise InvalidInput("Give the time the young person went missing.", field="missing_since")
    if given.get("return_interview_declined", False) is None:
        given.pop("return_interview_declined")
    points = {name: getattr(data, name) for name in POINTS if name in data.model_fields_set}
    current = {
        attribute.key: getattr(episode, attribute.key) for attribute in MissingEpisode.__mapper__.column_attrs
    }
    _check_episode({**current, **given, **points})
    for field in PLACES:
        if field in given:
            _check_place(session, given[field], field)
    stored = {name: _point(point, area, name) for name, point in points.items()}
    for name, value in {**given, **stored}.items():
        setattr(episode, name, value)
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, episode.id)
    note_flags(
        session=session,
        actor=actor,
        record_type="missing_episode",
        record_id=episode.id,
        texts=(episode.notes, episode.found_with),
        rules=rules,
    )
    return episode


def episodes_of(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[MissingEpisode], int]:
    """A young person's missing episodes, newest first; the view is audited."""
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    query = select(MissingEpisode).where(
        MissingEpisode.young_person_id == person.id, episodes_visible_to(actor)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = (
        query.order_by(MissingEpisode.missing_since.desc(), MissingEpisode.id.desc())
        .limit(limit)
        .offset(offset)
    )
    episodes = list(session.scalars(page))
    _audit(session, actor, origin, AuditAction.VIEW, reason, f"young_person:{person.id}")
    return episodes, total


def _concern_of_episode(session: Session, actor: Actor, episode: MissingEpisode, concern_id: int) -> Concern:
    """A concern the actor may see in the same young person's chronology, or a 422 naming it."""
    concern = session.scalar(
        select(Concern).where(
            Concern.id == concern_id,
            Concern.young_person_id == episode.young_person_id,
            concerns_visible_to(actor),
        )
    )
    if concern is None:
        raise InvalidInput("No such entry in this young person's chronology.", field="concern_id")
    return concern


def link_concern(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, episode_id: int, concern_id: int
) -> MissingEpisode:
    """Link an entry of the young person's chronology to the episode."""
    episode = _own_episode(session, actor, episode_id)
    concern = _concern_of_episode(session, actor, episode, concern_id)
    if session.get(MissingEpisodeConcern, (episode.id, concern.id)) is not None:
        raise Conflict("That entry is already linked to this episode.")
    session.add(
        MissingEpisodeConcern(
            missing_episode_id=episode.id, concern_id=concern.id, linked_by_id=actor.user_id
        )
    )
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, episode.id)
    return episode


def unlink_concern(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, episode_id: int, concern_id: int
) -> None:
    """Remove the link between an entry and the episode."""
    episode = _own_episode(session, actor, episode_id)
    link = session.get(MissingEpisodeConcern, (episode.id, concern_id))
    if link is None:
        raise NotFound("That entry is not linked to this episode.")
    session.delete(link)
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, episode.id)


def _overdue_query(actor: Actor, now: datetime, mine: bool) -> Any:
    """Visible episodes whose young person was found over 72 hours ago with no interview offered."""
    query = (
        select(MissingEpisode, YoungPerson)
        .join(YoungPerson, YoungPerson.id == MissingEpisode.young_person_id)
        .where(
            episodes_visible_to(actor),
            MissingEpisode.found_at.is_not(None),
            MissingEpisode.found_at < now - RETURN_INTERVIEW_WINDOW,
            MissingEpisode.return_interview_offered_at.is_(None),
        )
    )
    return query.where(YoungPerson.lead_practitioner_id == actor.user_id) if mine else query


def overdue_return_interviews_page(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin | None = None,
    mine: bool = False,
    limit: int | None = None,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[OverdueReturnInterview], int]:
    """A page of overdue return interviews, most overdue first, and how many there are; audited."""
    ensure(actor, Permission.VIEW_PEOPLE)
    now = now or now_utc()
    query = _overdue_query(actor, now, mine)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(MissingEpisode.found_at, MissingEpisode.id).offset(offset)
    rows = session.execute(page.limit(limit) if limit else page).all()
    items = []
    for episode, person in rows:
        due = episode.found_at + RETURN_INTERVIEW_WINDOW
        items.append(
            OverdueReturnInterview(
                episode_id=episode.id,
                young_person_id=person.id,
                given_name=person.given_name,
                family_name=person.family_name,
                preferred_name=person.preferred_name,
                found_at=episode.found_at,
                return_interview_due_by=due,
                hours_overdue=round((now - due).total_seconds() / 3600, 1),
            )
        )
    if items:  # an empty list shows nobody: nothing to account for
        _audit(
            session,
            actor,
            origin or RequestOrigin(),
            AuditAction.VIEW,
            None,
            f"{len(items)} shown",
            "overdue_return_interviews",
        )
    return items, total


def overdue_return_interviews(
    session: Session, actor: Actor, *, origin: RequestOrigin | None = None, mine: bool = False
) -> list[OverdueReturnInterview]:
    """Every overdue return interview the actor may see, with the young person's id and name."""
    items, _ = overdue_return_interviews_page(session=session, actor=actor, origin=origin, mine=mine)
    return items


def episode_places(
    session: Session,
    actor: Actor,
    person_id: int,
    *,
    origin: RequestOrigin | None = None,
    reason: str | None = None,
) -> list[MissingPlaceFeature]:
    """GeoJSON features (WGS84) of where a young person went missing from and was found; audited."""
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    from_place = _place.alias("from_place")
    found_place = _place.alias("found_place")
    rows = session.execute(
        select(
            MissingEpisode.id,
            MissingEpisode.missing_since,
            MissingEpisode.found_at,
            MissingEpisode.missing_from_place_id,
            from_place.c.name.label("from_name"),
            func.ST_AsGeoJSON(func.coalesce(MissingEpisode.missing_from_point, from_place.c.geom), 7).label(
                "from_geometry"
            ),
            MissingEpisode.found_place_id,
            found_place.c.name.label("found_name"),
            func.ST_AsGeoJSON(func.coalesce(MissingEpisode.found_point, found_place.c.geom), 7).label(
                "found_geometry"
            ),
        )
        .outerjoin(from_place, from_place.c.id == MissingEpisode.missing_from_place_id)
        .outerjoin(found_place, found_place.c.id == MissingEpisode.found_place_id)
        .where(MissingEpisode.young_person_id == person.id, episodes_visible_to(actor))
        .order_by(MissingEpisode.missing_since, MissingEpisode.id)
    ).all()
    features = []
    for row in rows:
        if row.from_geometry is not None:
            features.append(
                MissingPlaceFeature(
                    geometry=json.loads(row.from_geometry),
                    properties=MissingPlaceProperties(
                        episode_id=row.id,
                        kind="missing_from",
                        at=row.missing_since,
                        place_id=row.missing_from_place_id,
                        place_name=row.from_name,
                    ),
                )
            )
        if row.found_geometry is not None:
            features.append(
                MissingPlaceFeature(
                    geometry=json.loads(row.found_geometry),
                    properties=MissingPlaceProperties(
                        episode_id=row.id,
                        kind="found_at",
                        at=row.found_at,
                        place_id=row.found_place_id,
                        place_name=row.found_name,
                    ),
                )
            )
    _audit(
        session,
        actor,
        origin or RequestOrigin(),
        AuditAction.VIEW,
        reason,
        f"young_person:{person.id}",
        "missing_places",
    )
    return features


def _coordinates(point: Any) -> Coordinates | None:
    """Coordinates of a stored point."""
    if point is None:
        return None
    shape = to_shape(point)
    assert isinstance(shape, Point)
    return Coordinates(longitude=shape.x, latitude=shape.y)


def read_episodes(
    *,
    session: Session,
    actor: Actor,
    episodes: Sequence[MissingEpisode],
    rules: tuple[Rule, ...] = (),
    now: datetime | None = None,
) -> list[MissingEpisodeRead]:
    """Shape episodes for reading, with durations, the return interview deadline and linked entries."""
    if not episodes:
        return []
    now = now or now_utc()
    linked: dict[int, list[int]] = {episode.id: [] for episode in episodes}
    for episode_id, concern_id in session.execute(
        select(MissingEpisodeConcern.missing_episode_id, MissingEpisodeConcern.concern_id)
        .join(Concern, Concern.id == MissingEpisodeConcern.concern_id)
        .where(MissingEpisodeConcern.missing_episode_id.in_(linked), concerns_visible_to(actor))
        .order_by(MissingEpisodeConcern.concern_id)
    ):
        linked[episode_id].append(concern_id)
    return [_read(episode, linked[episode.id], rules, now) for episode in episodes]


def _read(
    episode: MissingEpisode, concern_ids: list[int], rules: tuple[Rule, ...], now: datetime
) -> MissingEpisodeRead:
    """One episode for reading."""
    found = episode.found_at
    due = None if found is None else found + RETURN_INTERVIEW_WINDOW
    findings = {
        name: [LanguageFinding.model_validate(f) for f in check_text(getattr(episode, name) or "", rules)]
        for name in CHECKED_TEXT
    }
    return MissingEpisodeRead(
        id=episode.id,
        young_person_id=episode.young_person_id,
        agency_id=episode.agency_id,
        recorded_by_id=episode.recorded_by_id,
        missing_from_place_id=episode.missing_from_place_id,
        missing_from_address=episode.missing_from_address,
        missing_from_point=_coordinates(episode.missing_from_point),
        missing_since=episode.missing_since,
        reported_at=episode.reported_at,
        found_at=found,
        found_place_id=episode.found_place_id,
        found_address=episode.found_address,
        found_point=_coordinates(episode.found_point),
        found_with=episode.found_with,
        return_interview_offered_at=episode.return_interview_offered_at,
        return_interview_declined=episode.return_interview_declined,
        notes=episode.notes,
        version=episode.version,
        is_missing=found is None,
        duration_hours=None
        if found is None
        else round((found - episode.missing_since).total_seconds() / 3600, 2),
        return_interview_due_by=due,
        return_interview_overdue=(
            due is not None and episode.return_interview_offered_at is None and now > due
        ),
        concern_ids=concern_ids,
        language_findings={name: found_ for name, found_ in findings.items() if found_},
    )
