"""The plan in the ledger (``creative_run_items``), each asset's history
(``creative_asset_history``), the check's drift (``creative_drift``); file sizes as 64-bit
integers (PostgreSQL's INTEGER stops at 2 GiB, and videos are bigger).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creative_asset_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("raw_state", sa.String(length=255), nullable=True),
        sa.Column("remote_id", sa.String(length=512), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("creative_asset_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_creative_asset_history_content", ["sha256", "platform", "account", "at"], unique=False
        )
        batch_op.create_index("ix_creative_asset_history_run", ["run_id"], unique=False)

    op.create_table(
        "creative_drift",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("checked_at", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("remote_id", sa.String(length=512), nullable=True),
        sa.Column("file_key", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recorded_state", sa.String(length=32), nullable=True),
        sa.Column("platform_state", sa.String(length=32), nullable=True),
        sa.Column("raw_state", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("creative_drift", schema=None) as batch_op:
        batch_op.create_index("ix_creative_drift_content", ["sha256"], unique=False)
        batch_op.create_index("ix_creative_drift_target", ["platform", "account"], unique=False)

    op.create_table(
        "creative_run_items",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("file_key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=True),
        sa.Column("resume", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.String(length=512), nullable=True),
        sa.Column("alias_of", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("creative", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("remote_id", sa.String(length=512), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("this_run", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )
    with op.batch_alter_table("creative_run_items", schema=None) as batch_op:
        batch_op.create_index("ix_creative_run_items_batch", ["run_id", "platform", "batch"], unique=False)

    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.alter_column("size", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=True)

    with op.batch_alter_table("creative_files", schema=None) as batch_op:
        batch_op.alter_column("size", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("creative_files", schema=None) as batch_op:
        batch_op.alter_column("size", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)

    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.alter_column("size", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=True)

    with op.batch_alter_table("creative_run_items", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_run_items_batch")

    op.drop_table("creative_run_items")
    with op.batch_alter_table("creative_drift", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_drift_target")
        batch_op.drop_index("ix_creative_drift_content")

    op.drop_table("creative_drift")
    with op.batch_alter_table("creative_asset_history", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_asset_history_run")
        batch_op.drop_index("ix_creative_asset_history_content")

    op.drop_table("creative_asset_history")
