"""Missing episode pages: the list with a map of where a young person went missing from and was found
(and the same places as a table), the record and change forms, and one episode."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.deps import AccessReason, AreaDep, LanguageRules, OriginDep, PeopleEditor, PeopleViewer
from app.templating import render
from app.web.assessments import linked_entries
from app.web.forms import date_from_parts, error_list, first_errors
from contexts.access import Actor, Permission, can
from contexts.audit.service import RequestOrigin
from contexts.concerns.models import CONTEXT_LABELS
from contexts.concerns.schemas import ChronologyFilter
from contexts.concerns.service import chronology_entries
from contexts.errors import Conflict, InvalidInput
from contexts.language.checker import Rule, check_text
from contexts.missing.models import MissingEpisode
from contexts.missing.schemas import MissingEpisodeCreate, MissingEpisodeRead, MissingEpisodeUpdate
from contexts.missing.service import (
    create_episode,
    episode_places,
    episodes_of,
    get_episode,
    link_concern,
    open_episode,
    read_episodes,
    unlink_concern,
    update_episode,
)
from contexts.young_people.service import get_young_person, open_young_person, read_of
from mapping.places.models import Place, PlaceTypeEntry

router = APIRouter(include_in_schema=False)
UK = ZoneInfo("Europe/London")
"""Times are typed and shown in UK time; they are stored in UTC."""
LIST_SIZE = 200
OPTIONS_SHOWN = 40
MOMENTS = {
    "missing_since": "the time they went missing",
    "reported_at": "the time they were reported missing",
    "found_at": "the time they were found",
    "return_interview": "the date the return interview was offered",
}
FIELD_ORDER = (
    "missing_from",
    "missing_from_place_id",
    "missing_since",
    "reported_at",
    "found_at",
    "found_place_id",
    "found_address",
    "found_with",
    "return_interview",
    "return_interview_declined",
    "notes",
    "concerns",
    "form",
)
SERVICE_FIELDS = {
    "missing_from_address": "missing_from",
    "missing_from_point": "missing_from",
    "return_interview_offered_at": "return_interview",
    "found_point": "found_place_id",
    "concern_id": "concerns",
}


def uk_time(moment: datetime | None) -> str:
    """A time as people in the UK read it, for example '3 March 2026, 21:30'."""
    if moment is None:
        return ""
    return moment.astimezone(UK).strftime("%-d %B %Y, %H:%M")


def uk_day(moment: datetime | None) -> str:
    """A day in the UK, for example '3 March 2026'."""
    return moment.astimezone(UK).strftime("%-d %B %Y") if moment else ""


def how_long(hours: float | None) -> str:
    """A duration in words, for example '1 day 3 hours' or '5 hours 20 minutes'."""
    if hours is None:
        return ""
    minutes = round(hours * 60)
    days, minutes = divmod(minutes, 24 * 60)
    whole_hours, minutes = divmod(minutes, 60)

    def unit(number: int, name: str) -> str:
        return f"{number} {name}{'' if number == 1 else 's'}"

    if days:
        return unit(days, "day") + (f" {unit(whole_hours, 'hour')}" if whole_hours else "")
    if whole_hours:
        return unit(whole_hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    return unit(minutes, "minute")


def _clock(text: str) -> time | None:
    """A time of day typed as 21:30, 21.30, 2130 or 9:05; None when empty. Raises ValueError."""
    typed = text.strip().lower().replace(".", ":").replace(" ", "")
    if not typed:
        return None
    if ":" not in typed and typed.isdigit() and len(typed) in (3, 4):
        typed = f"{typed[:-2]}:{typed[-2:]}"
    hours, _, minutes = typed.partition(":")
    if not (
        hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60
    ):
        raise ValueError("Enter the time using the 24-hour clock, for example 21:30")
    return time(int(hours), int(minutes))


def moment_from_parts(
    day: str, month: str, year: str, clock: str, *, time_needed: bool = True
) -> datetime | None:
    """A UK date and time typed in four boxes, as an aware UTC time; None when all are empty."""
    if not any(part.strip() for part in (day, month, year, clock)):
        return None
    typed = date_from_parts(day, month, year)
    if typed is None:
        raise ValueError("Enter the date as well as the time")
    at = _clock(clock)
    if at is None:
        if time_needed:
            raise ValueError("Enter the time as well as the date, for example 21:30")
        at = time(12, 0)
    return datetime.combine(typed, at, tzinfo=UK).astimezone(UTC)


def _parts(moment: datetime | None) -> dict[str, str]:
    """A stored time as the four boxes show it."""
    if moment is None:
        return {"day": "", "month": "", "year": "", "time": ""}
    local = moment.astimezone(UK)
    return {
        "day": str(local.day),
        "month": str(local.month),
        "year": str(local.year),
        "time": f"{local:%H:%M}",
    }


def places(session: Session) -> list[dict[str, Any]]:
    """The partnership's places, by name, for the place selects."""
    rows = session.execute(
        select(Place.id, Place.name, PlaceTypeEntry.label)
        .join(PlaceTypeEntry, PlaceTypeEntry.code == Place.place_type)
        .order_by(Place.name, Place.id)
    )
    return [{"id": str(row.id), "text": f"{row.name} – {row.label}"} for row in rows]


def place_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Place names by id."""
    if not ids:
        return {}
    return {
        row.id: row.name for row in session.execute(select(Place.id, Place.name).where(Place.id.in_(ids)))
    }


def concern_options(
    session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int, linked: set[int]
) -> list[dict[str, Any]]:
    """The young person's newest entries, and any already linked, as tick-box items."""
    entries, _ = chronology_entries(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        filters=ChronologyFilter(),
    )
    newest = sorted(entries, key=lambda c: (c.occurred_at, c.id), reverse=True)
    shown = newest[:OPTIONS_SHOWN] + [c for c in newest[OPTIONS_SHOWN:] if c.id in linked]
    return [
        {
            "id": str(c.id),
            "summary": c.summary,
            "hint": f"{c.occurred_at:%-d %B %Y} · {CONTEXT_LABELS[c.context]}",
        }
        for c in shown
    ]


def _blank_values() -> dict[str, Any]:
    """An empty form."""
    empty = {"day": "", "month": "", "year": "", "time": ""}
    return {
        "missing_from_place_id": "",
        "missing_from_address": "",
        "missing_since": dict(empty),
        "reported_at": dict(empty),
        "found_at": dict(empty),
        "found_place_id": "",
        "found_address": "",
        "found_with": "",
        "return_interview": dict(empty),
        "return_interview_declined": False,
        "notes": "",
        "concerns": [],
    }


def _values_of(episode: MissingEpisodeRead) -> dict[str, Any]:
    """A saved episode as the form shows it."""
    return {
        "missing_from_place_id": str(episode.missing_from_place_id or ""),
        "missing_from_address": episode.missing_from_address or "",
        "missing_since": _parts(episode.missing_since),
        "reported_at": _parts(episode.reported_at),
        "found_at": _parts(episode.found_at),
        "found_place_id": str(episode.found_place_id or ""),
        "found_address": episode.found_address or "",
        "found_with": episode.found_with or "",
        "return_interview": _parts(episode.return_interview_offered_at),
        "return_interview_declined": episode.return_interview_declined,
        "notes": episode.notes or "",
        "concerns": [str(c) for c in episode.concern_ids],
        "version": episode.version,
    }


@dataclass
class Parsed:
    """A posted form: what to show again, the episode's fields when valid, and the ticked entries."""

    values: dict[str, Any]
    data: dict[str, Any] | None
    concerns: list[int]
    errors: dict[str, str]
    findings: list[dict[str, Any]]


def _read_form(
    fields: dict[str, str], declined: bool, concerns: list[str], options: set[str], rules: tuple[Rule, ...]
) -> Parsed:
    """Check the form, collecting every problem at once with the field it belongs to."""
    values = _blank_values()
    for name in (
        "missing_from_place_id",
        "missing_from_address",
        "found_place_id",
        "found_address",
        "found_with",
    ):
        values[name] = fields[name]
    values["notes"] = fields["notes"]
    values["return_interview_declined"] = declined
    values["concerns"] = concerns
    errors: dict[str, str] = {}
    moments: dict[str, datetime | None] = {}
    now = datetime.now(UTC)
    for name, words in MOMENTS.items():
        parts = {part: fields[f"{name}-{part}"] for part in ("day", "month", "year", "time")}
        values[name] = parts
        try:
            moment = moment_from_parts(*parts.values(), time_needed=name != "return_interview")
        except ValueError as problem:
            errors[name] = str(problem)
            moment = None
        if name == "return_interview" and moment is not None and not parts["time"].strip():
            # Only the day is known: take it as no earlier than being found and no later than now.
            found_then = moments.get("found_at")
            if found_then is not None and moment.astimezone(UK).date() == found_then.astimezone(UK).date():
                moment = max(moment, found_then)
            moment = min(moment, now) if moment.astimezone(UK).date() == now.astimezone(UK).date() else moment
        if moment is not None and moment > now:
            errors[name] = f"{words[0].upper()}{words[1:]} cannot be in the future"
        moments[name] = moment
    since, reported, found, offered = (moments[name] for name in MOMENTS)
    if since is None and "missing_since" not in errors:
        errors["missing_since"] = "Enter the date and time they went missing"
    place_ids: dict[str, int | None] = {}
    for name in ("missing_from_place_id", "found_place_id"):
        text = fields[name].strip()
        place_ids[name] = int(text) if text.isdigit() else None
        if text and not text.isdigit():
            errors[name] = "Select a place from the list"
    if place_ids["missing_from_place_id"] is None and not fields["missing_from_address"].strip():
        errors["missing_from"] = "Select the place they went missing from, or enter an address"
    if since and reported and reported < since and "reported_at" not in errors:
        errors["reported_at"] = (
            "The time they were reported missing cannot be before the time they went missing"
        )
    if found is None and "found_at" not in errors:
        found_details = (
            place_ids["found_place_id"] or fields["found_address"].strip() or fields["found_with"].strip()
        )
        if found_details:
            errors["found_at"] = "Enter the date and time they were found, or leave where and with whom empty"
        if offered is not None and "return_interview" not in errors:
            errors["return_interview"] = (
                "A return interview is offered after they are found: enter when they were found"
            )
    if since and found and found < since and "found_at" not in errors:
        errors["found_at"] = "The time they were found cannot be before the time they went missing"
    if found and offered and offered < found and "return_interview" not in errors:
        errors["return_interview"] = "The return interview cannot be offered before they were found"
    if declined and offered is None and "return_interview" not in errors:
        errors["return_interview_declined"] = (
            "Enter when the return interview was offered before saying it was declined"
        )
    for name, limit in (
        ("missing_from_address", 500),
        ("found_address", 500),
        ("found_with", 500),
        ("notes", 10_000),
    ):
        if len(fields[name]) > limit:
            errors["missing_from" if name == "missing_from_address" else name] = (
                f"This must be {limit:,} characters or fewer"
            )
    if any(value not in options for value in concerns):
        errors["concerns"] = "Tick entries from the list"
    findings = [
        {"field": words, "finding": f}
        for name, words in (("notes", "the notes"), ("found_with", "who they were found with"))
        for f in check_text(fields[name], rules)
    ]
    data = {
        "missing_from_place_id": place_ids["missing_from_place_id"],
        "missing_from_address": fields["missing_from_address"].strip() or None,
        "missing_since": since,
        "reported_at": reported,
        "found_at": found,
        "found_place_id": place_ids["found_place_id"],
        "found_address": fields["found_address"].strip() or None,
        "found_with": fields["found_with"].strip() or None,
        "return_interview_offered_at": offered,
        "return_interview_declined": declined,
        "notes": fields["notes"].strip() or None,
    }
    chosen = sorted({int(value) for value in concerns if value.isdigit()})
    return Parsed(values, None if errors else data, chosen, errors, findings)


def _schema_errors(invalid: ValidationError) -> dict[str, str]:
    """Pydantic's complaints keyed like the form (a safety net behind the form's own checks)."""
    messages = first_errors(list(invalid.errors()))  # type: ignore[arg-type]
    return {SERVICE_FIELDS.get(field, field): text for field, text in messages.items()}


def _anchors() -> dict[str, str]:
    """Where each error links to: the first box of a date, or the field."""
    return {
        **{name: f"{name}-day" for name in MOMENTS},
        "missing_from": "missing_from_place_id",
        "concerns": "concerns",
        "form": "episode-form",
    }


def _render_form(
    request: Request,
    session: Session,
    *,
    person: Any,
    values: dict[str, Any],
    options: list[dict[str, Any]],
    field_errors: dict[str, str],
    findings: list[dict[str, Any]] | None = None,
    episode: MissingEpisodeRead | None = None,
    status_code: int = 200,
) -> Response:
    """The record-or-change form with what was typed, errors and wording to review."""
    return render(
        request,
        "missing/form.html",
        {
            "active_nav": "people",
            "person": person,
            "values": values,
            "options": options,
            "places": places(session),
            "field_errors": field_errors,
            "errors": error_list(field_errors, FIELD_ORDER, _anchors()),
            "findings": findings or [],
            "episode": episode,
            "year": date.today().year,
        },
        status_code=status_code,
    )


# Routes


@router.get("/young-people/{person_id}/missing")
def missing_list(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """A young person's missing episodes, newest first, with a map and table of the places."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    episodes, total = episodes_of(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person.id, limit=LIST_SIZE
    )
    read = read_episodes(session=session, actor=actor, episodes=episodes)
    features = episode_places(session, actor, person.id, origin=origin, reason=reason)
    addresses = {
        e.id: {"missing_from": e.missing_from_address, "found_at": e.found_address} for e in episodes
    }
    place_rows = [
        {
            "episode_id": f.properties.episode_id,
            "kind": f.properties.kind,
            "at": uk_time(f.properties.at),
            "place": f.properties.place_name
            or addresses.get(f.properties.episode_id, {}).get(f.properties.kind)
            or "A point recorded on a map",
        }
        for f in features
    ]
    names = place_names(
        session, {i for e in read for i in (e.missing_from_place_id, e.found_place_id) if i is not None}
    )
    unmapped = sum(1 for e in read if e.missing_from_place_id is None and e.missing_from_point is None) + sum(
        1 for e in read if e.found_address and e.found_place_id is None and e.found_point is None
    )
    return render(
        request,
        "missing/list.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "episodes": read,
            "total": total,
            "names": names,
            "place_rows": place_rows,
            "unmapped": unmapped,
            "uk_time": uk_time,
            "uk_day": uk_day,
            "how_long": how_long,
        },
    )


@router.get("/young-people/{person_id}/missing/new")
def new_episode_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """Show the form to record a missing episode."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    options = concern_options(session, actor, origin, reason, person.id, set())
    return _render_form(
        request, session, person=read_of(person), values=_blank_values(), options=options, field_errors={}
    )


TEXT_FIELDS = (
    "missing_from_place_id",
    "missing_from_address",
    "found_place_id",
    "found_address",
    "found_with",
    "notes",
)


@dataclass(frozen=True, slots=True)
class PostedEpisode:
    """What the episode form sent: text fields and date boxes by form name, ticks and choices."""

    fields: dict[str, str]
    declined: bool
    concerns: list[str]
    wording_reviewed: bool


async def posted_episode(request: Request) -> PostedEpisode:
    """Read the episode form once for both the add and the change handlers.

    Lengths are checked by the episode schema, which re-renders the form naming the field.
    """
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    boxes = [f"{name}-{part}" for name in MOMENTS for part in ("day", "month", "year", "time")]
    return PostedEpisode(
        fields={name: text(name) for name in (*TEXT_FIELDS, *boxes)},
        declined=text("return_interview_declined") == "yes",
        concerns=[value for value in form.getlist("concerns") if isinstance(value, str)],
        wording_reviewed=text("wording_reviewed") == "yes",
    )


Posted = Annotated[PostedEpisode, Depends(posted_episode)]


@router.post("/young-people/{person_id}/missing/new")
def new_episode_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    person_id: int,
    posted: Posted,
) -> Response:
    """Record the episode and link the ticked entries; on any problem nothing is saved."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    fields = posted.fields
    ticked = set(posted.concerns)
    options = concern_options(
        session, actor, origin, reason, person.id, {int(c) for c in ticked if c.isdigit()}
    )
    parsed = _read_form(fields, posted.declined, posted.concerns, {o["id"] for o in options}, rules)

    def again(errors: dict[str, str], status: int, findings: list[dict[str, Any]] | None = None) -> Response:
        return _render_form(
            request,
            session,
            person=read_of(person),
            values=parsed.values,
            options=options,
            field_errors=errors,
            findings=findings,
            status_code=status,
        )

    if parsed.data is None:
        return again(parsed.errors, 422)
    try:
        data = MissingEpisodeCreate.model_validate(parsed.data)
    except ValidationError as invalid:
        return again(_schema_errors(invalid), 422)
    if parsed.findings and not posted.wording_reviewed:
        return again({}, 200, parsed.findings)
    try:
        with session.begin_nested():
            episode = create_episode(
                session=session,
                actor=actor,
                origin=origin,
                reason=reason,
                person_id=person.id,
                data=data,
                area=area,
                rules=rules,
            )
            for concern_id in parsed.concerns:
                link_concern(
                    session=session,
                    actor=actor,
                    origin=origin,
                    reason=reason,
                    episode_id=episode.id,
                    concern_id=concern_id,
                )
    except InvalidInput as problem:
        return again(
            {SERVICE_FIELDS.get(problem.field or "form", problem.field or "form"): problem.detail}, 422
        )
    return RedirectResponse(f"/missing-episodes/{episode.id}?saved=recorded", status_code=303)


def _own(session: Session, actor: Actor, episode_id: int) -> MissingEpisode:
    """An episode the actor's agency recorded, for changing."""
    episode = get_episode(session=session, actor=actor, episode_id=episode_id)
    if episode.agency_id != actor.agency_id:
        raise Conflict("Only the recording agency can change this episode.")
    return episode


@router.get("/missing-episodes/{episode_id}/edit")
def edit_episode_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    episode_id: int,
) -> Response:
    """Show an episode in the form, for example to record when and where they were found."""
    episode = _own(session, actor, episode_id)
    open_episode(session=session, actor=actor, origin=origin, reason=reason, episode_id=episode.id)
    person = get_young_person(session=session, actor=actor, person_id=episode.young_person_id)
    read = read_episodes(session=session, actor=actor, episodes=[episode])[0]
    options = concern_options(session, actor, origin, reason, person.id, set(read.concern_ids))
    return _render_form(
        request,
        session,
        person=read_of(person),
        values=_values_of(read),
        options=options,
        field_errors={},
        episode=read,
    )


@router.post("/missing-episodes/{episode_id}/edit")
def edit_episode_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    episode_id: int,
    posted: Posted,
    version: Annotated[int, Form()] = 0,
) -> Response:
    """Save the changes and the linked entries; a stale version keeps what was typed and says so."""
    episode = _own(session, actor, episode_id)
    person = get_young_person(session=session, actor=actor, person_id=episode.young_person_id)
    current = read_episodes(session=session, actor=actor, episodes=[episode])[0]
    fields = posted.fields
    linked = set(current.concern_ids) | {int(c) for c in posted.concerns if c.isdigit()}
    options = concern_options(session, actor, origin, reason, person.id, linked)
    parsed = _read_form(fields, posted.declined, posted.concerns, {o["id"] for o in options}, rules)
    parsed.values["version"] = version

    def again(errors: dict[str, str], status: int, findings: list[dict[str, Any]] | None = None) -> Response:
        return _render_form(
            request,
            session,
            person=read_of(person),
            values=parsed.values,
            options=options,
            field_errors=errors,
            findings=findings,
            episode=current,
            status_code=status,
        )

    if version != episode.version:
        parsed.values["version"] = episode.version
        return again(
            {
                "form": "Someone changed this episode since you opened it, so your changes are not saved "
                "yet. Check the saved episode, then save again to replace it with what is below."
            },
            409,
        )
    if parsed.data is None:
        return again(parsed.errors, 422)
    changes = dict(parsed.data)
    if (changes["missing_from_place_id"], changes["missing_from_address"]) != (
        current.missing_from_place_id,
        current.missing_from_address,
    ):
        changes["missing_from_point"] = None
    if (changes["found_place_id"], changes["found_address"]) != (
        current.found_place_id,
        current.found_address,
    ):
        changes["found_point"] = None
    try:
        data = MissingEpisodeUpdate.model_validate({**changes, "version": version})
    except ValidationError as invalid:
        return again(_schema_errors(invalid), 422)
    if parsed.findings and not posted.wording_reviewed:
        return again({}, 200, parsed.findings)
    try:
        with session.begin_nested():
            update_episode(
                session=session,
                actor=actor,
                origin=origin,
                reason=reason,
                episode_id=episode.id,
                data=data,
                area=area,
                rules=rules,
            )
            chosen = set(parsed.concerns)
            for concern_id in sorted(chosen - set(current.concern_ids)):
                link_concern(
                    session=session,
                    actor=actor,
                    origin=origin,
                    reason=reason,
                    episode_id=episode.id,
                    concern_id=concern_id,
                )
            for concern_id in sorted(set(current.concern_ids) - chosen):
                unlink_concern(
                    session=session,
                    actor=actor,
                    origin=origin,
                    reason=reason,
                    episode_id=episode.id,
                    concern_id=concern_id,
                )
    except InvalidInput as problem:
        return again(
            {SERVICE_FIELDS.get(problem.field or "form", problem.field or "form"): problem.detail}, 422
        )
    return RedirectResponse(f"/missing-episodes/{episode.id}?saved=changed", status_code=303)


@router.get("/missing-episodes/{episode_id}")
def episode_page(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    episode_id: int,
) -> Response:
    """One missing episode: where from, when, where found and with whom, the return interview."""
    episode = open_episode(session=session, actor=actor, origin=origin, reason=reason, episode_id=episode_id)
    person = get_young_person(session=session, actor=actor, person_id=episode.young_person_id)
    read = read_episodes(session=session, actor=actor, episodes=[episode])[0]
    names = place_names(
        session, {i for i in (read.missing_from_place_id, read.found_place_id) if i is not None}
    )
    return render(
        request,
        "missing/view.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "episode": read,
            "names": names,
            "entries": linked_entries(session, actor, person.id, set(read.concern_ids)),
            "may_change": read.agency_id == actor.agency_id and can(actor, Permission.EDIT_PEOPLE),
            "uk_time": uk_time,
            "uk_day": uk_day,
            "how_long": how_long,
        },
    )
