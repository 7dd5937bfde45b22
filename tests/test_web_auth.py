"""Web sign-in: CSRF, fresh session ids, time-outs, sign-out, and back to where the user was."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth import SESSION_COOKIE
from contexts.accounts.models import WebSession
from contexts.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, World, web_sign_in

HTML = {"Accept": "text/html,application/xhtml+xml"}


def client_with_cookie(client: TestClient, token: str) -> TestClient:
    """A new browser that presents only this session cookie."""
    other = TestClient(client.app)
    other.cookies.set(SESSION_COOKIE, token)
    return other


def test_sign_in_starts_a_new_session_and_redirects_home(client: TestClient, world: World) -> None:
    response = web_sign_in(client, "user-practitioner")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "Practitioner home" in home.text


def test_cookie_is_secure_over_https(app: object, world: World) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    secure_client = TestClient(app, base_url="https://testserver")
    response = web_sign_in(secure_client, "user-practitioner")
    assert "Secure" in response.headers["set-cookie"]
    assert "strict-transport-security" in secure_client.get("/login").headers


def test_session_id_changes_at_sign_in(client: TestClient, world: World) -> None:
    web_sign_in(client, "user-practitioner")
    first = client.cookies[SESSION_COOKIE]
    web_sign_in(client, "user-supervisor")
    second = client.cookies[SESSION_COOKIE]
    assert first != second
    assert client_with_cookie(client, second).get("/", headers=HTML).status_code == 200
    assert client_with_cookie(client, first).get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_sign_in_without_csrf_token_is_refused(client: TestClient, world: World, db_session: Session) -> None:
    response = client.post("/login", data={"username": "user-practitioner", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.text
    assert db_session.scalar(select(WebSession.id)) is None


def test_wrong_password_shows_error_summary_and_keeps_username(client: TestClient, world: World) -> None:
    response = web_sign_in(client, "user-practitioner", password="not it")
    assert response.status_code == 401
    assert "govuk-error-summary" in response.text
    assert "The username or password is not right." in response.text
    assert 'value="user-practitioner"' in response.text


def test_empty_fields_are_named(client: TestClient, world: World) -> None:
    response = web_sign_in(client, "", password="")
    assert response.status_code == 422
    assert "Enter your username" in response.text
    assert "Enter your password" in response.text


def test_missing_session_redirects_to_sign_in_then_back(client: TestClient, world: World) -> None:
    response = client.get("/admin/users?page=1", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Fusers%3Fpage%3D1"
    signed_in = web_sign_in(client, "user-agency-admin", next_path="/admin/users?page=1")
    assert signed_in.headers["location"] == "/admin/users?page=1"


def test_next_never_leaves_the_site(client: TestClient, world: World) -> None:
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        response = web_sign_in(client, "user-practitioner", next_path=target)
        assert response.headers["location"] == "/"


def test_idle_session_times_out(client: TestClient, world: World, db_session: Session) -> None:
    web_sign_in(client, "user-practitioner")
    db_session.execute(
        update(WebSession).values(last_seen_at=WebSession.last_seen_at - timedelta(minutes=31))
    )
    stale = db_session.scalar(select(WebSession.id))
    response = client.get("/", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    web_sign_in(client, "user-supervisor")
    assert stale not in db_session.scalars(select(WebSession.id)).all()


def test_session_ends_after_absolute_lifetime_even_when_active(
    client: TestClient, world: World, db_session: Session
) -> None:
    web_sign_in(client, "user-practitioner")
    db_session.execute(update(WebSession).values(expires_at=WebSession.created_at - timedelta(seconds=1)))
    assert client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_on_the_server(
    client: TestClient, world: World, db_session: Session
) -> None:
    web_sign_in(client, "user-practitioner")
    cookie = client.cookies[SESSION_COOKIE]
    home = client.get("/")
    csrf = home.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?ended=signout"
    assert db_session.scalar(select(WebSession.id)) is None
    assert (
        client_with_cookie(client, cookie).get("/", headers=HTML, follow_redirects=False).status_code == 303
    )
    actions = db_session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == [AuditAction.SIGN_IN, AuditAction.SIGN_OUT]


def test_forms_need_the_session_csrf_token(client: TestClient, world: World, db_session: Session) -> None:
    web_sign_in(client, "user-practitioner")
    response = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 403
    assert db_session.scalar(select(WebSession.id)) is not None
    denied = db_session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.DENIED)).one()
    assert denied.actor_username == "user-practitioner"
    assert denied.object_id == "POST /logout"


def test_cookie_api_calls_need_csrf_header(client: TestClient, world: World) -> None:
    web_sign_in(client, "user-agency-admin")
    target = world.users
    user_id = next(iter(target.values())).id
    refused = client.patch(f"/api/users/{user_id}", json={"display_name": "New Name"})
    assert refused.status_code == 403
    csrf = client.get("/").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    allowed = client.patch(
        f"/api/users/{user_id}", json={"display_name": "New Name"}, headers={"X-CSRF-Token": csrf}
    )
    assert allowed.status_code == 200
