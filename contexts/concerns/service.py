"""Concern services: add, change (with history), list a chronology; scoped and audited."""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, Select, String, bindparam, column, func, select, table, type_coerce
from sqlalchemy.orm import Session

from contexts.access import (
    Actor,
    Permission,
    ensure,
    entry_visibility_of,
    entry_visible_to,
    entry_visible_to_anyone_given,
)
from contexts.accounts.models import User
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import Concern, ConcernCategory, ConcernRevision, Sensitivity
from contexts.concerns.schemas import (
    ChronologyEntry,
    ChronologyFilter,
    ConcernCreate,
    ConcernRead,
    ConcernRevisionRead,
    ConcernUpdate,
)
from contexts.errors import AccessDenied, Conflict, InvalidInput, NotFound
from contexts.language.checker import Finding, Rule, check_text
from contexts.language.schemas import LanguageFinding
from contexts.language.service import remember_flags
from contexts.young_people.models import YoungPerson
from contexts.young_people.schemas import Coordinates
from contexts.young_people.service import (
    Area,
    get_young_person,
    read_visible,
    visible_person_id,
    visible_record,
)

_place = table("place", column("id"))
EDITABLE = ("context", "kind", "summary", "detail", "occurred_at", "occurred_precision", "sensitivity")


def concerns_visible_to(actor: Actor) -> Any:
    """Entries the actor may see once the young person is visible to them."""
    return entry_visible_to(actor, Concern.agency_id, Concern.sensitivity == Sensitivity.AGENCY_ONLY)


def categories(*, session: Session) -> list[ConcernCategory]:
    """The active categories, by theme then label."""
    query = select(ConcernCategory).where(ConcernCategory.is_active.is_(True))
    return list(session.scalars(query.order_by(ConcernCategory.theme, ConcernCategory.label)))


ACTIVE_CATEGORY_BY_CODE = (ConcernCategory.code == bindparam("code"), ConcernCategory.is_active.is_(True))
"""The active category whose code is the parameter `code`."""
CATEGORY_BY_CODE = select(ConcernCategory.id).where(*ACTIVE_CATEGORY_BY_CODE)
NEW_ENTRY_NAMES = select(
    ConcernCategory.id,
    ConcernCategory.code.label("category"),
    ConcernCategory.label.label("category_label"),
    select(Agency.name).where(Agency.id == bindparam("agency_id")).scalar_subquery().label("agency_name"),
    select(User.display_name).where(User.id == bindparam("user_id")).scalar_subquery().label("recorded_by"),
).where(*ACTIVE_CATEGORY_BY_CODE)
"""Built once: a new entry's category, with the names it is read back with, in one round trip."""


def _no_category(code: str) -> InvalidInput:
    """The 422 for a category that does not exist (or is retired), naming the field."""
    return InvalidInput(f"There is no category '{code[:40]}'.", field="category")


def _category_id(session: Session, code: str) -> int:
    """The id of the active category with this code, or a 422 naming the field."""
    found = session.scalar(CATEGORY_BY_CODE, {"code": code})
    if found is None:
        raise _no_category(code)
    return int(found)


def _audit(
    session: Session, actor: Actor, origin: RequestOrigin, action: AuditAction, reason: str, oid: object
) -> None:
    """Record access to a concern with the stated reason."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type="concern",
        object_id=oid,
        reason=reason,
    )


def add_concern(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    data: ConcernCreate,
    area: Area,
    rules: Sequence[Rule] = (),
) -> ConcernRead:
    """Add an entry to a young person's chronology; the entry as read, with wording to review."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person_id = visible_person_id(session=session, actor=actor, person_id=person_id)
    names = session.execute(
        NEW_ENTRY_NAMES, {"code": data.category, "agency_id": actor.agency_id, "user_id": actor.user_id}
    ).first()
    if names is None:
        raise _no_category(data.category)
    if (
        data.place_id is not None
        and session.scalar(select(_place.c.id).where(_place.c.id == data.place_id)) is None
    ):
        raise InvalidInput("That place does not exist.", field="place_id")
    point = None
    if data.longitude is not None and data.latitude is not None:
        if not area.contains(Coordinates(longitude=data.longitude, latitude=data.latitude)):
            raise InvalidInput("The location is outside this deployment's area.", field="longitude")
        point = from_shape(Point(data.longitude, data.latitude), srid=4326)
    concern = Concern(
        young_person_id=person_id,
        agency_id=actor.agency_id,
        recorded_by_id=actor.user_id,
        category_id=names.id,
        point=point,
        **data.model_dump(exclude={"category", "longitude", "latitude", "place_id"}),
        place_id=data.place_id,
    )
    session.add(concern)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, concern.id)
    findings = _findings(concern, rules)
    remember_flags(
        session=session,
        actor=actor,
        record_type="concern",
        record_id=concern.id,
        flagged=sum(len(found) for found in findings.values()),
    )
    return _read(concern, names, findings)


def _visible_concern(session: Session, actor: Actor, concern_id: int) -> Concern:
    """An entry whose young person and sensitivity let the actor see it."""
    ensure(actor, Permission.VIEW_PEOPLE)
    concern = session.scalar(select(Concern).where(Concern.id == concern_id, concerns_visible_to(actor)))
    if concern is None:
        raise NotFound("No such entry in the records you can see.")
    get_young_person(session=session, actor=actor, person_id=concern.young_person_id)
    return concern


def _plain(value: object) -> object:
    """A JSON-friendly form of a changed value."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if hasattr(value, "value") else value


def update_concern(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    concern_id: int,
    data: ConcernUpdate,
    rules: Sequence[Rule] = (),
) -> ConcernRead:
    """Change an entry of your own agency, keeping a revision; a stale version changes nothing.

    The entry comes back as read, with wording to review; a change that changes nothing is audited
    as a view, since the entry is still shown.
    """
    ensure(actor, Permission.EDIT_PEOPLE)
    concern = _visible_concern(session, actor, concern_id)
    if concern.agency_id != actor.agency_id:
        raise AccessDenied("Only the recording agency can change this entry.")
    if data.version != concern.version:
        raise Conflict(
            "Someone changed this entry since you opened it. Reload it and make your change again."
        )
    changes: dict[str, list[object]] = {}
    given = data.model_dump(exclude_unset=True, exclude={"version"})
    if "category" in given and given["category"] is not None:
        category_id = _category_id(session, given.pop("category"))
        if category_id != concern.category_id:
            changes["category"] = [concern.category_id, category_id]
            concern.category_id = category_id
    for name in EDITABLE:
        if name in given and given[name] is not None and given[name] != getattr(concern, name):
            changes[name] = [_plain(getattr(concern, name)), _plain(given[name])]
            setattr(concern, name, given[name])
    findings = _findings(concern, rules)
    if not changes:
        _audit(session, actor, origin, AuditAction.VIEW, reason, concern.id)
        return _read(concern, _names(session, [concern.id])[concern.id], findings)
    session.flush()
    session.add(
        ConcernRevision(
            concern_id=concern.id, version=concern.version, changed_by_id=actor.user_id, changes=changes
        )
    )
    _audit(session, actor, origin, AuditAction.UPDATE, reason, concern.id)
    remember_flags(
        session=session,
        actor=actor,
        record_type="concern",
        record_id=concern.id,
        flagged=sum(len(found) for found in findings.values()),
    )
    return _read(concern, _names(session, [concern.id])[concern.id], findings)


def concern_history(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, concern_id: int
) -> list[ConcernRevisionRead]:
    """Who changed what in an entry, and when."""
    concern = _visible_concern(session, actor, concern_id)
    rows = session.execute(
        select(ConcernRevision, User.display_name)
        .join(User, User.id == ConcernRevision.changed_by_id)
        .where(ConcernRevision.concern_id == concern.id)
        .order_by(ConcernRevision.version)
    ).all()
    _audit(session, actor, origin, AuditAction.VIEW, reason, concern.id)
    return [
        ConcernRevisionRead(version=r.version, changed_by=name, changed_at=r.changed_at, changes=r.changes)
        for r, name in rows
    ]


def _conditions(filters: ChronologyFilter) -> list[ColumnElement[bool]]:
    """Which of a young person's entries the actor may see and the filters keep.

    The young person and the actor's agency are parameters (`_parameters`), so that the unfiltered
    statements can be built once.
    """
    visible = entry_visible_to_anyone_given(Concern.agency_id, Concern.sensitivity == Sensitivity.AGENCY_ONLY)
    conditions = [Concern.young_person_id == bindparam("person_id"), visible]
    if filters.date_from:
        conditions.append(Concern.occurred_at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to:
        conditions.append(
            Concern.occurred_at < datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
        )
    if filters.contexts:
        conditions.append(Concern.context.in_(filters.contexts))
    if filters.kinds:
        conditions.append(Concern.kind.in_(filters.kinds))
    if filters.agency_ids:
        conditions.append(Concern.agency_id.in_(filters.agency_ids))
    if filters.categories:
        codes = select(ConcernCategory.id).where(ConcernCategory.code.in_(filters.categories))
        conditions.append(Concern.category_id.in_(codes))
    return conditions


def _parameters(actor: Actor, person_id: int) -> dict[str, Any]:
    """The values `_conditions` leaves as parameters."""
    return {"person_id": person_id, **entry_visibility_of(actor)}


def _names(session: Session, ids: list[int]) -> dict[int, Any]:
    """The recorder's, agency's and category's names of some entries, by entry id, in one query."""
    rows = session.execute(
        select(
            Concern.id,
            User.display_name.label("recorded_by"),
            Agency.name.label("agency_name"),
            ConcernCategory.code.label("category"),
            ConcernCategory.label.label("category_label"),
        )
        .join(User, User.id == Concern.recorded_by_id)
        .join(Agency, Agency.id == Concern.agency_id)
        .join(ConcernCategory, ConcernCategory.id == Concern.category_id)
        .where(Concern.id.in_(ids))
    )
    return {row.id: row for row in rows}


def _findings(concern: Concern, rules: Sequence[Rule]) -> dict[str, list[Finding]]:
    """The wording to review in an entry's free text, by field."""
    if not rules:
        return {}
    texts = (("summary", concern.summary), ("detail", concern.detail or ""))
    return {name: check_text(text, rules) for name, text in texts}


def _read(concern: Concern, names: Any, findings: dict[str, list[Finding]]) -> ConcernRead:
    """One entry for reading, with its names and the wording to review (fields that have some)."""
    longitude = latitude = None
    if concern.point is not None:
        point = to_shape(concern.point)
        assert isinstance(point, Point)
        longitude, latitude = point.x, point.y
    return ConcernRead(
        id=concern.id,
        young_person_id=concern.young_person_id,
        agency_id=concern.agency_id,
        agency_name=names.agency_name,
        recorded_by=names.recorded_by,
        recorded_at=concern.created_at,
        occurred_at=concern.occurred_at,
        occurred_precision=concern.occurred_precision,
        context=concern.context,
        kind=concern.kind,
        category=names.category,
        category_label=names.category_label,
        summary=concern.summary,
        detail=concern.detail,
        place_id=concern.place_id,
        longitude=longitude,
        latitude=latitude,
        source_evaluation=concern.source_evaluation,
        intelligence_assessment=concern.intelligence_assessment,
        handling_code=concern.handling_code,
        sensitivity=concern.sensitivity,
        version=concern.version,
        language_findings={
            name: [LanguageFinding.model_validate(finding) for finding in found]
            for name, found in findings.items()
            if found
        },
    )


def recent_counts(
    *, session: Session, actor: Actor, person_id: int, since: datetime
) -> dict[tuple[str, str], int]:
    """Entries per (context, kind) since a time, for the profile's at-a-glance view."""
    rows = session.execute(
        select(Concern.context, Concern.kind, func.count())
        .where(Concern.young_person_id == person_id, Concern.occurred_at >= since, concerns_visible_to(actor))
        .group_by(Concern.context, Concern.kind)
    )
    return {(str(context), str(kind)): int(count) for context, kind, count in rows}


def _entry_columns(*, for_json: bool) -> list[Any]:
    """The columns of a chronology entry, labelled with ConcernRead's field names.

    For JSON, enum columns come back as their stored strings (no per-value conversion), and the
    agency and category as their ids, named from `OPENING_FOR_JSON`: joining those two
    small tables made PostgreSQL sort wider rows, after joins that lose the index's order.
    """

    def plain(attribute: Any) -> Any:
        return type_coerce(attribute, String) if for_json else attribute

    agency = [Concern.agency_id] if for_json else [Concern.agency_id, Agency.name.label("agency_name")]
    category = (
        [Concern.category_id]
        if for_json
        else [ConcernCategory.code.label("category"), ConcernCategory.label.label("category_label")]
    )
    return [
        Concern.id,
        Concern.young_person_id,
        *agency,
        User.display_name.label("recorded_by"),
        Concern.created_at.label("recorded_at"),
        Concern.occurred_at,
        plain(Concern.occurred_precision).label("occurred_precision"),
        plain(Concern.context).label("context"),
        plain(Concern.kind).label("kind"),
        *category,
        Concern.summary,
        Concern.detail,
        Concern.place_id,
        func.ST_X(Concern.point).label("longitude"),
        func.ST_Y(Concern.point).label("latitude"),
        plain(Concern.source_evaluation).label("source_evaluation"),
        plain(Concern.intelligence_assessment).label("intelligence_assessment"),
        plain(Concern.handling_code).label("handling_code"),
        plain(Concern.sensitivity).label("sensitivity"),
        Concern.version,
    ]


def _chronology_query(filters: ChronologyFilter, *, for_json: bool) -> Select[Any]:
    """Visible, filtered entries with names joined (for JSON, the recorder's only), oldest first."""
    query = (
        select(*_entry_columns(for_json=for_json))
        .select_from(Concern)
        .where(*_conditions(filters))
        .join(User, User.id == Concern.recorded_by_id)
    )
    if not for_json:
        query = query.join(Agency, Agency.id == Concern.agency_id).join(
            ConcernCategory, ConcernCategory.id == Concern.category_id
        )
    return query.order_by(Concern.occurred_at, Concern.id)


def _paged(query: Select[Any], *, limited: bool) -> Select[Any]:
    """The query from `page_offset`, for at most `page_limit` entries when `limited`."""
    query = query.offset(bindparam("page_offset"))
    return query.limit(bindparam("page_limit")) if limited else query


NO_FILTERS = ChronologyFilter()
UNFILTERED_PAGES = {
    for_json: _paged(_chronology_query(NO_FILTERS, for_json=for_json), limited=True)
    for for_json in (False, True)
}
"""Built once: most chronology requests have no filter, and building the select, its joins and its
cache key cost more per request than running it for a typical record."""
COUNTS = select(func.count()).select_from(select(Concern.id).where(*_conditions(NO_FILTERS)).subquery())


def _read_page(
    session: Session,
    actor: Actor,
    person_id: int,
    filters: ChronologyFilter,
    limit: int | None,
    offset: int,
    *,
    for_json: bool,
) -> tuple[list[Any], int]:
    """One page of rows and the filtered total.

    Run on the Core connection: the rows are plain tuples, with no ORM loading step per row. A page
    that ends before its limit gives the total by itself; only a full page, or one past the end,
    counts the rest apart (a window count over every row cost more than the whole count query).
    """
    unfiltered = filters == NO_FILTERS
    if unfiltered and limit is not None:
        query = UNFILTERED_PAGES[for_json]
    else:
        query = _paged(_chronology_query(filters, for_json=for_json), limited=limit is not None)
    parameters = _parameters(actor, person_id) | {"page_offset": offset}
    if limit is not None:
        parameters["page_limit"] = limit
    result = session.connection().execute(query, parameters)
    rows = list(result.all())
    if (rows or not offset) and (limit is None or len(rows) < limit):
        return rows, offset + len(rows)
    counted = (
        COUNTS
        if unfiltered
        else select(func.count()).select_from(select(Concern.id).where(*_conditions(filters)).subquery())
    )
    return rows, session.scalar(counted, _parameters(actor, person_id)) or 0


def _audit_chronology(
    session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int
) -> None:
    """Record that a chronology was read, with the reason."""
    record_event(
        session=session,
        action=AuditAction.VIEW,
        actor=actor,
        origin=origin,
        object_type="chronology",
        object_id=person_id,
        reason=reason,
    )


def chronology_entries(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    filters: ChronologyFilter,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[ChronologyEntry], int]:
    """The chronology for pages and exports: names joined and coordinates taken in SQL.

    Plain named tuples, no ORM object or model per row: a 2,000-entry chronology is the common case.
    """
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    rows, total = _read_page(session, actor, person.id, filters, limit, offset, for_json=False)
    entries = [ChronologyEntry._make(row) for row in rows]
    _audit_chronology(session, actor, origin, reason, person.id)
    return entries, total


def chronology_json(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    filters: ChronologyFilter,
    limit: int,
    offset: int = 0,
) -> bytes:
    """The chronology page serialised as `Chronology` JSON, straight from the rows.

    The same bytes as `Chronology(...).model_dump_json()` over `chronology_entries` (a test holds them
    equal), without building a model per entry: for 2,000 entries that was most of the request's time.
    """
    opened = read_visible(session, actor, person_id, OPENING_FOR_JSON)
    person_id = opened["id"]
    rows, total = _read_page(session, actor, person_id, filters, limit, offset, for_json=True)
    agencies = {int(key): name for key, name in (opened["agency_names"] or {}).items()}
    categories = {int(key): names for key, names in (opened["category_names"] or {}).items()}
    items = _json_items(rows, agencies, categories)
    _audit_chronology(session, actor, origin, reason, person_id)
    page = {"young_person_id": person_id, "items": items, "total": total, "limit": limit, "offset": offset}
    return orjson.dumps(page, option=orjson.OPT_UTC_Z)


OPENING_FOR_JSON = visible_record(
    YoungPerson.id,
    select(func.jsonb_object_agg(Agency.id, Agency.name)).scalar_subquery().label("agency_names"),
    select(
        func.jsonb_object_agg(
            ConcernCategory.id, func.jsonb_build_array(ConcernCategory.code, ConcernCategory.label)
        )
    )
    .scalar_subquery()
    .label("category_names"),
)
"""Built once: the young person's visibility, with every agency's name and every category's code
and label (retired ones too) that a JSON page names its entries by, in the same round trip."""


def _json_items(
    rows: Sequence[Any], agencies: dict[int, str], categories: dict[int, list[str]]
) -> list[dict[str, Any]]:
    """Chronology entries as dicts in ConcernRead's field order, from the rows of a JSON page.

    Written out key by key: a dict display is built at its final size, where `dict(zip(...))`
    grows each of 2,000 dicts step by step.
    """
    no_findings: dict[str, Any] = {}
    return [
        {
            "id": entry_id,
            "young_person_id": young_person_id,
            "agency_id": agency_id,
            "agency_name": agencies[agency_id],
            "recorded_by": recorded_by,
            "recorded_at": recorded_at,
            "occurred_at": occurred_at,
            "occurred_precision": occurred_precision,
            "context": context,
            "kind": kind,
            "category": categories[category_id][0],
            "category_label": categories[category_id][1],
            "summary": summary,
            "detail": detail,
            "place_id": place_id,
            "longitude": longitude,
            "latitude": latitude,
            "source_evaluation": source_evaluation,
            "intelligence_assessment": intelligence_assessment,
            "handling_code": handling_code,
            "sensitivity": sensitivity,
            "version": version,
            "language_findings": no_findings,
        }
        for (
            entry_id,
            young_person_id,
            agency_id,
            recorded_by,
            recorded_at,
            occurred_at,
            occurred_precision,
            context,
            kind,
            category_id,
            summary,
            detail,
            place_id,
            longitude,
            latitude,
            source_evaluation,
            intelligence_assessment,
            handling_code,
            sensitivity,
            version,
        ) in rows
    ]


def entries_by_id(*, session: Session, actor: Actor, person_id: int, ids: set[int]) -> dict[int, Any]:
    """Given entries of a young person the actor may see (date and summary), by id."""
    if not ids:
        return {}
    get_young_person(session=session, actor=actor, person_id=person_id)
    rows = session.execute(
        select(Concern.id, Concern.occurred_at, Concern.summary).where(
            Concern.id.in_(ids), Concern.young_person_id == person_id, concerns_visible_to(actor)
        )
    )
    return {row.id: row for row in rows}
