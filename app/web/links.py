"""Links between people: a young person's links with their provenance (source agency, 3x5x2 grading,
date observed, review-by date) and the form to add one, to another young person or a person of concern."""

from contextlib import suppress
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.deps import AccessReason, LanguageRules, OriginDep, PeopleEditor, PeopleViewer
from app.templating import render
from app.web.forms import date_from_parts, error_list, first_errors
from contexts.access import Actor
from contexts.agencies.service import list_agencies
from contexts.audit.service import RequestOrigin
from contexts.concerns.models import HandlingCode, IntelligenceAssessment, SourceEvaluation
from contexts.errors import InvalidInput, NotFound
from contexts.language.checker import Rule, check_text
from contexts.persons.models import RELATIONSHIP_LABELS, PersonOfConcern, RelationshipType
from contexts.persons.schemas import DEFAULT_REVIEW_DAYS, LinkCreate, LinkRead, PersonOfConcernCreate
from contexts.persons.service import (
    add_link,
    create_person_of_concern,
    get_person_of_concern,
    links_of,
    read_links,
    search_persons_of_concern,
)
from contexts.young_people.service import get_young_person, open_young_person, read_of, search_young_people

router = APIRouter(include_in_schema=False)
LIST_SIZE = 200
CHOICES_SHOWN = 50
SOURCE_LABELS = {
    SourceEvaluation.RELIABLE: "1 – reliable source",
    SourceEvaluation.UNTESTED: "2 – untested source",
    SourceEvaluation.NOT_RELIABLE: "3 – not reliable source",
}
ASSESSMENT_LABELS = {
    IntelligenceAssessment.KNOWN_DIRECTLY: "A – known directly to the source",
    IntelligenceAssessment.KNOWN_INDIRECTLY_CORROBORATED: "B – known indirectly, corroborated",
    IntelligenceAssessment.KNOWN_INDIRECTLY: "C – known indirectly",
    IntelligenceAssessment.NOT_KNOWN: "D – not known",
    IntelligenceAssessment.SUSPECTED_FALSE: "E – suspected to be false",
}
HANDLING_LABELS = {
    HandlingCode.MAY_SHARE: "P – may be shared lawfully",
    HandlingCode.CONDITIONS_APPLY: "C – conditions apply",
}
GRADING = ("source_evaluation", "intelligence_assessment", "handling_code")
WHO = {
    "young_person": "Another young person",
    "existing": "A person of concern already recorded",
    "new": "A new person of concern",
}
FIELD_ORDER = (
    "linked_young_person_id",
    "person_of_concern_id",
    "poc_name",
    "poc_aliases",
    "poc_age",
    "poc_description",
    "relationship_type",
    "description",
    "source_agency_id",
    "grading",
    "observed",
    "review",
    "form",
)
SERVICE_FIELDS = {
    "source_evaluation": "grading",
    "intelligence_assessment": "grading",
    "handling_code": "grading",
    "observed_date": "observed",
    "review_by_date": "review",
    "name": "poc_name",
    "aliases": "poc_aliases",
    "approximate_age": "poc_age",
}


def grading_words(link: LinkRead) -> str:
    """The 3x5x2 grading in words, for example '2 – untested source; C – known indirectly; P – ...'."""
    if link.source_evaluation is None or link.intelligence_assessment is None or link.handling_code is None:
        return ""
    return "; ".join(
        (
            SOURCE_LABELS[link.source_evaluation],
            ASSESSMENT_LABELS[link.intelligence_assessment],
            HANDLING_LABELS[link.handling_code],
        )
    )


def _other_end(link: LinkRead, person_id: int) -> dict[str, Any]:
    """The person at the other end of a link, seen from this young person's record."""
    if link.young_person_id != person_id:
        return {
            "name": link.young_person_name,
            "young_person_id": link.young_person_id,
            "kind": "Young person",
        }
    if link.linked_young_person_id is not None:
        return {
            "name": link.linked_name,
            "young_person_id": link.linked_young_person_id,
            "kind": "Young person",
        }
    return {"name": link.linked_name, "young_person_id": None, "kind": "Person of concern"}


@router.get("/young-people/{person_id}/links")
def links_page(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
) -> Response:
    """A young person's links to other people, each with its source, grading and dates."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    links, total = links_of(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person.id, limit=LIST_SIZE
    )
    read = read_links(session=session, links=links)
    return render(
        request,
        "links/list.html",
        {
            "active_nav": "people",
            "person": read_of(person),
            "links": [
                {"link": link, "other": _other_end(link, person.id), "grading": grading_words(link)}
                for link in read
            ],
            "total": total,
            "relationships": RELATIONSHIP_LABELS,
        },
    )


def _young_choices(
    session: Session, actor: Actor, origin: RequestOrigin, person_id: int, text: str, chosen: str
) -> tuple[list[dict[str, str]], int]:
    """Young people the actor may see, matching the search, as select options (the chosen one kept)."""
    found, total = search_young_people(
        session=session, actor=actor, origin=origin, text=text.strip() or None, limit=CHOICES_SHOWN + 1
    )
    people = [p for p in found if p.id != person_id][:CHOICES_SHOWN]
    if chosen.isdigit() and int(chosen) not in {p.id for p in people} and int(chosen) != person_id:
        with suppress(NotFound):
            people.insert(0, get_young_person(session=session, actor=actor, person_id=int(chosen)))
    options = [
        {"value": str(p.id), "text": f"{p.given_name} {p.family_name} (born {p.date_of_birth:%-d %b %Y})"}
        for p in people
    ]
    return options, max(total - 1, len(options))


def _concern_choices(
    session: Session, actor: Actor, origin: RequestOrigin, text: str, chosen: str
) -> tuple[list[dict[str, str]], int]:
    """Persons of concern the actor may see, matching the search, as select options."""
    people, total = search_persons_of_concern(
        session=session, actor=actor, origin=origin, text=text.strip() or None, limit=CHOICES_SHOWN
    )
    if chosen.isdigit() and int(chosen) not in {p.id for p in people}:
        with suppress(NotFound):
            people.insert(0, get_person_of_concern(session=session, actor=actor, person_id=int(chosen)))

    def label(p: PersonOfConcern) -> str:
        extra: list[str] = []
        if p.aliases:
            extra.append("also known as " + ", ".join(p.aliases))
        if p.approximate_age is not None:
            extra.append(f"about {p.approximate_age}")
        return p.name + (f" ({'; '.join(extra)})" if extra else "")

    return [{"value": str(p.id), "text": label(p)} for p in people], max(total, len(people))


def _blank(today: date) -> dict[str, Any]:
    """An empty form, observed today."""
    return {
        "who": "",
        "yp_q": "",
        "linked_young_person_id": "",
        "poc_q": "",
        "person_of_concern_id": "",
        "poc_name": "",
        "poc_aliases": "",
        "poc_age": "",
        "poc_description": "",
        "relationship_type": "",
        "description": "",
        "source_agency_id": "",
        "source_evaluation": "",
        "intelligence_assessment": "",
        "handling_code": "",
        "observed_day": str(today.day),
        "observed_month": str(today.month),
        "observed_year": str(today.year),
        "review_day": "",
        "review_month": "",
        "review_year": "",
    }


def _render_form(
    request: Request,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    *,
    person: Any,
    values: dict[str, Any],
    field_errors: dict[str, str],
    findings: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    """The add-a-link form with what was typed, the search results, errors and wording to review."""
    young: list[dict[str, str]] = []
    others: list[dict[str, str]] = []
    young_total = others_total = 0
    if values["who"] == "young_person":
        young, young_total = _young_choices(
            session, actor, origin, person.id, values["yp_q"], values["linked_young_person_id"]
        )
    if values["who"] == "existing":
        others, others_total = _concern_choices(
            session, actor, origin, values["poc_q"], values["person_of_concern_id"]
        )
    anchors = {
        "grading": next((part for part in GRADING if not values[part]), "source_evaluation"),
        "observed": "observed-day",
        "review": "review-day",
        "form": "link-form",
    }
    return render(
        request,
        "links/form.html",
        {
            "active_nav": "people",
            "person": person,
            "values": values,
            "field_errors": field_errors,
            "errors": error_list(field_errors, FIELD_ORDER, anchors),
            "findings": findings or [],
            "young": young,
            "young_total": young_total,
            "others": others,
            "others_total": others_total,
            "who_labels": WHO,
            "relationships": RELATIONSHIP_LABELS,
            "agencies": list_agencies(session=session),
            "source_labels": SOURCE_LABELS,
            "assessment_labels": ASSESSMENT_LABELS,
            "handling_labels": HANDLING_LABELS,
            "review_days": DEFAULT_REVIEW_DAYS,
        },
        status_code=status_code,
    )


def _choose_page(request: Request, person: Any, error: str | None, status_code: int = 200) -> Response:
    """The first question: who is the young person linked to?"""
    field_errors = {"who": error} if error else {}
    return render(
        request,
        "links/choose.html",
        {
            "active_nav": "people",
            "person": person,
            "who_labels": WHO,
            "field_errors": field_errors,
            "errors": error_list(field_errors, ("who",)),
        },
        status_code=status_code,
    )


@router.get("/young-people/{person_id}/links/new")
def new_link_form(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    who: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Ask who the young person is linked to, then show the form for that kind of person."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    if who not in WHO:
        error = None if who is None else "Select who the young person is linked to"
        return _choose_page(request, read_of(person), error, 422 if error else 200)
    values = {**_blank(date.today()), "who": who}
    return _render_form(
        request, session, actor, origin, person=read_of(person), values=values, field_errors={}
    )


def _check(
    values: dict[str, str], rules: tuple[Rule, ...]
) -> tuple[dict[str, str], dict[str, Any], list[Any]]:
    """Every problem with the form at once, the link and person to save, and wording to review."""
    errors: dict[str, str] = {}
    today = date.today()
    who = values["who"]
    if who == "young_person" and not values["linked_young_person_id"].isdigit():
        errors["linked_young_person_id"] = "Select the young person they are linked to"
    if who == "existing" and not values["person_of_concern_id"].isdigit():
        errors["person_of_concern_id"] = "Select the person of concern they are linked to"
    person: dict[str, Any] = {}
    if who == "new":
        name = values["poc_name"].strip()
        aliases = [a.strip() for a in values["poc_aliases"].split(",") if a.strip()]
        if not name:
            errors["poc_name"] = "Enter the name the person is known by"
        elif len(name) > 200:
            errors["poc_name"] = "The name must be 200 characters or fewer"
        if len(aliases) > 20 or any(len(a) > 100 for a in aliases):
            errors["poc_aliases"] = "Enter up to 20 other names, each 100 characters or fewer"
        age = values["poc_age"].strip()
        if age and (not age.isdigit() or int(age) > 120):
            errors["poc_age"] = "Enter the approximate age as a whole number, for example 25"
        if len(values["poc_description"]) > 10_000:
            errors["poc_description"] = "The description must be 10,000 characters or fewer"
        person = {
            "name": name,
            "aliases": aliases,
            "approximate_age": int(age) if age.isdigit() and int(age) <= 120 else None,
            "description": values["poc_description"].strip() or None,
        }
    if values["relationship_type"] not in {r.value for r in RelationshipType}:
        errors["relationship_type"] = "Select how they are related"
    if len(values["description"]) > 10_000:
        errors["description"] = "The description must be 10,000 characters or fewer"
    if not values["source_agency_id"].isdigit():
        errors["source_agency_id"] = "Select the agency the information came from"
    given = [bool(values[part]) for part in GRADING]
    if any(given) and not all(given):
        errors["grading"] = "Give all three parts of the 3x5x2 grading, or none"
    observed = review = None
    try:
        observed = date_from_parts(values["observed_day"], values["observed_month"], values["observed_year"])
        if observed is None:
            errors["observed"] = "Enter the date the link was known to be true"
        elif observed > today:
            errors["observed"] = "The date observed cannot be in the future"
    except ValueError as problem:
        errors["observed"] = str(problem)
    try:
        review = date_from_parts(values["review_day"], values["review_month"], values["review_year"])
        if review is not None and observed is not None and review <= observed:
            errors["review"] = "The review date must be after the date observed"
    except ValueError as problem:
        errors["review"] = str(problem)
    texts = [("the description", values["description"])]
    if who == "new":
        texts.append(("the description of the person", values["poc_description"]))
    findings = [{"field": field, "finding": f} for field, text in texts for f in check_text(text, rules)]
    if errors:
        return errors, {}, findings
    link = {
        "linked_young_person_id": int(values["linked_young_person_id"]) if who == "young_person" else None,
        "person_of_concern_id": int(values["person_of_concern_id"]) if who == "existing" else None,
        "relationship_type": values["relationship_type"],
        "description": values["description"].strip() or None,
        "source_agency_id": int(values["source_agency_id"]),
        **{part: values[part] or None for part in GRADING},
        "observed_date": observed,
        "review_by_date": review,
    }
    return errors, {"link": link, "person": person}, findings


@router.post("/young-people/{person_id}/links/new")
def new_link_submit(
    request: Request,
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    person_id: int,
    who: Annotated[str, Form(max_length=20)] = "",
    yp_q: Annotated[str, Form(max_length=100)] = "",
    linked_young_person_id: Annotated[str, Form(max_length=20)] = "",
    poc_q: Annotated[str, Form(max_length=100)] = "",
    person_of_concern_id: Annotated[str, Form(max_length=20)] = "",
    poc_name: Annotated[str, Form(max_length=1000)] = "",
    poc_aliases: Annotated[str, Form(max_length=3000)] = "",
    poc_age: Annotated[str, Form(max_length=10)] = "",
    poc_description: Annotated[str, Form(max_length=20_000)] = "",
    relationship_type: Annotated[str, Form(max_length=40)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
    source_agency_id: Annotated[str, Form(max_length=20)] = "",
    source_evaluation: Annotated[str, Form(max_length=2)] = "",
    intelligence_assessment: Annotated[str, Form(max_length=2)] = "",
    handling_code: Annotated[str, Form(max_length=2)] = "",
    observed_day: Annotated[str, Form(alias="observed-day", max_length=10)] = "",
    observed_month: Annotated[str, Form(alias="observed-month", max_length=10)] = "",
    observed_year: Annotated[str, Form(alias="observed-year", max_length=10)] = "",
    review_day: Annotated[str, Form(alias="review-day", max_length=10)] = "",
    review_month: Annotated[str, Form(alias="review-month", max_length=10)] = "",
    review_year: Annotated[str, Form(alias="review-year", max_length=10)] = "",
    find: Annotated[str, Form(max_length=20)] = "",
    wording_reviewed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Search for the other person, or add the link (and a new person of concern) in one step."""
    person = open_young_person(
        session=session, actor=actor, origin=origin, reason=reason, person_id=person_id
    )
    values = {
        "who": who,
        "yp_q": yp_q,
        "linked_young_person_id": linked_young_person_id,
        "poc_q": poc_q,
        "person_of_concern_id": person_of_concern_id,
        "poc_name": poc_name,
        "poc_aliases": poc_aliases,
        "poc_age": poc_age,
        "poc_description": poc_description,
        "relationship_type": relationship_type,
        "description": description,
        "source_agency_id": source_agency_id,
        "source_evaluation": source_evaluation
        if source_evaluation in {s.value for s in SourceEvaluation}
        else "",
        "intelligence_assessment": intelligence_assessment
        if intelligence_assessment in {a.value for a in IntelligenceAssessment}
        else "",
        "handling_code": handling_code if handling_code in {h.value for h in HandlingCode} else "",
        "observed_day": observed_day,
        "observed_month": observed_month,
        "observed_year": observed_year,
        "review_day": review_day,
        "review_month": review_month,
        "review_year": review_year,
    }

    def again(errors: dict[str, str], status: int, findings: list[Any] | None = None) -> Response:
        return _render_form(
            request,
            session,
            actor,
            origin,
            person=read_of(person),
            values=values,
            field_errors=errors,
            findings=findings,
            status_code=status,
        )

    if who not in WHO:
        return _choose_page(request, read_of(person), "Select who the young person is linked to", 422)
    if find and find == who:
        return again({}, 200)
    errors, parsed, findings = _check(values, rules)
    if errors:
        return again(errors, 422)
    try:
        link = LinkCreate.model_validate(parsed["link"])
        new_person = PersonOfConcernCreate.model_validate(parsed["person"]) if who == "new" else None
    except ValidationError as invalid:
        messages = first_errors(list(invalid.errors()))  # type: ignore[arg-type]
        return again({SERVICE_FIELDS.get(k, k): v for k, v in messages.items()}, 422)
    if findings and wording_reviewed != "yes":
        return again({}, 200, findings)
    try:
        with session.begin_nested():
            if new_person is not None:
                created = create_person_of_concern(
                    session=session, actor=actor, origin=origin, reason=reason, data=new_person
                )
                link = link.model_copy(update={"person_of_concern_id": created.id})
            add_link(
                session=session, actor=actor, origin=origin, reason=reason, person_id=person.id, data=link
            )
    except InvalidInput as problem:
        field = problem.field or "form"
        return again({SERVICE_FIELDS.get(field, field): problem.detail}, 422)
    return RedirectResponse(f"/young-people/{person.id}/links?added=1", status_code=303)
