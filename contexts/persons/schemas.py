"""Pydantic schemas for persons of concern, links between people and people in concerns."""

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from contexts.concerns.models import HandlingCode, IntelligenceAssessment, SourceEvaluation
from contexts.language.schemas import LanguageFinding
from contexts.persons.models import RelationshipType

DEFAULT_REVIEW_DAYS = 90
"""A link is reviewed this many days after it was observed unless the recorder says otherwise."""

Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
DESCRIPTION = Field(default=None, max_length=10_000)


def _not_in_the_future(day: date | None, what: str) -> date | None:
    """Refuse a day after today."""
    if day is not None and day > date.today():
        raise ValueError(f"{what} cannot be in the future")
    return day


class PersonOfConcernCreate(BaseModel):
    """A new person of concern, recorded by your agency."""

    name: str = Field(min_length=1, max_length=200, description="The name the person is known by")
    aliases: list[Alias] = Field(default_factory=list, max_length=20)
    date_of_birth: date | None = None
    approximate_age: int | None = Field(
        default=None, ge=0, le=120, description="When the birth date is unknown"
    )
    description: str | None = DESCRIPTION

    @field_validator("date_of_birth")
    @classmethod
    def _date_of_birth(cls, born: date | None) -> date | None:
        """Not in the future."""
        return _not_in_the_future(born, "Date of birth")


class PersonOfConcernUpdate(BaseModel):
    """Changes to a person of concern; `version` must match the record's current version."""

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=200)
    aliases: list[Alias] | None = Field(default=None, max_length=20)
    date_of_birth: date | None = None
    approximate_age: int | None = Field(default=None, ge=0, le=120)
    description: str | None = DESCRIPTION

    @field_validator("date_of_birth")
    @classmethod
    def _date_of_birth(cls, born: date | None) -> date | None:
        """Not in the future."""
        return _not_in_the_future(born, "Date of birth")


class PersonOfConcernRead(BaseModel):
    """A person of concern as the recording agency sees them."""

    id: int
    agency_id: int
    name: str
    aliases: list[str]
    date_of_birth: date | None
    approximate_age: int | None
    description: str | None
    created_by_id: int | None
    created_at: datetime
    version: int


class PersonOfConcernPage(BaseModel):
    """A page of persons of concern."""

    items: list[PersonOfConcernRead]
    total: int
    limit: int
    offset: int


class LinkCreate(BaseModel):
    """A link from the young person to one other young person or one person of concern.

    Nobody is labelled by association alone: the source agency and the date observed are required.
    """

    linked_young_person_id: int | None = None
    person_of_concern_id: int | None = None
    relationship_type: RelationshipType
    description: str | None = DESCRIPTION
    source_agency_id: int = Field(description="The agency the information came from")
    source_evaluation: SourceEvaluation | None = None
    intelligence_assessment: IntelligenceAssessment | None = None
    handling_code: HandlingCode | None = None
    observed_date: date = Field(description="The date the link was known to be true")
    review_by_date: date | None = Field(
        default=None, description=f"Default: observed + {DEFAULT_REVIEW_DAYS} days"
    )

    @field_validator("observed_date")
    @classmethod
    def _observed_date(cls, day: date) -> date:
        """Not in the future."""
        _not_in_the_future(day, "The date observed")
        return day

    @field_validator("review_by_date")
    @classmethod
    def _review_by_date(cls, day: date | None, info: ValidationInfo) -> date | None:
        """After the date observed."""
        observed = info.data.get("observed_date")
        if day is not None and isinstance(observed, date) and day <= observed:
            raise ValueError("The review date must be after the date observed")
        return day


class LinkUpdate(BaseModel):
    """Changes to a link; `version` must be the one you read. Give the grading whole or not at all."""

    version: int
    relationship_type: RelationshipType | None = None
    description: str | None = DESCRIPTION
    source_agency_id: int | None = None
    source_evaluation: SourceEvaluation | None = None
    intelligence_assessment: IntelligenceAssessment | None = None
    handling_code: HandlingCode | None = None
    observed_date: date | None = None
    review_by_date: date | None = None

    @field_validator("observed_date")
    @classmethod
    def _observed_date(cls, day: date | None) -> date | None:
        """Not in the future."""
        return _not_in_the_future(day, "The date observed")


class LinkRead(BaseModel):
    """A link as the case team sees it, with its provenance and whether it is due for review."""

    id: int
    young_person_id: int
    young_person_name: str
    linked_young_person_id: int | None
    person_of_concern_id: int | None
    linked_name: str
    relationship_type: RelationshipType
    description: str | None
    agency_id: int
    source_agency_id: int
    source_agency_name: str
    source_evaluation: SourceEvaluation | None
    intelligence_assessment: IntelligenceAssessment | None
    handling_code: HandlingCode | None
    observed_date: date
    review_by_date: date
    is_past_review: bool = Field(description="The review date has passed: check the link still holds")
    created_by_id: int | None
    created_at: datetime
    version: int
    language_findings: dict[str, list[LanguageFinding]] = Field(
        default_factory=dict, description="Wording to review, by field (description); never changed by csmap"
    )


class LinkPage(BaseModel):
    """A page of a young person's links (both those recorded on them and those pointing at them)."""

    young_person_id: int
    items: list[LinkRead]
    total: int
    limit: int
    offset: int


class ConcernPersonCreate(BaseModel):
    """Someone involved in a concern: give one young person or one person of concern, and their part."""

    young_person_id: int | None = None
    person_of_concern_id: int | None = None
    role: str = Field(min_length=1, max_length=200, description="Their part in what happened, in a few words")


class ConcernPersonRead(BaseModel):
    """Someone involved in a concern."""

    id: int
    concern_id: int
    young_person_id: int | None
    person_of_concern_id: int | None
    name: str
    role: str
    added_by_id: int
    added_at: datetime
