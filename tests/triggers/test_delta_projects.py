"""DeltaProjectsFileStatusTrigger: serialize() round trip and run() driven directly against the sandbox."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook
from airflow_creative_provider.sandbox import delta_projects as sandbox_dp
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.triggers.delta_projects import DeltaProjectsFileStatusTrigger

PLATFORM = "delta_projects"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def upload(tmp_path: Path, name: str, color: str = "red") -> str:
    path = tmp_path / name
    Image.new("RGB", (16, 16), color).save(path, "PNG")
    return DeltaProjectsHook().upload_file(Creative.inspect(path, sha1=True))


async def first_event(trigger: DeltaProjectsFileStatusTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_serialize_round_trip():
    trigger = DeltaProjectsFileStatusTrigger(
        conn_id="delta_projects_default", remote_ids=["a", "b"], poll_interval=3.0, timeout=60.0, started_at=100.0
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_creative_provider.triggers.delta_projects.DeltaProjectsFileStatusTrigger"
    json.dumps(kwargs)  # JSON only: ids, never a secret
    again = DeltaProjectsFileStatusTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


async def test_run_polls_many_files_until_processed(sandbox, tmp_path):
    ids = [upload(tmp_path, f"f{i}.png", color) for i, color in enumerate(["red", "green", "blue"])]
    event = await first_event(DeltaProjectsFileStatusTrigger(conn_id=None, remote_ids=ids, poll_interval=0.05))
    assert event["status"] == "done"
    assert {i: a["raw_state"] for i, a in event["assets"].items()} == dict.fromkeys(ids, "PROCESSED")
    assert all(a["details"]["checksum"] and a["details"]["url"] for a in event["assets"].values())
    # every file was retrieved (the list has no states): at least two polls each
    for file_id in ids:
        assert len(sandbox.journal(platform=PLATFORM, method="GET", path=f"/file/{file_id}$")) >= 2


async def test_run_reports_unprocessable(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad.png", "UNPROCESSABLE"))
    good, bad = upload(tmp_path, "good.png"), upload(tmp_path, "bad.png")
    event = await first_event(DeltaProjectsFileStatusTrigger(conn_id=None, remote_ids=[good, bad], poll_interval=0.05))
    assert event["status"] == "done"
    assert event["assets"][good]["state"] == "ready"
    assert event["assets"][bad]["state"] == "rejected" and "UNPROCESSABLE" in event["assets"][bad]["reason"]


async def test_run_times_out_listing_pending(sandbox, tmp_path):
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=None, seconds=3600)
    file_id = upload(tmp_path, "slow.png")
    trigger = DeltaProjectsFileStatusTrigger(conn_id=None, remote_ids=[file_id], poll_interval=0.05, timeout=0.2)
    event = await first_event(trigger)
    assert event["status"] == "timeout" and event["pending"] == [file_id]
    assert event["last"][file_id]["raw_state"] == "PROCESSING"


async def test_run_honours_retry_after(sandbox, tmp_path):
    file_id = upload(tmp_path, "a.png")
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after="1")
    started = time.monotonic()
    event = await first_event(DeltaProjectsFileStatusTrigger(conn_id=None, remote_ids=[file_id], poll_interval=0.05))
    assert event["status"] == "done" and time.monotonic() - started >= 1.0


async def test_run_error_event_has_no_secret(sandbox, tmp_path, monkeypatch, caplog):
    file_id = upload(tmp_path, "a.png")
    conn = sandbox.connections()["delta_projects_default"]
    wrong = sandbox_dp.api_key(sandbox.state)[::-1]
    monkeypatch.setenv("AIRFLOW_CONN_DP_WRONG", json.dumps({**conn, "password": wrong}))
    event = await first_event(DeltaProjectsFileStatusTrigger(conn_id="dp_wrong", remote_ids=[file_id]))
    assert event["status"] == "error" and "401" in event["message"]
    assert wrong not in json.dumps(event) and wrong not in caplog.text
