"""Metadata from the folder: what each asset was given (``creative_asset_metadata``) and the
metadata a plan row sends (``creative_run_items.metadata``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creative_asset_metadata",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("remote_id", sa.String(length=512), nullable=True),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "platform", "account"),
    )
    with op.batch_alter_table("creative_run_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("metadata", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("creative_run_items", schema=None) as batch_op:
        batch_op.drop_column("metadata")
    op.drop_table("creative_asset_metadata")
