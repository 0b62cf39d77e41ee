"""AmazonAdsAssetSensor: poke, deferral to the trigger, and execute_complete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.exceptions import TaskDeferred
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.amazon_ads import AmazonAdsHook
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.sensors.amazon_ads import AmazonAdsAssetSensor
from airflow_creative_provider.triggers.amazon_ads import AmazonAdsAssetStatusTrigger

P = "amazon_ads"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[P] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "logo.png") -> str:
    path = tmp_path / name
    Image.new("RGB", (400, 400), "red").save(path)
    remote = AmazonAdsHook().submit(Creative.inspect(path))
    return f"{remote.remote_id}:{remote.version}"


def test_poke_until_active(sandbox, tmp_path):
    remote_id = submit(tmp_path)
    sensor = AmazonAdsAssetSensor(task_id="wait", remote_ids=remote_id, poke_interval=0.01, deferrable=False)
    assert sensor.poke({}) is False
    assert sensor.poke({}) is True
    assert sensor._last[remote_id]["raw_state"] == "ACTIVE"


def test_poke_fails_on_inactive_with_reason(sandbox, tmp_path):
    sandbox.state.speeds[P] = ProcessingSpeed(polls=1, seconds=None)
    sandbox.state.outcomes.append(Outcome(P, "bad.png", "INACTIVE", "transcoding failed"))
    remote_id = submit(tmp_path, "bad.png")
    sensor = AmazonAdsAssetSensor(task_id="wait", remote_ids=[remote_id], deferrable=False)
    with pytest.raises(PlatformRejected, match="transcoding failed"):
        sensor.poke({})


def test_execute_in_poke_mode_returns_statuses(sandbox, tmp_path):
    remote_id = submit(tmp_path)
    sensor = AmazonAdsAssetSensor(task_id="wait", remote_ids=[remote_id], poke_interval=0.01, deferrable=False)
    result = sensor.execute({"ti": SimpleNamespace(try_number=1)})
    assert result[remote_id]["state"] == "ready"


def test_deferrable_sensor_defers_then_completes_through_the_trigger(sandbox, tmp_path):
    remote_id = submit(tmp_path)
    sensor = AmazonAdsAssetSensor(
        task_id="wait", remote_ids=[remote_id], poke_interval=0.05, timeout=60, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, AmazonAdsAssetStatusTrigger)
    assert trigger.remote_ids == [remote_id]

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    result = sensor.execute_complete({}, event)
    assert result[remote_id]["raw_state"] == "ACTIVE"


def test_execute_complete_reports_timeout_with_pending(sandbox):
    sensor = AmazonAdsAssetSensor(task_id="wait", remote_ids=["a:version_v1"], deferrable=True)
    event = {
        "status": "timeout",
        "assets": {},
        "pending": ["a:version_v1"],
        "last": {"a:version_v1": {"raw_state": "PROCESSING"}},
    }
    with pytest.raises(PlatformError, match=r"a:version_v1 \(PROCESSING\)"):
        sensor.execute_complete({}, event)


def test_deferrable_default_follows_airflow_config(monkeypatch):
    assert AmazonAdsAssetSensor(task_id="w", remote_ids="a").deferrable is False
