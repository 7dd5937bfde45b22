"""Missing episode and missing episode concern tables."""

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base, TimestampMixin

RETURN_INTERVIEW_HOURS = 72
"""Statutory guidance expects a return interview to be offered within 72 hours of being found."""


class MissingEpisode(TimestampMixin, Base):
    """One time a young person went missing: from where, when, where found and with whom."""

    __tablename__ = "missing_episode"
    __table_args__ = (
        Index("ix_missing_episode_young_person_since", "young_person_id", "missing_since"),
        CheckConstraint("found_at IS NULL OR found_at >= missing_since", name="found_after_missing"),
        CheckConstraint("reported_at IS NULL OR reported_at >= missing_since", name="reported_after_missing"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    young_person_id: Mapped[int] = mapped_column(ForeignKey("young_person.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    missing_from_place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), index=True)
    missing_from_address: Mapped[str | None] = mapped_column(Text)
    missing_from_point: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    missing_from_point_bng: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=27700, spatial_index=True),
        Computed("ST_Transform(missing_from_point, 27700)", persisted=True),
    )
    missing_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    found_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    found_place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), index=True)
    found_address: Mapped[str | None] = mapped_column(Text)
    found_point: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    found_point_bng: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=27700, spatial_index=True),
        Computed("ST_Transform(found_point, 27700)", persisted=True),
    )
    found_with: Mapped[str | None] = mapped_column(Text)
    return_interview_offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_interview_declined: Mapped[bool] = mapped_column(Boolean, server_default=false())
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class MissingEpisodeConcern(Base):
    """A chronology entry linked to a missing episode."""

    __tablename__ = "missing_episode_concern"

    missing_episode_id: Mapped[int] = mapped_column(
        ForeignKey("missing_episode.id", ondelete="CASCADE"), primary_key=True
    )
    concern_id: Mapped[int] = mapped_column(
        ForeignKey("concern.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    linked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
