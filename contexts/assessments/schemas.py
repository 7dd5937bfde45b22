"""Pydantic schemas for risk assessments."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contexts.assessments.models import AssessmentStatus, Sign
from contexts.concerns.models import Context
from contexts.language.schemas import LanguageFinding

LONGEST_REVIEW_DAYS = 92
TEXT = Field(min_length=1, max_length=5000)


class IndicatorIn(BaseModel):
    """An indicator and its evidence: written evidence, linked concerns, or both."""

    context: Context
    sign: Sign
    indicator: str = Field(min_length=1, max_length=200)
    evidence: str | None = Field(default=None, max_length=5000)
    concern_ids: list[int] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _needs_evidence(self) -> "IndicatorIn":
        """An indicator without evidence is a label, not a judgement."""
        if not (self.evidence or "").strip() and not self.concern_ids:
            raise ValueError("Give evidence for the indicator: written, linked concerns, or both")
        return self


class ProtectiveFactorIn(BaseModel):
    """A strength in one context."""

    context: Context
    description: str = TEXT
    concern_ids: list[int] = Field(default_factory=list, max_length=200)


class ActionIn(BaseModel):
    """One action of the plan."""

    context: Context
    who: str = Field(min_length=1, max_length=200)
    what: str = TEXT
    due_date: date


class Weighting(BaseModel):
    """How much each context drives the risk now, in whole percent adding to 100."""

    individual: int = Field(ge=0, le=100)
    home: int = Field(ge=0, le=100)
    peer_group: int = Field(ge=0, le=100)
    school: int = Field(ge=0, le=100)
    neighbourhood: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _adds_to_100(self) -> "Weighting":
        """The shares must add to 100."""
        total = self.individual + self.home + self.peer_group + self.school + self.neighbourhood
        if total != 100:
            raise ValueError(f"The context weighting must add up to 100 (it adds up to {total})")
        return self

    def as_dict(self) -> dict[Context, int]:
        """The weighting by context."""
        return {context: int(getattr(self, context.value)) for context in Context}


class AssessmentCreate(BaseModel):
    """A new assessment; `submit` sends it for supervisor sign-off at once."""

    indicators: list[IndicatorIn] = Field(default_factory=list, max_length=100)
    protective_factors: list[ProtectiveFactorIn] = Field(default_factory=list, max_length=100)
    weighting: Weighting
    judgement: str = Field(
        min_length=1, max_length=10_000, description="The practitioner's judgement and reasons"
    )
    local_category: str | None = Field(default=None, max_length=60)
    actions: list[ActionIn] = Field(default_factory=list, max_length=100)
    review_date: date | None = Field(default=None, description="Default and latest: three months from today")
    submit: bool = False


class AssessmentUpdate(AssessmentCreate):
    """A whole replacement of a draft or submitted assessment, with the version you read."""

    version: int


class SignOff(BaseModel):
    """A supervisor's sign-off."""

    version: int
    note: str | None = Field(default=None, max_length=5000)


class IndicatorRead(IndicatorIn):
    """An indicator as read."""

    model_config = ConfigDict(from_attributes=True)


class ProtectiveFactorRead(ProtectiveFactorIn):
    """A protective factor as read."""

    model_config = ConfigDict(from_attributes=True)


class ActionRead(ActionIn):
    """A plan action as read."""

    model_config = ConfigDict(from_attributes=True)

    done_at: datetime | None


class AssessmentRead(BaseModel):
    """An assessment as its case team sees it."""

    id: int
    young_person_id: int
    agency_id: int
    author: str
    author_id: int
    status: AssessmentStatus
    created_at: datetime
    submitted_at: datetime | None
    signed_off_by: str | None
    signed_off_at: datetime | None
    sign_off_note: str | None
    weighting: Weighting
    judgement: str
    local_category: str | None
    review_date: date
    review_overdue: bool
    previous_id: int | None
    indicators: list[IndicatorRead]
    protective_factors: list[ProtectiveFactorRead]
    actions: list[ActionRead]
    version: int
    language_findings: dict[str, list[LanguageFinding]] = Field(default_factory=dict)


class AssessmentChange(BaseModel):
    """What changed from the assessment before."""

    previous_id: int | None
    weighting: dict[str, list[int]]
    judgement_changed: bool
    local_category: list[str | None] | None
    indicators_added: list[str]
    indicators_removed: list[str]
    signs_changed: list[str]
    protective_added: list[str]
    protective_removed: list[str]


class OverdueReview(BaseModel):
    """A young person whose latest signed-off assessment is past its review date."""

    young_person_id: int
    name: str
    assessment_id: int
    review_date: date
