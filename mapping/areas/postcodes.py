"""Import live postcodes from the ONS Postcode Directory (ONSPD) or OS Code-Point Open CSV files, so
addresses can be placed without a network call.

ONSPD: a header row naming pcds (or pcd), lat, long and doterm, and optionally lsoa21/lsoa21cd or
lsoa11/lsoa11cd and osward. Terminated postcodes (doterm set) are skipped, and removed if held from
an earlier import; postcodes the directory gives no grid reference for are counted, not stored.

Code-Point Open: no header (or OS's own: Postcode, Positional_quality_indicator, Eastings, Northings
...), ten columns; eastings and northings are British National Grid metres, converted in PostGIS.

The files are streamed into a temporary table with COPY and checked and written with set-based SQL,
so a national file of 2.7 million rows loads in one pass; postcodes already held unchanged are left
alone, so importing the next quarter's directory rewrites only what changed.
"""

import csv
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from contexts import bulk
from mapping.areas.importer import LISTED_PROBLEMS, Progress
from mapping.areas.schemas import PostcodeImportReport
from mapping.places.importer import ImportFileError
from mapping.places.schemas import ImportProblem

READ_BYTES = 1 << 20
BULK_ROWS = 50_000
SPATIAL_INDEX = "idx_postcode_geom_bng"
POSTCODE_SQL = "^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2})$"
NUMBER_SQL = r"^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$"
ONSPD_POSTCODE = ("pcds", "pcd", "pcd7", "pcd8", "pcd2")
ONSPD_LSOA = (("lsoa21cd", 2021), ("lsoa21", 2021), ("lsoa11cd", 2011), ("lsoa11", 2011))
ONSPD_WARD = re.compile(r"^(osward|wd\d{2}cd)$")
CODEPOINT_COLUMNS = 10
CODEPOINT_HEADER = ("postcode", "positional_quality_indicator", "eastings", "northings")
CODEPOINT_WARD = 9
NO_POSITION_QUALITY = "90"
ONSPD_NO_POSITION_LATITUDE = "99.999999"


@dataclass(frozen=True, slots=True)
class Layout:
    """What kind of file it is and where each field is (column numbers from 1)."""

    format: str
    columns: int
    header: bool
    postcode: int
    names: dict[str, int]

    def column(self, name: str) -> str:
        """The staging column holding a field, or NULL when the file lacks it."""
        return f"c{self.names[name]}" if name in self.names else "NULL"


def _first_line(stream: IO[bytes]) -> list[str]:
    """The first CSV record of a file, without moving the stream."""
    start = stream.tell()
    head = stream.read(READ_BYTES)
    stream.seek(start)
    decoded = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    if not decoded.strip():
        raise ImportFileError("The file is empty.")
    return next(csv.reader(io.StringIO(decoded.splitlines()[0])), [])


def sniff_layout(stream: IO[bytes]) -> Layout:
    """Tell ONSPD from Code-Point Open by the first line; ImportFileError naming what is missing."""
    first = [cell.strip() for cell in _first_line(stream)]
    lowered = [cell.lower() for cell in first]
    if any(name in lowered for name in ONSPD_POSTCODE):
        return _onspd_layout(lowered)
    if tuple(lowered[:4]) == CODEPOINT_HEADER:
        return Layout("codepoint", len(first), True, 1, _codepoint_names(len(first)))
    squeezed = re.sub(r"\s+", "", first[0]).upper() if first else ""
    if re.match(POSTCODE_SQL, squeezed):
        if len(first) < len(CODEPOINT_HEADER):
            raise ImportFileError(
                "A Code-Point Open row starts postcode, positional quality, eastings, northings: "
                f"this file has {len(first)} column(s)."
            )
        return Layout("codepoint", len(first), False, 1, _codepoint_names(len(first)))
    raise ImportFileError(
        "The file is neither an ONS Postcode Directory CSV (a header naming pcds, lat, long and doterm) "
        "nor Code-Point Open (postcode, quality, eastings, northings ... without a header)."
    )


def _codepoint_names(columns: int) -> dict[str, int]:
    """Code-Point Open's fields by position (the ward code only when the file has that column)."""
    names = {"quality": 2, "easting": 3, "northing": 4}
    if columns > CODEPOINT_WARD:
        names["ward"] = CODEPOINT_WARD + 1
    return names


def _onspd_layout(lowered: Sequence[str]) -> Layout:
    """Where ONSPD's fields are; ImportFileError naming any required column missing."""
    missing = [name for name in ("lat", "long", "doterm") if name not in lowered]
    if missing:
        raise ImportFileError(
            "The ONS Postcode Directory CSV has no " + ", ".join(f"'{name}'" for name in missing) + " column."
        )
    postcode = next(lowered.index(name) for name in ONSPD_POSTCODE if name in lowered) + 1
    names = {
        name: lowered.index(name) + 1 for name in ("lat", "long", "doterm", "osgrdind") if name in lowered
    }
    lsoa = next(((column, edition) for column, edition in ONSPD_LSOA if column in lowered), None)
    if lsoa:
        names["lsoa"] = lowered.index(lsoa[0]) + 1
        names["lsoa_edition"] = lsoa[1]
    ward = next((i for i, name in enumerate(lowered) if ONSPD_WARD.match(name)), None)
    if ward is not None:
        names["ward"] = ward + 1
    return Layout("onspd", len(lowered), True, postcode, names)


# Staging


def _stream_into(
    connection: psycopg.Connection[Any],
    layout: Layout,
    stream: IO[bytes],
    progress: Progress | None,
    name: str,
) -> None:
    """COPY a whole file into the raw staging table, as it is."""
    columns = ", ".join(f"c{i}" for i in range(1, layout.columns + 1))
    header = "true" if layout.header else "false"
    total = _size(stream)
    done = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY postcode_raw ({columns}) FROM STDIN WITH (FORMAT csv, HEADER {header})") as copy,
    ):
        first = True
        while chunk := stream.read(READ_BYTES):
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            first = False
            copy.write(chunk)
            done += len(chunk)
            if progress:
                progress(f"Reading {name}", done, total)


def _size(stream: IO[bytes]) -> int:
    """How many bytes are left to read."""
    start = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(start)
    return end - start


def _copy_file(
    session: Session, layout: Layout, stream: IO[bytes], progress: Progress | None, name: str
) -> None:
    """Load one file into the raw staging table; ImportFileError naming the line COPY stopped at."""
    columns = ", ".join(f"c{i} text" for i in range(1, layout.columns + 1))
    session.execute(text("DROP TABLE IF EXISTS pg_temp.postcode_raw"))
    session.execute(
        text(f"CREATE TEMP TABLE postcode_raw ({columns}, line bigint GENERATED ALWAYS AS IDENTITY)")
    )
    try:
        with session.begin_nested():
            _stream_into(bulk.raw_connection(session), layout, stream, progress, name)
    except psycopg.Error as wrong:
        where = (wrong.diag.context or "").split(",", 1)[-1].strip().split(":", 1)[0]
        raise ImportFileError(
            f"{name}: the CSV cannot be read ({where or 'somewhere'}): {wrong.diag.message_primary or wrong}."
        ) from wrong


def _stage_sql(layout: Layout) -> str:
    """Normalise the raw rows into postcode_stage, each with its problem if it has one."""
    pc = f"c{layout.postcode}"
    if layout.format == "onspd":
        terminated = f"coalesce(trim({layout.column('doterm')}), '') <> ''"
        unplaced = (
            f"coalesce(trim({layout.column('osgrdind')}), '') = '9' "
            f"OR trim({layout.column('lat')}) = '{ONSPD_NO_POSITION_LATITUDE}'"
        )
        x, y = layout.column("long"), layout.column("lat")
        x_name, y_name, system = "long", "lat", "wgs84"
        lsoa_edition = str(layout.names["lsoa_edition"]) if "lsoa" in layout.names else "NULL"
    else:
        terminated = "false"
        unplaced = f"coalesce(trim({layout.column('quality')}), '') = '{NO_POSITION_QUALITY}'"
        x, y = layout.column("easting"), layout.column("northing")
        x_name, y_name, system = "eastings", "northings", "bng"
        lsoa_edition = "NULL"
    offset = 1 if layout.header else 0
    # Each step is MATERIALIZED so the planner does not inline (and so repeat) the expressions.
    return f"""
    WITH raw AS MATERIALIZED (
        SELECT line + {offset} AS line,
               upper(regexp_replace(coalesce({pc}, ''), '\\s', '', 'g')) AS sq,
               coalesce(trim({x}), '') AS x, coalesce(trim({y}), '') AS y,
               nullif(trim({layout.column("lsoa")}), '') AS lsoa,
               nullif(trim({layout.column("ward")}), '') AS ward,
               {terminated} AS terminated, coalesce(({unplaced}), false) AS unplaced
        FROM postcode_raw
    ), normal AS MATERIALIZED (
        SELECT raw.*,
               CASE WHEN sq ~ '{POSTCODE_SQL}'
                    THEN left(sq, length(sq) - 3) || ' ' || right(sq, 3) END AS postcode,
               x ~ '{NUMBER_SQL}' AS x_number, y ~ '{NUMBER_SQL}' AS y_number
        FROM raw
    ), checked AS MATERIALIZED (
        SELECT normal.*,
               CASE WHEN postcode IS NULL THEN '{pc_label(layout)}'
                    WHEN terminated OR unplaced THEN NULL
                    WHEN NOT x_number THEN '{x_name}'
                    WHEN NOT y_number THEN '{y_name}'
                    WHEN NOT {_in_range(system)} THEN '{y_name}' END AS field,
               CASE WHEN postcode IS NULL THEN 'Enter a real UK postcode, for example SW1A 1AA'
                    WHEN terminated OR unplaced THEN NULL
                    WHEN NOT (x_number AND y_number) THEN 'Enter a number'
                    WHEN NOT {_in_range(system)} THEN '{_range_words(system)}' END AS problem
        FROM normal
    )
    INSERT INTO postcode_stage
        (file, line, postcode, x, y, system, lsoa_code, lsoa_edition, ward_code, terminated, unplaced,
         field, problem)
    SELECT :file, line, postcode,
           CASE WHEN problem IS NULL AND NOT (terminated OR unplaced) THEN x::float8 END,
           CASE WHEN problem IS NULL AND NOT (terminated OR unplaced) THEN y::float8 END,
           '{system}', lsoa, {lsoa_edition}, ward, terminated, unplaced, field, problem
    FROM checked
    """


def pc_label(layout: Layout) -> str:
    """The postcode field's name in problems."""
    return "pcds" if layout.format == "onspd" else "postcode"


def _in_range(system: str) -> str:
    """SQL saying the (numeric) x and y lie in range for their system."""
    if system == "wgs84":
        return "(x::float8 BETWEEN -180 AND 180 AND y::float8 BETWEEN -90 AND 90)"
    return "(x::float8 BETWEEN 0 AND 700000 AND y::float8 BETWEEN 0 AND 1300000)"


def _range_words(system: str) -> str:
    """What a coordinate out of range should be."""
    if system == "wgs84":
        return "A latitude runs -90 to 90 and a longitude -180 to 180"
    return "An easting runs 0 to 700000 and a northing 0 to 1300000 (metres)"


CREATE_STAGE = """
    CREATE TEMP TABLE postcode_stage (
        file integer, line bigint, postcode text, x float8, y float8, system text, lsoa_code text,
        lsoa_edition integer, ward_code text, terminated boolean, unplaced boolean, field text, problem text
    )
"""
COUNT_STAGE = """
    SELECT count(*) AS rows,
           count(*) FILTER (WHERE problem IS NOT NULL) AS bad,
           count(*) FILTER (WHERE problem IS NULL AND terminated) AS terminated,
           count(*) FILTER (WHERE problem IS NULL AND unplaced AND NOT terminated) AS unplaced
    FROM postcode_stage
"""
WRITE_POSTCODES = """
    WITH live AS (
        SELECT DISTINCT ON (postcode) * FROM postcode_stage
        WHERE problem IS NULL AND NOT terminated AND NOT unplaced
        ORDER BY postcode, file DESC, line DESC
    ), up AS (
        INSERT INTO postcode (postcode, geom, lsoa_code, lsoa_edition, ward_code, source)
        SELECT postcode,
               CASE WHEN system = 'bng'
                    THEN ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 27700), 4326)
                    ELSE ST_SetSRID(ST_MakePoint(x, y), 4326) END,
               left(lsoa_code, 20), lsoa_edition, left(ward_code, 20), :source
        FROM live
        ON CONFLICT (postcode) DO UPDATE SET geom = excluded.geom, lsoa_code = excluded.lsoa_code,
            lsoa_edition = excluded.lsoa_edition, ward_code = excluded.ward_code, source = excluded.source
        WHERE (postcode.geom, postcode.lsoa_code, postcode.lsoa_edition, postcode.ward_code, postcode.source)
              IS DISTINCT FROM
              (excluded.geom, excluded.lsoa_code, excluded.lsoa_edition, excluded.ward_code, excluded.source)
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted) AS created, count(*) FILTER (WHERE NOT inserted) AS updated
    FROM up
"""
REMOVE_TERMINATED = """
    DELETE FROM postcode WHERE postcode IN (
        SELECT postcode FROM postcode_stage WHERE problem IS NULL AND terminated
        EXCEPT
        SELECT postcode FROM postcode_stage WHERE problem IS NULL AND NOT terminated
    )
"""


def _problems(session: Session, names: Sequence[str]) -> list[ImportProblem]:
    """The first problems, each naming its file (when there are several), line and field."""
    rows = session.execute(
        text(
            "SELECT file, line, field, problem FROM postcode_stage WHERE problem IS NOT NULL "
            f"ORDER BY file, line LIMIT {LISTED_PROBLEMS}"
        )
    )
    return [
        ImportProblem(
            row=row.line,
            location=(f"{names[row.file]} row {row.line}" if len(names) > 1 else f"row {row.line}"),
            field=row.field,
            problem=row.problem,
        )
        for row in rows
    ]


def import_postcodes(
    *,
    session: Session,
    files: Sequence[tuple[str, IO[bytes]]],
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> PostcodeImportReport:
    """Check every row of every file, then load the live postcodes (or only the valid rows), or nothing."""
    if not files:
        raise ImportFileError("Give at least one postcode file.")
    layouts = [sniff_layout(stream) for _, stream in files]
    if len({layout.format for layout in layouts}) > 1:
        raise ImportFileError("Import ONSPD and Code-Point Open files separately.")
    session.execute(text("DROP TABLE IF EXISTS pg_temp.postcode_stage"))
    session.execute(text(CREATE_STAGE))
    for index, ((name, stream), layout) in enumerate(zip(files, layouts, strict=True)):
        _copy_file(session, layout, stream, progress, name)
        session.execute(text(_stage_sql(layout)), {"file": index})
    report = _report(session, [name for name, _ in files], layouts[0].format)
    if report.problems and not skip_invalid:
        _drop_staging(session)
        return report
    if progress:
        progress("Writing", 0, 1)
    with _spatial_index_rebuilt_after(session, report.valid - report.terminated - report.unplaced):
        counts = session.execute(text(WRITE_POSTCODES), {"source": layouts[0].format}).one()
    session.execute(text(REMOVE_TERMINATED))
    _drop_staging(session)
    session.execute(text("ANALYZE postcode"))
    if progress:
        progress("Writing", 1, 1)
    return report.model_copy(update={"created": counts.created, "updated": counts.updated, "written": True})


@contextmanager
def _spatial_index_rebuilt_after(session: Session, rows: int) -> Iterator[None]:
    """For a big load, drop the postcode GiST index and build it again afterwards, when we own the table.

    A GiST index built once over sorted points is several times quicker than one updated row by row.
    The index is recreated from its own definition in the same transaction, so a failure rolls the
    drop back too.
    """
    owner = session.scalar(
        text(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
            "WHERE oid = 'postcode'::regclass"
        )
    )
    if rows < BULK_ROWS or not owner:
        yield
        return
    definition = session.scalar(text(f"SELECT pg_get_indexdef('{SPATIAL_INDEX}'::regclass)"))
    session.execute(text(f"DROP INDEX {SPATIAL_INDEX}"))
    yield
    session.execute(text(str(definition)))


def _report(session: Session, names: Sequence[str], file_format: str) -> PostcodeImportReport:
    """What the staged rows hold: counts and the first problems."""
    counts = session.execute(text(COUNT_STAGE)).one()
    return PostcodeImportReport(
        rows=counts.rows,
        valid=counts.rows - counts.bad,
        problems=_problems(session, names),
        unlisted=max(0, counts.bad - LISTED_PROBLEMS),
        format=file_format,
        terminated=counts.terminated,
        unplaced=counts.unplaced,
    )


def _drop_staging(session: Session) -> None:
    """Drop the temporary tables."""
    session.execute(text("DROP TABLE IF EXISTS pg_temp.postcode_raw, pg_temp.postcode_stage"))
