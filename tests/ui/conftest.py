"""Fixtures of the Creatives page tests: a ledger filled by a real sync against the sandbox.

``synced_ledger`` copies ``examples/creatives/`` to a temporary folder and syncs it to the five
platforms of the sandbox with the engine's own functions (``plan_run`` -> ``submit_batch`` ->
``wait_targets`` -> ``record_statuses`` -> ``build_report``), as the ``creative_sync`` DAG does,
twice: run ``ui-1`` sends everything (Topsort is made to reject ``summer_sale*``), run ``ui-2``
finds nothing new; then run ``ui-3`` syncs only ``logos/**`` (a narrow include), ``ui-4`` an
include that matches no file, and ``ui-5`` cannot start (its source does not exist).
``auth_headers`` is a real JWT of Airflow's auth manager.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.engine import (
    build_report,
    plan_run,
    record_statuses,
    report_rows,
    submit_batch,
    wait_targets,
)
from airflow_creative_provider.sync.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "creatives"
REJECTED_NAME = "summer_sale_1200x628.jpg"
REJECTION = "the banner text covers more than 20% of the image"
NARROW_INCLUDE = "logos/**"
NO_MATCH_INCLUDE = "nothing/**"


@dataclass
class SyncedLedger:
    url: str
    folder: Path
    reports: dict[str, dict[str, Any]]
    env: dict[str, str]

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.url)


def sync(folder: Path, ledger: Ledger, run_id: str, **params: Any) -> dict[str, Any]:
    """One sync of ``folder`` to every platform, waiting by polling each hook (the DAG's flow).

    Returns the report's XCom value with ``rows``: every row the run stored in the ledger.
    """
    from airflow_creative_provider.hooks import hook_class

    plan = plan_run({"source": str(folder), "platforms": list(PLATFORMS), **params}, run_id=run_id, ledger=ledger)
    submits = [submit_batch(batch, ledger=ledger) for batch in plan.batches if not batch.error]
    waits = []
    for submitted in submits:
        targets = wait_targets(submitted, ledger=ledger)
        if not targets.remote_ids:
            continue
        hook = hook_class(targets.platform)(targets.conn_id)
        statuses: dict[str, Any] = {}
        for _ in range(6):
            statuses.update({i: s.to_dict() for i, s in hook.get_status(list(targets.remote_ids)).items()})
            if all(s["state"] in ("ready", "rejected") for s in statuses.values()):
                break
        waits.append(record_statuses(targets, statuses, ledger=ledger))
    report = build_report(plan, waits, ledger=ledger)
    return {**report.to_json(), "rows": [r.to_dict() for r in report_rows(run_id, ledger=ledger)]}


@pytest.fixture(scope="session")
def synced_ledger(creative_sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedLedger]:
    from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

    root = tmp_path_factory.mktemp("ui-sync")
    folder = root / "creatives"
    shutil.copytree(EXAMPLES, folder)
    url = f"sqlite:///{root / 'ledger.db'}"
    creative_sandbox.reset()
    state = creative_sandbox.state
    for platform in PLATFORMS:
        state.speeds[platform] = ProcessingSpeed(polls=1, seconds=None)
    state.outcomes.append(Outcome("topsort", "summer_sale*", "rejected", REJECTION))
    env = creative_sandbox.connection_env()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        ledger = Ledger(url)
        reports = {run_id: sync(folder, ledger, run_id) for run_id in ("ui-1", "ui-2")}
        reports["ui-3"] = sync(folder, ledger, "ui-3", include=NARROW_INCLUDE)
        reports["ui-4"] = sync(folder, ledger, "ui-4", include=NO_MATCH_INCLUDE)
        with pytest.raises(Exception, match="does not exist"):
            sync(root / "nowhere", ledger, "ui-5")
    creative_sandbox.reset()
    yield SyncedLedger(url=url, folder=folder, reports=reports, env=env)


@pytest.fixture(scope="session")
def auth_manager(airflow_db: Path) -> Any:
    """Airflow's configured auth manager (SimpleAuthManager), initialised as the api-server does."""
    from airflow.api_fastapi.app import init_auth_manager

    return init_auth_manager()


@pytest.fixture(scope="session")
def auth_headers(auth_manager: Any) -> dict[str, str]:
    """A bearer token the api-server accepts, signed by Airflow's auth manager."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = auth_manager.generate_jwt(SimpleAuthManagerUser(username="analyst", role="VIEWER"))
    return {"Authorization": f"Bearer {token}"}


def airflow_home() -> Path:
    return Path(os.environ["AIRFLOW_HOME"])
