"""The hotspot aggregate, kept by the database as records are written: hotspot_fact (one row per
located concern or found-at location, in British National Grid metres) and hotspot_cell_count
(those facts counted by month on 250 m and 1 km lattices, a row per cell and calendar year; on
the 250 m lattice also by each filter's value), so that a hotspot map reads rows by cells and
years instead of every record.

Statement-level AFTER triggers with transition tables keep both tables right after inserts,
updates and deletes of concerns and missing episodes, however many rows a statement (or a COPY)
writes; after a place moves or changes type; and after a young person's date of birth or gender
changes. A concern's location is its point, else a point on its place (ST_PointOnSurface); a
missing episode's is where the young person was found (point, else place), once found. The young
person's home is never read. Dates and months are UK local time. `restricted_to` keeps apart what
partners may never see in an aggregate: agency-only concerns (the agency's id) and records at a
residential place type, which may be a young person's home (-1); 0 is everything else.

Revision ID: 0011_hotspot_aggregate
Revises: 0010_areas
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_hotspot_aggregate"
down_revision: str | None = "0010_areas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELPERS_SQL = """
-- The lattice cell index of a coordinate: i with i * size <= value < (i + 1) * size, exactly.
CREATE FUNCTION hotspot_lattice_index(value double precision, size integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor(value / size)::integer
        + CASE WHEN (floor(value / size) + 1) * size <= value THEN 1
               WHEN floor(value / size) * size > value THEN -1
               ELSE 0 END
$$;

-- A filter value's number in the lattice: the first 32 bits of its MD5, as a signed integer.
CREATE FUNCTION hotspot_code(value text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || left(md5(value), 8))::bit(32)::integer
$$;

-- Integer division rounding down, for indexes on a coarser lattice.
CREATE FUNCTION hotspot_coarser(index integer, factor integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (index - ((index % factor) + factor) % factor) / factor
$$;

CREATE FUNCTION hotspot_age_band(born date, on_day date) RETURNS varchar
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN born IS NULL OR on_day < born THEN 'not_known'
        WHEN date_part('year', age(on_day::timestamp, born::timestamp)) < 10 THEN 'under_10'
        WHEN date_part('year', age(on_day::timestamp, born::timestamp)) < 14 THEN '10_to_13'
        WHEN date_part('year', age(on_day::timestamp, born::timestamp)) < 16 THEN '14_to_15'
        WHEN date_part('year', age(on_day::timestamp, born::timestamp)) < 18 THEN '16_to_17'
        ELSE '18_and_over'
    END
$$;
"""

FACT_COLUMNS = (
    "source, record_id, occurred_on, month, x, y, cx, cy, agency_id, restricted_to, "
    "context, kind, category_id, place_type, age_band, gender"
)

CONCERN_FACTS = """
SELECT 1::smallint, c.id, d.local_day, date_trunc('month', d.local_day::timestamp)::date,
       ST_X(loc.geom), ST_Y(loc.geom),
       hotspot_lattice_index(ST_X(loc.geom), 50), hotspot_lattice_index(ST_Y(loc.geom), 50),
       c.agency_id,
       CASE WHEN c.sensitivity = 'agency_only' THEN c.agency_id
            WHEN p.place_type IN ('private_address', 'hmo') THEN -1 ELSE 0 END,
       c.context, c.kind, c.category_id, p.place_type,
       hotspot_age_band(yp.date_of_birth, d.local_day), coalesce(yp.gender, 'not_known')
FROM {rows} AS c
JOIN young_person AS yp ON yp.id = c.young_person_id
LEFT JOIN place AS p ON p.id = c.place_id
CROSS JOIN LATERAL (SELECT coalesce(c.point_bng, ST_PointOnSurface(p.geom_bng)) AS geom) AS loc
CROSS JOIN LATERAL (SELECT (c.occurred_at AT TIME ZONE 'Europe/London')::date AS local_day) AS d
WHERE loc.geom IS NOT NULL AND NOT ST_IsEmpty(loc.geom)
"""

MISSING_FACTS = """
SELECT 2::smallint, m.id, d.local_day, date_trunc('month', d.local_day::timestamp)::date,
       ST_X(loc.geom), ST_Y(loc.geom),
       hotspot_lattice_index(ST_X(loc.geom), 50), hotspot_lattice_index(ST_Y(loc.geom), 50),
       m.agency_id, CASE WHEN p.place_type IN ('private_address', 'hmo') THEN -1 ELSE 0 END,
       NULL, NULL, NULL, p.place_type,
       hotspot_age_band(yp.date_of_birth, d.local_day), coalesce(yp.gender, 'not_known')
FROM {rows} AS m
JOIN young_person AS yp ON yp.id = m.young_person_id
LEFT JOIN place AS p ON p.id = m.found_place_id
CROSS JOIN LATERAL (SELECT coalesce(m.found_point_bng, ST_PointOnSurface(p.geom_bng)) AS geom) AS loc
CROSS JOIN LATERAL (SELECT (m.found_at AT TIME ZONE 'Europe/London')::date AS local_day) AS d
WHERE m.found_at IS NOT NULL AND loc.geom IS NOT NULL AND NOT ST_IsEmpty(loc.geom)
"""

MONTHS = [f"m{number:02d}" for number in range(1, 13)]
"""A lattice row holds a cell's counts for one calendar year, one column a month."""


def count_facts(facts: str, sign: int) -> str:
    """One statement adding (or taking away) some facts' counts on every lattice and layer.

    The facts are counted by month in one pass for every layer (GROUPING SETS), then the months
    of each cell and year are put side by side; rows go in key order so that concurrent writers
    lock shared rows in the same order. Dimensions are numbered (0 all, 1 context, 2 kind,
    3 category, 4 agency, 5 place type, 6 age band, 7 gender); a value is its id (category,
    agency) or the hotspot_code of its text.
    """
    months = ", ".join(
        f"{sign} * coalesce(sum(n) FILTER (WHERE month_number = {n}), 0)" for n in range(1, 13)
    )
    updates = ", ".join(f"{month} = total.{month} + EXCLUDED.{month}" for month in MONTHS)
    return f"""
INSERT INTO hotspot_cell_count AS total
    (lattice, dimension, value, source, restricted_to, year, cx, cy, {", ".join(MONTHS)})
SELECT lattice, dimension, value, source, restricted_to, year, cx, cy, {months}
FROM (
    SELECT CASE WHEN GROUPING(f.kx) = 0 THEN 1000 ELSE 250 END AS lattice,
           CASE WHEN GROUPING(f.context) = 0 THEN 1
                WHEN GROUPING(f.kind) = 0 THEN 2
                WHEN GROUPING(f.category_id) = 0 THEN 3
                WHEN GROUPING(f.agency_id) = 0 THEN 4
                WHEN GROUPING(f.place_type) = 0 THEN 5
                WHEN GROUPING(f.age_band) = 0 THEN 6
                WHEN GROUPING(f.gender) = 0 THEN 7
                ELSE 0 END AS dimension,
           coalesce(f.context, f.kind, f.category_id, f.agency_id, f.place_type, f.age_band, f.gender, 0)
               AS value,
           f.source, f.restricted_to, f.year, f.month_number,
           coalesce(f.kx, f.qx) AS cx, coalesce(f.ky, f.qy) AS cy, count(*) AS n
    FROM (
        SELECT source, restricted_to,
               date_part('year', month)::smallint AS year, date_part('month', month)::integer AS month_number,
               hotspot_coarser(cx, 5) AS qx, hotspot_coarser(cy, 5) AS qy,
               hotspot_coarser(cx, 20) AS kx, hotspot_coarser(cy, 20) AS ky,
               hotspot_code(context) AS context, hotspot_code(kind) AS kind, category_id, agency_id,
               hotspot_code(place_type) AS place_type, hotspot_code(age_band) AS age_band,
               hotspot_code(gender) AS gender
        FROM {facts}
    ) AS f
    GROUP BY f.year, f.month_number, f.source, f.restricted_to, GROUPING SETS (
        (f.kx, f.ky), (f.qx, f.qy),
        (f.qx, f.qy, f.context), (f.qx, f.qy, f.kind), (f.qx, f.qy, f.category_id), (f.qx, f.qy, f.agency_id),
        (f.qx, f.qy, f.place_type), (f.qx, f.qy, f.age_band), (f.qx, f.qy, f.gender)
    )
    HAVING (GROUPING(f.context) = 1 OR f.context IS NOT NULL)
       AND (GROUPING(f.kind) = 1 OR f.kind IS NOT NULL)
       AND (GROUPING(f.category_id) = 1 OR f.category_id IS NOT NULL)
       AND (GROUPING(f.place_type) = 1 OR f.place_type IS NOT NULL)
) AS by_month
GROUP BY lattice, dimension, value, source, restricted_to, year, cx, cy
ORDER BY lattice, dimension, value, source, restricted_to, year, cx, cy
ON CONFLICT (lattice, dimension, value, source, restricted_to, year, cx, cy)
DO UPDATE SET {updates}
"""


def add_facts(select: str, rows: str) -> str:
    """One statement: insert the facts of `rows` and count them in."""
    inserted = f"INSERT INTO hotspot_fact ({FACT_COLUMNS}) {select.format(rows=rows)} RETURNING *"
    return f"WITH added AS ({inserted}) {count_facts('added', 1)}"


def remove_facts(source: int, ids: str) -> str:
    """One statement: delete the facts of these records and count them out."""
    deleted = f"DELETE FROM hotspot_fact WHERE source = {source} AND record_id = ANY({ids}) RETURNING *"
    return f"WITH removed AS ({deleted}) {count_facts('removed', -1)}"


def refresh_body(source: int, table: str, select: str) -> str:
    """Recount some records of one source from their current rows (none, if they were deleted)."""
    current = f"(SELECT * FROM {table} WHERE id = ANY(ids))"
    return f"""
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    {remove_facts(source, "ids")};
    {add_facts(select, current)};
    """


MAINTENANCE_SQL = f"""
CREATE FUNCTION hotspot_refresh_concerns(ids integer[]) RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    {refresh_body(1, "concern", CONCERN_FACTS)}
END
$$;

CREATE FUNCTION hotspot_refresh_missing(ids integer[]) RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    {refresh_body(2, "missing_episode", MISSING_FACTS)}
END
$$;

CREATE FUNCTION hotspot_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '256MB' AS $$
BEGIN
    DELETE FROM hotspot_cell_count;
    DELETE FROM hotspot_fact;
    INSERT INTO hotspot_fact ({FACT_COLUMNS}) {CONCERN_FACTS.format(rows="concern")};
    INSERT INTO hotspot_fact ({FACT_COLUMNS}) {MISSING_FACTS.format(rows="missing_episode")};
    {count_facts("hotspot_fact", 1)};
END
$$;

CREATE FUNCTION hotspot_concern_inserted() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    {add_facts(CONCERN_FACTS, "new_concerns")};
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_concern_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_refresh_concerns(ARRAY(
        SELECT n.id FROM new_concerns AS n JOIN old_concerns AS o ON o.id = n.id
        WHERE (o.point, o.place_id, o.occurred_at, o.context, o.kind, o.category_id, o.agency_id,
               o.sensitivity, o.young_person_id)
              IS DISTINCT FROM
              (n.point, n.place_id, n.occurred_at, n.context, n.kind, n.category_id, n.agency_id,
               n.sensitivity, n.young_person_id)));
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_concern_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_refresh_concerns(ARRAY(SELECT id FROM old_concerns));
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_missing_inserted() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    {add_facts(MISSING_FACTS, "new_episodes")};
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_missing_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_refresh_missing(ARRAY(
        SELECT n.id FROM new_episodes AS n JOIN old_episodes AS o ON o.id = n.id
        WHERE (o.found_at, o.found_point, o.found_place_id, o.agency_id, o.young_person_id)
              IS DISTINCT FROM
              (n.found_at, n.found_point, n.found_place_id, n.agency_id, n.young_person_id)));
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_missing_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_refresh_missing(ARRAY(SELECT id FROM old_episodes));
    RETURN NULL;
END
$$;

-- A place that moves or changes type moves or relabels the records located by it.
CREATE FUNCTION hotspot_place_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed integer[];
BEGIN
    changed := ARRAY(
        SELECT n.id FROM new_places AS n JOIN old_places AS o ON o.id = n.id
        WHERE o.geom IS DISTINCT FROM n.geom OR o.place_type IS DISTINCT FROM n.place_type);
    IF cardinality(changed) > 0 THEN
        PERFORM hotspot_refresh_concerns(ARRAY(SELECT id FROM concern WHERE place_id = ANY(changed)));
        PERFORM hotspot_refresh_missing(
            ARRAY(SELECT id FROM missing_episode WHERE found_place_id = ANY(changed)));
    END IF;
    RETURN NULL;
END
$$;

-- Age bands and gender are the young person's: a corrected date of birth or gender recounts them.
CREATE FUNCTION hotspot_young_person_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed integer[];
BEGIN
    changed := ARRAY(
        SELECT n.id FROM new_people AS n JOIN old_people AS o ON o.id = n.id
        WHERE (o.date_of_birth, o.gender) IS DISTINCT FROM (n.date_of_birth, n.gender));
    IF cardinality(changed) > 0 THEN
        PERFORM hotspot_refresh_concerns(
            ARRAY(SELECT id FROM concern WHERE young_person_id = ANY(changed)));
        PERFORM hotspot_refresh_missing(
            ARRAY(SELECT id FROM missing_episode WHERE young_person_id = ANY(changed)));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION hotspot_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_rebuild();
    RETURN NULL;
END
$$;

CREATE TRIGGER hotspot_concern_inserted AFTER INSERT ON concern
REFERENCING NEW TABLE AS new_concerns FOR EACH STATEMENT EXECUTE FUNCTION hotspot_concern_inserted();
CREATE TRIGGER hotspot_concern_updated AFTER UPDATE ON concern
REFERENCING OLD TABLE AS old_concerns NEW TABLE AS new_concerns
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_concern_updated();
CREATE TRIGGER hotspot_concern_deleted AFTER DELETE ON concern
REFERENCING OLD TABLE AS old_concerns FOR EACH STATEMENT EXECUTE FUNCTION hotspot_concern_deleted();
CREATE TRIGGER hotspot_concern_truncated AFTER TRUNCATE ON concern
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_truncated();

CREATE TRIGGER hotspot_missing_inserted AFTER INSERT ON missing_episode
REFERENCING NEW TABLE AS new_episodes FOR EACH STATEMENT EXECUTE FUNCTION hotspot_missing_inserted();
CREATE TRIGGER hotspot_missing_updated AFTER UPDATE ON missing_episode
REFERENCING OLD TABLE AS old_episodes NEW TABLE AS new_episodes
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_missing_updated();
CREATE TRIGGER hotspot_missing_deleted AFTER DELETE ON missing_episode
REFERENCING OLD TABLE AS old_episodes FOR EACH STATEMENT EXECUTE FUNCTION hotspot_missing_deleted();
CREATE TRIGGER hotspot_missing_truncated AFTER TRUNCATE ON missing_episode
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_truncated();

CREATE TRIGGER hotspot_place_updated AFTER UPDATE ON place
REFERENCING OLD TABLE AS old_places NEW TABLE AS new_places
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_place_updated();

CREATE TRIGGER hotspot_young_person_updated AFTER UPDATE ON young_person
REFERENCING OLD TABLE AS old_people NEW TABLE AS new_people
FOR EACH STATEMENT EXECUTE FUNCTION hotspot_young_person_updated();
"""

TRIGGERS = [
    ("hotspot_concern_inserted", "concern"),
    ("hotspot_concern_updated", "concern"),
    ("hotspot_concern_deleted", "concern"),
    ("hotspot_concern_truncated", "concern"),
    ("hotspot_missing_inserted", "missing_episode"),
    ("hotspot_missing_updated", "missing_episode"),
    ("hotspot_missing_deleted", "missing_episode"),
    ("hotspot_missing_truncated", "missing_episode"),
    ("hotspot_place_updated", "place"),
    ("hotspot_young_person_updated", "young_person"),
]
FUNCTIONS = [
    "hotspot_truncated()",
    "hotspot_young_person_updated()",
    "hotspot_place_updated()",
    "hotspot_missing_deleted()",
    "hotspot_missing_updated()",
    "hotspot_missing_inserted()",
    "hotspot_concern_deleted()",
    "hotspot_concern_updated()",
    "hotspot_concern_inserted()",
    "hotspot_rebuild()",
    "hotspot_refresh_missing(integer[])",
    "hotspot_refresh_concerns(integer[])",
    "hotspot_age_band(date, date)",
    "hotspot_coarser(integer, integer)",
    "hotspot_code(text)",
    "hotspot_lattice_index(double precision, integer)",
]


def code(length: int) -> sa.String:
    """A short code compared byte by byte."""
    return sa.String(length=length, collation="C")


def upgrade() -> None:
    """Create the two tables, the functions and triggers that keep them, and count what exists."""
    op.create_table(
        "hotspot_fact",
        sa.Column("source", sa.SmallInteger(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("x", sa.Double(), nullable=False),
        sa.Column("y", sa.Double(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("restricted_to", sa.Integer(), nullable=False),
        sa.Column("context", code(40), nullable=True),
        sa.Column("kind", code(40), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("place_type", code(40), nullable=True),
        sa.Column("age_band", code(20), nullable=False),
        sa.Column("gender", code(40), nullable=False),
        sa.PrimaryKeyConstraint("source", "record_id", name=op.f("pk_hotspot_fact")),
    )
    op.create_index("ix_hotspot_fact_source_month", "hotspot_fact", ["source", "month"], unique=False)
    op.create_table(
        "hotspot_cell_count",
        sa.Column("lattice", sa.SmallInteger(), nullable=False),
        sa.Column("dimension", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("source", sa.SmallInteger(), nullable=False),
        sa.Column("restricted_to", sa.Integer(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        *[sa.Column(month, sa.Integer(), nullable=False) for month in MONTHS],
        sa.PrimaryKeyConstraint(
            "lattice",
            "dimension",
            "value",
            "source",
            "restricted_to",
            "year",
            "cx",
            "cy",
            name=op.f("pk_hotspot_cell_count"),
        ),
    )
    op.execute(HELPERS_SQL)
    op.execute(MAINTENANCE_SQL)
    op.execute("SELECT hotspot_rebuild()")


def downgrade() -> None:
    """Drop the triggers, the functions and the two tables."""
    for trigger, table in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("hotspot_cell_count")
    op.drop_index("ix_hotspot_fact_source_month", table_name="hotspot_fact")
    op.drop_table("hotspot_fact")
