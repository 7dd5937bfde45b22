"""Liveness, and readiness that follows the database down and back up without a restart."""

import shutil
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from app.db import make_engine
from app.localdb import APP_ROLE, Cluster
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET, free_port


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
