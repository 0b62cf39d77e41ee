"""Every fault kind the sandbox injects x every platform, through ``creative_sync``: nothing lost, nothing twice.

One DAG run per fault kind (``sandbox.state.FAULT_KINDS``), all five platforms at once, each
run bringing one new creative; every fault is scoped to a count (the first create call and
the first read of each platform, or the first presigned transfer for ``expire_url``). Then
clean reruns until the run is green, and a last rerun that sends nothing. Asserted from the
sandbox's journal and the ledger: one remote asset per content and platform (0 duplicates),
every creative ready on every platform (0 lost).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sandbox.state import FAULT_KINDS
from airflow_creative_provider.sync.ledger import Ledger
from tests.support.dags import CREATE_CALLS, creates, last_seq, run_dag, sends, sync_settings
from tests.support.images import png

#: a colour per fault kind: each run brings one new content.
COLOURS = ("red", "green", "blue", "orange", "purple", "teal", "olive", "navy")


@pytest.fixture
def matrix_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow_creative_provider.sandbox.state import ProcessingSpeed

    sync_settings(tmp_path, monkeypatch, poll_seconds=0.2)
    # A stuck MediaPocket fetch (expire_url) must not hold the run: its waits end by then.
    monkeypatch.setenv("CREATIVE_SYNC_WAIT_SECONDS", "15")
    creative_sandbox_env.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def _inject(faults: Any, kind: str, platform: str) -> None:
    """``kind`` on ``platform``, counted: the first create call and the first read, or the first transfer."""
    if kind == "expire_url":  # presigned transfers: uploads to the platform's bucket, MediaPocket's fetch
        faults.add("expire_url", platform=platform, path="^/s3/", count=1)
        if platform == "mediapocket":
            faults.add("expire_url", platform="staging", method="GET", path="^/s3/", count=1)
        return
    if kind == "expire_token":
        faults.add("expire_token", platform=platform, count=1)
        return
    options: dict[str, Any] = {"delay": 0.5} if kind.startswith("delay") else {}
    method, path = CREATE_CALLS[platform]
    faults.add(kind, platform=platform, method=method, path=path, count=1, **options)
    faults.add(kind, platform=platform, method="GET", count=1, **options)


def _age_stuck_mediapocket_assets(sandbox: Any, seconds: float) -> int:
    """Time passes for the assets MediaPocket never finished (its fetch failed): they go stale."""
    assets = sandbox.state.store("mediapocket").get("assets", {})
    stuck = [a for a in assets.values() if a.get("media_type") in ("processing", "placeholder")]
    for asset in stuck:
        asset["modification_date"] = mp_sandbox.iso(time.time() - seconds)
    return len(stuck)


def _topsort_contents(sandbox: Any) -> dict[str, set[str]]:
    """sha256 -> the Topsort assets holding that content (the sandbox's store and bucket)."""
    out: dict[str, set[str]] = {}
    for asset_id, asset in sandbox.state.store("topsort").get("assets", {}).items():
        data = sandbox.state.s3.get("topsort", asset["key"]) if asset.get("key") else None
        if data:
            out.setdefault(hashlib.sha256(data).hexdigest(), set()).add(asset_id)
    return out


def _copies(sandbox: Any, platform: str, contents: int) -> int:
    """Assets beyond one per content. Topsort: assets holding a content another one holds too (an
    uncertain create leaves a contentless asset, listed for cleanup, not a copy); elsewhere:
    create calls the platform processed beyond one per content."""
    if platform == "topsort":
        return sum(len(ids) - 1 for ids in _topsort_contents(sandbox).values())
    return max(0, len(creates(sandbox, platform)) - contents)


def test_every_fault_kind_on_every_platform_then_a_clean_rerun_loses_nothing_and_duplicates_nothing(
    matrix_env: Any, tmp_path: Path
) -> None:
    sandbox = matrix_env
    source = tmp_path / "creatives"
    platforms = list(PLATFORMS)
    conf = {"source": str(source), "platforms": platforms}
    runs = []
    for kind, colour in zip(FAULT_KINDS, COLOURS, strict=False):
        png(source / f"{kind}.png", width=300, height=250, color=colour)
        sandbox.state.faults.clear()
        for platform in platforms:
            _inject(sandbox.state.faults, kind, platform)
        run, _ = run_dag("creative_sync", conf)
        runs.append((kind, run.state))
        for platform in platforms:  # never a second asset, whatever the fault
            assert _copies(sandbox, platform, len(list(source.iterdir()))) == 0, (kind, platform)
    sandbox.state.faults.clear()

    _age_stuck_mediapocket_assets(sandbox, 2 * 3600)
    for _ in range(3):  # clean reruns: failed sends are resumed, a failed MediaPocket fetch is sent again
        run, report = run_dag("creative_sync", conf)
        if run.state == "success":
            break
    assert run.state == "success", (runs, report and report.get("failures"))
    before = last_seq(sandbox)
    run, _ = run_dag("creative_sync", conf)
    assert run.state == "success" and sends(sandbox, before) == []  # the last rerun has nothing to send

    ledger = Ledger()
    files = sorted(source.iterdir())
    contents = {f.name: str(Creative.inspect(f).sha256) for f in files}
    assert len(set(contents.values())) == len(FAULT_KINDS)
    for platform in platforms:
        account = str(hook_class(platform)(f"{platform}_default").account)
        remote_ids = set()
        for name, sha in contents.items():  # 0 lost: every creative ready on every platform
            record = ledger.get(sha, platform, account)
            assert record is not None and record.state == "ready" and record.remote_id, (name, platform, record)
            remote_ids.add(record.remote_id)
        assert len(remote_ids) == len(contents), platform
        statuses = hook_class(platform)(f"{platform}_default").get_status(sorted(remote_ids))
        assert {s.state for s in statuses.values()} == {"ready"}, (platform, statuses)
        # 0 duplicates: one asset per content on the platform
        assert _copies(sandbox, platform, len(contents)) == 0, (platform, runs)
        if platform == "topsort":
            assert set(_topsort_contents(sandbox)) == set(contents.values())
        else:
            assert len(creates(sandbox, platform)) == len(contents), (platform, runs)
