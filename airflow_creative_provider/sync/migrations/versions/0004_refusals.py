"""Refusals by local rules per file name and platform account: ``creative_refusals``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creative_refusals",
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("file_key", sa.String(length=1024), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source", "file_key", "platform", "account"),
    )
    with op.batch_alter_table("creative_refusals", schema=None) as batch_op:
        batch_op.create_index("ix_creative_refusals_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("creative_refusals", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_refusals_sha256")

    op.drop_table("creative_refusals")
