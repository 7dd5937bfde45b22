"""Concerns (chronology entries), their category taxonomy seeded from SAFEGUARD, and revisions.

Revision ID: 0003_concerns
Revises: 0002_young_people
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0003_concerns"
down_revision: str | None = "0002_young_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CATEGORIES = [
    ("sexual-health", "Sexual health", "Sexual health"),
    ("missing", "Absent or missing", "Absent or missing"),
    ("family", "Family problems", "Family problems"),
    ("emotional-physical", "Emotional and physical condition", "Emotional and physical condition"),
    ("older-associates", "Gangs and older associates", "Gangs and older associates"),
    ("technology", "Use of technology", "Use of technology"),
    ("alcohol-drugs", "Alcohol and drugs", "Alcohol and drugs"),
    ("unexplained-gifts", "Unexplained gifts, money or phones", "Receipt of unexplained gifts"),
    ("distrust", "Distrust of authority", "Distrust of authority"),
    ("hotels-taxis-food", "Contact with hotels, taxi firms or fast-food outlets", "Places of concern"),
    ("picked-up-in-cars", "Picked up in cars by unknown adults", "Places of concern"),
    ("hotspot", "Seen at a known hotspot", "Places of concern"),
    ("trusted-adult", "Trusted adult or relationship", "Protective factors"),
    ("positive-activity", "Positive activity or interest", "Protective factors"),
    ("education-engagement", "Engaged with education", "Protective factors"),
    ("family-support", "Family or carer support", "Protective factors"),
]


def upgrade() -> None:
    """Create the tables and seed the taxonomy (administrators can add to it)."""
    op.create_table(
        "concern_category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("theme", sa.String(length=120), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_category")),
        sa.UniqueConstraint("code", name=op.f("uq_concern_category_code")),
    )
    op.create_table(
        "concern",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("young_person_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "occurred_precision",
            sa.Enum(
                "exact",
                "day",
                "month",
                "approximate",
                name="date_precision",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            server_default=sa.text("'exact'"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.Enum(
                "individual",
                "home",
                "peer_group",
                "school",
                "neighbourhood",
                name="concern_context",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "risk",
                "harm",
                "protective",
                name="concern_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("place_id", sa.Integer(), nullable=True),
        sa.Column(
            "point",
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
        sa.Column(
            "point_bng",
            Geometry(
                geometry_type="POINT",
                srid=27700,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            sa.Computed("ST_Transform(point, 27700)", persisted=True),
            nullable=True,
        ),
        sa.Column(
            "source_evaluation",
            sa.Enum(
                "1", "2", "3", name="source_evaluation", native_enum=False, create_constraint=True, length=40
            ),
            nullable=True,
        ),
        sa.Column(
            "intelligence_assessment",
            sa.Enum(
                "A",
                "B",
                "C",
                "D",
                "E",
                name="intelligence_assessment",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "handling_code",
            sa.Enum("P", "C", name="handling_code", native_enum=False, create_constraint=True, length=40),
            nullable=True,
        ),
        sa.Column(
            "sensitivity",
            sa.Enum(
                "partnership",
                "agency_only",
                name="sensitivity",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            server_default=sa.text("'partnership'"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_concern_agency_id_agency")),
        sa.ForeignKeyConstraint(
            ["category_id"], ["concern_category.id"], name=op.f("fk_concern_category_id_concern_category")
        ),
        sa.ForeignKeyConstraint(["place_id"], ["place.id"], name=op.f("fk_concern_place_id_place")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["user_account.id"], name=op.f("fk_concern_recorded_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["young_person_id"],
            ["young_person.id"],
            name=op.f("fk_concern_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern")),
    )
    op.create_index("idx_concern_point_bng", "concern", ["point_bng"], postgresql_using="gist")
    op.create_index(op.f("ix_concern_agency_id"), "concern", ["agency_id"], unique=False)
    op.create_index(op.f("ix_concern_category_id"), "concern", ["category_id"], unique=False)
    op.create_index(op.f("ix_concern_place_id"), "concern", ["place_id"], unique=False)
    op.create_index(
        "ix_concern_young_person_occurred", "concern", ["young_person_id", "occurred_at"], unique=False
    )
    op.create_table(
        "concern_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("concern_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["user_account.id"],
            name=op.f("fk_concern_revision_changed_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["concern_id"],
            ["concern.id"],
            name=op.f("fk_concern_revision_concern_id_concern"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_revision")),
    )
    op.create_index(op.f("ix_concern_revision_concern_id"), "concern_revision", ["concern_id"], unique=False)
    category = sa.table("concern_category", sa.column("code"), sa.column("label"), sa.column("theme"))
    op.bulk_insert(category, [{"code": c, "label": label, "theme": theme} for c, label, theme in CATEGORIES])


def downgrade() -> None:
    """Drop the tables."""
    op.drop_index(op.f("ix_concern_revision_concern_id"), table_name="concern_revision")
    op.drop_table("concern_revision")
    op.drop_index("ix_concern_young_person_occurred", table_name="concern")
    op.drop_index(op.f("ix_concern_place_id"), table_name="concern")
    op.drop_index(op.f("ix_concern_category_id"), table_name="concern")
    op.drop_index(op.f("ix_concern_agency_id"), table_name="concern")
    op.drop_index("idx_concern_point_bng", table_name="concern")
    op.drop_table("concern")
    op.drop_table("concern_category")
