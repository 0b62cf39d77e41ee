"""The ledger's schema when migrations were introduced: assets, claims, files, runs, saved plans.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from airflow_creative_provider.sync.migrations import baseline

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    baseline.create_all(op.get_bind())


def downgrade() -> None:
    baseline.baseline.drop_all(op.get_bind())
