"""Hotspot maps over PostGIS: csmap's hotspot service against a PySAL pipeline on the same data.

python -m benchmarks.hotspots

On a throwaway cluster: migrate, add two agencies, an analyst and 20,000 young people, then COPY
synthetic concerns (60% in 40 clusters of about 300 m, 40% scattered) over the 20 km x 20 km demo
borough, dated evenly over twelve whole months. The hotspot triggers fire for every COPY statement
(the load time includes keeping the aggregate). For speed of loading only, this throwaway copy of
`concern` drops its foreign keys and secondary indexes first, as the large demo build does.

Timed, per request, in process (no HTTP): `hotspot_map` + `hotspot_geojson` in a new session as
the app role, committed (the audit event included): the server-side work of GET /api/hotspots less
authentication. Figures are p50 (and p95) over CSMAP_BENCH_REQUESTS requests (default 30) after
three warm-up requests; grid geometry is cached per grid in the process, as in the server.

The PySAL pipeline, per request: psycopg fetch of the points in the window (the analyst's
visibility rule), numpy binning on the same grid, libpysal DistanceBand weights over the cell
centres (built per request; also shown with weights built once), esda G_Local(star=True,
transform="B"), scipy's Benjamini-Hochberg, GeoJSON of every cell with json.dumps (coordinates
left in British National Grid, which spares it the reprojection csmap does). Its cell counts are
checked against csmap's.

Environment: CSMAP_BENCH_CONCERNS (default "1000000,10000000": the sizes measured in turn, each
loaded on top of the last), CSMAP_BENCH_REQUESTS (default 30), CSMAP_BENCH_PYSAL_REQUESTS (10).
"""

import json
import math
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from alembic import command
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from scipy import stats
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from contexts.access import Actor, Role
from contexts.audit.service import RequestOrigin
from contexts.demo.borough import BOROUGH_AREA
from contexts.young_people.service import Area
from mapping import registry  # noqa: F401  (every model, so foreign keys resolve)
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.grid import Grid, GridShape, cell_centroids, cell_polygons
from mapping.hotspots.service import (
    Audience,
    HotspotFilters,
    HotspotMap,
    HotspotQuery,
    hotspot_geojson,
    hotspot_map,
)
from mapping.hotspots.stats import DistanceBand, gi_star

FIRST_MONTH, LAST_DAY = date(2025, 12, 1), date(2026, 11, 30)
AREA = Area(-6.5, 49.8, 2.0, 55.9)
POLICY = DisclosurePolicy()
YOUNG_PEOPLE = 20_000
CLUSTERS = 40
STATEMENT_ROWS = 500_000
WARM_UP = 3
REBUILD_UP_TO = 2_000_000
KM_PER_DEGREE = 111.32
CONTEXTS = ("individual", "home", "peer_group", "school", "neighbourhood")
KINDS = ("risk", "harm", "protective")
WINDOW_SQL = """
SELECT ST_X(point_bng), ST_Y(point_bng) FROM concern
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND point_bng IS NOT NULL
  AND (sensitivity <> 'agency_only' OR agency_id = %(agency)s)
"""


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of the samples."""
    if len(samples) < 2:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


def timed(run: Callable[[], object], requests: int) -> list[float]:
    """Milliseconds of each of `requests` runs after a warm-up."""
    for _ in range(WARM_UP):
        run()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@dataclass
class Bench:
    """The database, the analyst and the connections the measurements use."""

    cluster: Cluster
    database: str
    engine: Engine
    analyst: Actor
    agencies: tuple[int, int]
    categories: list[int]
    people: int
    loaded: int = 0

    def owner(self) -> psycopg.Connection[Any]:
        """A new autocommit connection as the owner role."""
        return psycopg.connect(self.cluster.conninfo(OWNER_ROLE, self.database), autocommit=True)


def prepare(cluster: Cluster, console: Console) -> Bench:
    """A migrated database with agencies, an analyst and young people; concern loads fast."""
    database = "hotspots_bench"
    cluster.ensure_database(database)
    config = alembic_config(cluster.url(OWNER_ROLE, database))
    config.attributes["skip_logging_config"] = True
    config.attributes["app_role"] = APP_ROLE
    command.upgrade(config, "head")
    with psycopg.connect(cluster.conninfo(OWNER_ROLE, database), autocommit=True) as owner:
        agencies = (
            add_agency(owner, "bench-police", "police"),
            add_agency(owner, "bench-csc", "childrens_social_care"),
        )
        user = owner.execute(
            "INSERT INTO user_account (username, display_name, agency_id, roles, password_hash) "
            "VALUES ('bench-analyst', 'Bench analyst', %s, '{analyst}', '!') RETURNING id",
            (agencies[0],),
        ).fetchone()
        assert user is not None
        categories = [int(row[0]) for row in owner.execute("SELECT id FROM concern_category").fetchall()]
        add_young_people(owner, agencies)
        relax_concern(owner)
    console.print(f"Migrated; {YOUNG_PEOPLE:,} young people; concern's foreign keys and indexes set aside.")
    analyst = Actor(int(user[0]), "bench-analyst", "Bench analyst", agencies[0], frozenset({Role.ANALYST}))
    engine = create_engine(cluster.url(APP_ROLE, database), pool_size=2)
    return Bench(cluster, database, engine, analyst, agencies, categories, YOUNG_PEOPLE)


def add_agency(owner: psycopg.Connection[Any], code: str, kind: str) -> int:
    """Add an agency; its id."""
    row = owner.execute(
        "INSERT INTO agency (code, name, kind) VALUES (%s, %s, %s) RETURNING id",
        (code, f"Bench {code}", kind),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_young_people(owner: psycopg.Connection[Any], agencies: tuple[int, ...]) -> None:
    """Young people aged 9 to 19 in the window, of every recorded gender."""
    rng = random.Random(7)
    genders = ("female", "male", "non_binary", "not_known", "\\N")
    with (
        owner.cursor() as cursor,
        cursor.copy(
            "COPY young_person (agency_id, given_name, family_name, date_of_birth, gender) FROM STDIN"
        ) as copy,
    ):
        for number in range(YOUNG_PEOPLE):
            born = date(2007, 1, 1) + timedelta(days=rng.randrange(365 * 9))
            copy.write(f"{agencies[number % 2]}\tBench\tPerson {number}\t{born}\t{rng.choice(genders)}\n")


def relax_concern(owner: psycopg.Connection[Any]) -> None:
    """Drop concern's foreign keys and secondary indexes (a throwaway database, loaded by COPY)."""
    keys = owner.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'concern'::regclass AND contype = 'f'"
    ).fetchall()
    for (name,) in keys:
        owner.execute(f'ALTER TABLE concern DROP CONSTRAINT "{name}"')
    indexes = owner.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = 'concern'::regclass "
        "AND NOT i.indisunique AND NOT i.indisprimary"
    ).fetchall()
    for (name,) in indexes:
        owner.execute(f"DROP INDEX {name}")


def concern_rows(bench: Bench, count: int, seed: int) -> Iterator[str]:
    """COPY rows: clustered and scattered points in the borough over the twelve months."""
    rng = np.random.default_rng(seed)
    area = BOROUGH_AREA
    centres = np.column_stack(
        [
            rng.uniform(area.min_longitude + 0.02, area.max_longitude - 0.02, CLUSTERS),
            rng.uniform(area.min_latitude + 0.02, area.max_latitude - 0.02, CLUSTERS),
        ]
    )
    clustered = rng.uniform(size=count) < 0.6
    chosen = centres[rng.integers(0, CLUSTERS, count)]
    spread = rng.normal(0, 0.3, (count, 2)) / KM_PER_DEGREE
    spread[:, 0] /= math.cos(math.radians(52.39))
    longitude = np.where(
        clustered, chosen[:, 0] + spread[:, 0], rng.uniform(area.min_longitude, area.max_longitude, count)
    )
    latitude = np.where(
        clustered, chosen[:, 1] + spread[:, 1], rng.uniform(area.min_latitude, area.max_latitude, count)
    )
    longitude = np.clip(longitude, area.min_longitude, area.max_longitude)
    latitude = np.clip(latitude, area.min_latitude, area.max_latitude)
    seconds = rng.uniform(0, (LAST_DAY - FIRST_MONTH).days * 86_400 + 86_399, count)
    start = datetime.combine(FIRST_MONTH, datetime.min.time(), UTC)
    people = rng.integers(1, bench.people + 1, count)
    contexts, kinds = rng.integers(0, 5, count), rng.integers(0, 3, count)
    categories = np.asarray(bench.categories)[rng.integers(0, len(bench.categories), count)]
    agencies = np.asarray(bench.agencies)[rng.integers(0, 2, count)]
    sensitive = rng.uniform(size=count) < 0.02
    for index in range(count):
        moment = (start + timedelta(seconds=float(seconds[index]))).isoformat()
        yield (
            f"{people[index]}\t{agencies[index]}\t{bench.analyst.user_id}\t{moment}\t{CONTEXTS[contexts[index]]}\t"
            f"{KINDS[kinds[index]]}\t{categories[index]}\tSeen near the shops\t"
            f"SRID=4326;POINT({longitude[index]:.6f} {latitude[index]:.6f})\t"
            f"{'agency_only' if sensitive[index] else 'partnership'}\n"
        )


def load(bench: Bench, count: int, console: Console) -> float:
    """COPY `count` more concerns, the hotspot triggers keeping the aggregate; seconds taken."""
    columns = "young_person_id, agency_id, recorded_by_id, occurred_at, context, kind, category_id, summary"
    started = time.perf_counter()
    rows = concern_rows(bench, count, seed=bench.loaded + 1)
    with bench.owner() as owner:
        done = 0
        while done < count:
            batch = min(STATEMENT_ROWS, count - done)
            with (
                owner.cursor() as cursor,
                cursor.copy(f"COPY concern ({columns}, point, sensitivity) FROM STDIN") as copy,
            ):
                for _ in range(batch):
                    copy.write(next(rows))
            done += batch
            console.print(f"  {bench.loaded + done:,} concerns loaded", style="dim")
        owner.execute("VACUUM (ANALYZE) concern, hotspot_fact, hotspot_cell_count")
    bench.loaded += count
    return time.perf_counter() - started


def rebuild(bench: Bench, size: int) -> str:
    """Seconds to rebuild the aggregate from scratch (up to 2,000,000 concerns: it is slow to repeat)."""
    if bench.loaded != size or size > REBUILD_UP_TO:
        return "-"
    with bench.owner() as owner:
        started = time.perf_counter()
        owner.execute("SELECT hotspot_rebuild()")
        seconds = time.perf_counter() - started
        owner.execute("VACUUM (ANALYZE) hotspot_fact, hotspot_cell_count")
    return ms(seconds)


def query(**changes: Any) -> HotspotQuery:
    """The benchmark's query: analyst, 250 m squares, the twelve months, unless changed."""
    base = HotspotQuery(cell=250.0, start=FIRST_MONTH, end=LAST_DAY)
    return replace(base, **changes)


def request(bench: Bench, asked: HotspotQuery) -> tuple[HotspotMap, bytes]:
    """One map request as the server does it: a session, the map, its GeoJSON, a commit."""
    with Session(bench.engine) as session:
        computed = hotspot_map(
            session=session,
            actor=bench.analyst,
            origin=RequestOrigin(request_id="bench"),
            query=asked,
            policy=POLICY,
            area=AREA,
        )
        body = hotspot_geojson(session=session, hotspot_map=computed, policy=POLICY)
        session.commit()
    return computed, body


@dataclass
class Pysal:
    """The PySAL pipeline's stage times (ms) and result for one request."""

    stages: dict[str, float]
    counts: NDArray[np.int64]


def pysal_request(bench: Bench, grid: Grid, weights: Any = None) -> Pysal:
    """Fetch points, bin, weights, G_Local, FDR and GeoJSON, timing each stage."""
    from esda.getisord import G_Local
    from libpysal.weights import DistanceBand as PysalBand

    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = (now - clock) * 1000
        clock = now

    start = datetime.combine(FIRST_MONTH, datetime.min.time(), UTC)
    end = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), UTC)
    with psycopg.connect(bench.cluster.conninfo(APP_ROLE, bench.database)) as connection:
        rows = connection.execute(WINDOW_SQL, {"start": start, "end": end, "agency": bench.analyst.agency_id})
        points = np.asarray(rows.fetchall(), dtype=np.float64)
    lap("fetch")
    column = np.floor((points[:, 0] - grid.origin_x) / grid.cell_size).astype(np.int64)
    row = np.floor((points[:, 1] - grid.origin_y) / grid.cell_size).astype(np.int64)
    counts = np.bincount(row * grid.columns + column, minlength=grid.n_cells)
    lap("bin")
    if weights is None:
        centres = cell_centroids(grid)
        weights = PysalBand(
            centres, threshold=2 * grid.cell_size * (1 + 1e-9), binary=True, silence_warnings=True
        )
    lap("weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = G_Local(counts.astype(np.float64), weights, star=True, transform="B", permutations=0)
    p = 2 * result.p_norm
    p_fdr = stats.false_discovery_control(p, method="bh")
    lap("G_Local + FDR")
    rings = cell_polygons(grid).tolist()
    features = [
        {
            "type": "Feature",
            "id": cell,
            "geometry": {"type": "Polygon", "coordinates": [rings[cell]]},
            "properties": {
                "count": int(counts[cell]),
                "gi_z": float(result.Zs[cell]),
                "gi_p": float(p[cell]),
                "gi_p_fdr": float(p_fdr[cell]),
            },
        }
        for cell in range(grid.n_cells)
    ]
    json.dumps({"type": "FeatureCollection", "features": features})
    lap("GeoJSON")
    return Pysal(stages, counts)


def ms(value: float) -> str:
    """A duration for a table."""
    return f"{value:,.1f}"


def service_rows(bench: Bench, table: Table, requests: int, label: str) -> float:
    """Our cases at this size; returns the p50 of the headline query."""
    cases = [
        ("250 m squares, Gi* + FDR + trend + GeoJSON", query()),
        ("250 m squares, without the trend", query(trend=False)),
        ("250 m squares, partner audience", query(audience=Audience.PARTNER)),
        ("250 m squares, one filter (context)", query(filters=HotspotFilters(contexts=("neighbourhood",)))),
        (
            "250 m squares, two filters (facts)",
            query(filters=HotspotFilters(contexts=("home",), kinds=("harm",))),
        ),
        ("250 m hexagons (facts, point by point)", query(shape=GridShape.HEX)),
        ("50 m squares, Gi* + FDR + GeoJSON, no trend", query(cell=50.0, trend=False)),
        ("50 m squares, with the trend", query(cell=50.0)),
    ]
    headline = 0.0
    for name, asked in cases:
        rounds = requests if asked.cell != 50.0 else max(5, requests // 3)
        samples = timed(partial(request, bench, asked), rounds)
        computed, body = request(bench, asked)
        p50, p95 = percentiles(samples)
        headline = headline or p50
        plan = computed.plan.describe() if computed.plan else "-"
        cells = computed.grid.n_cells if computed.grid else 0
        table.add_row(f"{label}: {name}", f"{cells:,}", plan, ms(p50), ms(p95), f"{len(body):,}")
    return headline


def engine_rows(bench: Bench, table: Table, requests: int, label: str) -> None:
    """Gi* + FDR alone on the 50 m and 250 m grids of this data."""
    for cell in (250.0, 50.0):
        computed, _ = request(bench, query(cell=cell, trend=False))
        assert computed.grid is not None
        grid, counts = computed.grid, computed.counts
        band = DistanceBand(2 * cell)
        samples = timed(partial(gi_star, grid, counts, band), requests)
        p50, p95 = percentiles(samples)
        table.add_row(
            f"{label}: engine only, Gi* + FDR, {cell:g} m", f"{grid.n_cells:,}", "-", ms(p50), ms(p95), ""
        )


def pysal_rows(bench: Bench, console: Console, requests: int, label: str, ours: float) -> None:
    """The PySAL pipeline at 250 m, with and without building weights per request."""
    computed, _ = request(bench, query())
    assert computed.grid is not None
    grid = computed.grid
    first = pysal_request(bench, grid)
    agrees = "agree" if first.counts.tolist() == computed.counts.tolist() else "DIFFER"
    runs = [pysal_request(bench, grid) for _ in range(requests)]
    from libpysal.weights import DistanceBand as PysalBand

    weights = PysalBand(
        cell_centroids(grid), threshold=2 * grid.cell_size * (1 + 1e-9), binary=True, silence_warnings=True
    )
    cached = [pysal_request(bench, grid, weights) for _ in range(requests)]
    table = Table(title=f"{label}: PySAL pipeline, 250 m squares ({requests} requests; cell counts {agrees})")
    for column in ("stage", "p50 ms (weights per request)", "p50 ms (weights built once)"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    totals = [sum(run.stages.values()) for run in runs]
    cached_totals = [sum(run.stages.values()) for run in cached]
    for stage in runs[0].stages:
        table.add_row(
            stage,
            ms(statistics.median(run.stages[stage] for run in runs)),
            ms(statistics.median(run.stages[stage] for run in cached)),
        )
    table.add_row("total", ms(statistics.median(totals)), ms(statistics.median(cached_totals)))
    table.add_row(
        "csmap is faster by",
        f"{statistics.median(totals) / ours:.1f}x",
        f"{statistics.median(cached_totals) / ours:.1f}x",
    )
    console.print(table)


def run(cluster: Cluster, console: Console) -> None:
    """Load each size in turn and measure."""
    sizes = [int(size) for size in os.environ.get("CSMAP_BENCH_CONCERNS", "1000000,10000000").split(",")]
    requests = int(os.environ.get("CSMAP_BENCH_REQUESTS", "30"))
    pysal_requests = int(os.environ.get("CSMAP_BENCH_PYSAL_REQUESTS", "10"))
    bench = prepare(cluster, console)
    loads = Table(title="Loading concerns by COPY, the hotspot triggers keeping the aggregate")
    for column in ("concerns added", "seconds", "rows/s", "aggregate rebuilt from scratch (s)"):
        loads.add_column(column, justify="right")
    for size in sizes:
        label = f"{size:,} concerns"
        added = size - bench.loaded
        seconds = load(bench, added, console)
        loads.add_row(
            f"{added:,} (to {size:,})", ms(seconds), f"{added / seconds:,.0f}", rebuild(bench, size)
        )
        table = Table(title=f"{label}, 20 km x 20 km, 12 months: csmap hotspot service, in process")
        for column in ("query", "cells", "counts from", "p50 ms", "p95 ms", "bytes"):
            table.add_column(column, justify="right" if column not in ("query", "counts from") else "left")
        headline = service_rows(bench, table, requests, label)
        engine_rows(bench, table, requests, label)
        console.print(table)
        pysal_rows(bench, console, pysal_requests, label, headline)
    console.print(loads)


def main() -> None:
    """Run the hotspot benchmarks on a throwaway cluster."""
    console = Console(width=None if sys.stdout.isatty() else 140)
    workdir = Path(tempfile.mkdtemp(prefix="csmap-bench-hotspots-"))
    cluster = Cluster(workdir, free_port())
    try:
        cluster.ensure_started()
        run(cluster, console)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
