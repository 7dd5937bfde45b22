"""API sign-in: OAuth2 password flow, generic failures, lock-out, disabled users."""

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import issue_token
from app.settings import Settings
from contexts.access import Role
from contexts.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, World, api_token, bearer


def test_token_grants_access_to_me(client: TestClient, world: World) -> None:
    headers = bearer(client, "user-practitioner")
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "user-practitioner"
    assert body["roles"] == ["practitioner"]
    assert body["agency_id"] == world.agency.id


def test_username_is_case_insensitive(client: TestClient, world: World) -> None:
    assert api_token(client, "User-Practitioner")


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, world: World, db_session: Session
) -> None:
    wrong = client.post("/api/token", data={"username": "user-analyst", "password": "not the password"})
    unknown = client.post("/api/token", data={"username": "nobody-here", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "authentication_failed"
    assert "password is not right" in wrong.json()["detail"]
    assert wrong.headers["www-authenticate"] == "Bearer"
    failures = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.SIGN_IN_FAILED).order_by(AuditEvent.id)
    ).all()
    assert [event.actor_username for event in failures] == ["user-analyst", None]


def test_account_locks_after_repeated_failures(
    client: TestClient, world: World, settings: Settings, db_session: Session
) -> None:
    for _ in range(settings.lockout_threshold - 1):
        assert (
            client.post("/api/token", data={"username": "user-analyst", "password": "wrong"}).status_code
            == 401
        )
    locked = client.post("/api/token", data={"username": "user-analyst", "password": "wrong"})
    assert locked.status_code == 423
    assert "locked" in locked.json()["detail"]
    right_but_locked = client.post("/api/token", data={"username": "user-analyst", "password": PASSWORD})
    assert right_but_locked.status_code == 423
    user = world.users[Role.ANALYST]
    db_session.refresh(user)
    assert user.locked_until is not None


def test_disabled_users_token_stops_working_at_once(
    client: TestClient, world: World, db_session: Session
) -> None:
    headers = bearer(client, "user-practitioner")
    assert client.get("/api/me", headers=headers).status_code == 200
    admin = bearer(client, "user-agency-admin")
    target = world.users[Role.PRACTITIONER].id
    assert client.patch(f"/api/users/{target}", json={"is_active": False}, headers=admin).status_code == 200
    refused = client.get("/api/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"


def test_expired_forged_and_missing_tokens_are_refused(
    client: TestClient, world: World, settings: Settings
) -> None:
    user_id = world.users[Role.PRACTITIONER].id
    token, _ = issue_token(settings=settings, user_id=user_id)
    expired = jwt.encode(
        {
            **jwt.decode(token, options={"verify_signature": False}),
            "exp": datetime.now(UTC) - timedelta(minutes=1),
        },
        settings.secret_key,
        algorithm="HS256",
    )
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged_settings = settings.model_copy(update={"secret_key": "another-secret-" + "y" * 32})
    forged, _ = issue_token(settings=forged_settings, user_id=user_id)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_token_accepted_before_is_refused_once_it_expires_or_its_user_is_disabled(
    client: TestClient, world: World, settings: Settings, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = world.users[Role.PRACTITIONER]
    token, lifetime = issue_token(settings=settings, user_id=user.id)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    issued = time.time()
    with monkeypatch.context() as later:
        later.setattr(time, "time", lambda: issued + lifetime + 1)
        assert client.get("/api/me", headers=headers).status_code == 401
    assert client.get("/api/me", headers=headers).status_code == 200
    user.is_active = False
    db_session.flush()
    assert client.get("/api/me", headers=headers).status_code == 401


def test_token_lifetime_is_reported(client: TestClient, world: World, settings: Settings) -> None:
    response = client.post("/api/token", data={"username": "user-supervisor", "password": PASSWORD})
    assert response.json()["token_type"] == "bearer"
    assert response.json()["expires_in"] == int(timedelta(minutes=settings.token_minutes).total_seconds())
