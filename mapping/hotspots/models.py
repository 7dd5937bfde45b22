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
cells (`grid_for_extent` snaps square grids to multiples of their cell size). A row holds one
cell's counts for the twelve months of a calendar year (`m01`..`m12`), so a year's map reads
one row per cell rather than twelve; rows are kept per source and `restricted_to`,
- every record on the 250 m and 1 km lattices (`dimension` 0, `value` 0), and
- on the 250 m lattice, once per filter dimension, by that dimension's value (context, kind,
  category id, agency id, place type, age band, gender), for one-filter maps.
Dimensions are numbered (`DIMENSION_CODES`); a value is its id (category, agency) or `value_code`
of its text, the first 32 bits of its MD5 (the database's `hotspot_code`). Readers check that no
two known values of a dimension share a code before they trust the layer (else they count facts).
Rows whose counts have all fallen to 0 may remain until the next rebuild; they add nothing.
"""

import enum
import hashlib
from datetime import date
from typing import Final

from sqlalchemy import Date, Double, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base

FINE_LATTICE: Final = 50
"""The facts' own lattice (`cx`, `cy`), for counting from the facts."""
FILTER_LATTICE: Final = 250
"""Counts of every record, and of each filter value's records."""
COARSE_LATTICE: Final = 1000
"""Counts of every record: also the kilometre squares the study area is made of."""
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


DIMENSION_CODES: Final[dict[Dimension, int]] = {
    dimension: number for number, dimension in enumerate(Dimension)
}
"""How `hotspot_cell_count.dimension` numbers the dimensions (as the migration's SQL does)."""
TEXT_DIMENSIONS: Final = frozenset(
    {Dimension.CONTEXT, Dimension.KIND, Dimension.PLACE_TYPE, Dimension.AGE_BAND, Dimension.GENDER}
)
"""Dimensions whose values are text, counted under `value_code`; the others under their ids."""


def value_code(value: str) -> int:
    """A text value's number in the lattice: the first 32 bits of its MD5, signed (`hotspot_code`)."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[:4], "big", signed=True)


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
    """How many facts of each month of one year, source and visibility lie in one lattice cell."""

    __tablename__ = "hotspot_cell_count"

    lattice: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    dimension: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    restricted_to: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    m01: Mapped[int] = mapped_column(Integer)
    m02: Mapped[int] = mapped_column(Integer)
    m03: Mapped[int] = mapped_column(Integer)
    m04: Mapped[int] = mapped_column(Integer)
    m05: Mapped[int] = mapped_column(Integer)
    m06: Mapped[int] = mapped_column(Integer)
    m07: Mapped[int] = mapped_column(Integer)
    m08: Mapped[int] = mapped_column(Integer)
    m09: Mapped[int] = mapped_column(Integer)
    m10: Mapped[int] = mapped_column(Integer)
    m11: Mapped[int] = mapped_column(Integer)
    m12: Mapped[int] = mapped_column(Integer)


MONTH_COLUMNS: Final = tuple(f"m{number:02d}" for number in range(1, 13))
"""The month columns of `hotspot_cell_count`, January to December."""
