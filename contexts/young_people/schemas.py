"""Pydantic schemas for young people."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contexts.young_people.identifiers import nhs_number_is_valid, normalise_nhs_number
from contexts.young_people.models import Ethnicity, Gender, RecordStatus

OLDEST_AGE = 25
NAME = Field(min_length=1, max_length=100)


def age_on(born: date, today: date) -> int:
    """Whole years between a date of birth and a day."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Coordinates(BaseModel):
    """A point in WGS84 degrees."""

    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)


class YoungPersonFields(BaseModel):
    """Fields shared by create and update, validated the same way."""

    preferred_name: str | None = Field(default=None, max_length=100)
    gender: Gender | None = None
    ethnicity: Ethnicity | None = None
    local_id: str | None = Field(default=None, max_length=40)
    nhs_number: str | None = Field(default=None, max_length=20)
    police_reference: str | None = Field(default=None, max_length=40)
    lead_practitioner_id: int | None = None
    home_address: str | None = Field(default=None, max_length=500)
    home_point: Coordinates | None = None
    school_place_id: int | None = None
    looked_after: bool = False
    send: bool = False
    care_leaver: bool = False

    @field_validator("nhs_number")
    @classmethod
    def _nhs_number(cls, value: str | None) -> str | None:
        """Accept 3-3-4 spacing; refuse a wrong check digit."""
        if value is None or not value.strip():
            return None
        if not nhs_number_is_valid(value):
            raise ValueError("Enter a valid 10-digit NHS number (its check digit does not match)")
        return normalise_nhs_number(value)


def _check_date_of_birth(born: date) -> date:
    """A young person is 0 to 25 years old."""
    today = date.today()
    if born > today:
        raise ValueError("Date of birth must be in the past")
    if age_on(born, today) > OLDEST_AGE:
        raise ValueError(f"Date of birth gives an age over {OLDEST_AGE}")
    return born


class YoungPersonCreate(YoungPersonFields):
    """A new young person's record."""

    given_name: str = NAME
    family_name: str = NAME
    date_of_birth: date
    confirm_not_duplicate: bool = Field(
        default=False,
        description="Save even though records with a similar name and the same birth date exist",
    )

    @field_validator("date_of_birth")
    @classmethod
    def _date_of_birth(cls, born: date) -> date:
        """Check the age."""
        return _check_date_of_birth(born)


class YoungPersonUpdate(BaseModel):
    """Changes to a record; `version` must match the record's current version."""

    version: int
    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    preferred_name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    gender: Gender | None = None
    ethnicity: Ethnicity | None = None
    status: RecordStatus | None = None
    closed_reason: str | None = Field(default=None, max_length=2000)

    @field_validator("date_of_birth")
    @classmethod
    def _date_of_birth(cls, born: date | None) -> date | None:
        """Check the age when given."""
        return None if born is None else _check_date_of_birth(born)

    @model_validator(mode="after")
    def _closing_needs_reason(self) -> "YoungPersonUpdate":
        """Closing a record needs a reason."""
        if self.status is RecordStatus.CLOSED and not (self.closed_reason or "").strip():
            raise ValueError("Give a reason for closing the record")
        return self


class YoungPersonSummary(BaseModel):
    """A line in the list of young people."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    given_name: str
    family_name: str
    preferred_name: str | None
    date_of_birth: date
    age: int
    status: RecordStatus
    agency_id: int


class YoungPersonRead(YoungPersonSummary):
    """A young person's record, as its case team sees it."""

    gender: Gender | None
    ethnicity: Ethnicity | None
    local_id: str | None
    nhs_number: str | None
    police_reference: str | None
    lead_practitioner_id: int | None
    closed_reason: str | None
    closed_at: datetime | None
    home_address: str | None
    home_point: Coordinates | None
    school_place_id: int | None
    looked_after: bool
    send: bool
    care_leaver: bool
    version: int


class YoungPersonPage(BaseModel):
    """A page of young people."""

    items: list[YoungPersonSummary]
    total: int
    limit: int
    offset: int


class PossibleDuplicate(BaseModel):
    """A record that may be the same young person."""

    id: int
    given_name: str
    family_name: str
    date_of_birth: date
