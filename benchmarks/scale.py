"""Sync at scale: a folder of ``--files`` small files (default 100,000) x 5 platforms, ``--new`` of them new.

One invocation, one sandbox (its own process, no added latency), figures printed side by side
(issue 14 section 3):

1. no-op rerun (``plan_run`` reusing the plan the previous run's report prepared) vs a bare
   ``os.scandir`` walk + ``stat`` of the same folder: target <= 1.5x;
2. planning afresh (no saved plan: file index, every ledger record, the whole plan) vs the
   same bare listing: target <= 10x;
3. peak RSS of the plan task (a child process, as Airflow runs a task) of the run that finds
   the ``--new`` files: target <= 400 MB;
4. the largest XCom value of any task of that run (plan, approval, every submit and wait,
   the report), as JSON: target <= 64 KB;
5. first page of the Creatives page (``/``) and of ``/api/assets`` with every creative in the
   ledger: target <= 300 ms each (the route's auth dependency is replaced by a no-op);
6. the ``--new``-file run end to end (plan, submit tasks four at a time, waits, report): printed.

The state before the measurements is what a sync leaves: the file index of the old files and a
ready record per old file and platform (written to the ledger directly; sending 450,000
uploads to the sandbox first would only measure the sandbox).

    uv run python benchmarks/scale.py                      # the issue's size
    uv run python benchmarks/scale.py --files 10000 --new 1000   # a quick run

Not a test: the machine is shared and noisy; each figure prints with its target and ``ok`` /
``MISSED``; the last line says whether all hold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import PLATFORMS, Sandbox, _prepare_environment, _status_mb, make_tiny_pngs, print_verdicts, record_ready  # noqa: E402

TARGET_NOOP = 1.5
TARGET_AFRESH = 10.0
TARGET_PLAN_RSS_MB = 400.0
TARGET_XCOM_KB = 64.0
TARGET_PAGE_MS = 300.0


def bare_scandir(root: Path) -> int:
    """The reference: ``os.scandir`` every folder and ``stat`` every file, nothing else."""
    count = 0
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    entry.stat()
                    count += 1
    return count


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def child_plan(params_json: str, ledger_url: str, run_id: str) -> None:
    """The plan task in its own process: print the plan's summary and the process's peak RSS."""
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.sync.planner import approval_summary, plan_run

    started = time.perf_counter()
    plan = plan_run(json.loads(params_json), run_id=run_id, ledger=Ledger(ledger_url))
    seconds = time.perf_counter() - started
    xcoms = {
        "plan.return_value": [b.to_json() for b in plan.batches],
        "plan.plan": plan.without_batches().to_json(),
        "plan.approval": approval_summary(plan),
    }
    print(
        json.dumps(
            {
                "plan": plan.to_json(),
                "seconds": seconds,
                "peak_mb": _status_mb("VmHWM"),
                "xcom_bytes": {k: len(json.dumps(v)) for k, v in xcoms.items()},
            }
        )
    )


def _run_plan_child(params: dict[str, Any], url: str, run_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child-plan", json.dumps(params), url, run_id],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if out.returncode != 0:
        raise RuntimeError(f"the plan task failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _end_to_end(
    params: dict[str, Any], url: str, run_id: str, workers: int
) -> tuple[dict[str, Any], dict[str, float], dict[str, int]]:
    """The run that finds the new files, as the DAG runs it; its report, phase times and XCom sizes."""
    from airflow_creative_provider.hooks import hook_class
    from airflow_creative_provider.sync.executor import record_statuses, submit_batch, wait_targets
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.sync.payloads import BatchResult, PlanSummary, WaitResult
    from airflow_creative_provider.sync.report import build_report, format_table, report_rows

    times: dict[str, float] = {}
    started = time.perf_counter()
    child = _run_plan_child(params, url, run_id)
    times["plan"] = time.perf_counter() - started
    plan = PlanSummary.from_json(child["plan"])
    xcoms = dict(child["xcom_bytes"])
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results: list[BatchResult] = list(pool.map(lambda ref: submit_batch(ref, ledger=Ledger(url)), plan.batches))
    times["submit"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    def wait(result: BatchResult) -> WaitResult:
        ledger = Ledger(url)
        targets = wait_targets(result, ledger=ledger)
        statuses: dict[str, Any] = {}
        if targets.remote_ids:
            hook = hook_class(targets.platform)(targets.conn_id)
            for _ in range(60):
                pending = [
                    i for i in targets.remote_ids if statuses.get(i, {}).get("state") not in ("ready", "rejected")
                ]
                if not pending:
                    break
                statuses.update({i: s.to_dict() for i, s in hook.get_status(pending).items()})
                time.sleep(0.2)
        return record_statuses(targets, statuses, ledger=ledger)

    with ThreadPoolExecutor(workers) as pool:
        waits = list(pool.map(wait, results))
    times["wait"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ledger = Ledger(url)
    rows = report_rows(run_id, ledger=ledger)
    report = build_report(plan, waits, ledger=ledger, rows=rows)
    table = format_table(report, rows)
    times["report"] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - started
    for result in results:
        xcoms[f"submit[{result.platform}#{result.index}]"] = len(json.dumps(result.to_json()))
    for w in waits:
        xcoms[f"wait[{w.platform}#{w.index}]"] = len(json.dumps(w.to_json()))
    xcoms["report.report"] = len(json.dumps(report.to_json()))
    print(f"    the report task's log table: {len(table.splitlines())} lines, {len(table) / 1024:.0f} KB")
    return report.to_json(), times, xcoms


def _pages(url: str) -> dict[str, float]:
    """Milliseconds (median of 3) of the first page of ``/`` and ``/api/assets``."""
    from fastapi.testclient import TestClient

    from airflow_creative_provider.ui.app import create_app

    app = create_app(url)
    for dependency in app.router.dependencies:  # the auth check: not what is measured here
        app.dependency_overrides[dependency.dependency] = lambda: None  # type: ignore[union-attr,index]
    client = TestClient(app, root_path="/creative-sync")
    out = {}
    for path in ("/", "/api/assets"):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        out[path] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the folder (default 100000)")
    parser.add_argument("--new", type=int, default=10_000, help="of them new since the last run (default 10000)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of listing and reruns (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="submit and wait tasks at once (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--skip-end-to-end",
        action="store_true",
        help="stop before the new-file run is sent (50,000 uploads at the default size: tens of minutes)",
    )
    parser.add_argument("--child-plan", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_plan:
        child_plan(*args.child_plan)
        return
    import logging

    logging.basicConfig(level=logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="creative-scale-"))
    _prepare_environment(work / "airflow_home")
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    started = time.perf_counter()
    sandbox = Sandbox(work)
    os.environ.update(sandbox.env)
    verdicts: dict[str, bool] = {}
    try:
        verdicts = _bench(args, work)
    finally:
        sandbox.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_verdicts(started, verdicts)


def _bench(args: argparse.Namespace, work: Path) -> dict[str, bool]:
    from sqlalchemy import delete

    from airflow_creative_provider.sync.ledger import Ledger, plans_table
    from airflow_creative_provider.sync.planner import plan_run, prepare_next_plan

    old, new = args.files - args.new, args.new
    folder = work / "creatives"
    url = f"sqlite:///{work / 'ledger.db'}"
    params = {"source": str(folder), "platforms": PLATFORMS}
    print(f"{args.files} files x {len(PLATFORMS)} platforms, {new} new; work folder {work}", flush=True)
    t0 = time.perf_counter()
    make_tiny_pngs(folder / "old", old)
    print(f"  setup: {old} files written in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    plan_run(params, run_id="populate", ledger=Ledger(url))
    records = record_ready(url, "populate", folder)
    ahead = prepare_next_plan("populate", ledger=Ledger(url))
    print(
        f"  setup: file index and {records} ready records in {time.perf_counter() - t0:.0f} s; the sync's "
        f"report prepared the next plan: {ahead}",
        flush=True,
    )

    listing, noop, afresh = [], [], []
    for rep in range(args.reps):
        t0 = time.perf_counter()
        listed = bare_scandir(folder)
        listing.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rerun = plan_run(params, run_id=f"noop-{rep}", ledger=Ledger(url))
        noop.append(time.perf_counter() - t0)
        assert rerun.reused_plan_of and rerun.work == 0 and listed == old, (rerun.reused_plan_of, rerun.work)
    for rep in range(args.reps):
        with Ledger(url).begin() as conn:
            conn.execute(delete(plans_table))
        t0 = time.perf_counter()
        fresh = plan_run(params, run_id=f"afresh-{rep}", ledger=Ledger(url))
        afresh.append(time.perf_counter() - t0)
        assert fresh.reused_plan_of is None and fresh.work == 0
    bare = statistics.median(listing)
    noop_ratio = statistics.median(noop) / bare
    afresh_ratio = statistics.median(afresh) / bare
    print(f"  (medians of {args.reps}; the listing found {listed} files)", flush=True)
    figures = _Figures()
    figures.add("bare os.scandir + stat", f"{bare * 1000:.0f} ms", "reference", None)
    figures.add(
        "no-op rerun (plan_run, saved plan)",
        f"{statistics.median(noop) * 1000:.0f} ms = {noop_ratio:.2f}x",
        f"<= {TARGET_NOOP}x",
        noop_ratio <= TARGET_NOOP,
    )
    figures.add(
        "planning afresh (no saved plan)",
        f"{statistics.median(afresh) * 1000:.0f} ms = {afresh_ratio:.1f}x "
        f"({statistics.median(afresh) / (old * len(PLATFORMS)) * 1e6:.1f} us per file x platform)",
        f"<= {TARGET_AFRESH:.0f}x",
        afresh_ratio <= TARGET_AFRESH,
    )

    t0 = time.perf_counter()
    make_tiny_pngs(folder / "new", new, start=old)
    print(f"  setup: {new} new files written in {time.perf_counter() - t0:.0f} s", flush=True)
    # the plan of the run that finds them, alone in a child process first: its peak RSS and XComs
    child = _run_plan_child(params, url, "plan-rss")
    figures.add(
        f"peak RSS of the plan task ({new} new)",
        f"{child['peak_mb']:.0f} MB (planned in {child['seconds']:.1f} s)",
        f"<= {TARGET_PLAN_RSS_MB:.0f} MB",
        child["peak_mb"] <= TARGET_PLAN_RSS_MB,
    )
    for path, ms in _pages(url).items():
        figures.add(f"first page of {path}", f"{ms:.0f} ms", f"<= {TARGET_PAGE_MS:.0f} ms", ms <= TARGET_PAGE_MS)
    if args.skip_end_to_end:
        print()
        figures.table()
        return figures.verdicts
    report, times, xcoms = _end_to_end(params, url, "new-files", args.workers)
    largest = max(xcoms.items(), key=lambda item: item[1])
    figures.add(
        "largest XCom value of any task",
        f"{largest[1] / 1024:.1f} KB ({largest[0]}; {len(xcoms)} values)",
        f"<= {TARGET_XCOM_KB:.0f} KB",
        largest[1] <= TARGET_XCOM_KB * 1024,
    )
    # every file x platform ready once the run is done: the old ones and the new ones alike
    ready = sum(n for per in report["counts"].values() for s, n in per.items() if s == "ready")
    figures.add(
        f"the {new}-new-file run end to end",
        f"{times['total']:.0f} s (plan {times['plan']:.0f}, submit {times['submit']:.0f}, wait "
        f"{times['wait']:.0f}, report {times['report']:.1f}); {ready} of {args.files * len(PLATFORMS)} "
        f"file x platform ready, failed={report['failed']}",
        "printed",
        None,
    )
    print()
    figures.table()
    return figures.verdicts


class _Figures:
    """The table's rows, each printed as soon as it is measured, then all together."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, bool | None]] = []
        self.verdicts: dict[str, bool] = {}

    def add(self, name: str, value: str, target: str, ok: bool | None) -> None:
        self.rows.append((name, value, target, ok))
        if ok is not None:
            self.verdicts[name] = ok
        print(f"  {name}: {value}  {target}{'' if ok is None else '  ' + _verdict(ok)}", flush=True)

    def table(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        for name, value, target, ok in self.rows:
            verdict = "" if ok is None else f"  {_verdict(ok)}"
            print(f"  {name:<{width}}  {value:<70} {target}{verdict}")


if __name__ == "__main__":
    main()
