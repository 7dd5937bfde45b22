"""Trends in each cell's hot-spot intensity over monthly slices, and emerging hot-spot patterns.

Mann-Kendall trend test (Mann 1945; Kendall 1975), per cell over its series of monthly Gi*
z-scores x_1..x_n, vectorised over cells:

    S = sum_{i<j} sign(x_j - x_i)
    Var(S) = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18      (t: sizes of groups of tied values)
    z = (S - sign(S)) / sqrt(Var(S))                          (continuity correction; optional)
    p = 2 (1 - Phi(|z|))

Without ties and without the continuity correction this is the asymptotic test of Kendall's
tau between the series and time (`scipy.stats.kendalltau(range(n), x, method="asymptotic")`).
A cell whose variance is 0 (fewer than two months, or every month equal) gets z = 0, p = 1.

Emerging hot-spot patterns, after ArcGIS Emerging Hot Spot Analysis, from each cell's monthly
confidence bins (a month is "hot" when its bin is positive, i.e. significant at 90 per cent or
more, "cold" when negative) and the Mann-Kendall trend of its monthly z-scores (significant at
`trend_alpha`, 0.05 by default). "At least 90 per cent" means 10 x hot months >= 9 x months.
- new hot spot: the final month is hot and no earlier month was.
- consecutive hot spot: the final months form one unbroken run of at least two hot months, no
  month before that run was hot, and fewer than 90 per cent of months are hot.
- intensifying hot spot: at least 90 per cent of months hot, the final month included, and a
  significant upward trend in z.
- persistent hot spot: at least 90 per cent of months hot, the final month included, and no
  significant trend.
- diminishing hot spot: at least 90 per cent of months hot, the final month included, and a
  significant downward trend in z.
- sporadic hot spot: the final month is hot, it was hot on and off before (so neither new nor
  consecutive), fewer than 90 per cent of months are hot and no month was cold.
- oscillating hot spot: the final month is hot, fewer than 90 per cent of months are hot, it is
  neither new nor consecutive, and some earlier month was cold.
- historical hot spot: the final month is not hot, but at least 90 per cent of months were.
- the cold-spot patterns mirror these with "cold" for "hot" and the trend reversed (an
  intensifying cold spot has z falling).
- no pattern: none of the above.
Where the definitions overlap, the checks run in the order listed; a pattern whose final month
is significant (hot or cold) wins over a historical pattern of the other sign. Unlike ArcGIS's
space-time cube, each month's Gi* here uses spatial neighbours within that month only.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from mapping.hotspots.grid import Grid, HotspotInputError
from mapping.hotspots.stats import Neighbourhood, analysed_cells, gi_star

TREND_ALPHA = 0.05


class EmergingPattern(StrEnum):
    """The emerging hot- and cold-spot patterns."""

    NO_PATTERN = "no pattern"
    NEW_HOT_SPOT = "new hot spot"
    CONSECUTIVE_HOT_SPOT = "consecutive hot spot"
    INTENSIFYING_HOT_SPOT = "intensifying hot spot"
    PERSISTENT_HOT_SPOT = "persistent hot spot"
    DIMINISHING_HOT_SPOT = "diminishing hot spot"
    SPORADIC_HOT_SPOT = "sporadic hot spot"
    OSCILLATING_HOT_SPOT = "oscillating hot spot"
    HISTORICAL_HOT_SPOT = "historical hot spot"
    NEW_COLD_SPOT = "new cold spot"
    CONSECUTIVE_COLD_SPOT = "consecutive cold spot"
    INTENSIFYING_COLD_SPOT = "intensifying cold spot"
    PERSISTENT_COLD_SPOT = "persistent cold spot"
    DIMINISHING_COLD_SPOT = "diminishing cold spot"
    SPORADIC_COLD_SPOT = "sporadic cold spot"
    OSCILLATING_COLD_SPOT = "oscillating cold spot"
    HISTORICAL_COLD_SPOT = "historical cold spot"


PATTERNS: tuple[EmergingPattern, ...] = tuple(EmergingPattern)
COLD_OFFSET = 8


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall statistic S, its variance, z-score and two-sided p-value for each cell."""

    s: NDArray[np.int64]
    variance: NDArray[np.float64]
    z: NDArray[np.float64]
    p: NDArray[np.float64]


@dataclass(frozen=True)
class EmergingHotSpots:
    """Monthly Gi* and the pattern of each analysed cell; arrays are (months, cells) or (cells,)."""

    cell_ids: NDArray[np.int64]
    z: NDArray[np.float64]
    bins: NDArray[np.int8]
    trend: MannKendall
    codes: NDArray[np.int8]

    def patterns(self) -> list[EmergingPattern]:
        """The pattern of each cell, aligned with `cell_ids`."""
        return pattern_labels(self.codes)


def mann_kendall(series: ArrayLike, *, continuity_correction: bool = True) -> MannKendall:
    """Mann-Kendall trend test down each column of a (months, cells) array."""
    x = _as_series(series)
    months = x.shape[0]
    s = np.zeros(x.shape[1], dtype=np.int64)
    for lag in range(1, months):
        s += np.sign(x[lag:] - x[:-lag]).sum(axis=0).astype(np.int64)
    variance = (months * (months - 1) * (2 * months + 5) - _tie_term(x)) / 18.0
    numerator = (s - np.sign(s)) if continuity_correction else s
    z = np.zeros(x.shape[1], dtype=np.float64)
    positive = variance > 0
    z[positive] = numerator[positive] / np.sqrt(variance[positive])
    p = np.asarray(2.0 * special.ndtr(-np.abs(z)), dtype=np.float64)
    return MannKendall(s, variance, z, p)


def _as_series(series: ArrayLike) -> NDArray[np.float64]:
    """A (months, cells) float array, refusing missing values."""
    x = np.asarray(series, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise HotspotInputError("A trend needs a table of months by cells.")
    if not np.isfinite(x).all():
        raise HotspotInputError("A monthly value is missing or infinite.")
    return x


def _tie_term(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum of t(t-1)(2t+5) over each column's groups of tied values."""
    ordered = np.sort(x, axis=0)
    run = np.ones(x.shape[1], dtype=np.float64)
    total = np.zeros(x.shape[1], dtype=np.float64)
    for month in range(1, x.shape[0]):
        same = ordered[month] == ordered[month - 1]
        total += np.where(same, 0.0, run * (run - 1) * (2 * run + 5))
        run = np.where(same, run + 1, 1.0)
    return total + run * (run - 1) * (2 * run + 5)


def emerging_codes(
    bins: ArrayLike, trend: MannKendall, *, trend_alpha: float = TREND_ALPHA
) -> NDArray[np.int8]:
    """Each cell's pattern as an index into PATTERNS, from (months, cells) bins and the z trend."""
    table = np.asarray(bins, dtype=np.int8)
    table = table[:, None] if table.ndim == 1 else table
    hot, cold = table > 0, table < 0
    rising = (trend.p <= trend_alpha) & (trend.s > 0)
    falling = (trend.p <= trend_alpha) & (trend.s < 0)
    hot_codes = _one_sided_codes(hot, cold, rising, falling)
    cold_codes = _one_sided_codes(cold, hot, falling, rising)
    cold_codes = np.where(cold_codes > 0, cold_codes + COLD_OFFSET, 0).astype(np.int8)
    # When the final month is neither, at most one side is historical and the other side is 0.
    neither = hot_codes + cold_codes
    return np.where(hot[-1], hot_codes, np.where(cold[-1], cold_codes, neither)).astype(np.int8)


def _one_sided_codes(
    hot: NDArray[np.bool_], cold: NDArray[np.bool_], rising: NDArray[np.bool_], falling: NDArray[np.bool_]
) -> NDArray[np.int8]:
    """Hot-spot pattern codes (0 for none), written for hot spots and mirrored for cold ones."""
    months, final = hot.shape[0], hot[-1]
    hot_months = hot.sum(axis=0)
    mostly = 10 * hot_months >= 9 * months
    run = _final_run(hot)
    recent = final & ~mostly
    rules = [
        (mostly & ~final, EmergingPattern.HISTORICAL_HOT_SPOT),
        (mostly & final & rising, EmergingPattern.INTENSIFYING_HOT_SPOT),
        (mostly & final & falling, EmergingPattern.DIMINISHING_HOT_SPOT),
        (mostly & final, EmergingPattern.PERSISTENT_HOT_SPOT),
        (final & (hot_months == 1), EmergingPattern.NEW_HOT_SPOT),
        (recent & (run >= 2) & (hot_months == run), EmergingPattern.CONSECUTIVE_HOT_SPOT),
        (recent & cold[:-1].any(axis=0), EmergingPattern.OSCILLATING_HOT_SPOT),
        (recent, EmergingPattern.SPORADIC_HOT_SPOT),
    ]
    codes = np.zeros(hot.shape[1], dtype=np.int8)
    for matches, pattern in reversed(rules):
        codes[matches] = PATTERNS.index(pattern)
    return codes


def _final_run(hot: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Length of each column's unbroken run of hot months ending with the final month."""
    run = np.zeros(hot.shape[1], dtype=np.int64)
    unbroken = np.ones(hot.shape[1], dtype=bool)
    for month in range(hot.shape[0] - 1, -1, -1):
        unbroken &= hot[month]
        run += unbroken
    return run


def pattern_labels(codes: ArrayLike) -> list[EmergingPattern]:
    """Patterns for codes from `emerging_codes`."""
    return [PATTERNS[code] for code in np.asarray(codes, dtype=np.int64).ravel()]


def emerging_hot_spots(
    grid: Grid,
    monthly_counts: ArrayLike,
    neighbourhood: Neighbourhood,
    *,
    within: ArrayLike | None = None,
    fdr: bool = True,
    trend_alpha: float = TREND_ALPHA,
) -> EmergingHotSpots:
    """Gi* for each month of a (months, cells) table of counts, the z trend and each cell's pattern."""
    table = np.asarray(monthly_counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 1:
        raise HotspotInputError("Emerging hot spots need a table of months by cells.")
    months = [gi_star(grid, counts, neighbourhood, within=within, fdr=fdr) for counts in table]
    z = np.stack([month.z for month in months])
    bins = np.stack([month.bins for month in months]).astype(np.int8)
    trend = mann_kendall(z)
    codes = emerging_codes(bins, trend, trend_alpha=trend_alpha)
    return EmergingHotSpots(analysed_cells(grid, within), z, bins, trend, codes)
