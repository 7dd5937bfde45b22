"""Young person table."""

import enum
from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from contexts.agencies.models import enum_column
from contexts.base import Base, TimestampMixin


class Gender(enum.StrEnum):
    """Gender as the young person describes it."""

    FEMALE = "female"
    MALE = "male"
    NON_BINARY = "non_binary"
    SELF_DESCRIBED = "self_described"
    NOT_KNOWN = "not_known"


class Ethnicity(enum.StrEnum):
    """ONS 2021 census ethnic groups (England and Wales); used only in aggregate."""

    ASIAN_BANGLADESHI = "asian_bangladeshi"
    ASIAN_CHINESE = "asian_chinese"
    ASIAN_INDIAN = "asian_indian"
    ASIAN_PAKISTANI = "asian_pakistani"
    ASIAN_OTHER = "asian_other"
    BLACK_AFRICAN = "black_african"
    BLACK_CARIBBEAN = "black_caribbean"
    BLACK_OTHER = "black_other"
    MIXED_WHITE_ASIAN = "mixed_white_asian"
    MIXED_WHITE_BLACK_AFRICAN = "mixed_white_black_african"
    MIXED_WHITE_BLACK_CARIBBEAN = "mixed_white_black_caribbean"
    MIXED_OTHER = "mixed_other"
    WHITE_BRITISH = "white_british"
    WHITE_IRISH = "white_irish"
    WHITE_GYPSY_TRAVELLER = "white_gypsy_traveller"
    WHITE_ROMA = "white_roma"
    WHITE_OTHER = "white_other"
    OTHER_ARAB = "other_arab"
    OTHER_ANY = "other_any"


class RecordStatus(enum.StrEnum):
    """Whether agencies are still working with the young person."""

    OPEN = "open"
    CLOSED = "closed"


class YoungPerson(TimestampMixin, Base):
    """A young person; owned by the lead agency, seen only by those `contexts.access` allows."""

    __tablename__ = "young_person"
    __table_args__ = (
        Index(
            "ix_young_person_full_name_trgm",
            "full_name",
            postgresql_using="gin",
            postgresql_ops={"full_name": "gin_trgm_ops"},
        ),
        Index("uq_young_person_agency_local_id", "agency_id", "local_id", unique=True),
        Index(
            "ix_young_person_preferred_name_trgm",
            "preferred_name",
            postgresql_using="gin",
            postgresql_ops={"preferred_name": "gin_trgm_ops"},
        ),
        Index("ix_young_person_local_id", "local_id"),
        Index("ix_young_person_police_reference", "police_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    lead_practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(
        Text, Computed("lower(given_name || ' ' || family_name)", persisted=True)
    )
    date_of_birth: Mapped[date] = mapped_column(Date, index=True)
    gender: Mapped[Gender | None] = mapped_column(enum_column(Gender, "gender"))
    ethnicity: Mapped[Ethnicity | None] = mapped_column(enum_column(Ethnicity, "ethnicity"))
    local_id: Mapped[str | None] = mapped_column(String(40))
    nhs_number: Mapped[str | None] = mapped_column(String(10), index=True)
    police_reference: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[RecordStatus] = mapped_column(
        enum_column(RecordStatus, "record_status"), server_default=text("'open'")
    )
    closed_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    home_address: Mapped[str | None] = mapped_column(Text)
    home_point: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    school_place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"))
    looked_after: Mapped[bool] = mapped_column(Boolean, server_default=false())
    send: Mapped[bool] = mapped_column(Boolean, server_default=false())
    care_leaver: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}
