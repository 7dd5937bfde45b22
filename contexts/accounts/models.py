"""User and web session tables."""

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contexts.access import Role
from contexts.agencies.models import Agency
from contexts.base import Base, TimestampMixin

_ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(TimestampMixin, Base):
    """A person who signs in to csmap; belongs to exactly one agency."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"roles <@ ARRAY[{_ROLE_VALUES}]::varchar[]", name="known_roles"),
        CheckConstraint("username = lower(username)", name="lowercase_username"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=false())
    failed_sign_in_count: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def role_set(self) -> frozenset[Role]:
        """Return the user's roles as enum members."""
        return frozenset(Role(value) for value in self.roles)


class WebSession(Base):
    """A server-side sign-in session; the cookie holds a token whose hash is the key."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    access_reason: Mapped[str | None] = mapped_column(String(200))
