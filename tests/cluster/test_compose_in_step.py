"""``scripts/cluster`` and ``docker-compose.yaml`` describe one deployment: same variables.

Every variable of the compose file's common Airflow environment reaches the native cluster's
components with the same value, except the host-specific ones (hosts, ports, paths, the auth
manager), which must still be set. Needs no running cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cluster.conftest import load_cluster_module

REPO = Path(__file__).resolve().parents[2]


def _compose_environment() -> dict[str, str]:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    return {key: str(value) for key, value in compose["x-airflow-common"]["environment"].items()}


def test_the_cluster_gets_every_compose_variable(creative_sandbox, tmp_path: Path) -> None:
    module = load_cluster_module()
    env = module.cluster_environment(
        home=tmp_path,
        metadata_url="postgresql://postgres@127.0.0.1:5432/airflow_db",
        ledger_url="postgresql://postgres@127.0.0.1:5432/ledger_db",
        broker_url="redis://127.0.0.1:6379/0",
        api_port=18080,
        source=tmp_path / "creatives",
        connections=creative_sandbox.connection_env(),
        queue="q",
    )
    compose = _compose_environment()
    not_here = {"_PIP_ADDITIONAL_REQUIREMENTS", "AIRFLOW_CONFIG"}  # container-only
    assert module.HOST_SPECIFIC <= set(compose)  # no stale exception
    for key in compose:
        if key in not_here:
            assert key not in env
        elif key in module.HOST_SPECIFIC:
            assert env.get(key), f"{key} is not set for the native cluster"
        else:
            assert env.get(key) == module.compose_common_environment()[key], key
    # the same connections: conn type and fields, hosts aside
    for key in [k for k in compose if k.startswith("AIRFLOW_CONN_") and k != "AIRFLOW_CONN_CREATIVE_LEDGER"]:
        ours, theirs = json.loads(env[key]), json.loads(compose[key])
        assert ours["conn_type"] == theirs["conn_type"], key
        assert set(ours.get("extra") or {}) == set(theirs.get("extra") or {}), key
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW_CONN_CREATIVE_LEDGER"].startswith("postgresql://")
