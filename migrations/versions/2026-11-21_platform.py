"""Platform: agencies, user accounts, web sessions and the hash-chained audit trail.

Revision ID: 0001_platform
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_platform"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "'practitioner', 'supervisor', 'analyst', 'neighbourhood', 'agency_admin', 'system_admin'"
AGENCY_KINDS = (
    "police",
    "childrens_social_care",
    "health",
    "education",
    "youth_service",
    "voluntary_sector",
    "community_safety",
    "licensing",
)
AUDIT_ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "view",
    "create",
    "update",
    "delete",
    "export",
    "share",
    "denied",
)

# Keep in step with contexts/audit/chain.py and contexts/audit/service.canonical_values.
AUDIT_CHAIN_SQL = """
CREATE FUNCTION audit_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '~' ELSE length(value)::text || ':' || value END
$$;

-- Writers cannot choose the chain fields: they are filled when the transaction commits.
CREATE FUNCTION audit_event_unsealed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.chain_seq := NULL;
    NEW.prev_hash := NULL;
    NEW.hash := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_event_unsealed BEFORE INSERT ON audit_event
FOR EACH ROW EXECUTE FUNCTION audit_event_unsealed();

-- At commit, number the row and chain it to the last sealed row. Taking the lock only at
-- commit keeps it short and last, so it can never be part of a lock-order deadlock.
-- SECURITY DEFINER: the app role may not UPDATE audit rows; this function (the owner's) may.
CREATE FUNCTION audit_event_seal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    row audit_event%ROWTYPE;
    last_seq bigint;
    last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(7081562034);
    SELECT * INTO row FROM audit_event WHERE id = NEW.id;
    SELECT chain_seq, hash INTO last_seq, last_hash FROM audit_event
     WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
    row.chain_seq := COALESCE(last_seq, 0) + 1;
    row.prev_hash := COALESCE(last_hash, repeat('0', 64));
    row.hash := encode(sha256(convert_to(
        row.prev_hash || '|' || concat_ws('|',
            audit_field(row.chain_seq::text),
            audit_field(((extract(epoch FROM row.occurred_at) * 1000000)::bigint)::text),
            audit_field(row.actor_user_id::text),
            audit_field(row.actor_username),
            audit_field(row.agency_id::text),
            audit_field(row.action),
            audit_field(row.object_type),
            audit_field(row.object_id),
            audit_field(row.reason),
            audit_field(row.request_id),
            audit_field(row.client_address)
        ), 'UTF8')), 'hex');
    UPDATE audit_event SET chain_seq = row.chain_seq, prev_hash = row.prev_hash, hash = row.hash
     WHERE id = NEW.id;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION audit_event_seal() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER audit_event_seal AFTER INSERT ON audit_event
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION audit_event_seal();
"""


def upgrade() -> None:
    """Create the platform tables, the audit chain trigger and PostGIS."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*AGENCY_KINDS, name="agency_kind", native_enum=False, create_constraint=True, length=40),
            nullable=False,
        ),
        sa.Column("is_demo", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("code", name=op.f("uq_agency_code")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("failed_sign_in_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"roles <@ ARRAY[{ROLES}]::varchar[]", name=op.f("ck_user_account_known_roles")),
        sa.CheckConstraint("username = lower(username)", name=op.f("ck_user_account_lowercase_username")),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_user_account_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_index(op.f("ix_user_account_agency_id"), "user_account", ["agency_id"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_web_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"])
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("chain_seq", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column(
            "action",
            sa.Enum(
                *AUDIT_ACTIONS, name="audit_action", native_enum=False, create_constraint=True, length=40
            ),
            nullable=False,
        ),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["user_account.id"], name=op.f("fk_audit_event_actor_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_audit_event_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("chain_seq", name=op.f("uq_audit_event_chain_seq")),
    )
    op.create_index(op.f("ix_audit_event_actor_user_id"), "audit_event", ["actor_user_id"])
    op.create_index(op.f("ix_audit_event_agency_id"), "audit_event", ["agency_id"])
    op.execute(AUDIT_CHAIN_SQL)


def downgrade() -> None:
    """Drop the platform tables and the audit chain functions (PostGIS stays)."""
    op.drop_table("audit_event")
    op.execute("DROP FUNCTION audit_event_seal()")
    op.execute("DROP FUNCTION audit_event_unsealed()")
    op.execute("DROP FUNCTION audit_field(text)")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_index(op.f("ix_user_account_agency_id"), table_name="user_account")
    op.drop_table("user_account")
    op.drop_table("agency")
