"""Gi* z-scores and p-values against esda, FDR against scipy, bins, permutations and edge cases."""

import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from esda.getisord import G_Local
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from libpysal.weights import W
from numpy.typing import NDArray
from scipy import stats

from mapping.hotspots import (
    DistanceBand,
    Grid,
    GridShape,
    HotspotInputError,
    Inference,
    NearestNeighbours,
    Neighbourhood,
    benjamini_hochberg,
    cell_centroids,
    confidence_bins,
    gi_star,
    gi_star_with_weights,
    grid_for_extent,
    neighbour_weights,
)

TOLERANCE = 1e-9
Floats = NDArray[np.float64]
Surface = Callable[[Grid, np.random.Generator], Floats]


def libpysal_weights(grid: Grid, neighbourhood: Neighbourhood, within: Floats | None = None) -> W:
    """A libpysal W with exactly the neighbour lists the engine uses."""
    matrix = neighbour_weights(grid, neighbourhood, within=within).tocsr()
    lists = {
        cell: matrix.indices[matrix.indptr[cell] : matrix.indptr[cell + 1]].tolist()
        for cell in range(matrix.shape[0])
    }
    return W(lists, silence_warnings=True)


def esda_gi_star(values: Floats, weights: W, permutations: int = 0, seed: int | None = None) -> G_Local:
    """esda's Gi* with binary weights, self included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(
            values, weights, star=True, transform="B", permutations=permutations, seed=seed, n_jobs=1
        )


def clustered_counts(grid: Grid, rng: np.random.Generator) -> Floats:
    """Poisson counts around two bumps, like concerns gathered at a few places."""
    centres = cell_centroids(grid)
    span = centres.max(axis=0) - centres.min(axis=0) + 1
    bumps = [centres.min(axis=0) + span * [0.3, 0.4], centres.min(axis=0) + span * [0.75, 0.7]]
    rate = 0.3 + sum(
        6 * np.exp(-((centres - bump) ** 2).sum(axis=1) / (0.02 * (span**2).sum())) for bump in bumps
    )
    return np.asarray(rng.poisson(rate), dtype=np.float64)


def poisson_counts(grid: Grid, rng: np.random.Generator) -> Floats:
    """Counts with no spatial pattern."""
    return rng.poisson(1.5, grid.n_cells).astype(np.float64)


GRIDS = [(1_000, 800), (2_000, 1_500), (3_000, 3_000)]
NEIGHBOURHOODS = [DistanceBand(100), DistanceBand(250), NearestNeighbours(5), NearestNeighbours(8)]


@pytest.mark.parametrize("shape", [GridShape.SQUARE, GridShape.HEX])
@pytest.mark.parametrize(("width", "height"), GRIDS)
@pytest.mark.parametrize("surface", [poisson_counts, clustered_counts])
@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS, ids=str)
def test_z_scores_and_p_values_equal_esda(
    shape: GridShape, width: int, height: int, surface: Surface, neighbourhood: Neighbourhood
) -> None:
    grid = grid_for_extent(530_000, 180_000, 530_000 + width, 180_000 + height, cell_size=100, shape=shape)
    values = surface(grid, np.random.default_rng(width + height))
    result = gi_star(grid, values, neighbourhood)
    reference = esda_gi_star(values, libpysal_weights(grid, neighbourhood))
    assert np.abs(result.z - reference.Zs).max() <= TOLERANCE
    assert np.abs(result.p - 2 * reference.p_norm).max() <= TOLERANCE
    assert result.inference is Inference.ANALYTIC
    assert result.permutations == 0


@pytest.mark.parametrize("shape", [GridShape.SQUARE, GridShape.HEX])
@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS, ids=str)
def test_a_study_area_mask_analyses_only_its_cells(shape: GridShape, neighbourhood: Neighbourhood) -> None:
    grid = grid_for_extent(0, 0, 3_000, 2_500, cell_size=100, shape=shape)
    centres = cell_centroids(grid)
    within = np.hypot(*(centres - [1_400, 1_200]).T) < 1_100
    values = clustered_counts(grid, np.random.default_rng(3))
    result = gi_star(grid, values, neighbourhood, within=within)
    reference = esda_gi_star(values[within], libpysal_weights(grid, neighbourhood, within))
    assert list(result.cell_ids) == list(np.flatnonzero(within))
    assert np.abs(result.z - reference.Zs).max() <= TOLERANCE


def test_weights_give_the_same_answer_as_the_grid_stencil() -> None:
    grid = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.HEX)
    values = clustered_counts(grid, np.random.default_rng(5))
    on_grid = gi_star(grid, values, DistanceBand(300))
    with_weights = gi_star_with_weights(values, neighbour_weights(grid, DistanceBand(300)))
    assert np.abs(on_grid.z - with_weights.z).max() <= TOLERANCE
    assert np.array_equal(on_grid.neighbours, with_weights.neighbours)


def test_neighbour_counts_include_the_cell_itself() -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    result = gi_star(grid, np.arange(grid.n_cells), DistanceBand(100))
    assert result.neighbours[0] == 3  # a corner: itself and two edge neighbours
    assert result.neighbours[55] == 5


def test_nearest_neighbours_take_the_whole_ring_tied_at_the_kth_distance() -> None:
    grid = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.SQUARE)
    interior = 10 * grid.columns + 10
    assert gi_star(grid, np.ones(grid.n_cells), NearestNeighbours(4)).neighbours[interior] == 5
    assert gi_star(grid, np.ones(grid.n_cells), NearestNeighbours(5)).neighbours[interior] == 9
    hexes = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.HEX)
    assert gi_star(hexes, np.ones(hexes.n_cells), NearestNeighbours(7)).neighbours.max() == 13


@settings(max_examples=200, deadline=None)
@given(
    p=hnp.arrays(
        np.float64,
        st.integers(1, 300),
        elements=st.sampled_from([0.0, 0.01, 0.04, 0.5, 1.0]) | st.floats(0, 1),
    )
)
def test_benjamini_hochberg_equals_scipy(p: Floats) -> None:
    assert np.abs(benjamini_hochberg(p) - stats.false_discovery_control(p, method="bh")).max() <= 1e-12


def test_confidence_bins_follow_the_arcgis_levels() -> None:
    z = np.array([3.0, 2.2, 1.7, 1.0, -3.0, -2.2, -1.7, 0.0])
    p = np.array([0.005, 0.03, 0.08, 0.3, 0.01, 0.05, 0.1, 1.0])
    assert list(confidence_bins(z, p)) == [3, 2, 1, 0, -3, -2, -1, 0]


def test_fdr_bins_need_the_adjusted_p_value_to_pass_each_level() -> None:
    grid = grid_for_extent(0, 0, 4_000, 4_000, cell_size=100, shape=GridShape.SQUARE)
    values = clustered_counts(grid, np.random.default_rng(11))
    corrected = gi_star(grid, values, DistanceBand(200), fdr=True)
    raw = gi_star(grid, values, DistanceBand(200), fdr=False)
    assert np.array_equal(corrected.bins, confidence_bins(raw.z, raw.p_fdr))
    assert np.array_equal(raw.bins, confidence_bins(raw.z, raw.p))
    assert (np.abs(corrected.bins) <= np.abs(raw.bins)).all()
    assert (np.abs(corrected.bins) < np.abs(raw.bins)).any()


@pytest.mark.parametrize("permutations", [0, 99])
@pytest.mark.parametrize("level", [0.0, 3.0])
def test_an_all_zero_or_constant_surface_has_no_hot_spots(permutations: int, level: float) -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.HEX)
    result = gi_star(grid, np.full(grid.n_cells, level), DistanceBand(200), permutations=permutations, seed=1)
    assert (result.z == 0).all()
    assert (result.p == 1).all()
    assert (result.bins == 0).all()


def test_a_single_concern_marks_its_neighbourhood_as_esda_does() -> None:
    grid = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.SQUARE)
    values = np.zeros(grid.n_cells)
    values[210] = 1
    result = gi_star(grid, values, DistanceBand(100))
    reference = esda_gi_star(values, libpysal_weights(grid, DistanceBand(100)))
    assert np.abs(result.z - reference.Zs).max() <= TOLERANCE
    neighbourhood = [190, 209, 210, 211, 230]
    assert (result.z[neighbourhood] > 0).all()
    assert (np.delete(result.z, neighbourhood) < 0).all()


def test_permutation_p_values_are_reproducible_with_a_seed() -> None:
    grid = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.SQUARE)
    values = clustered_counts(grid, np.random.default_rng(2))
    first = gi_star(grid, values, DistanceBand(250), permutations=199, seed=42)
    again = gi_star(grid, values, DistanceBand(250), permutations=199, seed=42)
    other = gi_star(grid, values, DistanceBand(250), permutations=199, seed=43)
    assert np.array_equal(first.p, again.p)
    assert not np.array_equal(first.p, other.p)
    assert first.inference is Inference.PERMUTATION
    assert (first.permutations, first.seed) == (199, 42)
    assert np.array_equal(first.z, gi_star(grid, values, DistanceBand(250)).z)
    assert set(np.round(first.p * 200).astype(int)) <= set(range(1, 101))


@pytest.mark.parametrize(
    ("shape", "neighbourhood"), [(GridShape.SQUARE, DistanceBand(250)), (GridShape.HEX, NearestNeighbours(8))]
)
def test_permutation_p_values_agree_with_esda(shape: GridShape, neighbourhood: Neighbourhood) -> None:
    grid = grid_for_extent(0, 0, 3_000, 3_000, cell_size=100, shape=shape)
    values = clustered_counts(grid, np.random.default_rng(8))
    result = gi_star(grid, values, neighbourhood, permutations=999, seed=1)
    reference = esda_gi_star(values, libpysal_weights(grid, neighbourhood), permutations=999, seed=2)
    strong = np.abs(result.z) > 4
    assert strong.sum() >= 5
    assert (result.p[strong] <= 0.01).all()
    assert (reference.p_sim[strong] <= 0.01).all()
    assert np.abs(result.p - reference.p_sim).mean() < 0.02
    assert np.corrcoef(result.p, reference.p_sim)[0, 1] > 0.95


def exact_folded_p(values: Floats, neighbour_lists: list[list[int]], cell: int) -> float:
    """The limit of the folded pseudo p-value: every set of other cells enumerated."""
    others = [j for j in range(len(values)) if j != cell]
    size = len(neighbour_lists[cell]) - 1
    observed = values[neighbour_lists[cell]].sum() - values[cell]
    sums = np.array([values[list(chosen)].sum() for chosen in itertools.combinations(others, size)])
    at_least = float((sums >= observed).mean())
    return min(at_least, 1 - at_least)


def test_permutation_p_values_converge_on_the_exact_conditional_distribution() -> None:
    grid = Grid(GridShape.SQUARE, 100.0, 0.0, 0.0, columns=4, rows=4)
    values = np.array([0, 1, 0, 2, 5, 7, 1, 0, 6, 9, 2, 1, 0, 0, 3, 1], dtype=np.float64)
    result = gi_star(grid, values, DistanceBand(100), permutations=9_999, seed=5)
    matrix = neighbour_weights(grid, DistanceBand(100)).tocsr()
    lists = [matrix.indices[matrix.indptr[c] : matrix.indptr[c + 1]].tolist() for c in range(grid.n_cells)]
    exact = np.array([exact_folded_p(values, lists, cell) for cell in range(grid.n_cells)])
    assert np.abs(result.p - exact).max() < 0.02


@pytest.mark.parametrize(
    ("metres", "problem"),
    [
        (99, "shorter than the cell size"),
        (math.nan, "shorter than the cell size"),
        (1e9, "longer than the area"),
    ],
)
def test_a_band_shorter_than_a_cell_or_longer_than_the_area_is_refused(metres: float, problem: str) -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    with pytest.raises(HotspotInputError, match=problem):
        gi_star(grid, np.ones(grid.n_cells), DistanceBand(metres))


@pytest.mark.parametrize("k", [0, 100])
def test_more_nearest_neighbours_than_other_cells_is_refused(k: int) -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    with pytest.raises(HotspotInputError, match="between 1 and 99"):
        gi_star(grid, np.ones(grid.n_cells), NearestNeighbours(k))


@pytest.mark.parametrize("permutations", [-1, 10_000])
def test_the_number_of_permutations_is_bounded(permutations: int) -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    with pytest.raises(HotspotInputError, match="permutations"):
        gi_star(grid, np.ones(grid.n_cells), DistanceBand(200), permutations=permutations)


def test_counts_must_match_the_grid() -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    with pytest.raises(HotspotInputError, match="99 counts for a grid of 100 cells"):
        gi_star(grid, np.ones(99), DistanceBand(200))
    with pytest.raises(HotspotInputError, match="mask has 10 cells"):
        gi_star(grid, np.ones(100), DistanceBand(200), within=np.ones(10, dtype=bool))
