"""model versions (the propensity model registry)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("horizon_days", sa.Integer, nullable=False),
        sa.Column("train_from", sa.DateTime, nullable=False),
        sa.Column("train_to", sa.DateTime, nullable=False),
        sa.Column("test_from", sa.DateTime, nullable=False),
        sa.Column("test_to", sa.DateTime, nullable=False),
        sa.Column("settings", sa.JSON),
        sa.Column("metrics", sa.JSON),
        sa.Column("features", sa.JSON),
        sa.Column("artifact", sa.String(1000), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_model_versions_created_at", "model_versions", ["created_at"])


def downgrade() -> None:
    op.drop_table("model_versions")
