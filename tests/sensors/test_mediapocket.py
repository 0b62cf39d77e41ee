"""MediaPocketAssetSensor: poke, deferral to the trigger, execute_complete and cleanup of staged files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.exceptions import TaskDeferred
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from airflow_creative_provider.sensors.mediapocket import MediaPocketAssetSensor
from airflow_creative_provider.triggers.mediapocket import MediaPocketAssetStatusTrigger

PLATFORM = "mediapocket"


@pytest.fixture
def sandbox(creative_sandbox_env: Any) -> Any:
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "banner.png") -> tuple[str, str]:
    path = tmp_path / name
    Image.new("RGB", (40, 30), "red").save(path)
    hook = MediaPocketHook()
    creative = Creative.inspect(path)
    remote = hook.submit(creative)
    return remote.remote_id, hook.staging_key(hook.external_id_for(creative), creative.name)


def test_poke_until_processed_then_staged_object_deleted(sandbox: Any, tmp_path: Path) -> None:
    remote_id, key = submit(tmp_path)
    sensor = MediaPocketAssetSensor(task_id="wait", remote_ids=remote_id, poke_interval=0.05, deferrable=False)
    result = sensor.execute({"ti": SimpleNamespace(try_number=1)})
    assert result[remote_id]["state"] == "ready" and result[remote_id]["raw_state"] == "image"
    assert sandbox.state.s3.get("staging", key) is None


def test_deferrable_sensor_defers_then_completes_and_cleans_up(sandbox: Any, tmp_path: Path) -> None:
    remote_id, key = submit(tmp_path)
    sensor = MediaPocketAssetSensor(
        task_id="wait", remote_ids=[remote_id], poke_interval=0.05, timeout=60, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MediaPocketAssetStatusTrigger) and trigger.remote_ids == [remote_id]
    assert sandbox.state.s3.get("staging", key) is not None  # still needed while processing

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    result = sensor.execute_complete({}, asyncio.run(first_event()))
    assert result[remote_id]["raw_state"] == "image"
    assert sandbox.state.s3.get("staging", key) is None


def test_trashed_asset_fails_with_its_id(sandbox: Any, tmp_path: Path) -> None:
    remote_id, _ = submit(tmp_path)
    MediaPocketHook().trash_asset(remote_id)
    sensor = MediaPocketAssetSensor(task_id="wait", remote_ids=[remote_id], deferrable=False)
    with pytest.raises(PlatformRejected, match=remote_id):
        sensor.poke({})


def test_processing_timeout_fails_with_the_asset_id(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sandbox.connections()["mediapocket_default"]
    conn["extra"]["processing_timeout"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAPOCKET_DEFAULT", json.dumps(conn))
    sandbox.state.faults.add("expire_url", path=r"^/s3/sandbox-staging/", method="GET")
    remote_id, _ = submit(tmp_path)
    sensor = MediaPocketAssetSensor(task_id="wait", remote_ids=[remote_id], deferrable=False)
    with pytest.raises(PlatformError, match=rf"processing failed .*{remote_id}.*could not fetch") as raised:
        sensor.poke({})
    assert not isinstance(raised.value, PlatformRejected)  # MediaPocket did not reject it: its fetch failed


def test_sensor_timeout_event_lists_pending_ids(sandbox: Any) -> None:
    sensor = MediaPocketAssetSensor(task_id="wait", remote_ids=["AAAAAAAAAAAAAAAAAAAA"], deferrable=True)
    event = {"status": "timeout", "assets": {}, "pending": ["AAAAAAAAAAAAAAAAAAAA"],
             "last": {"AAAAAAAAAAAAAAAAAAAA": {"raw_state": "processing"}}}  # fmt: skip
    with pytest.raises(PlatformError, match=r"AAAAAAAAAAAAAAAAAAAA \(processing\)"):
        sensor.execute_complete({}, event)
