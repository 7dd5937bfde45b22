"""Pydantic schemas for user accounts."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contexts.access import Role
from contexts.accounts.passwords import MAX_PASSWORD_LENGTH, password_problem

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"


def _check_roles(roles: list[Role]) -> list[Role]:
    """Require at least one role and drop repeats, keeping order."""
    if not roles:
        raise ValueError("Choose at least one role.")
    return list(dict.fromkeys(roles))


class UserCreate(BaseModel):
    """A new user account."""

    username: str = Field(pattern=USERNAME_PATTERN, description="Lower-case sign-in name")
    display_name: str = Field(min_length=2, max_length=200)
    agency_id: int
    roles: list[Role]
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, repr=False)

    @field_validator("username", mode="before")
    @classmethod
    def _lower_username(cls, value: object) -> object:
        """Sign-in names are case-insensitive: store them in lower case."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[Role]) -> list[Role]:
        """Check the roles."""
        return _check_roles(roles)

    @field_validator("password")
    @classmethod
    def _password(cls, password: str) -> str:
        """Apply the password rules."""
        problem = password_problem(password)
        if problem:
            raise ValueError(problem)
        return password


class UserUpdate(BaseModel):
    """Changes to a user account; every field is optional."""

    display_name: str | None = Field(default=None, min_length=2, max_length=200)
    roles: list[Role] | None = None
    is_active: bool | None = None
    unlock: bool = False

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[Role] | None) -> list[Role] | None:
        """Check the roles when given."""
        return None if roles is None else _check_roles(roles)


class UserRead(BaseModel):
    """A user account as administrators see it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    agency_id: int
    roles: list[Role]
    is_active: bool
    locked_until: datetime | None
    last_sign_in_at: datetime | None


class UserPage(BaseModel):
    """A page of user accounts."""

    items: list[UserRead]
    total: int
    limit: int
    offset: int
