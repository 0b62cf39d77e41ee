"""The example DAG ``mediamath_upload``: parses, and runs end to end against the sandbox."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.sandbox import mediamath as sandbox_mm
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import load_dag as load_support_dag

SANDBOX_SIDE_LOGGERS = ("botocore", "boto3", "moto", "werkzeug", "uvicorn", "s3transfer")


def load_dag() -> Any:
    return load_support_dag("mediamath_upload")


def test_dag_parses_with_trigger_form_params():
    dag = load_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["create_creative", "wait_for_approval"]
    assert {"file_path", "title", "destination_url", "advertiser_id", "conn_id"} <= set(dag.params)
    assert dag.get_task("wait_for_approval").deferrable is True
    assert dag.doc_md


@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end_against_the_sandbox(creative_sandbox_env, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    sandbox = creative_sandbox_env
    sandbox.state.speeds["mediamath"] = ProcessingSpeed(polls=2, seconds=None)  # the sensor defers once
    path = tmp_path / "native_1200x627.png"
    Image.new("RGB", (1200, 627), "orange").save(path, "PNG")
    dag = load_dag()
    run = dag.test(
        run_conf={
            "file_path": str(path),
            "title": "Autumn collection",
            "destination_url": "https://shop.example.com/autumn",
            "creative_name": "Autumn native",
        }
    )
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    [stored] = sandbox.state.store("mediamath")["creatives"].values()
    assert stored["creative_name"] == "Autumn native" and stored["_approval"] == "APPROVED"
    assert stored["external_identifier"] == "acp-" + hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    assets = [sandbox.state.store("mediamath")["assets"][i] for i in stored["_asset_ids"]]
    by_component = {a["component_id"]: a for a in assets}
    assert (by_component[2]["image_width"], by_component[2]["image_height"]) == (1200, 627)
    assert by_component[7]["asset_value"] == "Autumn collection"
    assert by_component[4]["asset_value"] == "https://shop.example.com/autumn"
    # one poke on the worker (PENDING), then the deferred trigger's poll (APPROVED)
    assert len(sandbox.journal(platform="mediamath", method="GET", path="/approvals")) == 2
    captured = capsys.readouterr()
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(SANDBOX_SIDE_LOGGERS))
    for secret in (sandbox_mm.PASSWORD, sandbox_mm.CLIENT_SECRET):
        assert secret not in ours and secret not in captured.out and secret not in captured.err
    assert "adama_session=sess_" not in captured.out + ours
