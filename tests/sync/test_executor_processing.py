"""Processing that fails on the platform, and waits that end by the run's deadline (issue 17 items 2, 3).

* A platform-side processing failure (MediaPocket could not fetch an expired URL; stuck
  beyond its bound) is ``failed``, not ``rejected``: the next runs send it again with a fresh
  URL, a bounded number of times, and it stays in the report until it lands.
* A run's waits end by a deadline that fits the schedule; what is still processing then is
  reported as such and polled by the next run.

The sandbox drives everything: its fault (``expire_url``) and clock controls, never sleeps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from airflow_creative_provider.hooks.base import PROCESSING_FAILED, AssetStatus
from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sync.executor import (
    WAIT_SHARE_OF_SCHEDULE,
    record_statuses,
    submit_batch,
    wait_targets,
)
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.planner import plan_run
from airflow_creative_provider.sync.report import report_rows
from tests.support.dags import sync_settings
from tests.support.fakes import FakeHook, reset
from tests.support.images import png


class StallingHook(FakeHook):
    """The fake platform, whose processing of the names in ``stalled`` fails every time."""

    stalled: ClassVar[set[str]] = set()

    def get_status(self, remote_ids: Any) -> dict[str, AssetStatus]:
        out = {}
        for remote_id in remote_ids:
            if self.assets[remote_id]["name"] in self.stalled:
                out[remote_id] = AssetStatus(remote_id, AssetStatus.FAILED, PROCESSING_FAILED, "could not fetch")
            else:
                out[remote_id] = AssetStatus(remote_id, AssetStatus.READY, "ACTIVE")
        return out


def _cycle(folder: Path, ledger: Ledger, run_id: str) -> dict[str, Any]:
    """One run through the engine (plan, submit, wait once, record); the row of a.png."""
    planned = plan_run(
        {"source": str(folder), "platforms": ["topsort"]}, run_id=run_id, ledger=ledger, hooks=lambda p: StallingHook
    )
    for ref in planned.batches:
        result = submit_batch(ref, ledger=ledger, hooks=lambda p: StallingHook, holder_alive=lambda r: None)
        targets = wait_targets(result, ledger=ledger)
        if targets.remote_ids:
            hook = StallingHook("topsort_default")
            statuses = {i: s.to_dict() for i, s in hook.get_status(list(targets.remote_ids)).items()}
            record_statuses(targets, statuses, ledger=ledger)
    return next(r.to_dict() for r in report_rows(run_id, ledger=ledger) if r.key == "a.png")


def test_a_processing_failure_is_sent_again_a_bounded_number_of_times_and_reported_until_it_lands(
    tmp_path: Path,
) -> None:
    reset()
    StallingHook.stalled = {"a.png"}
    folder = tmp_path / "creatives"
    png(folder / "a.png")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    sends = []
    for n in range(1, 7):
        row = _cycle(folder, ledger, f"run-{n}")
        sends.append(sum(1 for call, name in StallingHook.calls if name == "a.png" and call in ("create", "find")))
        assert row["state"] == "failed", (n, row)  # never "rejected", never green
    # the first send, then processing_retries (3) sends again; after that only polls
    assert sends == [1, 2, 3, 4, 4, 4]
    assert len([a for a in StallingHook.assets.values() if a["name"] == "a.png"]) == 1  # one asset, no duplicate
    assert "not sent again automatically" in row["reason"] and "after 4 sends" in row["reason"]

    StallingHook.stalled = set()  # the platform finally processed it: the next poll sees it ready
    assert _cycle(folder, ledger, "run-7")["state"] == "ready"


# ---------------------------------------------------------------- the deadline
def _wait_operator(**kwargs: Any) -> Any:
    from airflow_creative_provider.operators.sync import CreativeSyncWaitOperator

    return CreativeSyncWaitOperator(task_id="wait", targets={}, **kwargs)


def test_a_runs_waits_end_by_a_deadline_that_fits_an_hourly_schedule() -> None:
    from tests.support.dags import load_dag

    dag = load_dag("creative_sync")
    now = datetime(2026, 12, 2, 10, 50, tzinfo=UTC)
    op = _wait_operator(timeout=6 * 3600, fit_schedule=True)

    def left(started_minutes_ago: float) -> float | None:
        run = SimpleNamespace(start_date=now - timedelta(minutes=started_minutes_ago))
        return op.seconds_left({"dag_run": run, "dag": dag}, now=now.timestamp())

    assert WAIT_SHARE_OF_SCHEDULE * 3600 == 45 * 60
    assert left(10) == pytest.approx(35 * 60)  # the run started 10 min ago: 35 min of waiting left
    assert left(50) == 0  # past its deadline: one poll, then reported as processing
    assert _wait_operator(timeout=600, fit_schedule=True).seconds_left(
        {"dag_run": SimpleNamespace(start_date=now), "dag": dag}, now=now.timestamp()
    ) == pytest.approx(600)


# ---------------------------------------------------------------- through creative_sync and the sandbox
@pytest.fixture
def mp_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow_creative_provider.sandbox.state import ProcessingSpeed

    sync_settings(tmp_path, monkeypatch, poll_seconds=0.2)
    creative_sandbox_env.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def _sync(folder: Path, monkeypatch: pytest.MonkeyPatch, wait_seconds: float) -> tuple[Any, dict[str, Any]]:
    from tests.support.dags import load_dag

    monkeypatch.setenv("CREATIVE_SYNC_WAIT_SECONDS", str(wait_seconds))  # read when the DAG is parsed
    run = load_dag("creative_sync").test(run_conf={"source": str(folder), "platforms": ["mediapocket"]})
    row = next(r.to_dict() for r in report_rows(run.run_id, ledger=Ledger()) if r.key == "banner.png")
    return run, row


def _fetches(sandbox: Any) -> list[dict[str, Any]]:
    return [e for e in sandbox.journal(platform="mediapocket") if e.get("kind") == "fetch"]


def _until(condition: Any, what: str) -> None:
    """Wait for a sandbox event (a fetch thread finishing), not for time to pass."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_an_expired_media_url_is_retried_with_a_fresh_one_until_the_creative_lands(
    mp_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the asset stayed ``processing``, was reported rejected once, and later runs were green without it."""
    sandbox = mp_env
    folder = tmp_path / "creatives"
    png(folder / "banner.png", width=300, height=250)
    # Run 1: the staged URL has expired when MediaPocket fetches it.
    sandbox.state.faults.add("expire_url", path=r"^/s3/sandbox-staging/", method="GET", count=1)
    run, row = _sync(folder, monkeypatch, wait_seconds=0)
    _until(lambda: len(_fetches(sandbox)) == 1, "MediaPocket's fetch")
    assert _fetches(sandbox)[0]["status"] == 403
    assert run.state == "success" and row["state"] == "processing"  # the deadline ended the wait: reported so
    # Two hours pass without the asset changing (MediaPocket keeps it ``processing``).
    asset = sandbox.state.store("mediapocket")["assets"][row["remote_id"]]
    asset["modification_date"] = mp_sandbox.iso(time.time() - 2 * 3600)

    # Run 2: still processing two hours after its last change: the platform's processing failed.
    run, row = _sync(folder, monkeypatch, wait_seconds=0)
    assert row["state"] == "failed" and "could not fetch" in row["reason"], row
    assert run.state == "failed"  # visible, not a green run

    # Run 3: the media is added again, with a fresh URL, to the same asset; it lands.
    run, row = _sync(folder, monkeypatch, wait_seconds=120)
    assert row["state"] == "ready", row
    assert run.state == "success"
    fetches = _fetches(sandbox)
    assert [f["status"] for f in fetches] == [403, 200]
    creates = sandbox.journal(platform="mediapocket", method="POST", path=r"^/api/v2/projects/[^/]+/assets$")
    media = sandbox.journal(platform="mediapocket", method="POST", path=r"^/api/v2/assets/[^/]+/media$")
    assert len(creates) == 1 and len(media) == 1  # one asset; its media added once more, never a second asset
