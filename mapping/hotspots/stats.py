"""Getis-Ord Gi* hot and cold spots on a grid of counts, with FDR correction and confidence bins.

Gi* (Getis & Ord 1992; Ord & Getis 1995), binary weights, each cell its own neighbour. For cell
i with neighbour set N(i) (i included), n analysed cells with values x, mean m and population
standard deviation S:

    Gi* = (sum_{j in N(i)} x_j - m |N(i)|) / (S sqrt((n |N(i)| - |N(i)|^2) / (n - 1)))

which is the standardised statistic that esda's `G_Local(star=True, transform="B")` reports as
`Zs`. When S is 0 (an all-zero or constant surface) or a cell's neighbourhood is every cell,
the statistic is undefined and reported as z = 0, p = 1.

Neighbourhoods, by the distance between cell centres:
- `DistanceBand(metres)`: every cell whose centre is within the band (a relative tolerance of
  1e-9 keeps cells exactly on the band inside). The band must be at least one cell size, or a
  cell would have no neighbour but itself. On the regular grid this is a disc (or hexagonal
  disc) stencil, summed row by row from prefix sums, so the cost grows with the band's width
  in rows, not with its area.
- `NearestNeighbours(k)`: the cell itself, its k nearest cells, and every further cell tied with
  the k-th nearest. A regular grid has rings of cells at equal distances; taking the whole ring
  keeps each neighbourhood symmetric instead of letting cell order pick some of the ring, so
  a cell may have more than k + 1 neighbours (8 and 4 give exactly 8 and 4 on a square grid,
  6 on a hexagonal one). Cells far from the grid's edge and the study-area boundary all share
  one stencil (the disc out to an interior cell's k-th distance); only cells whose stencil is
  cut are looked up in a k-d tree.

Inference:
- analytic (default): two-sided normal p-values, p = 2 (1 - Phi(|z|)); esda's `p_norm` is the
  one-sided tail, so p here is exactly twice `p_norm`.
- permutation (`permutations=N`): conditional randomisation as in esda. Each cell keeps its own
  value while its other neighbours' values are drawn without replacement from the other cells;
  the same N random orderings of the cells serve every cell (as esda shares its permuted ids).
  With `larger` the number of draws whose neighbourhood sum is at least the observed one, the
  pseudo p-value is (min(larger, N - larger) + 1) / (N + 1): esda's folded, directional `p_sim`,
  smallest 1/(N + 1), about half a two-sided p-value. Counting is exact and vectorised: for
  every neighbourhood size the N random prefix sums are sorted once and every cell of that
  size is placed among them by binary search; the few draws that picked the cell itself are
  then corrected one by one. Cells with no neighbour but themselves, and constant surfaces,
  get p = 1. The FDR and the bins below use these pseudo p-values as they stand, so the same
  surface can show different bins under the two inferences: always say which was used.

False discovery rate: Benjamini & Hochberg (1995) adjusted p-values (as
`scipy.stats.false_discovery_control(p, method="bh")`). Confidence bins follow ArcGIS's Gi_Bin:
+/-3 where p <= 0.01, +/-2 where p <= 0.05, +/-1 where p <= 0.10, 0 otherwise, signed by z.
With FDR the bins use the adjusted p-values, which is ArcGIS's FDR rule: a cell is significant
at a level only if its p-value is at or below the Benjamini-Hochberg cut-off for that level.
"""

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, special
from scipy.spatial import cKDTree

from mapping.hotspots.grid import Grid, GridShape, HotspotInputError, cell_centroids

BAND_TOLERANCE = 1e-9
MAX_PERMUTATIONS = 9_999
CONFIDENCE_LEVELS = ((1, 0.10), (2, 0.05), (3, 0.01))
PERMUTATION_CHUNK = 4_000_000


@dataclass(frozen=True)
class DistanceBand:
    """Neighbours are the cells whose centres lie within `metres` of the cell's centre."""

    metres: float


@dataclass(frozen=True)
class NearestNeighbours:
    """Neighbours are the cell, its `k` nearest cells and any cells tied with the k-th."""

    k: int


Neighbourhood = DistanceBand | NearestNeighbours


class Inference(StrEnum):
    """How the p-values were obtained."""

    ANALYTIC = "analytic"
    PERMUTATION = "permutation"


@dataclass(frozen=True)
class HotspotResult:
    """Gi* for the analysed cells: every array is aligned with `cell_ids`."""

    cell_ids: NDArray[np.int64]
    z: NDArray[np.float64]
    p: NDArray[np.float64]
    p_fdr: NDArray[np.float64]
    bins: NDArray[np.int8]
    neighbours: NDArray[np.int64]
    inference: Inference
    permutations: int
    seed: int | None
    fdr: bool


def gi_star(
    grid: Grid,
    counts: ArrayLike,
    neighbourhood: Neighbourhood,
    *,
    within: ArrayLike | None = None,
    fdr: bool = True,
    permutations: int = 0,
    seed: int | None = None,
) -> HotspotResult:
    """Gi* hot and cold spots for a grid's cell counts (optionally only the cells `within`)."""
    active = analysed_cells(grid, within)
    values = _cell_values(grid, counts)
    _validate_neighbourhood(grid, neighbourhood, active.size)
    _validate_permutations(permutations)
    lag, cardinality = neighbourhood_sums(grid, values, neighbourhood, active)
    return _result(active, values[active], lag, cardinality, fdr=fdr, permutations=permutations, seed=seed)


def gi_star_with_weights(
    values: ArrayLike,
    weights: sparse.csr_array,
    *,
    fdr: bool = True,
    permutations: int = 0,
    seed: int | None = None,
) -> HotspotResult:
    """Gi* for any binary neighbour matrix that already has each cell as its own neighbour."""
    observed = np.asarray(values, dtype=np.float64).ravel()
    _validate_permutations(permutations)
    lag = np.asarray(weights @ observed, dtype=np.float64)
    cardinality = np.asarray(weights.sum(axis=1), dtype=np.int64).ravel()
    cells = np.arange(observed.size, dtype=np.int64)
    return _result(cells, observed, lag, cardinality, fdr=fdr, permutations=permutations, seed=seed)


def _result(
    cells: NDArray[np.int64],
    values: NDArray[np.float64],
    lag: NDArray[np.float64],
    cardinality: NDArray[np.int64],
    *,
    fdr: bool,
    permutations: int,
    seed: int | None,
) -> HotspotResult:
    """Z-scores, p-values, FDR and bins from the neighbourhood sums."""
    z = gi_star_z(values, lag, cardinality)
    if permutations:
        p = permutation_p(values, lag, cardinality, permutations=permutations, seed=seed)
    else:
        p = two_sided_p(z)
    p_fdr = benjamini_hochberg(p)
    bins = confidence_bins(z, p_fdr if fdr else p)
    inference = Inference.PERMUTATION if permutations else Inference.ANALYTIC
    return HotspotResult(cells, z, p, p_fdr, bins, cardinality, inference, permutations, seed, fdr)


def analysed_cells(grid: Grid, within: ArrayLike | None) -> NDArray[np.int64]:
    """Ids of the cells to analyse: all of them, or those flagged in the boolean mask `within`."""
    if within is None:
        return np.arange(grid.n_cells, dtype=np.int64)
    mask = np.asarray(within, dtype=bool).ravel()
    if mask.size != grid.n_cells:
        raise HotspotInputError(
            f"The study-area mask has {mask.size:,} cells; the grid has {grid.n_cells:,}."
        )
    return np.flatnonzero(mask).astype(np.int64)


def _cell_values(grid: Grid, counts: ArrayLike) -> NDArray[np.float64]:
    """The counts as one float per cell, in cell-id order."""
    values = np.asarray(counts, dtype=np.float64).ravel()
    if values.size != grid.n_cells:
        raise HotspotInputError(f"There are {values.size:,} counts for a grid of {grid.n_cells:,} cells.")
    if not np.isfinite(values).all():
        raise HotspotInputError("A cell count is missing or infinite.")
    return values


def _validate_neighbourhood(grid: Grid, neighbourhood: Neighbourhood, n_cells: int) -> None:
    """Refuse a band narrower than a cell or more nearest neighbours than there are other cells."""
    if n_cells < 2:
        raise HotspotInputError("Hot spots need at least two cells to compare.")
    if isinstance(neighbourhood, DistanceBand):
        _validate_band(grid, neighbourhood.metres)
    elif not 1 <= neighbourhood.k < n_cells:
        raise HotspotInputError(
            f"The number of neighbours must be between 1 and {n_cells - 1:,}; "
            f"{neighbourhood.k} was asked for.",
            field="neighbours",
        )


def _validate_band(grid: Grid, metres: float) -> None:
    """Refuse a band shorter than a cell or longer than the grid is across."""
    across = math.hypot(grid.columns * grid.cell_size, grid.rows * grid.row_spacing)
    if not metres >= grid.cell_size * (1 - BAND_TOLERANCE):
        raise HotspotInputError(
            f"The distance band ({metres:g} m) is shorter than the cell size "
            f"({grid.cell_size:g} m): no cell would have a neighbour.",
            field="distance_band",
        )
    if metres > across:
        raise HotspotInputError(
            f"The distance band ({metres:g} m) is longer than the area is across ({across:,.0f} m): "
            "every cell would be every cell's neighbour.",
            field="distance_band",
        )


def _validate_permutations(permutations: int) -> None:
    """Refuse a negative or very large number of permutations."""
    if not 0 <= permutations <= MAX_PERMUTATIONS:
        raise HotspotInputError(
            f"The number of permutations must be between 0 and {MAX_PERMUTATIONS:,}; "
            f"{permutations} was asked for.",
            field="permutations",
        )


def neighbourhood_sums(
    grid: Grid, values: NDArray[np.float64], neighbourhood: Neighbourhood, active: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Each active cell's neighbourhood sum and neighbour count (itself included)."""
    mask = np.zeros(grid.n_cells, dtype=np.float64)
    mask[active] = 1.0
    if isinstance(neighbourhood, DistanceBand):
        runs = band_runs(grid, neighbourhood.metres)
    else:
        runs = band_runs(grid, interior_nearest_distance(grid, neighbourhood.k))
    lag = stencil_sums(grid, values * mask, runs)[active]
    cardinality = np.rint(stencil_sums(grid, mask, runs)[active]).astype(np.int64)
    if isinstance(neighbourhood, NearestNeighbours):
        _redo_cut_neighbourhoods(grid, values[active], neighbourhood.k, active, runs, lag, cardinality)
    return lag, cardinality


def interior_nearest_distance(grid: Grid, k: int) -> float:
    """Distance from a cell far from any edge to its k-th nearest cell."""
    reach = math.isqrt(k) + 2
    offsets = np.arange(-reach, reach + 1)
    rows, columns = np.meshgrid(offsets, offsets, indexing="ij")
    shift = (rows % 2) * 0.5 if grid.shape is GridShape.HEX else 0.0
    distances = np.hypot((columns + shift) * grid.cell_size, rows * grid.row_spacing).ravel()
    return float(np.sort(distances)[k])


def _redo_cut_neighbourhoods(
    grid: Grid,
    values: NDArray[np.float64],
    k: int,
    active: NDArray[np.int64],
    runs: dict[int, list[tuple[int, int, int]]],
    lag: NDArray[np.float64],
    cardinality: NDArray[np.int64],
) -> None:
    """Recount, with a k-d tree, the nearest neighbours of cells whose stencil an edge or mask cuts."""
    full = sum(last - first + 1 for _, first, last in runs[0])
    cut = np.flatnonzero(cardinality < full)
    if cut.size == 0:
        return
    centres = cell_centroids(grid)[active]
    rows, neighbours = _nearest_pairs(cKDTree(centres), centres[cut], k)
    lag[cut] = np.bincount(rows, weights=values[neighbours], minlength=cut.size)
    cardinality[cut] = np.bincount(rows, minlength=cut.size)


def band_runs(grid: Grid, metres: float) -> dict[int, list[tuple[int, int, int]]]:
    """For focal rows of each parity, the (row offset, first, last column offset) runs in the band."""
    reach = metres * (1 + BAND_TOLERANCE) / grid.cell_size
    row_step = grid.row_spacing / grid.cell_size
    furthest_row = math.floor(reach / row_step)
    runs: dict[int, list[tuple[int, int, int]]] = {0: [], 1: []}
    for parity, row_offset in itertools.product((0, 1), range(-furthest_row, furthest_row + 1)):
        half_width = math.sqrt(max(0.0, reach**2 - (row_offset * row_step) ** 2))
        shift = 0.0 if grid.shape is GridShape.SQUARE else ((parity + row_offset) % 2 - parity) * 0.5
        first, last = math.ceil(-half_width - shift), math.floor(half_width - shift)
        if first <= last:
            runs[parity].append((row_offset, first, last))
    return runs


def stencil_sums(
    grid: Grid, values: NDArray[np.float64], runs: dict[int, list[tuple[int, int, int]]]
) -> NDArray[np.float64]:
    """Sum `values` over every cell's stencil of runs, from row-wise prefix sums."""
    table = values.reshape(grid.rows, grid.columns)
    prefix = np.zeros((grid.rows, grid.columns + 1), dtype=np.float64)
    np.cumsum(table, axis=1, out=prefix[:, 1:])
    totals = np.zeros_like(table)
    columns = np.arange(grid.columns)
    for parity, parity_runs in runs.items():
        for row_offset, first, last in parity_runs:
            start = max(0, -row_offset)
            start += (start - parity) % 2
            stop = grid.rows - max(0, row_offset)
            if start >= stop:
                continue
            source = prefix[start + row_offset : stop + row_offset : 2]
            upper = np.clip(columns + last + 1, 0, grid.columns)
            lower = np.clip(columns + first, 0, grid.columns)
            totals[start:stop:2] += source[:, upper] - source[:, lower]
    return totals.ravel()


def neighbour_weights(
    grid: Grid, neighbourhood: Neighbourhood, *, within: ArrayLike | None = None
) -> sparse.csr_array:
    """The binary neighbour matrix over the analysed cells (in id order), each cell its own neighbour."""
    active = analysed_cells(grid, within)
    _validate_neighbourhood(grid, neighbourhood, active.size)
    centres = cell_centroids(grid)[active]
    if isinstance(neighbourhood, DistanceBand):
        rows, columns = _band_pairs(centres, neighbourhood.metres)
    else:
        rows, columns = _nearest_pairs(cKDTree(centres), centres, neighbourhood.k)
    data = np.ones(rows.size, dtype=np.float64)
    return sparse.csr_array((data, (rows, columns)), shape=(active.size, active.size))


def _band_pairs(centres: NDArray[np.float64], metres: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(cell, neighbour) index pairs within the band, both ways round, each cell with itself."""
    pairs = cKDTree(centres).query_pairs(metres * (1 + BAND_TOLERANCE), output_type="ndarray")
    itself = np.arange(len(centres), dtype=np.int64)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], itself])
    return rows, np.concatenate([pairs[:, 1], pairs[:, 0], itself])


def _nearest_pairs(
    tree: cKDTree, points: NDArray[np.float64], k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(point, neighbour) pairs: each point's cell, its k nearest and all cells tied with the k-th."""
    n = tree.n
    asked = min(n, 2 * k + 9)
    while True:
        distances, indices = tree.query(points, k=asked)
        cutoff = distances[:, k] * (1 + BAND_TOLERANCE)
        if asked == n or bool((distances[:, -1] > cutoff).all()):
            break
        asked = min(n, 2 * asked)
    keep = distances <= cutoff[:, None]
    rows = np.broadcast_to(np.arange(len(points), dtype=np.int64)[:, None], keep.shape)
    return rows[keep], indices[keep].astype(np.int64)


def gi_star_z(
    values: NDArray[np.float64], lag: NDArray[np.float64], cardinality: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Standardised Gi* from each cell's neighbourhood sum and size (0 where undefined)."""
    n = values.size
    mean = float(values.mean())
    spread = math.sqrt(float(np.mean((values - mean) ** 2)))
    z = np.zeros(n, dtype=np.float64)
    if n < 2 or spread <= 1e-12 * float(np.abs(values).max()):
        return z
    size = cardinality.astype(np.float64)
    scale = spread * np.sqrt(size * (n - size) / (n - 1))
    defined = scale > 0
    z[defined] = (lag[defined] - mean * size[defined]) / scale[defined]
    return z


def two_sided_p(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two-sided p-values of standard normal z-scores."""
    return np.asarray(2.0 * special.ndtr(-np.abs(z)), dtype=np.float64)


def benjamini_hochberg(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values."""
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted


def confidence_bins(z: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.int8]:
    """ArcGIS confidence bins: +/-3, 2, 1 at 99, 95, 90 per cent, signed by z; 0 otherwise."""
    level = np.zeros(z.size, dtype=np.int8)
    for value, alpha in CONFIDENCE_LEVELS:
        level[p <= alpha] = value
    return (np.sign(z).astype(np.int8) * level).astype(np.int8)


def permutation_p(
    values: NDArray[np.float64],
    lag: NDArray[np.float64],
    cardinality: NDArray[np.int64],
    *,
    permutations: int,
    seed: int | None,
) -> NDArray[np.float64]:
    """Folded pseudo p-values from conditional permutation (module docstring)."""
    others = cardinality - 1
    observed = lag - values
    p = np.ones(values.size, dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0 or others.max() < 1:
        return p
    draws = _random_prefixes(np.random.default_rng(seed), values.size, int(others.max()) + 1, permutations)
    sums = np.zeros((permutations, draws.shape[1] + 1), dtype=np.float64)
    np.cumsum(values[draws], axis=1, out=sums[:, 1:])
    larger = _draws_at_least(sums, others, observed) + _self_draw_corrections(
        draws, sums, values, others, observed
    )
    p[:] = (np.minimum(larger, permutations - larger) + 1) / (permutations + 1)
    p[others == 0] = 1.0
    return p


def _random_prefixes(rng: np.random.Generator, n: int, length: int, rows: int) -> NDArray[np.int64]:
    """The first `length` cells of `rows` independent uniformly random orderings of n cells."""
    if length * length > n:
        chunk = max(1, PERMUTATION_CHUNK // n)
        blocks = [
            rng.permuted(np.tile(np.arange(n), (min(chunk, rows - start), 1)), axis=1)[:, :length]
            for start in range(0, rows, chunk)
        ]
        return np.concatenate(blocks).astype(np.int64)
    # Few repeats are likely, so draw with replacement and redraw any row that repeats a cell:
    # conditioned on having no repeat, a row is a uniform ordered sample without replacement.
    draws = np.empty((rows, length), dtype=np.int64)
    redraw = np.arange(rows)
    while redraw.size:
        draws[redraw] = rng.integers(0, n, size=(redraw.size, length))
        ordered = np.sort(draws[redraw], axis=1)
        redraw = redraw[(ordered[:, 1:] == ordered[:, :-1]).any(axis=1)]
    return draws.astype(np.int64)


def _draws_at_least(
    sums: NDArray[np.float64], others: NDArray[np.int64], observed: NDArray[np.float64]
) -> NDArray[np.int64]:
    """For each cell, how many random prefixes of its size sum to at least its observed sum."""
    permutations = sums.shape[0]
    sizes, group = np.unique(others, return_inverse=True)
    ranked = np.sort(sums[:, sizes], axis=0)
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=sizes.size))])
    counts = np.empty(others.size, dtype=np.int64)
    for index in range(sizes.size):
        members = order[bounds[index] : bounds[index + 1]]
        counts[members] = permutations - np.searchsorted(ranked[:, index], observed[members], side="left")
    return counts


def _self_draw_corrections(
    draws: NDArray[np.int64],
    sums: NDArray[np.float64],
    values: NDArray[np.float64],
    others: NDArray[np.int64],
    observed: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Fix the counts where a cell was drawn among its own neighbours: it swaps for the next draw."""
    drawn_size = others[draws]
    rows, positions = np.nonzero(np.arange(draws.shape[1])[None, :] < drawn_size)
    cells, size = draws[rows, positions], drawn_size[rows, positions]
    counted = sums[rows, size]
    corrected = counted - values[cells] + values[draws[rows, size]]
    change = (corrected >= observed[cells]).astype(np.int64) - (counted >= observed[cells]).astype(np.int64)
    return np.rint(np.bincount(cells, weights=change, minlength=values.size)).astype(np.int64)
