"""TopsortAssetStatusTrigger: serialize() round trip and run() driven directly against the sandbox."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.sandbox import topsort as sandbox_ts
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.triggers.topsort import TopsortAssetStatusTrigger

PLATFORM = "topsort"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "a.png", color: str = "red") -> str:
    path = tmp_path / name
    Image.new("RGB", (16, 16), color).save(path, "PNG")
    return TopsortHook().submit(Creative.inspect(path)).remote_id


async def first_event(trigger: TopsortAssetStatusTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def test_serialize_round_trip():
    trigger = TopsortAssetStatusTrigger(
        conn_id="topsort_default", remote_ids=["a", "b"], poll_interval=1.5, timeout=60, started_at=10.0
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_creative_provider.triggers.topsort.TopsortAssetStatusTrigger"
    assert kwargs == {
        "conn_id": "topsort_default",
        "remote_ids": ["a", "b"],
        "poll_interval": 1.5,
        "timeout": 60,
        "started_at": 10.0,
    }
    json.dumps(kwargs)
    assert TopsortAssetStatusTrigger(**kwargs).serialize() == (path, kwargs)


async def test_run_until_every_asset_is_approved(sandbox, tmp_path, caplog):
    ids = [submit(tmp_path, "a.png"), submit(tmp_path, "b.png", "blue")]
    trigger = TopsortAssetStatusTrigger(conn_id=None, remote_ids=ids, poll_interval=0.05, timeout=30)
    with caplog.at_level(logging.DEBUG):
        event = await first_event(trigger)
    assert event["status"] == "done"
    assert {i: a["raw_state"] for i, a in event["assets"].items()} == {i: "approved" for i in ids}
    assert all(a["details"]["url"] for a in event["assets"].values())
    assert sandbox_ts.API_KEY not in caplog.text + json.dumps(event)


async def test_run_reports_failures_with_reasons(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad*", "rejected"))
    good = submit(tmp_path, "good.png")
    bad = submit(tmp_path, "bad.png", "blue")
    event = await first_event(TopsortAssetStatusTrigger(None, [good, bad], poll_interval=0.05, timeout=30))
    assert event["assets"][bad]["state"] == "rejected" and "rejected" in event["assets"][bad]["reason"]
    assert event["assets"][good]["state"] == "ready"


async def test_run_times_out_listing_what_is_pending(sandbox):
    created = TopsortHook().create_asset("never uploaded", "image/png")
    event = await first_event(TopsortAssetStatusTrigger(None, [created["id"]], poll_interval=0.05, timeout=0.2))
    assert event["status"] == "timeout" and event["pending"] == [created["id"]]
    assert event["last"][created["id"]]["raw_state"] == "pending_upload"


async def test_run_honours_429_and_survives_a_5xx(sandbox, tmp_path):
    asset_id = submit(tmp_path)
    before = len(sandbox.journal(platform=PLATFORM, method="GET"))  # submit reads the asset back once
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after="0.1")
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=502)
    event = await first_event(TopsortAssetStatusTrigger(None, [asset_id], poll_interval=0.05, timeout=30))
    assert event["status"] == "done"
    statuses = [e["status"] for e in sandbox.journal(platform=PLATFORM, method="GET")]
    assert statuses[before : before + 2] == [429, 502]


async def test_run_reports_a_revoked_key_as_error(sandbox, tmp_path, monkeypatch):
    asset_id = submit(tmp_path)
    conn = {**sandbox.connections()["topsort_default"], "password": "ts_adv_revoked_1111111111"}
    monkeypatch.setenv("AIRFLOW_CONN_TOPSORT_DEFAULT", json.dumps(conn))
    event = await first_event(TopsortAssetStatusTrigger(None, [asset_id], poll_interval=0.05, timeout=30))
    assert event["status"] == "error" and "replace" in event["message"]
    assert "ts_adv_revoked_1111111111" not in event["message"]
