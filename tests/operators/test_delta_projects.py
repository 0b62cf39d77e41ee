"""DeltaProjectsUploadFileOperator against the sandbox: upload, rename, local refusals, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.exceptions import CreativeRefused
from airflow_creative_provider.operators.delta_projects import (
    DeltaProjectsAssetLink,
    DeltaProjectsUploadFileOperator,
)
from airflow_creative_provider.sandbox import delta_projects as sandbox_dp
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.airflow import RecordingTI

PLATFORM = "delta_projects"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def png(tmp_path: Path, name: str = "banner.png", color: str = "red") -> Path:
    path = tmp_path / name
    Image.new("RGB", (30, 20), color).save(path, "PNG")
    return path


def files(sandbox) -> list[dict]:
    return list(sandbox.state.store(PLATFORM)["files"].values())


def test_template_fields_and_link():
    op = DeltaProjectsUploadFileOperator(task_id="u", file_path="x.png")
    assert set(op.template_fields) >= {"file_path", "name", "conn_id"}
    assert DeltaProjectsAssetLink.name and DeltaProjectsAssetLink.key == "delta_projects_file_url"


def test_upload_pushes_ids_and_sha1_no_secret(sandbox, tmp_path):
    import hashlib

    path = png(tmp_path)
    ti = RecordingTI()
    result = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(path)).execute({"ti": ti})
    [stored] = files(sandbox)
    assert result["file_id"] == stored["id"] == ti.xcom["file_id"]
    assert result["sha1"] == ti.xcom["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()
    assert result["name"] == "banner.png" and result["raw_state"] == "PROCESSING"
    key = sandbox_dp.api_key(sandbox.state)
    assert key not in json.dumps(result) and key not in json.dumps(ti.xcom)


def test_name_param_renames_and_rules_follow_the_name(sandbox, tmp_path):
    path = png(tmp_path, "upload.tmp")
    result = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(path), name="spring.png").execute(
        {"ti": RecordingTI()}
    )
    assert [f["name"] for f in files(sandbox)] == ["spring.png"] and result["name"] == "spring.png"
    # A name whose extension disagrees with the content: sent with the real type, with a warning.
    other = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(png(tmp_path, "b.png", "blue")), name="fall.jpg")
    result = other.execute({"ti": RecordingTI()})
    assert sorted(f["name"] for f in files(sandbox)) == ["fall.png", "spring.png"] and result["name"] == "fall.png"
    assert "image/png but the name says image/jpeg" in result["warnings"][0]


def test_refused_locally_before_any_request(sandbox, tmp_path):
    video = tmp_path / "spot.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(CreativeRefused, match="does not take video"):
        DeltaProjectsUploadFileOperator(task_id="u", file_path=str(video)).execute({"ti": RecordingTI()})
    with pytest.raises(CreativeRefused) as missing:
        DeltaProjectsUploadFileOperator(task_id="u", file_path=str(tmp_path / "nope.png")).execute(
            {"ti": RecordingTI()}
        )
    assert missing.value.rule == "missing"
    assert sandbox.journal(platform=PLATFORM) == []


def test_retried_task_finds_its_file(sandbox, tmp_path):
    path = png(tmp_path)
    first = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(path)).execute({"ti": RecordingTI()})
    second = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(path)).execute({"ti": RecordingTI(2)})
    assert second["file_id"] == first["file_id"]
    assert len(sandbox.journal(platform=PLATFORM, method="POST")) == 1 and len(files(sandbox)) == 1


def test_lost_answer_recovered_without_second_file(sandbox, tmp_path):
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST")
    result = DeltaProjectsUploadFileOperator(task_id="u", file_path=str(png(tmp_path))).execute({"ti": RecordingTI()})
    assert [f["id"] for f in files(sandbox)] == [result["file_id"]]
    assert len(sandbox.journal(platform=PLATFORM, method="POST")) == 1
