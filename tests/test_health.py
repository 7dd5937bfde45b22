"""Liveness, readiness that follows the database down and back up without a restart, and pooled
connections checked only after sitting idle."""

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any, cast

import anyio
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from app import db as app_db
from app import localdb
from app.db import make_engine
from app.localdb import APP_ROLE, Cluster
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET, Database, free_port


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_database_answers(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_follows_database_down_and_back_up() -> None:
    root = Path(tempfile.mkdtemp(prefix="csmap-ready-"))
    cluster = Cluster(root, free_port())
    try:
        cluster.ensure_started()
        cluster.ensure_database("ready")
        url = cluster.url(APP_ROLE, "ready")
        engine = make_engine(url)
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), factory=sessionmaker(engine))
        client = TestClient(app)
        assert client.get("/readyz").status_code == 200
        cluster.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"error": "service_unavailable", "detail": "The database is not reachable."}
        assert client.get("/healthz").status_code == 200
        cluster.ensure_started()
        assert client.get("/readyz").status_code == 200
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _backend_pid(engine: Engine) -> int:
    """The server process of the connection a checkout hands out."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_broken_while_idle_is_replaced_before_use(
    cluster: Cluster, test_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(test_database.app_url, threads=1)
    try:
        first = _backend_pid(engine)
        with psycopg.connect(cluster.conninfo("postgres", "postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        monkeypatch.setattr(app_db, "PING_AFTER_IDLE_SECONDS", 0.0)
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_handed_back_a_moment_ago_is_not_pinged(
    test_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(test_database.app_url, threads=1)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", pings.append)
    try:
        pids = {_backend_pid(engine) for _ in range(5)}
        assert (len(pids), pings) == (1, [])
        monkeypatch.setattr(app_db, "PING_AFTER_IDLE_SECONDS", 0.0)
        _backend_pid(engine)
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_app_connections_speak_utc_whatever_the_zone_they_start_in(
    test_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGTZ", "Europe/London")
    engine = make_engine(test_database.app_url, threads=1)
    try:
        with engine.connect() as connection:
            zone = connection.execute(text("SHOW TimeZone")).scalar_one()
            moment = connection.execute(text("SELECT timestamptz '2026-07-01 12:00:00+01'")).scalar_one()
            raw = connection.connection.driver_connection
            assert raw is not None
            assert raw.autocommit is False
        assert (zone, moment.tzinfo, moment.hour) == ("UTC", UTC, 11)
    finally:
        engine.dispose()


class RecordingSession:
    """Stands in for a Session: notes what the request's end does with it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")

    def close(self) -> None:
        self.calls.append("close")


def test_a_request_cancelled_mid_way_still_rolls_back_and_closes_its_session() -> None:
    session = RecordingSession()
    entered = anyio.Event()

    async def request_that_is_cancelled() -> None:
        async with app_db.request_transaction(cast(Any, None), cast(Any, session), close=True):
            entered.set()
            await anyio.sleep(60)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(request_that_is_cancelled)
            await entered.wait()
            group.cancel_scope.cancel()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, main).result()
    assert session.calls == ["rollback", "close"]


def test_the_local_cluster_sizes_its_buffers_and_wal_for_large_imports(
    test_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    setting = "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
    with psycopg.connect(test_database.cluster.conninfo("postgres", "postgres")) as connection:
        assert connection.execute(setting).fetchone() == (localdb.shared_buffers_mb(),)
        assert connection.execute("SHOW max_wal_size").fetchone() == (localdb.MAX_WAL_SIZE,)
    page = 4096
    for memory_mb, expected in ((256, 128), (4096, 1024), (65536, 2048)):
        pages = memory_mb * 1024 * 1024 // page
        sizes = {"SC_PAGE_SIZE": page, "SC_PHYS_PAGES": pages}
        monkeypatch.setattr(os, "sysconf", sizes.__getitem__)
        assert localdb.shared_buffers_mb() == expected
