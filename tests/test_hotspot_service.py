"""The hotspot service: counts from the aggregate against counts made here from the raw records."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from contexts.access import Actor, Role
from contexts.accounts.service import actor_for
from contexts.audit.models import AuditAction, AuditEvent
from contexts.audit.service import RequestOrigin
from contexts.concerns.models import ConcernCategory
from contexts.errors import AccessDenied, InvalidInput
from contexts.young_people.models import YoungPerson
from contexts.young_people.service import Area
from mapping.areas.service import areas_with_indicators
from mapping.disclosure import DisclosurePolicy
from mapping.hotspots.areas import AreaRate, area_counts, area_rates
from mapping.hotspots.grid import Grid, GridShape, assign_cells, count_points
from mapping.hotspots.models import MONTH_COLUMNS, value_code
from mapping.hotspots.service import (
    Audience,
    CountPlan,
    HotspotFilters,
    HotspotMap,
    HotspotQuery,
    Scope,
    SourceChoice,
    count_plan,
    hotspot_map,
    month_window,
    monthly_counts,
    query_scope,
    rebuild_aggregate,
    significant,
    study_area,
)
from mapping.hotspots.stats import DistanceBand, NearestNeighbours, gi_star
from mapping.hotspots.trend import emerging_hot_spots
from tests.conftest import World

AREA = Area(-6.5, 49.8, 2.0, 55.9)
POLICY = DisclosurePolicy()
LONDON = ZoneInfo("Europe/London")
WEST, SOUTH = 431_000.0, 270_000.0
"""South-west corner (British National Grid metres) of the 3 km square the records lie in."""
HOME = (446_500.0, 285_500.0)
"""A young person's home, far from every record."""
CONTEXTS = ("individual", "home", "peer_group", "school", "neighbourhood")
KINDS = ("risk", "harm", "protective")
CATEGORIES = ("hotels-taxis-food", "family", "trusted-adult", "education-engagement")
START, END = date(2026, 1, 1), date(2026, 6, 30)
MARKERS = ("MARKER-SUMMARY-Q7", "MARKER-DETAIL-Z3", "MARKER-ADDRESS-K9", "MARKER-PLACE-W4", "MARKER-FOUND-J2")


@dataclass(frozen=True)
class Record:
    """A located record, read straight from the domain tables (never from the aggregate)."""

    source: int
    record_id: int
    x: float
    y: float
    day: date
    agency_id: int
    agency_only: bool
    context: str | None
    kind: str | None
    category_id: int | None
    place_type: str | None
    age_band: str
    gender: str


@dataclass
class Borough:
    """Two agencies' records around a few places, with the actors who map them."""

    analyst: Actor
    other_analyst: Actor
    neighbourhood: Actor
    people: dict[str, int]
    places: dict[str, int]
    categories: dict[str, int]
    recorder: int
    other_recorder: int
    agencies: tuple[int, int]
    extra: dict[str, Any] = field(default_factory=dict)


def bng_to_wgs84(session: Session, x: float, y: float) -> str:
    """EWKT of a British National Grid point in WGS84."""
    return str(
        session.scalar(
            text("SELECT ST_AsEWKT(ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326))"),
            {"x": x, "y": y},
        )
    )


CONCERN_INSERT = """
INSERT INTO concern (young_person_id, agency_id, recorded_by_id, occurred_at, context, kind, category_id,
                     summary, detail, place_id, point, sensitivity)
SELECT r.person, r.agency, r.recorder, r.occurred, r.context, r.kind, r.category, r.summary, r.detail,
       r.place,
       CASE WHEN r.x IS NULL THEN NULL
            ELSE ST_Transform(ST_SetSRID(ST_MakePoint(r.x, r.y), 27700), 4326) END,
       r.sensitivity
FROM unnest(CAST(:person AS int[]), CAST(:agency AS int[]), CAST(:recorder AS int[]),
            CAST(:occurred AS timestamptz[]), CAST(:context AS text[]), CAST(:kind AS text[]),
            CAST(:category AS int[]), CAST(:summary AS text[]), CAST(:detail AS text[]),
            CAST(:place AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:sensitivity AS text[]))
     AS r(person, agency, recorder, occurred, context, kind, category, summary, detail, place, x, y,
          sensitivity)
"""


def insert_concerns(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert concerns in one statement (the aggregate's triggers fire once for all of them)."""
    columns: tuple[str, ...] = ("person", "agency", "recorder", "occurred", "context", "kind", "category")
    columns += ("summary", "detail", "place", "x", "y", "sensitivity")
    defaults: dict[str, Any] = {
        "summary": MARKERS[0],
        "detail": MARKERS[1],
        "place": None,
        "x": None,
        "y": None,
    }
    defaults |= {"sensitivity": "partnership", "context": "neighbourhood", "kind": "risk"}
    filled = [defaults | row for row in rows]
    session.execute(text(CONCERN_INSERT), {name: [row[name] for row in filled] for name in columns})


def add_place(session: Session, name: str, place_type: str, wkt_bng: str, user_id: int) -> int:
    """A place drawn in British National Grid, stored in WGS84 as the app stores it."""
    return int(
        session.scalar(
            text(
                "INSERT INTO place (name, place_type, address, geom, created_by_id) VALUES (:name, :type, "
                ":address, ST_Transform(ST_GeomFromText(:wkt, 27700), 4326), :user) RETURNING id"
            ),
            {"name": name, "type": place_type, "address": MARKERS[2], "wkt": wkt_bng, "user": user_id},
        )
    )


def add_person(
    session: Session, agency_id: int, born: date, gender: str | None, home: str | None = None
) -> int:
    """A young person (with a home point when given)."""
    person = YoungPerson(
        agency_id=agency_id,
        given_name="Robin",
        family_name="Fallow",
        date_of_birth=born,
        gender=gender,
        home_address=MARKERS[2] if home else None,
        home_point=home,
    )
    session.add(person)
    session.flush()
    return person.id


def random_rows(rng: np.random.Generator, borough: Borough, count: int) -> list[dict[str, Any]]:
    """Clustered and scattered concerns in the 3 km square over January to June 2026."""
    rows = []
    people = [borough.people["first"], borough.people["second"], borough.people["unknown"]]
    for index in range(count):
        if index % 3:
            x, y = WEST + 1_200 + rng.normal(0, 180), SOUTH + 1_700 + rng.normal(0, 180)
        else:
            x, y = WEST + rng.uniform(0, 3_000), SOUTH + rng.uniform(0, 3_000)
        agency = int(rng.integers(0, 2))
        rows.append(
            {
                "person": people[int(rng.integers(0, 3))],
                "agency": borough.agencies[agency],
                "recorder": (borough.recorder, borough.other_recorder)[agency],
                "occurred": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=float(rng.uniform(0, 4343))),
                "context": CONTEXTS[int(rng.integers(0, 5))],
                "kind": KINDS[int(rng.integers(0, 3))],
                "category": borough.categories[CATEGORIES[int(rng.integers(0, 4))]],
                "x": float(min(max(x, WEST + 1), WEST + 2_999)),
                "y": float(min(max(y, SOUTH + 1), SOUTH + 2_999)),
                "sensitivity": "agency_only" if rng.uniform() < 0.1 else "partnership",
            }
        )
    return rows


def edge_rows(borough: Borough) -> list[dict[str, Any]]:
    """Concerns on 250 m cell edges and corners, and at the first minute of a month in UK time."""
    base: dict[str, Any] = {"person": borough.people["first"], "agency": borough.agencies[0]}
    base["recorder"] = borough.recorder
    base |= {"category": borough.categories["family"]}
    rows = [
        base
        | {"occurred": datetime(2026, 3, 10, 12, tzinfo=UTC), "x": WEST + 250 * i, "y": SOUTH + 500 + 250 * i}
        for i in range(1, 8)
    ]
    rows += [
        base | {"occurred": datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "x": WEST + 1_000, "y": SOUTH + 1_000},
        base | {"occurred": datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "x": WEST + 1_500, "y": SOUTH + 250},
        base | {"occurred": datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "x": WEST + 1_750, "y": SOUTH + 1_750},
    ]
    return rows


def place_rows(borough: Borough) -> list[dict[str, Any]]:
    """Concerns located only by their place, some without any location, some outside the window."""
    base: dict[str, Any] = {
        "person": borough.people["second"],
        "agency": borough.agencies[1],
        "recorder": borough.other_recorder,
    }
    base |= {"category": borough.categories["hotels-taxis-food"], "context": "neighbourhood"}
    rows = []
    for index in range(12):
        place = ("hotel", "park", "flat")[index % 3]
        moment = datetime(2026, 2 + index % 4, 3 + index, 21, tzinfo=UTC)
        rows.append(base | {"occurred": moment, "place": borough.places[place], "kind": KINDS[index % 3]})
    rows += [base | {"occurred": datetime(2026, 2, 2, tzinfo=UTC)} for _ in range(3)]
    rows += [
        base | {"occurred": datetime(2025, 6, 1, tzinfo=UTC), "x": WEST + 2_100, "y": SOUTH + 2_100}
        for _ in range(4)
    ]
    return rows


def add_episodes(session: Session, borough: Borough) -> None:
    """Missing episodes: found at a point, found at a place, and still missing."""
    statement = text(
        "INSERT INTO missing_episode (young_person_id, agency_id, recorded_by_id, missing_since, found_at, "
        "found_place_id, found_point, found_address, notes) VALUES (:person, :agency, :recorder, :since, "
        ":found, :place, ST_GeomFromEWKT(:point), :address, :notes)"
    )
    for index in range(9):
        since = datetime(2026, 2, 1 + 3 * index, 18, tzinfo=UTC)
        found = since + timedelta(hours=30) if index < 7 else None
        point = bng_to_wgs84(session, WEST + 600 + 40 * index, SOUTH + 2_400) if index < 4 else None
        place = borough.places["hotel"] if 4 <= index < 7 else None
        session.execute(
            statement,
            {
                "person": borough.people["first"],
                "agency": borough.agencies[0],
                "recorder": borough.recorder,
                "since": since,
                "found": found,
                "place": place,
                "point": point,
                "address": MARKERS[4],
                "notes": MARKERS[1],
            },
        )


@pytest.fixture
def borough(db_session: Session, world: World) -> Borough:
    """Records of two agencies around a hotel, a park and a flat, and a home far away."""
    return build_borough(db_session, world)


def build_borough(db_session: Session, world: World) -> Borough:
    """Add the borough's places, young people, concerns and missing episodes."""
    users = world.users
    first, second = world.agency.id, world.other_agency.id
    recorder, other_recorder = users[Role.PRACTITIONER].id, world.other_practitioner.id
    categories = {
        str(code): int(number)
        for code, number in db_session.execute(select(ConcernCategory.code, ConcernCategory.id))
    }
    places = {
        "hotel": add_place(db_session, MARKERS[3], "hotel", f"POINT({WEST + 2_020} {SOUTH + 480})", recorder),
        "park": add_place(
            db_session,
            "Fallow Park",
            "park",
            f"POLYGON(({WEST + 300} {SOUTH + 2_600}, {WEST + 700} {SOUTH + 2_600}, "
            f"{WEST + 700} {SOUTH + 2_900}, {WEST + 300} {SOUTH + 2_900}, {WEST + 300} {SOUTH + 2_600}))",
            recorder,
        ),
        "flat": add_place(
            db_session, "Flat 3", "private_address", f"POINT({WEST + 2_700} {SOUTH + 2_300})", recorder
        ),
    }
    people = {
        "first": add_person(db_session, first, date(2011, 4, 1), "female"),
        "second": add_person(db_session, second, date(2008, 6, 30), "male"),
        "unknown": add_person(db_session, first, date(2014, 2, 1), None),
        "home": add_person(db_session, first, date(2010, 9, 9), "female", bng_to_wgs84(db_session, *HOME)),
    }
    other_analyst_user = world.other_practitioner
    borough = Borough(
        analyst=actor_for(users[Role.ANALYST]),
        other_analyst=Actor(
            other_analyst_user.id, "other-analyst", "Other analyst", second, frozenset({Role.ANALYST})
        ),
        neighbourhood=actor_for(users[Role.NEIGHBOURHOOD]),
        people=people,
        places=places,
        categories=categories,
        recorder=recorder,
        other_recorder=other_recorder,
        agencies=(first, second),
    )
    rng = np.random.default_rng(2026)
    insert_concerns(db_session, random_rows(rng, borough, 400) + edge_rows(borough) + place_rows(borough))
    add_episodes(db_session, borough)
    return borough


REFERENCE_SQL = """
SELECT 1, c.id, coalesce(ST_X(c.point_bng), ST_X(ST_PointOnSurface(p.geom_bng))),
       coalesce(ST_Y(c.point_bng), ST_Y(ST_PointOnSurface(p.geom_bng))), c.occurred_at, c.agency_id,
       c.sensitivity = 'agency_only', c.context, c.kind, c.category_id, p.place_type, y.date_of_birth,
       y.gender
FROM concern c JOIN young_person y ON y.id = c.young_person_id LEFT JOIN place p ON p.id = c.place_id
UNION ALL
SELECT 2, m.id, coalesce(ST_X(m.found_point_bng), ST_X(ST_PointOnSurface(p.geom_bng))),
       coalesce(ST_Y(m.found_point_bng), ST_Y(ST_PointOnSurface(p.geom_bng))), m.found_at, m.agency_id,
       false, NULL, NULL, NULL, p.place_type, y.date_of_birth, y.gender
FROM missing_episode m JOIN young_person y ON y.id = m.young_person_id
LEFT JOIN place p ON p.id = m.found_place_id
"""


def age_band(born: date, day: date) -> str:
    """The age band on a day, worked out here."""
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    for limit, band in ((10, "under_10"), (14, "10_to_13"), (16, "14_to_15"), (18, "16_to_17")):
        if age < limit:
            return band
    return "18_and_over"


def reference_records(session: Session) -> list[Record]:
    """Every located record, from the domain tables, dated in UK local time."""
    records = []
    for row in session.execute(text(REFERENCE_SQL)):
        (
            source,
            record_id,
            x,
            y,
            moment,
            agency,
            agency_only,
            context,
            kind,
            category,
            place_type,
            born,
            gender,
        ) = row
        if x is None or moment is None:
            continue
        day = moment.astimezone(LONDON).date()
        records.append(
            Record(
                source,
                record_id,
                x,
                y,
                day,
                agency,
                agency_only,
                context,
                kind,
                category,
                place_type,
                age_band(born, day),
                gender or "not_known",
            )
        )
    return records


def visible(record: Record, audience: Audience, actor: Actor) -> bool:
    """Who may see a record counted, restated here."""
    if audience is Audience.ANALYST:
        return not record.agency_only or record.agency_id == actor.agency_id
    return not record.agency_only and record.place_type not in ("private_address", "hmo")


def selected(
    records: list[Record],
    *,
    actor: Actor,
    audience: Audience = Audience.ANALYST,
    start: date = START,
    end: date = END,
    sources: tuple[int, ...] = (1,),
    keep: Callable[[Record], bool] = lambda _: True,
) -> list[Record]:
    """The records a map should count."""
    return [
        record
        for record in records
        if record.source in sources
        and start <= record.day <= end
        and visible(record, audience, actor)
        and keep(record)
    ]


def expected_counts(grid: Grid, records: list[Record]) -> NDArray[np.int64]:
    """Counts per cell made by the engine's own binning of the raw coordinates."""
    if not records:
        return np.zeros(grid.n_cells, dtype=np.int64)
    return count_points(grid, [r.x for r in records], [r.y for r in records])


def make_map(session: Session, actor: Actor, **changes: Any) -> HotspotMap:
    """A map for the actor over January to June 2026 (analyst, 250 m squares, unless changed)."""
    given: dict[str, Any] = {"cell": 250.0, "start": START, "end": END} | changes
    query = HotspotQuery(**given)
    return hotspot_map(
        session=session, actor=actor, origin=RequestOrigin(), query=query, policy=POLICY, area=AREA
    )


def test_counts_add_up_and_z_scores_are_the_engines_on_counts_made_from_raw_points(
    db_session: Session, borough: Borough
) -> None:
    records = selected(reference_records(db_session), actor=borough.analyst)
    result = make_map(db_session, borough.analyst)
    assert result.grid is not None
    assert result.statistics is not None
    assert result.plan is not None
    assert result.plan.describe() == "250 m lattice (all)"
    expected = expected_counts(result.grid, records)
    assert result.counts.tolist() == expected.tolist()
    assert int(result.counts.sum()) == len(records) > 350
    engine = gi_star(result.grid, expected, DistanceBand(500.0))
    np.testing.assert_array_equal(result.statistics.result.z, engine.z)
    np.testing.assert_array_equal(result.statistics.result.bins, engine.bins)


def forced(session: Session, result: HotspotMap, scope: Scope, plan: CountPlan) -> NDArray[np.int64]:
    """The same map's monthly counts read another way."""
    assert result.grid is not None
    window = month_window(result.query.start, result.query.end)
    study = study_area(session=session, query=result.query, window=window, scope=scope, area=AREA)
    assert study is not None
    counts, _ = monthly_counts(
        session=session, grid=result.grid, study=study, window=window, scope=scope, plan=plan
    )
    return counts


@pytest.mark.parametrize(
    ("cell", "shape", "start", "filters", "plan"),
    [
        (250.0, GridShape.SQUARE, START, HotspotFilters(), "250 m lattice (all)"),
        (1000.0, GridShape.SQUARE, START, HotspotFilters(), "1000 m lattice (all)"),
        (100.0, GridShape.SQUARE, START, HotspotFilters(), "facts, 50 m lattice"),
        (500.0, GridShape.SQUARE, START, HotspotFilters(kinds=("harm", "risk")), "250 m lattice (kind)"),
        (250.0, GridShape.SQUARE, date(2026, 1, 20), HotspotFilters(), "facts, 50 m lattice"),
        (150.0, GridShape.SQUARE, START, HotspotFilters(contexts=("home",)), "facts, 50 m lattice"),
        (
            250.0,
            GridShape.SQUARE,
            START,
            HotspotFilters(contexts=("home",), kinds=("harm",)),
            "facts, 50 m lattice",
        ),
        (120.0, GridShape.SQUARE, START, HotspotFilters(), "facts, point by point"),
        (250.0, GridShape.HEX, START, HotspotFilters(), "facts, point by point"),
        (
            137.5,
            GridShape.HEX,
            date(2026, 2, 14),
            HotspotFilters(genders=("female",)),
            "facts, point by point",
        ),
    ],
)
def test_every_way_of_counting_gives_the_counts_made_from_raw_points(
    db_session: Session,
    borough: Borough,
    cell: float,
    shape: GridShape,
    start: date,
    filters: HotspotFilters,
    plan: str,
) -> None:
    wanted = filters.by_dimension()
    values = {"context": "context", "kind": "kind", "gender": "gender"}

    def keep(record: Record) -> bool:
        return all(getattr(record, values[d.value]) in v for d, v in wanted.items())

    records = selected(reference_records(db_session), actor=borough.analyst, start=start, keep=keep)
    result = make_map(db_session, borough.analyst, cell=cell, shape=shape, start=start, filters=filters)
    assert result.grid is not None
    assert result.plan is not None
    assert result.plan.describe() == plan
    assert result.counts.tolist() == expected_counts(result.grid, records).tolist()
    scope = query_scope(session=db_session, actor=borough.analyst, query=result.query, policy=POLICY)
    points = forced(db_session, result, scope, CountPlan("facts", None))
    assert points.sum(axis=0).tolist() == result.counts.tolist()


@pytest.mark.parametrize(
    ("changes", "neighbourhood"),
    [
        ({"cell": 250.0}, DistanceBand(500.0)),
        ({"cell": 250.0, "neighbours": 8}, NearestNeighbours(8)),
        ({"cell": 250.0, "band": 750.0, "fdr": False}, DistanceBand(750.0)),
    ],
)
def test_monthly_slices_give_the_trend_of_the_engine(
    db_session: Session, borough: Borough, changes: dict[str, Any], neighbourhood: DistanceBand
) -> None:
    records = selected(reference_records(db_session), actor=borough.analyst)
    result = make_map(db_session, borough.analyst, **changes)
    assert result.grid is not None
    assert result.statistics is not None
    months = [date(2026, month, 1) for month in range(1, 7)]
    monthly = np.stack(
        [expected_counts(result.grid, [r for r in records if r.day.replace(day=1) == m]) for m in months]
    )
    engine = emerging_hot_spots(result.grid, monthly, neighbourhood, fdr=changes.get("fdr", True))
    assert result.statistics.patterns is not None
    assert result.statistics.patterns.tolist() == engine.codes.tolist()
    assert len(set(engine.codes.tolist())) > 1


def test_partner_trends_come_from_published_monthly_counts(db_session: Session, borough: Borough) -> None:
    result = make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER, cell=1000.0)
    assert result.grid is not None
    assert result.statistics is not None
    records = selected(reference_records(db_session), actor=borough.neighbourhood, audience=Audience.PARTNER)
    months = [date(2026, month, 1) for month in range(1, 7)]
    published = np.stack(
        [
            np.nan_to_num(
                POLICY.publish_counts(
                    expected_counts(result.grid, [r for r in records if r.day.replace(day=1) == m])
                ),
                nan=0.0,
            )
            for m in months
        ]
    )
    engine = emerging_hot_spots(result.grid, published, DistanceBand(2000.0))
    assert result.statistics.patterns is not None
    assert result.statistics.patterns.tolist() == engine.codes.tolist()


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("contexts", ("neighbourhood",)),
        ("kinds", ("harm",)),
        ("categories", ("family", "trusted-adult")),
        ("agencies", ("second",)),
        ("place_types", ("hotel", "park")),
        ("age_bands", ("14_to_15",)),
        ("age_bands", ("16_to_17", "18_and_over")),
        ("genders", ("not_known",)),
    ],
)
def test_each_filter_counts_only_its_records(
    db_session: Session, borough: Borough, name: str, values: tuple[str, ...]
) -> None:
    attribute = {"contexts": "context", "kinds": "kind", "categories": "category_id", "agencies": "agency_id"}
    attribute |= {"place_types": "place_type", "age_bands": "age_band", "genders": "gender"}
    codes = {"second": borough.agencies[1]} | borough.categories
    wanted = {codes.get(value, value) for value in values}
    records = selected(
        reference_records(db_session),
        actor=borough.analyst,
        keep=lambda r: getattr(r, attribute[name]) in wanted,
    )
    everything = selected(reference_records(db_session), actor=borough.analyst)
    result = make_map(db_session, borough.analyst, filters=HotspotFilters(**{name: values}))
    assert result.grid is not None
    assert result.plan is not None
    assert result.plan.lattice == 250
    assert result.counts.tolist() == expected_counts(result.grid, records).tolist()
    assert 0 < len(records) < len(everything)


def test_missing_episodes_count_where_the_young_person_was_found(
    db_session: Session, borough: Borough
) -> None:
    records = reference_records(db_session)
    missing = selected(records, actor=borough.analyst, sources=(2,))
    both = selected(records, actor=borough.analyst, sources=(1, 2))
    assert len(missing) == 7
    only = make_map(db_session, borough.analyst, source=SourceChoice.MISSING)
    together = make_map(db_session, borough.analyst, source=SourceChoice.BOTH)
    assert only.grid is not None
    assert together.grid is not None
    assert only.counts.tolist() == expected_counts(only.grid, missing).tolist()
    assert together.counts.tolist() == expected_counts(together.grid, both).tolist()


def test_a_home_is_never_counted(db_session: Session, borough: Borough) -> None:
    home_box = text(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Transform(ST_Expand("
        "ST_SetSRID(ST_MakePoint(:x, :y), 27700), 400), 4326) AS b) AS box"
    )
    bbox = tuple(float(value) for value in db_session.execute(home_box, {"x": HOME[0], "y": HOME[1]}).one())
    person = db_session.get(YoungPerson, borough.people["home"])
    assert person is not None
    assert person.home_point is not None
    insert_concerns(
        db_session,
        [
            {
                "person": borough.people["home"],
                "agency": borough.agencies[0],
                "recorder": borough.recorder,
                "occurred": datetime(2026, 3, 3, tzinfo=UTC),
                "category": borough.categories["family"],
                "context": "home",
            }
        ],
    )
    result = make_map(db_session, borough.analyst, bbox=bbox, cell=100.0)
    assert result.grid is not None
    assert int(result.counts.sum()) == 0
    near_home = db_session.scalar(
        text("SELECT count(*) FROM hotspot_fact WHERE abs(x - :x) < 1000 AND abs(y - :y) < 1000"),
        {"x": HOME[0], "y": HOME[1]},
    )
    assert near_home == 0


def test_agency_only_concerns_count_only_for_their_agencys_analysts(
    db_session: Session, borough: Borough
) -> None:
    records = reference_records(db_session)
    first = make_map(db_session, borough.analyst)
    second = make_map(db_session, borough.other_analyst)
    assert first.grid == second.grid
    assert first.grid is not None
    own_only = [r for r in selected(records, actor=borough.analyst) if r.agency_only]
    assert own_only
    assert all(r.agency_id == borough.agencies[0] for r in own_only)
    assert (
        first.counts.tolist()
        == expected_counts(first.grid, selected(records, actor=borough.analyst)).tolist()
    )
    assert (
        second.counts.tolist()
        == expected_counts(first.grid, selected(records, actor=borough.other_analyst)).tolist()
    )
    assert first.counts.tolist() != second.counts.tolist()


def test_partner_maps_leave_out_agency_only_and_residential_records(
    db_session: Session, borough: Borough
) -> None:
    records = selected(reference_records(db_session), actor=borough.neighbourhood, audience=Audience.PARTNER)
    assert all(not r.agency_only and r.place_type != "private_address" for r in records)
    result = make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER)
    assert result.grid is not None
    assert result.statistics is not None
    assert result.counts.tolist() == expected_counts(result.grid, records).tolist()
    published = np.nan_to_num(POLICY.publish_counts(result.counts), nan=0.0)
    engine = gi_star(result.grid, published, DistanceBand(500.0))
    assert result.statistics.result.bins.tolist() == engine.bins.tolist()
    flat_filter = HotspotFilters(place_types=("private_address",))
    with pytest.raises(InvalidInput) as refused:
        make_map(db_session, borough.neighbourhood, audience=Audience.PARTNER, filters=flat_filter)
    assert refused.value.field == "place_type"


def test_only_analysts_get_the_analyst_audience(db_session: Session, borough: Borough) -> None:
    with pytest.raises(AccessDenied):
        make_map(db_session, borough.neighbourhood, audience=Audience.ANALYST)


def test_each_map_is_audited_with_its_query(db_session: Session, borough: Borough) -> None:
    make_map(db_session, borough.analyst, filters=HotspotFilters(kinds=("harm",)))
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "hotspot_map").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.action == AuditAction.VIEW
    assert event.object_id == "analyst"
    assert event.actor_username == borough.analyst.username
    assert event.reason is not None
    assert "kind=harm" in event.reason
    assert "from=2026-01-01" in event.reason


def test_permutation_inference_is_the_engines(db_session: Session, borough: Borough) -> None:
    result = make_map(db_session, borough.analyst, permutations=99, seed=7, neighbours=8)
    assert result.grid is not None
    assert result.statistics is not None
    engine = gi_star(result.grid, result.counts, NearestNeighbours(8), permutations=99, seed=7)
    assert result.statistics.result.inference.value == "permutation"
    np.testing.assert_array_equal(result.statistics.result.p, engine.p)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"cell": 5.0}, "cell"),
        ({"cell": 10.0, "bbox": (-3.0, 51.0, 0.0, 53.0)}, "cell"),
        ({"start": date(2026, 5, 1), "end": date(2026, 4, 1)}, "from"),
        ({"start": date(2010, 1, 1)}, "from"),
        ({"filters": HotspotFilters(contexts=("nowhere",))}, "context"),
        ({"filters": HotspotFilters(categories=("no-such-category",))}, "category"),
        ({"filters": HotspotFilters(agencies=("no-such-agency",))}, "agency"),
        ({"filters": HotspotFilters(place_types=("castle",))}, "place_type"),
        ({"filters": HotspotFilters(kinds=("harm",)), "source": SourceChoice.MISSING}, "kind"),
        ({"bbox": (10.0, 52.0, 11.0, 53.0)}, "bbox"),
        ({"bbox": (-1.0, 53.0, -2.0, 54.0)}, "bbox"),
        ({"band": 100.0}, "band"),
        ({"band": 500.0, "neighbours": 8}, "band"),
    ],
)
def test_bad_queries_are_refused_naming_the_parameter(
    db_session: Session, borough: Borough, changes: dict[str, Any], name: str
) -> None:
    events = db_session.scalar(text("SELECT count(*) FROM audit_event"))
    with pytest.raises(InvalidInput) as refused:
        make_map(db_session, borough.analyst, **changes)
    assert refused.value.field == name
    assert db_session.scalar(text("SELECT count(*) FROM audit_event")) == events


def test_a_window_with_nothing_in_it_is_an_empty_map(db_session: Session, borough: Borough) -> None:
    result = make_map(db_session, borough.analyst, start=date(2024, 1, 1), end=date(2024, 12, 31))
    assert result.grid is None
    assert result.counts.size == 0


def test_lattice_cells_put_points_on_edges_in_the_engines_cell(db_session: Session) -> None:
    values = [
        0.0,
        49.99999999999999,
        50.0,
        250.0,
        431_250.0,
        431_249.99999999994,
        431_250.00000000006,
        -50.0,
        -0.1,
    ]
    indexes = db_session.execute(
        text(
            "SELECT hotspot_lattice_index(v, 50), hotspot_lattice_index(v, 250) "
            "FROM unnest(CAST(:v AS float8[])) AS v"
        ),
        {"v": values},
    ).all()
    for size, column in ((50.0, 0), (250.0, 1)):
        grid = Grid(GridShape.SQUARE, size, -1_000.0, 0.0, 440_000 // int(size), 1)
        engine = assign_cells(grid, values, [0.5] * len(values)) - 1_000 // int(size)
        assert [row[column] for row in indexes] == engine.tolist()


def test_p_values_keep_four_significant_digits_however_small() -> None:
    values = np.array([0.0, 1e-320, 3.21987e-250, 0.0123456, 0.05, 1.0])
    with np.errstate(all="raise"):
        rounded = significant(values, 4)
    assert rounded.tolist()[:2] == [0.0, 0.0]
    assert rounded[2:] == pytest.approx([3.22e-250, 0.01235, 0.05, 1.0], rel=1e-12)


def test_lattice_codes_are_the_databases(db_session: Session) -> None:
    words = ["neighbourhood", "harm", "16_to_17", "not_known", "private_address", "taxi_rank", "é"]
    stored = db_session.execute(
        text("SELECT hotspot_code(w) FROM unnest(CAST(:w AS text[])) AS w"), {"w": words}
    ).scalars()
    assert list(stored) == [value_code(word) for word in words]


def test_a_layer_whose_codes_collide_is_not_trusted(db_session: Session, borough: Borough) -> None:
    result = make_map(db_session, borough.analyst, filters=HotspotFilters(kinds=("harm",)))
    assert result.grid is not None
    window = month_window(START, END)
    trusted = query_scope(session=db_session, actor=borough.analyst, query=result.query, policy=POLICY)
    assert count_plan(result.grid, window, trusted).describe() == "250 m lattice (kind)"
    doubtful = replace(trusted, coded=frozenset())
    assert count_plan(result.grid, window, doubtful).describe() == "facts, 50 m lattice"


def aggregate(session: Session) -> tuple[list[Any], list[Any]]:
    """The facts and the non-zero lattice counts, in key order."""
    facts = list(session.execute(text("SELECT * FROM hotspot_fact ORDER BY source, record_id")).all())
    cells = session.execute(
        text(
            f"SELECT * FROM hotspot_cell_count WHERE {' + '.join(MONTH_COLUMNS)} > 0 "
            "ORDER BY lattice, dimension, value, source, restricted_to, year, cx, cy"
        )
    ).all()
    return facts, list(cells)


def assert_kept_right(session: Session) -> None:
    """The aggregate the triggers kept equals one rebuilt from scratch, and matches the raw records."""
    kept = aggregate(session)
    rebuild_aggregate(session=session)
    assert aggregate(session) == kept
    facts = {(row.source, row.record_id): (row.x, row.y, row.occurred_on) for row in kept[0]}
    raw = {(r.source, r.record_id): (r.x, r.y, r.day) for r in reference_records(session)}
    assert facts == raw


@pytest.fixture
def changes(db_session: Session, borough: Borough) -> Iterator[Session]:
    """The borough's session, checked before and after the test's changes."""
    assert_kept_right(db_session)
    yield db_session
    assert_kept_right(db_session)


def first_concern(session: Session, where: str = "point IS NOT NULL") -> int:
    """The id of the first concern matching a condition."""
    return int(session.scalar(text(f"SELECT min(id) FROM concern WHERE {where}")))


def test_aggregate_follows_a_moved_concern(changes: Session) -> None:
    concern = first_concern(changes)
    changes.execute(
        text(
            "UPDATE concern SET point = ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326) "
            "WHERE id = :id"
        ),
        {"x": WEST + 2_990, "y": SOUTH + 10, "id": concern},
    )
    x = changes.scalar(
        text("SELECT x FROM hotspot_fact WHERE source = 1 AND record_id = :id"), {"id": concern}
    )
    assert x == pytest.approx(WEST + 2_990)


def test_aggregate_follows_changed_kinds_sensitivity_and_dates(changes: Session) -> None:
    changes.execute(text("UPDATE concern SET kind = 'protective' WHERE kind = 'harm'"))
    changes.execute(text("UPDATE concern SET sensitivity = 'agency_only' WHERE id % 7 = 0"))
    changes.execute(
        text("UPDATE concern SET occurred_at = occurred_at + interval '40 days' WHERE id % 5 = 0")
    )
    changes.execute(text("UPDATE concern SET summary = 'Seen again' WHERE id % 2 = 0"))


def test_aggregate_follows_deleted_records(changes: Session) -> None:
    changes.execute(text("DELETE FROM concern WHERE id % 3 = 0"))
    changes.execute(text("DELETE FROM missing_episode WHERE found_place_id IS NOT NULL"))


def test_aggregate_follows_places_people_and_episodes(changes: Session, borough: Borough) -> None:
    changes.execute(
        text(
            "UPDATE place SET geom = ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326) "
            "WHERE id = :id"
        ),
        {"x": WEST + 40, "y": SOUTH + 2_960, "id": borough.places["hotel"]},
    )
    changes.execute(
        text("UPDATE place SET place_type = 'hmo' WHERE id = :id"), {"id": borough.places["park"]}
    )
    changes.execute(
        text("UPDATE young_person SET date_of_birth = '2001-01-01', gender = 'non_binary' WHERE id = :id"),
        {"id": borough.people["first"]},
    )
    changes.execute(
        text("UPDATE missing_episode SET found_at = missing_since + interval '2 days' WHERE found_at IS NULL")
    )
    changes.execute(text("DELETE FROM young_person WHERE id = :id"), {"id": borough.people["second"]})


def test_aggregate_follows_an_upsert_that_adds_and_changes(changes: Session, borough: Borough) -> None:
    changes.execute(text("UPDATE concern SET external_id = 'partner-' || id WHERE id % 4 = 0"))
    upsert = text(
        "INSERT INTO concern (young_person_id, agency_id, recorded_by_id, occurred_at, context, kind, "
        "category_id, summary, external_id, point) "
        "SELECT young_person_id, agency_id, recorded_by_id, occurred_at + interval '3 days', context, "
        "'harm', category_id, summary, external_id, point FROM concern WHERE external_id IS NOT NULL "
        "UNION ALL SELECT :person, :agency, :recorder, '2026-05-05', 'school', 'risk', :category, 'New', "
        "'partner-new', ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326) "
        "ON CONFLICT (agency_id, external_id) WHERE external_id IS NOT NULL "
        "DO UPDATE SET occurred_at = EXCLUDED.occurred_at, kind = EXCLUDED.kind"
    )
    changes.execute(
        upsert,
        {
            "person": borough.people["first"],
            "agency": borough.agencies[0],
            "recorder": borough.recorder,
            "category": borough.categories["family"],
            "x": WEST + 1_234,
            "y": SOUTH + 2_345,
        },
    )


def test_aggregate_counts_a_bulk_copy(changes: Session, borough: Borough) -> None:
    lines = []
    for index in range(500):
        moment = datetime(2026, 1 + index % 6, 1 + index % 28, 10, tzinfo=UTC).isoformat()
        place = str(borough.places["park"]) if index % 4 == 0 else "\\N"
        point = "\\N" if index % 4 == 0 else bng_point_ewkt(WEST + 5 * index, SOUTH + 3 * index)
        lines.append(
            "\t".join(
                (
                    str(borough.people["first"]),
                    str(borough.agencies[0]),
                    str(borough.recorder),
                    moment,
                    "neighbourhood",
                    "harm",
                    str(borough.categories["family"]),
                    "Seen at the park",
                    place,
                    point,
                )
            )
        )
    raw = changes.connection().connection.driver_connection
    assert raw is not None
    columns = "young_person_id, agency_id, recorded_by_id, occurred_at, context, kind, category_id, summary"
    with raw.cursor() as cursor, cursor.copy(f"COPY concern ({columns}, place_id, point) FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")
    assert (
        changes.scalar(
            text("SELECT count(*) FROM hotspot_fact WHERE kind = 'harm' AND agency_id = :a"),
            {"a": borough.agencies[0]},
        )
        >= 500
    )


def bng_point_ewkt(x: float, y: float) -> str:
    """An approximate WGS84 EWKT for a British National Grid point near the test square (for COPY rows)."""
    longitude = -1.5463 + (x - WEST) / 68_000
    latitude = 52.4233 + (y - SOUTH) / 111_300
    return f"SRID=4326;POINT({longitude:.7f} {latitude:.7f})"


SPLIT_X = WEST + 1_234.5
"""Where the two test areas meet: off the 50 m lattice, so lattice squares straddle it."""


def add_test_areas(session: Session) -> dict[str, Any]:
    """Two small areas side by side over the records (British National Grid outlines), as shapely."""
    outlines = {
        "KV-WEST": (WEST - 100, SOUTH - 100, SPLIT_X, SOUTH + 3_100),
        "KV-EAST": (SPLIT_X, SOUTH - 100, WEST + 3_100, SOUTH + 3_100),
    }
    for code, (x0, y0, x1, y1) in outlines.items():
        session.execute(
            text(
                "INSERT INTO small_area (code, name, kind, edition, geom, created_at, updated_at) "
                "VALUES (:code, :code, 'lsoa', 2021, "
                "ST_Multi(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 27700), 4326)), now(), now())"
            ),
            {"code": code, "x0": x0, "y0": y0, "x1": x1, "y1": y1},
        )
    rows = session.execute(text("SELECT code, ST_AsText(geom_bng) FROM small_area ORDER BY id")).all()
    return {code: shapely.from_wkt(wkt) for code, wkt in rows}


def expected_area_counts(records: list[Record], outlines: dict[str, Any]) -> dict[str, int]:
    """Each record counted in the first area (in the order added) that covers it."""
    counts: dict[str, int] = {}
    for record in records:
        point = shapely.Point(record.x, record.y)
        code = next((code for code, outline in outlines.items() if outline.covers(point)), None)
        if code is not None:
            counts[code] = counts.get(code, 0) + 1
    return counts


def test_area_counts_place_every_record_in_exactly_one_area_across_straddling_squares(
    db_session: Session, borough: Borough
) -> None:
    outlines = add_test_areas(db_session)
    records = selected(reference_records(db_session), actor=borough.analyst)
    expected = expected_area_counts(records, outlines)
    assert sum(expected.values()) == len(records)
    assert min(expected.values()) > 50
    query = HotspotQuery(start=START, end=END)
    counts, window = area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)
    assert counts == expected
    assert (window.start, window.end) == (START, END)
    partner = HotspotQuery(start=START, end=END, audience=Audience.PARTNER)
    shown = selected(reference_records(db_session), actor=borough.neighbourhood, audience=Audience.PARTNER)
    assert area_counts(db_session, borough.neighbourhood, partner, POLICY, kind="lsoa", edition=2021)[0] == (
        expected_area_counts(shown, outlines)
    )


def expected_squares(outlines: dict[str, Any]) -> dict[tuple[int, int], str | None]:
    """Each 250 m square meeting an area: the first area (in the order added) meeting it, if that
    area covers the whole square, else None."""
    west, south, east, north = shapely.union_all(list(outlines.values())).bounds
    found: dict[tuple[int, int], str | None] = {}
    for cx in range(int(west // 250), int(east // 250) + 1):
        for cy in range(int(south // 250), int(north // 250) + 1):
            square = shapely.box(cx * 250, cy * 250, (cx + 1) * 250, (cy + 1) * 250)
            first = next((code for code, outline in outlines.items() if outline.intersects(square)), None)
            if first is not None:
                found[(cx, cy)] = first if outlines[first].covers(square) else None
    return found


def stored_squares(session: Session) -> dict[tuple[int, int], str | None]:
    """The squares the database keeps for the test areas' kind and edition."""
    rows = session.execute(
        text(
            "SELECT c.cx, c.cy, a.code FROM small_area_cell AS c "
            "LEFT JOIN small_area AS a ON a.id = c.area_id WHERE c.kind = 'lsoa' AND c.edition = 2021"
        )
    )
    return {(int(cx), int(cy)): code for cx, cy, code in rows}


def test_small_area_cells_say_which_area_holds_each_square_as_areas_change(db_session: Session) -> None:
    outlines = add_test_areas(db_session)
    squares = stored_squares(db_session)
    assert squares == expected_squares(outlines)
    assert None in squares.values()
    assert {"KV-WEST", "KV-EAST"} <= set(squares.values())
    db_session.execute(
        text(
            "UPDATE small_area SET geom = "
            "ST_Multi(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 27700), 4326)) WHERE code = 'KV-EAST'"
        ),
        {"x0": SPLIT_X - 600, "y0": SOUTH + 400, "x1": WEST + 2_000, "y1": SOUTH + 1_900},
    )
    moved = db_session.execute(text("SELECT code, ST_AsText(geom_bng) FROM small_area ORDER BY id")).all()
    changed = {str(code): shapely.from_wkt(wkt) for code, wkt in moved}
    assert stored_squares(db_session) == expected_squares(changed)
    db_session.execute(text("DELETE FROM small_area WHERE code = 'KV-WEST'"))
    assert stored_squares(db_session) == expected_squares({"KV-EAST": changed["KV-EAST"]})


def test_area_counts_with_filters_and_part_months_match_the_reference(
    db_session: Session, borough: Borough
) -> None:
    outlines = add_test_areas(db_session)
    records = reference_records(db_session)
    cases: list[tuple[HotspotQuery, Callable[[Record], bool], date]] = [
        (
            HotspotQuery(start=START, end=END, filters=HotspotFilters(kinds=("harm",))),
            lambda r: r.kind == "harm",
            END,
        ),
        (
            HotspotQuery(start=START, end=END, filters=HotspotFilters(kinds=("harm",), genders=("female",))),
            lambda r: r.kind == "harm" and r.gender == "female",
            END,
        ),
        (HotspotQuery(start=START, end=date(2026, 3, 15)), lambda _: True, date(2026, 3, 15)),
    ]
    for query, keep, end in cases:
        shown = selected(records, actor=borough.analyst, end=end, keep=keep)
        counts, _ = area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)
        assert counts == expected_area_counts(shown, outlines)
        assert sum(counts.values()) == len(shown) > 0
    both = HotspotQuery(start=START, end=END, source=SourceChoice.BOTH, audience=Audience.PARTNER)
    shown = selected(records, actor=borough.neighbourhood, audience=Audience.PARTNER, sources=(1, 2))
    counts, _ = area_counts(db_session, borough.neighbourhood, both, POLICY, kind="lsoa", edition=2021)
    assert counts == expected_area_counts(shown, outlines)


def test_area_counts_follow_a_record_moved_within_its_square_across_an_edge(
    db_session: Session, borough: Borough
) -> None:
    outlines = add_test_areas(db_session)
    query = HotspotQuery(start=START, end=END)
    concern = first_concern(
        db_session, f"point IS NOT NULL AND occurred_at >= '{START}' AND sensitivity <> 'agency_only'"
    )
    counts = {}
    for side, x in (("west", SPLIT_X - 5), ("east", SPLIT_X + 5)):
        db_session.execute(
            text(
                "UPDATE concern SET point = ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 27700), 4326) "
                "WHERE id = :id"
            ),
            {"x": x, "y": SOUTH + 1_010, "id": concern},
        )
        records = selected(reference_records(db_session), actor=borough.analyst)
        counts[side], _ = area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)
        assert counts[side] == expected_area_counts(records, outlines)
        assert (
            area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)[0]
            == counts[side]
        )
    assert counts["east"]["KV-EAST"] == counts["west"]["KV-EAST"] + 1
    assert counts["east"]["KV-WEST"] == counts["west"]["KV-WEST"] - 1
    db_session.execute(
        text("UPDATE concern SET occurred_at = '2025-06-01T12:00Z' WHERE id = :id"), {"id": concern}
    )
    after, _ = area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)
    assert after == counts["east"] | {"KV-EAST": counts["east"]["KV-EAST"] - 1}


def test_area_rates_per_1000_young_people_use_published_counts_for_partners(
    db_session: Session, borough: Borough
) -> None:
    add_test_areas(db_session)
    db_session.execute(
        text(
            "INSERT INTO area_indicator (area_id, indicator, period, value) "
            "SELECT id, 'population_10_17', '2022', 250 FROM small_area WHERE code = 'KV-WEST'"
        )
    )
    areas = areas_with_indicators(db_session, kind="lsoa")
    query = HotspotQuery(start=START, end=END)
    counts, _ = area_counts(db_session, borough.analyst, query, POLICY, kind="lsoa", edition=2021)
    analyst = area_rates(db_session, borough.analyst, query, POLICY, areas)
    assert analyst["KV-WEST"] == AreaRate(counts["KV-WEST"], 250.0, counts["KV-WEST"] * 1000 / 250)
    assert analyst["KV-EAST"] == AreaRate(counts["KV-EAST"], None, None)
    partner_query = HotspotQuery(start=START, end=END, audience=Audience.PARTNER)
    partner_counts, _ = area_counts(
        db_session, borough.neighbourhood, partner_query, POLICY, kind="lsoa", edition=2021
    )
    partner = area_rates(db_session, borough.neighbourhood, partner_query, POLICY, areas)
    published = POLICY.publish_count(partner_counts["KV-WEST"])
    assert published is not None
    assert published % 5 == 0
    assert partner["KV-WEST"] == AreaRate(published, 250.0, published * 1000 / 250)
    tiny = HotspotQuery(start=START, end=START, audience=Audience.PARTNER)
    hidden = area_rates(db_session, borough.neighbourhood, tiny, POLICY, areas)
    assert all(rate.count is None or rate.count >= POLICY.threshold for rate in hidden.values())
