"""The example DAG ``topsort_upload``: parses, and runs end to end against the sandbox."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.sandbox import topsort as sandbox_ts
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import load_dag as load_support_dag

PLATFORM = "topsort"


def load_dag() -> Any:
    return load_support_dag("topsort_upload")


def test_dag_parses_with_trigger_form_params():
    dag = load_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["upload_asset", "wait_for_approval"]
    assert {"file_path", "name", "product_ids", "brands", "conn_id"} <= set(dag.params)
    assert dag.get_task("wait_for_approval").deferrable is True
    assert dag.doc_md


@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end_against_the_sandbox(creative_sandbox_env, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    sandbox = creative_sandbox_env
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)  # the sensor defers once
    path = tmp_path / "spring_banner.png"
    Image.new("RGB", (60, 40), "orange").save(path, "PNG")
    dag = load_dag()
    run = dag.test(
        run_conf={"file_path": str(path), "name": "Spring banner", "product_ids": ["p-1", "p-2"], "brands": []}
    )
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    [stored] = sandbox.state.store(PLATFORM)["assets"].values()
    assert stored["name"] == "Spring banner" and stored["status"] == "approved"
    assert stored["productIds"] == ["p-1", "p-2"] and stored["brands"] == []
    assert len(sandbox.journal(platform=PLATFORM, method="POST", path="^/public/v1/assets/asset$")) == 1
    [upload] = sandbox.journal(platform=PLATFORM, method="POST", path="^/s3/")
    assert upload["status"] == 204
    # one poke on the worker (pending_approval), then the deferred trigger's poll (approved)
    assert len(sandbox.journal(platform=PLATFORM, method="GET", path=f"/asset/{stored['id']}$")) == 2
    captured = capsys.readouterr()
    exposed = caplog.text + captured.out + captured.err
    assert sandbox_ts.API_KEY not in exposed
    assert "X-Amz-Signature" not in exposed and "x-amz-signature" not in exposed
    assert len(stored["metadata"]["sha256"]) == 64  # the idempotency key travelled with the asset
    assert sandbox_ts.API_KEY not in json.dumps(run.conf or {})
