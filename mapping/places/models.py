"""Place table: geometry stored in WGS84 with a projected (British National Grid) copy."""

import enum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Computed, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contexts.agencies.models import enum_column
from contexts.base import Base, TimestampMixin

WGS84 = 4326
BRITISH_NATIONAL_GRID = 27700


class PlaceType(enum.StrEnum):
    """Kinds of place where exploitation concerns arise (DOMAIN.md, "Places")."""

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


class Place(TimestampMixin, Base):
    """A place with a point, line or polygon, shared across the partnership."""

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    place_type: Mapped[PlaceType] = mapped_column(enum_column(PlaceType, "place_type"), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10))
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=WGS84, spatial_index=True))
    geom_bng: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=BRITISH_NATIONAL_GRID, spatial_index=True),
        Computed(f"ST_Transform(geom, {BRITISH_NATIONAL_GRID})", persisted=True),
    )
    created_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
