"""User administration: agency admins manage their own agency's users, system admins all."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.db import SessionDep
from app.deps import OriginDep, UserAdmin
from contexts.accounts.schemas import UserCreate, UserPage, UserRead, UserUpdate
from contexts.accounts.service import create_user_as, list_users, update_user_as, view_user_as

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=UserPage)
def list_users_route(
    actor: UserAdmin,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    """List the users you may administer."""
    users, total = list_users(session=session, actor=actor, limit=limit, offset=offset)
    return UserPage(
        items=[UserRead.model_validate(user) for user in users], total=total, limit=limit, offset=offset
    )


@router.post("", response_model=UserRead, status_code=201)
def create_user_route(actor: UserAdmin, session: SessionDep, origin: OriginDep, data: UserCreate) -> UserRead:
    """Add a user to an agency you administer."""
    user = create_user_as(session=session, actor=actor, origin=origin, data=data)
    return UserRead.model_validate(user)


@router.get("/{user_id}", response_model=UserRead)
def get_user_route(actor: UserAdmin, session: SessionDep, origin: OriginDep, user_id: int) -> UserRead:
    """One user you may administer."""
    user = view_user_as(session=session, actor=actor, origin=origin, user_id=user_id)
    return UserRead.model_validate(user)


@router.patch("/{user_id}", response_model=UserRead)
def update_user_route(
    actor: UserAdmin, session: SessionDep, origin: OriginDep, user_id: int, data: UserUpdate
) -> UserRead:
    """Change a user's name, roles, active flag, or unlock them."""
    user = update_user_as(session=session, actor=actor, origin=origin, user_id=user_id, data=data)
    return UserRead.model_validate(user)
