"""Area, indicator and postcode schemas: GeoJSON out, codes and postcodes checked on the way in."""

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from mapping.places.schemas import ImportReport

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,19}$")
"""An area kind: lower-case letters, digits and underscores, e.g. lsoa, msoa, ward, lad."""
KNOWN_KINDS = ("lsoa", "msoa", "ward", "lad", "oa", "neighbourhood")
INDICATOR_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class AreaRef(BaseModel):
    """Which area: its kind, boundary edition, code and name."""

    kind: str
    edition: int
    code: str
    name: str


class IndicatorValue(BaseModel):
    """An indicator's value for an area in one period."""

    indicator: str
    label: str
    unit: str
    period: str
    value: float
    source: str | None


class AreaRead(AreaRef):
    """An area with its boundary (GeoJSON, WGS84) and every indicator value it has."""

    geometry: dict[str, Any]
    indicators: list[IndicatorValue]


class AreaFeature(BaseModel):
    """An area as a GeoJSON Feature: code, name, kind, edition and latest key indicators."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class AreaFeatureCollection(BaseModel):
    """One page of areas as a GeoJSON FeatureCollection (WGS84), for QGIS, ArcGIS and our maps."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    total: int
    limit: int
    offset: int


class AreaFilter(BaseModel):
    """How to narrow a list of areas."""

    kind: str | None = Field(default=None, max_length=20)
    edition: int | None = None
    bbox: tuple[float, float, float, float] | None = None


class IndicatorRead(BaseModel):
    """One indicator of the catalogue."""

    code: str
    label: str
    unit: str


class PostcodeRead(BaseModel):
    """A postcode's point and the areas it lies in."""

    postcode: str
    longitude: float
    latitude: float
    lsoa_code: str | None = Field(description="The LSOA the postcode directory gives, if it gives one")
    lsoa_edition: int | None
    ward_code: str | None = Field(description="The electoral ward the postcode directory gives")
    areas: list[AreaRef] = Field(description="Imported areas whose boundary contains the point")


class ListedImportReport(ImportReport):
    """An import report that lists at most a thousand problems and counts the rest."""

    unlisted: int = Field(default=0, description="Problems beyond those listed")


class AreaImportReport(ListedImportReport):
    """What an area import found and did; areas wholly outside the deployment's area are left out."""

    kind: str
    edition: int
    outside: int = 0


class IndicatorImportReport(ListedImportReport):
    """What an indicator import found and did: `created` and `updated` count values, not rows."""

    format: str = Field(description="iod2019, iod2025 ... or long")
    indicators: list[str] = Field(default_factory=list)


class PostcodeImportReport(ListedImportReport):
    """What a postcode import found and did: `updated` counts postcodes whose point or codes changed."""

    format: str = Field(description="onspd or codepoint")
    terminated: int = Field(default=0, description="Terminated postcodes skipped (and removed if held)")
    unplaced: int = Field(default=0, description="Live postcodes the file gives no position for")
