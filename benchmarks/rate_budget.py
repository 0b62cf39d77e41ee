"""Rate budget benchmark: four submit tasks of one platform account share one budget.

Four task processes (as four mapped ``submit`` tasks of one run, on one or several workers)
each upload ``--files`` (60) distinct small PNGs to Topsort at once (the hook's ``submit``, with the
parallel uploads the engine gives one batch), against the sandbox, which enforces Topsort's
documented 45 calls per 2 s per client and answers 429 beyond. Every process calls through the
account's one rate budget (``hooks.base.RateLimiter``, a row in the ledger's database: SQLite
in a private AIRFLOW_HOME, or ``--postgres URL``).

Printed, from the sandbox's journal of Topsort API calls (the presigned S3 uploads are not
rate limited and not counted):

* the number of 429 answers. Target: 0;
* the calls per second over the busy span (first to last API call), as a share of 22.5/s.
  Target: at least 90 %.

    uv run python benchmarks/rate_budget.py [--files 60] [--postgres postgresql://...]

Not a test: the machine is shared and noisy; each figure prints with its target and ``ok`` /
``MISSED``, and the last line says whether both hold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import Sandbox, _prepare_environment, make_images  # noqa: E402

TASKS = 4
LIMIT_CALLS, LIMIT_PERIOD = 45, 2.0  # Topsort's documented limit, enforced by the sandbox
TARGET_SHARE = 0.90


def child_task() -> None:
    """One submit task: import, say ready, wait for 'go', upload its files, print what it did."""
    from airflow_creative_provider.creative import Creative
    from airflow_creative_provider.hooks.base import run_bounded
    from airflow_creative_provider.hooks.topsort import TopsortHook
    from airflow_creative_provider.sync.engine import upload_concurrency

    task = json.loads(sys.stdin.readline())
    hook = TopsortHook()
    creatives = [Creative.inspect(p, os.path.basename(p)) for p in task["paths"]]
    hook.limiter._reserve()  # the budget's row and database exist before the clock runs
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    run_bounded(hook.submit, creatives, upload_concurrency(hook))
    print(json.dumps({"seconds": time.perf_counter() - started, "sent": len(creatives)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=60, help="files per task (default 60)")
    parser.add_argument("--postgres", help="keep the ledger (and the budget) in this PostgreSQL database")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="creative-rate-bench-"))
    _prepare_environment(work / "home")
    if args.postgres:
        os.environ["AIRFLOW_CONN_CREATIVE_LEDGER"] = args.postgres
    sandbox = Sandbox(work)
    try:
        os.environ.update(sandbox.env)
        sandbox.control("POST", "reset")
        paths = [str(p) for p in make_images(work / "files", args.files * TASKS, seed=int(time.time()))]
        env = {**os.environ, "CREATIVE_BENCH_ROLE": "task"}
        children = []
        for index in range(TASKS):
            child = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert child.stdin is not None
            child.stdin.write(json.dumps({"paths": paths[index::TASKS], "run": uuid.uuid4().hex}) + "\n")
            child.stdin.flush()
            children.append(child)
        for child in children:
            _read_until(child, "ready")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            results.append(json.loads(_read_until(child, '{"seconds"')))
            child.wait()
        calls = [
            e
            for e in sandbox.journal()
            if e.get("platform") == "topsort" and e.get("kind") == "api" and "/s3/" not in e.get("path", "")
        ]
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
    return report(calls, results)


def _read_until(child: subprocess.Popen[str], prefix: str) -> str:
    """The child's first stdout line starting with ``prefix`` (log lines may come before)."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"a task process exited with {child.wait()} before printing {prefix!r}")


def report(calls: list[dict[str, Any]], results: list[dict[str, Any]]) -> int:
    limited = sum(1 for e in calls if e["status"] == 429)
    times = sorted(e["time"] for e in calls)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    allowed = LIMIT_CALLS / LIMIT_PERIOD
    busiest = max(
        (sum(1 for t in times[i:] if t - times[i] < LIMIT_PERIOD) for i in range(len(times))),
        default=0,
    )
    share = rate / allowed
    files = sum(r["sent"] for r in results)
    print(f"{TASKS} submit tasks, {files} files, {len(calls)} Topsort API calls in {span:.1f} s")
    print(f"busiest {LIMIT_PERIOD:g} s window: {busiest} calls (limit {LIMIT_CALLS})")
    ok_429 = limited == 0
    ok_rate = share >= TARGET_SHARE
    print(f"429 answers: {limited} (target 0) {'ok' if ok_429 else 'MISSED'}")
    print(
        f"rate: {rate:.2f} calls/s = {share:.1%} of {allowed:g}/s (target >= {TARGET_SHARE:.0%}) "
        f"{'ok' if ok_rate else 'MISSED'}"
    )
    print("all targets met" if ok_429 and ok_rate else "a target was MISSED")
    return 0 if ok_429 and ok_rate else 1


if __name__ == "__main__":
    if os.environ.get("CREATIVE_BENCH_ROLE") == "task":
        child_task()
    else:
        sys.exit(main())
