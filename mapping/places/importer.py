"""Import places from a GeoJSON FeatureCollection or a CSV file: check every row first, then load
all of them, or only the valid ones when asked, or nothing.

CSV columns (a header row is required; other columns are ignored):
  name, type                 required; type is a place type code (GET /api/place-types)
  longitude, latitude        WGS84 degrees, or
  easting, northing          British National Grid metres (EPSG:27700), or
  wkt                        any geometry as WKT in WGS84 longitude/latitude, e.g. LINESTRING (...)
  address, postcode, owner_name, owner_contact, licence_refs (separated by ';'), external_ref

GeoJSON: a FeatureCollection in WGS84 (RFC 7946); each feature's properties carry the same names.

A place whose `external_ref` is already known is updated, not added again, so a file can be
imported again after it changes.
"""

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geoalchemy2 import WKBElement
from pydantic import ValidationError
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ARRAY, Float, bindparam, select, text
from sqlalchemy.orm import Session

from contexts.access import Actor
from contexts.audit.models import AuditAction
from contexts.audit.service import RequestOrigin
from contexts.errors import InvalidInput
from contexts.young_people.service import Area
from mapping.places.models import WGS84, Place
from mapping.places.schemas import ImportProblem, ImportReport, Name, PlaceFields, TypeCode
from mapping.places.service import (
    GeometryError,
    active_type_codes,
    audit_events,
    check_geometries,
    checked_shape,
    crs_problem,
    shape_from_geojson,
    shape_from_wkt,
)

CHUNK = 1000
FIELDS = (
    "name",
    "type",
    "address",
    "postcode",
    "owner_name",
    "owner_contact",
    "licence_refs",
    "external_ref",
)
POSITION_COLUMNS = (("longitude", "latitude"), ("easting", "northing"))
FROM_BNG = text(
    """
    SELECT ST_X(p) AS longitude, ST_Y(p) AS latitude
    FROM unnest(:eastings, :northings) WITH ORDINALITY AS t(e, n, i),
         LATERAL ST_Transform(ST_SetSRID(ST_MakePoint(e, n), 27700), 4326) AS p
    ORDER BY i
    """
).bindparams(bindparam("eastings", type_=ARRAY(Float)), bindparam("northings", type_=ARRAY(Float)))
Progress = Callable[[str, int, int], None]
"""Told (stage, done, total) as an import goes on."""


class ImportFileError(InvalidInput):
    """The file as a whole cannot be read: nothing is imported."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="file")


class ImportRefused(InvalidInput):
    """Some rows are bad and the import was asked to load all or nothing: nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            f"{len(report.problems)} problem(s) in {report.rows - report.valid} of {report.rows} rows: "
            "nothing was imported. Correct them, or import the valid rows only (skip invalid)."
        )
        self.report = report

    def extra(self) -> dict[str, object]:
        """The whole report, naming each bad row."""
        return {"report": self.report.model_dump(mode="json")}


class RowFields(PlaceFields):
    """A row's fields other than its geometry."""

    name: Name
    type: TypeCode


@dataclass
class ImportRow:
    """One row or feature: where it is in the file, its fields, its geometry, what is wrong with it."""

    row: int
    location: str
    fields: RowFields | None = None
    geometry: BaseGeometry | None = None
    grid_reference: tuple[float, float] | None = None
    problems: list[ImportProblem] = field(default_factory=list)

    def problem(self, name: str, words: str) -> None:
        """Note a problem with one field of this row."""
        self.problems.append(ImportProblem(row=self.row, location=self.location, field=name, problem=words))


# Reading files


def read_places_file(content: bytes, *, name: str = "") -> list[ImportRow]:
    """Parse a GeoJSON or CSV file into rows, each checked on its own; ImportFileError if unreadable."""
    try:
        decoded = content.decode("utf-8-sig")
    except UnicodeDecodeError as wrong:
        raise ImportFileError(f"The file is not UTF-8 text (byte {wrong.start} cannot be read).") from wrong
    if not decoded.strip():
        raise ImportFileError("The file is empty.")
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix in {"geojson", "json"} or (suffix != "csv" and decoded.lstrip().startswith("{")):
        return read_geojson(decoded)
    return read_csv(decoded)


def _fields(row: ImportRow, values: Mapping[str, Any]) -> None:
    """Validate the row's fields, noting each problem by field."""
    given = {name: values.get(name) for name in FIELDS if values.get(name) not in (None, "")}
    refs = given.get("licence_refs")
    if isinstance(refs, str):
        given["licence_refs"] = refs.split(";")
    try:
        row.fields = RowFields.model_validate(given)
    except ValidationError as invalid:
        for error in invalid.errors():
            where = str(error["loc"][0]) if error["loc"] else "row"
            row.problem(where, str(error["msg"]).removeprefix("Value error, "))


def read_geojson(decoded: str) -> list[ImportRow]:
    """Rows from a GeoJSON FeatureCollection."""
    try:
        document = json.loads(decoded)
    except json.JSONDecodeError as wrong:
        raise ImportFileError(f"The file is not valid JSON: {wrong.msg} at line {wrong.lineno}.") from wrong
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFileError("The GeoJSON must be a FeatureCollection.")
    problem = crs_problem(document.get("crs"))
    if problem:
        raise ImportFileError(problem.replace("The geometry's", "The file's") + ".")
    features = document.get("features")
    if not isinstance(features, list):
        raise ImportFileError("The FeatureCollection has no list of features.")
    return [_feature_row(index, feature) for index, feature in enumerate(features)]


def _feature_row(index: int, feature: object) -> ImportRow:
    """One feature as a row."""
    row = ImportRow(row=index, location=f"features[{index}]")
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        row.problem("feature", "This is not a GeoJSON Feature")
        return row
    properties = feature.get("properties")
    _fields(row, properties if isinstance(properties, dict) else {})
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        row.problem("geometry", "The feature has no geometry")
        return row
    try:
        row.geometry = shape_from_geojson(geometry)
    except GeometryError as wrong:
        row.problem("geometry", str(wrong))
    return row


def read_csv(decoded: str) -> list[ImportRow]:
    """Rows from a CSV file with a header row."""
    reader = csv.DictReader(io.StringIO(decoded, newline=""), strict=True)
    try:
        header = [column.strip().lower() for column in reader.fieldnames or []]
        reader.fieldnames = header
        _check_header(header)
        rows = [_csv_row(reader.line_num, values) for values in reader]
    except csv.Error as wrong:
        raise ImportFileError(f"The CSV cannot be read at line {reader.line_num}: {wrong}.") from wrong
    return rows


def _check_header(header: Sequence[str]) -> None:
    """The header names the required columns and a way to place each row."""
    if not header:
        raise ImportFileError("The CSV has no header row.")
    for required in ("name", "type"):
        if required not in header:
            raise ImportFileError(f"The CSV has no '{required}' column.")
    if "wkt" not in header and not any(set(pair) <= set(header) for pair in POSITION_COLUMNS):
        raise ImportFileError(
            "The CSV needs longitude and latitude columns, easting and northing columns, or a wkt column."
        )


def _number(row: ImportRow, values: Mapping[str, Any], name: str) -> float | None:
    """A number typed in a cell, noting a problem if it is not one."""
    try:
        return float(str(values.get(name) or "").strip())
    except ValueError:
        row.problem(name, "Enter a number")
        return None


def _csv_row(line: int, values: dict[str | None, Any]) -> ImportRow:
    """One CSV line as a row."""
    row = ImportRow(row=line, location=f"row {line}")
    if None in values:
        row.problem("row", "This row has more cells than the header")
    cells = {key: (value or "").strip() for key, value in values.items() if isinstance(key, str)}
    _fields(row, cells)
    try:
        if cells.get("wkt"):
            row.geometry = shape_from_wkt(cells["wkt"])
        elif cells.get("longitude") or cells.get("latitude"):
            row.geometry = _lon_lat(row, cells)
        elif cells.get("easting") or cells.get("northing"):
            _grid_reference(row, cells)
        else:
            row.problem("geometry", "Give a longitude and latitude, an easting and northing, or wkt")
    except GeometryError as wrong:
        row.problem("wkt" if cells.get("wkt") else "longitude", str(wrong))
    return row


def _lon_lat(row: ImportRow, cells: Mapping[str, str]) -> BaseGeometry | None:
    """A point from longitude and latitude cells."""
    longitude, latitude = _number(row, cells, "longitude"), _number(row, cells, "latitude")
    if longitude is None or latitude is None:
        return None
    return checked_shape(Point(longitude, latitude))


def _grid_reference(row: ImportRow, cells: Mapping[str, str]) -> None:
    """Keep an easting and northing for converting to WGS84 in PostGIS."""
    easting, northing = _number(row, cells, "easting"), _number(row, cells, "northing")
    if easting is None or northing is None:
        return
    if not (0 <= easting <= 700_000 and 0 <= northing <= 1_300_000):
        row.problem("easting", "An easting runs 0 to 700000 and a northing 0 to 1300000 (metres)")
        return
    row.grid_reference = (easting, northing)


# Checking and loading


def _convert_grid_references(session: Session, rows: Sequence[ImportRow]) -> None:
    """Turn eastings and northings into WGS84 points in one query."""
    pending = [row for row in rows if row.grid_reference is not None]
    if not pending:
        return
    eastings = [row.grid_reference[0] for row in pending if row.grid_reference]
    northings = [row.grid_reference[1] for row in pending if row.grid_reference]
    converted = session.execute(FROM_BNG, {"eastings": eastings, "northings": northings}).all()
    for row, point in zip(pending, converted, strict=True):
        row.geometry = Point(point.longitude, point.latitude)


def _check_rows(
    session: Session, rows: Sequence[ImportRow], *, area: Area, repair: bool, progress: Progress | None
) -> dict[int, bytes]:
    """Check every geometry in PostGIS, in chunks; WKB to store by row index."""
    located = [(index, row) for index, row in enumerate(rows) if row.geometry is not None]
    stored: dict[int, bytes] = {}
    for start in range(0, len(located), CHUNK):
        chunk = located[start : start + CHUNK]
        outcomes = check_geometries(
            session, [row.geometry for _, row in chunk if row.geometry], area=area, repair=repair
        )
        for (index, row), outcome in zip(chunk, outcomes, strict=True):
            if outcome.wkb is None:
                row.problem("geometry", outcome.problem or "The geometry cannot be stored")
            else:
                stored[index] = outcome.wkb
        if progress:
            progress("Checking", min(start + CHUNK, len(located)), len(located))
    return stored


def _check_types_and_refs(session: Session, rows: Sequence[ImportRow]) -> None:
    """Each type is known, and no external reference appears twice in the file."""
    codes = active_type_codes(session)
    first_seen: dict[str, str] = {}
    for row in rows:
        if row.fields is None:
            continue
        if row.fields.type not in codes:
            row.problem("type", f"There is no place type '{row.fields.type[:40]}'")
        ref = row.fields.external_ref
        if ref is not None:
            if ref in first_seen:
                row.problem("external_ref", f"The same external_ref is on {first_seen[ref]}")
            else:
                first_seen[ref] = row.location


def validate_rows(
    session: Session, rows: Sequence[ImportRow], *, area: Area, repair: bool, progress: Progress | None = None
) -> tuple[dict[int, bytes], ImportReport]:
    """Check every row; the WKB of the valid ones by index, and a report naming every bad row."""
    _convert_grid_references(session, rows)
    _check_types_and_refs(session, rows)
    stored = _check_rows(session, rows, area=area, repair=repair, progress=progress)
    valid = [index for index, row in enumerate(rows) if not row.problems and index in stored]
    problems = [problem for row in rows for problem in row.problems]
    return {index: stored[index] for index in valid}, ImportReport(
        rows=len(rows), valid=len(valid), problems=problems
    )


def import_places(
    *,
    session: Session,
    rows: Sequence[ImportRow],
    actor: Actor | None,
    origin: RequestOrigin,
    area: Area,
    skip_invalid: bool = False,
    repair: bool = False,
    username: str = "import",
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then load them all, or only the valid ones when `skip_invalid`, or nothing."""
    valid, report = validate_rows(session, rows, area=area, repair=repair, progress=progress)
    if report.problems and not skip_invalid:
        return report
    chosen = [(rows[index], wkb) for index, wkb in valid.items()]
    refs = [row.fields.external_ref for row, _ in chosen if row.fields and row.fields.external_ref]
    known = {
        place.external_ref: place
        for place in session.scalars(select(Place).where(Place.external_ref.in_(refs)))
    }
    changes: list[tuple[AuditAction, Place]] = []
    for done, (row, wkb) in enumerate(chosen, start=1):
        assert row.fields is not None
        existing = known.get(row.fields.external_ref) if row.fields.external_ref else None
        place = existing or Place(created_by_agency_id=actor.agency_id if actor else None)
        _apply(place, row.fields, wkb, actor, new=existing is None)
        if existing is None:
            session.add(place)
        changes.append((AuditAction.CREATE if existing is None else AuditAction.UPDATE, place))
        if progress and (done % CHUNK == 0 or done == len(chosen)):
            session.flush()
            progress("Writing", done, len(chosen))
    session.flush()
    session.add_all(audit_events(actor, origin, ((action, place.id) for action, place in changes), username))
    session.flush()
    created = sum(1 for action, _ in changes if action is AuditAction.CREATE)
    return report.model_copy(update={"created": created, "updated": len(changes) - created, "written": True})


def _apply(place: Place, fields: RowFields, wkb: bytes, actor: Actor | None, *, new: bool) -> None:
    """Set a place's fields from a row."""
    place.name = fields.name
    place.place_type = fields.type
    place.geom = WKBElement(wkb, srid=WGS84)
    for name in ("address", "postcode", "owner_name", "owner_contact", "licence_refs", "external_ref"):
        setattr(place, name, getattr(fields, name))
    if new and actor:
        place.created_by_id = actor.user_id
    place.updated_by_id = actor.user_id if actor else None


def load_file(
    *,
    session: Session,
    content: bytes,
    name: str,
    actor: Actor | None,
    origin: RequestOrigin,
    area: Area,
    skip_invalid: bool = False,
    repair: bool = False,
    username: str = "import",
    progress: Progress | None = None,
) -> ImportReport:
    """Read and import a file; ImportFileError if unreadable, ImportRefused if all-or-nothing failed."""
    rows = read_places_file(content, name=name)
    report = import_places(
        session=session,
        rows=rows,
        actor=actor,
        origin=origin,
        area=area,
        skip_invalid=skip_invalid,
        repair=repair,
        username=username,
        progress=progress,
    )
    if not report.written:
        raise ImportRefused(report)
    return report
