"""Sign-in, sign-out and each role's home page."""

import secrets
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import escape
from sqlalchemy import func, select

from app.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    is_https,
    login_csrf_matches,
    safe_next,
    set_login_csrf,
    set_session_cookie,
)
from app.db import SessionDep
from app.deps import OriginDep, Public, SettingsDep, SignedIn, lockout_policy
from app.templating import render
from contexts.access import ROLE_LABELS, Actor, Permission, Role, can, manageable_by
from contexts.accounts.models import User
from contexts.accounts.service import end_web_session, now_utc, sign_in, start_web_session
from contexts.agencies.models import AGENCY_KIND_LABELS, Agency
from contexts.agencies.service import list_agencies
from contexts.assessments.service import awaiting_sign_off, overdue_reviews
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, own_sign_ins, record_event
from contexts.errors import AccountLocked, AuthenticationFailed
from contexts.language.service import monthly_counts
from contexts.missing.service import overdue_return_interviews
from mapping.places.alerts import LinkedPlaceAlert, linked_place_alerts
from mapping.places.profile import LinkRule, audience_of

router = APIRouter(include_in_schema=False)

ROLE_PRIORITY = [
    Role.SYSTEM_ADMIN,
    Role.AGENCY_ADMIN,
    Role.SUPERVISOR,
    Role.PRACTITIONER,
    Role.ANALYST,
    Role.NEIGHBOURHOOD,
]

LANGUAGE_GUIDE = [
    (
        "putting themselves at risk; risky lifestyle",
        "the child may have been groomed; an adult may be exploiting their vulnerability",
    ),
    (
        "sexually active; consented (of a child with an adult)",
        "the child was sexually abused; there are concerns the child was groomed or coerced",
    ),
    ("boyfriend / girlfriend (of an adult exploiting them)", "being groomed, exploited or controlled by"),
    ("child prostitute; selling or exchanging sex", "child who has been sexually exploited"),
    ("recruited; drug runner; working for", "criminally exploited"),
    ("keeps going missing; absconded; runs away", "went missing; may be being controlled or trafficked"),
    (
        "refused to engage; hard to reach; non-compliant",
        "is not yet able to trust services; describe what was offered",
    ),
]


def _login_page(
    request: Request,
    *,
    settings_secure: bool,
    next_path: str,
    username: str = "",
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """Render the sign-in form with a fresh CSRF token."""
    token = secrets.token_urlsafe(32)
    page = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next_path": next_path,
            "username": username,
            "errors": errors or [],
            "field_errors": field_errors or {},
            "notice": notice,
        },
        status_code=status_code,
    )
    set_login_csrf(page, token=token, secure=settings_secure)
    return page


@router.get("/login")
def login_form(
    request: Request, settings: SettingsDep, _: Public, next: str | None = None, ended: str | None = None
) -> Response:
    """Show the sign-in page."""
    notice = "You have signed out." if ended == "signout" else None
    return _login_page(
        request, settings_secure=is_https(request, settings), next_path=safe_next(next), notice=notice
    )


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    _: Public,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the sign-in, start a new session (new id) and go back where the user was."""
    secure = is_https(request, settings)
    target = safe_next(next)
    if not login_csrf_matches(request, csrf_token):
        return _login_page(
            request,
            settings_secure=secure,
            next_path=target,
            username=username,
            status_code=400,
            errors=[{"text": "The sign-in form had expired. Try again.", "href": "#username"}],
        )
    field_errors = {}
    if not username.strip():
        field_errors["username"] = "Enter your username"
    if not password:
        field_errors["password"] = "Enter your password"
    if field_errors:
        return _login_page(
            request,
            settings_secure=secure,
            next_path=target,
            username=username,
            status_code=422,
            field_errors=field_errors,
            errors=[{"text": text, "href": f"#{field}"} for field, text in field_errors.items()],
        )
    try:
        user = sign_in(
            session=session,
            username=username,
            password=password,
            policy=lockout_policy(settings),
            origin=origin,
            channel="web",
        )
    except (AuthenticationFailed, AccountLocked) as failure:
        return _login_page(
            request,
            settings_secure=secure,
            next_path=target,
            username=username,
            status_code=423 if isinstance(failure, AccountLocked) else 401,
            errors=[{"text": failure.detail, "href": "#username"}],
            field_errors={"username": failure.detail},
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        end_web_session(session=session, token=previous)
    started = start_web_session(
        session=session,
        user=user,
        absolute_lifetime=timedelta(hours=settings.session_absolute_hours),
        idle_timeout=timedelta(minutes=settings.session_idle_minutes),
    )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, token=started.token, secure=secure)
    return response


@router.post("/logout")
def logout(
    request: Request, actor: SignedIn, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    """End the session on the server and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        end_web_session(session=session, token=token)
    record_event(session=session, action=AuditAction.SIGN_OUT, actor=actor, origin=origin, object_type="web")
    response = RedirectResponse("/login?ended=signout", status_code=303)
    clear_session_cookie(response, secure=is_https(request, settings))
    return response


def primary_role(actor: Actor) -> Role:
    """The role whose home page a user lands on."""
    return next(role for role in ROLE_PRIORITY if role in actor.roles)


def _user_counts(session: SessionDep, actor: Actor) -> dict[str, int]:
    """Active, locked and disabled accounts the actor administers."""
    scope = manageable_by(actor, User.agency_id)
    now = now_utc()

    def count(*conditions: object) -> int:
        return session.scalar(select(func.count()).select_from(User).where(scope, *conditions)) or 0  # type: ignore[arg-type]

    return {
        "active": count(User.is_active.is_(True)),
        "locked": count(User.locked_until > now),
        "disabled": count(User.is_active.is_(False)),
    }


def _casework(session: SessionDep, actor: Actor, origin: RequestOrigin) -> dict[str, object]:
    """What needs doing now: overdue return interviews and reviews, sign-offs, flagged wording."""
    if not can(actor, Permission.VIEW_PEOPLE):
        return {}
    interviews = overdue_return_interviews(session, actor, origin=origin)[:20]
    reviews = overdue_reviews(session=session, actor=actor)[:20]
    work: dict[str, object] = {
        "interview_rows": [
            [
                {"html": _person_link(i.young_person_id, f"{i.given_name} {i.family_name}")},
                {"text": f"{i.found_at:%d %b %Y %H:%M}"},
                {"text": f"{i.hours_overdue:.0f} hours"},
            ]
            for i in interviews
        ],
        "review_rows": [
            [{"html": _person_link(r.young_person_id, r.name)}, {"text": f"{r.review_date:%d %b %Y}"}]
            for r in reviews
        ],
    }
    if can(actor, Permission.SIGN_OFF_ASSESSMENTS):
        work["awaiting_sign_off"] = awaiting_sign_off(session=session, actor=actor)
        since = (now_utc() - timedelta(days=365)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        work["flag_rows"] = [
            [{"text": f"{month:%B %Y}"}, {"text": agency}, {"text": str(count), "format": "numeric"}]
            for month, agency, count in monthly_counts(session=session, since=since)
        ]
    return work


LINK_ALERTS_FRESH_FOR = 60.0
"""Seconds a home page may show the same linked-by-place list to an agency's users with the same
audience: on a borough of two million concerns the list takes most of a second to work out."""
_link_alerts: dict[tuple[int, str, LinkRule], tuple[float, list[LinkedPlaceAlert]]] = {}


def _recent_link_alerts(session: SessionDep, actor: Actor, rule: LinkRule) -> list[LinkedPlaceAlert]:
    """The actor's linked-by-place alerts, worked out at most once a minute per agency and audience."""
    key = (actor.agency_id, audience_of(actor), rule)
    now = time.monotonic()
    kept = _link_alerts.get(key)
    if kept is None or now - kept[0] > LINK_ALERTS_FRESH_FOR:
        kept = (now, linked_place_alerts(session=session, actor=actor, rule=rule))
        _link_alerts[key] = kept
    return kept[1]


def _linked_places(session: SessionDep, actor: Actor, rule: LinkRule) -> dict[str, object]:
    """Places where several young people are linked, for analysts and the records' lead agencies."""
    if not can(actor, Permission.VIEW_PLACES) or audience_of(actor) == "partner":
        return {}
    case = audience_of(actor) == "case"
    rows = []
    for alert in _recent_link_alerts(session, actor, rule):
        place = f'<a class="govuk-link" href="/places/{alert.place_id}">{escape(alert.name)}</a>'
        row = [
            {"html": place},
            {"text": alert.type_label},
            {"text": f"{alert.young_people:,}", "format": "numeric"},
        ]
        if case:
            people = f"/places/{alert.place_id}/young-people"
            row.append({"html": f'<a class="govuk-link" href="{people}">{alert.own_young_people:,}</a>'})
        row.append({"text": f"{alert.latest:%d %b %Y}"})
        rows.append(row)
    return {"link_rule": rule, "link_rows": rows, "link_case": case}


def _person_link(person_id: int, name: str) -> str:
    """An escaped link to a young person's profile."""
    return f'<a class="govuk-link" href="/young-people/{person_id}">{escape(name)}</a>'


@router.get("/")
def home(
    request: Request, actor: SignedIn, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    """The signed-in user's home page, led by their main role."""
    agency = session.get(Agency, actor.agency_id)
    roles = [role for role in ROLE_PRIORITY if role in actor.roles]
    sign_ins = own_sign_ins(session=session, actor=actor)
    context = {
        **_casework(session, actor, origin),
        **_linked_places(session, actor, settings.link_rule()),
        "active_nav": "home",
        "agency": agency,
        "primary_role": primary_role(actor),
        "roles": roles,
        "user_counts": _user_counts(session, actor),
        "agency_rows": [
            [{"text": a.name}, {"text": AGENCY_KIND_LABELS[a.kind]}, {"text": a.code}]
            for a in list_agencies(session=session)
        ],
        "language_rows": [[{"text": avoid}, {"text": prefer}] for avoid, prefer in LANGUAGE_GUIDE],
        "account_rows": [
            {"key": {"text": "Name"}, "value": {"text": actor.display_name}},
            {"key": {"text": "Username"}, "value": {"text": actor.username}},
            {"key": {"text": "Agency"}, "value": {"text": agency.name if agency else ""}},
            {"key": {"text": "Roles"}, "value": {"text": ", ".join(ROLE_LABELS[r] for r in roles)}},
        ],
        "sign_in_rows": [
            [
                {"text": f"{event.occurred_at:%d %b %Y %H:%M}"},
                {"text": "Signed in" if event.action == AuditAction.SIGN_IN else "Failed attempt"},
                {"text": event.client_address or "unknown"},
            ]
            for event in sign_ins
        ],
    }
    return render(request, "home.html", context)
