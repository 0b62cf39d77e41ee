"""Ledger schema migrations (Alembic) on SQLite and PostgreSQL: fresh, pre-migration, newer, racing."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

from airflow_creative_provider.sync import ledger as ledger_module
from airflow_creative_provider.sync.ledger import PROCESSING, Ledger, metadata
from airflow_creative_provider.sync.migrations import (
    VERSION_TABLE,
    LedgerSchemaError,
    baseline,
    current_revision,
    head_revision,
)
from airflow_creative_provider.sync.source import IndexEntry

SHA = "c" * 64


def test_fresh_ledger_is_at_head_with_its_own_version_table(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        tables = set(inspect(conn).get_table_names())
    assert VERSION_TABLE in tables and "alembic_version" not in tables  # may share Airflow's database
    assert set(metadata.tables) <= tables


def test_metadata_matches_the_head_revision(ledger_url: str) -> None:
    """A change to ``ledger.metadata`` without a new revision in sync/migrations/versions fails here."""
    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "ledger.metadata differs from the head migration: add a revision"


def _ledger_of_todays_code(url: str) -> None:
    """A ledger as the code before migrations left it (``metadata.create_all``), with a row in every
    table; one index is missing, as on a ledger made before that index was added."""
    engine = create_engine(url)
    now = time.time()
    with engine.begin() as conn:
        baseline.baseline.create_all(conn)
        conn.execute(text("DROP INDEX ix_creative_saved_plans_inputs"))
        tables = baseline.baseline.tables
        conn.execute(
            insert(tables["creative_assets"]).values(
                sha256=SHA, platform="topsort", account="v", remote_id="r-1", state=PROCESSING, attempts=1,
                file_key="a.png", file_name="a.png", size=5, created_at=now, updated_at=now, last_run_id="old-run",
            )
        )  # fmt: skip
        conn.execute(
            insert(tables["creative_claims"]).values(
                sha256=SHA, platform="topsort", account="v", run_id="old-run", claimed_at=now, heartbeat_at=now
            )
        )
        conn.execute(
            insert(tables["creative_files"]).values(
                source="/src", file_key="a.png", size=5, mtime=1.0, sha256=SHA, facts={"w": 1}, updated_at=now
            )
        )
        conn.execute(
            insert(tables["creative_runs"]).values(
                run_id="old-run", started_at=now, source="/src", dry_run=0, params={"p": 1}, bytes_sent=5
            )
        )
        conn.execute(
            insert(tables["creative_run_counts"]).values(run_id="old-run", platform="topsort", name="ready", value=1)
        )
        conn.execute(
            insert(tables["creative_saved_plans"]).values(
                fingerprint="f" * 64, source="/src", inputs="i" * 64, plan={"n": 0}, rows=[], stored_at=now
            )
        )
    engine.dispose()


def test_upgrade_of_a_ledger_made_before_migrations_keeps_every_row(ledger_url: str) -> None:
    _ledger_of_todays_code(ledger_url)
    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        indexes = {i["name"] for i in inspect(conn).get_indexes("creative_saved_plans")}
    assert "ix_creative_saved_plans_inputs" in indexes  # completed before stamping
    record = ledger.get(SHA, "topsort", "v")
    assert record is not None and (record.remote_id, record.state, record.attempts) == ("r-1", PROCESSING, 1)
    assert ledger.claim_holder(SHA, "topsort", "v") == "old-run"
    assert ledger.file_index("/src") == {"a.png": IndexEntry(5, 1.0, SHA, {"w": 1})}
    run = ledger.run("old-run")
    assert run is not None and run["params"] == {"p": 1} and run["bytes_sent"] == 5
    assert ledger.run_counts("old-run") == {"topsort": {"ready": 1}}
    assert ledger.saved_plan("f" * 64) == {"n": 0}
    for table in baseline.baseline.sorted_tables:  # one row each, none lost or doubled
        with ledger.begin() as conn:
            assert len(conn.execute(select(table)).all()) == 1, table.name


def test_a_ledger_newer_than_the_code_is_refused_untouched(ledger_url: str) -> None:
    Ledger(ledger_url).record_intent(
        SHA, "topsort", "v", run_id="r", source="/src", file_key="a.png", file_name="a.png", size=5
    )
    engine = ledger_module._ENGINES.pop(ledger_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_from_the_future'"))
    engine.dispose()
    url = make_url(ledger_url)
    if url.get_backend_name() == "postgresql":  # trust auth accepts any password: prove it is hidden
        url = url.set(password="s3cr3t-ledger-pw")
    with pytest.raises(LedgerSchemaError) as raised:
        Ledger(url.render_as_string(hide_password=False))
    message = str(raised.value)
    assert "'0099_from_the_future'" in message and head_revision() in message
    assert "newer provider" in message and "every scheduler, worker and triggerer" in message
    assert url.database in message and "s3cr3t" not in message
    assert url.render_as_string(hide_password=False) not in ledger_module._ENGINES
    engine = create_engine(ledger_url)
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == "0099_from_the_future"
        assert conn.execute(text("SELECT count(*) FROM creative_assets")).scalar() == 1
    engine.dispose()


def _first_use(url: str, start: Any) -> None:
    for engine in ledger_module._ENGINES.values():  # a worker process of its own
        engine.dispose(close=False)
    ledger_module._ENGINES.clear()
    start.wait()
    Ledger(url)


def test_workers_migrating_at_once_all_succeed(ledger_url: str) -> None:
    """Four worker processes' first use of one fresh ledger at the same moment."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(4)
    processes = [context.Process(target=_first_use, args=(ledger_url, start)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
