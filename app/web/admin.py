"""User administration and audit trail pages."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep
from app.deps import AuditViewer, OriginDep, UserAdmin
from app.templating import render
from contexts.access import ROLE_LABELS, Actor, Role, may_grant, may_manage_agency
from contexts.accounts.models import User
from contexts.accounts.schemas import UserCreate, UserUpdate
from contexts.accounts.service import (
    create_user_as,
    get_user_as,
    list_users,
    now_utc,
    update_user_as,
    view_user_as,
)
from contexts.agencies.service import list_agencies
from contexts.audit.service import recent_events
from contexts.errors import Conflict, InvalidInput

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE_SIZE = 50
FIELD_ORDER = ("username", "display_name", "agency_id", "roles", "password")


def _status(user: User) -> str:
    """A one-word account status."""
    if not user.is_active:
        return "Disabled"
    if user.locked_until is not None and user.locked_until > now_utc():
        return "Locked"
    return "Active"


def _change_link(user_id: int) -> str:
    """The link to a user's change page (only an integer goes into the markup)."""
    return (
        f'<a class="govuk-link" href="/admin/users/{user_id}">Change'
        f'<span class="govuk-visually-hidden"> user {user_id}</span></a>'
    )


@router.get("/users")
def users_page(
    request: Request,
    actor: UserAdmin,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    notice: Annotated[str | None, Query(pattern="^(created|updated)$")] = None,
) -> Response:
    """List the users the administrator manages."""
    users, total = list_users(session=session, actor=actor, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = [
        [
            {"text": user.display_name},
            {"text": user.username},
            {"text": user.agency.name},
            {"text": ", ".join(ROLE_LABELS[role] for role in sorted(user.role_set))},
            {"text": _status(user)},
            {"html": _change_link(user.id)},
        ]
        for user in users
    ]
    pages = max(1, -(-total // PAGE_SIZE))
    pagination = None
    if pages > 1:
        pagination = {
            "previous": {"href": f"?page={page - 1}"} if page > 1 else None,
            "next": {"href": f"?page={page + 1}"} if page < pages else None,
            "items": [{"number": n, "href": f"?page={n}", "current": n == page} for n in range(1, pages + 1)],
        }
    messages = {"created": "User added.", "updated": "User updated."}
    return render(
        request,
        "admin/users.html",
        {
            "active_nav": "users",
            "rows": rows,
            "total": total,
            "pagination": pagination,
            "notice": messages.get(notice or ""),
        },
    )


def _role_items(actor: Actor, checked: list[str]) -> list[dict[str, Any]]:
    """Checkbox items for the roles the actor may grant."""
    return [
        {"value": role.value, "text": ROLE_LABELS[role], "checked": role.value in checked}
        for role in Role
        if may_grant(actor, [role])
    ]


FIELD_MESSAGES = {
    ("username", "missing"): "Enter a username",
    (
        "username",
        "string_pattern_mismatch",
    ): "Use 3 to 64 lower-case letters, digits, dots, dashes or underscores",
    ("display_name", "string_too_short"): "Enter the person's full name",
    ("display_name", "string_too_long"): "Full name must be 200 characters or fewer",
    ("agency_id", "int_parsing"): "Choose an agency",
    ("agency_id", "int_type"): "Choose an agency",
    ("roles", "enum"): "Choose roles from the list",
}


def _errors_from(exc: ValidationError, values: dict[str, Any]) -> dict[str, str]:
    """First message per field from a pydantic error, in the words GOV.UK forms use."""
    messages: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        kind = "missing" if field == "username" and not values.get("username") else error["type"]
        message = FIELD_MESSAGES.get((field, kind)) or str(error["msg"]).removeprefix("Value error, ")
        messages.setdefault(field, message)
    return messages


def _form_page(
    request: Request,
    actor: Actor,
    session: SessionDep,
    *,
    user: User | None,
    values: dict[str, Any],
    field_errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    """Render the add or change user form with the values entered and any errors."""
    agencies = [a for a in list_agencies(session=session) if may_manage_agency(actor, a.id)]
    ordered = sorted(
        field_errors.items(), key=lambda item: FIELD_ORDER.index(item[0]) if item[0] in FIELD_ORDER else 99
    )
    return render(
        request,
        "admin/user_form.html",
        {
            "active_nav": "users",
            "creating": user is None,
            "heading": "Add a user" if user is None else f"Change {user.display_name}",
            "action": "/admin/users/new" if user is None else f"/admin/users/{user.id}",
            "submit_text": "Add user" if user is None else "Save changes",
            "values": values,
            "field_errors": field_errors,
            "errors": [{"text": text, "href": f"#{field}"} for field, text in ordered],
            "agency_items": [
                {"value": a.id, "text": a.name, "selected": str(a.id) == str(values.get("agency_id"))}
                for a in agencies
            ],
            "role_items": _role_items(actor, values.get("roles", [])),
        },
        status_code=status_code,
    )


@router.get("/users/new")
def new_user_form(request: Request, actor: UserAdmin, session: SessionDep) -> Response:
    """Show the add-user form."""
    values = {"username": "", "display_name": "", "agency_id": actor.agency_id, "roles": []}
    return _form_page(request, actor, session, user=None, values=values, field_errors={})


@router.post("/users/new")
def new_user_submit(
    request: Request,
    actor: UserAdmin,
    session: SessionDep,
    origin: OriginDep,
    username: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=400)] = "",
    agency_id: Annotated[str, Form(max_length=20)] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Add the user, or show the form again with what was wrong."""
    values = {"username": username, "display_name": display_name, "agency_id": agency_id, "roles": roles}
    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "display_name": display_name,
                "agency_id": agency_id or None,
                "roles": roles,
                "password": password,
            }
        )
        create_user_as(session=session, actor=actor, origin=origin, data=data)
    except ValidationError as invalid:
        return _form_page(
            request,
            actor,
            session,
            user=None,
            values=values,
            field_errors=_errors_from(invalid, values),
            status_code=422,
        )
    except (Conflict, InvalidInput) as problem:
        field = getattr(problem, "field", None) or "username"
        return _form_page(
            request,
            actor,
            session,
            user=None,
            values=values,
            field_errors={field: problem.detail},
            status_code=422,
        )
    return RedirectResponse("/admin/users?notice=created", status_code=303)


def _values_of(user: User) -> dict[str, Any]:
    """Form values for an existing user."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "roles": list(user.roles),
        "is_active": user.is_active,
        "locked": user.locked_until is not None and user.locked_until > now_utc(),
    }


@router.get("/users/{user_id}")
def edit_user_form(
    request: Request, actor: UserAdmin, session: SessionDep, origin: OriginDep, user_id: int
) -> Response:
    """Show the change-user form."""
    user = view_user_as(session=session, actor=actor, origin=origin, user_id=user_id)
    return _form_page(request, actor, session, user=user, values=_values_of(user), field_errors={})


@router.post("/users/{user_id}")
def edit_user_submit(
    request: Request,
    actor: UserAdmin,
    session: SessionDep,
    origin: OriginDep,
    user_id: int,
    display_name: Annotated[str, Form(max_length=400)] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    is_active: Annotated[str, Form(pattern="^(true|false)$")] = "true",
    unlock: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Save the changes, or show the form again with what was wrong."""
    user = get_user_as(session=session, actor=actor, user_id=user_id)
    values = {
        **_values_of(user),
        "display_name": display_name,
        "roles": roles,
        "is_active": is_active == "true",
    }
    try:
        data = UserUpdate.model_validate(
            {
                "display_name": display_name,
                "roles": roles,
                "is_active": is_active == "true",
                "unlock": unlock == "true",
            }
        )
        update_user_as(session=session, actor=actor, origin=origin, user_id=user_id, data=data)
    except ValidationError as invalid:
        return _form_page(
            request,
            actor,
            session,
            user=user,
            values=values,
            field_errors=_errors_from(invalid, values),
            status_code=422,
        )
    except InvalidInput as problem:
        return _form_page(
            request,
            actor,
            session,
            user=user,
            values=values,
            field_errors={problem.field or "roles": problem.detail},
            status_code=422,
        )
    return RedirectResponse("/admin/users?notice=updated", status_code=303)


@router.get("/audit")
def audit_page(request: Request, actor: AuditViewer, session: SessionDep) -> Response:
    """The latest audit events the administrator may see."""
    events = recent_events(session=session, actor=actor, limit=100)
    rows = [
        [
            {"text": str(event.chain_seq) if event.chain_seq else "being sealed"},
            {"text": f"{event.occurred_at:%d %b %Y %H:%M:%S}"},
            {"text": event.actor_username or "unknown"},
            {"text": event.action.value.replace("_", " ")},
            {"text": f"{event.object_type or ''} {event.object_id or ''}".strip()},
            {"text": event.reason or ""},
            {"text": event.client_address or ""},
        ]
        for event in events
    ]
    return render(
        request,
        "admin/audit.html",
        {"active_nav": "audit", "rows": rows, "all_agencies": actor.has_role(Role.SYSTEM_ADMIN)},
    )
