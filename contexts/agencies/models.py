"""Agency table."""

import enum

from sqlalchemy import Boolean, Enum, String, false
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base, TimestampMixin


class AgencyKind(enum.StrEnum):
    """Kinds of agency in a safeguarding partnership."""

    POLICE = "police"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"
    HEALTH = "health"
    EDUCATION = "education"
    YOUTH_SERVICE = "youth_service"
    VOLUNTARY_SECTOR = "voluntary_sector"
    COMMUNITY_SAFETY = "community_safety"
    LICENSING = "licensing"


AGENCY_KIND_LABELS: dict[AgencyKind, str] = {
    AgencyKind.POLICE: "Police",
    AgencyKind.CHILDRENS_SOCIAL_CARE: "Children's social care",
    AgencyKind.HEALTH: "Health",
    AgencyKind.EDUCATION: "Education",
    AgencyKind.YOUTH_SERVICE: "Youth service",
    AgencyKind.VOLUNTARY_SECTOR: "Voluntary sector",
    AgencyKind.COMMUNITY_SAFETY: "Community safety",
    AgencyKind.LICENSING: "Licensing",
}


def enum_column(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """Store a StrEnum by value as text guarded by a CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=40,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Agency(TimestampMixin, Base):
    """An organisation whose staff use csmap and which owns the records they make."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"))
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=false())
