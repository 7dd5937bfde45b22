"""Risk assessment services: structured professional judgement, never a computed score."""

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from contexts.access import Actor, Permission, Role, ensure, visible_to
from contexts.accounts.models import User
from contexts.accounts.service import now_utc
from contexts.assessments.models import (
    AssessmentIndicator,
    AssessmentStatus,
    PlanAction,
    ProtectiveFactor,
    RiskAssessment,
)
from contexts.assessments.schemas import (
    ActionRead,
    AssessmentChange,
    AssessmentCreate,
    AssessmentRead,
    AssessmentUpdate,
    IndicatorRead,
    OverdueReview,
    ProtectiveFactorRead,
    SignOff,
    Weighting,
)
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.concerns.models import Concern, Context
from contexts.errors import AccessDenied, Conflict, InvalidInput, NotFound
from contexts.language.checker import Rule, check_text
from contexts.language.schemas import LanguageFinding
from contexts.language.service import note_flags
from contexts.young_people.models import YoungPerson
from contexts.young_people.service import get_young_person

DEFAULT_LOCAL_CATEGORIES = ("at risk", "significant risk", "serious risk")


def three_months_from(day: date) -> date:
    """The same day three months on (the last day of the month when it has fewer days)."""
    month = day.month + 3
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _audit(
    session: Session, actor: Actor, origin: RequestOrigin, action: AuditAction, reason: str, oid: object
) -> None:
    """Record access to an assessment with the stated reason."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type="risk_assessment",
        object_id=oid,
        reason=reason,
    )


def _check(
    session: Session, person_id: int, data: AssessmentCreate, categories: Sequence[str], today: date
) -> date:
    """Check what the schema cannot (category, review date, linked concerns); return the review date."""
    if data.local_category is not None and data.local_category not in categories:
        raise InvalidInput(f"Choose a local category from: {', '.join(categories)}.", field="local_category")
    review = data.review_date or three_months_from(today)
    if review < today or review > three_months_from(today):
        raise InvalidInput(
            "The review date must be between today and three months from today.", field="review_date"
        )
    linked = {cid for item in data.indicators for cid in item.concern_ids}
    linked |= {cid for item in data.protective_factors for cid in item.concern_ids}
    if linked:
        found = set(
            session.scalars(
                select(Concern.id).where(Concern.id.in_(linked), Concern.young_person_id == person_id)
            )
        )
        if missing := sorted(linked - found):
            raise InvalidInput(
                f"These concerns are not in this young person's chronology: {missing}.", field="concern_ids"
            )
    for action in data.actions:
        if action.due_date < today:
            raise InvalidInput("A plan action cannot be due before today.", field="actions")
    return review


def _fill(assessment: RiskAssessment, data: AssessmentCreate, review: date) -> None:
    """Copy the form's content into the assessment, replacing its lists."""
    for context, weight in data.weighting.as_dict().items():
        setattr(assessment, f"weight_{context.value}", weight)
    assessment.judgement = data.judgement
    assessment.local_category = data.local_category
    assessment.review_date = review
    assessment.indicators = [
        AssessmentIndicator(position=i, **item.model_dump()) for i, item in enumerate(data.indicators)
    ]
    assessment.protective_factors = [
        ProtectiveFactor(position=i, **item.model_dump()) for i, item in enumerate(data.protective_factors)
    ]
    assessment.actions = [PlanAction(position=i, **item.model_dump()) for i, item in enumerate(data.actions)]
    if data.submit and assessment.status is AssessmentStatus.DRAFT:
        assessment.status = AssessmentStatus.SUBMITTED
        assessment.submitted_at = now_utc()


def _note_flags(session: Session, actor: Actor, assessment: RiskAssessment, rules: Sequence[Rule]) -> None:
    """Count flagged wording kept in the judgement, evidence and protective factors."""
    texts = [assessment.judgement, *(i.evidence for i in assessment.indicators)]
    texts += [p.description for p in assessment.protective_factors]
    note_flags(
        session=session,
        actor=actor,
        record_type="risk_assessment",
        record_id=assessment.id,
        texts=texts,
        rules=rules,
    )


def create_assessment(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    person_id: int,
    data: AssessmentCreate,
    categories: Sequence[str] = DEFAULT_LOCAL_CATEGORIES,
    rules: Sequence[Rule] = (),
) -> RiskAssessment:
    """Start an assessment for a young person of the actor's agency; past ones stay."""
    ensure(actor, Permission.EDIT_PEOPLE)
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    review = _check(session, person.id, data, categories, date.today())
    previous = session.scalar(
        select(RiskAssessment.id)
        .where(RiskAssessment.young_person_id == person.id)
        .order_by(RiskAssessment.created_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )
    assessment = RiskAssessment(
        young_person_id=person.id,
        agency_id=actor.agency_id,
        author_id=actor.user_id,
        status=AssessmentStatus.DRAFT,
        previous_id=previous,
    )
    _fill(assessment, data, review)
    session.add(assessment)
    session.flush()
    _audit(session, actor, origin, AuditAction.CREATE, reason, assessment.id)
    _note_flags(session, actor, assessment, rules)
    return assessment


def get_assessment(*, session: Session, actor: Actor, assessment_id: int) -> RiskAssessment:
    """An assessment of a young person the actor may see."""
    ensure(actor, Permission.VIEW_PEOPLE)
    assessment = session.scalar(
        select(RiskAssessment).where(
            RiskAssessment.id == assessment_id, visible_to(actor, RiskAssessment.agency_id)
        )
    )
    if assessment is None:
        raise NotFound("No such assessment in the records you can see.")
    get_young_person(session=session, actor=actor, person_id=assessment.young_person_id)
    return assessment


def open_assessment(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, assessment_id: int
) -> RiskAssessment:
    """Open an assessment; audited with the reason."""
    assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
    _audit(session, actor, origin, AuditAction.VIEW, reason, assessment.id)
    return assessment


def update_assessment(
    *,
    session: Session,
    actor: Actor,
    origin: RequestOrigin,
    reason: str,
    assessment_id: int,
    data: AssessmentUpdate,
    categories: Sequence[str] = DEFAULT_LOCAL_CATEGORIES,
    rules: Sequence[Rule] = (),
) -> RiskAssessment:
    """Rewrite a draft or submitted assessment; signed-off ones stay as they were."""
    ensure(actor, Permission.EDIT_PEOPLE)
    assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
    if assessment.status is AssessmentStatus.SIGNED_OFF:
        raise Conflict("A signed-off assessment cannot change: start a new assessment instead.")
    if assessment.agency_id != actor.agency_id:
        raise AccessDenied("Only the assessing agency can change this assessment.")
    if data.version != assessment.version:
        raise Conflict(
            "Someone changed this assessment since you opened it. Reload it and make your change again."
        )
    review = _check(session, assessment.young_person_id, data, categories, date.today())
    _fill(assessment, data, review)
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, assessment.id)
    _note_flags(session, actor, assessment, rules)
    return assessment


def sign_off_assessment(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, assessment_id: int, data: SignOff
) -> RiskAssessment:
    """A supervisor of the same agency, who is not the author, signs off a submitted assessment."""
    ensure(actor, Permission.SIGN_OFF_ASSESSMENTS)
    assessment = get_assessment(session=session, actor=actor, assessment_id=assessment_id)
    if not actor.has_role(Role.SUPERVISOR) or assessment.agency_id != actor.agency_id:
        raise AccessDenied("Only a supervisor in the assessing agency can sign this off.")
    if assessment.author_id == actor.user_id:
        raise AccessDenied("You cannot sign off your own assessment: ask another supervisor.")
    if assessment.status is not AssessmentStatus.SUBMITTED:
        raise Conflict("Only a submitted assessment can be signed off.")
    if data.version != assessment.version:
        raise Conflict("The assessment changed since you opened it. Reload it and check it again.")
    assessment.status = AssessmentStatus.SIGNED_OFF
    assessment.signed_off_by_id = actor.user_id
    assessment.signed_off_at = now_utc()
    assessment.sign_off_note = data.note
    session.flush()
    _audit(session, actor, origin, AuditAction.UPDATE, reason, assessment.id)
    return assessment


def list_assessments(
    *, session: Session, actor: Actor, origin: RequestOrigin, reason: str, person_id: int
) -> list[RiskAssessment]:
    """Every assessment of a young person, newest first; audited."""
    person = get_young_person(session=session, actor=actor, person_id=person_id)
    found = list(
        session.scalars(
            select(RiskAssessment)
            .where(RiskAssessment.young_person_id == person.id, visible_to(actor, RiskAssessment.agency_id))
            .order_by(RiskAssessment.created_at.desc(), RiskAssessment.id.desc())
        )
    )
    record_event(
        session=session,
        action=AuditAction.VIEW,
        actor=actor,
        origin=origin,
        object_type="risk_assessments",
        object_id=person.id,
        reason=reason,
    )
    return found


def compare(*, session: Session, actor: Actor, assessment: RiskAssessment) -> AssessmentChange:
    """What changed in indicators, weighting and judgement since the assessment before."""
    before = (
        get_assessment(session=session, actor=actor, assessment_id=assessment.previous_id)
        if assessment.previous_id
        else None
    )
    now_weights, old_weights = assessment.weights(), before.weights() if before else {}
    indicators = {i.indicator: i.sign for i in assessment.indicators}
    old_indicators = {i.indicator: i.sign for i in before.indicators} if before else {}
    protective = {p.description for p in assessment.protective_factors}
    old_protective = {p.description for p in before.protective_factors} if before else set()
    return AssessmentChange(
        previous_id=before.id if before else None,
        weighting={
            c.value: [old_weights.get(c, 0), now_weights[c]]
            for c in Context
            if old_weights.get(c, 0) != now_weights[c]
        }
        if before
        else {},
        judgement_changed=bool(before and before.judgement != assessment.judgement),
        local_category=[before.local_category, assessment.local_category]
        if before and before.local_category != assessment.local_category
        else None,
        indicators_added=sorted(set(indicators) - set(old_indicators)),
        indicators_removed=sorted(set(old_indicators) - set(indicators)),
        signs_changed=sorted(
            k for k in indicators.keys() & old_indicators.keys() if indicators[k] != old_indicators[k]
        ),
        protective_added=sorted(protective - old_protective),
        protective_removed=sorted(old_protective - protective),
    )


def overdue_reviews(*, session: Session, actor: Actor, today: date | None = None) -> list[OverdueReview]:
    """Young people the actor may see whose latest signed-off assessment is past its review date."""
    ensure(actor, Permission.VIEW_PEOPLE)
    latest = (
        select(RiskAssessment.id, RiskAssessment.young_person_id, RiskAssessment.review_date)
        .where(
            RiskAssessment.status == AssessmentStatus.SIGNED_OFF, visible_to(actor, RiskAssessment.agency_id)
        )
        .ext(distinct_on(RiskAssessment.young_person_id))
        .order_by(RiskAssessment.young_person_id, RiskAssessment.signed_off_at.desc())
        .subquery()
    )
    rows = session.execute(
        select(
            latest.c.id,
            latest.c.young_person_id,
            latest.c.review_date,
            YoungPerson.given_name,
            YoungPerson.family_name,
        )
        .join(YoungPerson, YoungPerson.id == latest.c.young_person_id)
        .where(latest.c.review_date < (today or date.today()), visible_to(actor, YoungPerson.agency_id))
        .order_by(latest.c.review_date)
        .limit(200)
    )
    return [
        OverdueReview(
            young_person_id=r.young_person_id,
            name=f"{r.given_name} {r.family_name}",
            assessment_id=r.id,
            review_date=r.review_date,
        )
        for r in rows
    ]


def awaiting_sign_off(*, session: Session, actor: Actor) -> int:
    """How many submitted assessments in the actor's agency wait for a supervisor."""
    return (
        session.scalar(
            select(func.count())
            .select_from(RiskAssessment)
            .where(
                RiskAssessment.status == AssessmentStatus.SUBMITTED,
                RiskAssessment.agency_id == actor.agency_id,
            )
        )
        or 0
    )


def read_assessment(
    *, session: Session, assessment: RiskAssessment, rules: tuple[Rule, ...] = (), today: date | None = None
) -> AssessmentRead:
    """Shape an assessment for reading, with the names of its author and signer."""
    people = [i for i in (assessment.author_id, assessment.signed_off_by_id) if i]
    names = {
        row.id: row.display_name
        for row in session.execute(select(User.id, User.display_name).where(User.id.in_(people)))
    }
    texts = [("judgement", assessment.judgement)] + [
        (f"indicators.{i}.evidence", item.evidence or "") for i, item in enumerate(assessment.indicators)
    ]
    findings = (
        {name: [LanguageFinding.model_validate(f) for f in check_text(text, rules)] for name, text in texts}
        if rules
        else {}
    )
    return AssessmentRead(
        id=assessment.id,
        young_person_id=assessment.young_person_id,
        agency_id=assessment.agency_id,
        author=names.get(assessment.author_id, ""),
        author_id=assessment.author_id,
        status=assessment.status,
        created_at=assessment.created_at,
        submitted_at=assessment.submitted_at,
        signed_off_by=names.get(assessment.signed_off_by_id) if assessment.signed_off_by_id else None,
        signed_off_at=assessment.signed_off_at,
        sign_off_note=assessment.sign_off_note,
        weighting=Weighting(**{c.value: w for c, w in assessment.weights().items()}),
        judgement=assessment.judgement,
        local_category=assessment.local_category,
        review_date=assessment.review_date,
        review_overdue=assessment.status is AssessmentStatus.SIGNED_OFF
        and assessment.review_date < (today or date.today()),
        previous_id=assessment.previous_id,
        indicators=[IndicatorRead.model_validate(i) for i in assessment.indicators],
        protective_factors=[ProtectiveFactorRead.model_validate(p) for p in assessment.protective_factors],
        actions=[ActionRead.model_validate(a) for a in assessment.actions],
        version=assessment.version,
        language_findings={name: found for name, found in findings.items() if found},
    )


def latest_assessment(*, session: Session, actor: Actor, person_id: int) -> RiskAssessment | None:
    """The young person's most recent assessment the actor may see, if any."""
    return session.scalar(
        select(RiskAssessment)
        .where(RiskAssessment.young_person_id == person_id, visible_to(actor, RiskAssessment.agency_id))
        .order_by(RiskAssessment.created_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )
