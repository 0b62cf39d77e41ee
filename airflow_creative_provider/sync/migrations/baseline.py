"""The ledger's schema as it was when migrations were introduced (revision ``0001``).

Frozen on purpose: later schema changes go into new revisions, never here.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection

baseline = MetaData()

Table(
    "creative_assets",
    baseline,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("remote_id", String(512)),
    Column("version", String(255)),
    Column("state", String(32), nullable=False),
    Column("raw_state", String(255)),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("source", Text),
    Column("file_key", Text),
    Column("file_name", String(1024)),
    Column("size", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("intent_at", Float),
    Column("last_run_id", String(255)),
    Column("state_run_id", String(255)),
    UniqueConstraint("sha256", "platform", "account", name="uq_creative_assets_content"),
    Index("ix_creative_assets_target", "platform", "account", "updated_at"),
)

Table(
    "creative_claims",
    baseline,
    Column("sha256", String(64), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("run_id", String(255), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

Table(
    "creative_files",
    baseline,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(1024), nullable=False),
    Column("file_key", String(1024), nullable=False),
    Column("size", Integer, nullable=False),
    Column("mtime", Float),
    Column("sha256", String(64)),
    Column("facts", JSON),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("source", "file_key", name="uq_creative_files_key"),
    Index("ix_creative_files_source_updated", "source", "updated_at"),
)

Table(
    "creative_runs",
    baseline,
    Column("run_id", String(255), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("source", Text),
    Column("dry_run", Integer, nullable=False, default=0),
    Column("params", JSON),
    Column("summary", JSON),
    Column("counts", JSON),
    Column("bytes_sent", Integer, nullable=False, default=0),
    Column("plan_rows", JSON),
    Column("outcome", String(32)),
)

Table(
    "creative_run_counts",
    baseline,
    Column("run_id", String(255), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False, default=0),
)

Table(
    "creative_saved_plans",
    baseline,
    Column("fingerprint", String(64), primary_key=True),
    Column("source", String(1024), nullable=False),
    Column("inputs", String(64), nullable=False),
    Column("plan", JSON, nullable=False),
    Column("rows", JSON, nullable=False),
    Column("stored_at", Float, nullable=False),
    Index("ix_creative_saved_plans_inputs", "source", "inputs", "stored_at"),
)


def create_all(conn: Connection) -> None:
    baseline.create_all(conn, checkfirst=False)


def create_missing(conn: Connection) -> None:
    """Create the tables and indexes of the baseline that a ledger made before migrations lacks."""
    baseline.create_all(conn, checkfirst=True)
    for table in baseline.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
