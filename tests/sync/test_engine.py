"""The engine's task functions: plan -> submit -> wait targets -> record -> report.

Most tests use ``FakeHook``, an in-memory test double (a ``CreativePlatformHook`` subclass,
test-only) whose failures can be scripted per file; one test runs the whole cycle against
the sandbox's Delta Projects API over real HTTP with the real hook.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider.exceptions import PlatformConfigError
from airflow_creative_provider.sync.executor import (
    record_statuses,
    submit_batch,
    upload_concurrency,
    wait_targets,
)
from airflow_creative_provider.sync.ledger import READY, REJECTED, SENDING, Ledger
from airflow_creative_provider.sync.payloads import BatchRef, BatchResult, PlanSummary, Report
from airflow_creative_provider.sync.planner import plan_run, prepare_next_plan
from airflow_creative_provider.sync.report import (
    SyncFailed,
    build_report,
    format_table,
    raise_for_report,
    report_rows,
)
from tests.support.fakes import HOOKS, FakeHook, FakeNoArchiveHook, Killed, creates, registry
from tests.support.images import png


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "creatives"
    png(root / "a.png", color="red")
    png(root / "b.png", color="blue")
    png(root / "sub" / "c.png", color="green")
    (root / "copy-of-a.png").write_bytes((root / "a.png").read_bytes())
    (root / "notes.txt").write_text("not a creative")
    (root / "broken.png").write_bytes((root / "a.png").read_bytes()[:40])  # truncated image
    (root / ".DS_Store").write_bytes(b"x")
    return root


@dataclass
class Synced:
    """One run through the engine: its plan, submit results, report and every stored row."""

    plan: PlanSummary
    submits: list[BatchResult]
    report: Report
    rows: list[dict[str, Any]]
    table: str


def plan(folder: Path, ledger: Ledger, run_id: str, **params: Any) -> PlanSummary:
    params = {"source": str(folder), "platforms": ["topsort"], **params}
    return plan_run(params, run_id=run_id, ledger=ledger, hooks=registry)


def submit(ref: BatchRef, ledger: Ledger, **kwargs: Any) -> BatchResult:
    return submit_batch(ref, ledger=ledger, hooks=registry, **kwargs)


def run_sync(folder: Path, ledger: Ledger, run_id: str, *, wait: bool = True, **params: Any) -> Synced:
    """Plan, submit every batch, wait (by polling the fake), record and report: the DAG's flow."""
    planned = plan(folder, ledger, run_id, **params)
    summary = PlanSummary.from_json(json.loads(json.dumps(planned.without_batches().to_json())))
    submits, waits = [], []
    for ref in planned.batches:
        try:
            submits.append(submit(BatchRef.from_json(json.loads(json.dumps(ref.to_json()))), ledger))
        except PlatformConfigError:
            continue
    for submitted in submits:
        targets = wait_targets(submitted, ledger=ledger)
        if wait and targets.remote_ids:
            hook = HOOKS[targets.platform](targets.conn_id)
            statuses = {i: s.to_dict() for i, s in hook.get_status(list(targets.remote_ids)).items()}
            waits.append(record_statuses(targets, statuses, ledger=ledger).to_json())
    rows = report_rows(run_id, ledger=ledger, dry_run=summary.dry_run)
    report = build_report(summary, waits, ledger=ledger)
    json.dumps(report.to_json())
    return Synced(planned, submits, report, [r.to_dict() for r in rows], format_table(report, rows))


def row(synced: Synced, key: str, platform: str = "topsort") -> dict[str, Any]:
    return next(r for r in synced.rows if r["key"] == key and r["platform"] == platform)


def test_cold_sync_then_noop_rerun(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    s = run_sync(folder, ledger, "run-1")
    assert s.plan.listing["files"] == 6 and s.plan.listing["skipped"] == {"hidden": 1}
    assert creates(fake) == ["a.png", "b.png", "c.png"]  # the copy is an alias, sent once
    assert row(s, "a.png")["state"] == READY and row(s, "a.png")["remote_id"].startswith("fake-")
    alias = row(s, "copy-of-a.png")
    assert (alias["action"], alias["state"], alias["remote_id"]) == ("alias", READY, row(s, "a.png")["remote_id"])
    assert row(s, "notes.txt")["state"] == "refused" and "(type)" in row(s, "notes.txt")["reason"]
    assert row(s, "broken.png")["state"] == "refused" and "(corrupt)" in row(s, "broken.png")["reason"]
    assert not s.report.failed  # local refusals do not fail the run
    assert s.report.counts == {"topsort": {"ready": 4, "refused": 2}}
    assert s.report.bytes_sent == sum((folder / k).stat().st_size for k in ("a.png", "b.png", "sub/c.png"))
    (event,) = s.report.asset_events
    assert event.uri == "creative://topsort" and event.extra["account"] == "acct-topsort_default"
    assert event.extra["ready"] == 3 and sorted(event.extra["remote_ids"]) == sorted(fake.assets)
    assert "a.png" in s.table and "refused" in s.table
    stored = ledger.run("run-1")
    assert stored and stored["outcome"] == "success" and stored["bytes_sent"] == s.report.bytes_sent

    fake.calls.clear()
    # the same folder spelled differently is the same source
    s2 = run_sync(folder, ledger, "run-2", source=f"file://{folder}/")
    assert fake.calls == [] and s2.plan.batches == () and s2.submits == []
    assert s2.plan.listing["hashed"] == 0  # an unchanged folder is not read again
    assert s2.report.counts == s.report.counts and s2.report.asset_events == ()
    assert "a.png" not in {r["key"] for r in s2.rows}  # nothing to do: counted, not stored per run
    assert not s2.report.failed


def test_unchanged_reruns_reuse_a_saved_plan_until_anything_it_reads_changes(
    fake: type[FakeHook], folder: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sync(folder, ledger, "run-1")
    s2 = run_sync(folder, ledger, "run-2")  # the ledger changed in run-1: planned afresh
    assert s2.plan.reused_plan_of is None and s2.plan.batches == ()
    s3 = run_sync(folder, ledger, "run-3")
    assert s3.plan.reused_plan_of == "run-2" and s3.plan.listing == s2.plan.listing
    assert s3.plan.counts == s2.plan.counts and s3.plan.platforms == s2.plan.platforms
    assert s3.rows == s2.rows and s3.report.counts == s2.report.counts and not s3.report.failed
    assert "nothing changed since the plan of run run-2; reused" in s3.report.table
    saved = ledger.run("run-3")["plan_rows"]
    assert ledger.run("run-2")["plan_rows"] == saved and list(saved) == ["plan"]  # the rows are stored once
    assert [call for call in fake.calls if call[0] != "create"] == []  # nothing looked up

    def fresh(run_id: str, **params: Any) -> Synced:
        synced = run_sync(folder, ledger, run_id, **params)
        assert synced.plan.reused_plan_of is None, run_id
        return synced

    # a touched file (same content, new mtime) is read again; the next rerun reuses that plan
    os.utime(folder / "b.png", (time.time() + 5, time.time() + 5))
    touched = fresh("touched")
    assert touched.rows == s2.rows and touched.report.counts == s2.report.counts
    assert run_sync(folder, ledger, "after-touch").plan.reused_plan_of == "touched"
    # other params, re-hashing, other rules, another ledger state: planned afresh
    assert fresh("include", include="sub/**").report.counts == {"topsort": {"ready": 1}}
    recent = fresh("recent", min_age_seconds=3600)  # b.png's mtime is in the future
    assert recent.report.counts == {"topsort": {}} and recent.plan.listing["skipped"]["recent"] == 6
    fresh("checksum", checksum=True)
    fresh("checksum-again", checksum=True)
    monkeypatch.setattr(FakeHook, "rules", FakeHook.rules.with_(max_bytes=10))
    assert row(fresh("small-limit"), "a.png")["state"] == "refused"
    monkeypatch.undo()
    run_sync(folder, ledger, "before-reject")
    a = ledger.records("topsort", "acct-topsort_default")
    record = next(r for r in a if r.file_key == "a.png")
    ledger.record_status(
        record.sha256, "topsort", "acct-topsort_default", run_id="ops", state=REJECTED, reason="taken down"
    )
    rejected = fresh("after-reject")
    # a.png and its alias: an earlier rejection still standing does not fail the run
    assert rejected.report.counts["topsort"]["rejected"] == 2 and not rejected.report.failed
    # a new file is planned (and sent); no saved plan ever hides work
    png(folder / "d.png", color="yellow")
    assert run_sync(folder, ledger, "new-file").plan.reused_plan_of is None and creates(fake)[-1:] == ["d.png"]


def test_the_report_of_a_run_that_sent_anything_plans_the_next_run_ahead(
    fake: type[FakeHook], folder: Path, ledger: Ledger
) -> None:
    run_sync(folder, ledger, "run-1")
    assert prepare_next_plan("run-1", ledger=ledger, hooks=registry) == {"work": 0, "saved": True}
    s2 = run_sync(folder, ledger, "run-2")
    assert s2.plan.reused_plan_of == "run-1" and s2.plan.batches == () and s2.plan.listing["hashed"] == 0
    assert s2.report.counts["topsort"]["ready"] == 4 and not s2.report.failed
    # work left for the next run (a send that failed) is not saved: that run plans afresh and retries
    fake.fail = {"d.png"}
    png(folder / "d.png", color="yellow")
    run_sync(folder, ledger, "run-3")
    assert prepare_next_plan("run-3", ledger=ledger, hooks=registry) == {"work": 1, "saved": False}
    fake.fail = set()
    s4 = run_sync(folder, ledger, "run-4")
    assert s4.plan.reused_plan_of is None and creates(fake)[-1:] == ["d.png"]
    assert prepare_next_plan("dry", ledger=ledger, hooks=registry) is None  # no such run
    run_sync(folder, ledger, "dry", dry_run=True)
    assert prepare_next_plan("dry", ledger=ledger, hooks=registry) is None


def test_saved_plans_are_pruned_to_the_newest_of_each_source(ledger: Ledger) -> None:
    for n in range(8):
        ledger.save_plan(f"{n:064d}", source="/src", inputs="i", plan={"n": n}, rows={"fields": [], "rows": []})
    ledger.save_plan("f" * 64, source="/other", inputs="i", plan={}, rows=[])
    assert [n for n in range(8) if ledger.saved_plan(f"{n:064d}")] == [3, 4, 5, 6, 7]
    assert ledger.saved_plan("f" * 64) == {}


def test_changed_file_only_is_sent_and_strict_fails_on_refusals(
    fake: type[FakeHook], folder: Path, ledger: Ledger
) -> None:
    run_sync(folder, ledger, "run-1")
    fake.calls.clear()
    png(folder / "b.png", 30, 30, "yellow")
    s = run_sync(folder, ledger, "run-2", strict=True)
    assert creates(fake) == ["b.png"]
    assert s.report.failed and all("refused" in f for f in s.report.failures)
    with pytest.raises(SyncFailed, match="broken.png"):
        raise_for_report(s.report)
    with pytest.raises(SyncFailed, match="broken.png"):
        raise_for_report(s.report.to_json())  # as XCom holds it


def test_one_failure_never_stops_the_others_and_fails_the_run(
    fake: type[FakeHook], folder: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail = {"b.png"}
    fake.reject = {"sub/c.png", "c.png"}
    caplog.set_level("INFO")
    s = run_sync(folder, ledger, "run-1")
    assert creates(fake) == ["a.png", "c.png"]
    assert row(s, "a.png")["state"] == READY
    assert row(s, "b.png")["state"] == "failed" and "503" in row(s, "b.png")["reason"]
    assert row(s, "sub/c.png")["state"] == "rejected"
    assert s.submits[0].failed == 1
    assert s.report.failed and s.report.problems_total == 2 and len(s.report.failures) == 2
    with pytest.raises(SyncFailed, match="problem"):
        raise_for_report(s.report)
    assert "files" in caplog.text and "/s" in caplog.text  # progress lines
    assert (ledger.run("run-1") or {})["outcome"] == "failed"

    # the next run retries the failed send (resuming) and does not fail for the old rejection
    fake.fail = set()
    fake.calls.clear()
    s2 = run_sync(folder, ledger, "run-2")
    assert ("find", "b.png") in fake.calls and creates(fake) == ["b.png"]
    assert row(s2, "b.png")["state"] == READY
    assert s2.report.counts["topsort"]["rejected"] == 1 and not s2.report.failed


def test_killed_after_create_resumes_without_duplicate(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    fake.kill_after_create = {"a.png"}
    planned = plan(folder, ledger, "run-1")
    with pytest.raises(Killed):
        submit(planned.batches[0], ledger, concurrency=1)
    item = next(i for i in ledger.run_items("run-1") if i["file_key"] == "a.png")
    record = ledger.get(item["sha256"], "topsort", "acct-topsort_default")
    assert record and record.state == SENDING and record.remote_id is None  # intent, no id
    assert len([a for a in fake.assets.values() if a["name"] == "a.png"]) == 1

    fake.calls.clear()
    s = run_sync(folder, ledger, "run-2")
    assert ("find", "a.png") in fake.calls
    assert [a["name"] for a in fake.assets.values()].count("a.png") == 1  # no second asset
    assert row(s, "a.png")["state"] == READY and not s.report.failed


def test_a_claim_held_by_an_overlapping_run_is_left_alone(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    planned = plan(folder, ledger, "manual")
    item = next(i for i in ledger.run_items("manual") if i["file_key"] == "a.png")
    assert ledger.claim(item["sha256"], "topsort", "acct-topsort_default", "scheduled")
    result = submit(planned.batches[0], ledger)
    assert result.counts["sending"] == 1
    a = next(r for r in report_rows("manual", ledger=ledger) if r.key == "a.png")
    assert a.state == SENDING and a.reason and "scheduled" in a.reason
    assert "a.png" not in creates(fake) and creates(fake) == ["b.png", "c.png"]


def test_overlapping_runs_create_each_asset_once(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    FakeHook.upload_delay = 0.05
    try:
        plans = [plan(folder, ledger, r) for r in ("s", "m")]
        threads = [threading.Thread(target=submit, args=(p.batches[0], ledger)) for p in plans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        FakeHook.upload_delay = 0.0
    assert creates(fake) == ["a.png", "b.png", "c.png"]


def test_dry_run_sends_nothing(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    s = run_sync(folder, ledger, "dry", dry_run=True)
    assert fake.calls == [] and s.plan.dry_run and s.plan.batches == ()
    assert row(s, "a.png")["state"] == "would_upload" and s.report.dry_run
    assert ledger.records("topsort", "acct-topsort_default") == []
    assert "dry run" in s.report.table and not s.report.failed


def test_batches_concurrency_and_rate_limit(fake: type[FakeHook], tmp_path: Path, ledger: Ledger) -> None:
    folder = tmp_path / "many"
    for i in range(12):
        png(folder / f"img{i:02}.png", 10 + i, 10)
    planned = plan(folder, ledger, "r", batch_size=5)
    assert [b.items for b in planned.batches] == [5, 5, 2]
    assert [b.index for b in planned.batches] == [0, 1, 2]
    assert [len(ledger.run_items("r", platform="topsort", batch=b.index)) for b in planned.batches] == [5, 5, 2]
    FakeHook.upload_delay = 0.1
    FakeHook.rate_limit = (3, 1.0)
    try:
        assert upload_concurrency(FakeHook) == 3 and upload_concurrency(FakeHook, 2) == 2
        submit(planned.batches[0], ledger)
    finally:
        FakeHook.upload_delay = 0.0
        FakeHook.rate_limit = None
    assert 1 < fake.peak <= 3


def test_batches_grow_so_that_a_run_maps_at_most_max_batches_tasks(
    fake: type[FakeHook], tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_creative_provider.sync import planner

    monkeypatch.setattr(planner, "MAX_BATCHES", 4)
    folder = tmp_path / "many"
    for i in range(12):
        png(folder / f"img{i:02}.png", 10 + i, 10)
    planned = plan(folder, ledger, "r", batch_size=1, platforms=["topsort", "mediamath"])
    assert len(planned.batches) == 4 and all(b.items == 6 for b in planned.batches)
    assert sorted(i["seq"] for b in planned.batches for i in ledger.run_items("r", platform=b.platform, batch=b.index))
    assert sum(len(ledger.run_items("r", platform=b.platform, batch=b.index)) for b in planned.batches) == 24


def test_archive_removed_and_kept(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    both = ["topsort", "mediamath"]
    run_sync(folder, ledger, "run-1", platforms=both)
    (folder / "b.png").unlink()
    s = run_sync(folder, ledger, "run-2", platforms=both)
    assert row(s, "b.png")["action"] == "keep" and "archive_removed is off" in row(s, "b.png")["reason"]
    fake.calls.clear()
    s = run_sync(folder, ledger, "run-3", platforms=both, archive_removed=True)
    archived = [c for c in fake.calls if c[0] == "archive"]
    assert len(archived) == 1  # only the platform that can archive
    assert row(s, "b.png")["state"] == "archived"
    assert "cannot archive" in row(s, "b.png", "mediamath")["reason"]
    s = run_sync(folder, ledger, "run-4", platforms=["topsort"], archive_removed=True)
    assert not [r for r in s.rows if r["key"] == "b.png"]  # archived: no longer reported


def test_max_archive_reports_instead(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    run_sync(folder, ledger, "run-1")
    for name in ("a.png", "copy-of-a.png", "b.png"):
        (folder / name).unlink()
    fake.calls.clear()
    s = run_sync(folder, ledger, "run-2", archive_removed=True, max_archive=1)
    assert [c for c in fake.calls if c[0] == "archive"] == []
    assert {r["key"]: r["action"] for r in s.rows if r["action"] == "would_archive"} == {
        "a.png": "would_archive",
        "b.png": "would_archive",
    }
    assert "max_archive=1" in s.report.table


def test_missing_connection_fails_only_that_platform(
    fake: type[FakeHook], folder: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    class MissingConnection(FakeNoArchiveHook):
        @property
        def account(self) -> str:
            raise PlatformConfigError("Fake: Airflow connection 'nope' was not found.", platform="mediamath")

    monkeypatch.setitem(HOOKS, "mediamath", MissingConnection)
    s = run_sync(folder, ledger, "run-1", platforms=["topsort", "mediamath"])
    assert s.plan.platforms["mediamath"].error and s.plan.platforms["topsort"].error is None
    error_batch = next(b for b in s.plan.batches if b.platform == "mediamath")
    with pytest.raises(PlatformConfigError, match="not found"):
        submit(error_batch, ledger)
    assert creates(fake) == ["a.png", "b.png", "c.png"]
    assert s.report.counts["mediamath"] == {"error": 6}
    assert s.report.failed and any(f.startswith("mediamath:") for f in s.report.failures)


def test_report_marks_batches_whose_task_died(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    planned = plan(folder, ledger, "r")
    report = build_report(planned, [], ledger=ledger)
    (problem,) = report.problems
    assert "topsort: 3 item(s) not sent" in problem and report.failed
    a = next(r for r in report_rows("r", ledger=ledger) if r.key == "a.png")
    assert a.state == "not_sent"


def test_the_report_keeps_counts_and_the_first_problems_only(
    fake: type[FakeHook], tmp_path: Path, ledger: Ledger
) -> None:
    from airflow_creative_provider.sync.report import MAX_PROBLEMS

    folder = tmp_path / "many"
    for i in range(MAX_PROBLEMS + 10):
        png(folder / f"img{i:03}.png", 10 + i, 10)
    fake.fail = {f"img{i:03}.png" for i in range(MAX_PROBLEMS + 10)}
    s = run_sync(folder, ledger, "r")
    assert s.report.problems_total == MAX_PROBLEMS + 10 and len(s.report.problems) == MAX_PROBLEMS
    assert s.report.counts == {"topsort": {"failed": MAX_PROBLEMS + 10}}
    assert s.report.see["ledger_run_id"] == "r"
    assert "rows" not in s.report.to_json()
    assert f"FAILED: {MAX_PROBLEMS + 10} problem(s)" in s.report.table
    assert len(json.dumps(s.report.to_json())) < 64 * 1024


def test_unknown_platform_and_missing_source_fail_at_once(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        plan_run({"source": str(tmp_path), "platforms": ["myspace"]}, run_id="r", ledger=ledger)
    with pytest.raises(ValueError, match="does not exist"):
        plan_run({"source": str(tmp_path / "nope"), "platforms": ["topsort"]}, run_id="r", ledger=ledger)


# ----------------------------------------------------------------------------- the real sandbox
def test_delta_projects_end_to_end_over_http(
    creative_sandbox_env: Any, folder: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Plan, submit, wait and report with the real Delta Projects hook against the sandbox."""
    from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook
    from airflow_creative_provider.sandbox.state import ProcessingSpeed

    state = creative_sandbox_env.state
    state.speeds["delta_projects"] = ProcessingSpeed(polls=1, seconds=None)
    caplog.set_level("DEBUG")
    params = {"source": str(folder), "platforms": ["delta_projects"]}
    planned = plan_run(params, run_id="http-1", ledger=ledger)
    results = [submit_batch(b, ledger=ledger) for b in planned.batches]
    waits = []
    hook = DeltaProjectsHook()
    for result in results:
        targets = wait_targets(result, ledger=ledger)
        statuses: dict[str, Any] = {}
        for _ in range(5):
            statuses.update({i: s.to_dict() for i, s in hook.get_status(list(targets.remote_ids)).items()})
            if all(s["state"] in ("ready", "rejected") for s in statuses.values()):
                break
        waits.append(record_statuses(targets, statuses, ledger=ledger))
    report = build_report(planned, waits, ledger=ledger)
    rows = {r.key: r for r in report_rows("http-1", ledger=ledger)}
    assert rows["a.png"].state == READY, report.table
    assert rows["copy-of-a.png"].action == "alias" and rows["copy-of-a.png"].state == READY
    assert rows["broken.png"].state == "refused"
    assert not report.failed, report.failures
    uploads = creative_sandbox_env.journal(platform="delta_projects", method="POST")
    assert len(uploads) == 3

    # rerun: nothing sent
    plan2 = plan_run(params, run_id="http-2", ledger=ledger)
    assert plan2.batches == ()
    assert len(creative_sandbox_env.journal(platform="delta_projects", method="POST")) == 3

    # no secret in logs, XCom-bound payloads or the report
    api_key = json.loads(creative_sandbox_env.connection_env()["AIRFLOW_CONN_DELTA_PROJECTS_DEFAULT"])["password"]
    payloads = [planned.to_json(), *(r.to_json() for r in results), *(w.to_json() for w in waits), report.to_json()]
    for text in (caplog.text, json.dumps(payloads), format_table(report, list(rows.values()))):
        assert api_key not in text


async def test_wait_operator_defers_to_one_trigger_per_batch(
    creative_sandbox_env: Any, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CreativeSyncWaitOperator`` polls once, defers, and records what the trigger saw."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_creative_provider.operators.sync import CreativeSyncWaitOperator
    from airflow_creative_provider.sandbox.state import ProcessingSpeed
    from airflow_creative_provider.triggers.base import AssetStatusTrigger

    db = tmp_path / "ledger-from-connection.db"
    monkeypatch.setenv("AIRFLOW_CONN_CREATIVE_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    creative_sandbox_env.state.speeds["delta_projects"] = ProcessingSpeed(polls=3, seconds=None)
    planned = plan_run({"source": str(folder), "platforms": ["delta_projects"]}, run_id="wait-1")
    (batch,) = planned.batches
    result = submit_batch(batch)
    assert result.waiting == 3 and len(wait_targets(result).remote_ids) == 3

    operator = CreativeSyncWaitOperator(task_id="wait", targets=result.to_json(), poll_interval=0.01, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "wait-1"})
    trigger = deferred.value.trigger
    assert isinstance(trigger, AssetStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_creative_provider.triggers.base.AssetStatusTrigger"
    assert kwargs["platform"] == "delta_projects" and sorted(kwargs["remote_ids"]) == sorted(operator.batch.remote_ids)
    json.dumps(kwargs)
    rebuilt = AssetStatusTrigger(**kwargs)
    events = [event async for event in rebuilt.run()]
    assert events[0].payload["status"] == "done"
    recorded = operator.execute_complete({"run_id": "wait-1"}, events[0].payload, **deferred.value.kwargs)
    assert recorded["counts"] == {READY: 3} and recorded["pending"] == 0
    ledger = Ledger()
    assert ledger.url == f"sqlite:///{db}"
    states = {
        r.file_key: r.state for r in ledger.records("delta_projects", planned.platforms["delta_projects"].account)
    }
    assert states == {"a.png": READY, "b.png": READY, "sub/c.png": READY}
    report = build_report(planned, [recorded])
    rows = {r.key: r for r in report_rows("wait-1")}
    assert not report.failed and rows["sub/c.png"].state == READY

    # nothing to wait for: no hook call, an empty result
    nothing = BatchResult.from_json({**result.to_json(), "waiting": 0})
    empty = CreativeSyncWaitOperator(task_id="w2", targets=nothing.to_json()).execute({"run_id": "wait-1"})
    assert empty["counts"] == {}
    # a poll error is reported and fails the run in the report
    failed = operator.execute_complete({"run_id": "wait-1"}, {"status": "error", "message": "503", "assets": {}})
    assert failed["error"] == "503"
    assert build_report(planned, [failed]).failed
