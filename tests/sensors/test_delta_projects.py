"""DeltaProjectsFileSensor against the sandbox: poke mode, deferral through the trigger,
unprocessable files, checksum mismatches, timeouts and the file link."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook
from airflow_creative_provider.operators.delta_projects import DeltaProjectsAssetLink
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.sensors.delta_projects import DeltaProjectsFileSensor
from airflow_creative_provider.triggers.delta_projects import DeltaProjectsFileStatusTrigger
from tests.support.airflow import RecordingTI

PLATFORM = "delta_projects"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def upload(tmp_path: Path, name: str = "a.png", color: str = "red") -> tuple[str, str]:
    path = tmp_path / name
    Image.new("RGB", (16, 16), color).save(path, "PNG")
    file_id = DeltaProjectsHook().upload_file(Creative.inspect(path, sha1=True))
    return file_id, hashlib.sha1(path.read_bytes()).hexdigest()


def sensor(**kwargs) -> DeltaProjectsFileSensor:
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return DeltaProjectsFileSensor(task_id="wait", **kwargs)


def test_poke_mode_many_files_with_checksums(sandbox, tmp_path):
    (a, sha_a), (b, sha_b) = upload(tmp_path, "a.png"), upload(tmp_path, "b.png", "blue")
    ti = RecordingTI()
    result = sensor(remote_ids=[a, b], expected_sha1=[sha_a, sha_b], deferrable=False).execute({"ti": ti})
    assert {i: s["raw_state"] for i, s in result.items()} == {a: "PROCESSED", b: "PROCESSED"}
    assert DeltaProjectsAssetLink.key not in ti.xcom  # several files: no single link


def test_single_file_persists_its_public_url_link(sandbox, tmp_path):
    file_id, sha1 = upload(tmp_path)
    ti = RecordingTI()
    result = sensor(remote_ids=file_id, expected_sha1=sha1, deferrable=False).execute({"ti": ti})
    url = ti.xcom[DeltaProjectsAssetLink.key]
    assert url == result[file_id]["details"]["url"] and url.endswith("/a.png")


def test_unprocessable_fails_with_reason(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad.png", "UNPROCESSABLE"))
    file_id, _ = upload(tmp_path, "bad.png")
    with pytest.raises(PlatformRejected, match="UNPROCESSABLE"):
        sensor(remote_ids=[file_id], deferrable=False).execute({"ti": RecordingTI()})


def test_checksum_mismatch_fails_in_poke_mode(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "mangled.png", "corrupt"))
    file_id, sha1 = upload(tmp_path, "mangled.png")
    with pytest.raises(PlatformRejected, match="checksum mismatch") as info:
        sensor(remote_ids=file_id, expected_sha1={file_id: sha1}, deferrable=False).execute({"ti": RecordingTI()})
    assert sha1 in str(info.value)


def test_expected_sha1_must_align_with_ids():
    with pytest.raises(ValueError, match="one per file"):
        _ = sensor(remote_ids=["a", "b"], expected_sha1=["x"]).expected


async def test_deferrable_defers_then_completes_through_the_trigger(sandbox, tmp_path):
    file_id, sha1 = upload(tmp_path)
    task = sensor(remote_ids=[file_id], expected_sha1=sha1.upper(), deferrable=True, poke_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"ti": RecordingTI()})  # first poke: still PROCESSING
    trigger = deferred.value.trigger
    assert isinstance(trigger, DeltaProjectsFileStatusTrigger) and trigger.remote_ids == [file_id]
    assert deferred.value.method_name == "execute_complete"
    async for event in trigger.run():
        payload = event.payload
        break
    ti = RecordingTI()
    result = task.execute_complete({"ti": ti}, payload)
    assert result[file_id]["raw_state"] == "PROCESSED"
    assert ti.xcom[DeltaProjectsAssetLink.key] == result[file_id]["details"]["url"]


async def test_deferred_checksum_mismatch_reported_on_completion(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "mangled.png", "corrupt"))
    file_id, sha1 = upload(tmp_path, "mangled.png")
    task = sensor(remote_ids=[file_id], expected_sha1=sha1, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"ti": RecordingTI()})
    async for event in deferred.value.trigger.run():
        payload = event.payload
        break
    assert payload["status"] == "done"
    with pytest.raises(PlatformRejected, match="checksum mismatch"):
        task.execute_complete({"ti": RecordingTI()}, payload)


def test_timeout_event_lists_pending():
    task = sensor(remote_ids=["f-1"])
    event = {"status": "timeout", "pending": ["f-1"], "assets": {}, "last": {"f-1": {"raw_state": "PROCESSING"}}}
    with pytest.raises(PlatformError, match=r"f-1 \(PROCESSING\)"):
        task.execute_complete({"ti": RecordingTI()}, event)


def test_deferrable_defaults_to_airflow_setting(monkeypatch):
    assert sensor(remote_ids="x").deferrable is False
    assert sensor(remote_ids="x", deferrable=True).deferrable is True
