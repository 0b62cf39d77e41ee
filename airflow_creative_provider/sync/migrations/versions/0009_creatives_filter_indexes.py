"""Indexes the Creatives page's filtered views (state, run) count and walk instead of grouping the whole ledger.

* ``ix_creative_assets_state_content`` (``creative_assets.state, sha256, platform``): the contents
  in one state (on some platforms), in sha256 order, without reading the records;
* ``ix_creative_assets_last_run_content`` / ``ix_creative_assets_state_run_content``
  (``last_run_id`` / ``state_run_id, sha256``) and ``ix_creative_asset_history_run_content``
  (``creative_asset_history.run_id, sha256``): the contents a run sent or changed, in sha256 order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.create_index("ix_creative_assets_state_content", ["state", "sha256", "platform"], unique=False)
        batch_op.create_index("ix_creative_assets_last_run_content", ["last_run_id", "sha256"], unique=False)
        batch_op.create_index("ix_creative_assets_state_run_content", ["state_run_id", "sha256"], unique=False)
    with op.batch_alter_table("creative_asset_history", schema=None) as batch_op:
        batch_op.create_index("ix_creative_asset_history_run_content", ["run_id", "sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("creative_asset_history", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_asset_history_run_content")
    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_assets_state_run_content")
        batch_op.drop_index("ix_creative_assets_last_run_content")
        batch_op.drop_index("ix_creative_assets_state_content")
