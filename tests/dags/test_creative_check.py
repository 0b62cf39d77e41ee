"""End to end: ``creative_sync`` then ``creative_check`` (``dag.test()``) against the sandbox, with
drift injected behind the client through ``/_sandbox/drift``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_creative_provider import PLATFORMS
from tests.support.dags import assert_no_secrets, sample_source, sample_source_in_s3
from tests.support.dags import creates as _creates
from tests.support.dags import last_seq as _last_seq
from tests.support.dags import run_dag as _run

#: the state someone sets in each platform's own UI, in the platform's words.
REJECT_THERE = {
    "topsort": "rejected",
    "amazon_ads": "ARCHIVED",
    "mediamath": "REJECTED",
    "mediapocket": "trashed",
    "delta_projects": "UNPROCESSABLE",
}
#: the POSTs a check sends that change nothing on a platform: Amazon's search and LwA token,
#: MediaMath's OAuth token.
READ_POSTS = re.compile(r"^/(assets/search|auth/o2/token|oauth/token)$")


@pytest.fixture
def fresh_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The sample creatives in a folder, a fresh ledger, a reset sandbox."""
    return creative_sandbox_env, sample_source(creative_sandbox_env, tmp_path, monkeypatch)


@pytest.fixture
def check_env(fresh_env):
    """The sample creatives synced once to every platform."""
    sandbox, source = fresh_env
    run, _ = _run("creative_sync", {"source": str(source)})
    assert run.state == "success"
    return sandbox, source


def _writes(sandbox, since: int) -> list[dict[str, Any]]:
    """Every call after ``since`` that could change something on a platform."""
    return [
        e
        for e in sandbox.journal()
        if e["seq"] > since
        and (e["method"] in ("PUT", "PATCH", "DELETE") or (e["method"] == "POST" and not READ_POSTS.match(e["path"])))
    ]


def _ready_records(platform: str) -> list[Any]:
    from airflow_creative_provider.hooks import hook_class
    from airflow_creative_provider.sync.ledger import Ledger

    account = str(hook_class(platform)(f"{platform}_default").account)
    records = [r for r in Ledger().records(platform, account) if r.state == "ready" and r.remote_id]
    return sorted(records, key=lambda r: r.file_key or "")


def _drift(sandbox, platform: str, remote_id: str, action: str, state: str | None = None) -> None:
    response = requests.post(
        f"{sandbox.url}/_sandbox/drift",
        json={"platform": platform, "remote_id": remote_id, "action": action, "state": state},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_clean_check_is_read_only_and_finds_nothing(check_env, capsys, caplog) -> None:
    sandbox, source = check_env
    before = _last_seq(sandbox)
    run, report = _run("creative_check", {"source": str(source)})
    assert run.state == "success"
    assert report["drift"] == {
        "missing": 0,
        "state_changed": 0,
        "content_differs": 0,
        "unknown": 0,
        "metadata_changed": 0,
    }, report
    for platform in PLATFORMS:
        counts = report["counts"][platform]
        assert counts["checked"] == counts["ok"] > 0, (platform, counts)
    reads = [e for e in sandbox.journal() if e["seq"] > before]
    assert {e["platform"] for e in reads} >= set(PLATFORMS)  # every platform was listed
    assert _writes(sandbox, before) == []
    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, captured.out, captured.err, json.dumps(report)])
    assert "creative_check" in everything  # the table was printed
    assert_no_secrets(sandbox, everything)


def test_drift_reported_then_repaired_through_creative_sync(check_env) -> None:
    sandbox, source = check_env
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.ui.queries import AssetFilter, asset_history, list_assets

    deleted: dict[str, Any] = {}
    rejected: dict[str, Any] = {}
    for platform in PLATFORMS:
        first, second = _ready_records(platform)[:2]
        deleted[platform], rejected[platform] = first, second
        _drift(sandbox, platform, first.remote_id, "delete")
        _drift(sandbox, platform, second.remote_id, "state", REJECT_THERE[platform])

    # Read-only by default: reported, the ledger updated, nothing written to a platform.
    before = _last_seq(sandbox)
    run, report = _run("creative_check", {"source": str(source)})
    assert run.state == "success"
    assert _writes(sandbox, before) == []
    assert report["repaired"] == 0 and "repair=true" in report["next_step"]
    found = {(d["platform"], d["kind"], d["remote_id"]) for d in report["differences"]}
    for platform in PLATFORMS:
        assert report["counts"][platform]["missing"] == 1, (platform, report["counts"][platform])
        assert report["counts"][platform]["state_changed"] == 1, (platform, report["counts"][platform])
        assert (platform, "missing", deleted[platform].remote_id) in found
        assert (platform, "state_changed", rejected[platform].remote_id) in found
    ledger = Ledger()
    for platform in PLATFORMS:
        record = ledger.get(rejected[platform].sha256, platform, rejected[platform].account)
        assert record.state == "rejected", (platform, record)  # the platform's word, stored
        assert record.state_run_id == f"creative_check/{run.run_id}"  # the page links the check run
        assert record.last_run_id == rejected[platform].last_run_id  # still the sync run that sent it
        record = ledger.get(deleted[platform].sha256, platform, deleted[platform].account)
        assert record.state == "ready"  # not repaired: left as it was, the drift is recorded beside it
    history = [h for h in asset_history(ledger, deleted["topsort"].sha256) if h["event"] == "check"]
    assert history and "no longer lists" in history[-1]["reason"]

    # The Creatives page shows the drift on the cell.
    page = list_assets(ledger, AssetFilter(limit=200))
    badges = {
        (cell["platform"], cell["remote_id"]): cell["drift"]["kind"]
        for row in page.rows
        for cell in row["cells"].values()
        if cell and cell.get("drift")
    }
    for platform in PLATFORMS:
        assert badges[(platform, deleted[platform].remote_id)] == "missing"
        assert badges[(platform, rejected[platform].remote_id)] == "state_changed"

    # repair=true marks the missing assets (still no write), and the next creative_sync re-sends them.
    before = _last_seq(sandbox)
    run, report = _run("creative_check", {"source": str(source), "repair": True})
    assert run.state == "success"
    assert _writes(sandbox, before) == []
    assert report["repaired"] == len(PLATFORMS)
    before = _last_seq(sandbox)
    run, _ = _run("creative_sync", {"source": str(source)})
    for platform in PLATFORMS:
        assert len(_creates(sandbox, platform, before)) == 1, platform
        record = ledger.get(deleted[platform].sha256, platform, deleted[platform].account)
        assert record.remote_id != deleted[platform].remote_id and record.state == "ready", (platform, record)

    # Checked again: nothing is missing any more.
    run, report = _run("creative_check", {"source": str(source)})
    assert report["drift"]["missing"] == 0, report["differences"]
    assert report["drift"]["state_changed"] == 0  # the rejections were stored by the first check


def test_content_differs_and_unknown_marked_asset(check_env) -> None:
    sandbox, source = check_env
    from airflow_creative_provider.sync.ledger import Ledger, assets_table

    delta = _ready_records("delta_projects")[0]
    _drift(sandbox, "delta_projects", delta.remote_id, "content")
    # An asset of ours the ledger forgot (e.g. a ledger restored from an old backup).
    topsort = _ready_records("topsort")[0]
    ledger = Ledger()
    with ledger.begin() as conn:
        conn.execute(
            assets_table.delete().where(assets_table.c.sha256 == topsort.sha256, assets_table.c.platform == "topsort")
        )

    run, report = _run("creative_check", {"source": str(source), "platforms": ["delta_projects", "topsort"]})
    assert run.state == "success"
    kinds = {(d["platform"], d["kind"]): d for d in report["differences"]}
    assert kinds[("delta_projects", "content_differs")]["remote_id"] == delta.remote_id
    assert "SHA-1" in kinds[("delta_projects", "content_differs")]["detail"]
    unknown = kinds[("topsort", "unknown")]
    assert unknown["remote_id"] == topsort.remote_id and unknown["sha256"] == topsort.sha256
    assert report["counts"]["delta_projects"]["unknown"] == 0  # every Delta file is known


def test_s3_source_content_drift_and_an_unusable_connection(fresh_env) -> None:
    sandbox, source = fresh_env
    s3_source = sample_source_in_s3(sandbox, source)
    run, _ = _run("creative_sync", {"source": s3_source, "platforms": ["delta_projects"]})
    assert run.state == "success"
    delta = _ready_records("delta_projects")[0]
    _drift(sandbox, "delta_projects", delta.remote_id, "content")

    conf = {
        "source": s3_source,
        "platforms": ["delta_projects", "topsort"],
        "connections": {"topsort": "no_such_topsort_conn"},
    }
    run, report = _run("creative_check", conf)
    assert run.state == "failed"  # one platform could not be checked: the run says so
    assert "no_such_topsort_conn" in report["errors"]["topsort"]
    assert [(d["kind"], d["remote_id"]) for d in report["differences"]] == [("content_differs", delta.remote_id)]
