"""The engine's task functions: plan -> submit -> wait targets -> record -> report.

Most tests use ``FakeHook``, an in-memory test double (a ``CreativePlatformHook`` subclass,
test-only) whose failures can be scripted per file; one test runs the whole cycle against
the sandbox's Delta Projects API over real HTTP with the real hook.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative, PlatformRules
from airflow_creative_provider.exceptions import (
    PlatformConfigError,
    PlatformUnavailable,
)
from airflow_creative_provider.hooks.base import AssetStatus, CreativePlatformHook, RemoteAsset
from airflow_creative_provider.sync import engine
from airflow_creative_provider.sync.engine import (
    SyncFailed,
    build_report,
    plan_run,
    prepare_next_plan,
    raise_for_report,
    record_statuses,
    submit_batch,
    unpack_rows,
    upload_concurrency,
    wait_targets,
)
from airflow_creative_provider.sync.ledger import READY, REJECTED, SENDING, Ledger


class Killed(BaseException):
    """Stands for the worker dying between the create call and the ledger write."""


class FakeHook(CreativePlatformHook):
    """Test-only in-memory platform: assets in a dict, failures scripted by file name."""

    conn_name_attr = "fake_conn_id"
    default_conn_name = "fake_default"
    conn_type = "fake"
    hook_name = "Fake"
    platform = "topsort"
    rules: ClassVar[PlatformRules] = PlatformRules(
        platform="topsort", mimetypes=frozenset({"image/png", "image/jpeg"}), max_bytes=50_000
    )
    supports_archive: ClassVar[bool] = True
    supports_versions: ClassVar[bool] = False
    rate_limit: ClassVar[tuple[int, float] | None] = None
    upload_delay: ClassVar[float] = 0.0

    # shared state, reset per test by the ``fake`` fixture
    assets: ClassVar[dict[str, dict[str, Any]]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []
    fail: ClassVar[set[str]] = set()
    reject: ClassVar[set[str]] = set()
    kill_after_create: ClassVar[set[str]] = set()
    active: ClassVar[int] = 0
    peak: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    @property
    def account(self) -> str:
        return f"acct-{self.conn_id}"

    @property
    def call_limit(self) -> tuple[int, float] | None:
        return self.rate_limit  # no connection behind the fake: no extras to read

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        self.calls.append(("find", creative.name))
        for remote_id, asset in self.assets.items():
            if asset["sha256"] == creative.sha256:
                return RemoteAsset(remote_id, state=asset["state"])
        return None

    def submit(self, creative: Creative, *, resume: bool = False, previous_id: str | None = None) -> RemoteAsset:
        with self.lock:
            type(self).active += 1
            type(self).peak = max(self.peak, self.active)
        try:
            time.sleep(self.upload_delay)
            if resume:
                found = self.find_asset(creative)
                if found:
                    return found
            if creative.name in self.fail:
                raise PlatformUnavailable(f"Fake: POST /assets answered 503 for {creative.name}", platform="topsort")
            with creative.open() as handle:
                data = handle.read()
            with self.lock:
                remote_id = f"fake-{len(self.assets) + 1}"
                self.assets[remote_id] = {
                    "sha256": creative.sha256,
                    "name": creative.name,
                    "state": AssetStatus.PROCESSING,
                    "size": len(data),
                    "previous_id": previous_id,
                }
            self.calls.append(("create", creative.name))
            if creative.name in self.kill_after_create:
                self.kill_after_create.discard(creative.name)
                raise Killed()
            return RemoteAsset(remote_id, state=AssetStatus.PROCESSING, raw_state="UPLOADED")
        finally:
            with self.lock:
                type(self).active -= 1

    def get_status(self, remote_ids: Any) -> dict[str, AssetStatus]:
        out = {}
        for remote_id in remote_ids:
            asset = self.assets[remote_id]
            if asset["state"] == AssetStatus.PROCESSING:
                rejected = asset["name"] in self.reject
                asset["state"] = AssetStatus.REJECTED if rejected else AssetStatus.READY
                asset["reason"] = "fails the content policy" if rejected else None
            out[remote_id] = AssetStatus(
                remote_id, asset["state"], raw_state=asset["state"].upper(), reason=asset.get("reason")
            )
        return out

    def archive(self, remote_id: str) -> None:
        self.calls.append(("archive", remote_id))
        self.assets[remote_id]["state"] = "archived"


class FakeNoArchiveHook(FakeHook):
    platform = "mediamath"
    supports_archive: ClassVar[bool] = False
    rules: ClassVar[PlatformRules] = FakeHook.rules.with_(platform="mediamath")


HOOKS: dict[str, type[CreativePlatformHook]] = {"topsort": FakeHook, "mediamath": FakeNoArchiveHook}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeHook]:
    monkeypatch.setattr(engine, "_hook_class", lambda platform: HOOKS[platform])
    FakeHook.assets = {}
    FakeHook.calls = []
    FakeHook.fail = set()
    FakeHook.reject = set()
    FakeHook.kill_after_create = set()
    FakeHook.active = FakeHook.peak = 0
    return FakeHook


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")


def png(path: Path, width: int = 20, height: int = 10, color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


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


def run_sync(
    folder: Path, ledger: Ledger, run_id: str, *, wait: bool = True, **params: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Plan, submit every batch, wait (by polling the fake), record and report: the DAG's flow."""
    params = {"source": str(folder), "platforms": ["topsort"], **params}
    plan = plan_run(params, run_id=run_id, ledger=ledger)
    json.dumps(plan)
    submits, waits = [], []
    for batch in plan["batches"]:
        try:
            submits.append(submit_batch(batch["platform"], batch["conn_id"], batch, run_id, ledger=ledger))
        except PlatformConfigError:
            continue
    for submitted in submits:
        targets = wait_targets(submitted)
        if wait and targets["remote_ids"]:
            hook = HOOKS[targets["platform"]](targets["conn_id"])
            statuses = {i: s.to_dict() for i, s in hook.get_status(targets["remote_ids"]).items()}
            waits.append(record_statuses(targets, statuses, run_id, ledger=ledger))
    report = build_report(plan, submits, waits, ledger=ledger)
    json.dumps(report)
    return plan, submits, report


def row(report: dict[str, Any], key: str, platform: str = "topsort") -> dict[str, Any]:
    return next(r for r in report["rows"] if r["key"] == key and r["platform"] == platform)


def creates(fake: type[FakeHook]) -> list[str]:
    return sorted(name for call, name in fake.calls if call == "create")


def test_cold_sync_then_noop_rerun(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    plan, submits, report = run_sync(folder, ledger, "run-1")
    assert plan["listing"]["files"] == 6 and plan["listing"]["skipped"] == {"hidden": 1}
    assert creates(fake) == ["a.png", "b.png", "c.png"]  # the copy is an alias, sent once
    assert row(report, "a.png")["state"] == READY and row(report, "a.png")["remote_id"].startswith("fake-")
    alias = row(report, "copy-of-a.png")
    assert (alias["action"], alias["state"], alias["remote_id"]) == ("alias", READY, row(report, "a.png")["remote_id"])
    assert row(report, "notes.txt")["state"] == "refused" and "(type)" in row(report, "notes.txt")["reason"]
    assert row(report, "broken.png")["state"] == "refused" and "(corrupt)" in row(report, "broken.png")["reason"]
    assert not report["failed"]  # local refusals do not fail the run
    assert report["bytes_sent"] == sum((folder / k).stat().st_size for k in ("a.png", "b.png", "sub/c.png"))
    (event,) = report["asset_events"]
    assert event["uri"] == "creative://topsort/acct-topsort_default"
    assert event["extra"]["ready"] == 3 and sorted(event["extra"]["remote_ids"]) == sorted(fake.assets)
    assert "a.png" in report["table"] and "refused" in report["table"]
    stored = ledger.run("run-1")
    assert stored and stored["outcome"] == "success" and stored["bytes_sent"] == report["bytes_sent"]

    fake.calls.clear()
    # the same folder spelled differently is the same source
    plan2, submits2, report2 = run_sync(folder, ledger, "run-2", source=f"file://{folder}/")
    assert fake.calls == [] and plan2["batches"] == [] and submits2 == []
    assert plan2["listing"]["hashed"] == 0  # an unchanged folder is not read again
    assert row(report2, "a.png")["state"] == READY and report2["asset_events"] == []
    assert not report2["failed"]


def test_unchanged_reruns_reuse_a_saved_plan_until_anything_it_reads_changes(
    fake: type[FakeHook], folder: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sync(folder, ledger, "run-1")
    plan2, _, report2 = run_sync(folder, ledger, "run-2")  # the ledger changed in run-1: planned afresh
    assert plan2["reused_plan_of"] is None and plan2["batches"] == []
    plan3, _, report3 = run_sync(folder, ledger, "run-3")
    assert plan3["reused_plan_of"] == "run-2" and plan3["listing"] == plan2["listing"]
    assert plan3["counts"] == plan2["counts"] and plan3["platforms"] == plan2["platforms"]
    assert report3["rows"] == report2["rows"] and not report3["failed"]
    assert "nothing changed since the plan of run run-2; reused" in report3["table"]
    saved = ledger.run("run-3")["plan_rows"]
    assert ledger.run("run-2")["plan_rows"] == saved and list(saved) == ["plan"]  # the rows are stored once
    assert [call for call in fake.calls if call[0] != "create"] == []  # nothing looked up

    def fresh(run_id: str, **params: Any) -> dict[str, Any]:
        plan, _, report = run_sync(folder, ledger, run_id, **params)
        assert plan["reused_plan_of"] is None, run_id
        return report

    # a touched file (same content, new mtime) is read again; the next rerun reuses that plan
    os.utime(folder / "b.png", (time.time() + 5, time.time() + 5))
    assert fresh("touched")["rows"] == report2["rows"]
    assert run_sync(folder, ledger, "after-touch")[0]["reused_plan_of"] == "touched"
    # other params, re-hashing, other rules, another ledger state: planned afresh
    assert [r["key"] for r in fresh("include", include="sub/**")["rows"]] == ["sub/c.png"]
    recent = fresh("recent", min_age_seconds=3600)  # b.png's mtime is in the future
    assert "b.png" not in {r["key"] for r in recent["rows"]} and recent["listing"]["skipped"]["recent"] == 6
    fresh("checksum", checksum=True)
    fresh("checksum-again", checksum=True)
    monkeypatch.setattr(FakeHook, "rules", FakeHook.rules.with_(max_bytes=10))
    assert row(fresh("small-limit"), "a.png")["state"] == "refused"
    monkeypatch.undo()
    monkeypatch.setattr(engine, "_hook_class", lambda platform: HOOKS[platform])
    run_sync(folder, ledger, "before-reject")
    a = row(report2, "a.png")
    sha = next(r["sha256"] for r in unpack_rows(ledger.plan_rows("run-2")) if r["key"] == "a.png")
    ledger.record_status(sha, "topsort", "acct-topsort_default", run_id="ops", state=REJECTED, reason="taken down")
    rejected = row(fresh("after-reject"), "a.png")
    assert (rejected["state"], rejected["reason"], rejected["remote_id"]) == (REJECTED, "taken down", a["remote_id"])
    # a new file is planned (and sent); no saved plan ever hides work
    png(folder / "d.png", color="yellow")
    plan, _, _ = run_sync(folder, ledger, "new-file")
    assert plan["reused_plan_of"] is None and creates(fake)[-1:] == ["d.png"]


def test_the_report_of_a_run_that_sent_anything_plans_the_next_run_ahead(
    fake: type[FakeHook], folder: Path, ledger: Ledger
) -> None:
    run_sync(folder, ledger, "run-1")
    assert prepare_next_plan("run-1", ledger=ledger) == {"work": 0, "saved": True}
    plan2, _, report2 = run_sync(folder, ledger, "run-2")
    assert plan2["reused_plan_of"] == "run-1" and plan2["batches"] == [] and plan2["listing"]["hashed"] == 0
    assert row(report2, "a.png")["state"] == READY and not report2["failed"]
    # work left for the next run (a send that failed) is not saved: that run plans afresh and retries
    fake.fail = {"d.png"}
    png(folder / "d.png", color="yellow")
    run_sync(folder, ledger, "run-3")
    assert prepare_next_plan("run-3", ledger=ledger) == {"work": 1, "saved": False}
    fake.fail = set()
    plan4, _, _ = run_sync(folder, ledger, "run-4")
    assert plan4["reused_plan_of"] is None and creates(fake)[-1:] == ["d.png"]
    assert prepare_next_plan("dry", ledger=ledger) is None  # no such run
    run_sync(folder, ledger, "dry", dry_run=True)
    assert prepare_next_plan("dry", ledger=ledger) is None


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
    _, _, report = run_sync(folder, ledger, "run-2", strict=True)
    assert creates(fake) == ["b.png"]
    assert report["failed"] and all("refused" in f for f in report["failures"])
    with pytest.raises(SyncFailed, match="broken.png"):
        raise_for_report(report)


def test_one_failure_never_stops_the_others_and_fails_the_run(
    fake: type[FakeHook], folder: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail = {"b.png"}
    fake.reject = {"sub/c.png", "c.png"}
    caplog.set_level("INFO")
    _, submits, report = run_sync(folder, ledger, "run-1")
    assert creates(fake) == ["a.png", "c.png"]
    assert row(report, "a.png")["state"] == READY
    assert row(report, "b.png")["state"] == "failed" and "503" in row(report, "b.png")["reason"]
    assert row(report, "sub/c.png")["state"] == "rejected"
    assert submits[0]["failed"] == 1
    assert report["failed"] and len(report["failures"]) == 2
    with pytest.raises(SyncFailed, match="problem"):
        raise_for_report(report)
    assert "files" in caplog.text and "/s" in caplog.text  # progress lines
    assert (ledger.run("run-1") or {})["outcome"] == "failed"

    # the next run retries the failed send (resuming) and does not fail for the old rejection
    fake.fail = set()
    fake.calls.clear()
    _, _, report2 = run_sync(folder, ledger, "run-2")
    assert ("find", "b.png") in fake.calls and creates(fake) == ["b.png"]
    assert row(report2, "b.png")["state"] == READY
    assert row(report2, "sub/c.png")["state"] == "rejected" and not report2["failed"]


def test_killed_after_create_resumes_without_duplicate(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    fake.kill_after_create = {"a.png"}
    plan = plan_run({"source": str(folder), "platforms": ["topsort"]}, run_id="run-1", ledger=ledger)
    with pytest.raises(Killed):
        submit_batch("topsort", "topsort_default", plan["batches"][0], "run-1", ledger=ledger, concurrency=1)
    record = ledger.get(
        next(r["sha256"] for r in plan["batches"][0]["items"] if r["key"] == "a.png"), "topsort", "acct-topsort_default"
    )
    assert record and record.state == SENDING and record.remote_id is None  # intent, no id
    assert len([a for a in fake.assets.values() if a["name"] == "a.png"]) == 1

    fake.calls.clear()
    _, _, report = run_sync(folder, ledger, "run-2")
    assert ("find", "a.png") in fake.calls
    assert [a["name"] for a in fake.assets.values()].count("a.png") == 1  # no second asset
    assert row(report, "a.png")["state"] == READY and not report["failed"]


def test_a_claim_held_by_an_overlapping_run_is_left_alone(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    plan = plan_run({"source": str(folder), "platforms": ["topsort"]}, run_id="manual", ledger=ledger)
    item = next(i for i in plan["batches"][0]["items"] if i["key"] == "a.png")
    assert ledger.claim(item["sha256"], "topsort", "acct-topsort_default", "scheduled")
    result = submit_batch("topsort", "topsort_default", plan["batches"][0], "manual", ledger=ledger)
    a = next(r for r in result["results"] if r["key"] == "a.png")
    assert a["state"] == SENDING and "scheduled" in a["reason"]
    assert "a.png" not in creates(fake) and creates(fake) == ["b.png", "c.png"]


def test_overlapping_runs_create_each_asset_once(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    FakeHook.upload_delay = 0.05
    try:
        plans = [
            plan_run({"source": str(folder), "platforms": ["topsort"]}, run_id=r, ledger=ledger) for r in ("s", "m")
        ]
        threads = [
            threading.Thread(
                target=submit_batch,
                args=("topsort", "topsort_default", p["batches"][0], p["run_id"]),
                kwargs={"ledger": ledger},
            )
            for p in plans
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        FakeHook.upload_delay = 0.0
    assert creates(fake) == ["a.png", "b.png", "c.png"]


def test_dry_run_sends_nothing(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    plan, submits, report = run_sync(folder, ledger, "dry", dry_run=True)
    assert fake.calls == [] and plan["dry_run"]
    assert row(report, "a.png")["state"] == "would_upload" and report["dry_run"]
    assert all(wait_targets(s)["remote_ids"] == [] for s in submits)
    assert ledger.records("topsort", "acct-topsort_default") == []
    assert "dry run" in report["table"] and not report["failed"]


def test_batches_concurrency_and_rate_limit(fake: type[FakeHook], tmp_path: Path, ledger: Ledger) -> None:
    folder = tmp_path / "many"
    for i in range(12):
        png(folder / f"img{i:02}.png", 10 + i, 10)
    plan = plan_run({"source": str(folder), "platforms": ["topsort"], "batch_size": 5}, run_id="r", ledger=ledger)
    assert [len(b["items"]) for b in plan["batches"]] == [5, 5, 2]
    assert [b["index"] for b in plan["batches"]] == [0, 1, 2]
    FakeHook.upload_delay = 0.1
    FakeHook.rate_limit = (3, 1.0)
    try:
        assert upload_concurrency(FakeHook) == 3 and upload_concurrency(FakeHook, 2) == 2
        submit_batch("topsort", "topsort_default", plan["batches"][0], "r", ledger=ledger)
    finally:
        FakeHook.upload_delay = 0.0
        FakeHook.rate_limit = None
    assert 1 < fake.peak <= 3


def test_archive_removed_and_kept(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    run_sync(folder, ledger, "run-1", platforms=["topsort", "mediamath"])
    (folder / "b.png").unlink()
    _, _, report = run_sync(folder, ledger, "run-2", platforms=["topsort", "mediamath"])
    assert row(report, "b.png")["action"] == "keep" and "archive_removed is off" in row(report, "b.png")["reason"]
    fake.calls.clear()
    _, _, report = run_sync(folder, ledger, "run-3", platforms=["topsort", "mediamath"], archive_removed=True)
    archived = [c for c in fake.calls if c[0] == "archive"]
    assert len(archived) == 1  # only the platform that can archive
    assert row(report, "b.png")["state"] == "archived"
    assert "cannot archive" in row(report, "b.png", "mediamath")["reason"]
    _, _, report = run_sync(folder, ledger, "run-4", platforms=["topsort"], archive_removed=True)
    assert not [r for r in report["rows"] if r["key"] == "b.png"]  # archived: no longer reported


def test_max_archive_reports_instead(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    run_sync(folder, ledger, "run-1")
    for name in ("a.png", "copy-of-a.png", "b.png"):
        (folder / name).unlink()
    fake.calls.clear()
    _, _, report = run_sync(folder, ledger, "run-2", archive_removed=True, max_archive=1)
    assert [c for c in fake.calls if c[0] == "archive"] == []
    assert {r["key"]: r["action"] for r in report["rows"] if r["action"] == "would_archive"} == {
        "a.png": "would_archive",
        "b.png": "would_archive",
    }
    assert "max_archive=1" in report["table"]


def test_missing_connection_fails_only_that_platform(
    fake: type[FakeHook], folder: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    class MissingConnection(FakeNoArchiveHook):
        @property
        def account(self) -> str:
            raise PlatformConfigError("Fake: Airflow connection 'nope' was not found.", platform="mediamath")

    monkeypatch.setitem(HOOKS, "mediamath", MissingConnection)
    plan, submits, report = run_sync(folder, ledger, "run-1", platforms=["topsort", "mediamath"])
    assert plan["platforms"]["mediamath"]["error"] and plan["platforms"]["topsort"]["error"] is None
    error_batch = next(b for b in plan["batches"] if b["platform"] == "mediamath")
    with pytest.raises(PlatformConfigError, match="not found"):
        submit_batch("mediamath", "nope", error_batch, "run-1", ledger=ledger)
    assert creates(fake) == ["a.png", "b.png", "c.png"]
    assert row(report, "a.png", "mediamath")["state"] == "error"
    assert report["failed"] and any(f.startswith("mediamath:") for f in report["failures"])


def test_report_marks_batches_whose_task_died(fake: type[FakeHook], folder: Path, ledger: Ledger) -> None:
    plan = plan_run({"source": str(folder), "platforms": ["topsort"]}, run_id="r", ledger=ledger)
    report = build_report(plan, [None], [], ledger=ledger)
    assert row(report, "a.png")["state"] == "not_sent" and report["failed"]


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
    plan = plan_run(params, run_id="http-1", ledger=ledger)
    results = [submit_batch(b["platform"], b["conn_id"], b, "http-1", ledger=ledger) for b in plan["batches"]]
    waits = []
    hook = DeltaProjectsHook()
    for result in results:
        targets = wait_targets(result)
        statuses: dict[str, Any] = {}
        for _ in range(5):
            statuses.update({i: s.to_dict() for i, s in hook.get_status(targets["remote_ids"]).items()})
            if all(s["state"] in ("ready", "rejected") for s in statuses.values()):
                break
        waits.append(record_statuses(targets, statuses, "http-1", ledger=ledger))
    report = build_report(plan, results, waits, ledger=ledger)
    assert row(report, "a.png", "delta_projects")["state"] == READY, report["table"]
    assert row(report, "copy-of-a.png", "delta_projects")["action"] == "alias"
    assert row(report, "broken.png", "delta_projects")["state"] == "refused"
    assert not report["failed"], report["failures"]
    uploads = creative_sandbox_env.journal(platform="delta_projects", method="POST")
    assert len(uploads) == 3

    # rerun: nothing sent
    plan2 = plan_run(params, run_id="http-2", ledger=ledger)
    assert plan2["batches"] == []
    assert len(creative_sandbox_env.journal(platform="delta_projects", method="POST")) == 3

    # no secret in logs, XCom-bound dicts or the report
    api_key = json.loads(creative_sandbox_env.connection_env()["AIRFLOW_CONN_DELTA_PROJECTS_DEFAULT"])["password"]
    for text in (caplog.text, json.dumps(plan), json.dumps(results), json.dumps(report)):
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
    plan = plan_run({"source": str(folder), "platforms": ["delta_projects"]}, run_id="wait-1")
    (batch,) = plan["batches"]
    result = submit_batch("delta_projects", batch["conn_id"], batch, "wait-1")
    targets = wait_targets(result)
    assert len(targets["remote_ids"]) == 3

    operator = CreativeSyncWaitOperator(task_id="wait", targets=targets, poll_interval=0.01, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "wait-1"})
    trigger = deferred.value.trigger
    assert isinstance(trigger, AssetStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_creative_provider.triggers.base.AssetStatusTrigger"
    assert kwargs["platform"] == "delta_projects" and sorted(kwargs["remote_ids"]) == sorted(targets["remote_ids"])
    json.dumps(kwargs)
    rebuilt = AssetStatusTrigger(**kwargs)
    events = [event async for event in rebuilt.run()]
    assert events[0].payload["status"] == "done"
    recorded = operator.execute_complete({"run_id": "wait-1"}, events[0].payload, **deferred.value.kwargs)
    assert {r["state"] for r in recorded["results"]} == {READY} and recorded["pending"] == 0
    ledger = Ledger()
    assert ledger.url == f"sqlite:///{db}"
    states = {
        r.file_key: r.state for r in ledger.records("delta_projects", plan["platforms"]["delta_projects"]["account"])
    }
    assert states == {"a.png": READY, "b.png": READY, "sub/c.png": READY}
    report = build_report(plan, [result], [recorded])
    assert not report["failed"] and row(report, "sub/c.png", "delta_projects")["state"] == READY

    # nothing to wait for: no hook call, an empty result
    empty = CreativeSyncWaitOperator(task_id="w2", targets={**targets, "remote_ids": [], "items": []}).execute(
        {"run_id": "wait-1"}
    )
    assert empty["results"] == []
    # a poll error is reported and fails the run in the report
    failed = operator.execute_complete({"run_id": "wait-1"}, {"status": "error", "message": "503", "assets": {}})
    assert failed["error"] == "503"
    assert build_report(plan, [result], [failed])["failed"]
