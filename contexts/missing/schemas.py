"""Pydantic schemas for missing episodes, overdue return interviews and the missing-places map."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from contexts.language.schemas import LanguageFinding
from contexts.young_people.schemas import Coordinates

ADDRESS = Field(default=None, max_length=500)
NOTES = Field(default=None, max_length=10_000)
TIMES = ("missing_since", "reported_at", "found_at", "return_interview_offered_at")


def _in_the_past(moment: datetime | None) -> datetime | None:
    """Refuse a time in the future (naive times are taken as UTC)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if aware > datetime.now(UTC):
        raise ValueError("This time cannot be in the future")
    return aware


class MissingEpisodeFields(BaseModel):
    """Where and when: shared by create and update (in an update, every field is optional)."""

    missing_from_place_id: int | None = None
    missing_from_address: str | None = ADDRESS
    missing_from_point: Coordinates | None = None
    reported_at: datetime | None = None
    found_at: datetime | None = Field(
        default=None, description="Leave empty while the young person is missing"
    )
    found_place_id: int | None = None
    found_address: str | None = ADDRESS
    found_point: Coordinates | None = None
    found_with: str | None = Field(
        default=None, max_length=500, description="Who the young person was found with"
    )
    return_interview_offered_at: datetime | None = None
    notes: str | None = NOTES

    @field_validator("reported_at", "found_at", "return_interview_offered_at")
    @classmethod
    def _past(cls, moment: datetime | None) -> datetime | None:
        """Not in the future."""
        return _in_the_past(moment)


class MissingEpisodeCreate(MissingEpisodeFields):
    """A new missing episode: give where the young person went missing from and since when."""

    missing_since: datetime
    return_interview_declined: bool = False

    @field_validator("missing_since")
    @classmethod
    def _since(cls, moment: datetime) -> datetime:
        """Not in the future."""
        aware = _in_the_past(moment)
        assert aware is not None
        return aware


class MissingEpisodeUpdate(MissingEpisodeFields):
    """Changes to an episode (such as when and where found); `version` must be the one you read."""

    version: int
    missing_since: datetime | None = None
    return_interview_declined: bool | None = None

    @field_validator("missing_since")
    @classmethod
    def _since(cls, moment: datetime | None) -> datetime | None:
        """Not in the future."""
        return _in_the_past(moment)


class MissingEpisodeRead(BaseModel):
    """A missing episode as the case team sees it, with what follows from its times."""

    id: int
    young_person_id: int
    agency_id: int
    recorded_by_id: int
    missing_from_place_id: int | None
    missing_from_address: str | None
    missing_from_point: Coordinates | None
    missing_since: datetime
    reported_at: datetime | None
    found_at: datetime | None
    found_place_id: int | None
    found_address: str | None
    found_point: Coordinates | None
    found_with: str | None
    return_interview_offered_at: datetime | None
    return_interview_declined: bool
    notes: str | None
    version: int
    is_missing: bool = Field(description="Not yet found")
    duration_hours: float | None = Field(description="Hours from missing to found; empty while missing")
    return_interview_due_by: datetime | None = Field(description="72 hours after being found")
    return_interview_overdue: bool = Field(
        description="Found, no offer recorded, and the 72 hours have passed"
    )
    concern_ids: list[int] = Field(description="Linked chronology entries you can see")
    language_findings: dict[str, list[LanguageFinding]] = Field(
        default_factory=dict,
        description="Wording to review, by field (notes, found_with); never changed by csmap",
    )


class MissingEpisodePage(BaseModel):
    """A page of a young person's missing episodes, newest first."""

    young_person_id: int
    items: list[MissingEpisodeRead]
    total: int
    limit: int
    offset: int


class OverdueReturnInterview(BaseModel):
    """A found young person whose return interview has not been offered within 72 hours."""

    episode_id: int
    young_person_id: int
    given_name: str
    family_name: str
    preferred_name: str | None
    found_at: datetime
    return_interview_due_by: datetime
    hours_overdue: float


class OverdueReturnInterviewPage(BaseModel):
    """Overdue return interviews, most overdue first."""

    items: list[OverdueReturnInterview]
    total: int
    limit: int
    offset: int


class MissingPlaceProperties(BaseModel):
    """What a point on the in-record map stands for."""

    episode_id: int
    kind: Literal["missing_from", "found_at"]
    at: datetime | None = Field(description="Missing since, or found at")
    place_id: int | None
    place_name: str | None


class MissingPlaceFeature(BaseModel):
    """A GeoJSON feature in WGS84: the recorded point, or else the place's own geometry."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any]
    properties: MissingPlaceProperties


class MissingPlaces(BaseModel):
    """A GeoJSON feature collection of a young person's 'missing from / found at' places."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    young_person_id: int
    features: list[MissingPlaceFeature]
