"""Concern, category and revision tables."""

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, Computed, DateTime, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from contexts.agencies.models import enum_column
from contexts.base import Base, TimestampMixin


class Context(enum.StrEnum):
    """The five contexts of contextual safeguarding."""

    INDIVIDUAL = "individual"
    HOME = "home"
    PEER_GROUP = "peer_group"
    SCHOOL = "school"
    NEIGHBOURHOOD = "neighbourhood"


CONTEXT_LABELS: dict[Context, str] = {
    Context.INDIVIDUAL: "Individual",
    Context.HOME: "Home",
    Context.PEER_GROUP: "Peer group",
    Context.SCHOOL: "School",
    Context.NEIGHBOURHOOD: "Neighbourhood",
}


class ConcernKind(enum.StrEnum):
    """Whether an entry is a sign of risk, a sign of harm already happening, or protective."""

    RISK = "risk"
    HARM = "harm"
    PROTECTIVE = "protective"


class DatePrecision(enum.StrEnum):
    """How exactly the time of an event is known."""

    EXACT = "exact"
    DAY = "day"
    MONTH = "month"
    APPROXIMATE = "approximate"


class Sensitivity(enum.StrEnum):
    """Who beyond the young person's case team may see an entry."""

    PARTNERSHIP = "partnership"
    AGENCY_ONLY = "agency_only"


class SourceEvaluation(enum.StrEnum):
    """3x5x2 source evaluation."""

    RELIABLE = "1"
    UNTESTED = "2"
    NOT_RELIABLE = "3"


class IntelligenceAssessment(enum.StrEnum):
    """3x5x2 intelligence assessment."""

    KNOWN_DIRECTLY = "A"
    KNOWN_INDIRECTLY_CORROBORATED = "B"
    KNOWN_INDIRECTLY = "C"
    NOT_KNOWN = "D"
    SUSPECTED_FALSE = "E"


class HandlingCode(enum.StrEnum):
    """3x5x2 handling code."""

    MAY_SHARE = "P"
    CONDITIONS_APPLY = "C"


class ConcernCategory(Base):
    """A category from the configurable taxonomy (seeded from the SAFEGUARD themes)."""

    __tablename__ = "concern_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    theme: Mapped[str] = mapped_column(String(120))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())


class Concern(TimestampMixin, Base):
    """One significant event or protective factor in a young person's chronology."""

    __tablename__ = "concern"
    __table_args__ = (
        Index("ix_concern_young_person_occurred", "young_person_id", "occurred_at"),
        Index(
            "uq_concern_agency_external_id",
            "agency_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    young_person_id: Mapped[int] = mapped_column(ForeignKey("young_person.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_precision: Mapped[DatePrecision] = mapped_column(
        enum_column(DatePrecision, "date_precision"), server_default=text("'exact'")
    )
    context: Mapped[Context] = mapped_column(enum_column(Context, "concern_context"))
    kind: Mapped[ConcernKind] = mapped_column(enum_column(ConcernKind, "concern_kind"))
    category_id: Mapped[int] = mapped_column(ForeignKey("concern_category.id"), index=True)
    summary: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), index=True)
    point: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    point_bng: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=27700, spatial_index=True),
        Computed("ST_Transform(point, 27700)", persisted=True),
    )
    source_evaluation: Mapped[SourceEvaluation | None] = mapped_column(
        enum_column(SourceEvaluation, "source_evaluation")
    )
    intelligence_assessment: Mapped[IntelligenceAssessment | None] = mapped_column(
        enum_column(IntelligenceAssessment, "intelligence_assessment")
    )
    handling_code: Mapped[HandlingCode | None] = mapped_column(enum_column(HandlingCode, "handling_code"))
    sensitivity: Mapped[Sensitivity] = mapped_column(
        enum_column(Sensitivity, "sensitivity"), server_default=text("'partnership'")
    )
    external_id: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class ConcernImport(Base):
    """One run of the concern import: who loaded which file, when, and how many rows it added or changed."""

    __tablename__ = "concern_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    """The importing user's agency (a system administrator may import for other agencies)."""
    imported_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    file_name: Mapped[str] = mapped_column(String(255))
    skip_invalid: Mapped[bool] = mapped_column(Boolean)
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_loaded: Mapped[int] = mapped_column(Integer)
    rows_updated: Mapped[int] = mapped_column(Integer)
    rows_unchanged: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)


class ConcernRevision(Base):
    """What one edit of a concern changed: field -> [before, after]."""

    __tablename__ = "concern_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    concern_id: Mapped[int] = mapped_column(ForeignKey("concern.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
