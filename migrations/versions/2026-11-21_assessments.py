"""Risk assessments: indicators with evidence, protective factors, context weighting, plan, sign-off.

Revision ID: 0005_assessments
Revises: 0004_persons_missing
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_assessments"
down_revision: str | None = "0004_persons_missing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the assessment tables; weights add to 100 by a CHECK constraint."""
    op.create_table(
        "risk_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("young_person_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "signed_off",
                name="assessment_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            server_default=sa.text("'draft'"),
            nullable=False,
        ),
        sa.Column("weight_individual", sa.Integer(), nullable=False),
        sa.Column("weight_home", sa.Integer(), nullable=False),
        sa.Column("weight_peer_group", sa.Integer(), nullable=False),
        sa.Column("weight_school", sa.Integer(), nullable=False),
        sa.Column("weight_neighbourhood", sa.Integer(), nullable=False),
        sa.Column("judgement", sa.Text(), nullable=False),
        sa.Column("local_category", sa.String(length=60), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_off_by_id", sa.Integer(), nullable=True),
        sa.Column("signed_off_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sign_off_note", sa.Text(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "weight_individual + weight_home + weight_peer_group + weight_school + weight_neighbourhood"
            " = 100",
            name=op.f("ck_risk_assessment_weights_add_to_100"),
        ),
        sa.CheckConstraint(
            "weight_individual BETWEEN 0 AND 100 AND weight_home BETWEEN 0 AND 100"
            " AND weight_peer_group BETWEEN 0 AND 100 AND weight_school BETWEEN 0 AND 100"
            " AND weight_neighbourhood BETWEEN 0 AND 100",
            name=op.f("ck_risk_assessment_weights_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_risk_assessment_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_risk_assessment_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["risk_assessment.id"],
            name=op.f("fk_risk_assessment_previous_id_risk_assessment"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_off_by_id"],
            ["user_account.id"],
            name=op.f("fk_risk_assessment_signed_off_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["young_person_id"],
            ["young_person.id"],
            name=op.f("fk_risk_assessment_young_person_id_young_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_assessment")),
    )
    op.create_index(op.f("ix_risk_assessment_agency_id"), "risk_assessment", ["agency_id"], unique=False)
    op.create_index(op.f("ix_risk_assessment_review_date"), "risk_assessment", ["review_date"], unique=False)
    op.create_index(
        "ix_risk_assessment_young_person_created",
        "risk_assessment",
        ["young_person_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "assessment_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
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
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["risk_assessment.id"],
            name=op.f("fk_assessment_action_assessment_id_risk_assessment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_action")),
    )
    op.create_index(
        op.f("ix_assessment_action_assessment_id"), "assessment_action", ["assessment_id"], unique=False
    )
    op.create_table(
        "assessment_indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
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
            "sign",
            sa.Enum(
                "risk", "harm", name="indicator_sign", native_enum=False, create_constraint=True, length=40
            ),
            nullable=False,
        ),
        sa.Column("indicator", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("concern_ids", sa.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["risk_assessment.id"],
            name=op.f("fk_assessment_indicator_assessment_id_risk_assessment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_indicator")),
    )
    op.create_index(
        op.f("ix_assessment_indicator_assessment_id"), "assessment_indicator", ["assessment_id"], unique=False
    )
    op.create_table(
        "assessment_protective_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
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
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("concern_ids", sa.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["risk_assessment.id"],
            name=op.f("fk_assessment_protective_factor_assessment_id_risk_assessment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_protective_factor")),
    )
    op.create_index(
        op.f("ix_assessment_protective_factor_assessment_id"),
        "assessment_protective_factor",
        ["assessment_id"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the assessment tables."""
    op.drop_index(
        op.f("ix_assessment_protective_factor_assessment_id"), table_name="assessment_protective_factor"
    )
    op.drop_table("assessment_protective_factor")
    op.drop_index(op.f("ix_assessment_indicator_assessment_id"), table_name="assessment_indicator")
    op.drop_table("assessment_indicator")
    op.drop_index(op.f("ix_assessment_action_assessment_id"), table_name="assessment_action")
    op.drop_table("assessment_action")
    op.drop_index("ix_risk_assessment_young_person_created", table_name="risk_assessment")
    op.drop_index(op.f("ix_risk_assessment_review_date"), table_name="risk_assessment")
    op.drop_index(op.f("ix_risk_assessment_agency_id"), table_name="risk_assessment")
    op.drop_table("risk_assessment")
