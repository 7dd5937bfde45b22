"""Concern import from partners' systems: a record of each import run (who, when, which file, how many
rows added, updated, unchanged and rejected), and on each concern the partner system's id, unique within
the recording agency, so that importing a file again updates its concerns instead of duplicating them.

Revision ID: 0009_concern_import
Revises: 0008_places
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_concern_import"
down_revision: str | None = "0008_places"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create concern_import and add external_id, with its unique index, to concern."""
    op.create_table(
        "concern_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("imported_by_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("skip_invalid", sa.Boolean(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_concern_import_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["imported_by_id"],
            ["user_account.id"],
            name=op.f("fk_concern_import_imported_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_import")),
    )
    op.create_index(op.f("ix_concern_import_agency_id"), "concern_import", ["agency_id"], unique=False)
    op.add_column("concern", sa.Column("external_id", sa.String(length=100), nullable=True))
    op.create_index(
        "uq_concern_agency_external_id",
        "concern",
        ["agency_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )


def downgrade() -> None:
    """Drop the unique index and external_id, then concern_import."""
    op.drop_index(
        "uq_concern_agency_external_id",
        table_name="concern",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_column("concern", "external_id")
    op.drop_index(op.f("ix_concern_import_agency_id"), table_name="concern_import")
    op.drop_table("concern_import")
