"""Persons of concern, links between people with their provenance, people in concerns, missing episodes.

Revision ID: 0004_persons_missing
Revises: 0003_concerns
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0004_persons_missing"
down_revision: str | None = "0003_concerns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _point(srid: int) -> Geometry:
    """A point column type as the models declare it (the index is made explicitly)."""
    return Geometry(
        geometry_type="POINT",
        srid=srid,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
    )


def _enum(name: str, *values: str) -> sa.Enum:
    """A text enum guarded by a CHECK constraint, as `contexts.agencies.models.enum_column` makes."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=40)


def _timestamps() -> list[sa.Column[object]]:
    """The created_at and updated_at columns of `TimestampMixin`."""
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    """Create the five tables."""
    op.create_table(
        "person_of_concern",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "aliases", postgresql.ARRAY(sa.String(length=100)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("approximate_age", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "approximate_age IS NULL OR approximate_age BETWEEN 0 AND 120",
            name=op.f("ck_person_of_concern_age_range"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_person_of_concern_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_person_of_concern_created_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_of_concern")),
    )
    op.create_index(op.f("ix_person_of_concern_agency_id"), "person_of_concern", ["agency_id"], unique=False)

    op.create_table(
        "person_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("young_person_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("linked_young_person_id", sa.Integer(), nullable=True),
        sa.Column("person_of_concern_id", sa.Integer(), nullable=True),
        sa.Column(
            "relationship_type",
            _enum(
                "relationship_type",
                "associate",
                "sibling",
                "peer",
                "adult_of_concern",
                "family_member",
                "professional",
                "other",
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_agency_id", sa.Integer(), nullable=False),
        sa.Column("source_evaluation", _enum("source_evaluation", "1", "2", "3"), nullable=True),
        sa.Column(
            "intelligence_assessment",
            _enum("intelligence_assessment", "A", "B", "C", "D", "E"),
            nullable=True,
        ),
        sa.Column("handling_code", _enum("handling_code", "P", "C"), nullable=True),
        sa.Column("observed_date", sa.Date(), nullable=False),
        sa.Column("review_by_date", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "(linked_young_person_id IS NULL) <> (person_of_concern_id IS NULL)",
            name=op.f("ck_person_link_one_linked_person"),
        ),
        sa.CheckConstraint(
            "linked_young_person_id IS NULL OR linked_young_person_id <> young_person_id",
            name=op.f("ck_person_link_not_self"),
        ),
        sa.CheckConstraint(
            "review_by_date > observed_date", name=op.f("ck_person_link_review_after_observed")
        ),
        sa.CheckConstraint(
            "(source_evaluation IS NULL) = (intelligence_assessment IS NULL) "
            "AND (source_evaluation IS NULL) = (handling_code IS NULL)",
            name=op.f("ck_person_link_grading_all_or_none"),
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_person_link_agency_id_agency")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_person_link_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["linked_young_person_id"],
            ["young_person.id"],
            name=op.f("fk_person_link_linked_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_of_concern_id"],
            ["person_of_concern.id"],
            name=op.f("fk_person_link_person_of_concern_id_person_of_concern"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_agency_id"], ["agency.id"], name=op.f("fk_person_link_source_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["young_person_id"],
            ["young_person.id"],
            name=op.f("fk_person_link_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_link")),
    )
    op.create_index(op.f("ix_person_link_agency_id"), "person_link", ["agency_id"], unique=False)
    op.create_index(
        op.f("ix_person_link_linked_young_person_id"), "person_link", ["linked_young_person_id"], unique=False
    )
    op.create_index(
        op.f("ix_person_link_person_of_concern_id"), "person_link", ["person_of_concern_id"], unique=False
    )
    op.create_index(op.f("ix_person_link_young_person_id"), "person_link", ["young_person_id"], unique=False)

    op.create_table(
        "concern_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("concern_id", sa.Integer(), nullable=False),
        sa.Column("young_person_id", sa.Integer(), nullable=True),
        sa.Column("person_of_concern_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(young_person_id IS NULL) <> (person_of_concern_id IS NULL)",
            name=op.f("ck_concern_person_one_person"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["user_account.id"], name=op.f("fk_concern_person_added_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["concern_id"],
            ["concern.id"],
            name=op.f("fk_concern_person_concern_id_concern"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_of_concern_id"],
            ["person_of_concern.id"],
            name=op.f("fk_concern_person_person_of_concern_id_person_of_concern"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["young_person_id"],
            ["young_person.id"],
            name=op.f("fk_concern_person_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_person")),
    )
    op.create_index(
        op.f("ix_concern_person_person_of_concern_id"),
        "concern_person",
        ["person_of_concern_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_concern_person_young_person_id"), "concern_person", ["young_person_id"], unique=False
    )
    op.create_index(
        "uq_concern_person_concern_person_of_concern",
        "concern_person",
        ["concern_id", "person_of_concern_id"],
        unique=True,
    )
    op.create_index(
        "uq_concern_person_concern_young_person",
        "concern_person",
        ["concern_id", "young_person_id"],
        unique=True,
    )

    op.create_table(
        "missing_episode",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("young_person_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("missing_from_place_id", sa.Integer(), nullable=True),
        sa.Column("missing_from_address", sa.Text(), nullable=True),
        sa.Column("missing_from_point", _point(4326), nullable=True),
        sa.Column(
            "missing_from_point_bng",
            _point(27700),
            sa.Computed("ST_Transform(missing_from_point, 27700)", persisted=True),
            nullable=True,
        ),
        sa.Column("missing_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found_place_id", sa.Integer(), nullable=True),
        sa.Column("found_address", sa.Text(), nullable=True),
        sa.Column("found_point", _point(4326), nullable=True),
        sa.Column(
            "found_point_bng",
            _point(27700),
            sa.Computed("ST_Transform(found_point, 27700)", persisted=True),
            nullable=True,
        ),
        sa.Column("found_with", sa.Text(), nullable=True),
        sa.Column("return_interview_offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_interview_declined", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "found_at IS NULL OR found_at >= missing_since",
            name=op.f("ck_missing_episode_found_after_missing"),
        ),
        sa.CheckConstraint(
            "reported_at IS NULL OR reported_at >= missing_since",
            name=op.f("ck_missing_episode_reported_after_missing"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_missing_episode_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["found_place_id"], ["place.id"], name=op.f("fk_missing_episode_found_place_id_place")
        ),
        sa.ForeignKeyConstraint(
            ["missing_from_place_id"],
            ["place.id"],
            name=op.f("fk_missing_episode_missing_from_place_id_place"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_missing_episode_recorded_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["young_person_id"],
            ["young_person.id"],
            name=op.f("fk_missing_episode_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missing_episode")),
    )
    op.create_index(
        "idx_missing_episode_missing_from_point_bng",
        "missing_episode",
        ["missing_from_point_bng"],
        postgresql_using="gist",
    )
    op.create_index(
        "idx_missing_episode_found_point_bng", "missing_episode", ["found_point_bng"], postgresql_using="gist"
    )
    op.create_index(op.f("ix_missing_episode_agency_id"), "missing_episode", ["agency_id"], unique=False)
    op.create_index(
        op.f("ix_missing_episode_found_place_id"), "missing_episode", ["found_place_id"], unique=False
    )
    op.create_index(
        op.f("ix_missing_episode_missing_from_place_id"),
        "missing_episode",
        ["missing_from_place_id"],
        unique=False,
    )
    op.create_index(
        "ix_missing_episode_young_person_since",
        "missing_episode",
        ["young_person_id", "missing_since"],
        unique=False,
    )

    op.create_table(
        "missing_episode_concern",
        sa.Column("missing_episode_id", sa.Integer(), nullable=False),
        sa.Column("concern_id", sa.Integer(), nullable=False),
        sa.Column("linked_by_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["concern_id"],
            ["concern.id"],
            name=op.f("fk_missing_episode_concern_concern_id_concern"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_id"],
            ["user_account.id"],
            name=op.f("fk_missing_episode_concern_linked_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["missing_episode_id"],
            ["missing_episode.id"],
            name=op.f("fk_missing_episode_concern_missing_episode_id_missing_episode"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("missing_episode_id", "concern_id", name=op.f("pk_missing_episode_concern")),
    )
    op.create_index(
        op.f("ix_missing_episode_concern_concern_id"), "missing_episode_concern", ["concern_id"], unique=False
    )


def downgrade() -> None:
    """Drop the five tables."""
    op.drop_index(op.f("ix_missing_episode_concern_concern_id"), table_name="missing_episode_concern")
    op.drop_table("missing_episode_concern")
    op.drop_index("ix_missing_episode_young_person_since", table_name="missing_episode")
    op.drop_index(op.f("ix_missing_episode_missing_from_place_id"), table_name="missing_episode")
    op.drop_index(op.f("ix_missing_episode_found_place_id"), table_name="missing_episode")
    op.drop_index(op.f("ix_missing_episode_agency_id"), table_name="missing_episode")
    op.drop_index("idx_missing_episode_found_point_bng", table_name="missing_episode")
    op.drop_index("idx_missing_episode_missing_from_point_bng", table_name="missing_episode")
    op.drop_table("missing_episode")
    op.drop_index("uq_concern_person_concern_young_person", table_name="concern_person")
    op.drop_index("uq_concern_person_concern_person_of_concern", table_name="concern_person")
    op.drop_index(op.f("ix_concern_person_young_person_id"), table_name="concern_person")
    op.drop_index(op.f("ix_concern_person_person_of_concern_id"), table_name="concern_person")
    op.drop_table("concern_person")
    op.drop_index(op.f("ix_person_link_young_person_id"), table_name="person_link")
    op.drop_index(op.f("ix_person_link_person_of_concern_id"), table_name="person_link")
    op.drop_index(op.f("ix_person_link_linked_young_person_id"), table_name="person_link")
    op.drop_index(op.f("ix_person_link_agency_id"), table_name="person_link")
    op.drop_table("person_link")
    op.drop_index(op.f("ix_person_of_concern_agency_id"), table_name="person_of_concern")
    op.drop_table("person_of_concern")
