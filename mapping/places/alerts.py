"""Linked by place across the partnership: every place where `minimum` or more young people are linked
within the window (Working Together: partners spot children linked to the same locations).

The rule is the place profile's (mapping/places/profile.py): a concern is linked to a place when it
was recorded at the place, or its own point lies within the linking radius of the place. Analysts
are told of every such place; practitioners and supervisors of the places where at least one of
their agency's young people is linked (their agency leads those records). Neighbourhood teams and
partners are told nothing here: they see places only through the disclosure gate. Counts follow the
profile's reading rule, so agency-only entries of other agencies never count.

The window's concerns are found through the hotspot aggregate's facts, which are indexed by month
(the concern table is not indexed by time): a located concern always has a fact, and a concern
without a location cannot be linked to a place.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, union_all
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, ensure, entry_visible_to, visible_to
from contexts.concerns.models import Concern, Sensitivity
from contexts.young_people.models import YoungPerson
from mapping.hotspots.models import TIME_ZONE, HotspotFact, Source
from mapping.places.models import Place, PlaceTypeEntry
from mapping.places.profile import LinkRule, audience_of


@dataclass(frozen=True, slots=True)
class LinkedPlaceAlert:
    """A place where several young people are linked within the window."""

    place_id: int
    name: str
    type_label: str
    young_people: int
    own_young_people: int
    latest: datetime


def _first_local_day(since: datetime) -> date:
    """The UK local day the window starts on (facts are dated in local time)."""
    return since.astimezone(ZoneInfo(TIME_ZONE)).date()


def linked_place_alerts(
    *,
    session: Session,
    actor: Actor,
    rule: LinkRule | None = None,
    now: datetime | None = None,
    most: int = 50,
) -> list[LinkedPlaceAlert]:
    """The places this actor is told of, most young people first, then the latest link."""
    ensure(actor, Permission.VIEW_PLACES)
    audience = audience_of(actor)
    if audience == "partner":
        return []
    rule = rule or LinkRule()
    since = (now or datetime.now(UTC)) - timedelta(days=rule.days)
    first_day = _first_local_day(since)
    recent = (
        select(Concern.young_person_id, Concern.place_id, Concern.point_bng, Concern.occurred_at)
        .join(HotspotFact, and_(HotspotFact.source == Source.CONCERN, HotspotFact.record_id == Concern.id))
        .where(
            HotspotFact.month >= first_day.replace(day=1),
            HotspotFact.occurred_on >= first_day,
            Concern.occurred_at >= since,
            entry_visible_to(actor, Concern.agency_id, Concern.sensitivity == Sensitivity.AGENCY_ONLY),
        )
        .cte("recent")
        .prefix_with("MATERIALIZED")
    )
    at_place = select(recent.c.place_id, recent.c.young_person_id, recent.c.occurred_at).where(
        recent.c.place_id.is_not(None)
    )
    near_place = (
        select(Place.id, recent.c.young_person_id, recent.c.occurred_at)
        .join(Place, func.ST_DWithin(Place.geom_bng, recent.c.point_bng, rule.radius_m))
        .where(recent.c.point_bng.is_not(None))
    )
    links = union_all(at_place, near_place).subquery("links")
    people = func.count(links.c.young_person_id.distinct())
    own = func.count(links.c.young_person_id.distinct()).filter(visible_to(actor, YoungPerson.agency_id))
    query = (
        select(Place.id, Place.name, PlaceTypeEntry.label, people, own, func.max(links.c.occurred_at))
        .select_from(links)
        .join(Place, Place.id == links.c.place_id)
        .join(PlaceTypeEntry, PlaceTypeEntry.code == Place.place_type)
        .join(YoungPerson, YoungPerson.id == links.c.young_person_id)
        .where(Place.archived_at.is_(None))
        .group_by(Place.id, Place.name, PlaceTypeEntry.label)
        .having(people >= rule.minimum)
        .order_by(people.desc(), func.max(links.c.occurred_at).desc(), Place.id)
        .limit(most)
    )
    if audience == "case":
        query = query.having(own > 0)
    return [
        LinkedPlaceAlert(int(row[0]), row[1], row[2], int(row[3]), int(row[4]), row[5])
        for row in session.execute(query)
    ]
