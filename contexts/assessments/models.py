"""Risk assessment tables: the assessment, its indicators, protective factors and plan actions."""

import enum
from datetime import date, datetime

from sqlalchemy import ARRAY, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contexts.agencies.models import enum_column
from contexts.base import Base, TimestampMixin
from contexts.concerns.models import Context


class AssessmentStatus(enum.StrEnum):
    """Where an assessment is in its life."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    SIGNED_OFF = "signed_off"


class Sign(enum.StrEnum):
    """Whether an indicator's evidence shows risk, or harm already happening."""

    RISK = "risk"
    HARM = "harm"


WEIGHT_COLUMNS = {context: f"weight_{context.value}" for context in Context}


class RiskAssessment(TimestampMixin, Base):
    """A practitioner's judgement of a young person's risk, with reasons, signed off by a supervisor."""

    __tablename__ = "risk_assessment"
    __table_args__ = (
        CheckConstraint(" + ".join(WEIGHT_COLUMNS.values()) + " = 100", name="weights_add_to_100"),
        CheckConstraint(
            " AND ".join(f"{column} BETWEEN 0 AND 100" for column in WEIGHT_COLUMNS.values()),
            name="weights_in_range",
        ),
        Index("ix_risk_assessment_young_person_created", "young_person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    young_person_id: Mapped[int] = mapped_column(ForeignKey("young_person.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[AssessmentStatus] = mapped_column(
        enum_column(AssessmentStatus, "assessment_status"), server_default=text("'draft'")
    )
    weight_individual: Mapped[int] = mapped_column(Integer)
    weight_home: Mapped[int] = mapped_column(Integer)
    weight_peer_group: Mapped[int] = mapped_column(Integer)
    weight_school: Mapped[int] = mapped_column(Integer)
    weight_neighbourhood: Mapped[int] = mapped_column(Integer)
    judgement: Mapped[str] = mapped_column(Text)
    local_category: Mapped[str | None] = mapped_column(String(60))
    review_date: Mapped[date] = mapped_column(Date, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    signed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sign_off_note: Mapped[str | None] = mapped_column(Text)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("risk_assessment.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    indicators: Mapped[list["AssessmentIndicator"]] = relationship(
        cascade="all, delete-orphan", order_by="AssessmentIndicator.position", lazy="selectin"
    )
    protective_factors: Mapped[list["ProtectiveFactor"]] = relationship(
        cascade="all, delete-orphan", order_by="ProtectiveFactor.position", lazy="selectin"
    )
    actions: Mapped[list["PlanAction"]] = relationship(
        cascade="all, delete-orphan", order_by="PlanAction.position", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}

    def weights(self) -> dict[Context, int]:
        """The context weighting as a mapping."""
        return {context: int(getattr(self, column)) for context, column in WEIGHT_COLUMNS.items()}


class AssessmentIndicator(Base):
    """An indicator with its evidence, marked as a sign of risk or of harm."""

    __tablename__ = "assessment_indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("risk_assessment.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    context: Mapped[Context] = mapped_column(enum_column(Context, "concern_context"))
    sign: Mapped[Sign] = mapped_column(enum_column(Sign, "indicator_sign"))
    indicator: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    concern_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))


class ProtectiveFactor(Base):
    """A strength in one of the contexts, with its evidence."""

    __tablename__ = "assessment_protective_factor"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("risk_assessment.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    context: Mapped[Context] = mapped_column(enum_column(Context, "concern_context"))
    description: Mapped[str] = mapped_column(Text)
    concern_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))


class PlanAction(Base):
    """What will be done in one context, by whom and by when."""

    __tablename__ = "assessment_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("risk_assessment.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    context: Mapped[Context] = mapped_column(enum_column(Context, "concern_context"))
    who: Mapped[str] = mapped_column(String(200))
    what: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
