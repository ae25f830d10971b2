"""actions (the agent's decisions and the transactional outbox) and agent state

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("play", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("contact_id", sa.String(100)),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("tier", sa.Integer),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
        sa.Column("payload", sa.JSON),
        sa.Column("decision", sa.JSON),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("not_before", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("receipt", sa.JSON),
        sa.Column("reviewed_by", sa.String(200)),
        sa.Column("reviewed_at", sa.DateTime),
        sa.Column("review_note", sa.String(2000)),
    )
    for column in ("created_at", "run_id", "play", "account_id", "contact_id", "channel",
                   "status", "not_before", "sent_at"):  # fmt: skip
        op.create_index(f"ix_actions_{column}", "actions", [column])
    op.create_table(
        "agent_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_state")
    op.drop_table("actions")
