"""Pydantic schemas for agencies."""

from pydantic import BaseModel, ConfigDict, Field

from contexts.agencies.models import AgencyKind


class AgencyCreate(BaseModel):
    """A new agency."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$", description="Short unique code")
    name: str = Field(min_length=2, max_length=200)
    kind: AgencyKind


class AgencyRead(BaseModel):
    """An agency as shown to users."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: AgencyKind
