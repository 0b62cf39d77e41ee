"""Claims of a run that died: taken over at once when Airflow knows it ended (issue 17 item 5).

The executor asks ``holder_alive(run_id)`` before leaving a content to the run holding its
claim: ``False`` (Airflow knows that run's submit tasks or the run itself ended) takes the
claim over at once; ``None`` (Airflow cannot say) waits for the heartbeat timeout, and the
report says until when. The last test drives a real ``creative_sync`` run whose claims are
held by an earlier run Airflow marked failed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider.sync.executor import submit_batch
from airflow_creative_provider.sync.ledger import READY, SENDING, Ledger
from airflow_creative_provider.sync.planner import plan_run
from airflow_creative_provider.sync.report import report_rows
from tests.support.dags import sync_settings
from tests.support.fakes import FakeHook, creates, registry
from tests.support.images import png

ACCOUNT = "acct-topsort_default"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "creatives"
    png(root / "a.png", color="red")
    png(root / "b.png", color="blue")
    return root


def _held_by(ledger: Ledger, folder: Path, holder: str, run_id: str) -> tuple[Any, str]:
    """Plan ``run_id``; ``holder`` claims a.png first (a live heartbeat, as if it were sending)."""
    planned = plan_run({"source": str(folder), "platforms": ["topsort"]}, run_id=run_id, ledger=ledger, hooks=registry)
    sha = next(i["sha256"] for i in ledger.run_items(run_id) if i["file_key"] == "a.png")
    assert ledger.claim(sha, "topsort", ACCOUNT, holder)
    return planned, sha


def _row(ledger: Ledger, run_id: str, key: str) -> Any:
    return next(r for r in report_rows(run_id, ledger=ledger) if r.key == key)


def test_claims_of_a_run_airflow_says_ended_are_taken_over_at_once(
    fake: type[FakeHook], folder: Path, ledger: Ledger
) -> None:
    planned, sha = _held_by(ledger, folder, "killed-run", "next-run")
    asked: list[str] = []

    def ended(run_id: str) -> bool:
        asked.append(run_id)
        return False

    result = submit_batch(planned.batches[0], ledger=ledger, hooks=registry, holder_alive=ended)
    assert "killed-run" in asked
    assert sorted(creates(fake)) == ["a.png", "b.png"] and "sending" not in result.counts
    assert _row(ledger, "next-run", "a.png").remote_id
    assert ledger.claim_info(sha, "topsort", ACCOUNT) is None  # taken over, then released


def test_a_live_holder_keeps_its_claims(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    planned, _ = _held_by(ledger, folder, "overlapping-run", "manual-run")
    result = submit_batch(planned.batches[0], ledger=ledger, hooks=registry, holder_alive=lambda run_id: True)
    assert result.counts.get("sending") == 1 and creates(fake) == ["b.png"]
    row = _row(ledger, "manual-run", "a.png")
    assert row.state == SENDING and "overlapping-run" in row.reason and "still running" in row.reason


def test_a_holder_airflow_cannot_vouch_for_waits_for_the_heartbeat_timeout_and_says_until_when(
    fake: type[FakeHook], folder: Path, ledger: Ledger
) -> None:
    planned, _ = _held_by(ledger, folder, "script-run", "manual-run")
    submit_batch(planned.batches[0], ledger=ledger, hooks=registry, holder_alive=lambda run_id: None)
    row = _row(ledger, "manual-run", "a.png")
    assert row.state == SENDING and "a.png" not in creates(fake)
    assert "script-run" in row.reason and "heartbeat timeout (600 s, at " in row.reason and "UTC" in row.reason


# ---------------------------------------------------------------- through Airflow
@pytest.fixture
def sync_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sync_settings(tmp_path, monkeypatch)
    return creative_sandbox_env


def test_creative_sync_takes_over_the_claims_of_a_run_whose_submit_task_was_killed(sync_env, tmp_path: Path) -> None:
    """kill -9 leaves claims with a fresh heartbeat; Airflow marks the task failed; the next run sends at once."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    from airflow_creative_provider.hooks import hook_class
    from airflow_creative_provider.sync.source import list_source
    from tests.support.dags import load_dag

    sandbox = sync_env
    first, second = tmp_path / "first", tmp_path / "second"
    png(first / "one.png", color="red", width=300, height=250)
    dag = load_dag("creative_sync")
    killed = dag.test(run_conf={"source": str(first), "platforms": ["delta_projects"]})
    # What the scheduler leaves after the worker was killed mid-submit: the run still
    # running, its submit task failed; the claims it held kept a fresh heartbeat.
    with create_session() as session:
        session.query(DagRun).filter_by(dag_id="creative_sync", run_id=killed.run_id).update(
            {"state": DagRunState.RUNNING}
        )
        session.query(TaskInstance).filter_by(dag_id="creative_sync", run_id=killed.run_id, task_id="submit").update(
            {"state": TaskInstanceState.FAILED}
        )
    shutil.copytree(first, second)
    png(second / "two.png", color="blue", width=300, height=250)
    two = next(c for c in list_source(str(second)).files if c.key == "two.png")
    account = str(hook_class("delta_projects")("delta_projects_default").account)
    ledger = Ledger()
    assert ledger.claim(str(two.sha256), "delta_projects", account, killed.run_id)

    before = len(sandbox.journal(platform="delta_projects", method="POST"))
    run = dag.test(run_conf={"source": str(second), "platforms": ["delta_projects"]})
    assert run.state == "success"
    rows = {r.key: r for r in report_rows(run.run_id, ledger=ledger)}
    assert rows["two.png"].state == READY, rows["two.png"].reason
    assert len(sandbox.journal(platform="delta_projects", method="POST")) > before
    assert ledger.claim_info(str(two.sha256), "delta_projects", account) is None
