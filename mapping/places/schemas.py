"""Place and place type schemas: GeoJSON geometry in and out, postcodes normalised."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2})$")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
GeometryKind = Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]


def normalise_postcode(value: str) -> str:
    """A UK postcode in capitals with one space before the inward code; ValueError if it is not one."""
    squeezed = re.sub(r"\s+", "", value).upper()
    if not POSTCODE.match(squeezed):
        raise ValueError("Enter a real UK postcode, for example SW1A 1AA")
    return f"{squeezed[:-3]} {squeezed[-3:]}"


def _optional_postcode(value: str | None) -> str | None:
    """Empty means none; anything else must be a UK postcode."""
    if value is None or not value.strip():
        return None
    return normalise_postcode(value)


def _optional_text(value: str | None) -> str | None:
    """Trim; empty means none."""
    if value is None:
        return None
    return value.strip() or None


def _licence_refs(values: list[str]) -> list[str]:
    """Trimmed, without empties or repeats, in the order given."""
    seen: dict[str, None] = {}
    for value in values:
        if value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TypeCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Postcode = Annotated[str | None, Field(default=None, max_length=20), AfterValidator(_optional_postcode)]
Address = Annotated[str | None, Field(default=None, max_length=500), AfterValidator(_optional_text)]
ShortText = Annotated[str | None, Field(default=None, max_length=200), AfterValidator(_optional_text)]
ExternalRef = Annotated[str | None, Field(default=None, max_length=100), AfterValidator(_optional_text)]
LicenceRefs = Annotated[
    list[Annotated[str, Field(max_length=100)]], Field(max_length=20), AfterValidator(_licence_refs)
]


class GeoJSONGeometry(BaseModel):
    """A GeoJSON geometry in WGS84 longitude/latitude (RFC 7946); a `crs` naming another CRS is refused."""

    model_config = ConfigDict(extra="ignore")

    type: GeometryKind
    coordinates: list[Any]
    crs: dict[str, Any] | None = Field(default=None, description="Only WGS84 (EPSG:4326 / CRS84) is accepted")


class PlaceFields(BaseModel):
    """What describes a place besides its name, type and geometry."""

    address: Address = None
    postcode: Postcode = Field(default=None, description="A UK postcode; stored in capitals with one space")
    owner_name: ShortText = Field(default=None, description="The business owner or manager to engage")
    owner_contact: ShortText = Field(default=None, description="How to reach them (telephone, e-mail)")
    licence_refs: LicenceRefs = Field(default_factory=list, description="Licence references, e.g. premises")
    external_ref: ExternalRef = Field(
        default=None, description="Your own reference (e.g. the licensing system's); imports update by it"
    )


class PlaceCreate(PlaceFields):
    """A new place."""

    name: Name
    type: TypeCode = Field(description="A place type code from GET /api/place-types")
    geometry: GeoJSONGeometry


class PlaceUpdate(BaseModel):
    """A change to a place: only the fields sent change; `version` is the one you read."""

    name: Name | None = None
    type: TypeCode | None = None
    geometry: GeoJSONGeometry | None = None
    address: Address = None
    postcode: Postcode = None
    owner_name: ShortText = None
    owner_contact: ShortText = None
    licence_refs: LicenceRefs | None = None
    external_ref: ExternalRef = None
    version: int = Field(ge=1)


class PlaceRead(BaseModel):
    """A place as the API returns it, geometry as GeoJSON."""

    id: int
    name: str
    type: str
    type_label: str
    geometry: dict[str, Any]
    address: str | None
    postcode: str | None
    owner_name: str | None
    owner_contact: str | None
    licence_refs: list[str]
    external_ref: str | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    version: int


class PlacePage(BaseModel):
    """One page of places."""

    items: list[PlaceRead]
    total: int
    limit: int
    offset: int


class PlaceFeature(BaseModel):
    """A place as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any]
    properties: dict[str, Any]


class PlaceFeatureCollection(BaseModel):
    """Places as a GeoJSON FeatureCollection (WGS84), for QGIS, ArcGIS and our maps."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PlaceFeature]
    total: int
    limit: int
    offset: int


class PlaceFilter(BaseModel):
    """How to narrow a list of places."""

    types: list[str] = Field(default_factory=list)
    search: str | None = Field(default=None, max_length=100)
    bbox: tuple[float, float, float, float] | None = None
    archived: bool = False


class PlaceTypeCreate(BaseModel):
    """A new place type."""

    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")] = Field(
        description="Lower-case letters, digits and underscores, e.g. nail_bar"
    )
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    icon: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")] = Field(
        description="One to three capitals or digits drawn on the map marker"
    )


class PlaceTypeRead(BaseModel):
    """A place type."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    label: str
    icon: str
    is_active: bool


class ImportProblem(BaseModel):
    """One bad row or feature of an import file: where, which field, what is wrong."""

    row: int = Field(
        description="CSV: the line in the file (the header is line 1); GeoJSON: the feature index"
    )
    location: str = Field(description="'row 7' or 'features[6]'")
    field: str
    problem: str

    def __str__(self) -> str:
        """The problem in one line, e.g. 'row 7, postcode: Enter a real UK postcode'."""
        return f"{self.location}, {self.field}: {self.problem}"


class ImportReport(BaseModel):
    """What an import found and did."""

    rows: int
    valid: int
    created: int = 0
    updated: int = 0
    written: bool = False
    problems: list[ImportProblem] = Field(default_factory=list)
