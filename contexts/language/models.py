"""How many flagged phrases each saved record kept, for supervisors' monthly counts."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from contexts.base import Base


class LanguageFlagCount(Base):
    """One save of a record whose wording still held flagged phrases (the text itself is not kept)."""

    __tablename__ = "language_flag_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
