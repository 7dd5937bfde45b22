"""Settings refuse unsafe start-ups outside demo mode; the served app tunes the garbage collector."""

import gc

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from app.main import GC_THRESHOLDS, app_factory, create_app
from app.settings import DEFAULT_SECRET_KEY, InsecureSettings, Settings, get_settings
from contexts.accounts.models import User
from tests.conftest import Database, World


def test_default_secret_refused_outside_demo_mode(test_database: Database) -> None:
    settings = Settings(database_url=test_database.app_url, secret_key=DEFAULT_SECRET_KEY, demo_mode=False)
    with pytest.raises(InsecureSettings, match="CSMAP_SECRET_KEY"):
        create_app(settings)


def test_short_secret_refused_outside_demo_mode(test_database: Database) -> None:
    with pytest.raises(InsecureSettings):
        create_app(Settings(database_url=test_database.app_url, secret_key="short", demo_mode=False))


def test_default_secret_allowed_in_demo_mode(test_database: Database) -> None:
    app = create_app(Settings(database_url=test_database.app_url, demo_mode=True))
    assert app.state.settings.demo_mode


def test_settings_read_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://someone@/somewhere")
    monkeypatch.setenv("CSMAP_PROTECTIVE_MARKING", "OFFICIAL")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://someone@/somewhere"
    assert settings.owner_database_url == settings.database_url
    assert settings.protective_marking == "OFFICIAL"


def test_marking_is_configurable(settings: Settings, app_engine: Engine) -> None:
    app = create_app(
        settings.model_copy(update={"protective_marking": "OFFICIAL"}), factory=sessionmaker(app_engine)
    )
    page = TestClient(app).get("/login")
    assert page.text.count(">OFFICIAL<") == 2
    assert "Fictional demo data" not in page.text


def test_demo_banner_in_demo_mode(settings: Settings, app_engine: Engine) -> None:
    app = create_app(settings.model_copy(update={"demo_mode": True}), factory=sessionmaker(app_engine))
    assert "Fictional demo data" in TestClient(app).get("/login").text


def test_refuses_to_start_with_demo_users_outside_demo_mode(
    fresh_database: Database, settings: Settings
) -> None:
    from sqlalchemy import create_engine

    owner = create_engine(fresh_database.owner_url)
    with Session(owner) as session, session.begin():
        from contexts.agencies.models import Agency, AgencyKind

        agency = Agency(code="demo", name="Demo", kind=AgencyKind.POLICE, is_demo=True)
        session.add(agency)
        session.flush()
        session.add(
            User(
                username="demo-x",
                display_name="Demo X",
                agency_id=agency.id,
                roles=["analyst"],
                password_hash="!",
                is_demo=True,
            )
        )
    app_engine = create_engine(fresh_database.app_url)
    app = create_app(
        settings.model_copy(update={"database_url": fresh_database.app_url}), factory=sessionmaker(app_engine)
    )
    with pytest.raises(InsecureSettings, match="Demo accounts"), TestClient(app):
        pass
    with Session(owner) as session, session.begin():
        session.execute(update(User).values(is_active=False))
    with TestClient(app) as started:
        assert started.get("/healthz").status_code == 200
    owner.dispose()
    app_engine.dispose()


def test_world_fixture_is_not_demo(world: World) -> None:
    assert not any(user.is_demo for user in world.users.values())


def test_served_app_freezes_start_up_objects_and_collects_young_objects_less_often(
    test_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", test_database.app_url)
    monkeypatch.setenv("CSMAP_DEMO_MODE", "true")
    monkeypatch.setattr("app.main.configure_logging", lambda _level: None)
    get_settings.cache_clear()
    before = gc.get_threshold()
    try:
        app = app_factory()
        assert app.state.settings.demo_mode
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        get_settings.cache_clear()
