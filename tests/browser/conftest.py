"""Playwright fixtures: one headless Chromium per run, a fresh context and page per test."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from app.localdb import Cluster
from tests.conftest import LiveServer, clone, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "demo-password-2026"


def _log_tail(log: Path) -> str:
    """The end of the server's log, to explain a failure."""
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture(scope="session")
def live_server(cluster: Cluster) -> Iterator[LiveServer]:
    """Run `csmap serve` against a demo database, logging to a file rather than an undrained pipe.

    This shadows tests/conftest.py's fixture of the same name, whose server writes its access log
    to a stderr pipe that nobody reads: after about 64 KiB of log lines (roughly 15 browser tests)
    the server blocks on write and every later page load times out.
    """
    database = clone(cluster, "csmap_browser")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database.app_url,
        "CSMAP_MIGRATION_DATABASE_URL": database.owner_url,
        "CSMAP_DEMO_MODE": "true",
        "CSMAP_DEMO_PASSWORD": DEMO_PASSWORD,
    }
    csmap = [sys.executable, "-m", "app"]
    subprocess.run([*csmap, "demo", "--size", "small"], env=env, check=True, capture_output=True)
    log = Path(tempfile.mkdtemp(prefix="csmap-browser-")) / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*csmap, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"csmap serve did not start:\n{_log_tail(log)}")
            time.sleep(0.2)
        yield LiveServer(url, database)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.unlink(missing_ok=True)
        log.parent.rmdir()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver for the whole run."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium (Playwright cannot download its own browser here)."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test, based at the live server."""
    browser_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    browser_context.set_default_timeout(15_000)
    yield browser_context
    browser_context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in this test's own browser context."""
    return context.new_page()
