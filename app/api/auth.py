"""OAuth2 password flow: exchange a username and password for a bearer token."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from app.auth import issue_token
from app.db import SessionDep
from app.deps import OriginDep, Public, SettingsDep, SignedIn, lockout_policy
from contexts.access import ROLE_LABELS, Role
from contexts.accounts.service import sign_in
from contexts.agencies.models import Agency
from contexts.errors import AccountLocked, AuthenticationFailed

router = APIRouter(prefix="/api", tags=["auth"])


class TokenResponse(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    """The signed-in user."""

    id: int
    username: str
    display_name: str
    agency_id: int
    agency_name: str
    roles: list[Role]
    role_labels: list[str]


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={401: {"description": "Wrong username or password"}, 423: {"description": "Account locked"}},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    _: Public,
) -> TokenResponse | JSONResponse:
    """Sign in with a username and password and receive a bearer token."""
    try:
        user = sign_in(
            session=session,
            username=form.username,
            password=form.password,
            policy=lockout_policy(settings),
            origin=origin,
            channel="api_token",
        )
    except (AuthenticationFailed, AccountLocked) as failure:
        return JSONResponse(
            {"error": failure.code, "detail": failure.detail},
            status_code=423 if isinstance(failure, AccountLocked) else 401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    access_token, lifetime = issue_token(settings=settings, user_id=user.id)
    return TokenResponse(access_token=access_token, expires_in=lifetime)


@router.get("/me", response_model=Me)
def me(actor: SignedIn, session: SessionDep) -> Me:
    """Who the token or session belongs to."""
    agency = session.get(Agency, actor.agency_id)
    roles = sorted(actor.roles)
    return Me(
        id=actor.user_id,
        username=actor.username,
        display_name=actor.display_name,
        agency_id=actor.agency_id,
        agency_name=agency.name if agency else "",
        roles=roles,
        role_labels=[ROLE_LABELS[role] for role in roles],
    )
