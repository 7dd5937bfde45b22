"""Person of concern, person link and concern person tables."""

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from contexts.agencies.models import enum_column
from contexts.base import Base, TimestampMixin
from contexts.concerns.models import HandlingCode, IntelligenceAssessment, SourceEvaluation


class RelationshipType(enum.StrEnum):
    """How a linked person relates to the young person, as the source described it."""

    ASSOCIATE = "associate"
    SIBLING = "sibling"
    PEER = "peer"
    ADULT_OF_CONCERN = "adult_of_concern"
    FAMILY_MEMBER = "family_member"
    PROFESSIONAL = "professional"
    OTHER = "other"


RELATIONSHIP_LABELS: dict[RelationshipType, str] = {
    RelationshipType.ASSOCIATE: "Associate",
    RelationshipType.SIBLING: "Sibling",
    RelationshipType.PEER: "Peer",
    RelationshipType.ADULT_OF_CONCERN: "Adult of concern",
    RelationshipType.FAMILY_MEMBER: "Family member",
    RelationshipType.PROFESSIONAL: "Professional",
    RelationshipType.OTHER: "Other",
}

GRADING_ALL_OR_NONE = (
    "(source_evaluation IS NULL) = (intelligence_assessment IS NULL) "
    "AND (source_evaluation IS NULL) = (handling_code IS NULL)"
)


class PersonOfConcern(TimestampMixin, Base):
    """An adult or young person outside csmap's records who matters to a young person's safety."""

    __tablename__ = "person_of_concern"
    __table_args__ = (
        CheckConstraint("approximate_age IS NULL OR approximate_age BETWEEN 0 AND 120", name="age_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default=text("'{}'"))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    approximate_age: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class PersonLink(TimestampMixin, Base):
    """A link from a young person to another young person or a person of concern, with its source."""

    __tablename__ = "person_link"
    __table_args__ = (
        CheckConstraint(
            "(linked_young_person_id IS NULL) <> (person_of_concern_id IS NULL)", name="one_linked_person"
        ),
        CheckConstraint(
            "linked_young_person_id IS NULL OR linked_young_person_id <> young_person_id", name="not_self"
        ),
        CheckConstraint("review_by_date > observed_date", name="review_after_observed"),
        CheckConstraint(GRADING_ALL_OR_NONE, name="grading_all_or_none"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    young_person_id: Mapped[int] = mapped_column(
        ForeignKey("young_person.id", ondelete="CASCADE"), index=True
    )
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    linked_young_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("young_person.id", ondelete="CASCADE"), index=True
    )
    person_of_concern_id: Mapped[int | None] = mapped_column(
        ForeignKey("person_of_concern.id", ondelete="CASCADE"), index=True
    )
    relationship_type: Mapped[RelationshipType] = mapped_column(
        enum_column(RelationshipType, "relationship_type")
    )
    description: Mapped[str | None] = mapped_column(Text)
    source_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    source_evaluation: Mapped[SourceEvaluation | None] = mapped_column(
        enum_column(SourceEvaluation, "source_evaluation")
    )
    intelligence_assessment: Mapped[IntelligenceAssessment | None] = mapped_column(
        enum_column(IntelligenceAssessment, "intelligence_assessment")
    )
    handling_code: Mapped[HandlingCode | None] = mapped_column(enum_column(HandlingCode, "handling_code"))
    observed_date: Mapped[date] = mapped_column(Date)
    review_by_date: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class ConcernPerson(Base):
    """Someone involved in a concern: a young person or a person of concern, and their part in it."""

    __tablename__ = "concern_person"
    __table_args__ = (
        CheckConstraint("(young_person_id IS NULL) <> (person_of_concern_id IS NULL)", name="one_person"),
        Index("uq_concern_person_concern_young_person", "concern_id", "young_person_id", unique=True),
        Index(
            "uq_concern_person_concern_person_of_concern", "concern_id", "person_of_concern_id", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    concern_id: Mapped[int] = mapped_column(ForeignKey("concern.id", ondelete="CASCADE"))
    young_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("young_person.id", ondelete="CASCADE"), index=True
    )
    person_of_concern_id: Mapped[int | None] = mapped_column(
        ForeignKey("person_of_concern.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(200))
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
