"""MediaPocketAssetStatusTrigger: serialize() round trip and run() driven against the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from airflow_creative_provider.triggers.mediapocket import MediaPocketAssetStatusTrigger

PLATFORM = "mediapocket"
CLASSPATH = "airflow_creative_provider.triggers.mediapocket.MediaPocketAssetStatusTrigger"


@pytest.fixture
def sandbox(creative_sandbox_env: Any) -> Any:
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "banner.png", color: str = "red") -> str:
    path = tmp_path / name
    Image.new("RGB", (40, 30), color).save(path)
    return MediaPocketHook().submit(Creative.inspect(path)).remote_id


def staged_keys(sandbox: Any) -> list[str]:
    listing = sandbox.state.s3.client.list_objects_v2(Bucket="sandbox-staging", Prefix="mediapocket-staging/")
    return [o["Key"] for o in listing.get("Contents", [])]


async def first_event(trigger: MediaPocketAssetStatusTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def test_serialize_round_trip() -> None:
    trigger = MediaPocketAssetStatusTrigger(
        conn_id="mediapocket_default", remote_ids=["abc"], poll_interval=0.5, timeout=30.0, started_at=2.0
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "conn_id": "mediapocket_default",
        "remote_ids": ["abc"],
        "poll_interval": 0.5,
        "timeout": 30.0,
        "started_at": 2.0,
    }
    assert MediaPocketAssetStatusTrigger(**kwargs).serialize() == (classpath, kwargs)


async def test_run_until_processed(sandbox: Any, tmp_path: Path) -> None:
    ids = [submit(tmp_path, "a.png", "red"), submit(tmp_path, "b.png", "blue")]
    assert len(staged_keys(sandbox)) == 2
    event = await first_event(MediaPocketAssetStatusTrigger("mediapocket_default", ids, poll_interval=0.05))
    assert event["status"] == "done"
    assert {s["raw_state"] for s in event["assets"].values()} == {"image"}
    assert all(s["details"]["md5_sum"] for s in event["assets"].values())
    assert staged_keys(sandbox) == []  # deleted once processed
    assert len(sandbox.journal(platform=PLATFORM, method="GET", path=r"^/api/v2/assets/[^/]+$")) >= 4


async def test_run_times_out_listing_the_pending_asset(sandbox: Any, tmp_path: Path) -> None:
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=1000, seconds=None)
    remote_id = submit(tmp_path)
    # began waiting 61 s ago with a 60 s timeout: it gives up after its next poll, without a real wait
    trigger = MediaPocketAssetStatusTrigger(
        "mediapocket_default", [remote_id], poll_interval=0.05, timeout=60, started_at=time.time() - 61
    )
    event = await first_event(trigger)
    assert event["status"] == "timeout" and event["pending"] == [remote_id]
    assert event["last"][remote_id]["raw_state"] == "processing"


async def test_run_reports_an_error_event_on_401(sandbox: Any, tmp_path: Path) -> None:
    remote_id = submit(tmp_path)
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=401, message="Unauthorized")
    event = await first_event(MediaPocketAssetStatusTrigger("mediapocket_default", [remote_id], poll_interval=0.05))
    assert event["status"] == "error" and "Check the API key" in event["message"]


async def test_run_honours_retry_after(sandbox: Any, tmp_path: Path) -> None:
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    remote_id = submit(tmp_path)
    mp_sandbox.join_fetches()  # fetched: the first successful read ends processing
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after=1)
    started = time.monotonic()
    event = await first_event(MediaPocketAssetStatusTrigger("mediapocket_default", [remote_id], poll_interval=0.05))
    assert event["status"] == "done" and time.monotonic() - started >= 1.0
    statuses = [e["status"] for e in sandbox.journal(platform=PLATFORM, method="GET", path=r"^/api/v2/assets/")]
    assert statuses[:2] == [429, 200]
