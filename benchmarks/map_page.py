"""The partner hotspot page in headless Chromium: page weight and paint time on a large data set.

python -m benchmarks.map_page

On a throwaway cluster, benchmarks.hotspots' data builder loads CSMAP_BENCH_CONCERNS synthetic
concerns (default 1,000,000: 60% in 40 clusters of about 300 m, 40% scattered) over the 20 km x
20 km demo borough, dated over twelve whole months; then 300 places and the fictional demo small
areas are added, and a neighbourhood user. `csmap serve` (one worker) serves the app; Debian's
Chromium, driven by Playwright, opens the partner hotspot page for the whole borough
(/maps/hotspots for the twelve months, the page's default 250 m squares) as that user.

Each run opens the page in a fresh browser context (cold cache), then reloads it (warm cache).
Figures are p50 and p95 over CSMAP_BENCH_RUNS runs (default 10) after two warm-up loads:
- weight: bytes over the wire for the page and everything it loads (the Performance API's
  transferSize, headers included), cold and warm; the same bodies gzip-compressed (level 6), as a
  server or proxy compressing responses would send them; and the HTML document alone;
- server: the page's time to first byte (requestStart to responseStart);
- paint: navigation start to first contentful paint, to the first frame painted with the cells
  drawn (the page's `csmap-map-painted` performance mark, set by a message posted from that frame's
  animation-frame callback, so once the frame's paint is done), and to the last row of the table
  beside the map, which is written after the map paints (`csmap-table-written`);
- layers: client time on loopback (httpx2) of the requests the map makes after it is shown: one
  month's slice (/api/hotspots), the places layer, the small-areas layer and the rate per 1,000 young
  people layer (every area's exact count over the map's twelve months).
"""

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, sync_playwright
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from benchmarks.hotspots import FIRST_MONTH, LAST_DAY, Bench, free_port, load, percentiles, prepare
from contexts.accounts.passwords import hash_password
from contexts.demo.borough import BOROUGH_AREA
from mapping.areas.demo import build_demo_areas

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "map-page-bench-password"
USERNAME = "bench-neighbourhood"
PLACES = 300
WARM_UP = 2
PAGE = f"/maps/hotspots?from={FIRST_MONTH:%Y-%m}&to={LAST_DAY:%Y-%m}"
PLACE_TYPES = ("hotel", "taxi_rank", "takeaway", "park", "shop", "car_park")


def add_user_and_places(bench: Bench) -> None:
    """A neighbourhood user with a known password, and places spread over the borough."""
    with bench.owner() as owner:
        owner.execute(
            "INSERT INTO user_account (username, display_name, agency_id, roles, password_hash) "
            "VALUES (%s, 'Bench neighbourhood', %s, '{neighbourhood}', %s)",
            (USERNAME, bench.agencies[0], hash_password(PASSWORD)),
        )
        types = PLACE_TYPES
        area = BOROUGH_AREA
        for number in range(PLACES):
            longitude = (
                area.min_longitude + (area.max_longitude - area.min_longitude) * ((number * 37) % 100) / 100
            )
            latitude = area.min_latitude + (area.max_latitude - area.min_latitude) * ((number * 61) % 97) / 97
            owner.execute(
                "INSERT INTO place (name, place_type, geom, created_by_id) VALUES "
                "(%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)",
                (
                    f"Bench place {number}",
                    types[number % len(types)],
                    longitude,
                    latitude,
                    bench.analyst.user_id,
                ),
            )
    engine = create_engine(bench.cluster.url(OWNER_ROLE, bench.database))
    with Session(engine) as session:
        build_demo_areas(session, 2026)
        session.commit()
    engine.dispose()


@contextmanager
def serving(bench: Bench, workdir: Path) -> Iterator[str]:
    """Run `csmap serve` (one worker) against the benchmark's database; yield its URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": bench.cluster.url(APP_ROLE, bench.database),
        "CSMAP_MIGRATION_DATABASE_URL": bench.cluster.url(OWNER_ROLE, bench.database),
        "CSMAP_DEMO_MODE": "true",
    }
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("csmap serve did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def signed_in_state(browser: Browser, url: str) -> StorageState:
    """Cookies of a signed-in session, to start each cold context with."""
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    state = context.storage_state()
    context.close()
    return state


MEASURE = """() => {
    const navigation = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource');
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const painted = performance.getEntriesByName('csmap-map-painted')[0];
    const table = performance.getEntriesByName('csmap-table-written')[0];
    return {
        transfer: navigation.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        html: navigation.encodedBodySize,
        ttfb: navigation.responseStart - navigation.requestStart,
        fcp: paint ? paint.startTime : null,
        painted: painted ? painted.startTime : null,
        table: table ? table.startTime : null,
        urls: [navigation.name, ...resources.map((r) => r.name)],
        cells: Number(document.querySelector('[data-role="hotspots"]').dataset.drawn),
    };
}"""


def measure(context: BrowserContext, reload: bool = False) -> dict[str, Any]:
    """Open (or reload) the page in a context and read its timings once the cells are painted."""
    page = context.pages[0] if reload else context.new_page()
    if reload:
        page.reload()
    else:
        page.goto(PAGE)
    wait_for_mark(page, "csmap-table-written")
    figures: dict[str, Any] = page.evaluate(MEASURE)
    return figures


def wait_for_mark(page: Page, name: str, seconds: float = 120) -> None:
    """Poll until the page has set a performance mark (the page's own clock times it, not this loop).

    Playwright's wait_for_function would evaluate a string in the page, which its Content-Security-
    Policy forbids; evaluate over the DevTools protocol is not subject to it.
    """
    deadline = time.monotonic() + seconds
    while not page.evaluate("(name) => performance.getEntriesByName(name).length > 0", name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"The page never set the performance mark {name}.")
        time.sleep(0.02)


def gzip_weight(context: BrowserContext, urls: list[str]) -> int:
    """What the page's bodies weigh gzip-compressed."""
    return sum(len(gzip.compress(context.request.get(url).body(), 6)) for url in urls)


@dataclass
class Runs:
    """Figures of every run, by name."""

    values: dict[str, list[float]]

    def add(self, name: str, value: float) -> None:
        """Record one run's figure."""
        self.values.setdefault(name, []).append(value)


def page_runs(browser: Browser, url: str, runs: int) -> tuple[Runs, dict[str, Any]]:
    """Cold and warm loads of the partner page, in fresh contexts."""
    state = signed_in_state(browser, url)
    found = Runs({})
    last: dict[str, Any] = {}
    for run in range(WARM_UP + runs):
        context = browser.new_context(
            base_url=url, storage_state=state, viewport={"width": 1280, "height": 900}
        )
        cold = measure(context)
        warm = measure(context, reload=True)
        if run >= WARM_UP:
            found.add("weight, cold (KB)", cold["transfer"] / 1000)
            found.add("weight, warm (KB)", warm["transfer"] / 1000)
            found.add("HTML document (KB)", cold["html"] / 1000)
            found.add("time to first byte (ms)", cold["ttfb"])
            found.add("first contentful paint, cold (ms)", cold["fcp"])
            found.add("cells painted, cold (ms)", cold["painted"])
            found.add("table written, cold (ms)", cold["table"])
            found.add("cells painted, warm (ms)", warm["painted"])
        if run == WARM_UP + runs - 1:
            last = cold | {"gzip": gzip_weight(context, cold["urls"])}
        context.close()
    return found, last


def layer_runs(url: str, runs: int) -> Runs:
    """Client times of the requests the map makes after it is shown."""
    found = Runs({})
    with httpx2.Client(base_url=url, timeout=120) as client:
        token = client.post("/api/token", data={"username": USERNAME, "password": PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        month = f"{LAST_DAY:%Y-%m}"
        requests: dict[str, Callable[[], httpx2.Response]] = {
            "month slice, /api/hotspots (ms)": lambda: client.get(
                "/api/hotspots",
                params={"cell": "250", "audience": "partner", "trend": "false", "from": month, "to": month},
            ),
            "places layer (ms)": lambda: client.get("/maps/layers/places", params={"audience": "partner"}),
            "small-areas layer (ms)": lambda: client.get("/maps/layers/areas"),
            "rate per 1,000 young people layer, whole window (ms)": lambda: client.get(
                "/maps/layers/areas", params={"rates": "true", "audience": "partner", "cell": "250"}
            ),
        }
        for name, send in requests.items():
            for run in range(WARM_UP + runs):
                started = time.perf_counter()
                send().raise_for_status()
                if run >= WARM_UP:
                    found.add(name, (time.perf_counter() - started) * 1000)
    return found


def report(console: Console, title: str, runs: Runs) -> None:
    """A table of p50 and p95 of each figure."""
    table = Table(title=title)
    for column in ("figure", "p50", "p95"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, values in runs.values.items():
        p50, p95 = percentiles([float(value) for value in values])
        table.add_row(name, f"{p50:,.1f}", f"{p95:,.1f}")
    console.print(table)


def run(cluster: Cluster, console: Console, workdir: Path) -> None:
    """Load the concerns, serve the app and measure the page and its layers."""
    concerns = int(os.environ.get("CSMAP_BENCH_CONCERNS", "1000000"))
    runs = int(os.environ.get("CSMAP_BENCH_RUNS", "10"))
    bench = prepare(cluster, console)
    seconds = load(bench, concerns, console)
    console.print(
        f"{concerns:,} concerns loaded in {seconds:,.0f} s (hotspot aggregate kept by the triggers)."
    )
    add_user_and_places(bench)
    bench.engine.dispose()
    with serving(bench, workdir) as url, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            pages, last = page_runs(browser, url, runs)
        finally:
            browser.close()
        layers = layer_runs(url, runs)
    label = f"{concerns:,} concerns, partner hotspot page, whole borough, 12 months, {runs} runs"
    report(console, label, pages)
    console.print(
        f"Last cold load: {last['cells']:,} cells drawn, {len(last['urls'])} responses, "
        f"{last['transfer'] / 1000:,.1f} KB as sent, {last['gzip'] / 1000:,.1f} KB gzip-compressed."
    )
    report(console, "Requests the map makes when used", layers)
    console.print(f"Load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.")
    console.print(f"Median cold weight {statistics.median(pages.values['weight, cold (KB)']):,.1f} KB.")


def main() -> None:
    """Run the map page benchmark on a throwaway cluster."""
    console = Console(width=None if sys.stdout.isatty() else 140)
    workdir = Path(tempfile.mkdtemp(prefix="csmap-bench-map-page-"))
    cluster = Cluster(workdir, free_port())
    try:
        cluster.ensure_started()
        run(cluster, console, workdir)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
