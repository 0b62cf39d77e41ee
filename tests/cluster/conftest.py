"""One real Airflow cluster for the whole session (``scripts/cluster.py``'s ``Cluster``).

Started once (about a minute) and shared by every test of ``tests/cluster/``: PostgreSQL
(metadata and ledger, fresh databases), CeleryExecutor on Redis with two workers, scheduler,
dag-processor, triggerer, api-server and the sandbox. The DAGs folder holds this repository's
DAGs plus ``creative_sync_second``, a second DAG built from the same file (the same engine).
The default source is empty, so the hourly scheduled run sends nothing; each test syncs a
folder of its own with content no other test has.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def second_dag(source: str) -> str:
    """creative_sync's file under a second dag_id: another DAG on the same engine."""
    assert source.count('dag_id="creative_sync"') == 1
    return source.replace('dag_id="creative_sync"', 'dag_id="creative_sync_second"')


def load_cluster_module() -> Any:
    spec = importlib.util.spec_from_file_location("creative_cluster", REPO / "scripts" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["creative_cluster"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cluster(postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.support.services import DATABASE_PREFIX

    module = load_cluster_module()
    work = tmp_path_factory.mktemp("cluster")
    dags = work / "dags"
    dags.mkdir()
    for dag_file in (REPO / "dags").glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    (dags / "creative_sync_second.py").write_text(second_dag((REPO / "dags" / "creative_sync.py").read_text()))
    (work / "creatives").mkdir()  # the default source: empty
    cluster = module.Cluster(
        work,
        postgres_url=postgres_server,
        redis_url=redis_server,
        db_prefix=f"{DATABASE_PREFIX}cluster_",
        dags_folder=dags,
        poll_seconds=2.0,
    )
    try:
        cluster.start(timeout=600)
        cluster.wait_dag("creative_sync_second")
        cluster.unpause("creative_sync")
        cluster.unpause("creative_sync_second")
        yield cluster
    finally:
        cluster.stop()
