"""Bearer tokens (JWT) for the API and cookie helpers for web sessions."""

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from starlette.requests import Request
from starlette.responses import Response

from app.settings import Settings

SESSION_COOKIE = "csmap_session"
LOGIN_CSRF_COOKIE = "csmap_login_csrf"
TOKEN_AUDIENCE = "csmap-api"
TOKEN_ISSUER = "csmap"
_ALGORITHM = "HS256"


def issue_token(*, settings: Settings, user_id: int) -> tuple[str, int]:
    """Sign a short-lived bearer token for a user; return it and its lifetime in seconds."""
    lifetime = settings.token_minutes * 60
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "aud": TOKEN_AUDIENCE,
        "iss": TOKEN_ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=lifetime),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=_ALGORITHM), lifetime


_VERIFIED: dict[tuple[str, str], tuple[int, float]] = {}
"""Tokens whose signature and claims have been checked, with their user id and expiry.

A client sends the same token with every request until it expires; checking it again gave the
same answer at the cost of a signature and a JSON parse. Only accepted tokens are kept (one refused
for a clock that is behind, say, is checked again next time), by token and signing key."""
_VERIFIED_LIMIT = 4096


def user_id_from_token(*, settings: Settings, token: str) -> int | None:
    """Return the user id a valid, unexpired token names, else None."""
    key = (settings.secret_key, token)
    verified = _VERIFIED.get(key)
    if verified is not None:
        user_id, expires = verified
        return user_id if time.time() < expires else None
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
        user_id = int(claims["sub"])
        expires = float(claims["exp"])
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        return None
    if len(_VERIFIED) >= _VERIFIED_LIMIT:
        _VERIFIED.clear()
    _VERIFIED[key] = (user_id, expires)
    return user_id


def bearer_token(request: Request) -> str | None:
    """Return the bearer token in the Authorization header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def is_https(request: Request, settings: Settings) -> bool:
    """Say whether the request arrived over https (directly or as configured)."""
    return settings.force_https or request.url.scheme == "https"


def set_session_cookie(response: Response, *, token: str, secure: bool) -> None:
    """Set the HttpOnly, SameSite session cookie (Secure over https)."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure, path="/")


def set_login_csrf(response: Response, *, token: str, secure: bool) -> None:
    """Pair the sign-in form's hidden CSRF token with a strict, HttpOnly cookie."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login"
    )


def login_csrf_matches(request: Request, submitted: str | None) -> bool:
    """Check the sign-in form's token against its cookie in constant time."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie and submitted and secrets.compare_digest(cookie, submitted))


def safe_next(target: str | None) -> str:
    """Return a local path to go back to after sign-in, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if target.startswith(("/login", "/logout")):
        return "/"
    return target
