"""Import area boundaries (GeoJSON) and indicator tables (CSV): check every row first, then load all
of them, or only the valid ones when asked, or nothing.

Boundaries: a GeoJSON FeatureCollection of Polygons and MultiPolygons in WGS84, or in British National
Grid when the file's `crs` names EPSG:27700 (as GIS exports in that CRS say). Each feature's code and name
come from properties such as LSOA21CD and LSOA21NM (found by themselves, or named); the edition is
read from the code property's name (LSOA21CD is the 2021 edition) unless given. Areas wholly outside
the deployment's area are left out; an area whose code is already known (same kind and edition) is
updated, so a file can be imported again.

Indicators: the English Indices of Deprivation "File 7" CSV (2015, 2019 and 2025 editions, told apart
by their official long headers), or a long CSV with the columns area_code, indicator, period, value
(and, for an indicator csmap does not know yet, label and unit).
"""

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ARRAY, Integer, LargeBinary, String, bindparam, text
from sqlalchemy.orm import Session

from contexts import bulk
from contexts.young_people.service import Area
from mapping.areas.schemas import (
    INDICATOR_PATTERN,
    KIND_PATTERN,
    AreaImportReport,
    IndicatorImportReport,
)
from mapping.places.importer import ImportFileError
from mapping.places.models import BRITISH_NATIONAL_GRID, WGS84
from mapping.places.schemas import ImportProblem
from mapping.places.service import WGS84_NAMES, GeometryError, shape_from_geojson

CHUNK = 500
LISTED_PROBLEMS = 1000
"""A report lists at most this many problems; `rows - valid` still counts every bad row."""
BNG_NAMES = frozenset(
    name.lower()
    for name in (
        "EPSG:27700",
        "urn:ogc:def:crs:EPSG::27700",
        "urn:ogc:def:crs:EPSG:6.6:27700",
        "http://www.opengis.net/def/crs/EPSG/0/27700",
    )
)
CODE_PROPERTY = re.compile(r"^([A-Za-z]+)(\d{2})CD$", re.IGNORECASE)
KIND_PREFIXES = {"lsoa": "LSOA", "msoa": "MSOA", "ward": "WD", "lad": "LAD", "oa": "OA"}
AREA_CODE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
Progress = Callable[[str, int, int], None]
"""Told (stage, done, total) as an import goes on."""

CHECK_BOUNDARIES = text(
    """
    WITH given AS (
        SELECT i, ST_Transform(ST_GeomFromWKB(w, :srid), 4326) AS g
        FROM unnest(:wkbs) WITH ORDINALITY AS t(w, i)
    ), checked AS (
        SELECT i, ST_IsEmpty(g) AS empty, ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason,
               ST_Multi(CASE WHEN :repair AND NOT ST_IsValid(g)
                             THEN ST_CollectionExtract(ST_MakeValid(g), 3) ELSE g END) AS r
        FROM given
    )
    SELECT i, empty, valid, reason, ST_IsEmpty(r) AS r_empty, ST_IsValid(r) AS r_valid,
           ST_Intersects(r, ST_MakeEnvelope(:west, :south, :east, :north, 4326)) AS inside,
           ST_AsBinary(r) AS wkb
    FROM checked ORDER BY i
    """
).bindparams(bindparam("wkbs", type_=ARRAY(LargeBinary)))
UPSERT_AREAS = text(
    """
    INSERT INTO small_area (code, name, kind, edition, geom)
    SELECT c, n, :kind, :edition, ST_GeomFromWKB(w, 4326)
    FROM unnest(:codes, :names, :wkbs) AS t(c, n, w)
    ON CONFLICT ON CONSTRAINT uq_small_area_kind_edition_code
    DO UPDATE SET name = excluded.name, geom = excluded.geom, updated_at = now()
    RETURNING (xmax = 0) AS inserted
    """
).bindparams(
    bindparam("codes", type_=ARRAY(String)),
    bindparam("names", type_=ARRAY(String)),
    bindparam("wkbs", type_=ARRAY(LargeBinary)),
)


@dataclass
class FileRow:
    """One feature or CSV row: where it is in the file and what is wrong with it."""

    row: int
    location: str
    problems: list[ImportProblem] = field(default_factory=list)

    def problem(self, name: str, words: str) -> None:
        """Note a problem with one field of this row."""
        self.problems.append(ImportProblem(row=self.row, location=self.location, field=name, problem=words))


# Shared by every area, indicator and postcode import


def decoded_text(content: bytes) -> str:
    """The file as text; ImportFileError if it is not UTF-8 or is empty."""
    try:
        decoded = content.decode("utf-8-sig")
    except UnicodeDecodeError as wrong:
        raise ImportFileError(f"The file is not UTF-8 text (byte {wrong.start} cannot be read).") from wrong
    if not decoded.strip():
        raise ImportFileError("The file is empty.")
    return decoded


def listed(problems: Iterable[ImportProblem]) -> tuple[list[ImportProblem], int]:
    """The first problems to list, and how many more there are."""
    everything = list(problems)
    return everything[:LISTED_PROBLEMS], max(0, len(everything) - LISTED_PROBLEMS)


# Boundaries


@dataclass
class AreaRow(FileRow):
    """One feature: its code, name and boundary."""

    code: str | None = None
    name: str | None = None
    geometry: BaseGeometry | None = None


@dataclass
class AreaFile:
    """A boundary file read and checked feature by feature."""

    rows: list[AreaRow]
    srid: int
    code_field: str
    name_field: str | None
    edition: int


def _file_srid(crs: object) -> int:
    """The file's CRS: WGS84 unless its `crs` names British National Grid; anything else is refused."""
    if crs is None:
        return WGS84
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    lowered = name.strip().lower() if isinstance(name, str) else ""
    if lowered in WGS84_NAMES:
        return WGS84
    if lowered in BNG_NAMES:
        return BRITISH_NATIONAL_GRID
    named = f" ({name[:60]})" if isinstance(name, str) else ""
    raise ImportFileError(
        f"The file's crs{named} is neither WGS84 (EPSG:4326) nor British National Grid (EPSG:27700): "
        "export the boundaries in one of them."
    )


def _code_field(properties: Mapping[str, Any], kind: str) -> str | None:
    """The property holding area codes: the kind's own (e.g. LSOA21CD), another *CD, or `code`."""
    candidates = [key for key in properties if CODE_PROPERTY.match(key)]
    prefix = KIND_PREFIXES.get(kind, "").lower()
    own = [key for key in candidates if key.lower().startswith(prefix) and prefix]
    if own or candidates:
        return (own or candidates)[0]
    return next((key for key in properties if key.lower() == "code"), None)


def _name_field(properties: Mapping[str, Any], code_field: str) -> str | None:
    """The property holding names: the code property's NM twin (LSOA21NM), or `name`."""
    if CODE_PROPERTY.match(code_field):
        twin = code_field[:-2] + ("NM" if code_field[-2:].isupper() else "nm")
        if twin in properties:
            return twin
    return next((key for key in properties if key.lower() == "name"), None)


def _edition(code_field: str, given: int | None) -> int:
    """The boundary edition: as given, or the year in the code property's name (LSOA21CD: 2021)."""
    if given is not None:
        return given
    match = CODE_PROPERTY.match(code_field)
    if match is None:
        raise ImportFileError(
            f"The edition cannot be told from the '{code_field[:40]}' property: "
            "give it (e.g. --edition 2021)."
        )
    return 2000 + int(match.group(2))


def read_area_file(
    content: bytes,
    *,
    kind: str,
    code_field: str | None = None,
    name_field: str | None = None,
    edition: int | None = None,
) -> AreaFile:
    """Parse a boundary FeatureCollection into rows, each checked; ImportFileError if unreadable."""
    if not KIND_PATTERN.match(kind):
        raise ImportFileError("The kind must be lower-case letters, digits and underscores, e.g. lsoa.")
    try:
        document = json.loads(decoded_text(content))
    except json.JSONDecodeError as wrong:
        raise ImportFileError(f"The file is not valid JSON: {wrong.msg} at line {wrong.lineno}.") from wrong
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFileError("The GeoJSON must be a FeatureCollection.")
    srid = _file_srid(document.get("crs"))
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise ImportFileError("The FeatureCollection has no features.")
    first = features[0].get("properties") if isinstance(features[0], dict) else None
    first = first if isinstance(first, dict) else {}
    code_field = code_field or _code_field(first, kind)
    if code_field is None:
        raise ImportFileError(
            "The features have no code property (such as LSOA21CD or code): name it with --code-field."
        )
    name_field = name_field or _name_field(first, code_field)
    rows = [_area_row(index, one, srid, code_field, name_field) for index, one in enumerate(features)]
    _note_repeats(rows, code_field)
    return AreaFile(rows, srid, code_field, name_field, _edition(code_field, edition))


def _area_row(index: int, feature: object, srid: int, code_field: str, name_field: str | None) -> AreaRow:
    """One feature as a row: code, name and boundary checked in Python."""
    row = AreaRow(row=index, location=f"features[{index}]")
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        row.problem("feature", "This is not a GeoJSON Feature")
        return row
    properties = feature.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    code = str(properties.get(code_field) or "").strip()
    if not code:
        row.problem(code_field, f"The feature has no {code_field}")
    elif not AREA_CODE.match(code):
        row.problem(code_field, "An area code is up to 20 letters, digits, hyphens or underscores")
    else:
        row.code = code
    name = str(properties.get(name_field) or "").strip() if name_field else ""
    if name_field and not name:
        row.problem(name_field, f"The feature has no {name_field}")
    row.name = (name or code)[:200]
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        row.problem("geometry", "The feature has no geometry")
        return row
    try:
        row.geometry = _boundary(geometry, srid)
    except GeometryError as wrong:
        row.problem("geometry", str(wrong))
    return row


def _boundary(geometry: Mapping[str, Any], srid: int) -> BaseGeometry:
    """A Polygon or MultiPolygon from GeoJSON, its coordinates checked for the file's CRS."""
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise GeometryError("An area's boundary must be a Polygon or MultiPolygon")
    if srid == WGS84:
        return shape_from_geojson(geometry)
    try:
        parsed = shapely.force_2d(
            shape({"type": geometry["type"], "coordinates": geometry.get("coordinates")})
        )
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, GEOSException) as malformed:
        raise GeometryError(f"The coordinates do not make a {geometry['type']}") from malformed
    coordinates = shapely.get_coordinates(parsed)
    finite = bool(((coordinates == coordinates) & (abs(coordinates) != math.inf)).all())
    xs, ys = coordinates[:, 0], coordinates[:, 1]
    if not finite or not bool(
        (xs >= -1e5).all() and (xs <= 8e5).all() and (ys >= -1e5).all() and (ys <= 1.3e6).all()
    ):
        raise GeometryError("British National Grid coordinates are eastings and northings in metres")
    return parsed


def _note_repeats(rows: Sequence[AreaRow], code_field: str) -> None:
    """No code appears twice in one file."""
    first_seen: dict[str, str] = {}
    for row in rows:
        if row.code is None:
            continue
        if row.code in first_seen:
            row.problem(code_field, f"The same code is on {first_seen[row.code]}")
        else:
            first_seen[row.code] = row.location


def _validity_problem(reason: str) -> str:
    """PostGIS's reason as advice, e.g. 'Self-intersection[-1.5 52.4]'."""
    what, _, where = reason.partition("[")
    near = f" near {where.rstrip(']')}" if where else ""
    return (
        f"The boundary is not valid ({what.strip()}{near}): a boundary must not cross itself. "
        "Correct it, or import with --repair to mend it with ST_MakeValid"
    )


def _check_boundaries(
    session: Session, file: AreaFile, *, area: Area, repair: bool, progress: Progress | None
) -> tuple[dict[int, bytes], int]:
    """Check boundaries in PostGIS in chunks: WGS84 WKB to store by row index, and how many lie outside."""
    located = [(index, row) for index, row in enumerate(file.rows) if row.geometry is not None]
    stored: dict[int, bytes] = {}
    outside = 0
    for start in range(0, len(located), CHUNK):
        chunk = located[start : start + CHUNK]
        results = session.execute(
            CHECK_BOUNDARIES,
            {
                "wkbs": [shapely.to_wkb(row.geometry) for _, row in chunk],
                "srid": file.srid,
                "repair": repair,
                "west": area.min_longitude,
                "south": area.min_latitude,
                "east": area.max_longitude,
                "north": area.max_latitude,
            },
        )
        for (index, row), result in zip(chunk, results, strict=True):
            if result.empty or result.r_empty:
                row.problem(
                    "geometry", "The boundary is empty" + (" once repaired" if result.r_empty else "")
                )
            elif not result.r_valid:
                row.problem("geometry", _validity_problem(result.reason or "invalid"))
            elif not result.inside:
                outside += 1
            else:
                stored[index] = bytes(result.wkb)
        if progress:
            progress("Checking", min(start + CHUNK, len(located)), len(located))
    return stored, outside


def import_areas(
    *,
    session: Session,
    file: AreaFile,
    kind: str,
    area: Area,
    skip_invalid: bool = False,
    repair: bool = False,
    progress: Progress | None = None,
) -> AreaImportReport:
    """Check every boundary, then load them all, or only the valid ones when `skip_invalid`, or nothing."""
    stored, outside = _check_boundaries(session, file, area=area, repair=repair, progress=progress)
    problems = [problem for row in file.rows for problem in row.problems]
    bad = sum(1 for row in file.rows if row.problems)
    shown, unlisted = listed(problems)
    report = AreaImportReport(
        rows=len(file.rows),
        valid=len(file.rows) - bad,
        problems=shown,
        unlisted=unlisted,
        kind=kind,
        edition=file.edition,
        outside=outside,
    )
    if problems and not skip_invalid:
        return report
    chosen = [(file.rows[index], wkb) for index, wkb in stored.items() if not file.rows[index].problems]
    created, updated = _write_areas(session, kind, file.edition, chosen, progress)
    return report.model_copy(update={"created": created, "updated": updated, "written": True})


def _write_areas(
    session: Session,
    kind: str,
    edition: int,
    chosen: Sequence[tuple[AreaRow, bytes]],
    progress: Progress | None,
) -> tuple[int, int]:
    """Add or update the areas in chunks: (added, updated)."""
    created = updated = 0
    for start in range(0, len(chosen), CHUNK):
        chunk = chosen[start : start + CHUNK]
        parameters = {
            "kind": kind,
            "edition": edition,
            "codes": [row.code for row, _ in chunk],
            "names": [row.name for row, _ in chunk],
            "wkbs": [wkb for _, wkb in chunk],
        }
        inserted = list(session.execute(UPSERT_AREAS, parameters).scalars())
        created += sum(inserted)
        updated += len(inserted) - sum(inserted)
        if progress:
            progress("Writing", start + len(chunk), len(chosen))
    return created, updated


def load_area_file(
    *,
    session: Session,
    content: bytes,
    kind: str,
    area: Area,
    code_field: str | None = None,
    name_field: str | None = None,
    edition: int | None = None,
    skip_invalid: bool = False,
    repair: bool = False,
    progress: Progress | None = None,
) -> AreaImportReport:
    """Read and import a boundary file; ImportFileError if it cannot be read at all."""
    file = read_area_file(content, kind=kind, code_field=code_field, name_field=name_field, edition=edition)
    return import_areas(
        session=session,
        file=file,
        kind=kind,
        area=area,
        skip_invalid=skip_invalid,
        repair=repair,
        progress=progress,
    )


# Indicators


@dataclass(frozen=True, slots=True)
class IodColumn:
    """A column of the English Indices of Deprivation CSV: which indicator, and how its header starts."""

    indicator: str
    header: str
    whole: bool = False
    bounds: tuple[float, float] | None = None


IOD_COLUMNS = (
    IodColumn("imd_score", "Index of Multiple Deprivation (IMD) Score"),
    IodColumn("imd_rank", "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)", True),
    IodColumn(
        "imd_decile",
        "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
        True,
        (1, 10),
    ),
    IodColumn("idaci_score", "Income Deprivation Affecting Children Index (IDACI) Score"),
    IodColumn("idaci_rank", "Income Deprivation Affecting Children Index (IDACI) Rank", True),
    IodColumn("idaci_decile", "Income Deprivation Affecting Children Index (IDACI) Decile", True, (1, 10)),
)
IOD_REQUIRED = ("imd_rank", "imd_decile")
IOD_POPULATIONS = (
    ("population_total", re.compile(r"^total population: mid (\d{4})")),
    ("population_0_15", re.compile(r"^dependent children aged 0-15: mid (\d{4})")),
)
IOD_CODE = re.compile(r"^lsoa code \((\d{4})\)$")
IOD_EDITIONS_BY_POPULATION_YEAR = {2012: 2015, 2015: 2019, 2022: 2025}
IOD_EDITIONS_BY_LSOA_EDITION = {2011: 2019, 2021: 2025}
LONG_COLUMNS = ("area_code", "indicator", "period", "value")


@dataclass(frozen=True, slots=True)
class IndicatorCell:
    """One value to store: for which area code, which indicator and period, and the row it came from."""

    row: int
    code: str
    indicator: str
    period: str
    value: float


@dataclass
class IndicatorFile:
    """An indicator CSV read and checked row by row."""

    format: str
    rows: list[FileRow]
    cells: list[IndicatorCell]
    code_column: str
    area_kind: str | None = None
    area_edition: int | None = None
    new_indicators: dict[str, tuple[str, str]] = field(default_factory=dict)


def _squeezed(header: str) -> str:
    """A header in lower case with single spaces, for matching."""
    return " ".join(header.split()).lower()


def read_indicator_file(content: bytes, *, edition: int | None = None) -> IndicatorFile:
    """Parse an IoD or long indicator CSV into values, each row checked; ImportFileError if unreadable."""
    reader = csv.reader(io.StringIO(decoded_text(content), newline=""), strict=True)
    try:
        header = [cell.strip() for cell in next(reader, [])]
        squeezed = [_squeezed(cell) for cell in header]
        if any(IOD_CODE.match(cell) for cell in squeezed):
            return _read_iod(reader, header, squeezed, edition)
        missing = [name for name in LONG_COLUMNS if name not in squeezed]
        if missing:
            raise ImportFileError(
                "The CSV is neither an English Indices of Deprivation file (it has no 'LSOA code (2011)' or "
                "'LSOA code (2021)' column) nor a long indicator file: it has no "
                + ", ".join(f"'{name}'" for name in missing)
                + " column."
            )
        return _read_long(reader, squeezed)
    except csv.Error as wrong:
        raise ImportFileError(f"The CSV cannot be read at line {reader.line_num}: {wrong}.") from wrong


def _iod_edition(squeezed: Sequence[str], lsoa_edition: int, given: int | None) -> tuple[int, dict[str, int]]:
    """The IoD edition (from its population year or LSOA edition) and each population column's year."""
    years: dict[str, int] = {}
    for indicator, pattern in IOD_POPULATIONS:
        for cell in squeezed:
            match = pattern.match(cell)
            if match:
                years[indicator] = int(match.group(1))
    if given is not None:
        return given, years
    for year in years.values():
        if year in IOD_EDITIONS_BY_POPULATION_YEAR:
            return IOD_EDITIONS_BY_POPULATION_YEAR[year], years
    if lsoa_edition in IOD_EDITIONS_BY_LSOA_EDITION:
        return IOD_EDITIONS_BY_LSOA_EDITION[lsoa_edition], years
    raise ImportFileError("The Indices of Deprivation edition cannot be told: give it (e.g. --edition 2025).")


def _iod_columns(squeezed: Sequence[str]) -> dict[int, IodColumn]:
    """The IoD measure columns present, by position; ImportFileError naming any required one missing."""
    found: dict[int, IodColumn] = {}
    for column in IOD_COLUMNS:
        start = _squeezed(column.header)
        position = next((i for i, cell in enumerate(squeezed) if cell.startswith(start)), None)
        if position is not None:
            found[position] = column
        elif column.indicator in IOD_REQUIRED:
            raise ImportFileError(f"The Indices of Deprivation CSV has no '{column.header}' column.")
    return found


Measures = dict[int, tuple[IodColumn, str]]
"""The IoD columns to read, by position: which indicator, and the period its values are for."""


def _iod_measures(
    header: Sequence[str], squeezed: Sequence[str], iod_edition: int, years: Mapping[str, int]
) -> Measures:
    """The measure and population columns present, each with its period."""
    measures = {at: (column, str(iod_edition)) for at, column in _iod_columns(squeezed).items()}
    for indicator, pattern in IOD_POPULATIONS:
        at = next((i for i, cell in enumerate(squeezed) if pattern.match(cell)), None)
        if at is not None:
            measures[at] = (IodColumn(indicator, header[at], False, (0, math.inf)), str(years[indicator]))
    return measures


def _read_iod(
    reader: Iterable[list[str]], header: list[str], squeezed: list[str], edition: int | None
) -> IndicatorFile:
    """Values from an English Indices of Deprivation CSV with its official long headers."""
    code_at, lsoa_edition = next(
        (i, int(match.group(1))) for i, cell in enumerate(squeezed) if (match := IOD_CODE.match(cell))
    )
    iod_edition, years = _iod_edition(squeezed, lsoa_edition, edition)
    measures = _iod_measures(header, squeezed, iod_edition, years)
    file = IndicatorFile(
        format=f"iod{iod_edition}",
        rows=[],
        cells=[],
        code_column=header[code_at],
        area_kind="lsoa",
        area_edition=lsoa_edition,
    )
    for values in reader:
        if any(cell.strip() for cell in values):
            _iod_row(file, _line_of(reader), values, header, code_at, measures)
    return file


def _iod_row(
    file: IndicatorFile,
    line: int,
    values: Sequence[str],
    header: Sequence[str],
    code_at: int,
    measures: Measures,
) -> None:
    """One IoD row's values, each cell checked."""
    row = FileRow(row=line, location=f"row {line}")
    file.rows.append(row)
    code = _cell(values, code_at)
    if not code:
        row.problem(header[code_at], "The area code is empty")
        return
    for at, (column, period) in measures.items():
        number = _number(row, header[at], _cell(values, at), column)
        if number is not None:
            file.cells.append(IndicatorCell(line, code, column.indicator, period, number))


def _line_of(reader: Iterable[list[str]]) -> int:
    """The line the reader has just read (the header is line 1)."""
    return int(getattr(reader, "line_num", 0))


def _cell(values: Sequence[str], at: int) -> str:
    """A cell, trimmed; empty if the row is short."""
    return values[at].strip() if at < len(values) else ""


def _number(row: FileRow, name: str, cell: str, column: IodColumn | None = None) -> float | None:
    """A finite number (whole, within bounds, when the column says so); a problem noted if not."""
    try:
        number = float(cell.replace(",", ""))
    except ValueError:
        row.problem(name, "Enter a number" if cell else "The cell is empty: enter a number")
        return None
    if not math.isfinite(number):
        row.problem(name, "Enter a finite number")
        return None
    if column and column.whole and number != int(number):
        row.problem(name, "Enter a whole number")
        return None
    if column and column.bounds and not column.bounds[0] <= number <= column.bounds[1]:
        low, high = column.bounds
        row.problem(
            name, f"Enter a number from {low:g}" + (f" to {high:g}" if math.isfinite(high) else " up")
        )
        return None
    return number


def _read_long(reader: Iterable[list[str]], squeezed: list[str]) -> IndicatorFile:
    """Values from a long CSV: area_code, indicator, period, value (label and unit optional)."""
    at = {name: squeezed.index(name) for name in (*LONG_COLUMNS, "label", "unit") if name in squeezed}
    file = IndicatorFile(format="long", rows=[], cells=[], code_column="area_code")
    first_seen: dict[tuple[str, str, str], str] = {}
    for values in reader:
        line = _line_of(reader)
        if not any(cell.strip() for cell in values):
            continue
        row = FileRow(row=line, location=f"row {line}")
        file.rows.append(row)
        cell = _long_cell(row, values, at)
        if cell is None:
            continue
        key = (cell.code, cell.indicator, cell.period)
        if key in first_seen:
            row.problem("period", f"The same area, indicator and period is on {first_seen[key]}")
            continue
        first_seen[key] = row.location
        file.cells.append(cell)
        label = _cell(values, at["label"]) if "label" in at else ""
        unit = _cell(values, at["unit"]) if "unit" in at else ""
        file.new_indicators.setdefault(cell.indicator, (label[:200] or cell.indicator, unit[:40] or "value"))
    return file


def _long_cell(row: FileRow, values: Sequence[str], at: Mapping[str, int]) -> IndicatorCell | None:
    """One long-format row as a value, noting each problem."""
    code, indicator = _cell(values, at["area_code"]), _cell(values, at["indicator"]).lower()
    period = _cell(values, at["period"])
    if not AREA_CODE.match(code):
        row.problem("area_code", "An area code is up to 20 letters, digits, hyphens or underscores")
    if not INDICATOR_PATTERN.match(indicator):
        row.problem(
            "indicator", "An indicator code is lower-case letters, digits and underscores, e.g. imd_decile"
        )
    if not 1 <= len(period) <= 20:
        row.problem("period", "Give the period in up to 20 characters, e.g. 2025")
    value = _number(row, "value", _cell(values, at["value"]))
    if row.problems or value is None:
        return None
    return IndicatorCell(row.row, code, indicator, period, value)


MATCH_AREAS = text(
    """
    SELECT DISTINCT ON (code) code, id FROM small_area
    WHERE code = ANY(:codes)
      AND (CAST(:kind AS text) IS NULL OR kind = :kind)
      AND (CAST(:edition AS integer) IS NULL OR edition = :edition)
    ORDER BY code, edition DESC, kind
    """
).bindparams(bindparam("codes", type_=ARRAY(String)), bindparam("edition", type_=Integer))


def _area_ids(
    session: Session, codes: Iterable[str], kind: str | None, edition: int | None
) -> dict[str, int]:
    """Area ids by code (the newest edition when several match)."""
    wanted = sorted(set(codes))
    rows = session.execute(MATCH_AREAS, {"codes": wanted, "kind": kind, "edition": edition})
    return {row.code: row.id for row in rows}


def _unknown_code_problem(kind: str | None, edition: int | None, code: str) -> str:
    """Why a code matched no area, and what to do about it."""
    which = " ".join(part for part in (kind, f"({edition} edition)" if edition else None) if part) or "area"
    return f"There is no {which} with the code {code}: import its boundaries first, or skip invalid rows"


def import_indicators(
    *,
    session: Session,
    file: IndicatorFile,
    source: str,
    kind: str | None = None,
    area_edition: int | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> IndicatorImportReport:
    """Match every value to an area, then load them all, or only the valid rows when asked, or nothing."""
    kind = kind or file.area_kind
    area_edition = area_edition or file.area_edition
    ids = _area_ids(session, (cell.code for cell in file.cells), kind, area_edition)
    rows = {row.row: row for row in file.rows}
    unknown = {cell.row: cell.code for cell in file.cells if cell.code not in ids}
    for line, code in sorted(unknown.items()):
        rows[line].problem(file.code_column, _unknown_code_problem(kind, area_edition, code))
    problems = [problem for row in file.rows for problem in row.problems]
    shown, unlisted = listed(problems)
    bad = {row.row for row in file.rows if row.problems}
    report = IndicatorImportReport(
        rows=len(file.rows),
        valid=len(file.rows) - len(bad),
        problems=shown,
        unlisted=unlisted,
        format=file.format,
        indicators=sorted({cell.indicator for cell in file.cells}),
    )
    if problems and not skip_invalid:
        return report
    chosen = [cell for cell in file.cells if cell.row not in bad]
    created, updated = _write_values(session, file, chosen, ids, source, progress)
    return report.model_copy(update={"created": created, "updated": updated, "written": True})


WRITE_VALUES = """
    WITH up AS (
        INSERT INTO area_indicator (area_id, indicator, period, value, source)
        SELECT area_id, indicator, period, value, %(source)s FROM indicator_stage
        ON CONFLICT (area_id, indicator, period)
        DO UPDATE SET value = excluded.value, source = excluded.source
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""


def _write_values(
    session: Session,
    file: IndicatorFile,
    cells: Sequence[IndicatorCell],
    ids: Mapping[str, int],
    source: str,
    progress: Progress | None,
) -> tuple[int, int]:
    """Stage the values with COPY and upsert them in one statement: (added, updated)."""
    connection = bulk.raw_connection(session)
    used = {cell.indicator for cell in cells}
    with connection.cursor() as cursor:
        for code in sorted(used):
            label, unit = file.new_indicators.get(code, (code, "value"))
            cursor.execute(
                "INSERT INTO indicator (code, label, unit) VALUES (%s, %s, %s) ON CONFLICT (code) DO NOTHING",
                (code, label, unit),
            )
        cursor.execute("DROP TABLE IF EXISTS pg_temp.indicator_stage")
        cursor.execute(
            "CREATE TEMP TABLE indicator_stage (area_id integer, indicator text, period text, value float8)"
        )
        bulk.copy_rows(
            connection,
            "indicator_stage",
            "area_id, indicator, period, value",
            ((ids[cell.code], cell.indicator, cell.period, cell.value) for cell in cells),
        )
        if progress:
            progress("Writing", len(cells), len(cells))
        counts = cursor.execute(WRITE_VALUES, {"source": source[:200]}).fetchone()
        cursor.execute("DROP TABLE pg_temp.indicator_stage")
    return (int(counts[0]), int(counts[1])) if counts else (0, 0)


def load_indicator_file(
    *,
    session: Session,
    content: bytes,
    name: str,
    edition: int | None = None,
    kind: str | None = None,
    area_edition: int | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> IndicatorImportReport:
    """Read and import an indicator file; ImportFileError if it cannot be read at all."""
    file = read_indicator_file(content, edition=edition)
    source = f"{file.format}: {name}" if file.format != "long" else name
    return import_indicators(
        session=session,
        file=file,
        source=source,
        kind=kind,
        area_edition=area_edition,
        skip_invalid=skip_invalid,
        progress=progress,
    )
