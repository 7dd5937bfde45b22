"""Square and hexagonal grids: every point in exactly one cell, outlines, sizes and refusals."""

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from contexts.errors import InvalidInput
from mapping.hotspots import (
    MAX_CELLS,
    Grid,
    GridShape,
    HotspotInputError,
    assign_cells,
    cell_centroids,
    cell_polygons,
    choose_cell_size,
    count_points,
    grid_for_extent,
)

Extent = tuple[float, float, float, float, float]
Floats = NDArray[np.float64]
SHAPES = st.sampled_from([GridShape.SQUARE, GridShape.HEX])


@st.composite
def extents(draw: st.DrawFn, cells_across: int = 500) -> Extent:
    """A British National Grid extent up to 5 km (and `cells_across` cells) wide; cells of 10 to 500 m."""
    min_x = draw(st.floats(0, 700_000, allow_nan=False))
    min_y = draw(st.floats(0, 1_200_000, allow_nan=False))
    size = draw(st.floats(10, 500))
    longest = min(5_000.0, cells_across * size)
    width, height = draw(st.floats(0, longest)), draw(st.floats(0, longest))
    return min_x, min_y, min_x + width, min_y + height, size


def points_in(extent: Extent, fractions: list[tuple[float, float]]) -> Floats:
    """Points placed at fractions of the extent (0 and 1 land exactly on its edges)."""
    min_x, min_y, max_x, max_y, _ = extent
    f = np.array(fractions, dtype=np.float64).reshape(-1, 2)
    x = np.where(f[:, 0] == 1, max_x, min_x + f[:, 0] * (max_x - min_x))
    y = np.where(f[:, 1] == 1, max_y, min_y + f[:, 1] * (max_y - min_y))
    return np.column_stack([np.minimum(x, max_x), np.minimum(y, max_y)])


def distance_to_assigned_cell(grid: Grid, points: Floats, ids: NDArray[np.int64]) -> Floats:
    """How far each point lies from the closed outline of the cell it was given."""
    polygons = shapely.polygons(cell_polygons(grid, ids))
    return np.asarray(shapely.distance(polygons, shapely.points(points)))


FRACTIONS = st.lists(
    st.tuples(st.sampled_from([0.0, 1.0]) | st.floats(0, 1), st.sampled_from([0.0, 1.0]) | st.floats(0, 1)),
    min_size=1,
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(extent=extents(), shape=SHAPES, fractions=FRACTIONS)
def test_every_point_of_the_extent_falls_in_exactly_one_cell(
    extent: Extent, shape: GridShape, fractions: list[tuple[float, float]]
) -> None:
    grid = grid_for_extent(*extent[:4], cell_size=extent[4], shape=shape)
    points = points_in(extent, fractions)
    ids = assign_cells(grid, points[:, 0], points[:, 1])
    assert (ids >= 0).all()
    assert count_points(grid, points[:, 0], points[:, 1]).sum() == len(points)
    assert distance_to_assigned_cell(grid, points, ids).max() <= 1e-6


@settings(max_examples=60, deadline=None)
@given(extent=extents(), data=st.data())
def test_points_on_square_edges_and_corners_go_to_the_cell_north_east(
    extent: Extent, data: st.DataObject
) -> None:
    grid = grid_for_extent(*extent[:4], cell_size=extent[4], shape=GridShape.SQUARE)
    column = data.draw(st.integers(0, grid.columns))
    row = data.draw(st.integers(0, grid.rows))
    x = grid.origin_x + column * grid.cell_size
    y = grid.origin_y + row * grid.cell_size
    along_edge = grid.origin_x + (column + 0.5) * grid.cell_size
    ids = assign_cells(grid, [x, along_edge, x], [y, y, grid.origin_y + 0.5 * grid.cell_size])
    expected_row, expected_column = min(row, grid.rows - 1), min(column, grid.columns - 1)
    assert ids[0] == expected_row * grid.columns + expected_column
    assert ids[1] == (expected_row * grid.columns + column if column < grid.columns else -1)
    assert ids[2] == expected_column
    assert count_points(grid, [x, x], [y, grid.origin_y]).sum() == 2


def hex_edge_points(grid: Grid) -> Floats:
    """Every hexagon's vertices and edge midpoints: the points where cells meet."""
    rings = cell_polygons(grid)
    midpoints = (rings[:, :-1] + rings[:, 1:]) / 2
    return np.concatenate([rings[:, :-1].reshape(-1, 2), midpoints.reshape(-1, 2)])


@settings(max_examples=100, deadline=None)
@given(extent=extents(cells_across=40))
def test_points_on_hex_edges_and_vertices_fall_in_one_touching_cell(extent: Extent) -> None:
    min_x, min_y, max_x, max_y, size = extent
    grid = grid_for_extent(min_x, min_y, max_x, max_y, cell_size=size, shape=GridShape.HEX)
    points = hex_edge_points(grid)
    inside = (
        (points[:, 0] >= min_x) & (points[:, 0] <= max_x) & (points[:, 1] >= min_y) & (points[:, 1] <= max_y)
    )
    points = points[inside]
    ids = assign_cells(grid, points[:, 0], points[:, 1])
    assert (ids >= 0).all()
    assert count_points(grid, points[:, 0], points[:, 1]).sum() == len(points)
    assert distance_to_assigned_cell(grid, points, ids).max(initial=0.0) <= 1e-6
    reversed_ids = assign_cells(grid, points[::-1, 0], points[::-1, 1])[::-1]
    assert (reversed_ids == ids).all()


def test_a_hex_vertex_goes_to_the_upper_row_and_an_edge_between_neighbours_to_the_east() -> None:
    grid = Grid(GridShape.HEX, 100.0, 0.0, 0.0, columns=4, rows=4)
    centres = cell_centroids(grid)
    rings = cell_polygons(grid, [5])
    top_vertex = rings[0, 2]
    east_edge_middle = (rings[0, 0] + rings[0, 1]) / 2
    ids = assign_cells(grid, [top_vertex[0], east_edge_middle[0]], [top_vertex[1], east_edge_middle[1]])
    assert ids[0] // grid.columns == 2
    assert np.allclose(centres[ids[1]], centres[5] + [100.0, 0.0])


def test_random_points_go_to_the_hexagon_with_the_nearest_centre() -> None:
    grid = grid_for_extent(529_000, 180_000, 533_000, 183_000, cell_size=150, shape=GridShape.HEX)
    rng = np.random.default_rng(7)
    points = rng.uniform([529_000, 180_000], [533_000, 183_000], size=(5_000, 2))
    ids = assign_cells(grid, points[:, 0], points[:, 1])
    nearest = cKDTree(cell_centroids(grid)).query(points)[1]
    assert (ids == nearest).all()


def test_points_on_the_grids_far_edge_belong_to_the_last_cells() -> None:
    grid = grid_for_extent(0, 0, 1_000, 500, cell_size=100, shape=GridShape.SQUARE)
    assert (grid.columns, grid.rows) == (10, 5)
    ids = assign_cells(grid, [1_000, 1_000, 0], [500, 0, 500])
    assert list(ids) == [49, 9, 40]


def test_points_outside_the_grid_are_refused_by_count_and_marked_by_assign() -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    assert list(assign_cells(grid, [-0.5, 1_000.5, 10], [10, 10, 1_200])) == [-1, -1, -1]
    with pytest.raises(HotspotInputError, match="2 point"):
        count_points(grid, [-0.5, 1_000.5, 10], [10, 10, 10])


def test_missing_coordinates_are_refused() -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=GridShape.SQUARE)
    with pytest.raises(HotspotInputError, match="missing or infinite"):
        assign_cells(grid, [1.0, math.nan], [1.0, 2.0])


@pytest.mark.parametrize("size", [9.99, 0.0, -50.0, math.nan, math.inf])
def test_a_cell_size_below_ten_metres_is_refused_naming_the_problem(size: float) -> None:
    with pytest.raises(HotspotInputError, match="at least 10 metres") as raised:
        grid_for_extent(0, 0, 1_000, 1_000, cell_size=size, shape=GridShape.SQUARE)
    assert isinstance(raised.value, InvalidInput)
    assert raised.value.field == "cell_size"


@pytest.mark.parametrize("shape", [GridShape.SQUARE, GridShape.HEX])
def test_a_grid_of_more_than_two_million_cells_is_refused(shape: GridShape) -> None:
    with pytest.raises(HotspotInputError, match="the most is 2,000,000"):
        grid_for_extent(0, 0, 20_000, 20_000, cell_size=10, shape=shape)


def test_the_largest_allowed_grid_is_accepted() -> None:
    grid = grid_for_extent(0, 0, 20_000, 10_000, cell_size=10, shape=GridShape.SQUARE)
    assert grid.n_cells == MAX_CELLS


def test_square_grids_of_one_cell_size_share_their_cell_edges() -> None:
    small = grid_for_extent(530_010, 180_020, 531_000, 181_000, cell_size=250, shape=GridShape.SQUARE)
    large = grid_for_extent(529_900, 179_000, 533_000, 183_000, cell_size=250, shape=GridShape.SQUARE)
    assert (small.origin_x, small.origin_y) == (530_000, 180_000)
    assert (small.origin_x - large.origin_x) % 250 == 0
    assert (small.origin_y - large.origin_y) % 250 == 0


def test_hex_grids_of_one_cell_size_put_a_place_in_the_same_hexagon() -> None:
    small = grid_for_extent(530_010, 180_020, 531_000, 181_000, cell_size=200, shape=GridShape.HEX)
    large = grid_for_extent(528_000, 178_000, 534_000, 184_000, cell_size=200, shape=GridShape.HEX)
    point = ([530_500.0], [180_500.0])
    small_centre = cell_centroids(small)[assign_cells(small, *point)[0]]
    large_centre = cell_centroids(large)[assign_cells(large, *point)[0]]
    assert np.allclose(small_centre, large_centre, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "area", "vertices"), [(GridShape.SQUARE, 1.0, 5), (GridShape.HEX, 3**0.5 / 2, 7)]
)
def test_cell_outlines_are_closed_anticlockwise_rings_around_the_centroids(
    shape: GridShape, area: float, vertices: int
) -> None:
    grid = grid_for_extent(400_000, 300_000, 401_000, 300_800, cell_size=120, shape=shape)
    rings = cell_polygons(grid)
    assert rings.shape == (grid.n_cells, vertices, 2)
    assert np.array_equal(rings[:, 0], rings[:, -1])
    polygons = shapely.polygons(rings)
    assert np.allclose(shapely.area(polygons), area * 120**2)
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
    centroids = shapely.get_coordinates(shapely.centroid(polygons))
    assert np.allclose(centroids, cell_centroids(grid))


@pytest.mark.parametrize("shape", [GridShape.SQUARE, GridShape.HEX])
def test_cell_outlines_tile_the_grid_without_overlap(shape: GridShape) -> None:
    grid = grid_for_extent(0, 0, 1_000, 1_000, cell_size=100, shape=shape)
    polygons = shapely.polygons(cell_polygons(grid))
    union = shapely.union_all(polygons)
    assert math.isclose(union.area, shapely.area(polygons).sum(), rel_tol=1e-9)
    assert shapely.difference(shapely.box(0, 0, 1_000, 1_000), union).area < 1e-6


def test_cell_size_follows_the_spacing_of_the_locations() -> None:
    spacing = np.arange(0, 6_000, 300.0)
    x, y = (a.ravel() for a in np.meshgrid(spacing + 500_000, spacing + 200_000))
    assert choose_cell_size(x, y) == 300
    assert choose_cell_size(np.repeat(x, 3), np.repeat(y, 3)) == 300


def test_cell_size_is_rounded_up_to_a_whole_metre() -> None:
    spacing = np.arange(0, 40) * 123.4
    x, y = (a.ravel() for a in np.meshgrid(spacing, spacing))
    assert choose_cell_size(x, y) == 124


def test_cell_size_stays_within_a_tenth_and_a_hundredth_of_the_extent() -> None:
    assert choose_cell_size([0, 5_000, 10_000], [0, 0, 0]) == 1_000
    dense = np.linspace(0, 20_000, 200_001)
    assert choose_cell_size(dense, np.zeros_like(dense)) == 200


def test_cell_size_is_never_below_ten_metres() -> None:
    assert choose_cell_size([100, 101, 103], [50, 51, 50]) == 10
    assert choose_cell_size([100], [50]) == 10


def test_choosing_a_cell_size_needs_points() -> None:
    with pytest.raises(HotspotInputError, match="no points"):
        choose_cell_size([], [])
