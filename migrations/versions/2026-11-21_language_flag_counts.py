"""Counts of flagged wording kept in saved records, for supervisors (the words are not stored).

Revision ID: 0006_language_flags
Revises: 0005_assessments
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_language_flags"
down_revision: str | None = "0005_assessments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the counts table."""
    op.create_table(
        "language_flag_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_language_flag_count_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_language_flag_count_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_language_flag_count")),
    )
    op.create_index(
        op.f("ix_language_flag_count_agency_id"), "language_flag_count", ["agency_id"], unique=False
    )
    op.create_index(
        op.f("ix_language_flag_count_recorded_at"), "language_flag_count", ["recorded_at"], unique=False
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index(op.f("ix_language_flag_count_recorded_at"), table_name="language_flag_count")
    op.drop_index(op.f("ix_language_flag_count_agency_id"), table_name="language_flag_count")
    op.drop_table("language_flag_count")
