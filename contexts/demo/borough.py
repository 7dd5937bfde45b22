"""The geography of Kestrel Vale: where it is, its centres, and the places in it (all invented)."""

import math
import random
from dataclasses import dataclass

from contexts.demo.names import STREET_SUFFIXES, STREETS
from contexts.young_people.service import Area

BOROUGH = "Kestrel Vale"

BOROUGH_AREA = Area(min_longitude=-1.5972, min_latitude=52.3002, max_longitude=-1.3028, max_latitude=52.4798)
"""Kestrel Vale: a 20 km x 20 km square of the English Midlands centred on (-1.45, 52.39), in WGS84.

Every demo place and point lies inside it. It is fictional: no real place there is meant.
"""

KM_PER_DEGREE_LATITUDE = 111.32


@dataclass(frozen=True, slots=True)
class Centre:
    """A town or district centre: places and points cluster round it."""

    name: str
    longitude: float
    latitude: float
    spread_km: float
    weight: int


CENTRES: tuple[Centre, ...] = (
    Centre("Kestrel Vale town centre", -1.4500, 52.3900, 0.9, 6),
    Centre("Upper Kestrel", -1.3750, 52.4400, 0.8, 2),
    Centre("Wrenbury Green", -1.5300, 52.3350, 0.8, 2),
    Centre("Saxonford", -1.4900, 52.4550, 0.7, 1),
)


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """A place to load: a point in WGS84."""

    name: str
    place_type: str
    address: str
    postcode: str
    longitude: float
    latitude: float


@dataclass(frozen=True, slots=True)
class PlacePlan:
    """How many places of a type, how they are named, and whether they sit in a centre."""

    place_type: str
    count: int
    names: tuple[str, ...]
    central: bool


PLACE_PLANS: tuple[PlacePlan, ...] = (
    PlacePlan(
        "hotel", 10, ("The {stem} Hotel", "{stem} Lodge", "{stem} Guest House", "{stem} Court Hotel"), True
    ),
    PlacePlan(
        "takeaway",
        18,
        (
            "{stem} Fried Chicken",
            "{stem} Pizza and Kebab",
            "{stem} Chippy",
            "{stem} Grill",
            "{stem} Noodle Bar",
        ),
        True,
    ),
    PlacePlan("taxi_rank", 5, ("{stem} Street taxi rank",), True),
    PlacePlan("taxi_firm", 4, ("{stem} Cars", "{stem} Private Hire"), True),
    PlacePlan("shisha_lounge", 2, ("{stem} Shisha Lounge",), True),
    PlacePlan("shop", 8, ("{stem} Off-Licence", "{stem} Convenience Store", "{stem} Mini Market"), True),
    PlacePlan(
        "park", 10, ("{stem} Park", "{stem} Recreation Ground", "{stem} Fields", "{stem} Woods"), False
    ),
    PlacePlan("car_park", 7, ("{stem} Multi-storey Car Park", "{stem} Retail Park car park"), True),
    PlacePlan(
        "school", 14, ("{stem} Academy", "{stem} High School", "{stem} School", "{stem} College"), False
    ),
    PlacePlan("youth_provision", 6, ("{stem} Youth Club", "{stem} Boxing Club", "{stem} Youth Hub"), False),
)
"""Places per type for the small borough; larger boroughs have more of each (the centres stay)."""

LANDMARKS: tuple[tuple[str, str], ...] = (
    ("Kestrel Vale Bus Station", "station"),
    ("Kestrel Vale Rail Station", "station"),
    ("The Kestrel Centre", "shopping_centre"),
    ("Upper Kestrel Shopping Parade", "shopping_centre"),
    ("Kestrel Vale Pupil Referral Unit", "school"),
)
"""One-off places: each is in the town centre, named once."""


def clamp_to_borough(longitude: float, latitude: float) -> tuple[float, float]:
    """The nearest point inside the borough (a small margin in from the edge)."""
    area = BOROUGH_AREA
    margin = 0.0005
    return (
        min(max(longitude, area.min_longitude + margin), area.max_longitude - margin),
        min(max(latitude, area.min_latitude + margin), area.max_latitude - margin),
    )


def near(rng: random.Random, longitude: float, latitude: float, spread_km: float) -> tuple[float, float]:
    """A point scattered round another (normal, spread in km), kept inside the borough."""
    km_per_degree_longitude = KM_PER_DEGREE_LATITUDE * math.cos(math.radians(latitude))
    return clamp_to_borough(
        longitude + rng.gauss(0, spread_km) / km_per_degree_longitude,
        latitude + rng.gauss(0, spread_km) / KM_PER_DEGREE_LATITUDE,
    )


def anywhere(rng: random.Random) -> tuple[float, float]:
    """A point anywhere in the borough."""
    area = BOROUGH_AREA
    return clamp_to_borough(
        rng.uniform(area.min_longitude, area.max_longitude), rng.uniform(area.min_latitude, area.max_latitude)
    )


def in_a_centre(rng: random.Random) -> tuple[float, float]:
    """A point in one of the centres, the town centre most often."""
    centre = rng.choices(CENTRES, weights=[c.weight for c in CENTRES])[0]
    return near(rng, centre.longitude, centre.latitude, centre.spread_km)


def address(rng: random.Random) -> tuple[str, str]:
    """An invented street address in the borough and an invented postcode (area KV does not exist)."""
    street = f"{rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}"
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    postcode = f"KV{rng.randint(1, 9)} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
    return f"{rng.randint(1, 180)} {street}, {BOROUGH}", postcode


def generate_places(rng: random.Random, factor: int) -> list[PlaceRow]:
    """The borough's places: landmarks, then `factor` times each plan, with unique invented names."""
    rows: list[PlaceRow] = []
    used: set[str] = set()
    for name, place_type in LANDMARKS:
        longitude, latitude = near(rng, CENTRES[0].longitude, CENTRES[0].latitude, 0.3)
        street, postcode = address(rng)
        rows.append(PlaceRow(f"{name} (fictional)", place_type, street, postcode, longitude, latitude))
        used.add(name)
    for plan in PLACE_PLANS:
        for _ in range(plan.count * factor):
            name = _unique_name(rng, plan.names, used)
            longitude, latitude = in_a_centre(rng) if plan.central else anywhere(rng)
            street, postcode = address(rng)
            rows.append(
                PlaceRow(f"{name} (fictional)", plan.place_type, street, postcode, longitude, latitude)
            )
    return rows


def _unique_name(rng: random.Random, patterns: tuple[str, ...], used: set[str]) -> str:
    """An unused name from the patterns and the invented stems (numbered once they run out)."""
    for _ in range(50):
        name = rng.choice(patterns).format(stem=rng.choice(STREETS))
        if name not in used:
            used.add(name)
            return name
    number = 2
    while f"{name} {number}" in used:
        number += 1
    used.add(f"{name} {number}")
    return f"{name} {number}"
