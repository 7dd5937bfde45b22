"""Alembic environment: runs as the owner role, then grants the app role what it needs."""

import logging
from logging.config import fileConfig

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection, create_engine, pool, text

from app.settings import get_settings
from mapping.registry import APPEND_ONLY_TABLES, metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")


def grant_app_privileges(connection: Connection, role: str) -> None:
    """Give the app role DML on our tables, only SELECT and INSERT on append-only ones."""
    if connection.execute(text("SELECT current_user")).scalar() == role:
        log.warning("The app role is the migration role: privileges cannot be narrowed.")
        return
    if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar() is None:
        log.warning("Role %s does not exist: no privileges granted.", role)
        return
    tables = connection.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tableowner = current_user AND tablename <> 'alembic_version'"
        )
    ).scalars()
    for table in tables:
        privileges = "SELECT, INSERT" if table in APPEND_ONLY_TABLES else "SELECT, INSERT, UPDATE, DELETE"
        connection.execute(text(f'REVOKE ALL ON TABLE public."{table}" FROM "{role}"'))
        connection.execute(text(f'GRANT {privileges} ON TABLE public."{table}" TO "{role}"'))
    connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
    connection.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))


def run_with(connection: Connection) -> None:
    """Configure the context on a connection and run the migrations."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
        if not context.is_offline_mode():
            grant_app_privileges(connection, config.attributes.get("app_role") or get_settings().app_db_role)


def run_migrations_online() -> None:
    """Run against a live database: a given connection (tests) or the owner URL."""
    given = config.attributes.get("connection")
    if given is not None:
        run_with(given)
        return
    url = config.attributes.get("url") or get_settings().owner_database_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("csmap migrations run online only.")
run_migrations_online()
