"""MediaPocket step operators against the sandbox: stage (S3), create, add media."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.exceptions import CreativeRefused
from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.operators.mediapocket import (
    MediaPocketAddMediaOperator,
    MediaPocketCreateAssetOperator,
    MediaPocketStageFileOperator,
)
from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

PLATFORM = "mediapocket"
#: processing ends only when a test moves the sandbox clock past it (never by itself, whatever the load).
PROCESSING_SECONDS = 3600.0


@pytest.fixture
def sandbox(creative_sandbox_env: Any) -> Any:
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=None, seconds=PROCESSING_SECONDS)
    return creative_sandbox_env


def image(tmp_path: Path, name: str = "banner.png", color: str = "red") -> Path:
    path = tmp_path / name
    Image.new("RGB", (40, 30), color).save(path)
    return path


def creates(sandbox: Any) -> list[dict[str, Any]]:
    return sandbox.journal(platform=PLATFORM, method="POST", path=r"^/api/v2/projects/[^/]+/assets$")


def finish_processing(sandbox: Any) -> None:
    """Let MediaPocket finish: its media fetches are done (threads joined), its delay is over (clock)."""
    mp_sandbox.join_fetches()
    sandbox.state.advance_clock(PROCESSING_SECONDS)


def wait_media(asset_id: str) -> dict[str, Any]:
    """The asset once processing ended (``finish_processing`` first): one status read."""
    return MediaPocketHook().get_asset(asset_id)


def stage_and_create(tmp_path: Path, name: str = "banner.png", **create: Any) -> tuple[dict, dict]:
    staged = MediaPocketStageFileOperator(task_id="stage", file_path=str(image(tmp_path, name))).execute({})
    created = MediaPocketCreateAssetOperator(
        task_id="create",
        source=staged["source"],
        filename=staged["filename"],
        external_id=staged["external_id"],
        **create,
    ).execute({})
    return staged, created


def test_stage_then_create_then_processed(sandbox: Any, tmp_path: Path) -> None:
    staged, created = stage_and_create(tmp_path, title="Spring banner", category="Ads", tags=["spring"])
    assert staged["source"].startswith("s3://sandbox-staging/mediapocket-staging/")
    assert sandbox.state.s3.get("staging", staged["source"].split("/", 3)[3]) == (tmp_path / "banner.png").read_bytes()
    assert created["external_id"] == staged["external_id"] and created["project_id"] == mp_sandbox.PROJECT_ID
    assert created["media_type"] == "processing"
    finish_processing(sandbox)
    asset = wait_media(created["asset_id"])
    assert asset["media_type"] == "image" and asset["title"] == "Spring banner" and asset["category"] == "ads"
    # XCom holds ids only: no presigned URL, no API key
    xcom = json.dumps([staged, created])
    assert "X-Amz-" not in xcom and mp_sandbox.api_key(sandbox.state) not in xcom


def test_retried_create_task_makes_no_second_asset(sandbox: Any, tmp_path: Path) -> None:
    staged, first = stage_and_create(tmp_path)
    again = MediaPocketCreateAssetOperator(
        task_id="create", source=staged["source"], filename=staged["filename"], external_id=staged["external_id"]
    ).execute({})
    assert again["asset_id"] == first["asset_id"]
    assert len(creates(sandbox)) == 1


def test_create_recovers_partial_failure_without_second_asset(sandbox: Any, tmp_path: Path) -> None:
    sandbox.state.outcomes.append(Outcome(PLATFORM, "partial.png", "create_media_failed"))
    _, created = stage_and_create(tmp_path, "partial.png")
    assert [e["status"] for e in creates(sandbox)] == [400]
    assert created["asset_id"] == creates(sandbox)[0]["remote_id"]
    finish_processing(sandbox)
    assert wait_media(created["asset_id"])["media_type"] == "image"


def test_add_media_to_an_asset(sandbox: Any, tmp_path: Path) -> None:
    # Processing ends on the second read at the earliest, however fast the sandbox's fetch is.
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    hook = MediaPocketHook()
    asset = hook.create_asset("Placeholder", external_id="ph-1")
    assert asset["media_type"] == "placeholder"
    staged = MediaPocketStageFileOperator(task_id="stage", file_path=str(image(tmp_path))).execute({})
    result = MediaPocketAddMediaOperator(
        task_id="add", asset_id=asset["id"], source=staged["source"], filename="banner.png"
    ).execute({})
    # processing until the sandbox clock moves, however fast the fetch is on this machine
    assert result == {"asset_id": asset["id"], "media_type": "processing"}
    finish_processing(sandbox)
    assert wait_media(asset["id"])["media_type"] == "image"


def test_stage_refuses_a_bad_file_before_any_request(sandbox: Any, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(image(tmp_path).read_bytes()[:50])
    with pytest.raises(CreativeRefused, match="broken.png"):
        MediaPocketStageFileOperator(task_id="stage", file_path=str(bad)).execute({})
    with pytest.raises(CreativeRefused, match="no such file"):
        MediaPocketStageFileOperator(task_id="stage", file_path=str(tmp_path / "missing.png")).execute({})
    assert sandbox.journal() == []


def test_templated_fields() -> None:
    assert set(MediaPocketStageFileOperator.template_fields) >= {"file_path", "filename", "project_id"}
    assert set(MediaPocketCreateAssetOperator.template_fields) >= {"source", "external_id", "title", "tags"}
    assert set(MediaPocketAddMediaOperator.template_fields) >= {"asset_id", "source", "filename"}
