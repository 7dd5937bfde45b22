"""User administration: agency admins manage only their own agency; forms keep input on error."""

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.accounts.models import User
from contexts.accounts.passwords import verify_password
from contexts.audit.models import AuditAction, AuditEvent
from tests.conftest import World, bearer, web_sign_in

HTML = {"Accept": "text/html"}


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms."""
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def new_user(world: World, **changes: object) -> dict[str, object]:
    """A valid new-user payload for the first agency."""
    return {
        "username": "new-worker",
        "display_name": "New Worker",
        "agency_id": world.agency.id,
        "roles": ["practitioner"],
        "password": "a long enough password",
        **changes,
    }


def test_agency_admin_lists_only_own_agency(client: TestClient, world: World) -> None:
    body = client.get("/api/users", headers=bearer(client, "user-agency-admin")).json()
    assert {user["agency_id"] for user in body["items"]} == {world.agency.id}
    assert "other-practitioner" not in {user["username"] for user in body["items"]}


def test_system_admin_lists_every_agency(client: TestClient, world: World) -> None:
    body = client.get("/api/users", headers=bearer(client, "user-system-admin")).json()
    assert {world.agency.id, world.other_agency.id} <= {user["agency_id"] for user in body["items"]}


def test_agency_admin_creates_user_in_own_agency_with_argon2id(
    client: TestClient, world: World, db_session: Session
) -> None:
    response = client.post("/api/users", json=new_user(world), headers=bearer(client, "user-agency-admin"))
    assert response.status_code == 201
    created = db_session.scalars(select(User).where(User.username == "new-worker")).one()
    assert created.password_hash.startswith("$argon2id$")
    assert verify_password("a long enough password", created.password_hash)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.CREATE)).one()
    assert (event.object_type, event.object_id, event.actor_username) == (
        "user_account",
        str(created.id),
        "user-agency-admin",
    )


def test_agency_admin_cannot_create_in_other_agency(
    client: TestClient, world: World, db_session: Session
) -> None:
    payload = new_user(world, agency_id=world.other_agency.id)
    response = client.post("/api/users", json=payload, headers=bearer(client, "user-agency-admin"))
    assert response.status_code == 403
    assert db_session.scalar(select(User.id).where(User.username == "new-worker")) is None
    denied = db_session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.DENIED)).one()
    assert denied.actor_username == "user-agency-admin"


def test_agency_admin_cannot_grant_system_admin(client: TestClient, world: World) -> None:
    payload = new_user(world, roles=["system_admin"])
    assert (
        client.post("/api/users", json=payload, headers=bearer(client, "user-agency-admin")).status_code
        == 403
    )


def test_other_agencys_user_looks_absent(client: TestClient, world: World) -> None:
    headers = bearer(client, "user-agency-admin")
    other = world.other_practitioner.id
    assert client.get(f"/api/users/{other}", headers=headers).status_code == 404
    assert client.patch(f"/api/users/{other}", json={"is_active": False}, headers=headers).status_code == 404


def test_duplicate_username_is_409(client: TestClient, world: World) -> None:
    payload = new_user(world, username="user-analyst")
    response = client.post("/api/users", json=payload, headers=bearer(client, "user-agency-admin"))
    assert response.status_code == 409
    assert "already taken" in response.json()["detail"]


def test_admin_cannot_disable_self(client: TestClient, world: World) -> None:
    admin = world.users[Role.AGENCY_ADMIN]
    response = client.patch(
        f"/api/users/{admin.id}", json={"is_active": False}, headers=bearer(client, admin.username)
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["path"] == "is_active"


def test_unlock_clears_lock(client: TestClient, world: World, db_session: Session) -> None:
    for _ in range(5):
        client.post("/api/token", data={"username": "user-analyst", "password": "wrong"})
    analyst = world.users[Role.ANALYST]
    db_session.refresh(analyst)
    assert analyst.locked_until is not None
    response = client.patch(
        f"/api/users/{analyst.id}", json={"unlock": True}, headers=bearer(client, "user-agency-admin")
    )
    assert response.status_code == 200
    assert response.json()["locked_until"] is None
    assert bearer(client, "user-analyst")


def test_non_admin_roles_are_refused_and_audited(
    client: TestClient, world: World, db_session: Session
) -> None:
    for role in (Role.PRACTITIONER, Role.SUPERVISOR, Role.ANALYST, Role.NEIGHBOURHOOD):
        assert client.get("/api/users", headers=bearer(client, world.users[role].username)).status_code == 403
    denied = db_session.scalar(select(func.count()).where(AuditEvent.action == AuditAction.DENIED))
    assert denied == 4


def test_web_form_shows_errors_and_keeps_values(
    client: TestClient, world: World, db_session: Session
) -> None:
    web_sign_in(client, "user-agency-admin")
    form = client.get("/admin/users/new", headers=HTML)
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": csrf_of(form.text),
            "username": "Bad Name!",
            "display_name": "Keep <b>Me</b>",
            "agency_id": str(world.agency.id),
            "password": "short",
        },
        headers=HTML,
    )
    assert response.status_code == 422
    assert "govuk-error-summary" in response.text
    assert "Use 3 to 64 lower-case letters" in response.text
    assert "Choose at least one role" in response.text
    assert "at least 12 characters" in response.text
    assert 'value="Keep &lt;b&gt;Me&lt;/b&gt;"' in response.text
    assert "<b>Me</b>" not in response.text
    assert (
        db_session.scalar(select(func.count()).select_from(User).where(User.display_name.like("Keep%"))) == 0
    )


def test_empty_web_form_names_each_field(client: TestClient, world: World) -> None:
    web_sign_in(client, "user-agency-admin")
    form = client.get("/admin/users/new", headers=HTML)
    response = client.post("/admin/users/new", data={"csrf_token": csrf_of(form.text)}, headers=HTML)
    assert response.status_code == 422
    for message in (
        "Enter a username",
        "Enter the person&#39;s full name",
        "Choose an agency",
        "Choose at least one role",
    ):
        assert message in response.text


def test_web_form_creates_user(client: TestClient, world: World, db_session: Session) -> None:
    web_sign_in(client, "user-agency-admin")
    form = client.get("/admin/users/new", headers=HTML)
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": csrf_of(form.text),
            "username": "form-made",
            "display_name": "Form Made",
            "agency_id": str(world.agency.id),
            "roles": ["practitioner", "supervisor"],
            "password": "a long enough password",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    user = db_session.scalars(select(User).where(User.username == "form-made")).one()
    assert sorted(user.roles) == ["practitioner", "supervisor"]
    listing = client.get("/admin/users?notice=created", headers=HTML).text
    assert "User added." in listing
    assert "Form Made" in listing


def test_web_edit_disables_user_and_ends_their_sessions(client: TestClient, world: World) -> None:
    victim = TestClient(client.app)
    web_sign_in(victim, "user-practitioner")
    assert victim.get("/", headers=HTML).status_code == 200
    web_sign_in(client, "user-agency-admin")
    target = world.users[Role.PRACTITIONER].id
    form = client.get(f"/admin/users/{target}", headers=HTML)
    response = client.post(
        f"/admin/users/{target}",
        data={
            "csrf_token": csrf_of(form.text),
            "display_name": "Test user-practitioner",
            "roles": ["practitioner"],
            "is_active": "false",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert victim.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_practitioner_gets_403_page_on_admin(client: TestClient, world: World) -> None:
    web_sign_in(client, "user-practitioner")
    response = client.get("/admin/users", headers=HTML)
    assert response.status_code == 403
    assert "You cannot do that" in response.text


def test_audit_page_scoped_to_agency(client: TestClient, world: World) -> None:
    bearer(client, "other-practitioner")
    web_sign_in(client, "user-agency-admin")
    page = client.get("/admin/audit", headers=HTML).text
    assert "user-agency-admin" in page
    assert "other-practitioner" not in page
    events = client.get("/api/audit/events", headers=bearer(client, "user-system-admin")).json()
    assert "other-practitioner" in {event["actor_username"] for event in events}


def test_system_admin_adds_agency_others_cannot(
    client: TestClient, world: World, db_session: Session
) -> None:
    payload = {"code": "kv-youth", "name": "Youth Service", "kind": "youth_service"}
    assert (
        client.post("/api/agencies", json=payload, headers=bearer(client, "user-agency-admin")).status_code
        == 403
    )
    created = client.post("/api/agencies", json=payload, headers=bearer(client, "user-system-admin"))
    assert created.status_code == 201
    assert created.json()["kind"] == "youth_service"
    again = client.post("/api/agencies", json=payload, headers=bearer(client, "user-system-admin"))
    assert again.status_code == 409
    listed = client.get("/api/agencies", headers=bearer(client, "user-analyst")).json()
    assert "kv-youth" in {agency["code"] for agency in listed}
