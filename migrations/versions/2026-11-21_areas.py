"""Small areas (LSOAs, MSOAs, wards ...) with their boundaries, an indicator catalogue seeded with
deprivation and population measures, indicator values by area and period, and live postcodes.

Boundaries are stored in WGS84 with a British National Grid copy computed by the database, as
places are; postcodes likewise. Postcodes keep only the projected index: look-ups go by postcode.

Revision ID: 0010_areas
Revises: 0009_concern_import
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0010_areas"
down_revision: str | None = "0009_concern_import"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDICATORS = [
    ("imd_score", "Index of Multiple Deprivation score", "score"),
    ("imd_rank", "Index of Multiple Deprivation rank (1 is most deprived)", "rank"),
    ("imd_decile", "Index of Multiple Deprivation decile (1 is the most deprived 10%)", "decile"),
    ("idaci_score", "Income Deprivation Affecting Children Index score (rate)", "rate"),
    ("idaci_rank", "Income Deprivation Affecting Children Index rank (1 is most deprived)", "rank"),
    (
        "idaci_decile",
        "Income Deprivation Affecting Children Index decile (1 is the most deprived 10%)",
        "decile",
    ),
    ("population_total", "Total population", "people"),
    ("population_0_15", "Children aged 0-15", "people"),
    ("population_10_17", "Young people aged 10-17", "people"),
]


def geometry(kind: str, srid: int) -> Geometry:
    """A 2D geometry column type as GeoAlchemy2 reflects it."""
    return Geometry(
        geometry_type=kind,
        srid=srid,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
        nullable=False,
    )


def upgrade() -> None:
    """Create small_area, indicator (seeded), area_indicator and postcode."""
    op.create_table(
        "small_area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("edition", sa.SmallInteger(), nullable=False),
        sa.Column("geom", geometry("MULTIPOLYGON", 4326), nullable=False),
        sa.Column(
            "geom_bng",
            geometry("MULTIPOLYGON", 27700),
            sa.Computed("ST_Transform(geom, 27700)", persisted=True),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_small_area")),
        sa.UniqueConstraint("kind", "edition", "code", name=op.f("uq_small_area_kind_edition_code")),
    )
    op.create_index("idx_small_area_geom", "small_area", ["geom"], postgresql_using="gist")
    op.create_index("idx_small_area_geom_bng", "small_area", ["geom_bng"], postgresql_using="gist")
    op.create_index(op.f("ix_small_area_code"), "small_area", ["code"], unique=False)
    op.create_table(
        "indicator",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_indicator")),
    )
    catalogue = sa.table("indicator", sa.column("code"), sa.column("label"), sa.column("unit"))
    op.bulk_insert(catalogue, [{"code": c, "label": label, "unit": unit} for c, label, unit in INDICATORS])
    op.create_table(
        "area_indicator",
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["small_area.id"],
            name=op.f("fk_area_indicator_area_id_small_area"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator"], ["indicator.code"], name=op.f("fk_area_indicator_indicator_indicator")
        ),
        sa.PrimaryKeyConstraint("area_id", "indicator", "period", name=op.f("pk_area_indicator")),
    )
    op.create_table(
        "postcode",
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("geom", geometry("POINT", 4326), nullable=False),
        sa.Column(
            "geom_bng",
            geometry("POINT", 27700),
            sa.Computed("ST_Transform(geom, 27700)", persisted=True),
            nullable=False,
        ),
        sa.Column("lsoa_code", sa.String(length=20), nullable=True),
        sa.Column("lsoa_edition", sa.SmallInteger(), nullable=True),
        sa.Column("ward_code", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("postcode", name=op.f("pk_postcode")),
    )
    op.create_index("idx_postcode_geom_bng", "postcode", ["geom_bng"], postgresql_using="gist")


def downgrade() -> None:
    """Drop the postcode, indicator and area tables."""
    op.drop_index("idx_postcode_geom_bng", table_name="postcode", postgresql_using="gist")
    op.drop_table("postcode")
    op.drop_table("area_indicator")
    op.drop_table("indicator")
    op.drop_index(op.f("ix_small_area_code"), table_name="small_area")
    op.drop_index("idx_small_area_geom_bng", table_name="small_area", postgresql_using="gist")
    op.drop_index("idx_small_area_geom", table_name="small_area", postgresql_using="gist")
    op.drop_table("small_area")
