"""Place and place type tables: geometry stored in WGS84 with a projected (British National Grid) copy.

The place types are a table, seeded from DOMAIN.md's list (`PlaceType` below, with its labels),
to which a system administrator may add a type; a place refers to its type by code.
"""

import enum
from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, Computed, DateTime, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base, TimestampMixin

WGS84 = 4326
BRITISH_NATIONAL_GRID = 27700


class PlaceType(enum.StrEnum):
    """The seeded kinds of place where exploitation concerns arise (DOMAIN.md, "Places")."""

    HOTEL = "hotel"
    TAXI_RANK = "taxi_rank"
    TAXI_FIRM = "taxi_firm"
    TAKEAWAY = "takeaway"
    SHISHA_LOUNGE = "shisha_lounge"
    SHOP = "shop"
    PARK = "park"
    CAR_PARK = "car_park"
    STATION = "station"
    BUS_ROUTE = "bus_route"
    SHOPPING_CENTRE = "shopping_centre"
    SCHOOL = "school"
    YOUTH_PROVISION = "youth_provision"
    PRIVATE_ADDRESS = "private_address"
    HMO = "hmo"
    OTHER = "other"


PLACE_TYPE_LABELS: dict[PlaceType, str] = {
    PlaceType.HOTEL: "Hotel, B&B or short let",
    PlaceType.TAXI_RANK: "Taxi rank",
    PlaceType.TAXI_FIRM: "Taxi or private-hire firm",
    PlaceType.TAKEAWAY: "Fast-food outlet or takeaway",
    PlaceType.SHISHA_LOUNGE: "Shisha lounge",
    PlaceType.SHOP: "Off-licence or shop",
    PlaceType.PARK: "Park or open space",
    PlaceType.CAR_PARK: "Car park",
    PlaceType.STATION: "Bus or rail station",
    PlaceType.BUS_ROUTE: "Bus route",
    PlaceType.SHOPPING_CENTRE: "Shopping centre",
    PlaceType.SCHOOL: "School, college or alternative provision",
    PlaceType.YOUTH_PROVISION: "Youth provision",
    PlaceType.PRIVATE_ADDRESS: "Private address of concern",
    PlaceType.HMO: "House in multiple occupation",
    PlaceType.OTHER: "Other place",
}


PLACE_TYPE_ICONS: dict[PlaceType, str] = {
    PlaceType.HOTEL: "H",
    PlaceType.TAXI_RANK: "TR",
    PlaceType.TAXI_FIRM: "TX",
    PlaceType.TAKEAWAY: "F",
    PlaceType.SHISHA_LOUNGE: "SL",
    PlaceType.SHOP: "S",
    PlaceType.PARK: "P",
    PlaceType.CAR_PARK: "CP",
    PlaceType.STATION: "ST",
    PlaceType.BUS_ROUTE: "B",
    PlaceType.SHOPPING_CENTRE: "SC",
    PlaceType.SCHOOL: "E",
    PlaceType.YOUTH_PROVISION: "Y",
    PlaceType.PRIVATE_ADDRESS: "A",
    PlaceType.HMO: "M",
    PlaceType.OTHER: "O",
}
"""The letters drawn on each seeded type's map marker."""


class PlaceTypeEntry(Base):
    """One type in the configurable place taxonomy."""

    __tablename__ = "place_type"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    icon: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())


class Place(TimestampMixin, Base):
    """A place with a point, line or polygon, shared across the partnership."""

    __tablename__ = "place"
    __table_args__ = (
        Index(
            "ix_place_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    place_type: Mapped[str] = mapped_column(ForeignKey("place_type.code"), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10))
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=WGS84, spatial_index=True))
    geom_bng: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=BRITISH_NATIONAL_GRID, spatial_index=True),
        Computed(f"ST_Transform(geom, {BRITISH_NATIONAL_GRID})", persisted=True),
    )
    owner_name: Mapped[str | None] = mapped_column(String(200))
    owner_contact: Mapped[str | None] = mapped_column(String(200))
    licence_refs: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default=text("'{}'"))
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}
