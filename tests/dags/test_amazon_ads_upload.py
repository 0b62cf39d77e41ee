"""The example DAG ``amazon_ads_upload``: parses, and runs end to end against the sandbox."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.hooks.amazon_ads import content_tag
from airflow_creative_provider.sandbox import amazon_ads as sandbox_amazon
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import load_dag as load_support_dag

P = "amazon_ads"


def load_dag() -> Any:
    return load_support_dag("amazon_ads_upload")


def test_dag_parses_with_trigger_form_params():
    dag = load_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["upload_file", "register_asset", "wait_until_active"]
    assert {"file_path", "name", "rule_set", "subtypes", "tags", "linked_asset_id", "conn_id"} <= set(dag.params)
    assert dag.get_task("wait_until_active").deferrable is True
    assert "sponsored_brands_logo" in dag.params.get_param("rule_set").schema["enum"]


@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end_against_the_sandbox(creative_sandbox_env, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    sandbox = creative_sandbox_env
    sandbox.state.speeds[P] = ProcessingSpeed(polls=2, seconds=None)  # the sensor defers once
    path = tmp_path / "brand_logo.png"
    Image.new("RGB", (600, 600), "orange").save(path, "PNG")
    dag = load_dag()
    run = dag.test(
        run_conf={
            "file_path": str(path),
            "name": "Spring logo",
            "rule_set": "sponsored_brands_logo",
            "subtypes": ["LOGO"],
            "tags": ["spring"],
        }
    )
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    [asset] = sandbox.state.store(P)["assets"].values()
    [version] = asset["versions"]
    assert (version["name"], version["assetStatus"], version["assetSubTypes"]) == ("Spring logo", "ACTIVE", ["LOGO"])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(version["tags"]) == {"spring", content_tag(sha)}
    assert [e["sha256"] for e in sandbox.journal(platform=P, method="PUT")] == [sha]
    assert len(sandbox.journal(platform=P, method="POST", path="^/assets/register$")) == 1
    # one poke on the worker (PROCESSING), then the deferred trigger's poll (ACTIVE)
    assert len(sandbox.journal(platform=P, method="GET", path="^/assets$")) == 2
    creds = sandbox_amazon.credentials(sandbox.state)
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    for secret in (creds["client_secret"], creds["refresh_token"], "X-Amz-Signature", "Atza|"):
        assert secret not in text
