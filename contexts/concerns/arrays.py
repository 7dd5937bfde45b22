"""PostgreSQL array literals for a chunk's worth of values, built at the speed of str.join.

psycopg adapts a Python list element by element in Python; a chunk's ids and coordinates sent
that way cost more than the statement that reads them. Sent as one text literal (`%s::int[]`), the
server parses them instead. Floats are written with repr, which PostgreSQL reads back exactly.
"""

from collections.abc import Iterable


def ints(values: Iterable[int]) -> str:
    """An integer array literal."""
    return "{" + ",".join(map(str, values)) + "}"


def floats(values: Iterable[float | None]) -> str:
    """A float8 array literal, None as NULL."""
    return "{" + ",".join("NULL" if value is None else repr(value) for value in values) + "}"


def flags(values: Iterable[bool]) -> str:
    """A boolean array literal."""
    return "{" + ",".join("t" if value else "f" for value in values) + "}"


def texts(values: Iterable[str]) -> str:
    """A text array literal, each element quoted (backslashes and quotes escaped)."""
    return (
        "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values) + "}"
    )
