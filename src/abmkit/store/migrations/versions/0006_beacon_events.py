"""beacon_events (the website events queued for the real-time worker)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "beacon_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("processed_at", sa.DateTime, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("account_id", sa.String(100), nullable=True),
    )
    for column in ("received_at", "processed_at"):
        op.create_index(f"ix_beacon_events_{column}", "beacon_events", [column])


def downgrade() -> None:
    op.drop_table("beacon_events")
