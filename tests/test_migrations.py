"""Migrations: base -> head -> base -> head, and the models match them (alembic check)."""

from alembic import command
from sqlalchemy import create_engine, inspect

from app.cli import alembic_config
from app.localdb import OWNER_ROLE, Cluster
from tests.conftest import migrate

EXPECTED_TABLES = {
    "agency",
    "user_account",
    "web_session",
    "audit_event",
    "place",
    "place_type",
    "young_person",
    "concern_category",
    "concern",
    "concern_revision",
    "concern_import",
    "person_of_concern",
    "person_link",
    "concern_person",
    "missing_episode",
    "missing_episode_concern",
    "risk_assessment",
    "assessment_indicator",
    "assessment_protective_factor",
    "assessment_action",
    "language_flag_count",
    "small_area",
    "indicator",
    "area_indicator",
    "postcode",
    "hotspot_fact",
    "hotspot_cell_count",
    "small_area_cell",
    "alembic_version",
}


def tables(cluster: Cluster, database: str) -> set[str]:
    """Tables in the public schema, PostGIS's own left out."""
    engine = create_engine(cluster.url(OWNER_ROLE, database))
    names = set(inspect(engine).get_table_names()) - {"spatial_ref_sys"}
    engine.dispose()
    return names


def test_round_trip_and_check(cluster: Cluster) -> None:
    database = "migration_round_trip"
    cluster.drop_database(database)
    cluster.ensure_database(database)
    migrate(cluster, database)
    assert tables(cluster, database) == EXPECTED_TABLES
    migrate(cluster, database, "base", down=True)
    assert tables(cluster, database) == {"alembic_version"}
    migrate(cluster, database)
    assert tables(cluster, database) == EXPECTED_TABLES
    config = alembic_config(cluster.url(OWNER_ROLE, database))
    config.attributes["skip_logging_config"] = True
    command.check(config)
    cluster.drop_database(database)
