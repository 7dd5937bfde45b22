"""Admission control: at most `limit` requests in progress per worker; the rest wait, none fail."""

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio

from app.middleware import AdmissionMiddleware, Message


def run_alone(main: Callable[[], Awaitable[None]]) -> None:
    """Run an event loop on its own thread (the browser tests' driver may own this thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, main).result()


async def nothing_received() -> Message:
    """A receive channel that is never read."""
    return {"type": "http.disconnect"}


async def discard(message: Message) -> None:
    """A send channel that drops what it is given."""


def test_requests_beyond_the_limit_wait_their_turn_and_all_complete() -> None:
    in_progress = 0
    most = 0
    finished: list[int] = []

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal in_progress, most
        in_progress += 1
        most = max(most, in_progress)
        await anyio.sleep(0.01)
        in_progress -= 1
        finished.append(scope["n"])

    admitted = AdmissionMiddleware(slow_app, limit=3)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(admitted, {"type": "http", "n": n}, nothing_received, discard)

    run_alone(main)
    assert most == 3
    assert sorted(finished) == list(range(12))


def test_lifespan_messages_pass_without_a_slot() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    admitted = AdmissionMiddleware(app, limit=1)

    async def main() -> None:
        with anyio.fail_after(5):  # would wait for ever if lifespan needed the held slot
            async with admitted.slots:
                await admitted({"type": "lifespan"}, nothing_received, discard)

    run_alone(main)
    assert seen == ["lifespan"]


def test_assets_and_the_liveness_check_never_wait_behind_database_requests() -> None:
    started: list[str] = []
    release = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["path"])
        if scope["path"].startswith("/api/"):
            await release.wait()

    admitted = AdmissionMiddleware(app, limit=1)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(admitted, {"type": "http", "path": "/api/slow"}, nothing_received, discard)
            await anyio.sleep(0.01)
            for path in ("/api/queued", "/static/build/csmap.css", "/healthz"):
                group.start_soon(admitted, {"type": "http", "path": path}, nothing_received, discard)
            await anyio.sleep(0.01)
            assert started == ["/api/slow", "/static/build/csmap.css", "/healthz"]
            release.set()

    run_alone(main)
    assert started[-1] == "/api/queued"
