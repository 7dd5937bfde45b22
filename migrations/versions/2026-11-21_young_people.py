"""Young people, places (with a projected geometry copy) and the reason a web session gives.

Revision ID: 0002_young_people
Revises: 0001_platform
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0002_young_people"
down_revision: str | None = "0001_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the place and young_person tables; trigram search needs pg_trgm (a trusted extension)."""
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "place_type",
            sa.Enum(
                "hotel",
                "taxi_rank",
                "taxi_firm",
                "takeaway",
                "shisha_lounge",
                "shop",
                "park",
                "car_park",
                "station",
                "bus_route",
                "shopping_centre",
                "school",
                "youth_provision",
                "private_address",
                "hmo",
                "other",
                name="place_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("postcode", sa.String(length=10), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "geom_bng",
            Geometry(
                srid=27700,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            sa.Computed("ST_Transform(geom, 27700)", persisted=True),
            nullable=False,
        ),
        sa.Column("created_by_agency_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_agency_id"], ["agency.id"], name=op.f("fk_place_created_by_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place")),
    )
    op.create_index("idx_place_geom", "place", ["geom"], postgresql_using="gist")
    op.create_index("idx_place_geom_bng", "place", ["geom_bng"], postgresql_using="gist")
    op.create_index(op.f("ix_place_place_type"), "place", ["place_type"], unique=False)
    op.create_table(
        "young_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("lead_practitioner_id", sa.Integer(), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("preferred_name", sa.String(length=100), nullable=True),
        sa.Column(
            "full_name",
            sa.Text(),
            sa.Computed("lower(given_name || ' ' || family_name)", persisted=True),
            nullable=False,
        ),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column(
            "gender",
            sa.Enum(
                "female",
                "male",
                "non_binary",
                "self_described",
                "not_known",
                name="gender",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "ethnicity",
            sa.Enum(
                "asian_bangladeshi",
                "asian_chinese",
                "asian_indian",
                "asian_pakistani",
                "asian_other",
                "black_african",
                "black_caribbean",
                "black_other",
                "mixed_white_asian",
                "mixed_white_black_african",
                "mixed_white_black_caribbean",
                "mixed_other",
                "white_british",
                "white_irish",
                "white_gypsy_traveller",
                "white_roma",
                "white_other",
                "other_arab",
                "other_any",
                name="ethnicity",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("local_id", sa.String(length=40), nullable=True),
        sa.Column("nhs_number", sa.String(length=10), nullable=True),
        sa.Column("police_reference", sa.String(length=40), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open", "closed", name="record_status", native_enum=False, create_constraint=True, length=40
            ),
            server_default=sa.text("'open'"),
            nullable=False,
        ),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("home_address", sa.Text(), nullable=True),
        sa.Column(
            "home_point",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("school_place_id", sa.Integer(), nullable=True),
        sa.Column("looked_after", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("send", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("care_leaver", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_young_person_agency_id_agency")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_young_person_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["lead_practitioner_id"],
            ["user_account.id"],
            name=op.f("fk_young_person_lead_practitioner_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["school_place_id"], ["place.id"], name=op.f("fk_young_person_school_place_id_place")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_young_person")),
    )
    op.create_index(op.f("ix_young_person_agency_id"), "young_person", ["agency_id"], unique=False)
    op.create_index(op.f("ix_young_person_date_of_birth"), "young_person", ["date_of_birth"], unique=False)
    op.create_index(
        "ix_young_person_full_name_trgm",
        "young_person",
        ["full_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    )
    op.create_index(op.f("ix_young_person_nhs_number"), "young_person", ["nhs_number"], unique=False)
    op.create_index("uq_young_person_agency_local_id", "young_person", ["agency_id", "local_id"], unique=True)
    op.add_column("web_session", sa.Column("access_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Drop them again (pg_trgm stays, as PostGIS does)."""
    op.drop_column("web_session", "access_reason")
    op.drop_index("uq_young_person_agency_local_id", table_name="young_person")
    op.drop_index(op.f("ix_young_person_nhs_number"), table_name="young_person")
    op.drop_index(
        "ix_young_person_full_name_trgm",
        table_name="young_person",
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    )
    op.drop_index(op.f("ix_young_person_date_of_birth"), table_name="young_person")
    op.drop_index(op.f("ix_young_person_agency_id"), table_name="young_person")
    op.drop_table("young_person")
    op.drop_index(op.f("ix_place_place_type"), table_name="place")
    op.drop_index("idx_place_geom_bng", table_name="place")
    op.drop_index("idx_place_geom", table_name="place")
    op.drop_table("place")
