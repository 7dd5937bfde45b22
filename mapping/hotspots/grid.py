"""Regular square and hexagonal grids in a metric CRS, and points counted into their cells.

Every grid lives in the deployment's metric CRS (British National Grid metres by default);
reprojection to WGS84 for maps happens in SQL elsewhere.

Square grid: cell `(row, column)` covers `[x0 + c*s, x0 + (c+1)*s) x [y0 + r*s, y0 + (r+1)*s)`,
half-open to the east and north, so a point on a shared edge or corner belongs to the cell
to its north-east. Points on the grid's own east or north boundary still belong to the last
column or row, so every point inside the closed frame falls in exactly one cell.

Hexagonal grid: pointy-topped hexagons in rows, every odd row shifted east by half a cell
("odd-r" offset layout). The cell size `s` is the distance between the centres of two
neighbouring hexagons (the hexagon's width across its flat sides), so a hexagon's area is
`sqrt(3)/2 * s**2`, close to that of an `s` by `s` square. A point belongs to the hexagon
with the nearest centre; on a shared edge or vertex, ties go to the upper row and, within a
row, to the eastern cell, so the choice is deterministic. Grids built by `grid_for_extent`
have a margin wide enough that every point of the extent falls in a cell, and rows snapped
so that the same place always gets the same hexagon whatever the extent.

Cell ids run row by row from the south-west: `id = row * columns + column`.

Cell size from the data (`choose_cell_size`), in the manner of ArcGIS Optimized Hot Spot
Analysis (which derives the aggregation grid from the points' extent and their spacing):
the median distance from each distinct location to its nearest other location (scipy's
cKDTree), kept between one hundredth and one tenth of the longest side of the points'
extent, rounded up to a whole metre and never below 10 m. The median, rather than the mean,
keeps a handful of outlying locations from inflating the cells; the extent bounds keep the
grid between about 10 and 100 cells across.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from contexts.errors import InvalidInput

MIN_CELL_SIZE = 10.0
MAX_CELLS = 2_000_000
SQRT3 = math.sqrt(3.0)
HEX_MARGIN = 1e-9


class HotspotInputError(InvalidInput):
    """Hotspot settings or data that the analysis cannot use, named in the message."""


class GridShape(StrEnum):
    """The shape of the cells."""

    SQUARE = "square"
    HEX = "hex"


@dataclass(frozen=True)
class Grid:
    """A regular grid: cell shape and size in metres, south-west anchor, columns and rows."""

    shape: GridShape
    cell_size: float
    origin_x: float
    origin_y: float
    columns: int
    rows: int

    @property
    def n_cells(self) -> int:
        """How many cells the grid has."""
        return self.columns * self.rows

    @property
    def row_spacing(self) -> float:
        """Distance in metres between the centres of neighbouring rows."""
        return self.cell_size if self.shape is GridShape.SQUARE else self.cell_size * SQRT3 / 2

    @property
    def circumradius(self) -> float:
        """Centre-to-vertex distance of a hexagon (half the diagonal for a square)."""
        return self.cell_size / SQRT3 if self.shape is GridShape.HEX else self.cell_size / math.sqrt(2)


def validate_cell_size(cell_size: float) -> None:
    """Refuse a cell size that is not a finite number of at least 10 metres."""
    if not math.isfinite(cell_size) or cell_size < MIN_CELL_SIZE:
        raise HotspotInputError(
            f"The cell size must be at least {MIN_CELL_SIZE:g} metres; {cell_size:g} m was asked for.",
            field="cell_size",
        )


def validate_cell_count(columns: int, rows: int, cell_size: float) -> None:
    """Refuse a grid with more than 2,000,000 cells."""
    if columns * rows > MAX_CELLS:
        raise HotspotInputError(
            f"A {cell_size:g} m grid over this area would have {columns * rows:,} cells; the most is "
            f"{MAX_CELLS:,}. Choose a larger cell size or a smaller area.",
            field="cell_size",
        )


def validate_extent(min_x: float, min_y: float, max_x: float, max_y: float) -> None:
    """Refuse an extent with missing or reversed coordinates."""
    if not all(math.isfinite(value) for value in (min_x, min_y, max_x, max_y)):
        raise HotspotInputError("The area to grid has a missing or infinite coordinate.", field="extent")
    if max_x < min_x or max_y < min_y:
        raise HotspotInputError("The area to grid has its maximum below its minimum.", field="extent")


def grid_for_extent(
    min_x: float, min_y: float, max_x: float, max_y: float, *, cell_size: float, shape: GridShape
) -> Grid:
    """Build the grid of `shape` and `cell_size` metres that covers an extent."""
    validate_cell_size(cell_size)
    validate_extent(min_x, min_y, max_x, max_y)
    if shape is GridShape.SQUARE:
        return _square_grid(min_x, min_y, max_x, max_y, cell_size)
    return _hex_grid(min_x, min_y, max_x, max_y, cell_size)


def _square_grid(min_x: float, min_y: float, max_x: float, max_y: float, size: float) -> Grid:
    """Square cells anchored on multiples of the cell size, so grids of one size always align."""
    origin_x, origin_y = _snapped_origin(min_x, size), _snapped_origin(min_y, size)
    columns, rows = _cells_to_cover(origin_x, max_x, size), _cells_to_cover(origin_y, max_y, size)
    validate_cell_count(columns, rows, size)
    return Grid(GridShape.SQUARE, size, origin_x, origin_y, columns, rows)


def _snapped_origin(minimum: float, size: float) -> float:
    """The largest multiple of the cell size at or below `minimum`."""
    origin = math.floor(minimum / size) * size
    return origin - size if origin > minimum else origin


def _cells_to_cover(origin: float, maximum: float, size: float) -> int:
    """How many cells from `origin` it takes to reach `maximum` (at least one)."""
    count = max(1, math.ceil((maximum - origin) / size))
    while origin + count * size < maximum:
        count += 1
    return count


def _hex_grid(min_x: float, min_y: float, max_x: float, max_y: float, size: float) -> Grid:
    """Hexagons on a lattice anchored at (0, 0), with an even first row, covering the extent."""
    spacing, radius = size * SQRT3 / 2, size / SQRT3
    # A hair of margin, so rounding cannot push a point exactly on the extent onto a missing cell.
    margin = size * HEX_MARGIN
    first_row = math.floor((min_y - margin - radius) / spacing)
    first_row -= first_row % 2
    last_row = math.floor((max_y + margin - radius) / spacing) + 1
    first_column = math.floor((min_x - margin - size) / size + 0.5)
    last_column = math.floor((max_x + margin - size / 2) / size + 0.5)
    columns, rows = last_column - first_column + 1, last_row - first_row + 1
    validate_cell_count(columns, rows, size)
    return Grid(GridShape.HEX, size, first_column * size, first_row * spacing, columns, rows)


def cell_ids(grid: Grid) -> NDArray[np.int64]:
    """Every cell id, in order."""
    return np.arange(grid.n_cells, dtype=np.int64)


def cell_centroids(grid: Grid) -> NDArray[np.float64]:
    """The centre of every cell, shape (cells, 2), in the grid's metric CRS."""
    rows, columns = np.divmod(cell_ids(grid), grid.columns)
    shift = (rows % 2) * 0.5 if grid.shape is GridShape.HEX else np.zeros(grid.n_cells)
    x = grid.origin_x + (columns + 0.5 + shift) * grid.cell_size
    y_offset = grid.circumradius if grid.shape is GridShape.HEX else grid.cell_size / 2
    y = grid.origin_y + y_offset + rows * grid.row_spacing
    return np.column_stack([x, y])


def _ring_offsets(grid: Grid) -> NDArray[np.float64]:
    """The closed, anticlockwise outline of a cell around its centre."""
    half, radius = grid.cell_size / 2, grid.circumradius
    if grid.shape is GridShape.SQUARE:
        corners = [(-half, -half), (half, -half), (half, half), (-half, half), (-half, -half)]
    else:
        corners = [
            (half, -radius / 2),
            (half, radius / 2),
            (0.0, radius),
            (-half, radius / 2),
            (-half, -radius / 2),
            (0.0, -radius),
            (half, -radius / 2),
        ]
    return np.array(corners, dtype=np.float64)


def cell_polygons(grid: Grid, ids: ArrayLike | None = None) -> NDArray[np.float64]:
    """Closed anticlockwise rings for cells, shape (cells, vertices, 2), in the metric CRS."""
    chosen = cell_ids(grid) if ids is None else np.asarray(ids, dtype=np.int64)
    centres = cell_centroids(grid)[chosen]
    return centres[:, None, :] + _ring_offsets(grid)[None, :, :]


def assign_cells(grid: Grid, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """The one cell id for each point, or -1 for a point outside the grid."""
    xs, ys = _coordinates(x, y)
    if grid.shape is GridShape.SQUARE:
        return _assign_square(grid, xs, ys)
    return _assign_hex(grid, xs, ys)


def _coordinates(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Coordinates as float arrays of one length, refusing missing values."""
    xs, ys = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise HotspotInputError("There must be as many x as y coordinates.", field="points")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise HotspotInputError("A point has a missing or infinite coordinate.", field="points")
    return xs, ys


def _half_open_index(
    values: NDArray[np.float64], origin: float, size: float, count: int
) -> NDArray[np.int64]:
    """Cell index along one axis: edges belong to the cell above, the far boundary to the last cell."""
    index = np.floor((values - origin) / size).astype(np.int64)
    # Agree with the edge coordinates `origin + i * size` that the outlines use, whatever the rounding.
    index += origin + (index + 1) * size <= values
    index -= origin + index * size > values
    far_edge = values == origin + count * size
    index[far_edge] = count - 1
    return index


def _assign_square(grid: Grid, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.int64]:
    """Square cells by half-open intervals on both axes."""
    columns = _half_open_index(xs, grid.origin_x, grid.cell_size, grid.columns)
    rows = _half_open_index(ys, grid.origin_y, grid.cell_size, grid.rows)
    return _ids_or_outside(grid, rows, columns)


def _ids_or_outside(grid: Grid, rows: NDArray[np.int64], columns: NDArray[np.int64]) -> NDArray[np.int64]:
    """Cell ids for (row, column) pairs, -1 where the pair is off the grid."""
    inside = (rows >= 0) & (rows < grid.rows) & (columns >= 0) & (columns < grid.columns)
    return np.where(inside, rows * grid.columns + columns, -1)


def _nearest_in_row(
    grid: Grid, xs: NDArray[np.float64], ys: NDArray[np.float64], rows: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The nearest hexagon in the given row (ties to the east) and the squared distance to it."""
    size = grid.cell_size
    shift = (rows % 2) * (size / 2)
    columns = np.floor((xs - grid.origin_x - size / 2 - shift) / size + 0.5).astype(np.int64)
    centre_x = grid.origin_x + size / 2 + shift + columns * size
    centre_y = grid.origin_y + grid.circumradius + rows * grid.row_spacing
    return columns, (xs - centre_x) ** 2 + (ys - centre_y) ** 2


def _assign_hex(grid: Grid, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.int64]:
    """Hexagons by nearest centre among the two rows that bracket each point."""
    lower = np.floor((ys - grid.origin_y - grid.circumradius) / grid.row_spacing).astype(np.int64)
    lower_columns, lower_distance = _nearest_in_row(grid, xs, ys, lower)
    upper_columns, upper_distance = _nearest_in_row(grid, xs, ys, lower + 1)
    take_upper = upper_distance <= lower_distance
    rows = np.where(take_upper, lower + 1, lower)
    columns = np.where(take_upper, upper_columns, lower_columns)
    return _ids_or_outside(grid, rows, columns)


def count_points(grid: Grid, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """How many points fall in each cell; refuses points outside the grid so no point is lost."""
    ids = assign_cells(grid, x, y)
    outside = int((ids < 0).sum())
    if outside:
        raise HotspotInputError(f"{outside:,} point(s) lie outside the grid's area.", field="points")
    return np.bincount(ids, minlength=grid.n_cells).astype(np.int64)


def choose_cell_size(x: ArrayLike, y: ArrayLike) -> float:
    """A cell size in whole metres from the points' spacing and extent (module docstring)."""
    xs, ys = _coordinates(x, y)
    if xs.size == 0:
        raise HotspotInputError("There are no points to choose a cell size from.", field="points")
    longest_side = max(float(np.ptp(xs)), float(np.ptp(ys)))
    spacing = _median_nearest_neighbour(np.unique(np.column_stack([xs, ys]), axis=0))
    size = min(max(spacing, longest_side / 100), longest_side / 10)
    return float(max(MIN_CELL_SIZE, math.ceil(size)))


def _median_nearest_neighbour(locations: NDArray[np.float64]) -> float:
    """Median distance from each distinct location to its nearest other one (0 for one location)."""
    if len(locations) < 2:
        return 0.0
    distances, _ = cKDTree(locations).query(locations, k=2)
    return float(np.median(distances[:, 1]))
