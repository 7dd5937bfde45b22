"""Hot-spot statistics on a regular grid: pure numpy/scipy, no database and no HTTP.

The SQL side (binning concerns and found locations in PostGIS, filters, the API) calls these
with numpy arrays of cell counts in cell-id order.

Grids (`mapping.hotspots.grid`), all in the metric CRS (British National Grid metres):
- `Grid(shape, cell_size, origin_x, origin_y, columns, rows)`, `GridShape.SQUARE | GridShape.HEX`
- `grid_for_extent(min_x, min_y, max_x, max_y, *, cell_size, shape) -> Grid`
- `choose_cell_size(x, y) -> float`: metres, from the points' spacing and extent
- `cell_ids(grid)`, `cell_centroids(grid) -> (cells, 2)`,
  `cell_polygons(grid, ids=None) -> (cells, vertices, 2)` closed anticlockwise rings
- `assign_cells(grid, x, y) -> ids` (-1 outside), `count_points(grid, x, y) -> counts per cell`
- `HotspotInputError` (an `InvalidInput`): cell size below 10 m, more than 2,000,000 cells, ...

Gi* (`mapping.hotspots.stats`):
- `gi_star(grid, counts, DistanceBand(metres) | NearestNeighbours(k), *, within=None, fdr=True,
  permutations=0, seed=None) -> HotspotResult` with `cell_ids, z, p, p_fdr, bins, neighbours,
  inference ("analytic" | "permutation"), permutations, seed, fdr`
- `gi_star_with_weights(values, weights, ...)` for any binary neighbour matrix with self-weights
- `neighbour_weights(grid, neighbourhood, *, within=None)` (scipy CSR), `benjamini_hochberg(p)`,
  `confidence_bins(z, p)`, `two_sided_p(z)`

Trends (`mapping.hotspots.trend`):
- `mann_kendall((months, cells) values, *, continuity_correction=True) -> MannKendall(s, variance, z, p)`
- `emerging_codes(bins, trend, *, trend_alpha=0.05)` and `pattern_labels(codes) -> [EmergingPattern]`
- `emerging_hot_spots(grid, monthly_counts, neighbourhood, *, within=None, fdr=True) -> EmergingHotSpots`
"""

from mapping.hotspots.grid import (
    MAX_CELLS,
    MIN_CELL_SIZE,
    Grid,
    GridShape,
    HotspotInputError,
    assign_cells,
    cell_centroids,
    cell_ids,
    cell_polygons,
    choose_cell_size,
    count_points,
    grid_for_extent,
)
from mapping.hotspots.stats import (
    DistanceBand,
    HotspotResult,
    Inference,
    NearestNeighbours,
    Neighbourhood,
    benjamini_hochberg,
    confidence_bins,
    gi_star,
    gi_star_with_weights,
    neighbour_weights,
    two_sided_p,
)
from mapping.hotspots.trend import (
    PATTERNS,
    EmergingHotSpots,
    EmergingPattern,
    MannKendall,
    emerging_codes,
    emerging_hot_spots,
    mann_kendall,
    pattern_labels,
)

__all__ = [
    "MAX_CELLS",
    "MIN_CELL_SIZE",
    "PATTERNS",
    "DistanceBand",
    "EmergingHotSpots",
    "EmergingPattern",
    "Grid",
    "GridShape",
    "HotspotInputError",
    "HotspotResult",
    "Inference",
    "MannKendall",
    "NearestNeighbours",
    "Neighbourhood",
    "assign_cells",
    "benjamini_hochberg",
    "cell_centroids",
    "cell_ids",
    "cell_polygons",
    "choose_cell_size",
    "confidence_bins",
    "count_points",
    "emerging_codes",
    "emerging_hot_spots",
    "gi_star",
    "gi_star_with_weights",
    "grid_for_extent",
    "mann_kendall",
    "neighbour_weights",
    "pattern_labels",
    "two_sided_p",
]
