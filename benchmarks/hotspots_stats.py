"""Hot-spot statistics: csmap's engine against libpysal + esda on the same generated counts.

python -m benchmarks.hotspots_stats

A 20 km x 20 km borough with clustered Poisson counts. Gi* + Benjamini-Hochberg FDR with a
fixed distance band of three cells (750 m at 250 m cells, 150 m at 50 m cells), then 999
conditional permutations at 6,400 cells. The PySAL pipeline is libpysal's `DistanceBand`
weights, esda's `G_Local(star=True, transform="B")` and scipy's `false_discovery_control`.
"First call" runs in a fresh Python process and times the first analysis after the imports
(the imports are timed apart). Figures are medians (p50) over repeated runs.
"""

import importlib.util
import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from scipy import stats

from mapping.hotspots import DistanceBand, Grid, GridShape, cell_centroids, gi_star, grid_for_extent

BOROUGH = (520_000.0, 170_000.0, 540_000.0, 190_000.0)
LARGE_PYSAL_TIMEOUT = 150.0
PERMUTATIONS = 999
REPEATS = 20


def borough(cell_size: float) -> Grid:
    """The generated borough's square grid."""
    return grid_for_extent(*BOROUGH, cell_size=cell_size, shape=GridShape.SQUARE)


def clustered_counts(grid: Grid) -> NDArray[np.float64]:
    """Poisson counts, higher around a few generated places."""
    rng = np.random.default_rng(2026)
    centres = cell_centroids(grid)
    places = rng.uniform(BOROUGH[:2], BOROUGH[2:], size=(6, 2))
    rate = np.full(grid.n_cells, 0.02 * (grid.cell_size / 50) ** 2)
    for place in places:
        rate += (
            0.5 * (grid.cell_size / 50) ** 2 * np.exp(-((centres - place) ** 2).sum(axis=1) / (2 * 600.0**2))
        )
    return rng.poisson(rate).astype(np.float64)


def p50(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` runs, in milliseconds."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def ours(cell_size: float, band: float, permutations: int = 0) -> Callable[[], object]:
    """csmap's Gi* + FDR on the borough grid."""
    grid = borough(cell_size)
    counts = clustered_counts(grid)
    return lambda: gi_star(grid, counts, DistanceBand(band), permutations=permutations, seed=1)


def pysal_weights(cell_size: float, band: float) -> Any:
    """libpysal's distance-band weights over the cell centres."""
    from libpysal.weights import DistanceBand as PysalBand

    centres = cell_centroids(borough(cell_size))
    return PysalBand(centres, threshold=band * (1 + 1e-9), binary=True, silence_warnings=True)


def pysal_gi_star(weights: Any, counts: NDArray[np.float64], permutations: int = 0) -> Any:
    """esda's Gi* with binary weights (self added), then scipy's BH on two-sided p-values."""
    from esda.getisord import G_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = G_Local(
            counts, weights, star=True, transform="B", permutations=permutations, seed=1, n_jobs=1
        )
    p = result.p_sim if permutations else 2 * result.p_norm
    stats.false_discovery_control(p, method="bh")
    return result


def pysal_pipeline(cell_size: float, band: float, permutations: int = 0) -> Callable[[], object]:
    """Weights, Gi* and FDR the PySAL way, each run building its own weights."""
    counts = clustered_counts(borough(cell_size))
    return lambda: pysal_gi_star(pysal_weights(cell_size, band), counts, permutations)


def largest_z_difference(cell_size: float, band: float) -> float:
    """Largest |z| difference between the two engines (a check that they agree)."""
    counts = clustered_counts(borough(cell_size))
    reference = pysal_gi_star(pysal_weights(cell_size, band), counts)
    return float(np.abs(ours(cell_size, band)().z - reference.Zs).max())  # type: ignore[attr-defined]


def first_call(engine: str, cell_size: float, band: float, permutations: int) -> dict[str, float]:
    """Time the first analysis in this process: what a request right after start-up pays."""
    if engine == "pysal":
        import esda.getisord  # noqa: F401
        import libpysal.weights  # noqa: F401

        run = pysal_pipeline(cell_size, band, permutations)
    else:
        run = ours(cell_size, band, permutations)
    started = time.perf_counter()
    run()
    return {"first_ms": (time.perf_counter() - started) * 1000}


def fresh_first_call(
    engine: str, cell_size: float, band: float, permutations: int
) -> dict[str, float] | None:
    """`first_call` in a new interpreter, with the whole process's wall time (None after the timeout)."""
    command = [sys.executable, "-m", "benchmarks.hotspots_stats", "--first-call", engine]
    command += [str(cell_size), str(band), str(permutations)]
    started = time.perf_counter()
    try:
        answer = subprocess.run(
            command, capture_output=True, text=True, timeout=LARGE_PYSAL_TIMEOUT, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    figures = dict(json.loads(answer.stdout.strip().splitlines()[-1]))
    return figures | {"process_ms": (time.perf_counter() - started) * 1000}


def ms(value: float | None) -> str:
    """A duration for the table."""
    return "skipped" if value is None else f"{value:,.1f} ms"


def analytic_rows(table: Table, console: Console) -> None:
    """Gi* + FDR, analytic p-values, at 6,400 and 160,000 cells."""
    small_pysal = p50(pysal_pipeline(250, 750), 5)
    table.add_row("6,400 cells (250 m), Gi* + FDR, warm", ms(p50(ours(250, 750), REPEATS)), ms(small_pysal))
    weights, counts = pysal_weights(250, 750), clustered_counts(borough(250))
    table.add_row(
        "   PySAL with its weights built beforehand", "", ms(p50(lambda: pysal_gi_star(weights, counts), 5))
    )
    large = fresh_first_call("pysal", 50, 150, 0)
    if large is None:
        console.print(f"PySAL at 160,000 cells took over {LARGE_PYSAL_TIMEOUT:.0f} s: skipped.")
    table.add_row(
        "160,000 cells (50 m), Gi* + FDR, warm (PySAL: one run, fresh process)",
        ms(p50(ours(50, 150), REPEATS)),
        ms(None if large is None else large["first_ms"]),
    )
    table.add_row(
        "160,000 cells (50 m), 500 m band (317 neighbours), warm", ms(p50(ours(50, 500), REPEATS)), ""
    )
    console.print(
        f"Largest |z| difference from esda: {largest_z_difference(250, 750):.1e} (6,400 cells), "
        f"{largest_z_difference(50, 150):.1e} (160,000 cells)"
    )


def permutation_rows(table: Table) -> None:
    """999 permutations at 6,400 cells, first call in a fresh process and warm."""
    ours_first = fresh_first_call("ours", 250, 750, PERMUTATIONS)
    pysal_first = fresh_first_call("pysal", 250, 750, PERMUTATIONS)
    table.add_row(
        f"6,400 cells, {PERMUTATIONS} permutations, first call after start-up",
        ms(None if ours_first is None else ours_first["first_ms"]),
        ms(None if pysal_first is None else pysal_first["first_ms"]),
    )
    table.add_row(
        "   the whole fresh process (start, imports, data, first call)",
        ms(None if ours_first is None else ours_first["process_ms"]),
        ms(None if pysal_first is None else pysal_first["process_ms"]),
    )
    table.add_row(
        f"6,400 cells, {PERMUTATIONS} permutations, warm",
        ms(p50(ours(250, 750, PERMUTATIONS), REPEATS)),
        ms(p50(pysal_pipeline(250, 750, PERMUTATIONS), 3)),
    )


def numba_note() -> str:
    """Whether esda has numba to compile its permutation loop."""
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed, so esda's permutations run its plain-Python fallback."
    return "esda's permutations use numba."


def main() -> None:
    """Print the comparison table."""
    console = Console()
    table = Table(title="Hot-spot statistics: csmap vs libpysal + esda (p50)")
    table.add_column("case")
    table.add_column("csmap", justify="right")
    table.add_column("libpysal + esda", justify="right")
    analytic_rows(table, console)
    permutation_rows(table)
    console.print(table)
    console.print(f"PySAL times include building the weights; esda runs with n_jobs=1. {numba_note()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--first-call"]:
        engine, cell_size, band, permutations = sys.argv[2:6]
        print(json.dumps(first_call(engine, float(cell_size), float(band), int(permutations))))
    else:
        main()
