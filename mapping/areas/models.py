"""Small areas, the indicator catalogue, indicator values and postcodes.

Boundaries are stored in WGS84 with a projected (British National Grid) copy, as places are.
Areas are statistical geographies (LSOAs, wards ...), not person records.
"""

import enum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Computed, Float, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base, TimestampMixin
from mapping.places.models import BRITISH_NATIONAL_GRID, WGS84


class IndicatorCode(enum.StrEnum):
    """The indicators the migration seeds into the catalogue; imports may add others."""

    IMD_SCORE = "imd_score"
    IMD_RANK = "imd_rank"
    IMD_DECILE = "imd_decile"
    IDACI_SCORE = "idaci_score"
    IDACI_RANK = "idaci_rank"
    IDACI_DECILE = "idaci_decile"
    POPULATION_TOTAL = "population_total"
    POPULATION_0_15 = "population_0_15"
    POPULATION_10_17 = "population_10_17"


class SmallArea(TimestampMixin, Base):
    """A statistical area (an LSOA, MSOA, ward ...) of one boundary edition."""

    __tablename__ = "small_area"
    __table_args__ = (UniqueConstraint("kind", "edition", "code", name="uq_small_area_kind_edition_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    edition: Mapped[int] = mapped_column(SmallInteger)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=True))
    geom_bng: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=BRITISH_NATIONAL_GRID, spatial_index=True),
        Computed(f"ST_Transform(geom, {BRITISH_NATIONAL_GRID})", persisted=True),
    )


class Indicator(Base):
    """One measure an area may have a value of, e.g. imd_decile or population_10_17."""

    __tablename__ = "indicator"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))


class AreaIndicator(Base):
    """An indicator's value for an area in one period (an edition year or a mid-year estimate)."""

    __tablename__ = "area_indicator"

    area_id: Mapped[int] = mapped_column(ForeignKey("small_area.id", ondelete="CASCADE"), primary_key=True)
    indicator: Mapped[str] = mapped_column(ForeignKey("indicator.code"), primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)


class Postcode(Base):
    """A live postcode's point and the areas the postcode directory puts it in."""

    __tablename__ = "postcode"

    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=WGS84, spatial_index=False))
    geom_bng: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=BRITISH_NATIONAL_GRID, spatial_index=True),
        Computed(f"ST_Transform(geom, {BRITISH_NATIONAL_GRID})", persisted=True),
    )
    lsoa_code: Mapped[str | None] = mapped_column(String(20))
    lsoa_edition: Mapped[int | None] = mapped_column(SmallInteger)
    ward_code: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))


class SmallAreaCell(Base):
    """A 250 m square of the hotspot lattice that meets an area of a kind and edition.

    `area_id` is the area every point of the square counts in, or None where the square crosses an
    area's edge. The database keeps the rows as areas are written (migration `0012_small_area_cells`).
    """

    __tablename__ = "small_area_cell"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    edition: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int | None] = mapped_column(Integer)
