"""Pages for practitioners: the reason for opening records, the young people list, profiles,
the chronology (grid, table and list) with its exports, and the add-concern form."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.auth import safe_next
from app.db import SessionDep
from app.deps import AccessReason, AreaDep, LanguageRules, OriginDep, PeopleEditor, PeopleViewer
from app.templating import render
from app.web.chronology import KIND_LABELS, layout
from app.web.forms import date_from_parts, error_list, first_errors
from contexts.accounts.models import WebSession
from contexts.accounts.service import set_access_reason
from contexts.assessments.service import latest_assessment
from contexts.audit.models import AuditAction
from contexts.audit.service import record_event
from contexts.concerns.export import chronology_csv
from contexts.concerns.models import CONTEXT_LABELS, ConcernKind, Context, DatePrecision
from contexts.concerns.schemas import ChronologyEntry, ChronologyFilter, ConcernCreate
from contexts.concerns.service import add_concern, categories, chronology_entries, recent_counts
from contexts.errors import InvalidInput
from contexts.language.checker import check_text
from contexts.missing.service import episodes_of
from contexts.young_people.models import Gender, RecordStatus
from contexts.young_people.schemas import YoungPersonCreate
from contexts.young_people.service import (
    PossibleDuplicates,
    create_young_person,
    open_young_person,
    read_of,
    search_young_people,
    summary_of,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
REASONS = [
    "Allocated worker",
    "Strategy meeting",
    "MASH enquiry",
    "Supervision or case review",
    "Duty enquiry",
]
GENDER_LABELS = {
    Gender.FEMALE: "Female",
    Gender.MALE: "Male",
    Gender.NON_BINARY: "Non-binary",
    Gender.SELF_DESCRIBED: "Describes themselves another way",
    Gender.NOT_KNOWN: "Not known",
}
PRECISION_LABELS = {
    DatePrecision.EXACT: "Exact date and time",
    DatePrecision.DAY: "The day is known",
    DatePrecision.MONTH: "Only the month is known",
    DatePrecision.APPROXIMATE: "Approximate",
}


@router.get("/reason")
def reason_form(request: Request, _: PeopleViewer, next: str | None = None) -> Response:
    """Ask once per sign-in why the user is opening young people's records."""
    return render(
        request, "people/reason.html", {"reasons": REASONS, "next_path": safe_next(next), "errors": []}
    )


@router.post("/reason")
def reason_submit(
    request: Request,
    _: PeopleViewer,
    session: SessionDep,
    choice: Annotated[str, Form(max_length=100)] = "",
    other: Annotated[str, Form(max_length=400)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/young-people",
) -> Response:
    """Remember the reason for this sign-in; it goes into every audit event of a record."""
    reason = other.strip() if choice == "other" else choice
    problem = None
    if choice not in [*REASONS, "other"]:
        problem = ("choice", "Select why you are opening records")
    elif not reason:
        problem = ("other", "Enter your reason")
    elif len(reason) > 200:
        problem = ("other", "Your reason must be 200 characters or fewer")
    if problem:
        return render(
            request,
            "people/reason.html",
            {
                "reasons": REASONS,
                "next_path": safe_next(next),
                "errors": [{"text": problem[1], "href": f"#{problem[0]}"}],
                "field_errors": {problem[0]: problem[1]},
                "other": other,
            },
            status_code=422,
        )
    web_session: WebSession | None = getattr(request.state, "web_session", None)
    if web_session is None:
        raise InvalidInput("A reason can only be remembered for a signed-in browser.")
    set_access_reason(session=session, web_session=web_session, reason=reason)
    return RedirectResponse(safe_next(next), status_code=303)


def _dob_query(day: str, month: str, year: str) -> tuple[date | None, str | None]:
    """The date of birth filter, or the message saying what is wrong with it."""
    try:
        return date_from_parts(day, month, year), None
    except ValueError as problem:
        return None, str(problem)


@router.get("/young-people")
def young_people_list(
    request: Request,
    actor: PeopleViewer,
    _reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    q: Annotated[str, Query(max_length=100)] = "",
    dob_day: Annotated[str, Query(alias="dob-day", max_length=10)] = "",
    dob_month: Annotated[str, Query(alias="dob-month", max_length=10)] = "",
    dob_year: Annotated[str, Query(alias="dob-year", max_length=10)] = "",
    status: RecordStatus | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Search the young people the user may see (the reason is asked on arrival, once per sign-in)."""
    born, dob_error = _dob_query(dob_day, dob_month, dob_year)
    people: list[Any] = []
    total = 0
    if dob_error is None:
        people, total = search_young_people(
            session=session,
            actor=actor,
            origin=origin,
            text=q or None,
            born=born,
            status=status,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    rows = [
        [
            {"html": _link(f"/young-people/{p.id}", f"{p.given_name} {p.family_name}")},
            {"text": p.preferred_name or ""},
            {"text": f"{p.date_of_birth:%d %b %Y} (age {summary_of(p).age})"},
            {"text": p.status.value.capitalize()},
        ]
        for p in people
    ]
    params = {
        "q": q,
        "dob_day": dob_day,
        "dob_month": dob_month,
        "dob_year": dob_year,
        "status": status or "",
    }
    pages = max(1, -(-total // PAGE_SIZE))
    pagination = None
    if pages > 1:
        pagination = {
            "previous": {"href": "?" + urlencode({**params, "page": page - 1})} if page > 1 else None,
            "next": {"href": "?" + urlencode({**params, "page": page + 1})} if page < pages else None,
        }
    return render(
        request,
        "people/list.html",
        {
            "active_nav": "people",
            "rows": rows,
            "total": total,
            "params": params,
            "pagination": pagination,
            "dob_error": dob_error,
            "page": page,
            "pages": pages,
        },
    )


def _link(href: str, text: str) -> str:
    """An escaped GOV.UK link for table cells that take HTML."""
    from markupsafe import escape

    return f'<a class="govuk-link" href="{escape(href)}">{escape(text)}</a>'


PERSON_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "gender",
    "local_id",
    "nhs_number",
    "police_reference",
    "home_address",
)


def _person_form(
    request: Request,
    values: dict[str, Any],
    field_errors: dict[str, str],
    *,
    duplicates: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The add-a-young-person form, with the entered values and any errors or duplicates."""
    return render(
        request,
        "people/new.html",
        {
            "active_nav": "people",
            "values": values,
            "field_errors": field_errors,
            "errors": error_list(field_errors, PERSON_FIELDS, {"date_of_birth": "date_of_birth-day"}),
            "duplicates": duplicates or [],
            "genders": GENDER_LABELS,
        },
        status_code=status_code,
    )


@router.get("/young-people/new")
def new_person_form(request: Request, _: PeopleEditor, _reason: AccessReason) -> Response:
    """Show the add-a-young-person form (the reason is asked first, so no typing is lost)."""
    return _person_form(request, {}, {})


@router.post("/young-people/new")
def new_person_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    given_name: Annotated[str, Form(max_length=200)] = "",
    family_name: Annotated[str, Form(max_length=200)] = "",
    preferred_name: Annotated[str, Form(max_length=200)] = "",
    dob_day: Annotated[str, Form(alias="dob-day", max_length=10)] = "",
    dob_month: Annotated[str, Form(alias="dob-month", max_length=10)] = "",
    dob_year: Annotated[str, Form(alias="dob-year", max_length=10)] = "",
    gender: Annotated[str, Form(max_length=40)] = "",
    local_id: Annotated[str, Form(max_length=100)] = "",
    nhs_number: Annotated[str, Form(max_length=40)] = "",
    police_reference: Annotated[str, Form(max_length=100)] = "",
    home_address: Annotated[str, Form(max_length=1000)] = "",
    flags: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    confirm_not_duplicate: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Add the young person, after showing likely duplicates; the form keeps what was typed."""
    values = {
        "given_name": given_name,
        "family_name": family_name,
        "preferred_name": preferred_name,
        "dob_day": dob_day,
        "dob_month": dob_month,
        "dob_year": dob_year,
        "gender": gender,
        "local_id": local_id,
        "nhs_number": nhs_number,
        "police_reference": police_reference,
        "home_address": home_address,
        "flags": flags,
    }
    field_errors: dict[str, str] = {}
    try:
        born = date_from_parts(dob_day, dob_month, dob_year)
        if born is None:
            field_errors["date_of_birth"] = "Enter the date of birth"
    except ValueError as problem:
        born, field_errors["date_of_birth"] = None, str(problem)
    payload = {
        "given_name": given_name.strip(),
        "family_name": family_name.strip(),
        "preferred_name": preferred_name.strip() or None,
        "date_of_birth": born,
        "gender": gender or None,
        "local_id": local_id.strip() or None,
        "nhs_number": nhs_number.strip() or None,
        "police_reference": police_reference.strip() or None,
        "home_address": home_address.strip() or None,
        "looked_after": "looked_after" in flags,
        "send": "send" in flags,
        "care_leaver": "care_leaver" in flags,
        "confirm_not_duplicate": confirm_not_duplicate == "yes",
    }
    try:
        data = YoungPersonCreate.model_validate(payload)
    except ValidationError as invalid:
        messages = first_errors(list(invalid.errors()))  # type: ignore[arg-type]
        field_errors = {**messages, **field_errors}
        if not given_name.strip():
            field_errors["given_name"] = "Enter the young person's first name"
        if not family_name.strip():
            field_errors["family_name"] = "Enter the young person's last name"
        return _person_form(request, values, field_errors, status_code=422)
    if field_errors:
        return _person_form(request, values, field_errors, status_code=422)
    try:
        person = create_young_person(
            session=session, actor=actor, origin=origin, reason=reason, data=data, area=area
        )
    except PossibleDuplicates as duplicates:
        return _person_form(request, values, {}, duplicates=duplicates.candidates, status_code=409)
    except InvalidInput as problem:
        return _person_form(request, values, {problem.field or "given_name": problem.detail}, status_code=422)
    return RedirectResponse(f"/young-people/{person.id}", status_code=303)


@router.get("/young-people/{person_id}")
def profile(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """The young person's profile: details and the five contexts at a glance."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    since = datetime.now(UTC) - timedelta(days=90)
    counts = recent_counts(session=session, actor=actor, person_id=person.id, since=since)
    by_context = {
        context: [counts.get((context.value, kind.value), 0) for kind in ConcernKind] for context in Context
    }
    glance = [
        {"context": CONTEXT_LABELS[context], "counts": row, "total": sum(row)}
        for context, row in by_context.items()
    ]
    most = max((sum(row) for row in by_context.values()), default=0) or 1
    latest = latest_assessment(session=session, actor=actor, person_id=person.id)
    episodes, episode_total = episodes_of(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person.id, limit=3
    )
    return render(
        request,
        "people/profile.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "glance": glance,
            "most": most,
            "kind_labels": [KIND_LABELS[kind] for kind in ConcernKind],
            "latest": latest,
            "open_actions": [a for a in latest.actions if a.done_at is None] if latest else [],
            "episodes": episodes,
            "episode_total": episode_total,
            "context_labels": CONTEXT_LABELS,
            "today": date.today(),
            "reason": reason,
            "genders": GENDER_LABELS,
        },
    )


def _filters(
    date_from: str, date_to: str, context: list[Context], kind: list[ConcernKind], category: list[str]
) -> ChronologyFilter:
    """The chronology filters from the query string (bad dates are ignored with the rest kept)."""

    def parse(text: str) -> date | None:
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            return None

    return ChronologyFilter(
        date_from=parse(date_from), date_to=parse(date_to), contexts=context, kinds=kind, categories=category
    )


ChronologyQuery = dict[str, Any]


def _load_chronology(
    session: SessionDep, actor: Any, origin: Any, reason: str, person_id: int, filters: ChronologyFilter
) -> list[ChronologyEntry]:
    """Read the (filtered) chronology for a page or an export."""
    entries, _ = chronology_entries(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id, filters=filters
    )
    return entries


@router.get("/young-people/{person_id}/chronology")
def chronology_page(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    view: Annotated[str, Query(pattern="^(grid|list)$")] = "grid",
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    context: Annotated[list[Context], Query()] = [],  # noqa: B006
    kind: Annotated[list[ConcernKind], Query()] = [],  # noqa: B006
    category: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
) -> Response:
    """The chronology as a grid (with the same content as a table) or a list, with filters."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    filters = _filters(date_from, date_to, context, kind, category)
    entries = _load_chronology(session, actor, origin, reason, person.id, filters)
    query = request.url.query
    return render(
        request,
        "people/chronology.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "entries": entries,
            "grid": layout(entries),
            "view": view,
            "filters": filters,
            "contexts": CONTEXT_LABELS,
            "kinds": KIND_LABELS,
            "categories": categories(session=session),
            "date_from": date_from,
            "date_to": date_to,
            "export_query": f"?{query}" if query else "",
            "Context": Context,
            "ConcernKind": ConcernKind,
        },
    )


@router.get("/young-people/{person_id}/chronology.csv")
def chronology_csv_export(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    context: Annotated[list[Context], Query()] = [],  # noqa: B006
    kind: Annotated[list[ConcernKind], Query()] = [],  # noqa: B006
    category: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
) -> Response:
    """The chronology as CSV (formula-safe); the export is audited with the reason."""
    entries = _load_chronology(
        session, actor, origin, reason, person_id, _filters(date_from, date_to, context, kind, category)
    )
    record_event(
        session=session,
        action=AuditAction.EXPORT,
        actor=actor,
        origin=origin,
        object_type="chronology_csv",
        object_id=person_id,
        reason=reason,
    )
    return Response(
        chronology_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="chronology-{person_id}.csv"'},
    )


@router.get("/young-people/{person_id}/chronology.pdf")
def chronology_pdf_export(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    context: Annotated[list[Context], Query()] = [],  # noqa: B006
    kind: Annotated[list[ConcernKind], Query()] = [],  # noqa: B006
    category: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
) -> Response:
    """The chronology as a PDF with the protective marking on every page; audited."""
    from app.web.pdf import render_pdf

    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    entries = _load_chronology(
        session, actor, origin, reason, person.id, _filters(date_from, date_to, context, kind, category)
    )
    record_event(
        session=session,
        action=AuditAction.EXPORT,
        actor=actor,
        origin=origin,
        object_type="chronology_pdf",
        object_id=person_id,
        reason=reason,
    )
    pdf = render_pdf(
        request,
        "people/chronology_pdf.html",
        {
            "person": read_of(person),
            "entries": entries,
            "grid": layout(entries),
            "contexts": CONTEXT_LABELS,
            "kinds": KIND_LABELS,
            "printed_at": datetime.now(UTC),
            "printed_by": actor.display_name,
        },
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="chronology-{person_id}.pdf"'},
    )


CONCERN_FIELDS = (
    "context",
    "kind",
    "category",
    "summary",
    "detail",
    "occurred",
    "occurred_precision",
    "place_id",
)


def _concern_form(
    request: Request,
    session: SessionDep,
    person: Any,
    values: dict[str, Any],
    field_errors: dict[str, str],
    findings: dict[str, list[Any]] | None = None,
    status_code: int = 200,
) -> Response:
    """The add-a-concern form with what was typed, errors and wording to review."""
    return render(
        request,
        "people/concern_form.html",
        {
            "active_nav": "people",
            "person": person,
            "values": values,
            "field_errors": field_errors,
            "errors": error_list(field_errors, CONCERN_FIELDS, {"occurred": "occurred-day"}),
            "findings": findings or {},
            "contexts": CONTEXT_LABELS,
            "kinds": KIND_LABELS,
            "precisions": PRECISION_LABELS,
            "categories": categories(session=session),
        },
        status_code=status_code,
    )


@router.get("/young-people/{person_id}/concerns/new")
def new_concern_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """Show the add-a-concern form."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    today = date.today()
    values = {
        "occurred_day": today.day,
        "occurred_month": today.month,
        "occurred_year": today.year,
        "occurred_precision": "day",
    }
    return _concern_form(request, session, read_of(person), values, {})


@router.post("/young-people/{person_id}/concerns/new")
def new_concern_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    person_id: int,
    context: Annotated[str, Form(max_length=40)] = "",
    kind: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    summary: Annotated[str, Form(max_length=1000)] = "",
    detail: Annotated[str, Form(max_length=20_000)] = "",
    occurred_day: Annotated[str, Form(alias="occurred-day", max_length=10)] = "",
    occurred_month: Annotated[str, Form(alias="occurred-month", max_length=10)] = "",
    occurred_year: Annotated[str, Form(alias="occurred-year", max_length=10)] = "",
    occurred_precision: Annotated[str, Form(max_length=20)] = "day",
    sensitivity: Annotated[str, Form(max_length=20)] = "partnership",
    wording_reviewed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Add the concern; flagged wording is shown for review first and never changed by csmap."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    values = {
        "context": context,
        "kind": kind,
        "category": category,
        "summary": summary,
        "detail": detail,
        "occurred_day": occurred_day,
        "occurred_month": occurred_month,
        "occurred_year": occurred_year,
        "occurred_precision": occurred_precision,
        "sensitivity": sensitivity,
    }
    field_errors: dict[str, str] = {}
    occurred = None
    try:
        day = date_from_parts(occurred_day, occurred_month, occurred_year)
        if day is None:
            field_errors["occurred"] = "Enter when it happened"
        else:
            # The start of the day, as an import stores a date: midday would put today in the future
            # every morning, and the form offers today.
            occurred = datetime(day.year, day.month, day.day, tzinfo=UTC)
    except ValueError as problem:
        field_errors["occurred"] = str(problem)
    payload = {
        "context": context or None,
        "kind": kind or None,
        "category": category,
        "summary": summary.strip(),
        "detail": detail.strip() or None,
        "occurred_at": occurred,
        "occurred_precision": occurred_precision,
        "sensitivity": sensitivity,
    }
    try:
        data = ConcernCreate.model_validate(payload)
    except ValidationError as invalid:
        messages = first_errors(list(invalid.errors()), {"occurred_at": "occurred"})  # type: ignore[arg-type]
        friendly = {
            "context": "Select the context",
            "kind": "Select whether this is a risk, harm or protective factor",
            "summary": "Enter a short summary",
        }
        for field in friendly:
            if field in messages and not payload.get(field):
                messages[field] = friendly[field]
        return _concern_form(
            request, session, read_of(person), values, {**messages, **field_errors}, status_code=422
        )
    if field_errors:
        return _concern_form(request, session, read_of(person), values, field_errors, status_code=422)
    findings = {
        name: check_text(text, rules)
        for name, text in (("summary", data.summary), ("detail", data.detail or ""))
    }
    findings = {name: found for name, found in findings.items() if found}
    if findings and wording_reviewed != "yes":
        return _concern_form(
            request, session, read_of(person), values, {}, findings=findings, status_code=200
        )
    try:
        add_concern(
            session=session,
            actor=actor,
            origin=origin,
            reason=reason,
            person_id=person.id,
            data=data,
            area=area,
            rules=rules,
        )
    except InvalidInput as problem:
        return _concern_form(
            request,
            session,
            read_of(person),
            values,
            {problem.field or "category": problem.detail},
            status_code=422,
        )
    return RedirectResponse(f"/young-people/{person.id}/chronology?added=1", status_code=303)
