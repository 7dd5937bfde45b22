"""Places in full: a configurable place type table, owner or manager to engage, licence references,
an external reference for re-imports, who created and changed a place, a version and archiving.

The seed types are DOMAIN.md's list, as the place_type CHECK constraint held them; the constraint
gives way to a foreign key so administrators can add types.

Revision ID: 0008_places
Revises: 0007_search_indexes
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_places"
down_revision: str | None = "0007_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACE_TYPES = [
    ("hotel", "Hotel, B&B or short let", "H"),
    ("taxi_rank", "Taxi rank", "TR"),
    ("taxi_firm", "Taxi or private-hire firm", "TX"),
    ("takeaway", "Fast-food outlet or takeaway", "F"),
    ("shisha_lounge", "Shisha lounge", "SL"),
    ("shop", "Off-licence or shop", "S"),
    ("park", "Park or open space", "P"),
    ("car_park", "Car park", "CP"),
    ("station", "Bus or rail station", "ST"),
    ("bus_route", "Bus route", "B"),
    ("shopping_centre", "Shopping centre", "SC"),
    ("school", "School, college or alternative provision", "E"),
    ("youth_provision", "Youth provision", "Y"),
    ("private_address", "Private address of concern", "A"),
    ("hmo", "House in multiple occupation", "M"),
    ("other", "Other place", "O"),
]
NEW_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("owner_name", sa.String(length=200)),
    ("owner_contact", sa.String(length=200)),
    ("external_ref", sa.String(length=100)),
    ("created_by_id", sa.Integer()),
    ("updated_by_id", sa.Integer()),
    ("archived_at", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    """Create and seed place_type, point place.place_type at it, and add the new place columns."""
    op.create_table(
        "place_type",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("icon", sa.String(length=3), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_place_type")),
    )
    kinds = sa.table("place_type", sa.column("code"), sa.column("label"), sa.column("icon"))
    op.bulk_insert(kinds, [{"code": c, "label": label, "icon": icon} for c, label, icon in PLACE_TYPES])
    op.drop_constraint(op.f("ck_place_place_type"), "place", type_="check")
    op.create_foreign_key(
        op.f("fk_place_place_type_place_type"), "place", "place_type", ["place_type"], ["code"]
    )
    for name, kind in NEW_COLUMNS:
        op.add_column("place", sa.Column(name, kind, nullable=True))
    op.add_column(
        "place",
        sa.Column(
            "licence_refs",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column("place", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_unique_constraint(op.f("uq_place_external_ref"), "place", ["external_ref"])
    op.create_foreign_key(
        op.f("fk_place_created_by_id_user_account"), "place", "user_account", ["created_by_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_place_updated_by_id_user_account"), "place", "user_account", ["updated_by_id"], ["id"]
    )
    op.create_index(
        "ix_place_name_trgm",
        "place",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    """Drop the new columns and the type table; places of added types become 'other'."""
    op.drop_index(
        "ix_place_name_trgm",
        table_name="place",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_constraint(op.f("fk_place_updated_by_id_user_account"), "place", type_="foreignkey")
    op.drop_constraint(op.f("fk_place_created_by_id_user_account"), "place", type_="foreignkey")
    op.drop_constraint(op.f("uq_place_external_ref"), "place", type_="unique")
    op.drop_column("place", "version")
    op.drop_column("place", "licence_refs")
    for name, _ in reversed(NEW_COLUMNS):
        op.drop_column("place", name)
    op.drop_constraint(op.f("fk_place_place_type_place_type"), "place", type_="foreignkey")
    seeded = ", ".join(f"'{code}'" for code, _, _ in PLACE_TYPES)
    op.execute(f"UPDATE place SET place_type = 'other' WHERE place_type NOT IN ({seeded})")
    op.create_check_constraint(op.f("ck_place_place_type"), "place", f"place_type IN ({seeded})")
    op.drop_table("place_type")
