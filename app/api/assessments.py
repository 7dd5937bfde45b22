"""Risk assessments: judgement with reasons, context weighting, plan, supervisor sign-off."""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.db import SessionDep
from app.deps import AccessReason, LanguageRules, OriginDep, PeopleEditor, PeopleViewer, SettingsDep, require
from contexts.access import Actor, Permission
from contexts.assessments.schemas import (
    AssessmentChange,
    AssessmentCreate,
    AssessmentRead,
    AssessmentUpdate,
    OverdueReview,
    SignOff,
)
from contexts.assessments.service import (
    compare,
    create_assessment,
    list_assessments,
    open_assessment,
    overdue_reviews,
    read_assessment,
    sign_off_assessment,
    update_assessment,
)

router = APIRouter(prefix="/api", tags=["risk assessments"])
Supervisor = Annotated[Actor, require(Permission.SIGN_OFF_ASSESSMENTS)]


def local_categories(settings: SettingsDep) -> tuple[str, ...]:
    """The local risk categories a practitioner may choose from."""
    return tuple(settings.risk_categories)


Categories = Annotated[tuple[str, ...], Depends(local_categories)]


@router.post("/young-people/{person_id}/assessments", response_model=AssessmentRead, status_code=201)
def create(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    categories: Categories,
    person_id: int,
    data: AssessmentCreate,
) -> AssessmentRead:
    """Write a new assessment (a draft, or submitted for sign-off with `submit`)."""
    assessment = create_assessment(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        data=data,
        categories=categories,
        rules=rules,
    )
    return read_assessment(session=session, assessment=assessment, rules=rules)


@router.get("/young-people/{person_id}/assessments", response_model=list[AssessmentRead])
def list_for_person(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, person_id: int
) -> list[AssessmentRead]:
    """Every assessment of a young person, newest first."""
    found = list_assessments(session=session, actor=actor, origin=origin, reason=reason, person_id=person_id)
    return [read_assessment(session=session, assessment=a) for a in found]


@router.get("/assessments/overdue-reviews", response_model=list[OverdueReview])
def overdue(actor: PeopleViewer, session: SessionDep) -> list[OverdueReview]:
    """Young people whose latest signed-off assessment is past its review date."""
    return overdue_reviews(session=session, actor=actor)


@router.get("/assessments/{assessment_id}", response_model=AssessmentRead)
def read(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    assessment_id: int,
) -> AssessmentRead:
    """One assessment."""
    assessment = open_assessment(
        session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment_id
    )
    return read_assessment(session=session, assessment=assessment, rules=rules)


@router.put("/assessments/{assessment_id}", response_model=AssessmentRead)
def replace(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    categories: Categories,
    assessment_id: int,
    data: AssessmentUpdate,
) -> AssessmentRead:
    """Rewrite a draft or submitted assessment (send the version you read; 409 if stale)."""
    assessment = update_assessment(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        assessment_id=assessment_id,
        data=data,
        categories=categories,
        rules=rules,
    )
    return read_assessment(session=session, assessment=assessment, rules=rules)


@router.post("/assessments/{assessment_id}/sign-off", response_model=AssessmentRead)
def sign_off(
    actor: Supervisor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    assessment_id: int,
    data: SignOff,
) -> AssessmentRead:
    """Sign off a submitted assessment (a supervisor of the agency who is not its author)."""
    assessment = sign_off_assessment(
        session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment_id, data=data
    )
    return read_assessment(session=session, assessment=assessment)


@router.get("/assessments/{assessment_id}/changes", response_model=AssessmentChange)
def changes(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, assessment_id: int
) -> AssessmentChange:
    """What changed from the assessment before: indicators, weighting, judgement."""
    assessment = open_assessment(
        session=session, actor=actor, origin=origin, reason=reason, assessment_id=assessment_id
    )
    return compare(session=session, actor=actor, assessment=assessment)
