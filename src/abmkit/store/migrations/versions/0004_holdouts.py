"""holdout_assignments (randomized holdouts: one group per scope and account, never changed)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holdout_assignments",
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("group", sa.String(10), nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("salt", sa.String(200), nullable=False),
        sa.Column("assigned_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("scope", "account_id", name="pk_holdout_assignments"),
    )
    for column in ("account_id", "group", "assigned_at"):
        op.create_index(f"ix_holdout_assignments_{column}", "holdout_assignments", [column])


def downgrade() -> None:
    op.drop_table("holdout_assignments")
