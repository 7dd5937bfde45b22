"""Indexes so every branch of the young people search can use one (trigram, local id, police ref).

Revision ID: 0007_search_indexes
Revises: 0006_language_flags
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_search_indexes"
down_revision: str | None = "0006_language_flags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the search indexes."""
    op.create_index("ix_young_person_local_id", "young_person", ["local_id"], unique=False)
    op.create_index("ix_young_person_police_reference", "young_person", ["police_reference"], unique=False)
    op.create_index(
        "ix_young_person_preferred_name_trgm",
        "young_person",
        ["preferred_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"preferred_name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index(
        "ix_young_person_preferred_name_trgm",
        table_name="young_person",
        postgresql_using="gin",
        postgresql_ops={"preferred_name": "gin_trgm_ops"},
    )
    op.drop_index("ix_young_person_police_reference", table_name="young_person")
    op.drop_index("ix_young_person_local_id", table_name="young_person")
