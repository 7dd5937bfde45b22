"""Which 250 m squares of the hotspot aggregate's lattice lie wholly in one small area, kept by the
database as areas are written, so that records per area can be summed from the aggregate.

`small_area_cell` has a row for every square of the 250 m lattice (`hotspot_cell_count`'s
`lattice = 250`, the square `[250 cx, 250 (cx + 1)) x [250 cy, 250 (cy + 1))`) that meets an area
of a kind and edition: `area_id` is the area every point of the closed square counts in (the first
area, by id, that meets the square, when it covers the whole square), else null (the square
crosses an area's edge: its records are placed one by one). Squares meeting no area have no row.

Statement-level AFTER triggers on `small_area` recompute the squares under the bounding boxes of
the areas a statement adds, changes or removes, however the rows are written (the importer's COPY,
the demo, SQL); a TRUNCATE empties the table.

Revision ID: 0012_small_area_cells
Revises: 0011_hotspot_aggregate
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_small_area_cells"
down_revision: str | None = "0011_hotspot_aggregate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQUARE = 250


def squares_under(areas: str) -> str:
    """SQL of the (kind, edition, cx, cy) lattice squares under the bounding boxes of some areas."""
    return f"""
    SELECT DISTINCT a.kind, a.edition, gx AS cx, gy AS cy
    FROM {areas} AS a
    CROSS JOIN LATERAL generate_series(
        floor(ST_XMin(a.geom_bng) / {SQUARE})::integer, floor(ST_XMax(a.geom_bng) / {SQUARE})::integer) AS gx
    CROSS JOIN LATERAL generate_series(
        floor(ST_YMin(a.geom_bng) / {SQUARE})::integer, floor(ST_YMax(a.geom_bng) / {SQUARE})::integer) AS gy
    WHERE a.geom_bng IS NOT NULL AND NOT ST_IsEmpty(a.geom_bng)
    """


def recount(squares: str) -> str:
    """Two statements: forget some squares, then classify those of them that meet an area."""
    return f"""
    DELETE FROM small_area_cell AS c USING ({squares}) AS s
    WHERE c.kind = s.kind AND c.edition = s.edition AND c.cx = s.cx AND c.cy = s.cy;
    INSERT INTO small_area_cell (kind, edition, cx, cy, area_id)
    SELECT s.kind, s.edition, s.cx, s.cy, CASE WHEN ST_Covers(first.geom_bng, b.square) THEN first.id END
    FROM ({squares}) AS s
    CROSS JOIN LATERAL (
        SELECT ST_MakeEnvelope(s.cx * {SQUARE}, s.cy * {SQUARE},
                               (s.cx + 1) * {SQUARE}, (s.cy + 1) * {SQUARE}, 27700) AS square
    ) AS b
    CROSS JOIN LATERAL (
        SELECT a.id, a.geom_bng FROM small_area AS a
        WHERE a.kind = s.kind AND a.edition = s.edition AND ST_Intersects(a.geom_bng, b.square)
        ORDER BY a.id LIMIT 1
    ) AS first;
    """


def trigger_function(name: str, changed: str) -> str:
    """A trigger function recounting the squares under the areas of some transition tables."""
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {recount(squares_under(changed))}
    RETURN NULL;
END
$$;
"""


FUNCTIONS_SQL = (
    trigger_function("small_area_cells_inserted", "new_areas")
    + trigger_function(
        "small_area_cells_updated",
        "(SELECT kind, edition, geom_bng FROM old_areas "
        "UNION ALL SELECT kind, edition, geom_bng FROM new_areas)",
    )
    + trigger_function("small_area_cells_deleted", "old_areas")
    + """
CREATE FUNCTION small_area_cells_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM small_area_cell;
    RETURN NULL;
END
$$;
"""
)

TRIGGERS_SQL = """
CREATE TRIGGER small_area_cells_inserted AFTER INSERT ON small_area
REFERENCING NEW TABLE AS new_areas FOR EACH STATEMENT EXECUTE FUNCTION small_area_cells_inserted();
CREATE TRIGGER small_area_cells_updated AFTER UPDATE ON small_area
REFERENCING OLD TABLE AS old_areas NEW TABLE AS new_areas
FOR EACH STATEMENT EXECUTE FUNCTION small_area_cells_updated();
CREATE TRIGGER small_area_cells_deleted AFTER DELETE ON small_area
REFERENCING OLD TABLE AS old_areas FOR EACH STATEMENT EXECUTE FUNCTION small_area_cells_deleted();
CREATE TRIGGER small_area_cells_truncated AFTER TRUNCATE ON small_area
FOR EACH STATEMENT EXECUTE FUNCTION small_area_cells_truncated();
"""

TRIGGERS = ("inserted", "updated", "deleted", "truncated")


def upgrade() -> None:
    """Create the table and its triggers, and classify the squares of the areas already loaded."""
    op.create_table(
        "small_area_cell",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("edition", sa.SmallInteger(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "edition", "cx", "cy", name=op.f("pk_small_area_cell")),
    )
    op.execute(FUNCTIONS_SQL)
    op.execute(TRIGGERS_SQL)
    everything = squares_under("small_area")
    for statement in recount(everything).split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers, their functions and the table."""
    for event in TRIGGERS:
        op.execute(f"DROP TRIGGER small_area_cells_{event} ON small_area")
        op.execute(f"DROP FUNCTION small_area_cells_{event}()")
    op.drop_table("small_area_cell")
