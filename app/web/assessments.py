"""Risk assessment pages: the history, the form (works without JavaScript), the assessment with its
context weighting drawn as proportional boxes, supervisor sign-off, and what changed since the last one."""

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.db import SessionDep
from app.deps import AccessReason, LanguageRules, OriginDep, PeopleEditor, PeopleViewer, SettingsDep, require
from app.templating import render
from app.web.forms import date_from_parts, error_list, first_errors
from contexts.access import Actor, Permission, Role, can
from contexts.assessments.models import AssessmentStatus, RiskAssessment, Sign
from contexts.assessments.schemas import AssessmentCreate, AssessmentRead, AssessmentUpdate, SignOff
from contexts.assessments.service import (
    compare,
    create_assessment,
    get_assessment,
    list_assessments,
    open_assessment,
    read_assessment,
    sign_off_assessment,
    three_months_from,
    update_assessment,
)
from contexts.audit.service import RequestOrigin
from contexts.concerns.models import CONTEXT_LABELS, ConcernKind, Context
from contexts.concerns.schemas import ChronologyFilter
from contexts.concerns.service import chronology_entries, entries_by_id
from contexts.errors import Conflict, InvalidInput
from contexts.language.checker import Rule, check_text
from contexts.young_people.service import get_young_person, open_young_person, read_of

router = APIRouter(include_in_schema=False)
Supervisor = Annotated[Actor, require(Permission.SIGN_OFF_ASSESSMENTS)]

STATUS_LABELS = {
    AssessmentStatus.DRAFT: "Draft",
    AssessmentStatus.SUBMITTED: "Waiting for sign-off",
    AssessmentStatus.SIGNED_OFF: "Signed off",
}
STATUS_TAGS = {
    AssessmentStatus.DRAFT: "govuk-tag--grey",
    AssessmentStatus.SUBMITTED: "govuk-tag--blue",
    AssessmentStatus.SIGNED_OFF: "govuk-tag--green",
}
SIGN_LABELS = {Sign.RISK: "Sign of risk", Sign.HARM: "Sign of harm"}
SIGN_TAGS = {Sign.RISK: "govuk-tag--orange", Sign.HARM: "govuk-tag--red"}
CONTEXT_COLOURS: dict[Context, tuple[str, str]] = {
    # (fill, text): every pair has a contrast ratio of at least 4.5:1.
    Context.INDIVIDUAL: ("#1d70b8", "#ffffff"),
    Context.HOME: ("#4c2c92", "#ffffff"),
    Context.PEER_GROUP: ("#f47738", "#0b0c0c"),
    Context.SCHOOL: ("#00703c", "#ffffff"),
    Context.NEIGHBOURHOOD: ("#28a197", "#0b0c0c"),
}
EXTRA_ROWS = 3
"""Empty rows the form offers under the existing ones, so it works without JavaScript."""
MAX_ROWS = 60
OPTIONS_SHOWN = 40
"""Chronology entries offered as evidence per row: the newest, plus any already linked."""
INDICATOR_FIELDS = ("context", "sign", "indicator", "evidence")
PROTECTIVE_FIELDS = ("context", "description")
ACTION_FIELDS = ("context", "who", "what", "due-day", "due-month", "due-year")


async def form_data(request: Request) -> FormData:
    """The submitted form, parsed once and shared with the CSRF check (for the repeated rows)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


def local_categories(settings: SettingsDep) -> tuple[str, ...]:
    """The local risk categories a practitioner may choose from."""
    return tuple(settings.risk_categories)


Categories = Annotated[tuple[str, ...], Depends(local_categories)]


# Chronology entries offered and shown as evidence


def evidence_options(
    session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int, linked: set[int]
) -> dict[str, list[dict[str, Any]]]:
    """The young person's newest entries (and any already linked) as tick-box items, by kind of row."""
    entries, _ = chronology_entries(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        filters=ChronologyFilter(),
    )
    newest = sorted(entries, key=lambda c: (c.occurred_at, c.id), reverse=True)

    def items(kinds: set[ConcernKind]) -> list[dict[str, Any]]:
        chosen = [c for c in newest if c.kind in kinds]
        shown = chosen[:OPTIONS_SHOWN] + [c for c in chosen[OPTIONS_SHOWN:] if c.id in linked]
        return [
            {
                "id": str(c.id),
                "summary": c.summary,
                "hint": f"{c.occurred_at:%-d %B %Y} · {CONTEXT_LABELS[c.context]}",
            }
            for c in shown
        ]

    return {
        "indicators": items({ConcernKind.RISK, ConcernKind.HARM}),
        "protective": items({ConcernKind.PROTECTIVE}),
    }


def linked_entries(session: Session, actor: Actor, person_id: int, ids: set[int]) -> dict[int, Any]:
    """The linked chronology entries the actor may see, by id (date and summary)."""
    return entries_by_id(session=session, actor=actor, person_id=person_id, ids=ids)


# The form: rows in, rows out


def _form_rows(form: FormData, prefix: str, names: tuple[str, ...], lists: bool) -> list[dict[str, Any]]:
    """The repeated rows named `prefix-N-field` in the order they came, renumbered from 0."""
    pattern = re.compile(rf"^{prefix}-(\d{{1,3}})-")
    indexes = sorted({int(m.group(1)) for key in form if (m := pattern.match(key))})[:MAX_ROWS]
    rows = []
    for index in indexes:
        row: dict[str, Any] = {name: str(form.get(f"{prefix}-{index}-{name}") or "") for name in names}
        if lists:
            row["concerns"] = [str(v) for v in form.getlist(f"{prefix}-{index}-concerns")]
        rows.append(row)
    return rows


def _empty(row: dict[str, Any]) -> bool:
    """A row with nothing typed, chosen or ticked, which the form ignores."""
    return not any(str(v).strip() for k, v in row.items() if k != "concerns") and not row.get("concerns")


def _padded(rows: list[dict[str, Any]], names: tuple[str, ...], lists: bool) -> list[dict[str, Any]]:
    """The rows plus empty ones to fill in."""
    blank: dict[str, Any] = dict.fromkeys(names, "")
    if lists:
        blank["concerns"] = []
    return rows + [dict(blank) for _ in range(EXTRA_ROWS)]


def _concern_ids(raw: list[str], key: str, label: str, errors: dict[str, str]) -> list[int]:
    """Ticked entries as ids (a tampered value is an error, not ignored)."""
    if not all(value.isdigit() for value in raw):
        errors[key] = f"{label}: tick entries from the list"
        return []
    return sorted({int(value) for value in raw})


def _parse_indicators(rows: list[dict[str, Any]], errors: dict[str, str]) -> list[dict[str, Any]]:
    """Indicators from the non-empty rows; problems go into errors keyed by field."""
    parsed = []
    for i, row in enumerate(rows):
        if _empty(row):
            continue
        label, key = f"Indicator {i + 1}", f"indicators-{i}"
        if row["context"] not in {c.value for c in Context}:
            errors[f"{key}-context"] = f"{label}: select the context"
        if row["sign"] not in {s.value for s in Sign}:
            errors[f"{key}-sign"] = f"{label}: select sign of risk or sign of harm"
        if not row["indicator"].strip():
            errors[f"{key}-indicator"] = f"{label}: enter what the indicator is"
        elif len(row["indicator"].strip()) > 200:
            errors[f"{key}-indicator"] = f"{label}: the indicator must be 200 characters or fewer"
        ids = _concern_ids(row["concerns"], f"{key}-evidence", label, errors)
        if not row["evidence"].strip() and not ids:
            errors[f"{key}-evidence"] = (
                f"{label}: give the evidence (write it, tick entries from the chronology, or both)"
            )
        elif len(row["evidence"]) > 5000:
            errors[f"{key}-evidence"] = f"{label}: the evidence must be 5,000 characters or fewer"
        parsed.append(
            {
                "context": row["context"],
                "sign": row["sign"],
                "indicator": row["indicator"].strip(),
                "evidence": row["evidence"].strip() or None,
                "concern_ids": ids,
                "row": i,
            }
        )
    return parsed


def _parse_protective(rows: list[dict[str, Any]], errors: dict[str, str]) -> list[dict[str, Any]]:
    """Protective factors from the non-empty rows."""
    parsed = []
    for i, row in enumerate(rows):
        if _empty(row):
            continue
        label, key = f"Protective factor {i + 1}", f"protective-{i}"
        if row["context"] not in {c.value for c in Context}:
            errors[f"{key}-context"] = f"{label}: select the context"
        if not row["description"].strip():
            errors[f"{key}-description"] = f"{label}: describe the protective factor"
        elif len(row["description"]) > 5000:
            errors[f"{key}-description"] = f"{label}: the description must be 5,000 characters or fewer"
        ids = _concern_ids(row["concerns"], f"{key}-description", label, errors)
        parsed.append(
            {"context": row["context"], "description": row["description"].strip(), "concern_ids": ids}
        )
    return parsed


def _parse_actions(rows: list[dict[str, Any]], errors: dict[str, str], today: date) -> list[dict[str, Any]]:
    """Plan actions from the non-empty rows."""
    parsed = []
    for i, row in enumerate(rows):
        if _empty(row):
            continue
        label, key = f"Action {i + 1}", f"actions-{i}"
        if row["context"] not in {c.value for c in Context}:
            errors[f"{key}-context"] = f"{label}: select the context"
        if not row["who"].strip():
            errors[f"{key}-who"] = f"{label}: enter who will do it"
        elif len(row["who"].strip()) > 200:
            errors[f"{key}-who"] = f"{label}: who will do it must be 200 characters or fewer"
        if not row["what"].strip():
            errors[f"{key}-what"] = f"{label}: enter what will be done"
        elif len(row["what"]) > 5000:
            errors[f"{key}-what"] = f"{label}: what will be done must be 5,000 characters or fewer"
        due = None
        try:
            due = date_from_parts(row["due-day"], row["due-month"], row["due-year"])
            if due is None:
                errors[f"{key}-due"] = f"{label}: enter the date it will be done by"
            elif due < today:
                errors[f"{key}-due"] = f"{label}: the date it will be done by cannot be in the past"
        except ValueError as problem:
            errors[f"{key}-due"] = f"{label}: {str(problem)[0].lower()}{str(problem)[1:]}"
        parsed.append(
            {
                "context": row["context"],
                "who": row["who"].strip(),
                "what": row["what"].strip(),
                "due_date": due,
            }
        )
    return parsed


def _parse_weighting(weights: dict[str, str], errors: dict[str, str]) -> dict[str, int] | None:
    """The five shares (an empty box counts as 0) if they are whole numbers adding to 100."""
    if not any(value.strip() for value in weights.values()):
        errors["weighting"] = "Enter the context weighting: five whole numbers that add up to 100"
        return None
    shares: dict[str, int] = {}
    for context in Context:
        text = weights[context.value].strip().removesuffix("%").strip() or "0"
        if not text.isdigit() or int(text) > 100:
            errors[f"weight-{context.value}"] = (
                f"Enter the {CONTEXT_LABELS[context].lower()} weighting as a whole number from 0 to 100"
            )
        else:
            shares[context.value] = int(text)
    if len(shares) < len(Context):
        return None
    total = sum(shares.values())
    if total != 100:
        errors["weighting"] = f"The context weighting must add up to 100 (it adds up to {total})"
        return None
    return shares


WEIGHT_FIELDS = tuple(f"weight-{c.value}" for c in Context)


def _error_order() -> tuple[str, ...]:
    """Error keys in page order, so the summary reads top to bottom."""
    order: list[str] = []
    for prefix, names in (
        ("indicators", ("context", "sign", "indicator", "evidence")),
        ("protective", ("context", "description")),
    ):
        order += [f"{prefix}-{i}-{name}" for i in range(MAX_ROWS + EXTRA_ROWS) for name in names]
    order += ["weighting", *WEIGHT_FIELDS, "judgement", "local_category"]
    order += [
        f"actions-{i}-{name}"
        for i in range(MAX_ROWS + EXTRA_ROWS)
        for name in ("context", "who", "what", "due")
    ]
    return (*order, "review", "form")


ERROR_ORDER = _error_order()


def _anchors(errors: dict[str, str]) -> dict[str, str]:
    """Where each error's link goes: the first input of its field."""
    anchors = {"weighting": "weight-individual", "review": "review-day", "form": "assessment-form"}
    anchors |= {key: f"{key}-day" for key in errors if key.endswith("-due")}
    return anchors


@dataclass
class AssessmentForm:
    """What the form shows: the rows and values as typed."""

    indicators: list[dict[str, Any]]
    protective: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    values: dict[str, Any]


def _render_form(
    request: Request,
    *,
    person: Any,
    form: AssessmentForm,
    options: dict[str, list[dict[str, Any]]],
    categories: tuple[str, ...],
    field_errors: dict[str, str],
    findings: list[dict[str, Any]] | None = None,
    assessment: AssessmentRead | None = None,
    status_code: int = 200,
) -> Response:
    """The assessment form with what was typed, errors, and wording to review."""
    return render(
        request,
        "assessments/form.html",
        {
            "active_nav": "people",
            "person": person,
            "form": form,
            "options": options,
            "categories": categories,
            "field_errors": field_errors,
            "errors": error_list(field_errors, ERROR_ORDER, _anchors(field_errors)),
            "findings": findings or [],
            "assessment": assessment,
            "contexts": CONTEXT_LABELS,
            "signs": SIGN_LABELS,
            "latest_review": three_months_from(date.today()),
            "Context": Context,
        },
        status_code=status_code,
    )


def _blank_form(today: date) -> AssessmentForm:
    """An empty form with the review date three months on."""
    review = three_months_from(today)
    return AssessmentForm(
        indicators=_padded([], INDICATOR_FIELDS, True),
        protective=_padded([], PROTECTIVE_FIELDS, True),
        actions=_padded([], ACTION_FIELDS, False),
        values={
            "weights": {c.value: "" for c in Context},
            "judgement": "",
            "local_category": "",
            "review_day": str(review.day),
            "review_month": str(review.month),
            "review_year": str(review.year),
        },
    )


def _form_of(assessment: RiskAssessment) -> AssessmentForm:
    """The form filled in from a saved assessment, with empty rows to add more."""
    indicators = [
        {
            "context": i.context.value,
            "sign": i.sign.value,
            "indicator": i.indicator,
            "evidence": i.evidence or "",
            "concerns": [str(c) for c in i.concern_ids],
        }
        for i in assessment.indicators
    ]
    protective = [
        {
            "context": p.context.value,
            "description": p.description,
            "concerns": [str(c) for c in p.concern_ids],
        }
        for p in assessment.protective_factors
    ]
    actions = [
        {
            "context": a.context.value,
            "who": a.who,
            "what": a.what,
            "due-day": str(a.due_date.day),
            "due-month": str(a.due_date.month),
            "due-year": str(a.due_date.year),
        }
        for a in assessment.actions
    ]
    return AssessmentForm(
        indicators=_padded(indicators, INDICATOR_FIELDS, True),
        protective=_padded(protective, PROTECTIVE_FIELDS, True),
        actions=_padded(actions, ACTION_FIELDS, False),
        values={
            "weights": {c.value: str(w) for c, w in assessment.weights().items()},
            "judgement": assessment.judgement,
            "local_category": assessment.local_category or "",
            "review_day": str(assessment.review_date.day),
            "review_month": str(assessment.review_date.month),
            "review_year": str(assessment.review_date.year),
            "version": assessment.version,
        },
    )


def _linked_ids(form: AssessmentForm) -> set[int]:
    """Every entry ticked anywhere in the form."""
    return {
        int(value)
        for row in form.indicators + form.protective
        for value in row.get("concerns", [])
        if value.isdigit()
    }


@dataclass
class Submitted:
    """A posted form: what to show again, and the data to save when it is valid."""

    form: AssessmentForm
    data: dict[str, Any] | None
    errors: dict[str, str]
    findings: list[dict[str, Any]]


def _read_post(
    form_data: FormData,
    *,
    judgement: str,
    local_category: str,
    review: tuple[str, str, str],
    categories: tuple[str, ...],
    rules: tuple[Rule, ...],
) -> Submitted:
    """Parse and check the whole form, collecting every problem at once."""
    today = date.today()
    indicators = _form_rows(form_data, "indicators", INDICATOR_FIELDS, True)
    protective = _form_rows(form_data, "protective", PROTECTIVE_FIELDS, True)
    actions = _form_rows(form_data, "actions", ACTION_FIELDS, False)
    weights = {c.value: str(form_data.get(f"weight-{c.value}") or "")[:10] for c in Context}
    form = AssessmentForm(
        indicators=indicators or _padded([], INDICATOR_FIELDS, True),
        protective=protective or _padded([], PROTECTIVE_FIELDS, True),
        actions=actions or _padded([], ACTION_FIELDS, False),
        values={
            "weights": weights,
            "judgement": judgement,
            "local_category": local_category,
            "review_day": review[0],
            "review_month": review[1],
            "review_year": review[2],
        },
    )
    errors: dict[str, str] = {}
    parsed_indicators = _parse_indicators(indicators, errors)
    parsed_protective = _parse_protective(protective, errors)
    shares = _parse_weighting(weights, errors)
    if not judgement.strip():
        errors["judgement"] = "Enter your judgement and the reasons for it"
    elif len(judgement) > 10_000:
        errors["judgement"] = "Your judgement must be 10,000 characters or fewer"
    if local_category and local_category not in categories:
        errors["local_category"] = "Select a local category, or None chosen"
    parsed_actions = _parse_actions(actions, errors, today)
    review_date = None
    try:
        review_date = date_from_parts(*review) or three_months_from(today)
        if not today <= review_date <= three_months_from(today):
            errors["review"] = (
                "The review date must be between today and "
                f"{three_months_from(today):%-d %B %Y} (three months from today)"
            )
    except ValueError as problem:
        errors["review"] = str(problem)
    findings: list[dict[str, Any]] = []
    for name, text in [("the judgement", judgement)] + [
        (f"the evidence for indicator {item['row'] + 1}", item["evidence"] or "")
        for item in parsed_indicators
    ]:
        findings += [{"field": name, "finding": f} for f in check_text(text, rules)]
    data = {
        "indicators": [{k: v for k, v in item.items() if k != "row"} for item in parsed_indicators],
        "protective_factors": parsed_protective,
        "weighting": shares,
        "judgement": judgement.strip(),
        "local_category": local_category or None,
        "actions": parsed_actions,
        "review_date": review_date,
    }
    return Submitted(form, None if errors else data, errors, findings)


def _schema_errors(invalid: ValidationError) -> dict[str, str]:
    """Pydantic's complaints, keyed like the form's fields (a safety net behind the form's own checks)."""
    raw = first_errors(list(invalid.errors()))  # type: ignore[arg-type]
    keyed: dict[str, str] = {}
    for error in invalid.errors():
        loc = [str(part) for part in error.get("loc", ())]
        if len(loc) >= 2 and loc[0] in {"indicators", "protective_factors", "actions"}:
            prefix = {"protective_factors": "protective"}.get(loc[0], loc[0])
            field = loc[2] if len(loc) > 2 else ("evidence" if loc[0] == "indicators" else "context")
            keyed.setdefault(
                f"{prefix}-{loc[1]}-{field}", str(error.get("msg", "")).removeprefix("Value error, ")
            )
    return keyed or {"form": next(iter(raw.values()), "Check the form")}


def _service_error(problem: InvalidInput) -> dict[str, str]:
    """A rule the service enforces, keyed to the form's field."""
    field = problem.field or "form"
    return {
        {"review_date": "review", "concern_ids": "form", "actions": "form"}.get(field, field): problem.detail
    }


# Routes


@router.get("/young-people/{person_id}/assessments")
def assessment_history(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """A young person's assessments, newest first, with status and overdue reviews flagged."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    found = list_assessments(session=session, actor=actor, origin=origin, reason=reason, person_id=person.id)
    return render(
        request,
        "assessments/history.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "assessments": [read_assessment(session=session, assessment=a) for a in found],
            "status_labels": STATUS_LABELS,
            "status_tags": STATUS_TAGS,
        },
    )


@router.get("/young-people/{person_id}/assessments/new")
def new_assessment_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    categories: Categories,
    person_id: int,
) -> Response:
    """Show an empty assessment form."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    options = evidence_options(session, actor, origin, reason, person.id, set())
    return _render_form(
        request,
        person=read_of(person),
        form=_blank_form(date.today()),
        options=options,
        categories=categories,
        field_errors={},
    )


@router.post("/young-people/{person_id}/assessments/new")
def new_assessment_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    categories: Categories,
    form_data: FormDep,
    person_id: int,
    judgement: Annotated[str, Form(max_length=20_000)] = "",
    local_category: Annotated[str, Form(max_length=60)] = "",
    review_day: Annotated[str, Form(alias="review-day", max_length=10)] = "",
    review_month: Annotated[str, Form(alias="review-month", max_length=10)] = "",
    review_year: Annotated[str, Form(alias="review-year", max_length=10)] = "",
    action: Annotated[str, Form(max_length=20)] = "draft",
    wording_reviewed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Save the assessment as a draft or send it for sign-off; on any problem nothing is saved."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    submitted = _read_post(
        form_data,
        judgement=judgement,
        local_category=local_category,
        review=(review_day, review_month, review_year),
        categories=categories,
        rules=rules,
    )

    def again(errors: dict[str, str], status: int, findings: list[dict[str, Any]] | None = None) -> Response:
        options = evidence_options(session, actor, origin, reason, person.id, _linked_ids(submitted.form))
        return _render_form(
            request,
            person=read_of(person),
            form=submitted.form,
            options=options,
            categories=categories,
            field_errors=errors,
            findings=findings,
            status_code=status,
        )

    if submitted.data is None:
        return again(submitted.errors, 422)
    try:
        data = AssessmentCreate.model_validate({**submitted.data, "submit": action == "submit"})
    except ValidationError as invalid:
        return again(_schema_errors(invalid), 422)
    if submitted.findings and wording_reviewed != "yes":
        return again({}, 200, submitted.findings)
    try:
        assessment = create_assessment(
            session=session,
            actor=actor,
            origin=origin,
            reason=reason,
            person_id=person.id,
            data=data,
            categories=categories,
            rules=rules,
        )
    except InvalidInput as problem:
        return again(_service_error(problem), 422)
    notice = "submitted" if data.submit else "draft"
    return RedirectResponse(f"/assessments/{assessment.id}?saved={notice}", status_code=303)


def _editable(session: Session, actor: Actor, assessment_id: int) -> RiskAssessment:
    """An assessment the actor's agency may still change (not signed off)."""
    assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
    if assessment.status is AssessmentStatus.SIGNED_OFF:
        raise Conflict("A signed-off assessment cannot change: start a new assessment instead.")
    if assessment.agency_id != actor.agency_id:
        raise Conflict("Only the assessing agency can change this assessment.")
    return assessment


@router.get("/assessments/{assessment_id}/edit")
def edit_assessment_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    categories: Categories,
    assessment_id: int,
) -> Response:
    """Show a draft or submitted assessment in the form, to change it."""
    assessment = _editable(session, actor, assessment_id)
    open_assessment(session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment.id)
    person = get_young_person(session=session, actor=actor, person_id=assessment.young_person_id)
    form = _form_of(assessment)
    options = evidence_options(session, actor, origin, reason, person.id, _linked_ids(form))
    return _render_form(
        request,
        person=read_of(person),
        form=form,
        options=options,
        categories=categories,
        field_errors={},
        assessment=read_assessment(session=session, assessment=assessment),
    )


@router.post("/assessments/{assessment_id}/edit")
def edit_assessment_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    categories: Categories,
    form_data: FormDep,
    assessment_id: int,
    version: Annotated[int, Form()] = 0,
    judgement: Annotated[str, Form(max_length=20_000)] = "",
    local_category: Annotated[str, Form(max_length=60)] = "",
    review_day: Annotated[str, Form(alias="review-day", max_length=10)] = "",
    review_month: Annotated[str, Form(alias="review-month", max_length=10)] = "",
    review_year: Annotated[str, Form(alias="review-year", max_length=10)] = "",
    action: Annotated[str, Form(max_length=20)] = "draft",
    wording_reviewed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Save changes (or send for sign-off); a stale version keeps what was typed and says so."""
    assessment = _editable(session, actor, assessment_id)
    person = get_young_person(session=session, actor=actor, person_id=assessment.young_person_id)
    submitted = _read_post(
        form_data,
        judgement=judgement,
        local_category=local_category,
        review=(review_day, review_month, review_year),
        categories=categories,
        rules=rules,
    )
    submitted.form.values["version"] = version
    current = read_assessment(session=session, assessment=assessment)

    def again(errors: dict[str, str], status: int, findings: list[dict[str, Any]] | None = None) -> Response:
        options = evidence_options(session, actor, origin, reason, person.id, _linked_ids(submitted.form))
        return _render_form(
            request,
            person=read_of(person),
            form=submitted.form,
            options=options,
            categories=categories,
            field_errors=errors,
            findings=findings,
            assessment=current,
            status_code=status,
        )

    if version != assessment.version:
        submitted.form.values["version"] = assessment.version
        return again(
            {
                "form": "Someone changed this assessment since you opened it, so your changes are not "
                "saved yet. Check the saved assessment, then save again to replace it with what is below."
            },
            409,
        )
    if submitted.data is None:
        return again(submitted.errors, 422)
    try:
        data = AssessmentUpdate.model_validate(
            {**submitted.data, "submit": action == "submit", "version": version}
        )
    except ValidationError as invalid:
        return again(_schema_errors(invalid), 422)
    if submitted.findings and wording_reviewed != "yes":
        return again({}, 200, submitted.findings)
    try:
        update_assessment(
            session=session,
            actor=actor,
            origin=origin,
            reason=reason,
            assessment_id=assessment.id,
            data=data,
            categories=categories,
            rules=rules,
        )
    except InvalidInput as problem:
        return again(_service_error(problem), 422)
    notice = "submitted" if data.submit and current.status is AssessmentStatus.DRAFT else "changed"
    return RedirectResponse(f"/assessments/{assessment.id}?saved={notice}", status_code=303)


# Reading an assessment


def weighting_boxes(weights: dict[Context, int]) -> dict[str, Any]:
    """Proportional boxes: each context's rectangle is as wide as its share (in percent of the bar).

    A box too narrow for its label has the label below the bar, on a row of its own, with a leader line.
    """
    bar_height, row_height = 72, 26
    boxes, below, start = [], 0, 0
    for context in Context:
        share = weights[context]
        if share == 0:
            continue
        fill, text = CONTEXT_COLOURS[context]
        centre = start + share / 2
        inside = share >= 22
        box = {
            "context": context.value,
            "label": CONTEXT_LABELS[context],
            "share": share,
            "x": start,
            "centre": centre,
            "fill": fill,
            "text": text,
            "inside": inside,
            "anchor": "start" if centre < 12 else "end" if centre > 88 else "middle",
            "label_y": bar_height + 20 + below * row_height,
        }
        if not inside:
            below += 1
        boxes.append(box)
        start += share
    return {"boxes": boxes, "bar_height": bar_height, "height": bar_height + 12 + below * row_height}


def _sign_off_state(actor: Actor, assessment: AssessmentRead) -> str:
    """Whether the actor may sign off, and if not, why (for the words on the page)."""
    if assessment.status is not AssessmentStatus.SUBMITTED:
        return "not_submitted"
    if not can(actor, Permission.SIGN_OFF_ASSESSMENTS) or not actor.has_role(Role.SUPERVISOR):
        return "not_supervisor"
    if assessment.agency_id != actor.agency_id:
        return "other_agency"
    if assessment.author_id == actor.user_id:
        return "author"
    return "may_sign"


def _assessment_page(
    request: Request,
    session: Session,
    actor: Actor,
    assessment: RiskAssessment,
    rules: tuple[Rule, ...],
    *,
    errors: dict[str, str] | None = None,
    note: str = "",
    status_code: int = 200,
) -> Response:
    """The assessment page, optionally with sign-off errors."""
    read = read_assessment(session=session, assessment=assessment, rules=rules)
    person = get_young_person(session=session, actor=actor, person_id=assessment.young_person_id)
    ids = {c for i in read.indicators for c in i.concern_ids} | {
        c for p in read.protective_factors for c in p.concern_ids
    }
    weights = read.weighting.as_dict()
    by_context = [
        {
            "context": context,
            "label": CONTEXT_LABELS[context],
            "indicators": [i for i in read.indicators if i.context is context],
            "protective": [p for p in read.protective_factors if p.context is context],
            "actions": [a for a in read.actions if a.context is context],
        }
        for context in sorted(Context, key=lambda c: -weights[c])
    ]
    return render(
        request,
        "assessments/view.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "assessment": read,
            "by_context": by_context,
            "weights": [(CONTEXT_LABELS[c], weights[c], CONTEXT_COLOURS[c][0]) for c in Context],
            "chart": weighting_boxes(weights),
            "entries": linked_entries(session, actor, person.id, ids),
            "status_labels": STATUS_LABELS,
            "status_tags": STATUS_TAGS,
            "sign_labels": SIGN_LABELS,
            "sign_tags": SIGN_TAGS,
            "sign_off": _sign_off_state(actor, read),
            "may_change": read.status is not AssessmentStatus.SIGNED_OFF
            and read.agency_id == actor.agency_id
            and can(actor, Permission.EDIT_PEOPLE),
            "field_errors": errors or {},
            "errors": error_list(errors or {}, ("note", "form"), {"form": "sign-off"}),
            "note": note,
            "today": date.today(),
        },
        status_code=status_code,
    )


@router.get("/assessments/{assessment_id}")
def assessment_page(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    assessment_id: int,
) -> Response:
    """One assessment: evidence by context, weighting, judgement, plan, review and sign-off."""
    assessment = open_assessment(
        session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment_id
    )
    return _assessment_page(request, session, actor, assessment, rules)


@router.post("/assessments/{assessment_id}/sign-off")
def sign_off_submit(
    request: Request,
    actor: Supervisor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    assessment_id: int,
    version: Annotated[int, Form()] = 0,
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Sign off a submitted assessment (a supervisor of the assessing agency who did not write it)."""
    if len(note) > 5000:
        assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
        return _assessment_page(
            request,
            session,
            actor,
            assessment,
            rules,
            errors={"note": "The note must be 5,000 characters or fewer"},
            note=note,
            status_code=422,
        )
    try:
        sign_off_assessment(
            session=session,
            actor=actor,
            origin=origin,
            reason=reason,
            assessment_id=assessment_id,
            data=SignOff(version=version, note=note.strip() or None),
        )
    except Conflict as problem:
        assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
        return _assessment_page(
            request,
            session,
            actor,
            assessment,
            rules,
            errors={"form": problem.detail},
            note=note,
            status_code=409,
        )
    return RedirectResponse(f"/assessments/{assessment_id}?saved=signed_off", status_code=303)


@router.get("/assessments/{assessment_id}/changes")
def assessment_changes(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    assessment_id: int,
) -> Response:
    """What changed since the assessment before: weighting, indicators, protective factors, judgement."""
    assessment = open_assessment(
        session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment_id
    )
    person = get_young_person(session=session, actor=actor, person_id=assessment.young_person_id)
    change = compare(session=session, actor=actor, assessment=assessment)
    before = (
        read_assessment(
            session=session,
            assessment=get_assessment(session=session, actor=actor, assessment_id=change.previous_id),
        )
        if change.previous_id
        else None
    )
    now = read_assessment(session=session, assessment=assessment)
    weights = [
        {
            "label": CONTEXT_LABELS[c],
            "before": before.weighting.as_dict()[c] if before else None,
            "now": now.weighting.as_dict()[c],
            "changed": c.value in change.weighting,
        }
        for c in Context
    ]
    return render(
        request,
        "assessments/changes.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "assessment": now,
            "before": before,
            "change": change,
            "weights": weights,
            "sign_labels": SIGN_LABELS,
            "signs_now": {i.indicator: i.sign for i in now.indicators},
            "signs_before": {i.indicator: i.sign for i in before.indicators} if before else {},
            "status_labels": STATUS_LABELS,
        },
    )
