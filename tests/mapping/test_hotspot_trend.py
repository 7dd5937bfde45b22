"""Mann-Kendall against references, and each emerging hot- and cold-spot pattern."""

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from scipy import stats

from mapping.hotspots import (
    DistanceBand,
    EmergingPattern,
    GridShape,
    HotspotInputError,
    MannKendall,
    emerging_codes,
    emerging_hot_spots,
    grid_for_extent,
    mann_kendall,
    pattern_labels,
)

TOLERANCE = 1e-9


def reference_mann_kendall(
    series: list[float], continuity_correction: bool
) -> tuple[int, float, float, float]:
    """Mann-Kendall written out pair by pair, with the tie-corrected variance."""
    n = len(series)
    s = sum(
        int(math.copysign(1, series[j] - series[i]))
        for i in range(n)
        for j in range(i + 1, n)
        if series[j] != series[i]
    )
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(series).values())
    variance = (n * (n - 1) * (2 * n + 5) - ties) / 18
    if variance == 0:
        return s, variance, 0.0, 1.0
    numerator = s - (1 if s > 0 else -1 if s < 0 else 0) if continuity_correction else s
    z = numerator / math.sqrt(variance)
    return s, variance, z, math.erfc(abs(z) / math.sqrt(2))


@settings(max_examples=150, deadline=None)
@given(
    table=hnp.arrays(np.int64, st.tuples(st.integers(1, 30), st.integers(1, 8)), elements=st.integers(-3, 3)),
    continuity_correction=st.booleans(),
)
def test_mann_kendall_equals_a_pair_by_pair_reference_with_ties(
    table: NDArray[np.int64], continuity_correction: bool
) -> None:
    result = mann_kendall(table, continuity_correction=continuity_correction)
    for cell in range(table.shape[1]):
        s, variance, z, p = reference_mann_kendall(table[:, cell].tolist(), continuity_correction)
        assert result.s[cell] == s
        assert abs(result.variance[cell] - variance) <= TOLERANCE
        assert abs(result.z[cell] - z) <= TOLERANCE
        assert abs(result.p[cell] - p) <= TOLERANCE


def test_mann_kendall_without_ties_equals_kendalls_tau_against_time() -> None:
    series = np.random.default_rng(4).normal(size=(24, 50)) + np.linspace(0, 1.5, 24)[:, None]
    result = mann_kendall(series, continuity_correction=False)
    months = series.shape[0]
    for cell in range(series.shape[1]):
        reference = stats.kendalltau(np.arange(months), series[:, cell], method="asymptotic")
        assert abs(result.s[cell] - reference.statistic * months * (months - 1) / 2) <= TOLERANCE
        assert abs(result.p[cell] - reference.pvalue) <= TOLERANCE


@pytest.mark.parametrize("series", [[2.0] * 12, [1.5]])
def test_a_flat_or_single_month_series_has_no_trend(series: list[float]) -> None:
    result = mann_kendall(series)
    assert (result.z == 0).all()
    assert (result.p == 1).all()


def test_missing_monthly_values_are_refused() -> None:
    with pytest.raises(HotspotInputError, match="missing or infinite"):
        mann_kendall([1.0, math.nan, 2.0])


def pattern(bins: list[int], z: list[float] | None = None) -> EmergingPattern:
    """The pattern for one cell from its monthly bins and (by default, flat) monthly z-scores."""
    trend = mann_kendall(np.array(z if z is not None else [1.0] * len(bins))[:, None])
    return pattern_labels(emerging_codes(np.array(bins)[:, None], trend))[0]


RISING = [float(month) for month in range(12)]
FALLING = RISING[::-1]


@pytest.mark.parametrize(
    ("bins", "z", "expected"),
    [
        ([0] * 11 + [2], None, EmergingPattern.NEW_HOT_SPOT),
        ([0] * 9 + [1, 3, 2], None, EmergingPattern.CONSECUTIVE_HOT_SPOT),
        ([1] + [2] * 10 + [3], RISING, EmergingPattern.INTENSIFYING_HOT_SPOT),
        ([2] * 12, None, EmergingPattern.PERSISTENT_HOT_SPOT),
        ([0] + [2] * 11, [0.0, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3], EmergingPattern.PERSISTENT_HOT_SPOT),
        ([3] * 11 + [1], FALLING, EmergingPattern.DIMINISHING_HOT_SPOT),
        ([0, 2, 0, 1, 0, 0, 3, 0, 0, 0, 2, 1], None, EmergingPattern.SPORADIC_HOT_SPOT),
        ([0, -2, 0, 1, 0, -1, 0, 0, 0, 0, 0, 2], None, EmergingPattern.OSCILLATING_HOT_SPOT),
        ([2] * 11 + [0], None, EmergingPattern.HISTORICAL_HOT_SPOT),
        ([0] * 11 + [-1], None, EmergingPattern.NEW_COLD_SPOT),
        ([0] * 8 + [-1] * 4, None, EmergingPattern.CONSECUTIVE_COLD_SPOT),
        ([-1] * 12, FALLING, EmergingPattern.INTENSIFYING_COLD_SPOT),
        ([-2] * 12, None, EmergingPattern.PERSISTENT_COLD_SPOT),
        ([-3] * 12, RISING, EmergingPattern.DIMINISHING_COLD_SPOT),
        ([-1, 0, 0, -2, 0, 0, 0, -1, 0, 0, 0, -3], None, EmergingPattern.SPORADIC_COLD_SPOT),
        ([0, 3, 0, 0, -1, 0, 0, 0, 0, 0, 0, -2], None, EmergingPattern.OSCILLATING_COLD_SPOT),
        ([-2] * 11 + [0], None, EmergingPattern.HISTORICAL_COLD_SPOT),
        ([0] * 12, None, EmergingPattern.NO_PATTERN),
        ([0, 2, 0, 1, 0, 0, 3, 0, 0, 0, 2, 0], None, EmergingPattern.NO_PATTERN),
    ],
)
def test_each_emerging_pattern_from_a_constructed_series(
    bins: list[int], z: list[float] | None, expected: EmergingPattern
) -> None:
    assert pattern(bins, z) is expected


def test_a_hot_final_run_after_an_earlier_hot_month_is_sporadic_not_consecutive() -> None:
    assert pattern([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2]) is EmergingPattern.SPORADIC_HOT_SPOT


def test_a_final_cold_month_outranks_a_history_of_hot_ones() -> None:
    assert pattern([2] * 11 + [-1]) is EmergingPattern.NEW_COLD_SPOT


def test_ninety_per_cent_hot_months_is_the_line_between_persistent_and_sporadic() -> None:
    assert pattern([0] + [2] * 9) is EmergingPattern.PERSISTENT_HOT_SPOT
    assert pattern([0, 0] + [2] * 8) is EmergingPattern.CONSECUTIVE_HOT_SPOT
    assert pattern([0, 2, 0] + [2] * 7) is EmergingPattern.SPORADIC_HOT_SPOT


def test_patterns_are_classified_for_many_cells_at_once() -> None:
    bins = np.array([[0] * 11 + [2], [2] * 12, [0] * 12]).T
    trend = MannKendall(np.zeros(3, dtype=np.int64), np.ones(3), np.zeros(3), np.ones(3))
    assert pattern_labels(emerging_codes(bins, trend)) == [
        EmergingPattern.NEW_HOT_SPOT,
        EmergingPattern.PERSISTENT_HOT_SPOT,
        EmergingPattern.NO_PATTERN,
    ]


def test_emerging_hot_spots_find_a_cluster_that_appears_in_the_final_months() -> None:
    grid = grid_for_extent(0, 0, 2_000, 2_000, cell_size=100, shape=GridShape.SQUARE)
    rng = np.random.default_rng(9)
    months = rng.poisson(0.5, size=(12, grid.n_cells)).astype(np.float64)
    cluster = [209, 210, 211, 229, 230, 231, 249, 250, 251]
    months[10:, cluster] += 8
    result = emerging_hot_spots(grid, months, DistanceBand(150))
    assert result.z.shape == result.bins.shape == (12, grid.n_cells)
    assert result.patterns()[230] is EmergingPattern.CONSECUTIVE_HOT_SPOT
    assert (result.bins[10:, 230] == 3).all()
    assert Counter(result.patterns())[EmergingPattern.CONSECUTIVE_HOT_SPOT] >= len(cluster)
