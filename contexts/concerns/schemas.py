"""Pydantic schemas for concerns and the chronology."""

from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contexts.concerns.models import (
    ConcernKind,
    Context,
    DatePrecision,
    HandlingCode,
    IntelligenceAssessment,
    Sensitivity,
    SourceEvaluation,
)
from contexts.language.schemas import LanguageFinding

SUMMARY = Field(min_length=1, max_length=200)
DETAIL = Field(default=None, max_length=10_000)


def _in_the_past(moment: datetime) -> datetime:
    """Events have happened: refuse future times (naive times are taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if aware > datetime.now(UTC):
        raise ValueError("When it happened cannot be in the future")
    return aware


class Grading(BaseModel):
    """3x5x2 intelligence grading: all three parts or none."""

    source_evaluation: SourceEvaluation | None = None
    intelligence_assessment: IntelligenceAssessment | None = None
    handling_code: HandlingCode | None = None

    @model_validator(mode="after")
    def _all_or_none(self) -> "Grading":
        """A partial grading is meaningless."""
        parts = (self.source_evaluation, self.intelligence_assessment, self.handling_code)
        if any(part is not None for part in parts) and any(part is None for part in parts):
            raise ValueError("Give all three parts of the 3x5x2 grading, or none")
        return self


class ConcernCreate(Grading):
    """A new chronology entry."""

    context: Context
    kind: ConcernKind
    category: str = Field(max_length=40, description="Category code from GET /api/concern-categories")
    summary: str = SUMMARY
    detail: str | None = DETAIL
    occurred_at: datetime
    occurred_precision: DatePrecision = DatePrecision.EXACT
    place_id: int | None = None
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    sensitivity: Sensitivity = Sensitivity.PARTNERSHIP

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, moment: datetime) -> datetime:
        """Not in the future."""
        return _in_the_past(moment)

    @model_validator(mode="after")
    def _point_needs_both(self) -> "ConcernCreate":
        """Longitude and latitude come together."""
        if (self.longitude is None) != (self.latitude is None):
            raise ValueError("Give both longitude and latitude, or neither")
        return self


class ConcernUpdate(BaseModel):
    """Changes to an entry; `version` must be the one you read."""

    version: int
    context: Context | None = None
    kind: ConcernKind | None = None
    category: str | None = Field(default=None, max_length=40)
    summary: str | None = Field(default=None, min_length=1, max_length=200)
    detail: str | None = DETAIL
    occurred_at: datetime | None = None
    occurred_precision: DatePrecision | None = None
    sensitivity: Sensitivity | None = None

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, moment: datetime | None) -> datetime | None:
        """Not in the future."""
        return None if moment is None else _in_the_past(moment)


class ConcernCategoryRead(BaseModel):
    """A category of the taxonomy."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    label: str
    theme: str


class ConcernRead(BaseModel):
    """A chronology entry as the case team sees it."""

    id: int
    young_person_id: int
    agency_id: int
    agency_name: str
    recorded_by: str
    recorded_at: datetime
    occurred_at: datetime
    occurred_precision: DatePrecision
    context: Context
    kind: ConcernKind
    category: str
    category_label: str
    summary: str
    detail: str | None
    place_id: int | None
    longitude: float | None
    latitude: float | None
    source_evaluation: SourceEvaluation | None
    intelligence_assessment: IntelligenceAssessment | None
    handling_code: HandlingCode | None
    sensitivity: Sensitivity
    version: int
    language_findings: dict[str, list[LanguageFinding]] = Field(
        default_factory=dict,
        description="Wording to review, by field (summary, detail); never changed by csmap",
    )


class ChronologyEntry(NamedTuple):
    """A chronology entry for pages and exports: ConcernRead's fields, read without validation."""

    id: int
    young_person_id: int
    agency_id: int
    agency_name: str
    recorded_by: str
    recorded_at: datetime
    occurred_at: datetime
    occurred_precision: DatePrecision
    context: Context
    kind: ConcernKind
    category: str
    category_label: str
    summary: str
    detail: str | None
    place_id: int | None
    longitude: float | None
    latitude: float | None
    source_evaluation: SourceEvaluation | None
    intelligence_assessment: IntelligenceAssessment | None
    handling_code: HandlingCode | None
    sensitivity: Sensitivity
    version: int


class ChronologyFilter(BaseModel):
    """What part of a chronology to show."""

    date_from: date | None = None
    date_to: date | None = None
    contexts: list[Context] = []
    kinds: list[ConcernKind] = []
    categories: list[str] = []
    agency_ids: list[int] = []


class Chronology(BaseModel):
    """A young person's chronology, oldest first."""

    young_person_id: int
    items: list[ConcernRead]
    total: int
    limit: int
    offset: int


class ConcernRevisionRead(BaseModel):
    """One edit in a concern's history."""

    version: int
    changed_by: str
    changed_at: datetime
    changes: dict[str, Any]
