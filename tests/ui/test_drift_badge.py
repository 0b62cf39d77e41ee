"""The Creatives page shows what ``creative_check`` found: a drift badge on the cell, and the
check's run linked to the ``creative_check`` DAG. On a copy of the synced ledger."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from airflow_creative_provider.sync.ledger import Ledger, assets_table, drift_table
from airflow_creative_provider.ui.app import create_app

from .conftest import SyncedLedger


def _copy(url: str, tmp_path: Path) -> str:
    """A copy of a SQLite ledger (the backup API: WAL content included)."""
    target = tmp_path / "ledger-copy.db"
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    source.backup(copy)
    source.close()
    copy.close()
    return f"sqlite:///{target}"


def test_drift_badge_and_check_run_link(synced_ledger: SyncedLedger, auth_headers: dict[str, str], tmp_path: Path):
    url = _copy(synced_ledger.url, tmp_path)
    ledger = Ledger(url)
    with ledger.begin() as conn:
        gone, changed = conn.execute(
            select(assets_table).where(assets_table.c.platform == "topsort", assets_table.c.state == "ready").limit(2)
        ).mappings()
        for record, kind in ((gone, "missing"), (changed, "state_changed")):
            conn.execute(
                insert(drift_table).values(
                    run_id="chk-1",
                    checked_at=time.time(),
                    source=record["source"],
                    platform="topsort",
                    account=record["account"],
                    sha256=record["sha256"],
                    remote_id=record["remote_id"],
                    file_key=record["file_key"],
                    kind=kind,
                    recorded_state="ready",
                    detail=f"{kind} detail",
                )
            )
        conn.execute(
            update(assets_table)
            .where(assets_table.c.id == changed["id"])
            .values(state="rejected", state_run_id="creative_check/chk-1")
        )
    client = TestClient(create_app(url), headers=auth_headers, root_path="/creative-sync")

    html = client.get("/").text
    assert html.count('data-drift="missing"') == 1 and html.count('data-drift="state_changed"') == 1
    assert 'title="creative_check: missing detail"' in html
    assert 'href="/dags/creative_check/runs/chk-1"' in html  # the check's run, in its own DAG

    items = client.get("/api/assets", params={"limit": 200}).json()["items"]
    drifted = {
        (c["remote_id"], c["drift"]["kind"]) for item in items for c in item["cells"].values() if c and c.get("drift")
    }
    assert drifted == {(gone["remote_id"], "missing"), (changed["remote_id"], "state_changed")}
