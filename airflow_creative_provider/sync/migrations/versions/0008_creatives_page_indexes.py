"""Indexes the Creatives page's first page reads instead of sorting the whole ledger.

* ``ix_creative_files_content`` (``creative_files.sha256``): the files of a page's contents,
  and whether a content is still in a source;
* ``ix_creative_files_name`` (``creative_files.file_key, sha256``): the files in name order
  (the first page by name reads its first rows only);
* ``ix_creative_assets_content_key`` (``creative_assets.sha256, file_key``): the contents only
  recorded as sent, found by one pass over this index (no read of the records themselves).

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("creative_files", schema=None) as batch_op:
        batch_op.create_index("ix_creative_files_content", ["sha256"], unique=False)
        batch_op.create_index("ix_creative_files_name", ["file_key", "sha256"], unique=False)
    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.create_index("ix_creative_assets_content_key", ["sha256", "file_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("creative_assets", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_assets_content_key")
    with op.batch_alter_table("creative_files", schema=None) as batch_op:
        batch_op.drop_index("ix_creative_files_name")
        batch_op.drop_index("ix_creative_files_content")
