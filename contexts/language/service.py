"""Count flagged wording as records are saved, and report it by month and agency."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contexts.access import Actor
from contexts.agencies.models import Agency
from contexts.language.checker import Rule, check_text
from contexts.language.models import LanguageFlagCount


def note_flags(
    *,
    session: Session,
    actor: Actor,
    record_type: str,
    record_id: int,
    texts: Iterable[str | None],
    rules: Sequence[Rule],
) -> int:
    """Count the flagged phrases a saved record keeps and remember the number (never the words)."""
    flagged = sum(len(check_text(text, rules)) for text in texts if text) if rules else 0
    remember_flags(
        session=session, actor=actor, record_type=record_type, record_id=record_id, flagged=flagged
    )
    return flagged


def remember_flags(*, session: Session, actor: Actor, record_type: str, record_id: int, flagged: int) -> None:
    """Remember how many flagged phrases a saved record keeps, if any (never the words)."""
    if flagged:
        session.add(
            LanguageFlagCount(
                agency_id=actor.agency_id,
                user_id=actor.user_id,
                record_type=record_type,
                record_id=record_id,
                flagged=flagged,
            )
        )
        session.flush()


def monthly_counts(*, session: Session, since: datetime) -> list[tuple[datetime, str, int]]:
    """Flagged phrases kept in saved records, by month and agency, newest month first."""
    month = func.date_trunc("month", LanguageFlagCount.recorded_at)
    rows = session.execute(
        select(month.label("month"), Agency.name, func.sum(LanguageFlagCount.flagged))
        .join(Agency, Agency.id == LanguageFlagCount.agency_id)
        .where(LanguageFlagCount.recorded_at >= since)
        .group_by(month, Agency.name)
        .order_by(month.desc(), Agency.name)
    )
    return [(row[0], row[1], int(row[2])) for row in rows]
