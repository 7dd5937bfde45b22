"""Fixtures: one throwaway PostGIS cluster per run, migrated once, each test rolled back."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import httpx2
import pytest
from alembic import command
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.cli import alembic_config
from app.db import get_session, request_transaction
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from app.main import create_app
from app.settings import Settings
from contexts.access import Role
from contexts.accounts.models import User
from contexts.accounts.passwords import hash_password
from contexts.agencies.models import Agency, AgencyKind

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "csmap_template"
TEST_DB = "csmap_test"
PASSWORD = "correct horse battery"
TEST_SECRET = "test-secret-key-" + "x" * 32
DEMO_PASSWORD = "demo-password-2026"


def free_port() -> int:
    """An unused TCP port on this machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def migrate(cluster: Cluster, database: str, revision: str = "head", *, down: bool = False) -> None:
    """Run the migrations on a database as the owner role."""
    config = alembic_config(cluster.url(OWNER_ROLE, database))
    config.attributes["skip_logging_config"] = True
    config.attributes["app_role"] = APP_ROLE
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A private PostgreSQL + PostGIS cluster that lives for this test run only."""
    root = Path(tempfile.mkdtemp(prefix="csmap-test-"))
    cluster = Cluster(root, free_port())
    cluster.ensure_started()
    cluster.ensure_database(TEMPLATE_DB)
    migrate(cluster, TEMPLATE_DB)
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Database:
    """A database in the test cluster with URLs for both roles."""

    cluster: Cluster
    name: str

    @property
    def app_url(self) -> str:
        """URL as the least-privileged app role."""
        return self.cluster.url(APP_ROLE, self.name)

    @property
    def owner_url(self) -> str:
        """URL as the owner role that migrates."""
        return self.cluster.url(OWNER_ROLE, self.name)


def clone(cluster: Cluster, name: str) -> Database:
    """A fresh, migrated database copied from the template."""
    cluster.clone_database(TEMPLATE_DB, name)
    cluster.ensure_database(name)
    return Database(cluster, name)


@pytest.fixture(scope="session")
def test_database(cluster: Cluster) -> Database:
    """The shared database that transactional tests roll back in."""
    return clone(cluster, TEST_DB)


@pytest.fixture
def fresh_database(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database of this test's own, for tests that must commit or use several connections."""
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    database = clone(cluster, name)
    yield database
    cluster.drop_database(name)


@pytest.fixture(scope="session")
def app_engine(test_database: Database) -> Iterator[Engine]:
    """Engine connected as the app role."""
    engine = create_engine(test_database.app_url)
    yield engine
    engine.dispose()


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture
def db_session(app_engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    with rolled_back_session(app_engine) as session:
        yield session


@pytest.fixture
def settings(test_database: Database) -> Settings:
    """Production-like settings (not demo mode) with a strong test secret."""
    return Settings(database_url=test_database.app_url, secret_key=TEST_SECRET, demo_mode=False)


@pytest.fixture
def app(settings: Settings, db_session: Session, app_engine: Engine) -> FastAPI:
    """The app, with each request's transaction nested in the test's outer transaction."""
    application = create_app(settings, factory=sessionmaker(bind=app_engine))

    async def test_session(request: Request) -> AsyncIterator[Session]:
        async with request_transaction(request, db_session) as session:
            yield session

    application.dependency_overrides[get_session] = test_session
    return application


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """An HTTP client for the app (no lifespan; see test_settings for start-up checks)."""
    return TestClient(app, base_url="http://testserver")


@dataclass
class World:
    """Two agencies with one user of every role in the first and a practitioner in the second."""

    agency: Agency
    other_agency: Agency
    users: dict[Role, User]
    other_practitioner: User
    other_admin: User


def make_agency(session: Session, code: str, kind: AgencyKind = AgencyKind.CHILDRENS_SOCIAL_CARE) -> Agency:
    """Add an agency."""
    agency = Agency(code=code, name=f"Test agency {code}", kind=kind)
    session.add(agency)
    session.flush()
    return agency


@lru_cache(maxsize=1)
def password_hash() -> str:
    """The shared test password's Argon2id hash, computed once (hashing is slow on purpose)."""
    return hash_password(PASSWORD)


def make_user(session: Session, agency: Agency, username: str, *roles: Role) -> User:
    """Add a user with the shared test password."""
    user = User(
        username=username,
        display_name=f"Test {username}",
        agency_id=agency.id,
        roles=[role.value for role in roles],
        password_hash=password_hash(),
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(db_session: Session) -> World:
    """A small partnership to test access rules against."""
    first = make_agency(db_session, "first")
    second = make_agency(db_session, "second", AgencyKind.POLICE)
    users = {
        role: make_user(db_session, first, f"user-{role.value.replace('_', '-')}", role) for role in Role
    }
    other = make_user(db_session, second, "other-practitioner", Role.PRACTITIONER)
    other_admin = make_user(db_session, second, "other-admin", Role.AGENCY_ADMIN)
    db_session.commit()
    return World(first, second, users, other, other_admin)


def api_token(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the API and return the bearer token."""
    response = client.post("/api/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(client: TestClient, username: str) -> dict[str, str]:
    """Authorization headers for a user."""
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def web_sign_in(
    client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx2.Response:
    """Sign in through the web form, as a browser would (fetching the form first)."""
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response: httpx2.Response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )
    return response


@dataclass(frozen=True)
class LiveServer:
    """The app served by uvicorn on loopback, with the fictional demo loaded."""

    url: str
    database: Database


def _log_tail(log: Path) -> str:
    """The end of the server's log, to explain a failure."""
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture(scope="session")
def live_server(cluster: Cluster) -> Iterator[LiveServer]:
    """Run `csmap serve` in a subprocess against a demo database, for browser tests.

    The server logs to a file: a pipe nobody drains would fill and block it.
    """
    database = clone(cluster, "csmap_live")
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
    log = Path(tempfile.mkdtemp(prefix="csmap-live-")) / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*csmap, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine can take a minute to import
        while True:
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
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
        shutil.copyfile(log, Path(tempfile.gettempdir()) / "csmap-last-live-server.log")
        shutil.rmtree(log.parent, ignore_errors=True)
