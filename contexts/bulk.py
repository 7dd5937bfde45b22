"""Moving many rows between Python and PostgreSQL: COPY (text or binary), binary COPY data encoded
away from the connection, and array literals.

psycopg adapts a Python list element by element in Python; a chunk's ids and coordinates sent that
way cost more than the statement that reads them. Sent as one text literal (`%s::int[]`), the server
parses them instead. Floats are written with repr, which PostgreSQL reads back exactly. Binary COPY
data made by `encode_copy` lets one thread prepare rows while another sends the last ones.
"""

import io
from collections.abc import Iterable, Sequence
from typing import Any, cast

import psycopg
from psycopg.copy import FileWriter
from sqlalchemy.orm import Session


def raw_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session, inside the session's transaction (for COPY)."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


def copy_rows(
    connection: psycopg.Connection[Any],
    table: str,
    columns: str,
    rows: Iterable[Sequence[Any]],
    types: Sequence[int | str] | None = None,
) -> None:
    """Stream rows into a table with COPY: in PostgreSQL's binary format when their types are given
    (nothing for the server to parse), else as text."""
    form = " (FORMAT BINARY)" if types is not None else ""
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN{form}") as copy:
        if types is not None:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def encode_copy(cursor: psycopg.Cursor[Any], types: Sequence[int | str], rows: Iterable[Any]) -> bytes:
    """Rows as COPY's binary format, made with the cursor's adapters but without the server."""
    encoded = io.BytesIO()
    with psycopg.Copy(cursor, binary=True, writer=FileWriter(encoded)) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
    return encoded.getvalue()


def send_copy(connection: psycopg.Connection[Any], table: str, columns: str, encoded: bytes) -> None:
    """COPY rows encoded by `encode_copy` into a table."""
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(encoded)


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
    return "{" + ",".join(map(_quoted, values)) + "}"


def _quoted(value: str) -> str:
    """An array element in double quotes, its backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
