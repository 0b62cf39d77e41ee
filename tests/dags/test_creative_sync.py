"""End to end: the ``creative_sync`` DAG with real Airflow (``dag.test()``) against the sandbox."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from airflow_creative_provider.sync.source import list_source
from tests.support.dags import CREATE_CALLS as CREATE_CALLS
from tests.support.dags import SAMPLES as SAMPLES
from tests.support.dags import assert_no_secrets, run_dag, sample_source, sample_source_in_s3
from tests.support.dags import creates as _creates
from tests.support.dags import last_seq as _last_seq
from tests.support.dags import ledger_rows as _rows
from tests.support.dags import sends as _sends


@pytest.fixture
def sync_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh source folder (the sample creatives), a fresh ledger, a reset sandbox."""
    return creative_sandbox_env, sample_source(creative_sandbox_env, tmp_path, monkeypatch)


def _run(conf: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Run ``creative_sync`` once; return the DagRun and its report."""
    return run_dag("creative_sync", conf)


def _expected(source: Path, platforms: list[str]) -> dict[tuple[str, str], str | None]:
    """``{(key, platform): refusal or None}`` from the platforms' own rules."""
    listing = list_source(str(source), include="**/*")
    expected = {}
    for creative in listing.files:
        for platform in platforms:
            refusals = hook_class(platform).rules.check(creative)
            expected[(creative.key, platform)] = refusals[0].message if refusals else None
    return expected


def _states(report: dict[str, Any]) -> set[str]:
    return {state for counts in report["counts"].values() for state, n in counts.items() if n}


def test_cold_sync_rerun_change_and_duplicate(sync_env, capsys, caplog) -> None:
    sandbox, source = sync_env
    platforms = list(PLATFORMS)
    sandbox.state.default_speed = ProcessingSpeed(polls=2, seconds=None)  # one deferral per batch
    expected = _expected(source, platforms)

    run, report = _run({"source": str(source)})
    assert run.state == "success", run.task_states
    rows = first_rows = _rows(run)
    accepted_contents: dict[str, set[str]] = {p: set() for p in platforms}
    for (key, platform), refusal in expected.items():
        row = rows[(key, platform)]
        if refusal is None:
            assert row["state"] == "ready", row
            assert row["remote_id"]
            accepted_contents[platform].add(Creative.inspect(source / key).sha256)
        else:
            assert row["state"] == "refused", row
            assert key in row["reason"] and row["reason"] == refusal
    for platform in platforms:  # a JPEG named .png is sent as a JPEG, with a warning the report shows
        row = rows[("bad/jpeg_named_as.png", platform)]
        assert row["state"] == "ready" and "sent as image/jpeg" in (row["reason"] or ""), row
    for platform in platforms:  # one create per distinct accepted content: duplicates were sent once
        assert len(_creates(sandbox, platform)) == len(accepted_contents[platform]), platform
    assert report["asset_events"], "ready creatives update Airflow Assets"
    assert {e["uri"].split("/")[2] for e in report["asset_events"]} == set(platforms)

    # Nothing leaked: logs, stdout, the report (what XCom holds).
    captured = capsys.readouterr()
    assert_no_secrets(sandbox, caplog.text, captured.out, captured.err, json.dumps(report))

    # A rerun sends nothing and polls nothing, and reuses the plan the first run's report made ahead.
    first_run_id = run.run_id
    before = _last_seq(sandbox)
    run, report = _run({"source": str(source)})
    assert run.state == "success"
    assert _sends(sandbox, before) == []
    assert report["reused_plan_of"] == first_run_id and report["listing"]["hashed"] == 0
    assert _states(report) == {"ready", "refused"} and not report["failures"]

    # One file changed: only it is sent, once per platform that accepts it.
    changed = source / "logos" / "sunline_logo_600x600.png"
    from PIL import Image, ImageDraw

    with Image.open(changed) as image:
        image = image.convert("RGB")
        ImageDraw.Draw(image).rectangle((10, 10, 60, 60), fill=(200, 30, 30))
        image.save(changed)
    new_sha = Creative.inspect(changed).sha256
    amazon_before = first_rows[("logos/sunline_logo_600x600.png", "amazon_ads")]
    before = _last_seq(sandbox)
    run, report = _run({"source": str(source)})
    assert run.state == "success", run.task_states
    for platform in platforms:
        accepted = expected[("logos/sunline_logo_600x600.png", platform)] is None
        assert len(_creates(sandbox, platform, before)) == (1 if accepted else 0), platform
    uploaded = {e.get("sha256") for e in _sends(sandbox, before) if e.get("sha256")}
    assert uploaded <= {new_sha}
    rows = _rows(run)
    assert rows[("logos/sunline_logo_600x600.png", "topsort")]["state"] == "ready"
    amazon_after = rows[("logos/sunline_logo_600x600.png", "amazon_ads")]
    # Amazon keeps the asset and makes a new version of it.
    assert amazon_after["remote_id"].split(":")[0] == amazon_before["remote_id"].split(":")[0]
    assert amazon_after["version"] != amazon_before["version"]

    # The same content under a new name is not sent again.
    shutil.copy(source / "banners" / "summer_sale_1200x628.jpg", source / "banners" / "copy_of_summer_sale.jpg")
    before = _last_seq(sandbox)
    run, report = _run({"source": str(source)})
    assert run.state == "success"
    assert _sends(sandbox, before) == []
    assert _rows(run)[("banners/copy_of_summer_sale.jpg", "delta_projects")]["action"] == "alias"


def test_faults_on_every_platform_converge_without_duplicates(sync_env) -> None:
    sandbox, source = sync_env
    faults = sandbox.state.faults
    faults.seed(7)
    # A 429 (with and without Retry-After), 5xx and dropped connections on reads, expired tokens, expired URLs.
    faults.add("status", platform="topsort", method="POST", path="^/public", status=429, retry_after="1", count=2)
    faults.add("status", platform="amazon_ads", status=429, count=2)
    faults.add("status", platform="mediamath", method="GET", status=503, count=2)
    faults.add("drop", platform="mediapocket", method="GET", count=2)
    faults.add("status", platform="delta_projects", method="GET", status=502, count=2)
    faults.add("expire_token", platform="amazon_ads", count=1)
    faults.add("expire_token", platform="mediamath", count=1)
    faults.add("expire_url", platform="amazon_ads", path="^/s3/", count=1)
    faults.add("expire_url", platform="mediamath", path="^/s3/", count=1)
    faults.add("drop_after", platform="delta_projects", method="POST", count=1)
    faults.add("status", platform="mediapocket", method="POST", status=500, count=1)

    runs = [_run({"source": str(source)})[0]]
    if runs[0].state != "success":  # an uncertain create is left for the next run to reconcile
        runs.append(_run({"source": str(source)})[0])
    assert runs[-1].state == "success", runs[-1].task_states
    expected = _expected(source, list(PLATFORMS))
    rows = _rows(*runs)
    for (key, platform), refusal in expected.items():
        assert rows[(key, platform)]["state"] == ("ready" if refusal is None else "refused"), (key, platform)
    for platform in PLATFORMS:
        contents = {
            Creative.inspect(source / key).sha256
            for (key, p), refusal in expected.items()
            if p == platform and not refusal
        }
        ids = {rows[(k, p)]["remote_id"] for (k, p), r in expected.items() if p == platform and not r}
        assert len(ids) == len(contents), platform  # one remote asset per content: no duplicate, no loss
        created = _creates(sandbox, platform)
        assert len(created) == len(contents), platform


def test_dry_run_and_subset_of_platforms(sync_env) -> None:
    sandbox, source = sync_env
    run, report = _run({"source": str(source), "platforms": ["topsort", "delta_projects"], "dry_run": True})
    assert run.state == "success"
    assert _sends(sandbox, 0) == []
    assert set(report["counts"]) == {"topsort", "delta_projects"}
    assert report["counts"]["topsort"]["would_upload"] > 0
    assert any(r["action"] == "upload" for r in _rows(run).values())

    run, report = _run({"source": str(source), "platforms": ["delta_projects"]})
    assert run.state == "success"
    assert {e["platform"] for e in sandbox.journal()} <= {"delta_projects"}
    assert _creates(sandbox, "delta_projects")


def test_s3_source(sync_env) -> None:
    sandbox, source = sync_env
    run, report = _run({"source": sample_source_in_s3(sandbox, source), "platforms": ["delta_projects"]})
    assert run.state == "success", run.task_states
    ready = {key for (key, _), r in _rows(run).items() if r["state"] == "ready"}
    assert "banners/summer_sale_1200x628.jpg" in ready and "logos/app_icon_100x100.png" in ready


def test_missing_connection_fails_only_that_platform(sync_env) -> None:
    sandbox, source = sync_env
    conf = {
        "source": str(source),
        "platforms": ["topsort", "delta_projects"],
        "connections": {"topsort": "no_such_topsort_conn", "delta_projects": "delta_projects_default"},
    }
    run, report = _run(conf)
    assert run.state == "failed"
    assert _creates(sandbox, "delta_projects"), "the other platform still synced"
    assert not sandbox.journal(platform="topsort")
    failed = [task for task, state in run.task_states.items() if state == "failed"]
    assert any(task.startswith("submit") for task in failed)
    assert report is not None and any("no_such_topsort_conn" in f for f in report["failures"])


def test_unknown_platform_or_missing_source_fails_at_once(sync_env, tmp_path: Path) -> None:
    sandbox, source = sync_env
    run, report = _run({"source": str(tmp_path / "nowhere"), "platforms": ["delta_projects"]})
    assert run.state == "failed" and run.task_states["plan"] == "failed"
    assert sandbox.journal() == []


def test_killed_submit_resumes_without_a_second_asset(sync_env, tmp_path: Path) -> None:
    """A submit task killed after the platform created the asset: the rerun finds it, never re-creates."""
    sandbox, source = sync_env
    platforms = ["delta_projects", "amazon_ads"]
    only = source / "logos"
    from airflow_creative_provider.sync.engine import plan_run

    plan = plan_run({"source": str(only), "platforms": platforms}, run_id="killed-run")
    batches = tmp_path / "batches.json"
    batches.write_text(json.dumps([b.to_json() for b in plan.batches]))
    for platform in platforms:  # the create is processed, its answer held: the task dies meanwhile
        method, path = CREATE_CALLS[platform]
        sandbox.state.faults.add("delay_after", platform=platform, method=method, path=path, delay=30, count=None)
    script = (
        "import json, sys\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from airflow_creative_provider.sync.engine import submit_batch\n"
        "batches = json.load(open(sys.argv[1]))\n"
        "with ThreadPoolExecutor(len(batches)) as pool:\n"
        "    list(pool.map(submit_batch, batches))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(batches)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(_creates(sandbox, p) for p in platforms):
            time.sleep(0.2)
        assert all(_creates(sandbox, p) for p in platforms), "the creates did not happen"
    finally:
        proc.kill()
        proc.wait(10)
    created_before = {p: len(_creates(sandbox, p)) for p in platforms}
    sandbox.state.faults.clear()
    # Time passes: the dead run's claims stop heart-beating and go stale, so the next run may take them.
    from sqlalchemy import update

    from airflow_creative_provider.sync.ledger import Ledger, claims_table

    ledger = Ledger()
    with ledger.begin() as conn:
        conn.execute(update(claims_table).values(heartbeat_at=time.time() - ledger.stale_after - 1))

    run, report = _run({"source": str(only), "platforms": platforms})
    assert run.state == "success", run.task_states
    contents = {
        p: {Creative.inspect(f).sha256 for f in only.iterdir() if not hook_class(p).rules.check(Creative.inspect(f))}
        for p in platforms
    }
    for platform in platforms:
        assert len(_creates(sandbox, platform)) == len(contents[platform]), platform
        assert len(_creates(sandbox, platform)) >= created_before[platform]
    states = {key: r["state"] for key, r in _rows(run).items()}
    assert states and all(state in ("ready", "refused") for state in states.values()), states
    assert _states(report) <= {"ready", "refused"}


def _answer_approval(option: str, stop: Any, bodies: list[str]) -> None:
    """Answer the run's approval request as the HITL API does: record the response, resume the task.

    A try that fails (SQLite busy while the run writes) is tried again: a thread that died here
    would leave the run waiting for a human forever.
    """
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    while not stop.is_set():
        try:
            with create_session() as session:
                ti = (
                    session.query(TaskInstance)
                    .filter_by(dag_id="creative_sync", task_id="approve", state=TaskInstanceState.AWAITING_INPUT)
                    .one_or_none()
                )
                if ti is not None:
                    detail = session.get(HITLDetail, ti.id)
                    bodies.append(detail.body)
                    detail.responded_by = {"id": "analyst", "name": "analyst"}
                    detail.responded_at = timezone.utcnow()
                    detail.chosen_options = [option]
                    detail.params_input = {}
                    handle_event_submit(
                        TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
                    )
                    return
        except Exception:  # noqa: BLE001 - tried again below; the test fails on what the run shows
            logging.getLogger(__name__).warning("answering the approval failed; trying again", exc_info=True)
        time.sleep(0.3)


@pytest.mark.parametrize("option", ["Approve", "Reject"])
def test_approval_gate(sync_env, option: str) -> None:
    import threading

    from airflow.models import import_all_models
    from sqlalchemy.orm import configure_mappers

    import_all_models()  # in this thread: importing models from two threads at once deadlocks
    configure_mappers()
    sandbox, source = sync_env
    stop = threading.Event()
    bodies: list[str] = []
    answer = threading.Thread(target=_answer_approval, args=(option, stop, bodies), daemon=True)
    answer.start()
    try:
        conf = {"source": str(source), "platforms": ["delta_projects"], "require_approval_above": 2}
        run, report = _run(conf)
    finally:
        stop.set()
        answer.join(5)
    assert run.task_states["approve"] == "success"
    assert bodies and "new creatives" in bodies[-1]  # the approver saw the plan summary
    if option == "Approve":
        assert run.state == "success", run.task_states
        assert report["approval"] == "approved"
        assert _creates(sandbox, "delta_projects")
    else:
        assert run.task_states["submit"] == "skipped"
        assert report["approval"] == "rejected" and "rejected at the approval step" in report["table"]
        assert sandbox.journal() == [], "a rejected plan sends nothing"


def test_small_plans_need_no_approval(sync_env) -> None:
    sandbox, source = sync_env
    run, report = _run({"source": str(source / "logos"), "platforms": ["delta_projects"], "require_approval_above": 5})
    assert run.state == "success"
    assert run.task_states["approve"] == "skipped" and run.task_states["no_approval_needed"] == "success"
    assert _creates(sandbox, "delta_projects")


def test_every_xcom_stays_small_whatever_the_folder_size(sync_env, tmp_path: Path) -> None:
    """400 files: before the plan moved to the ledger, the plan's XCom held every item with its
    facts (~160 KB) and the report's every row (~70 KB); now no XCom value passes 64 KB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tests.support.images import png

    sandbox, _ = sync_env
    folder = tmp_path / "many"
    for i in range(400):
        png(folder / f"set{i // 100}" / f"banner_{i:04}.png", 20, 10, (i % 256, i // 256, 7))
    run, report = _run(
        {"source": str(folder), "platforms": ["delta_projects"], "batch_size": 50, "require_approval_above": 1000}
    )
    assert run.state == "success", run.task_states
    assert report["counts"]["delta_projects"] == {"ready": 400}
    assert len(_creates(sandbox, "delta_projects")) == 400
    assert sum(1 for task in run.task_states if task.startswith("submit[")) == 8
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id="creative_sync", run_id=run.run_id).all()
        sizes = {(r.task_id, r.map_index, r.key): len(json.dumps(XComModel.deserialize_value(r))) for r in rows}
    assert {key for _, _, key in sizes} >= {"plan", "approval", "report", "return_value"}
    largest = max(sizes.items(), key=lambda item: item[1])
    assert largest[1] <= 64 * 1024, largest


@pytest.mark.parametrize(
    ("connections", "named"), [({"topsort": 5}, "topsort"), ({"amazon-ads": "amazon_ads_default"}, "amazon-ads")]
)
def test_wrong_connections_are_refused_before_the_run(sync_env, connections: dict[str, Any], named: str) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    sandbox, source = sync_env
    with pytest.raises(ParamValidationError, match="connections") as refused:
        _run({"source": str(source), "connections": connections})
    assert named in str(refused.value)
    assert sandbox.journal() == []


# ----------------------------------------------------------------------------- what a person sees (issue 15)
def _error_lines(text: str) -> list[str]:
    """Log lines at error level, or that say an event or XCom went missing."""
    return [
        line
        for line in text.splitlines()
        if "[error" in line.lower()
        or " ERROR " in line
        or "cannot create asset event" in line
        or "XCom not found" in line
    ]


def test_a_green_run_logs_no_error_line_and_its_asset_events_reach_airflow(sync_env, capfd, caplog) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    sandbox, source = sync_env
    run, report = _run({"source": str(source), "platforms": ["topsort", "delta_projects"]})
    assert run.state == "success", run.task_states
    captured = capfd.readouterr()
    assert _error_lines("\n".join([caplog.text, captured.out, captured.err])) == []
    with create_session() as session:
        events = (
            session.query(AssetModel.uri, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri.like("creative://%"))
            .all()
        )
    # Airflow normalises an URI without a path to end with "/"
    by_uri = {uri.rstrip("/"): extra for uri, extra in events if (extra or {}).get("run_id") == run.run_id}
    assert set(by_uri) == {"creative://topsort", "creative://delta_projects"}
    assert all(extra["ready"] > 0 and extra["account"] and extra["run_id"] == run.run_id for extra in by_uri.values())


def test_an_include_matching_no_file_is_said_loudly_and_fails_a_strict_run(sync_env) -> None:
    from airflow_creative_provider.sync.ledger import Ledger

    sandbox, source = sync_env
    run, report = _run({"source": str(source), "platforms": ["delta_projects"], "include": "nothing/**"})
    assert run.state == "success"
    warning = report["warnings"][0]
    assert warning.startswith("0 of ") and "match include 'nothing/**'" in warning
    assert f"WARNING: {warning}" in report["table"]
    stored = Ledger().run(run.run_id)
    assert stored and warning in stored["summary"]["warnings"]

    run, report = _run(
        {"source": str(source), "platforms": ["delta_projects"], "include": "nothing/**", "strict": True}
    )
    assert run.state == "failed" and run.task_states["report"] == "failed"
    assert any("match include 'nothing/**'" in f for f in report["failures"])
    assert sandbox.journal(platform="delta_projects") == [] or not _creates(sandbox, "delta_projects")


def test_unreadable_files_are_in_the_report_and_fail_a_strict_run(sync_env) -> None:
    sandbox, source = sync_env
    locked = source / "logos" / "locked.png"
    shutil.copy(source / "logos" / "app_icon_100x100.png", locked)
    locked.chmod(0)
    (source / "banners" / "gone.png").symlink_to(source / "no_such_file.png")
    if os.access(locked, os.R_OK):  # root reads everything: the broken link remains
        locked.unlink()
    try:
        run, report = _run({"source": str(source), "platforms": ["delta_projects"]})
        assert run.state == "success", run.task_states
        skipped = [w for w in report["warnings"] if w.startswith("skipped, cannot be read")]
        assert any("banners/gone.png" in w for w in skipped), report["warnings"]
        assert "banners/gone.png" in report["table"]
        assert _creates(sandbox, "delta_projects"), "the rest was sent"

        run, report = _run({"source": str(source), "platforms": ["delta_projects"], "strict": True})
        assert run.state == "failed"
        assert any("banners/gone.png" in f for f in report["failures"])
    finally:
        if locked.exists():
            locked.chmod(0o644)


def test_links_outside_the_source_are_named_in_the_report_and_do_not_fail_a_strict_run(
    sync_env, tmp_path: Path
) -> None:
    sandbox, _ = sync_env
    # a folder of files Delta takes (the samples hold videos it refuses, which would fail a strict run)
    source = tmp_path / "own"
    (source / "banners").mkdir(parents=True)
    Image.new("RGB", (300, 250), "green").save(source / "banners" / "kept.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name, color in (("secret.png", "red"), ("other.png", "blue")):
        Image.new("RGB", (300, 250), color).save(elsewhere / name)
    (source / "banners" / "secret.png").symlink_to(elsewhere / "secret.png")
    (source / "banners" / "other.png").symlink_to(elsewhere / "other.png")
    run, report = _run({"source": str(source), "platforms": ["delta_projects"], "strict": True})
    # skipping them is the safe default the user chose: a warning, never a failure, even when strict
    assert run.state == "success", (run.task_states, report["failures"])
    links = [w for w in report["warnings"] if "pointing outside the source" in w]
    assert links == [
        "skipped 2 links pointing outside the source: banners/other.png, banners/secret.png "
        "(param follow_outside_links sends them)"
    ], report["warnings"]
    assert links[0] in report["table"]
    sent = {e.get("sha256") for e in sandbox.journal(platform="delta_projects", method="POST")}
    assert hashlib.sha256((elsewhere / "secret.png").read_bytes()).hexdigest() not in sent
    assert _creates(sandbox, "delta_projects"), "the rest was sent"


def test_a_run_that_cannot_start_is_recorded_with_its_error(sync_env, tmp_path: Path) -> None:
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.ui.queries import list_runs

    run, _ = _run({"source": str(tmp_path / "nowhere"), "platforms": ["delta_projects"]})
    assert run.state == "failed"
    total, runs = list_runs(Ledger())
    mine = next(r for r in runs if r["run_id"] == run.run_id)
    assert mine["outcome"] == "failed" and "nowhere" in mine["failures"][0] and "does not exist" in mine["failures"][0]


def test_the_report_table_leads_with_a_summary_and_stays_narrow(sync_env) -> None:
    sandbox, source = sync_env
    run, report = _run({"source": str(source), "platforms": list(PLATFORMS)})
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.sync.payloads import PlanSummary
    from airflow_creative_provider.sync.report import build_report, format_table, report_rows

    ledger = Ledger()
    stored = ledger.run(run.run_id)
    assert stored is not None
    rows = report_rows(run.run_id, ledger=ledger)
    plan = PlanSummary.from_json({**stored["summary"], "batches": []})
    table = format_table(build_report(plan, rows=rows, ledger=ledger), rows)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 160
    assert lines[1].startswith("platform") and "ready" in lines[1]
    assert "changed (" in table and "refused by the platforms' rules (" in table
    # every refusal's reason is there whole, wrapped rather than cut
    refusal = next(r for r in rows if r.state == "refused")
    assert " ".join(refusal.reason.split())[-150:] in " ".join(table.split())

    run, report = _run({"source": str(source), "platforms": list(PLATFORMS)})
    rows = report_rows(run.run_id, ledger=ledger)
    table = format_table(Report_from(report), rows)
    assert table == report["table"]  # the unchanged rerun: its summary only
    assert "refused" in table.splitlines()[1]


def Report_from(data: dict[str, Any]) -> Any:
    from airflow_creative_provider.sync.payloads import Report

    return Report.from_json(data)
