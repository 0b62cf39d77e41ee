"""The example DAG ``mediapocket_upload``: parses, and runs end to end against the sandbox."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import load_dag as load_support_dag

PLATFORM = "mediapocket"


def load_dag() -> Any:
    return load_support_dag("mediapocket_upload")


def test_dag_parses_with_trigger_form_params() -> None:
    dag = load_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["stage_file", "create_asset", "wait_until_processed"]
    assert {"file_path", "title", "category", "tags", "project_id", "conn_id"} <= set(dag.params)
    assert dag.get_task("wait_until_processed").deferrable is True
    assert dag.doc_md


@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end_against_the_sandbox(
    creative_sandbox_env: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = creative_sandbox_env
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)  # the sensor defers once
    path = tmp_path / "spring_square.png"
    Image.new("RGB", (120, 120), "purple").save(path)
    run = load_dag().test(
        run_conf={"file_path": str(path), "title": "Spring square", "category": "Social", "tags": ["spring", "ig"]}
    )
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    [asset] = sandbox.state.store(PLATFORM)["assets"].values()
    assert asset["title"] == "Spring square" and asset["category"] == "social" and asset["tags"] == ["spring", "ig"]
    assert asset["media_type"] == "image" and asset["project_id"] == mp_sandbox.PROJECT_ID
    assert asset["md5_sum"] == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    assert len(sandbox.journal(platform=PLATFORM, method="POST")) == 1
    # staged through the sandbox S3, fetched by MediaPocket through a presigned URL, then deleted
    [put] = sandbox.journal(platform="staging", method="PUT")
    assert put["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    key = put["path"].removeprefix("/s3/sandbox-staging/")
    assert sandbox.state.s3.get("staging", key) is None
    api_key = mp_sandbox.api_key(sandbox.state)
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert api_key not in everything and "X-Amz-Signature=" not in everything
