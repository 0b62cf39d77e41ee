"""TopsortAssetSensor against the sandbox: poke mode, deferral through the trigger, failures
with reasons and timeouts listing what is pending."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.sensors.topsort import TopsortAssetSensor
from airflow_creative_provider.triggers.topsort import TopsortAssetStatusTrigger
from tests.support.airflow import RecordingTI

PLATFORM = "topsort"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "a.png", color: str = "red") -> str:
    path = tmp_path / name
    Image.new("RGB", (16, 16), color).save(path, "PNG")
    return TopsortHook().submit(Creative.inspect(path)).remote_id


def sensor(**kwargs) -> TopsortAssetSensor:
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return TopsortAssetSensor(task_id="wait", **kwargs)


def test_poke_mode_one_and_many_ids(sandbox, tmp_path):
    a, b = submit(tmp_path, "a.png"), submit(tmp_path, "b.png", "blue")
    result = sensor(remote_ids=[a, b], deferrable=False).execute({"ti": RecordingTI()})
    assert {i: s["raw_state"] for i, s in result.items()} == {a: "approved", b: "approved"}
    single = sensor(remote_ids=a, deferrable=False).execute({"ti": RecordingTI()})
    assert single[a]["details"]["url"]


def test_poke_fails_with_the_reason(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad*", "upload_error"))
    bad = submit(tmp_path, "bad.png")
    with pytest.raises(PlatformRejected, match="upload_error"):
        sensor(remote_ids=[bad], deferrable=False).execute({"ti": RecordingTI()})


async def test_deferrable_runs_through_the_trigger(sandbox, tmp_path):
    a, b = submit(tmp_path, "a.png"), submit(tmp_path, "b.png", "blue")
    op = sensor(remote_ids=[a, b], deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute({"ti": RecordingTI()})
    trigger = info.value.trigger
    assert isinstance(trigger, TopsortAssetStatusTrigger) and trigger.remote_ids == [a, b]
    async for event in trigger.run():
        result = op.execute_complete({"ti": RecordingTI()}, event.payload)
        break
    assert {s["raw_state"] for s in result.values()} == {"approved"}


async def test_deferred_rejection_and_timeout(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad*", "rejected"))
    bad = submit(tmp_path, "bad.png")
    op = sensor(remote_ids=[bad], deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute({"ti": RecordingTI()})
    async for event in info.value.trigger.run():
        with pytest.raises(PlatformRejected, match="rejected"):
            op.execute_complete({"ti": RecordingTI()}, event.payload)
        break
    created = TopsortHook().create_asset("never uploaded", "image/png")
    waiting = sensor(remote_ids=[created["id"]], deferrable=True, timeout=0.2)
    with pytest.raises(TaskDeferred) as info:
        waiting.execute({"ti": RecordingTI()})
    async for event in info.value.trigger.run():
        with pytest.raises(PlatformError, match=created["id"]):
            waiting.execute_complete({"ti": RecordingTI()}, event.payload)
        break
