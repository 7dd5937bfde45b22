"""A drawn area as a hotspot map's study area: a GeoJSON Polygon or MultiPolygon in WGS84, checked.

Users draw the area on the map (Leaflet.draw) or give it as compact JSON text (`area=`). It is
refused, naming `area`, when it is not JSON, not a Polygon or MultiPolygon, has no ring, has an
open or too short ring, crosses itself (or its parts overlap), has more than MAX_AREA_VERTICES
corners, or lies outside the world or the deployment's area. Coordinates are kept to six decimal
places (about 0.1 m), so the same drawing always gives the same text and the same cells.

Which cells an area selects (`cells_meeting`): those whose inside meets the area's inside, in the
grid's metric CRS. A cell that only touches the outline along an edge or at a corner is left out,
so an area drawn exactly along cell edges selects the cells inside it and no ring around them.
"""

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic_core import from_json, to_json
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from contexts.errors import InvalidInput
from contexts.young_people.service import Area
from mapping.hotspots.grid import Grid, cell_polygons

FIELD: Final = "area"
MAX_AREA_VERTICES: Final = 1_000
MAX_AREA_TEXT: Final = 40_000
"""Longest area text accepted (a thousand corners at six decimals fit in about 23,000 characters)."""
AREA_DIGITS: Final = 6
AREA_TYPES: Final = ("Polygon", "MultiPolygon")
CELLS_PER_TEST: Final = 200_000
"""Cells outlined at once when testing them against an area (bounds the memory a large grid takes)."""

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class DrawnArea:
    """A checked drawn area: compact GeoJSON text, its type, corners and WGS84 bounds."""

    geojson: str
    kind: str
    vertices: int
    bounds: tuple[float, float, float, float]

    def geometry(self) -> dict[str, Any]:
        """The area as a GeoJSON geometry object."""
        value: dict[str, Any] = from_json(self.geojson)
        return value

    def describe(self) -> str:
        """The area in a few words: its type, corners and bounds (for the audit trail and pages)."""
        bounds = ",".join(f"{value:g}" for value in self.bounds)
        return f"{self.kind.lower()} of {self.vertices} corners within {bounds}"


def refuse(message: str) -> InvalidInput:
    """A refusal naming the `area` parameter."""
    return InvalidInput(message, field=FIELD)


def parse_area(text: str | None) -> DrawnArea | None:
    """The drawn area given as GeoJSON text, checked (None when blank)."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_AREA_TEXT:
        raise refuse(f"The area is too long: give at most {MAX_AREA_VERTICES:,} corners.")
    try:
        given = from_json(text)
    except ValueError:
        raise refuse("The area is not valid JSON: give a GeoJSON Polygon or MultiPolygon.") from None
    if not isinstance(given, dict) or given.get("type") not in AREA_TYPES:
        raise refuse("The area must be a GeoJSON Polygon or MultiPolygon in longitude, latitude.")
    kind = str(given["type"])
    polygons = _polygons(kind, given.get("coordinates"))
    vertices = sum(len(ring) - 1 for rings in polygons for ring in rings)
    if vertices > MAX_AREA_VERTICES:
        raise refuse(f"The area has {vertices:,} corners; the most is {MAX_AREA_VERTICES:,}.")
    shape = _checked_shape(polygons)
    coordinates: Any = polygons[0] if kind == "Polygon" else polygons
    west, south, east, north = (float(value) for value in shape.bounds)
    text_out = to_json({"type": kind, "coordinates": coordinates}).decode()
    return DrawnArea(geojson=text_out, kind=kind, vertices=vertices, bounds=(west, south, east, north))


def _polygons(kind: str, coordinates: object) -> list[list[Ring]]:
    """The polygons' rings of positions, rounded, refusing any other structure."""
    if not isinstance(coordinates, list) or not coordinates:
        raise refuse("The area is empty: draw at least three corners.")
    given = [coordinates] if kind == "Polygon" else coordinates
    polygons = []
    for rings in given:
        if not isinstance(rings, list) or not rings:
            raise refuse("The area has an empty part: draw at least three corners.")
        polygons.append([_ring(ring) for ring in rings])
    return polygons


def _ring(ring: object) -> Ring:
    """One closed ring of at least three corners, each [longitude, latitude] in degrees."""
    if not isinstance(ring, list) or len(ring) < 4:
        raise refuse("Each outline of the area must be closed and have at least three corners.")
    positions = [_position(position) for position in ring]
    if positions[0] != positions[-1]:
        raise refuse("Each outline of the area must end where it starts.")
    return positions


def _position(position: object) -> tuple[float, float]:
    """A corner as (longitude, latitude) rounded to six decimals; a height, if given, is dropped."""
    if not isinstance(position, list) or len(position) not in (2, 3):
        raise refuse("Each corner of the area must be [longitude, latitude] in degrees.")
    numbers = position[:2]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in numbers):
        raise refuse("Each corner of the area must be [longitude, latitude] in degrees.")
    try:
        longitude, latitude = (float(value) for value in numbers)
    except OverflowError:
        raise refuse("The area has a missing or infinite coordinate.") from None
    if not (math.isfinite(longitude) and math.isfinite(latitude)):
        raise refuse("The area has a missing or infinite coordinate.")
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        raise refuse("The area's corners must be longitudes -180 to 180 and latitudes -90 to 90.")
    return round(longitude, AREA_DIGITS), round(latitude, AREA_DIGITS)


def _checked_shape(polygons: list[list[Ring]]) -> BaseGeometry:
    """The area as a shapely geometry, refusing an outline that crosses itself or has no area."""
    parts = [Polygon(rings[0], rings[1:]) for rings in polygons]
    shape: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if shape.is_empty or not shape.is_valid:
        raise refuse(
            "The area's outline crosses or runs back over itself, or its parts overlap: draw it again."
        )
    if shape.area <= 0:
        raise refuse("The area has no area: draw at least three corners that are not in a line.")
    return shape


def check_inside(drawn: DrawnArea, area: Area) -> None:
    """Refuse a drawn area that reaches outside the deployment's area."""
    if not area.holds_box(*drawn.bounds):
        raise refuse("The area must lie inside the deployment's area.")


def cells_meeting(grid: Grid, outline: BaseGeometry) -> NDArray[np.int64]:
    """Ids of the grid's cells whose inside meets the outline's inside (metric CRS), ascending."""
    shapely.prepare(outline)
    found = []
    for first in range(0, grid.n_cells, CELLS_PER_TEST):
        ids = np.arange(first, min(first + CELLS_PER_TEST, grid.n_cells), dtype=np.int64)
        cells: NDArray[np.object_] = np.asarray(shapely.polygons(cell_polygons(grid, ids)))
        meets: NDArray[np.bool_] = np.asarray(shapely.intersects(outline, cells))
        only_touching: NDArray[np.bool_] = np.asarray(shapely.touches(outline, cells[meets]))
        meets[meets] = ~only_touching
        found.append(ids[meets])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
