"""The example DAG ``delta_projects_upload``: parses, and runs end to end against the sandbox."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.sandbox import delta_projects as sandbox_dp
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import load_dag as load_support_dag


def load_dag() -> Any:
    return load_support_dag("delta_projects_upload")


def test_dag_parses_with_trigger_form_params():
    dag = load_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["upload_file", "wait_until_processed"]
    assert {"file_path", "name", "conn_id"} <= set(dag.params)
    assert dag.get_task("wait_until_processed").deferrable is True


@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end_against_the_sandbox(creative_sandbox_env, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    sandbox = creative_sandbox_env
    sandbox.state.speeds["delta_projects"] = ProcessingSpeed(polls=2, seconds=None)  # the sensor defers once
    path = tmp_path / "raw_upload.bin"
    Image.new("RGB", (60, 40), "orange").save(path, "PNG")
    dag = load_dag()
    run = dag.test(run_conf={"file_path": str(path), "name": "spring_icon.png"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    [stored] = sandbox.state.store("delta_projects")["files"].values()
    assert stored["name"] == "spring_icon.png" and stored["state"] == "PROCESSED"
    assert stored["checksum"] == hashlib.sha1(path.read_bytes()).hexdigest().upper()
    assert len(sandbox.journal(platform="delta_projects", method="POST")) == 1
    # one poke on the worker (PROCESSING), then the deferred trigger's poll (PROCESSED)
    assert len(sandbox.journal(platform="delta_projects", method="GET", path=f"/file/{stored['id']}$")) == 2
    key = sandbox_dp.api_key(sandbox.state)
    captured = capsys.readouterr()
    assert key not in caplog.text and key not in captured.out and key not in captured.err
