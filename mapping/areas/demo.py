"""Fictional small areas for the Kestrel Vale demo borough: LSOA-like neighbourhoods tiling the
borough without gaps or overlaps, with invented deprivation deciles, populations and postcodes.

Nothing here describes a real place: the codes start KV (no real area code does) and every name
says "(fictional)".
"""

import math
import random
from dataclasses import dataclass

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPoint, MultiPolygon, Polygon, box
from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from contexts.demo.borough import BOROUGH, BOROUGH_AREA, CENTRES
from mapping.areas.models import AreaIndicator, IndicatorCode, SmallArea
from mapping.places.models import WGS84

DEMO_KIND = "lsoa"
DEMO_EDITION = 2021
DEMO_CODE_PREFIX = "KV01"
DEMO_AREAS = 48
DEMO_IMD_PERIOD = "2025"
DEMO_POPULATION_PERIOD = "2022"
DEMO_SOURCE = f"{BOROUGH} demo (fictional)"
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
CENTRAL_SHARE = 0.5
"""Half the neighbourhood seeds cluster round the town centres, so central areas are smaller, as real
LSOAs are where people live closer together."""
MIN_SEPARATION_KM = 0.9
ADD_DEMO_POSTCODES = text(
    """
    INSERT INTO postcode (postcode, geom, lsoa_code, lsoa_edition, ward_code, source)
    SELECT :postcode, ST_PointOnSurface(geom), code, edition, NULL, 'demo'
    FROM small_area WHERE kind = :kind AND edition = :edition AND code = :code
    ON CONFLICT (postcode) DO NOTHING
    """
)


@dataclass(frozen=True, slots=True)
class DemoAreasSummary:
    """What building the demo areas did."""

    created: bool
    areas: int
    postcodes: int


def _km_per_degree_longitude() -> float:
    """Kilometres in one degree of longitude at the borough's latitude."""
    middle = (BOROUGH_AREA.min_latitude + BOROUGH_AREA.max_latitude) / 2
    return 111.32 * math.cos(math.radians(middle))


def _to_km(longitude: float, latitude: float) -> tuple[float, float]:
    """Degrees to kilometres east and north of the borough's south-west corner."""
    return (
        (longitude - BOROUGH_AREA.min_longitude) * _km_per_degree_longitude(),
        (latitude - BOROUGH_AREA.min_latitude) * 111.32,
    )


def _seeds(rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Neighbourhood seed points in kilometres, some round the centres, none too close together."""
    width, height = _to_km(BOROUGH_AREA.max_longitude, BOROUGH_AREA.max_latitude)
    centres = [_to_km(centre.longitude, centre.latitude) for centre in CENTRES]
    weights = [centre.weight for centre in CENTRES]
    seeds: list[tuple[float, float]] = []
    while len(seeds) < count:
        if rng.random() < CENTRAL_SHARE:
            x0, y0 = rng.choices(centres, weights)[0]
            candidate = (rng.gauss(x0, 2.0), rng.gauss(y0, 2.0))
        else:
            candidate = (rng.uniform(0, width), rng.uniform(0, height))
        inside = 0 < candidate[0] < width and 0 < candidate[1] < height
        if inside and all(math.dist(candidate, seed) >= MIN_SEPARATION_KM for seed in seeds):
            seeds.append(candidate)
    return seeds


def demo_tiles(seed: int, count: int = DEMO_AREAS) -> list[Polygon]:
    """A Voronoi tiling of the borough square (WGS84 polygons), one tile per seed, in seed order."""
    rng = random.Random(f"{seed}:areas")
    points = _seeds(rng, count)
    width, height = _to_km(BOROUGH_AREA.max_longitude, BOROUGH_AREA.max_latitude)
    frame = box(0, 0, width, height)
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=frame, ordered=True)
    per_degree_x, per_degree_y = _km_per_degree_longitude(), 111.32
    tiles = []
    for cell in cells.geoms:
        tile = shapely.transform(
            cell.intersection(frame),
            lambda xy: (
                xy / [per_degree_x, per_degree_y] + [BOROUGH_AREA.min_longitude, BOROUGH_AREA.min_latitude]
            ),
        )
        # A Voronoi cell and the square are both convex, so what they share is one polygon.
        if not isinstance(tile, Polygon):
            raise ValueError("A neighbourhood tile is not a single polygon")
        tiles.append(tile)
    return tiles


def _decile(rng: random.Random, tile: Polygon) -> int:
    """An invented IMD decile: more deprived near the town centres, with noise."""
    centre = tile.representative_point()
    nearest = min(
        math.dist(_to_km(centre.x, centre.y), _to_km(place.longitude, place.latitude)) for place in CENTRES
    )
    return max(1, min(10, round(1 + nearest * 1.1 + rng.gauss(0, 1.3))))


def _indicators(rng: random.Random, area_id: int, tile: Polygon) -> list[AreaIndicator]:
    """Invented deprivation and population figures for one area."""
    decile = _decile(rng, tile)
    total = rng.randint(1_200, 2_600)
    values = {
        (IndicatorCode.IMD_DECILE, DEMO_IMD_PERIOD): float(decile),
        (IndicatorCode.IMD_SCORE, DEMO_IMD_PERIOD): round(max(2.0, 52 - 4.6 * decile + rng.gauss(0, 2.5)), 3),
        (IndicatorCode.POPULATION_TOTAL, DEMO_POPULATION_PERIOD): float(total),
        (IndicatorCode.POPULATION_10_17, DEMO_POPULATION_PERIOD): float(
            round(total * rng.uniform(0.07, 0.13))
        ),
    }
    return [
        AreaIndicator(area_id=area_id, indicator=code, period=period, value=value, source=DEMO_SOURCE)
        for (code, period), value in values.items()
    ]


def demo_postcode(index: int, rng: random.Random) -> str:
    """An invented postcode in the non-existent KV postcode area, one per area."""
    district, sector = index // 10 + 1, index % 10
    return f"KV{district} {sector}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"


def demo_areas_exist(session: Session) -> bool:
    """Say whether the demo areas are already loaded."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    SmallArea.kind == DEMO_KIND,
                    SmallArea.edition == DEMO_EDITION,
                    SmallArea.code.startswith(DEMO_CODE_PREFIX),
                )
            )
        )
    )


def build_demo_areas(session: Session, seed: int) -> DemoAreasSummary:
    """Load the fictional neighbourhoods, their figures and postcodes once; the same seed, the same areas."""
    if demo_areas_exist(session):
        return DemoAreasSummary(created=False, areas=0, postcodes=0)
    rng = random.Random(f"{seed}:area-figures")
    tiles = demo_tiles(seed)
    areas = [
        SmallArea(
            code=f"{DEMO_CODE_PREFIX}{index + 1:05d}",
            name=f"{BOROUGH} {index // 4 + 1:03d}{'ABCD'[index % 4]} (fictional)",
            kind=DEMO_KIND,
            edition=DEMO_EDITION,
            geom=from_shape(MultiPolygon([tile]), srid=WGS84),
        )
        for index, tile in enumerate(tiles)
    ]
    session.add_all(areas)
    session.flush()
    for area, tile in zip(areas, tiles, strict=True):
        session.add_all(_indicators(rng, area.id, tile))
    session.flush()
    for index, area in enumerate(areas):
        postcode = demo_postcode(index, rng)
        session.execute(
            ADD_DEMO_POSTCODES,
            {"postcode": postcode, "kind": DEMO_KIND, "edition": DEMO_EDITION, "code": area.code},
        )
    return DemoAreasSummary(created=True, areas=len(areas), postcodes=len(areas))
