"""The demo borough and the command line."""

import hashlib
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.settings import Settings
from contexts.access import Role
from contexts.accounts.models import User
from contexts.audit.models import AuditEvent
from contexts.concerns.models import ConcernKind, Context
from contexts.demo import service as demo_service
from contexts.demo.borough import BOROUGH_AREA, LANDMARKS, PLACE_PLANS
from contexts.demo.generate import DESIGNATED_LOCAL_ID, DESIGNATED_NAME
from contexts.demo.service import (
    SCALES,
    DemoSize,
    build_demo,
    demo_anchor,
    designated_young_person_id,
    remove_demo_accounts,
)
from contexts.demo.texts import INTELLIGENCE_PREFIX, TEMPLATES, check_templates, template_texts
from contexts.language.checker import check_text, load_rules
from mapping.places.models import PlaceType
from tests.conftest import Database, World, web_sign_in

TODAY = date(2026, 11, 21)
SMALL = SCALES[DemoSize.SMALL]

HOME_HEADINGS = {
    Role.PRACTITIONER: "Practitioner home",
    Role.SUPERVISOR: "Supervisor home",
    Role.ANALYST: "Analyst home",
    Role.NEIGHBOURHOOD: "Neighbourhood team home",
    Role.AGENCY_ADMIN: "Agency administrator home",
    Role.SYSTEM_ADMIN: "System administrator home",
}


def test_demo_has_every_role_in_two_agencies_and_loads_once(db_session: Session) -> None:
    first = build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert first.created
    assert first.agencies == 8
    again = build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert not again.created
    users = {user.username: user for user in db_session.scalars(select(User))}
    for name in (
        "demo-practitioner",
        "demo-supervisor",
        "demo-analyst",
        "demo-neighbourhood",
        "demo-agency-admin",
        "demo-admin",
        "demo-practitioner-2",
    ):
        assert users[name].is_demo
    assert users["demo-practitioner"].agency_id != users["demo-practitioner-2"].agency_id
    assert all("(demo" in user.display_name for user in users.values())


def test_demo_sizes_grow() -> None:
    small, medium, large = SCALES[DemoSize.SMALL], SCALES[DemoSize.MEDIUM], SCALES[DemoSize.LARGE]
    assert (small.young_people, medium.young_people, large.young_people) == (200, 5_000, 100_000)
    assert (small.concerns, medium.concerns, large.concerns) == (4_000, 100_000, 2_000_000)
    assert (small.designated_concerns, large.designated_concerns) == (200, 2_000)
    assert small.extra_staff < medium.extra_staff < large.extra_staff
    assert small.place_factor <= medium.place_factor <= large.place_factor


def test_removing_demo_accounts_disables_them(db_session: Session) -> None:
    build_demo(session=db_session, size=DemoSize.SMALL, seed=1, password="demo-password-2026")
    assert remove_demo_accounts(session=db_session) == 12
    active = db_session.scalar(select(func.count()).select_from(User).where(User.is_active.is_(True)))
    assert active == 0


def test_each_role_lands_on_its_home_page(client: TestClient, world: World) -> None:
    for role, heading in HOME_HEADINGS.items():
        web_sign_in(client, world.users[role].username)
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert f"{heading}</h1>" in page.text


def run_cli(database: Database, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the csmap command against a database."""
    env = {**os.environ, "DATABASE_URL": database.app_url, "CSMAP_MIGRATION_DATABASE_URL": database.owner_url}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_creates_agency_and_user(fresh_database: Database) -> None:
    agency = run_cli(
        fresh_database, "create-agency", "--code", "kv-police", "--name", "Police", "--kind", "police"
    )
    assert agency.returncode == 0, agency.stderr
    user = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "Pat.Smith",
        "--display-name",
        "Pat Smith",
        "--agency",
        "kv-police",
        "--role",
        "practitioner",
        "--role",
        "supervisor",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert user.returncode == 0, user.stderr
    engine = create_engine(fresh_database.owner_url)
    with Session(engine) as session:
        created = session.scalars(select(User)).one()
        assert created.username == "pat.smith"
        assert sorted(created.roles) == ["practitioner", "supervisor"]
    engine.dispose()
    again = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "pat.smith",
        "--display-name",
        "Pat",
        "--agency",
        "kv-police",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert again.returncode == 1
    assert "already taken" in again.stderr
    weak = run_cli(
        fresh_database,
        "create-user",
        "--username",
        "weak",
        "--display-name",
        "Weak One",
        "--agency",
        "kv-police",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr


def test_cli_demo_is_idempotent(fresh_database: Database) -> None:
    assert "loaded" in run_cli(fresh_database, "demo").stderr
    assert "nothing changed" in run_cli(fresh_database, "demo").stderr


def build_small(session: Session, seed: int = 1) -> demo_service.DemoSummary:
    """The small borough, for a fixed day."""
    return build_demo(
        session=session, size=DemoSize.SMALL, seed=seed, password="demo-password-2026", today=TODAY
    )


def count(session: Session, sql: str) -> int:
    """One number from SQL."""
    return int(session.execute(text(sql)).scalar_one())


def test_small_borough_has_places_young_people_and_chronologies(db_session: Session) -> None:
    audit_before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    summary = build_small(db_session)
    expected_places = len(LANDMARKS) + sum(plan.count for plan in PLACE_PLANS) * SMALL.place_factor
    assert (summary.places, summary.young_people, summary.concerns) == (expected_places, 200, 4_000)
    assert count(db_session, "SELECT count(*) FROM place") == expected_places
    assert count(db_session, "SELECT count(*) FROM young_person") == 200
    assert count(db_session, "SELECT count(*) FROM concern") == 4_000
    # Seeding is not a person's access: no audit events.
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    again = build_small(db_session)
    assert not again.created
    assert count(db_session, "SELECT count(*) FROM concern") == 4_000


def test_designated_young_person_has_the_long_chronology(db_session: Session) -> None:
    build_small(db_session)
    person_id = designated_young_person_id(session=db_session)
    assert person_id is not None
    row = db_session.execute(
        text(
            "SELECT y.given_name, y.family_name, y.local_id, a.code, "
            "(SELECT count(*) FROM concern c WHERE c.young_person_id = y.id), "
            "(SELECT max(count) FROM (SELECT count(*) FROM concern GROUP BY young_person_id) AS per_person) "
            "FROM young_person y JOIN agency a ON a.id = y.agency_id WHERE y.id = :id"
        ),
        {"id": person_id},
    ).one()
    assert (row[0], row[1]) == DESIGNATED_NAME
    assert row[2] == DESIGNATED_LOCAL_ID
    assert row[3] == "kv-csc"  # demo-practitioner's agency
    assert row[4] == SMALL.designated_concerns == row[5]


def test_young_people_are_believable(db_session: Session) -> None:
    build_small(db_session)
    agencies = {
        str(code): int(agency_id)
        for code, agency_id in db_session.execute(text("SELECT code, id FROM agency WHERE is_demo"))
    }
    by_agency = {
        int(agency_id): int(number)
        for agency_id, number in db_session.execute(
            text("SELECT agency_id, count(*) FROM young_person GROUP BY 1")
        )
    }
    assert set(by_agency) == {agencies["kv-csc"], agencies["kv-police"]}
    assert by_agency[agencies["kv-csc"]] > by_agency[agencies["kv-police"]] > 0
    born = db_session.execute(text("SELECT min(date_of_birth), max(date_of_birth) FROM young_person")).one()
    assert born[0] > TODAY - timedelta(days=19 * 366)
    assert born[1] <= TODAY - timedelta(days=10 * 365)
    assert count(db_session, "SELECT count(DISTINCT family_name) FROM young_person") > 100
    assert count(db_session, "SELECT count(DISTINCT ethnicity) FROM young_person") >= 10
    assert 0 < count(db_session, "SELECT count(*) FROM young_person WHERE ethnicity IS NULL") < 100
    assert count(db_session, "SELECT count(DISTINCT gender) FROM young_person") >= 4
    assert count(db_session, "SELECT count(*) FROM young_person WHERE looked_after") > 0
    assert count(db_session, "SELECT count(*) FROM young_person WHERE send") > 0
    schools = count(
        db_session,
        "SELECT count(*) FROM young_person y JOIN place p ON p.id = y.school_place_id "
        "WHERE p.place_type = 'school'",
    )
    assert 0 < schools == count(db_session, "SELECT count(school_place_id) FROM young_person")
    # Leads and creators are demo practitioners of the young person's own agency.
    assert (
        count(
            db_session,
            "SELECT count(*) FROM young_person y JOIN user_account u ON u.id = y.lead_practitioner_id "
            "JOIN user_account c ON c.id = y.created_by_id "
            "WHERE u.agency_id = y.agency_id AND u.is_demo AND c.agency_id = y.agency_id AND c.is_demo",
        )
        == 200
    )


def test_concerns_cover_every_context_and_kind_with_fitting_categories(db_session: Session) -> None:
    build_small(db_session)
    pairs = {
        (str(c), str(k)) for c, k in db_session.execute(text("SELECT DISTINCT context, kind FROM concern"))
    }
    assert {context for context, _ in pairs} == {c.value for c in Context}
    assert {kind for _, kind in pairs} == {k.value for k in ConcernKind}
    mismatched = count(
        db_session,
        "SELECT count(*) FROM concern c JOIN concern_category k ON k.id = c.category_id "
        "WHERE (c.kind = 'protective') <> (k.theme = 'Protective factors')",
    )
    assert mismatched == 0
    assert count(db_session, "SELECT count(DISTINCT category_id) FROM concern") == 16
    # Recorded by a demo user of the recording agency.
    assert (
        count(
            db_session,
            "SELECT count(*) FROM concern c JOIN user_account u ON u.id = c.recorded_by_id "
            "WHERE u.agency_id = c.agency_id AND u.is_demo",
        )
        == 4_000
    )
    graded = db_session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE a.code = 'kv-police'), "
            "count(*) FILTER (WHERE c.detail LIKE :prefix) "
            "FROM concern c JOIN agency a ON a.id = c.agency_id "
            "WHERE c.source_evaluation IS NOT NULL AND c.intelligence_assessment IS NOT NULL "
            "AND c.handling_code IS NOT NULL"
        ),
        {"prefix": INTELLIGENCE_PREFIX + "%"},
    ).one()
    assert graded[0] > 0
    assert graded[0] == graded[1] == graded[2]
    assert count(db_session, "SELECT count(*) FROM concern WHERE source_evaluation IS NOT NULL") == graded[0]
    assert 0 < count(db_session, "SELECT count(*) FROM concern WHERE sensitivity = 'agency_only'") < 200
    assert count(db_session, "SELECT count(*) FROM concern WHERE place_id IS NOT NULL") > 400
    assert count(db_session, "SELECT count(*) FROM concern WHERE point IS NOT NULL") > 200
    assert count(db_session, "SELECT count(DISTINCT occurred_precision) FROM concern") == 4


def test_concern_times_cluster_over_the_last_two_years(db_session: Session) -> None:
    build_small(db_session)
    anchor = demo_anchor(TODAY)
    first, last, misrecorded = db_session.execute(
        text(
            "SELECT min(occurred_at), max(occurred_at), "
            "count(*) FILTER (WHERE created_at < occurred_at OR created_at > :anchor) FROM concern"
        ),
        {"anchor": anchor},
    ).one()
    assert anchor - timedelta(days=731) <= first < last < anchor
    assert misrecorded == 0  # recorded after it happened, and not after the build day began
    # Episodes: the busiest week of the designated chronology holds far more than an even share.
    busiest = count(
        db_session,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM concern c "
        "JOIN young_person y ON y.id = c.young_person_id "
        f"WHERE y.local_id = '{DESIGNATED_LOCAL_ID}' GROUP BY date_trunc('week', c.occurred_at)) AS weeks",
    )
    assert busiest > 3 * SMALL.designated_concerns / 104


def test_places_and_points_lie_inside_the_borough(db_session: Session) -> None:
    build_small(db_session)
    england = Settings().area_bbox
    area = BOROUGH_AREA
    assert england[0] < area.min_longitude < area.max_longitude < england[2]
    assert england[1] < area.min_latitude < area.max_latitude < england[3]
    params = {
        "x0": area.min_longitude,
        "y0": area.min_latitude,
        "x1": area.max_longitude,
        "y1": area.max_latitude,
    }
    inside = "ST_Within({g}, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))"
    for table, column in (("place", "geom"), ("concern", "point"), ("young_person", "home_point")):
        outside = db_session.execute(
            text(
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND NOT {inside.format(g=column)}"
            ),
            params,
        ).scalar_one()
        assert outside == 0, table
    assert count(db_session, "SELECT count(*) FROM place WHERE geom_bng IS NULL") == 0
    types = set(db_session.execute(text("SELECT DISTINCT place_type FROM place")).scalars())
    assert types <= {kind.value for kind in PlaceType}
    assert {
        "hotel",
        "takeaway",
        "taxi_rank",
        "park",
        "car_park",
        "station",
        "shopping_centre",
        "school",
    } <= types
    assert "youth_provision" in types
    assert count(db_session, "SELECT count(*) FROM place WHERE name NOT LIKE '%(fictional)'") == 0


def test_demo_texts_use_the_preferred_language(db_session: Session) -> None:
    check_templates()
    rules = load_rules()
    texts = template_texts() + [INTELLIGENCE_PREFIX]
    for template in TEMPLATES:
        for sample in ("The Larkspur Hotel (fictional)", "Kestrel Vale Bus Station (fictional)"):
            texts += [template.summary.replace("{place}", sample), template.detail.replace("{place}", sample)]
    for words in texts:
        assert check_text(words, rules) == [], words
    build_small(db_session)
    generated = db_session.execute(
        text("SELECT DISTINCT summary FROM concern UNION SELECT DISTINCT detail FROM concern")
    ).scalars()
    for words in generated:
        assert check_text(words or "", rules) == [], words


def fingerprint(session: Session) -> str:
    """A digest of everything generated that does not depend on the database's ids."""
    digest = hashlib.sha256()
    queries = (
        "SELECT name, place_type, address, postcode, ST_AsText(geom) FROM place ORDER BY name",
        "SELECT y.local_id, y.given_name, y.family_name, y.preferred_name, y.date_of_birth, y.gender, "
        "y.ethnicity, y.nhs_number, a.code, u.username, s.name, y.looked_after, y.send, y.created_at "
        "FROM young_person y JOIN agency a ON a.id = y.agency_id "
        "JOIN user_account u ON u.id = y.lead_practitioner_id LEFT JOIN place s ON s.id = y.school_place_id "
        "ORDER BY y.local_id",
        "SELECT y.local_id, c.occurred_at, c.occurred_precision, c.context, c.kind, k.code, c.summary, "
        "c.detail, p.name, ST_AsText(c.point), a.code, u.username, c.source_evaluation, c.sensitivity, "
        "c.created_at FROM concern c JOIN young_person y ON y.id = c.young_person_id "
        "JOIN concern_category k ON k.id = c.category_id JOIN agency a ON a.id = c.agency_id "
        "JOIN user_account u ON u.id = c.recorded_by_id LEFT JOIN place p ON p.id = c.place_id "
        "ORDER BY 1, 2, 7, 10, 13, 15",
    )
    for query in queries:
        for row in session.execute(text(query)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_the_same_seed_and_day_build_the_same_borough(db_session: Session) -> None:
    build_small(db_session, seed=5)
    first = fingerprint(db_session)
    db_session.rollback()
    build_small(db_session, seed=5)
    assert fingerprint(db_session) == first
    db_session.rollback()
    build_small(db_session, seed=6)
    assert fingerprint(db_session) != first


def schema_of(database: Database) -> list[tuple[str, str]]:
    """Every constraint and index definition in the public schema."""
    engine = create_engine(database.owner_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace UNION ALL "
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
            )
        )
        found = [(str(name), str(definition)) for name, definition in rows]
    engine.dispose()
    return found


def test_bulk_load_as_owner_restores_every_key_and_index(
    fresh_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = schema_of(fresh_database)
    monkeypatch.setattr(demo_service, "BULK_ROWS", 1)
    engine = create_engine(fresh_database.owner_url)
    with Session(engine) as session, session.begin():
        summary = build_small(session)
    with Session(engine) as session:
        assert count(session, "SELECT count(*) FROM concern") == summary.concerns == SMALL.concerns
        analysed = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_user_tables "
                "WHERE relname IN ('place', 'young_person', 'concern') "
                "AND last_analyze IS NOT NULL"
            )
        ).scalar_one()
        assert analysed == 3
    engine.dispose()
    assert schema_of(fresh_database) == before


def test_demo_has_missing_episodes_and_signed_off_assessments(db_session: Session) -> None:
    from contexts.assessments.models import AssessmentStatus, RiskAssessment
    from contexts.missing.models import MissingEpisode

    build_demo(session=db_session, size=DemoSize.SMALL, seed=3, password="demo-password-2026")
    episodes = db_session.scalars(select(MissingEpisode)).all()
    assessments = db_session.scalars(select(RiskAssessment)).all()
    assert len(episodes) >= 20
    assert len(assessments) >= 15
    assert all(e.reported_at is not None and e.reported_at >= e.missing_since for e in episodes)
    assert all(e.found_at is None or e.found_at >= e.missing_since for e in episodes)
    signed = [a for a in assessments if a.status is AssessmentStatus.SIGNED_OFF]
    assert signed
    assert all(a.signed_off_by_id != a.author_id for a in signed)
    assert all(sum(a.weights().values()) == 100 for a in assessments)
    assert all(a.indicators and a.actions for a in assessments)


def test_casework_wording_raises_no_language_flag() -> None:
    from contexts.demo.casework import all_texts
    from contexts.language.checker import check_text, load_rules

    rules = load_rules()
    flagged = {text: [f.phrase for f in check_text(text, rules)] for text in all_texts()}
    assert {text: found for text, found in flagged.items() if found} == {}
