"""A place's profile: concerns there over time, their trend, nearby places, and young people linked.

A concern is linked to a place when it was recorded at the place or at a point within the linking
radius (150 m by default) of it. Who sees what follows the role:

- analysts see true monthly counts (agency-only entries of other agencies left out);
- neighbourhood teams see the same counts through the partner disclosure gate (and a trend
  computed from those published counts, never from the true ones);
- practitioners and supervisors see counts of the entries they may read, and how many of their own
  agency's young people are linked; the names are on a separate, audited page.

"Linked by place" (Working Together: partners spot children linked to the same locations): when
`minimum` or more different young people are linked to the place within `days`, the profile raises
it for analysts and for the lead agencies of those young people.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, Role, can, ensure, entry_visible_to, visible_to
from contexts.concerns.models import Concern, Sensitivity
from contexts.errors import NotFound
from contexts.young_people.models import YoungPerson
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.trend import mann_kendall
from mapping.places.models import Place, PlaceTypeEntry

Audience = Literal["analyst", "partner", "case"]
TREND_ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class LinkRule:
    """When concerns count as linked to a place, and when several young people raise an alert."""

    radius_m: float = 150.0
    days: int = 90
    minimum: int = 3


@dataclass(frozen=True, slots=True)
class MonthCount:
    """Concerns linked to the place in one month (None: hidden by the disclosure gate)."""

    month: date
    count: int | None


@dataclass(frozen=True, slots=True)
class Trend:
    """Mann-Kendall over the monthly counts."""

    label: str
    z: float
    p: float


@dataclass(frozen=True, slots=True)
class NearbyPlace:
    """Another place close by."""

    id: int
    name: str
    type_label: str
    distance_m: int


@dataclass(frozen=True, slots=True)
class PlaceProfile:
    """What the place page shows beside the place's details."""

    audience: Audience
    months: list[MonthCount]
    trend: Trend
    nearby: list[NearbyPlace]
    young_people_recently: int | None
    own_young_people_recently: int
    alert: bool
    rule: LinkRule


def audience_of(actor: Actor) -> Audience:
    """Case roles read entries; analysts see true aggregates; everyone else sees partner figures."""
    if can(actor, Permission.VIEW_PEOPLE):
        return "case"
    return "analyst" if actor.has_role(Role.ANALYST) else "partner"


def _linked(place: Place, radius_m: float) -> ColumnElement[bool]:
    """Concerns recorded at the place or within the radius of it."""
    return or_(Concern.place_id == place.id, func.ST_DWithin(Concern.point_bng, place.geom_bng, radius_m))


def _readable(actor: Actor) -> ColumnElement[bool]:
    """Entries the actor's figures may include: agency-only ones stay in their agency."""
    return entry_visible_to(actor, Concern.agency_id, Concern.sensitivity == Sensitivity.AGENCY_ONLY)


def _month_starts(today: date, months: int) -> list[date]:
    """The first days of the last `months` months, oldest first, this month last."""
    starts = []
    year, month = today.year, today.month
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _monthly(session: Session, actor: Actor, place: Place, rule: LinkRule, starts: list[date]) -> list[int]:
    """True counts of linked, readable concerns per month."""
    since = datetime(starts[0].year, starts[0].month, 1, tzinfo=UTC)
    month = func.date_trunc("month", Concern.occurred_at, "UTC")
    rows = session.execute(
        select(month, func.count())
        .where(_linked(place, rule.radius_m), _readable(actor), Concern.occurred_at >= since)
        .group_by(month)
    )
    found = {value.date(): int(count) for value, count in rows}
    return [found.get(start, 0) for start in starts]


def _trend(counts: list[int]) -> Trend:
    """Rising, falling or no clear trend, by Mann-Kendall at the 5% level."""
    result = mann_kendall(np.asarray(counts, dtype=np.float64).reshape(-1, 1))
    z, p = float(result.z[0]), float(result.p[0])
    if p < TREND_ALPHA and z > 0:
        return Trend("Rising", z, p)
    if p < TREND_ALPHA and z < 0:
        return Trend("Falling", z, p)
    return Trend("No clear trend", z, p)


def _nearby(session: Session, place: Place, within_m: float = 500, most: int = 10) -> list[NearbyPlace]:
    """Other current places within a walk, nearest first."""
    distance = func.ST_Distance(Place.geom_bng, place.geom_bng)
    rows = session.execute(
        select(Place.id, Place.name, PlaceTypeEntry.label, distance)
        .join(PlaceTypeEntry, PlaceTypeEntry.code == Place.place_type)
        .where(
            Place.id != place.id,
            Place.archived_at.is_(None),
            func.ST_DWithin(Place.geom_bng, place.geom_bng, within_m),
        )
        .order_by(distance, Place.id)
        .limit(most)
    )
    return [NearbyPlace(row[0], row[1], row[2], round(float(row[3]))) for row in rows]


def _recent_people(actor: Actor, place: Place, rule: LinkRule, now: datetime) -> Select[Any]:
    """Distinct young people with a readable concern linked to the place within the alert window."""
    return (
        select(Concern.young_person_id)
        .where(
            _linked(place, rule.radius_m),
            _readable(actor),
            Concern.occurred_at >= now - timedelta(days=rule.days),
        )
        .distinct()
    )


def _load(session: Session, place_id: int) -> Place:
    """The place, or NotFound."""
    place = session.get(Place, place_id)
    if place is None:
        raise NotFound("There is no such place.")
    return place


def place_profile(
    *,
    session: Session,
    actor: Actor,
    place_id: int,
    policy: DisclosurePolicy,
    rule: LinkRule | None = None,
    months: int = 12,
    now: datetime | None = None,
) -> PlaceProfile:
    """The profile of one place as this actor may see it."""
    ensure(actor, Permission.VIEW_PLACES)
    rule = rule or LinkRule()
    now = now or datetime.now(UTC)
    place = _load(session, place_id)
    audience = audience_of(actor)
    starts = _month_starts(now.date(), months)
    counts = _monthly(session, actor, place, rule, starts)
    people = _recent_people(actor, place, rule, now).subquery()
    recent = int(session.scalar(select(func.count()).select_from(people)) or 0)
    own = int(
        session.scalar(
            select(func.count())
            .select_from(people)
            .join(YoungPerson, YoungPerson.id == people.c.young_person_id)
            .where(visible_to(actor, YoungPerson.agency_id))
        )
        or 0
    )
    shown = counts if audience != "partner" else [policy.publish_count(count) for count in counts]
    return PlaceProfile(
        audience=audience,
        months=[MonthCount(start, count) for start, count in zip(starts, shown, strict=True)],
        trend=_trend(counts if audience != "partner" else [count or 0 for count in shown]),
        nearby=_nearby(session, place),
        young_people_recently=recent if audience != "partner" else None,
        own_young_people_recently=own if audience == "case" else 0,
        alert=recent >= rule.minimum and (audience == "analyst" or (audience == "case" and own > 0)),
        rule=rule,
    )


def linked_young_people(
    *,
    session: Session,
    actor: Actor,
    place_id: int,
    rule: LinkRule | None = None,
    now: datetime | None = None,
) -> list[tuple[YoungPerson, datetime, int]]:
    """The actor's own agency's young people linked to the place in the window: last link, how many."""
    ensure(actor, Permission.VIEW_PEOPLE)
    rule = rule or LinkRule()
    now = now or datetime.now(UTC)
    place = _load(session, place_id)
    rows = session.execute(
        select(YoungPerson, func.max(Concern.occurred_at), func.count(Concern.id))
        .join(Concern, Concern.young_person_id == YoungPerson.id)
        .where(
            and_(_linked(place, rule.radius_m), _readable(actor)),
            Concern.occurred_at >= now - timedelta(days=rule.days),
            visible_to(actor, YoungPerson.agency_id),
        )
        .group_by(YoungPerson.id)
        .order_by(func.max(Concern.occurred_at).desc(), YoungPerson.id)
    )
    return [(row[0], row[1], int(row[2])) for row in rows]
