"""The demo borough and the command line."""

import os
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.accounts.models import User
from contexts.demo.service import DemoSize, build_demo, remove_demo_accounts
from tests.conftest import Database, World, web_sign_in

HOME_HEADINGS = {
    Role.PRACTITIONER: "Practitioner home",
    Role.SUPERVISOR: "Supervisor home",
    Role.ANALYST: "Analyst home",
    Role.NEIGHBOURHOOD: "Neighbourhood team home",
    Role.AGENCY_ADMIN: "Agency administrator home",
    Role.SYSTEM_ADMIN: "System administrator home",
}


def test_demo_has_every_role_in_two_agencies_and_loads_once(db_session: Session) -> None:
    first = build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert first.created
    assert first.agencies == 8
    again = build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert not again.created
    users = {user.username: user for user in db_session.scalars(select(User))}
    for name in (
        "demo-practitioner",
        "demo-supervisor",
        "demo-analyst",
        "demo-neighbourhood",
        "demo-agency-admin",
        "demo-admin",
        "demo-practitioner-2",
    ):
        assert users[name].is_demo
    assert users["demo-practitioner"].agency_id != users["demo-practitioner-2"].agency_id
    assert all("(demo" in user.display_name for user in users.values())


def test_demo_sizes_grow(db_session: Session) -> None:
    summary = build_demo(session=db_session, size=DemoSize.MEDIUM, seed=7, password="demo-password-2026")
    assert summary.users == 12 + 60


def test_removing_demo_accounts_disables_them(db_session: Session) -> None:
    build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert remove_demo_accounts(session=db_session) == 12
    active = db_session.scalar(select(func.count()).select_from(User).where(User.is_active.is_(True)))
    assert active == 0


def test_each_role_lands_on_its_home_page(client: TestClient, world: World) -> None:
    for role, heading in HOME_HEADINGS.items():
        web_sign_in(client, world.users[role].username)
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert f"{heading}</h1>" in page.text


def run_cli(database: Database, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the csmap command against a database."""
    env = {**os.environ, "DATABASE_URL": database.app_url, "CSMAP_MIGRATION_DATABASE_URL": database.owner_url}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_creates_agency_and_user(fresh_database: Database) -> None:
    agency = run_cli(
        fresh_database, "create-agency", "--code", "kv-police", "--name", "Police", "--kind", "police"
    )
    assert agency.returncode == 0, agency.stderr
    user = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "Pat.Smith",
        "--display-name",
        "Pat Smith",
        "--agency",
        "kv-police",
        "--role",
        "practitioner",
        "--role",
        "supervisor",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert user.returncode == 0, user.stderr
    engine = create_engine(fresh_database.owner_url)
    with Session(engine) as session:
        created = session.scalars(select(User)).one()
        assert created.username == "pat.smith"
        assert sorted(created.roles) == ["practitioner", "supervisor"]
    engine.dispose()
    again = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "pat.smith",
        "--display-name",
        "Pat",
        "--agency",
        "kv-police",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert again.returncode == 1
    assert "already taken" in again.stderr
    weak = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "weak",
        "--display-name",
        "Weak One",
        "--agency",
        "kv-police",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr


def test_cli_demo_is_idempotent(fresh_database: Database) -> None:
    assert "loaded" in run_cli(fresh_database, "demo").stderr
    assert "nothing changed" in run_cli(fresh_database, "demo").stderr
