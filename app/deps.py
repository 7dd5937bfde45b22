"""Dependencies: the permission guard every route declares, the actor, and audit origin."""

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from app.auth import SESSION_COOKIE, bearer_token, user_id_from_token
from app.db import SessionDep
from app.settings import Settings
from contexts.access import Actor, Permission, can
from contexts.accounts.models import WebSession
from contexts.accounts.service import LockoutPolicy, active_actor, load_web_session
from contexts.audit.service import RequestOrigin
from contexts.errors import AccessDenied, InvalidInput, NotAuthenticated, ReasonRequired
from contexts.language.checker import Rule, load_rules
from contexts.young_people.service import Area

PERMISSION_ATTRIBUTE = "csmap_permission"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings_dep(request: Request) -> Settings:
    """The app's settings.

    This and the other small dependencies here are `async def` because they never wait: FastAPI
    runs a plain `def` dependency in the thread pool, one hand-off per dependency per request.
    """
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def origin_of(request: Request) -> RequestOrigin:
    """Where the request came from, for the audit trail."""
    client = request.client.host if request.client else None
    return RequestOrigin(request_id=getattr(request.state, "request_id", None), client_address=client)


OriginDep = Annotated[RequestOrigin, Depends(origin_of)]


async def submitted_csrf_token(request: Request) -> str | None:
    """Return the CSRF token sent with an unsafe request (header or form field)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def _actor_from_bearer(session: SessionDep, settings: Settings, token: str) -> Actor:
    """Resolve a bearer token to an active user's actor."""
    user_id = user_id_from_token(settings=settings, token=token)
    actor = active_actor(session=session, user_id=user_id) if user_id is not None else None
    if actor is None:
        raise NotAuthenticated("The access token is missing, expired or no longer valid.")
    return actor


def _actor_from_cookie(request: Request, session: SessionDep, settings: Settings, csrf: str | None) -> Actor:
    """Resolve the session cookie to an actor, enforcing time-outs and CSRF."""
    token = request.cookies.get(SESSION_COOKIE)
    web_session = (
        load_web_session(
            session=session, token=token, idle_timeout=timedelta(minutes=settings.session_idle_minutes)
        )
        if token
        else None
    )
    actor = active_actor(session=session, user_id=web_session.user_id) if web_session else None
    if web_session is None or actor is None:
        raise NotAuthenticated("Your session has ended. Sign in again.")
    request.state.web_session = web_session
    # Keep plain values too: error pages render after a rollback has expired the ORM object.
    request.state.csrf_token = web_session.csrf_token
    if request.method not in SAFE_METHODS and not (
        csrf and secrets.compare_digest(csrf, web_session.csrf_token)
    ):
        request.state.actor = actor
        raise AccessDenied("The form has expired. Go back, reload the page and try again.")
    return actor


def require(permission: Permission) -> Any:
    """A dependency that signs the request in and checks one permission; routes must use one."""

    def guard(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        csrf: Annotated[str | None, Depends(submitted_csrf_token)],
    ) -> Actor:
        token = bearer_token(request)
        if token is not None:
            actor = _actor_from_bearer(session, settings, token)
        else:
            actor = _actor_from_cookie(request, session, settings, csrf)
        request.state.actor = actor
        if not can(actor, permission):
            raise AccessDenied("You do not have permission to do that.")
        return actor

    setattr(guard, PERMISSION_ATTRIBUTE, permission)
    return Depends(guard)


def public() -> Any:
    """A dependency marking a route that anyone may use (sign-in, health, static)."""

    def open_to_all() -> None:
        return None

    setattr(open_to_all, PERMISSION_ATTRIBUTE, Permission.PUBLIC)
    return Depends(open_to_all)


Public = Annotated[None, public()]
SignedIn = Annotated[Actor, require(Permission.SIGNED_IN)]
UserAdmin = Annotated[Actor, require(Permission.MANAGE_USERS)]
AgencyAdmin = Annotated[Actor, require(Permission.MANAGE_AGENCIES)]
AuditViewer = Annotated[Actor, require(Permission.VIEW_AUDIT)]


def declared_permission(call: Callable[..., Any]) -> Permission | None:
    """Return the permission a dependency declares, if it is a permission guard."""
    value = getattr(call, PERMISSION_ATTRIBUTE, None)
    return value if isinstance(value, Permission) else None


def lockout_policy(settings: Settings) -> LockoutPolicy:
    """The lock-out rule from the settings."""
    return LockoutPolicy(settings.lockout_threshold, timedelta(minutes=settings.lockout_minutes))


REASON_HEADER = "x-access-reason"
MAX_REASON_LENGTH = 200


async def access_reason(request: Request) -> str:
    """Why the actor opens a person's record: a header, or the reason given once per web session.

    Declare it after the permission guard, which loads the web session.
    """
    header = (request.headers.get(REASON_HEADER) or "").strip()
    if header:
        if len(header) > MAX_REASON_LENGTH:
            raise InvalidInput(
                f"The reason must be {MAX_REASON_LENGTH} characters or fewer.", field=REASON_HEADER
            )
        return header
    web_session: WebSession | None = getattr(request.state, "web_session", None)
    if web_session is not None and web_session.access_reason:
        return web_session.access_reason
    raise ReasonRequired(
        "Say why you are opening this record: send an X-Access-Reason header "
        "(for example 'allocated worker', 'strategy meeting' or 'MASH enquiry')."
    )


AccessReason = Annotated[str, Depends(access_reason)]
PeopleViewer = Annotated[Actor, require(Permission.VIEW_PEOPLE)]
PeopleEditor = Annotated[Actor, require(Permission.EDIT_PEOPLE)]


async def deployment_area(settings: SettingsDep) -> Area:
    """The area inside which points may be recorded."""
    return Area(*settings.area_bbox)


AreaDep = Annotated[Area, Depends(deployment_area)]


async def language_rules(settings: SettingsDep) -> tuple[Rule, ...]:
    """The language rules: shipped, plus the administrator's file when set.

    On the event loop: the rules are cached, and an extra file costs one stat() to see it unchanged.
    """
    return load_rules(settings.language_rules_file)


LanguageRules = Annotated[tuple[Rule, ...], Depends(language_rules)]
