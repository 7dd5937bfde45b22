"""The hotspot aggregate: located records in compact form, and their counts on fixed lattices.

Both tables are maintained by the database itself, by statement-level triggers on `concern`,
`missing_episode`, `place` and `young_person` (migration `0011_hotspot_aggregate`), so a row
written by the app, an import or a bulk COPY is counted when its statement ends; nothing in
Python writes them, except `service.rebuild_aggregate`, which recomputes both from scratch.

`hotspot_fact` holds one row per located record: a concern (its point, else a point on its
place) or a missing episode that has ended (where the young person was found: the found-at
point, else a point on the found-at place). A young person's home is never read. Coordinates
are British National Grid metres, copied exactly; `cx`, `cy` index the 50 m lattice cell
`[50 cx, 50 (cx + 1)) x [50 cy, 50 (cy + 1))` that holds the point; `month` is the first day of
the month of `occurred_on`, the record's date in UK local time. `restricted_to` says who may
see the record in an aggregate: 0, every audience; the recording agency's id, an agency-only
concern (that agency's analysts only); -1 (`RESIDENTIAL`), a record at a residential place type
(`private_address`, `hmo`: it may be a young person's home), analysts only, never partners.

`hotspot_cell_count` counts the facts on lattices of square cells anchored at the grid's
origin, so a square cell of any multiple of the lattice size is an exact union of lattice
cells (`grid_for_extent` snaps square grids to multiples of their cell size): per month,
source and `restricted_to`,
- every record on the 50 m, 250 m and 1 km lattices (`dimension` "all", `value` ""), and
- on the 250 m lattice, once per filter dimension, by that dimension's value (context, kind,
  category id, agency id, place type, age band, gender), for one-filter maps.
Rows whose count has fallen to 0 may remain until the next rebuild; readers skip them.
"""

import enum
from datetime import date
from typing import Final

from sqlalchemy import Date, Double, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base

LATTICE_ORIGIN: Final = 0
FINE_LATTICE: Final = 50
FILTER_LATTICE: Final = 250
COARSE_LATTICE: Final = 1000
LATTICES: Final = (FINE_LATTICE, FILTER_LATTICE, COARSE_LATTICE)
"""Lattice cell sizes in metres, each a multiple of the one before."""
PARTNERSHIP: Final = 0
"""`restricted_to` of a record every audience may see counted."""
RESIDENTIAL: Final = -1
"""`restricted_to` of a record at a residential place type: analysts only."""
RESIDENTIAL_PLACE_TYPES: Final = frozenset({"private_address", "hmo"})
"""The place types the aggregate marks RESIDENTIAL (as the migration's SQL does)."""
TIME_ZONE: Final = "Europe/London"
"""Records are dated, and months cut, in UK local time."""


class Source(enum.IntEnum):
    """Which kind of record a fact comes from."""

    CONCERN = 1
    MISSING = 2


class Dimension(enum.StrEnum):
    """The filters the 250 m lattice is also counted by ("all" counts every record once)."""

    ALL = "all"
    CONTEXT = "context"
    KIND = "kind"
    CATEGORY = "category"
    AGENCY = "agency"
    PLACE_TYPE = "place_type"
    AGE_BAND = "age_band"
    GENDER = "gender"


class AgeBand(enum.StrEnum):
    """The young person's age on the day of the record."""

    UNDER_10 = "under_10"
    AGED_10_TO_13 = "10_to_13"
    AGED_14_TO_15 = "14_to_15"
    AGED_16_TO_17 = "16_to_17"
    AGED_18_AND_OVER = "18_and_over"
    NOT_KNOWN = "not_known"


class HotspotFact(Base):
    """One located concern or found-at location, as the hotspot queries read it."""

    __tablename__ = "hotspot_fact"
    __table_args__ = (Index("ix_hotspot_fact_source_month", "source", "month"),)

    source: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    month: Mapped[date] = mapped_column(Date)
    x: Mapped[float] = mapped_column(Double)
    y: Mapped[float] = mapped_column(Double)
    cx: Mapped[int] = mapped_column(Integer)
    cy: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[int] = mapped_column(Integer)
    restricted_to: Mapped[int] = mapped_column(Integer)
    context: Mapped[str | None] = mapped_column(String(40, collation="C"))
    kind: Mapped[str | None] = mapped_column(String(40, collation="C"))
    category_id: Mapped[int | None] = mapped_column(Integer)
    place_type: Mapped[str | None] = mapped_column(String(40, collation="C"))
    age_band: Mapped[str] = mapped_column(String(20, collation="C"))
    gender: Mapped[str] = mapped_column(String(40, collation="C"))


class HotspotCellCount(Base):
    """How many facts of one month, source and visibility lie in one lattice cell."""

    __tablename__ = "hotspot_cell_count"

    lattice: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20, collation="C"), primary_key=True)
    value: Mapped[str] = mapped_column(String(40, collation="C"), primary_key=True)
    source: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    restricted_to: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
