"""One rate budget per platform account, shared by every caller: ``creative_rate_budgets``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creative_rate_budgets",
        sa.Column("budget", sa.String(512), primary_key=True),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("paused_until", sa.Float, nullable=False),
        sa.Column("pauses", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("creative_rate_budgets")
