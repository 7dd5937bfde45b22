"""What a practitioner waits for, on the large demo borough (100,000 young people, 2,000,000 concerns).

On a throwaway cluster: migrate, build the large demo (timed), serve the app with `csmap serve` in a
subprocess on a free loopback port, sign in as demo-practitioner through POST /api/token, then measure

1. the designated young person's chronology (2,000 entries) as JSON, against the same rows fetched
   with one plain SQL query through psycopg (the floor), and as the HTML page (grid and table);
2. name search over 100,000 young people (real names, misspellings, prefixes), against the naive
   `ILIKE '%term%'` a user would otherwise write;
3. the linked-by-place list of places several young people are linked to (the API works it out on
   every request);
4. a mixed practitioner load (open a profile, read a chronology, record a concern) with Debian's wrk
   at several connection counts.

Client times are measured on loopback with httpx2; server times are the `duration_ms` of the app's
own JSON access-log lines (matched by X-Request-ID), which the server writes to a file. Nothing is
added to the app. Environment: CSMAP_BENCH_SIZE (default large), CSMAP_BENCH_SECONDS (wrk, default 30),
CSMAP_BENCH_CONNECTIONS (default 8,32,64).
"""

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from contexts.demo.progress import TerminalProgress
from contexts.demo.service import DemoSize, build_demo, designated_young_person_id

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("practitioner_mix.lua")
PASSWORD = "demo-password-2026"
REASON = {"X-Access-Reason": "benchmark"}
REQUESTS = 250
SEARCHES = 250
WARM_UP = 20
FLOOR_SQL = """
SELECT c.id, c.young_person_id, c.agency_id, a.name, u.display_name, c.created_at, c.occurred_at,
       c.occurred_precision, c.context, c.kind, k.code, k.label, c.summary, c.detail, c.place_id,
       ST_X(c.point), ST_Y(c.point), c.source_evaluation, c.intelligence_assessment, c.handling_code,
       c.sensitivity, c.version
FROM concern c
JOIN agency a ON a.id = c.agency_id
JOIN user_account u ON u.id = c.recorded_by_id
JOIN concern_category k ON k.id = c.category_id
WHERE c.young_person_id = %s AND (c.sensitivity <> 'agency_only' OR c.agency_id = %s)
ORDER BY c.occurred_at, c.id
LIMIT 5000
"""
NAIVE_SQL = """
SELECT id, given_name, family_name, preferred_name, date_of_birth, status
FROM young_person
WHERE agency_id = %s AND (given_name || ' ' || family_name) ILIKE %s
ORDER BY family_name, given_name, id
LIMIT 50
"""


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of the samples."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def milliseconds(samples: Sequence[float]) -> list[str]:
    """p50/p95/p99 formatted in ms."""
    return [f"{value:.1f}" for value in percentiles(samples)]


@dataclass
class Server:
    """The app served by `csmap serve`, its log file and a signed-in client."""

    url: str
    log: Path
    client: httpx2.Client
    process: subprocess.Popen[bytes]

    def durations(self) -> dict[str, float]:
        """Server-side duration_ms by request id, from the access log so far."""
        found: dict[str, float] = {}
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"duration_ms"' not in line:
                continue
            entry = json.loads(line)
            found[str(entry["request_id"])] = float(entry["duration_ms"])
        return found

    def timed(self, method: str, path: str, **kwargs: Any) -> tuple[str, float, httpx2.Response]:
        """One request with a fresh request id; client time in ms."""
        request_id = uuid.uuid4().hex
        headers = {**REASON, "X-Request-ID": request_id, **kwargs.pop("headers", {})}
        started = time.perf_counter()
        response = self.client.request(method, path, headers=headers, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return request_id, elapsed, response


@contextmanager
def serving(cluster: Cluster, database: str, workdir: Path) -> Iterator[Server]:
    """Run `csmap serve` as the app role in demo mode; yield a client signed in as demo-practitioner."""
    port = free_port()
    log = workdir / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(APP_ROLE, database),
        "CSMAP_MIGRATION_DATABASE_URL": cluster.url(OWNER_ROLE, database),
        "CSMAP_DEMO_MODE": "true",
        "CSMAP_DEMO_PASSWORD": PASSWORD,
        "CSMAP_TOKEN_MINUTES": "240",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(SERVER_WORKERS)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    client = httpx2.Client(base_url=url, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("csmap serve did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        token = client.post("/api/token", data={"username": "demo-practitioner", "password": PASSWORD})
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield Server(url, log, client, process)
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def prepare(cluster: Cluster, size: DemoSize, console: Console) -> tuple[str, float]:
    """A migrated database with the demo loaded as the owner role; the build time in seconds."""
    database = "practitioner_bench"
    cluster.ensure_database(database)
    config = alembic_config(cluster.url(OWNER_ROLE, database))
    config.attributes["skip_logging_config"] = True
    config.attributes["app_role"] = APP_ROLE
    command.upgrade(config, "head")
    engine = create_engine(cluster.url(OWNER_ROLE, database))
    progress = TerminalProgress(console) if console.is_terminal else None
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        summary = build_demo(session=session, size=size, seed=2026, password=PASSWORD, progress=progress)
    elapsed = time.perf_counter() - started
    engine.dispose()
    console.print(
        f"Demo borough ({size.value}): {summary.young_people:,} young people, {summary.concerns:,} concerns, "
        f"{summary.places:,} places, built and committed in {elapsed:.1f} s"
    )
    # A settled database, as in service: vacuumed (visibility map, hint bits), so that autovacuum
    # working through two million new rows does not run during the measurements.
    started = time.perf_counter()
    with psycopg.connect(cluster.conninfo(OWNER_ROLE, database), autocommit=True) as owner:
        owner.execute("VACUUM (ANALYZE) place, young_person, concern")
    console.print(f"VACUUM (ANALYZE) after the load: {time.perf_counter() - started:.1f} s")
    return database, elapsed


def sample(connection: psycopg.Connection[Any], agency_id: int, rng: random.Random) -> dict[str, Any]:
    """Ids and names from the data, for requests the practitioner is allowed to make."""
    ids = [
        int(row[0])
        for row in connection.execute(
            "SELECT id FROM young_person WHERE agency_id = %s ORDER BY id", (agency_id,)
        ).fetchall()
    ]
    names = connection.execute(
        "SELECT given_name, family_name FROM young_person WHERE agency_id = %s ORDER BY id", (agency_id,)
    ).fetchall()
    return {"ids": ids, "names": [(str(g), str(f)) for g, f in rng.sample(names, min(400, len(names)))]}


def search_terms(names: Sequence[tuple[str, str]], rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Varied searches: full names, family names, misspellings and prefixes, labelled by kind."""
    terms: list[tuple[str, str]] = []
    for index in range(count):
        given, family = names[index % len(names)]
        kind = ("full name", "family name", "misspelt", "prefix")[index % 4]
        if kind == "full name":
            term = f"{given} {family}"
        elif kind == "family name":
            term = family
        elif kind == "misspelt":
            term = _misspell(f"{given} {family}", rng)
        else:
            term = family[: rng.randint(3, 5)]
        terms.append((kind, term))
    return terms


def _misspell(name: str, rng: random.Random) -> str:
    """Drop, double or swap one letter, as people do when typing a name they heard."""
    position = rng.randrange(1, len(name) - 1)
    change = rng.choice(("drop", "double", "swap"))
    if change == "drop":
        return name[:position] + name[position + 1 :]
    if change == "double":
        return name[:position] + name[position] + name[position:]
    return name[:position] + name[position + 1] + name[position] + name[position + 2 :]


def chronology_benchmark(
    server: Server, floor: psycopg.Connection[Any], person_id: int, agency_id: int
) -> Table:
    """The designated young person's chronology: API (client and server time) against the SQL floor."""
    path = f"/api/young-people/{person_id}/chronology"
    for _ in range(WARM_UP):
        server.timed("GET", path, params={"limit": 5000})
    client_ms: list[float] = []
    request_ids: list[str] = []
    entries = size = 0
    for _ in range(REQUESTS):
        request_id, elapsed, response = server.timed("GET", path, params={"limit": 5000})
        client_ms.append(elapsed)
        request_ids.append(request_id)
        entries, size = len(response.json()["items"]), len(response.content)
    time.sleep(0.5)
    logged = server.durations()
    server_ms = [logged[request_id] for request_id in request_ids]
    floor_ms: list[float] = []
    rows = 0
    for round_number in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        rows = len(floor.execute(FLOOR_SQL, (person_id, agency_id)).fetchall())
        if round_number >= WARM_UP:
            floor_ms.append((time.perf_counter() - started) * 1000)
    table = Table(
        title=f"Chronology of the designated young person ({entries:,} entries, {REQUESTS} requests)"
    )
    for column in ("", "p50 ms", "p95 ms", "p99 ms", "rows", "bytes"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "GET .../chronology?limit=5000, server (access log)", *milliseconds(server_ms), f"{entries:,}", ""
    )
    table.add_row(
        "GET .../chronology?limit=5000, client (loopback)",
        *milliseconds(client_ms),
        f"{entries:,}",
        f"{size:,}",
    )
    table.add_row("same rows, one SQL query via psycopg (floor)", *milliseconds(floor_ms), f"{rows:,}", "")
    return table


LINK_REQUESTS = 20


def linked_places_benchmark(server: Server) -> Table:
    """Places where three or more young people are linked in 90 days (GET /api/linked-by-place).

    The API works the list out on every request; home pages keep it for a minute per agency.
    """
    places = 0
    request_ids: list[str] = []
    for run in range(2 + LINK_REQUESTS):
        request_id, _, response = server.timed("GET", "/api/linked-by-place")
        places = len(response.json()["places"])
        if run >= 2:
            request_ids.append(request_id)
    time.sleep(0.5)
    logged = server.durations()
    server_ms = [logged[request_id] for request_id in request_ids]
    table = Table(title=f"Linked by place for demo-practitioner ({LINK_REQUESTS} requests)")
    for column in ("", "p50 ms", "p95 ms", "p99 ms", "places listed"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("GET /api/linked-by-place, server (access log)", *milliseconds(server_ms), f"{places:,}")
    return table


def web_client(server: Server) -> httpx2.Client:
    """A browser-like client signed in through the web form as demo-practitioner, reason given."""
    client = httpx2.Client(base_url=server.url, timeout=60, follow_redirects=True)

    def csrf(page: httpx2.Response) -> str:
        return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    login = {"username": "demo-practitioner", "password": PASSWORD, "next": "/"}
    client.post("/login", data={**login, "csrf_token": csrf(client.get("/login"))}).raise_for_status()
    reason = {"choice": "other", "other": "benchmark", "next": "/"}
    client.post("/reason", data={**reason, "csrf_token": csrf(client.get("/reason"))}).raise_for_status()
    return client


def grid_benchmark(server: Server, person_id: int) -> Table:
    """The chronology page (SVG grid and the same entries as a table) for the designated young person."""
    path = f"/young-people/{person_id}/chronology"
    client_ms: list[float] = []
    request_ids: list[str] = []
    size = 0
    browser = web_client(server)
    try:
        for round_number in range(WARM_UP + REQUESTS):
            request_id = uuid.uuid4().hex
            started = time.perf_counter()
            response = browser.get(path, headers={"X-Request-ID": request_id, "Accept": "text/html"})
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            size = len(response.content)
            if round_number >= WARM_UP:
                client_ms.append(elapsed)
                request_ids.append(request_id)
    finally:
        browser.close()
    time.sleep(0.5)
    logged = server.durations()
    table = Table(
        title=f"Chronology page of the designated young person, grid and table ({REQUESTS} requests)"
    )
    for column in ("", "p50 ms", "p95 ms", "p99 ms", "bytes"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "GET /young-people/{id}/chronology, server", *milliseconds([logged[r] for r in request_ids]), ""
    )
    table.add_row("the same, client (loopback)", *milliseconds(client_ms), f"{size:,}")
    return table


def search_benchmark(
    server: Server, floor: psycopg.Connection[Any], terms: Sequence[tuple[str, str]], agency_id: int
) -> Table:
    """Name search through the API against a naive ILIKE on the same table."""
    for _, term in terms[:WARM_UP]:
        server.timed("GET", "/api/young-people", params={"q": term})
    client_ms: dict[str, list[float]] = {}
    request_ids: dict[str, list[str]] = {}
    hits: dict[str, list[int]] = {}
    naive_ms: dict[str, list[float]] = {}
    naive_hits: dict[str, list[int]] = {}
    for kind, term in terms:
        request_id, elapsed, response = server.timed("GET", "/api/young-people", params={"q": term})
        client_ms.setdefault(kind, []).append(elapsed)
        request_ids.setdefault(kind, []).append(request_id)
        hits.setdefault(kind, []).append(int(response.json()["total"]))
    for _, term in terms[:WARM_UP]:
        floor.execute(NAIVE_SQL, (agency_id, f"%{term}%")).fetchall()
    for kind, term in terms:
        started = time.perf_counter()
        found = floor.execute(NAIVE_SQL, (agency_id, f"%{term}%")).fetchall()
        naive_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        naive_hits.setdefault(kind, []).append(len(found))
    time.sleep(0.5)
    logged = server.durations()
    table = Table(title=f"Name search over the young people demo-practitioner can see ({len(terms)} queries)")
    for column in ("", "queries", "p50 ms", "p95 ms", "p99 ms", "found (median)"):
        table.add_column(column, justify="right" if column else "left")
    every_server = [logged[r] for ids in request_ids.values() for r in ids]
    every_client = [value for values in client_ms.values() for value in values]
    every_naive = [value for values in naive_ms.values() for value in values]
    table.add_row(
        "GET /api/young-people?q=, server (access log)",
        str(len(terms)),
        *milliseconds(every_server),
        str(statistics.median([h for values in hits.values() for h in values])),
    )
    table.add_row(
        "GET /api/young-people?q=, client (loopback)", str(len(terms)), *milliseconds(every_client), ""
    )
    table.add_row(
        "naive ILIKE '%term%' via psycopg",
        str(len(terms)),
        *milliseconds(every_naive),
        str(statistics.median([h for values in naive_hits.values() for h in values])),
    )
    for kind in client_ms:
        server_kind = [logged[r] for r in request_ids[kind]]
        table.add_row(
            f"  {kind}: API server",
            str(len(server_kind)),
            *milliseconds(server_kind),
            str(statistics.median(hits[kind])),
        )
        table.add_row(
            f"  {kind}: naive ILIKE",
            str(len(naive_ms[kind])),
            *milliseconds(naive_ms[kind]),
            str(statistics.median(naive_hits[kind])),
        )
    return table


def wrk_benchmark(server: Server, ids: Sequence[int], workdir: Path, console: Console) -> Table:
    """The mixed practitioner load at several connection counts, with wrk."""
    wrk = shutil.which("wrk")
    seconds = int(os.environ.get("CSMAP_BENCH_SECONDS", "30"))
    connections = [int(c) for c in os.environ.get("CSMAP_BENCH_CONNECTIONS", "8,32,64").split(",")]
    table = Table(
        title=f"Mixed practitioner load, {seconds} s each (45% profile, 40% chronology JSON, 15% new concern)"
    )
    for column in ("connections", "requests/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx", "socket errors"):
        table.add_column(column, justify="right")
    if wrk is None:
        console.print("[yellow]wrk is not installed (scripts/system-deps.sh bench installs it): skipped.[/]")
        return table
    ids_file = workdir / "ids.txt"
    rng = random.Random(7)
    ids_file.write_text("\n".join(str(i) for i in rng.sample(list(ids), min(len(ids), 5000))) + "\n")
    token = str(server.client.headers["Authorization"]).removeprefix("Bearer ")
    for count in connections:
        result = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{count}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA),
                server.url,
                "--",
                str(ids_file),
                token,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(line for line in result.stdout.splitlines() if line.startswith("CSMAP-RESULT "))
        figures = json.loads(line.removeprefix("CSMAP-RESULT "))
        rate = figures["requests"] / (figures["duration_us"] / 1e6)
        sockets = sum(figures[key] for key in ("connect", "read", "write", "timeout"))
        table.add_row(
            str(count),
            f"{rate:,.0f}",
            f"{figures['p50_us'] / 1000:.1f}",
            f"{figures['p90_us'] / 1000:.1f}",
            f"{figures['p99_us'] / 1000:.1f}",
            str(figures["non_2xx"]),
            str(sockets),
        )
    return table


def run(cluster: Cluster, workdir: Path, console: Console, size: DemoSize) -> None:
    """Build, serve and measure; print each table as it is ready."""
    database, _ = prepare(cluster, size, console)
    rng = random.Random(2026)
    engine = create_engine(cluster.url(APP_ROLE, database))
    with Session(engine) as session:
        person_id = designated_young_person_id(session=session)
    engine.dispose()
    if person_id is None:
        raise RuntimeError("The designated young person is missing.")
    with psycopg.connect(cluster.conninfo(APP_ROLE, database), autocommit=True) as floor:
        agency_row = floor.execute("SELECT id FROM agency WHERE code = 'kv-csc'").fetchone()
        assert agency_row is not None
        agency_id = int(agency_row[0])
        data = sample(floor, agency_id, rng)
        terms = search_terms(data["names"], rng, SEARCHES)
        with serving(cluster, database, workdir) as server:
            measure: list[Callable[[], Table]] = [
                lambda: chronology_benchmark(server, floor, person_id, agency_id),
                lambda: grid_benchmark(server, person_id),
                lambda: search_benchmark(server, floor, terms, agency_id),
                lambda: linked_places_benchmark(server),
                lambda: wrk_benchmark(server, data["ids"], workdir, console),
            ]
            for step in measure:
                before = os.getloadavg()[0]
                console.print(step())
                console.print(
                    f"[dim]Load average (1 min) before/after: {before:.1f}/{os.getloadavg()[0]:.1f} "
                    f"on {os.cpu_count()} cores[/]"
                )


SERVER_WORKERS = int(os.environ.get("CSMAP_BENCH_WORKERS", "2"))
"""Worker processes for the served app: one per core on this 2-core machine."""


def main() -> None:
    """Run the practitioner benchmarks on a throwaway cluster."""
    console = Console(width=None if sys.stdout.isatty() else 120)
    size = DemoSize(os.environ.get("CSMAP_BENCH_SIZE", DemoSize.LARGE.value))
    workdir = Path(tempfile.mkdtemp(prefix="csmap-bench-practitioner-"))
    cluster = Cluster(workdir, free_port())
    try:
        cluster.ensure_started()
        run(cluster, workdir, console, size)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
