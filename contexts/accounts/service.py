"""Account services: create and administer users, authenticate, and keep sign-in sessions."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from contexts.access import Actor, Role, manageable_by, may_grant, may_manage_agency
from contexts.accounts.models import User, WebSession
from contexts.accounts.passwords import hash_password, verify_password
from contexts.accounts.schemas import UserCreate, UserUpdate
from contexts.agencies.models import Agency
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin, record_event
from contexts.errors import (
    AccessDenied,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
)


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many failed sign-ins lock an account, and for how long."""

    threshold: int = 5
    duration: timedelta = timedelta(minutes=15)


def now_utc() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def actor_for(user: User) -> Actor:
    """Build the Actor a request acts as."""
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        agency_id=user.agency_id,
        roles=user.role_set,
    )


def create_user(*, session: Session, data: UserCreate, is_demo: bool = False) -> User:
    """Add a user account with an Argon2id password hash."""
    if session.get(Agency, data.agency_id) is None:
        raise InvalidInput("That agency does not exist.", field="agency_id")
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"The username '{data.username}' is already taken.")
    user = User(
        username=data.username,
        display_name=data.display_name,
        agency_id=data.agency_id,
        roles=[role.value for role in data.roles],
        password_hash=hash_password(data.password),
        is_demo=is_demo,
    )
    session.add(user)
    session.flush()
    return user


def create_user_as(*, session: Session, actor: Actor, origin: RequestOrigin, data: UserCreate) -> User:
    """Add a user on behalf of an administrator, within what they may manage; audited."""
    if not may_manage_agency(actor, data.agency_id):
        raise AccessDenied("You can only add users to your own agency.")
    if not may_grant(actor, data.roles):
        raise AccessDenied("Only a system administrator can make a system administrator.")
    user = create_user(session=session, data=data)
    _audit_user(session, actor, origin, AuditAction.CREATE, user)
    return user


def _audit_user(
    session: Session, actor: Actor, origin: RequestOrigin, action: AuditAction, user: User
) -> None:
    """Record an administrator's action on a user account."""
    record_event(
        session=session,
        action=action,
        actor=actor,
        origin=origin,
        object_type="user_account",
        object_id=user.id,
    )


def view_user_as(*, session: Session, actor: Actor, origin: RequestOrigin, user_id: int) -> User:
    """Open a user account the actor administers; audited."""
    user = get_user_as(session=session, actor=actor, user_id=user_id)
    _audit_user(session, actor, origin, AuditAction.VIEW, user)
    return user


def list_users(*, session: Session, actor: Actor, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    """Return a page of the users the actor may administer, and how many there are."""
    scope = manageable_by(actor, User.agency_id)
    total = session.scalar(select(func.count()).select_from(User).where(scope)) or 0
    query = select(User).where(scope).order_by(User.agency_id, User.username).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def get_user_as(*, session: Session, actor: Actor, user_id: int) -> User:
    """Return a user the actor may administer; others look as if they do not exist."""
    user = session.scalar(select(User).where(User.id == user_id, manageable_by(actor, User.agency_id)))
    if user is None:
        raise NotFound("No such user in the agencies you administer.")
    return user


def update_user_as(
    *, session: Session, actor: Actor, origin: RequestOrigin, user_id: int, data: UserUpdate
) -> User:
    """Change a user's name, roles, active flag or lock, within the actor's remit; audited."""
    user = get_user_as(session=session, actor=actor, user_id=user_id)
    if data.roles is not None:
        if not may_grant(actor, data.roles) or (
            Role.SYSTEM_ADMIN in user.role_set and not actor.has_role(Role.SYSTEM_ADMIN)
        ):
            raise AccessDenied("Only a system administrator can change system administrators.")
        if user.id == actor.user_id and not set(actor.roles) <= set(data.roles):
            raise InvalidInput("You cannot remove your own roles.", field="roles")
        user.roles = [role.value for role in data.roles]
    if data.is_active is not None:
        if user.id == actor.user_id and not data.is_active:
            raise InvalidInput("You cannot disable your own account.", field="is_active")
        user.is_active = data.is_active
        if not data.is_active:
            end_all_web_sessions(session=session, user_id=user.id)
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.unlock:
        user.failed_sign_in_count = 0
        user.locked_until = None
    session.flush()
    _audit_user(session, actor, origin, AuditAction.UPDATE, user)
    return user


def find_user(*, session: Session, username: str) -> User | None:
    """Return the user with this username (case-insensitive), if any."""
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def authenticate(*, session: Session, username: str, password: str, policy: LockoutPolicy) -> User:
    """Check a sign-in; count failures, lock after too many, and never say which part was wrong."""
    user = find_user(session=session, username=username)
    now = now_utc()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(password, None)
        raise AccountLocked(_locked_message(user.locked_until))
    if not verify_password(password, user.password_hash if user else None) or user is None:
        if user is not None:
            _count_failure(user, now, policy)
            session.flush()
            if user.locked_until is not None and user.locked_until > now:
                raise AccountLocked(_locked_message(user.locked_until))
        raise AuthenticationFailed("The username or password is not right.")
    if not user.is_active:
        raise AuthenticationFailed("The username or password is not right.")
    user.failed_sign_in_count = 0
    user.locked_until = None
    user.last_sign_in_at = now
    session.flush()
    return user


def _count_failure(user: User, now: datetime, policy: LockoutPolicy) -> None:
    """Record a failed attempt and lock the account at the threshold."""
    user.failed_sign_in_count += 1
    if user.failed_sign_in_count >= policy.threshold:
        user.locked_until = now + policy.duration
        user.failed_sign_in_count = 0


def _locked_message(until: datetime) -> str:
    """Tell a locked-out user when to try again."""
    return (
        "This account is locked after too many failed sign-in attempts. "
        f"Try again after {until.astimezone(UTC):%H:%M} UTC, "
        "or ask your agency administrator to unlock it."
    )


ACTIVE_ACCOUNT = select(
    User.id, User.username, User.display_name, User.agency_id, User.roles, User.locked_until
).where(User.id == bindparam("user_id"), User.is_active.is_(True))
"""What a request needs to act for a user, built once: every signed-in request runs it."""


def active_actor(*, session: Session, user_id: int) -> Actor | None:
    """The actor for an account that exists, is active and is not locked; else None.

    One Core query on the session's connection: a request needs these five values, not a User (and
    its agency) loaded into the session.
    """
    row = session.connection().execute(ACTIVE_ACCOUNT, {"user_id": user_id}).first()
    if row is None or (row.locked_until is not None and row.locked_until > now_utc()):
        return None
    return Actor(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        agency_id=row.agency_id,
        roles=frozenset(Role(value) for value in row.roles),
    )


def _token_key(token: str) -> str:
    """The stored key of a session token: its SHA-256, so a database leak reveals no cookie."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewWebSession:
    """A freshly started web session: the secret cookie token and its CSRF token."""

    token: str
    csrf_token: str


def start_web_session(
    *, session: Session, user: User, absolute_lifetime: timedelta, idle_timeout: timedelta
) -> NewWebSession:
    """Start a new server-side session with a fresh id and CSRF token; clear out dead ones."""
    purge_expired_web_sessions(session=session, idle_timeout=idle_timeout)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_token_key(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=now_utc() + absolute_lifetime,
        )
    )
    session.flush()
    return NewWebSession(token=token, csrf_token=csrf)


def load_web_session(*, session: Session, token: str, idle_timeout: timedelta) -> WebSession | None:
    """Return the live session for a cookie token; end it if idle or past its absolute end."""
    web_session = session.get(WebSession, _token_key(token))
    if web_session is None:
        return None
    now = now_utc()
    if now >= web_session.expires_at or now - web_session.last_seen_at >= idle_timeout:
        session.delete(web_session)
        session.flush()
        return None
    if now - web_session.last_seen_at >= timedelta(seconds=30):
        web_session.last_seen_at = now
        session.flush()
    return web_session


def end_web_session(*, session: Session, token: str) -> None:
    """End the session behind a cookie token."""
    session.execute(delete(WebSession).where(WebSession.id == _token_key(token)))


def end_all_web_sessions(*, session: Session, user_id: int) -> None:
    """End every session of a user (on disabling the account)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def purge_expired_web_sessions(*, session: Session, idle_timeout: timedelta) -> int:
    """Delete sessions that have expired; return how many."""
    now = now_utc()
    result = session.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - idle_timeout)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def sign_in(
    *,
    session: Session,
    username: str,
    password: str,
    policy: LockoutPolicy,
    origin: RequestOrigin,
    channel: str,
) -> User:
    """Authenticate and audit the attempt either way; the caller must keep the failure's writes."""
    try:
        user = authenticate(session=session, username=username, password=password, policy=policy)
    except (AuthenticationFailed, AccountLocked):
        known = find_user(session=session, username=username)
        record_event(
            session=session,
            action=AuditAction.SIGN_IN_FAILED,
            actor=None,
            origin=origin,
            username=known.username if known else None,
            agency_id=known.agency_id if known else None,
            object_type=channel,
        )
        raise
    record_event(
        session=session, action=AuditAction.SIGN_IN, actor=actor_for(user), origin=origin, object_type=channel
    )
    return user


def set_access_reason(*, session: Session, web_session: WebSession, reason: str) -> None:
    """Remember, for the rest of this sign-in, why the user is opening records."""
    web_session.access_reason = reason
    session.flush()
