"""The canonical form of an audit row and its hash, shared by the trigger and the verifier.

The SQL trigger in the first migration builds the same string; keep the two in step.
Each field is written as `<length>:<value>` (or `~` for NULL) so no value can forge a
boundary, and the time is whole microseconds since the Unix epoch.
"""

import hashlib
from datetime import UTC, datetime, timedelta

GENESIS_HASH = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def field(value: object | None) -> str:
    """Encode one field unambiguously."""
    if value is None:
        return "~"
    text = str(value)
    return f"{len(text)}:{text}"


def epoch_microseconds(moment: datetime) -> int:
    """Whole microseconds since the Unix epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def row_hash(prev_hash: str, values: list[object | None]) -> str:
    """Hash the previous hash and the encoded row, as the trigger does."""
    payload = prev_hash + "|" + "|".join(field(value) for value in values)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
