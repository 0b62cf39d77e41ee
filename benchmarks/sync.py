"""Sync engine benchmark: cold sync speed-up, no-op rerun cost, memory of a 1 GB upload.

One invocation, one sandbox (``python -m airflow_creative_provider.sandbox --port 0``, its own
process, driven through its control API), three figures:

(a) Cold sync of ``--files`` small, distinct PNG/JPEG images (default 200) to the platforms
    (default all five), every platform API call delayed by ``--latency`` seconds (default
    0.1; a sandbox ``delay`` fault with ``count=None`` per platform, path ``^/(?!s3/)``; the
    S3 uploads behind presigned URLs are not delayed unless ``--delay-s3``). The engine
    (``plan_run`` in this process, then ``submit_batch`` for every batch at once, each in its
    own process as Airflow runs mapped task instances) against a naive baseline (one process
    calling the same hooks' ``submit``, one file and one platform at a time). Task processes
    are started and have imported everything before the clock runs; their exit is not timed.
    Each side has a fresh ledger (SQLite) and a reset sandbox; the waits for processing are
    not part of either. ``--no-airflow-masking`` is a counterfactual: no secret is handed to
    Airflow's masker, whose ``add_mask`` re-compiles one regex over every mask per new mask.
    Target: the engine at least 8x faster.
(b) No-op rerun over ``--noop-files`` unchanged files (default 10,000): the time of
    ``plan_run`` with the ledger holding the file index and a ready record per file and
    platform, as the sync left it, and the plan its report task made ahead
    (``prepare_next_plan``, timed and printed), as a ratio of a bare ``os.walk`` + ``os.stat``
    of the same folder. Target: at most 3x. Also printed: the same rerun planned afresh
    (saved plans deleted first: file index, every ledger record, the whole plan).
(c) Peak RSS growth of the submit task for a ``--video-mb`` MP4 (default 1024): a real 8 s
    video padded with an MP4 ``free`` box; planned in this process, submitted by
    ``submit_batch`` in a child process (as a mapped task runs) to ``--video-platforms``
    (default topsort, a streamed multipart POST; amazon_ads streams a presigned S3 PUT). The
    child resets its peak-RSS mark (VmHWM) after its imports; the peak during the submit minus
    the RSS before it is reported. Target: under 100 MB.

    uv run python benchmarks/sync.py [--files 200] [--noop-files 10000] [--video-mb 1024]

Not a test: the machine is shared and noisy; every figure prints with its target and
``ok`` / ``MISSED``, and the last line says whether all hold.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import resource
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PLATFORMS = ["topsort", "amazon_ads", "mediamath", "mediapocket", "delta_projects"]
TARGET_SPEEDUP = 8.0
TARGET_NOOP_RATIO = 3.0
TARGET_RSS_MB = 100.0
MB = 1024 * 1024


def _prepare_environment(home: Path) -> None:
    """A private AIRFLOW_HOME and no inherited connections, before Airflow is imported."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ["PYTHONWARNINGS"] = "ignore"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_"):
            del os.environ[name]


# ----------------------------------------------------------------------------- sandbox
class Sandbox:
    """The sandbox in its own process; ``control`` calls its ``/_sandbox`` API."""

    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "sandbox.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_creative_provider.sandbox", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=os.environ.copy(),
        )
        self.url = ""
        self.env: dict[str, str] = {}
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.process.stdout:
            if line.startswith("creative sandbox on "):
                self.url = line.split()[3]
            elif line.startswith("export "):
                name, _, value = shlex.split(line)[1].partition("=")
                self.env[name] = value
            elif line.strip() == '{"ready": true}':
                break
            if time.monotonic() > deadline:
                break
        if not self.url or not self.env:
            self.stop()
            raise RuntimeError(f"the sandbox did not start; see {self.log_path}")
        import requests

        self.http = requests.Session()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self, *, latency: float = 0.0, platforms: list[str] | None = None, delay_s3: bool = False) -> None:
        """Reset, then delay every API call of the platforms (and the S3 uploads if asked)."""
        self.control("POST", "reset")
        if latency:
            for platform in platforms or PLATFORMS:
                fault = {"kind": "delay", "platform": platform, "path": "^/(?!s3/)", "count": None, "delay": latency}
                self.control("POST", "faults", json=fault)
            if delay_s3:
                self.control("POST", "faults", json={"kind": "delay", "path": "^/s3/", "count": None, "delay": latency})

    def cpu_seconds(self) -> float:
        """User + system CPU time the sandbox process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def journal(self) -> list[dict[str, Any]]:
        return self.control("GET", "journal")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _calls_per_platform(journal: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for entry in journal:
        per = out.setdefault(entry.get("platform") or "?", {})
        per[entry.get("kind") or "api"] = per.get(entry.get("kind") or "api", 0) + 1
    return out


# ----------------------------------------------------------------------------- files
def make_images(folder: Path, count: int, *, seed: int = 7) -> list[Path]:
    """``count`` small images, PNG and JPEG in turn, each with distinct content (shapes, colours, its index)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        width, height = rng.randint(160, 480), rng.randint(120, 400)
        image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(3, 9)):
            x0, y0 = rng.randrange(width), rng.randrange(height)
            box = (x0, y0, x0 + rng.randint(10, width // 2), y0 + rng.randint(10, height // 2))
            fill = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        draw.text((8, 8), f"creative {i}", fill=(255, 255, 255))
        if i % 2:
            path = folder / f"creative_{i:05d}.jpg"
            image.save(path, "JPEG", quality=rng.randint(60, 90))
        else:
            path = folder / f"creative_{i:05d}.png"
            image.save(path, "PNG")
        paths.append(path)
    return paths


def make_tiny_pngs(folder: Path, count: int, *, per_folder: int = 500, start: int = 0) -> None:
    """``count`` tiny distinct PNGs (8x8, the index from ``start`` in the pixels) in sub-folders of ``per_folder``."""
    from PIL import Image

    for i in range(count):
        sub = folder / f"set_{i // per_folder:03d}"
        if i % per_folder == 0:
            sub.mkdir(parents=True, exist_ok=True)
        pixels = bytes(((start + i) >> shift) & 0xFF for shift in (0, 8, 16)) * 64
        Image.frombytes("RGB", (8, 8), pixels).save(sub / f"tile_{i:06d}.png", "PNG")


def make_video(path: Path, size_mb: int) -> None:
    """A real eight-second MP4 (PyAV, mpeg4, 5 frames/s) padded to ``size_mb`` MB with a trailing ``free`` box."""
    import av
    from PIL import Image

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for n in range(40):
            frame = Image.new("RGB", (320, 240), ((n * 10) % 256, 80, 160))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = buffer.getvalue()
    padding = max(size_mb * MB - len(video), 8)
    if padding >= 2**32:
        raise ValueError("--video-mb must stay under 4096 (a 32-bit MP4 box holds the padding)")
    block = os.urandom(MB)
    with open(path, "wb") as handle:
        handle.write(video)
        handle.write(struct.pack(">I4s", padding, b"free"))
        remaining = padding - 8
        while remaining > 0:
            handle.write(block[: min(remaining, MB)])
            remaining -= MB


def record_ready(url: str, run_id: str, folder: Path) -> int:
    """Record every upload the plan of ``run_id`` holds as sent and ready (as the sync leaves it)."""
    from sqlalchemy import insert

    from airflow_creative_provider.sync.ledger import READY, Ledger, assets_table

    ledger = Ledger(url)
    accounts = {p: i["account"] for p, i in (ledger.run(run_id) or {})["summary"]["platforms"].items()}
    now = time.time()
    rows = [
        {
            "sha256": item["sha256"],
            "platform": item["platform"],
            "account": accounts[item["platform"]],
            "remote_id": f"bench-{item['platform']}-{n}",
            "state": READY,
            "raw_state": "READY",
            "attempts": 1,
            "source": str(folder),
            "file_key": item["file_key"],
            "file_name": item["file_key"].rsplit("/", 1)[-1],
            "size": item["size"],
            "created_at": now,
            "updated_at": now,
            "sent_at": now,
            "intent_at": now,
            "last_run_id": run_id,
            "state_run_id": run_id,
        }
        for n, item in enumerate(ledger.run_items(run_id))
        if item["action"] == "upload"
    ]
    with ledger.begin() as conn:
        for start in range(0, len(rows), 20_000):
            conn.execute(insert(assets_table), rows[start : start + 20_000])
    return len(rows)


def bare_listing(root: Path) -> int:
    """The reference: walk the folder and stat every file, nothing else."""
    count = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))
            count += 1
    return count


# ----------------------------------------------------------------------------- (a)
class _MaskerMeter:
    """Counts the CPU time spent in Airflow's ``SecretsMasker.add_mask`` (it re-compiles one regex
    over every mask it holds each time a new one is added). Measures only; changes nothing."""

    def __init__(self) -> None:
        from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

        self.seconds = 0.0
        self._local = threading.local()
        original = SecretsMasker.add_mask
        meter = self

        def add_mask(masker: Any, secret: Any, name: str | None = None) -> None:
            if getattr(meter._local, "inside", False):
                return original(masker, secret, name)
            meter._local.inside = True
            started = time.thread_time()
            try:
                return original(masker, secret, name)
            finally:
                meter.seconds += time.thread_time() - started
                meter._local.inside = False

        SecretsMasker.add_mask = add_mask  # type: ignore[method-assign]

    @staticmethod
    def patterns() -> int:
        from airflow.sdk.log import _secrets_masker

        return len(_secrets_masker().patterns)


def child_task() -> None:
    """A task process: import everything, say ready, read one task (JSON line), run it, print the result."""
    from airflow_creative_provider.creative import Creative
    from airflow_creative_provider.hooks import hook_class
    from airflow_creative_provider.sync.engine import submit_batch
    from airflow_creative_provider.sync.ledger import Ledger

    for platform in PLATFORMS:
        hook_class(platform)
    meter = _MaskerMeter()
    print("ready", flush=True)
    task = json.loads(sys.stdin.readline())
    if not task.get("airflow_masking", True):
        # counterfactual (--no-airflow-masking): our redaction keeps scrubbing our own messages,
        # but no secret is handed to Airflow's masker (what a hook-side fix for one-use
        # presigned URLs would do)
        import airflow_creative_provider.hooks.base as hooks_base

        hooks_base.mask_secret = lambda value: None  # type: ignore[assignment]
    cpu, started = _own_cpu(), time.perf_counter()
    out: dict[str, Any] = {}
    if task["mode"] == "naive":
        # the same hooks' submit, one file and one platform at a time
        hooks = {p: hook_class(p)(f"{p}_default") for p in task["platforms"]}
        per = {p: 0.0 for p in task["platforms"]}
        sent = {p: 0 for p in task["platforms"]}
        for path in task["paths"]:
            creative = Creative.inspect(path, os.path.basename(path), sha1=True)
            for platform in task["platforms"]:
                t0 = time.perf_counter()
                hooks[platform].submit(creative)
                per[platform] += time.perf_counter() - t0
                sent[platform] += 1
        out = {"per_platform": per, "sent": sent}
    else:
        result = submit_batch(task["batch"], ledger=Ledger(task["ledger"]))
        out = {"counts": dict(result.counts), "failed": result.failed, "rejected": result.rejected}
    out.update(
        seconds=time.perf_counter() - started,
        cpu=_own_cpu() - cpu,
        masker_cpu=meter.seconds,
        masker_patterns=meter.patterns(),
    )
    print(json.dumps(out), flush=True)


class TaskProcess:
    """One child running ``child_task``: started (and imported) before the clock runs."""

    def __init__(self, log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 - closed in result()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child-task"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=os.environ.copy(),
        )

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a task process did not start (see {self._log.name}): {line!r}")

    def send(self, task: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(task) + "\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        """The task's result, as soon as it is printed (the process's exit is not timed)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                result = json.loads(line)
                break
        else:
            self.process.wait()
            raise RuntimeError(f"a task process failed (exit {self.process.returncode}); see {self._log.name}")
        return result

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait()
        self._log.close()


def bench_cold_sync(args: argparse.Namespace, sandbox: Sandbox, work: Path) -> tuple[float, bool]:
    from airflow_creative_provider.sync.engine import plan_run
    from airflow_creative_provider.sync.ledger import Ledger

    platforms = args.platforms
    folder = work / "cold"
    paths = make_images(folder, args.files)
    total = sum(p.stat().st_size for p in paths)
    log = work / "tasks.log"
    print(
        f"\n(a) cold sync: {len(paths)} images ({total / 1024:.0f} KB, {total / len(paths) / 1024:.1f} KB avg) "
        f"to {len(platforms)} platforms, {args.latency * 1000:.0f} ms added per API call"
        f"{' and per S3 upload' if args.delay_s3 else ' (S3 uploads not delayed)'}; every task in its own "
        "process, started before the clock"
        + ("" if args.masking else "; COUNTERFACTUAL: hooks hand no secret to Airflow's masker"),
        flush=True,
    )

    # naive: one process, the same hooks' submit, one file and one platform at a time
    sandbox.reset(latency=args.latency, platforms=platforms, delay_s3=args.delay_s3)
    naive_task = TaskProcess(log)
    naive_task.wait_ready()
    sandbox_cpu = sandbox.cpu_seconds()
    started = time.perf_counter()
    naive_task.send(
        {"mode": "naive", "paths": [str(p) for p in paths], "platforms": platforms, "airflow_masking": args.masking}
    )
    naive_out = naive_task.result()
    naive = time.perf_counter() - started
    naive_task.close()
    naive_sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    naive_calls = _calls_per_platform(sandbox.journal())
    print(
        f"    naive baseline: {naive:7.1f} s  ({len(paths) * len(platforms) / naive:.1f} uploads/s; "
        + ", ".join(f"{p} {t:.1f} s" for p, t in naive_out["per_platform"].items())
        + ")",
        flush=True,
    )

    # engine: the plan task, then one process per batch, all at once (the DAG's mapped submit tasks)
    sandbox.reset(latency=args.latency, platforms=platforms, delay_s3=args.delay_s3)
    ledger_url = f"sqlite:///{work / 'ledger-cold.db'}"
    run_id = "bench_cold"
    sandbox_cpu = sandbox.cpu_seconds()
    started = time.perf_counter()
    plan = plan_run({"source": str(folder), "platforms": platforms}, run_id=run_id, ledger=Ledger(ledger_url))
    planned = time.perf_counter() - started
    batches = [b for b in plan.batches if b.items or b.error]
    tasks = [TaskProcess(log) for _ in batches]
    for task in tasks:
        task.wait_ready()
    started = time.perf_counter()
    for task, batch in zip(tasks, batches, strict=True):
        task.send(
            {
                "mode": "batch",
                "batch": batch.to_json(),
                "run_id": run_id,
                "ledger": ledger_url,
                "airflow_masking": args.masking,
            }
        )
    outs = [task.result() for task in tasks]
    submitted = time.perf_counter() - started
    for task in tasks:
        task.close()
    engine = planned + submitted
    engine_sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    engine_calls = _calls_per_platform(sandbox.journal())
    sent: dict[str, int] = {}
    problems = []
    for batch, out in zip(batches, outs, strict=True):
        ok_states = sum(n for state, n in out["counts"].items() if state not in ("failed", "rejected", "refused"))
        sent[batch.platform] = sent.get(batch.platform, 0) + ok_states
        if out["failed"] or out["rejected"] or batch.error:
            problems.append(f"{batch.platform}: {out['counts']} {batch.error or ''}")
    print(
        f"    engine:         {engine:7.1f} s  (plan {planned:.1f} s, then {len(batches)} batches in parallel: "
        + ", ".join(f"{b.label} {o['seconds']:.1f} s" for b, o in zip(batches, outs, strict=True))
        + ")",
        flush=True,
    )
    print(
        f"    CPU seconds: naive task {naive_out['cpu']:.1f} (of which SecretsMasker.add_mask "
        f"{naive_out['masker_cpu']:.1f}, {naive_out['masker_patterns']} masks), sandbox {naive_sandbox_cpu:.1f}; "
        f"engine tasks {sum(o['cpu'] for o in outs):.1f} (add_mask {sum(o['masker_cpu'] for o in outs):.1f}, "
        f"masks per task {max(o['masker_patterns'] for o in outs)} at most), sandbox {engine_sandbox_cpu:.1f}"
    )
    cpu_floor = (sum(o["cpu"] for o in outs) + engine_sandbox_cpu) / (os.cpu_count() or 1)
    print(
        f"    CPU floor of the engine run on this machine ((tasks + sandbox CPU) / {os.cpu_count()} cores): "
        f"{cpu_floor:.1f} s, so at most {naive / max(cpu_floor, 1e-6):.1f}x with this sandbox on this machine"
    )
    print("    API calls / S3 uploads per platform (naive | engine):")
    for platform in platforms:
        n, e = naive_calls.get(platform, {}), engine_calls.get(platform, {})
        print(
            f"      {platform:<15} {n.get('api', 0):5d} / {n.get('s3', 0):4d}  |  {e.get('api', 0):5d} / "
            f"{e.get('s3', 0):4d}   sent {naive_out['sent'].get(platform, 0)} | {sent.get(platform, 0)}"
        )
    others = {k: v for k, v in engine_calls.items() if k not in platforms}
    if others:
        print(f"      other S3 buckets (engine): {others}")
    complete = not problems and all(sent.get(p, 0) == len(paths) for p in platforms)
    if not complete:
        print(f"    engine run incomplete: {problems or sent}")
    ratio = naive / engine
    ok = ratio >= TARGET_SPEEDUP and complete
    print(f"(a) engine speed-up over naive: {ratio:.1f}x  target >= {TARGET_SPEEDUP:.0f}x: {'ok' if ok else 'MISSED'}")
    return ratio, ok


# ----------------------------------------------------------------------------- (b)
def bench_noop(args: argparse.Namespace, sandbox: Sandbox, work: Path) -> tuple[float, bool]:
    from sqlalchemy import delete

    from airflow_creative_provider.sync.engine import plan_run, prepare_next_plan
    from airflow_creative_provider.sync.ledger import Ledger, plans_table

    platforms = args.platforms
    folder = work / "noop"
    print(f"\n(b) no-op rerun over {args.noop_files} unchanged files, {len(platforms)} platforms", flush=True)
    t0 = time.perf_counter()
    make_tiny_pngs(folder, args.noop_files)
    print(f"    {args.noop_files} files written in {time.perf_counter() - t0:.1f} s", flush=True)
    sandbox.reset()
    url = f"sqlite:///{work / 'ledger-noop.db'}"
    params = {"source": str(folder), "platforms": platforms}

    # populate: a first (real) plan reads every file and stores the file index...
    t0 = time.perf_counter()
    first = plan_run(params, run_id="bench_noop_populate", ledger=Ledger(url))
    uploads = sum(c.get("upload", 0) for c in first.counts.values())
    # ...then every upload it planned is recorded as sent and ready (as if the sync had run)
    records = record_ready(url, "bench_noop_populate", folder)
    print(
        f"    ledger populated in {time.perf_counter() - t0:.1f} s: file index of {first.listing['files']} files "
        f"(read {first.listing['hashed']}), {records} ready records of {uploads} planned uploads",
        flush=True,
    )

    # ...and the sync's report task plans the next run ahead, as the DAG's does
    t0 = time.perf_counter()
    ahead = prepare_next_plan("bench_noop_populate", ledger=Ledger(url))
    print(f"    the sync's report planned the next run ahead in {time.perf_counter() - t0:.2f} s: {ahead}", flush=True)

    listing_times, plan_times = [], []
    last: Any = None
    for rep in range(args.reps):
        t0 = time.perf_counter()
        listed = bare_listing(folder)
        listing_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        last = plan_run(params, run_id=f"bench_noop_rerun_{rep}", ledger=Ledger(url))
        plan_times.append(time.perf_counter() - t0)
    breakdown = _plan_breakdown(params, url)
    # the same rerun without a saved plan (as after a change made elsewhere): planned afresh
    afresh_times = []
    for rep in range(args.reps):
        with Ledger(url).begin() as conn:
            conn.execute(delete(plans_table))
        t0 = time.perf_counter()
        afresh = plan_run(params, run_id=f"bench_noop_afresh_{rep}", ledger=Ledger(url))
        afresh_times.append(time.perf_counter() - t0)
        assert afresh.reused_plan_of is None and not afresh.batches
    work_items = sum(b.items for b in last.batches)
    actions: dict[str, int] = {}
    for counts in last.counts.values():
        for action, n in counts.items():
            actions[action] = actions.get(action, 0) + n
    noop = work_items == 0 and last.listing["hashed"] == 0 and listed == args.noop_files
    listing, planning = statistics.median(listing_times), statistics.median(plan_times)
    print(f"    bare os.walk + stat: {listing * 1000:7.1f} ms  (median of {args.reps}; {listed} files)")
    print(
        f"    plan_run (rerun):    {planning * 1000:7.1f} ms  (median of {args.reps}: "
        + ", ".join(f"{t * 1000:.0f}" for t in plan_times)
        + f" ms; the first is the first rerun after the sync; files read {last.listing['hashed']}, "
        f"work items {work_items}, rows {actions}, plan reused from {last.reused_plan_of})"
    )
    print(f"    where a rerun's time goes (cProfile, one extra rerun): {breakdown}")
    print(
        f"    plan_run afresh:     {statistics.median(afresh_times) * 1000:7.1f} ms  (no saved plan, as after a "
        "change made elsewhere: file index, every ledger record, the whole plan, "
        f"{statistics.median(afresh_times) / listing:.1f}x the listing; not the target's figure)"
    )
    if not noop:
        print("    the rerun was not a no-op: the figure does not count")
    ratio = planning / listing
    ok = ratio <= TARGET_NOOP_RATIO and noop
    print(
        f"(b) no-op rerun / bare listing: {ratio:.1f}x  target <= {TARGET_NOOP_RATIO:.0f}x: {'ok' if ok else 'MISSED'}"
    )
    return ratio, ok


def _plan_breakdown(params: dict[str, Any], url: str) -> str:
    """One more rerun under cProfile: cumulative seconds of the planning steps (profiler overhead included)."""
    import cProfile
    import pstats

    from airflow_creative_provider.sync.engine import plan_run
    from airflow_creative_provider.sync.ledger import Ledger

    profile = cProfile.Profile()
    profile.enable()
    plan_run(params, run_id="bench_noop_profiled", ledger=Ledger(url))
    profile.disable()
    steps = {
        ("planner.py", "plan_run"): "plan_run",
        ("source.py", "scan_source"): "scan_source",
        ("planner.py", "resolve_targets"): "hooks and accounts",
        ("ledger.py", "marks"): "Ledger.marks",
        ("ledger.py", "saved_plan"): "Ledger.saved_plan",
        ("source.py", "list_source"): "list_source",
        ("ledger.py", "file_index"): "Ledger.file_index",
        ("ledger.py", "update_file_index"): "Ledger.update_file_index",
        ("ledger.py", "records"): "Ledger.records",
        ("plan.py", "build_plan"): "plan.build_plan",
        ("ledger.py", "save_run_items"): "Ledger.save_run_items",
        ("ledger.py", "start_run"): "Ledger.start_run",
    }
    found: dict[str, float] = {}
    for (filename, _line, function), stat in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        name = steps.get((os.path.basename(filename), function))
        if name and "sync" in filename:
            found[name] = found.get(name, 0.0) + stat[3]
    return ", ".join(f"{name} {found[name] * 1000:.0f} ms" for name in steps.values() if name in found)


# ----------------------------------------------------------------------------- (c)
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class _RssSampler:
    """Samples this process's RSS every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = _status_mb("VmRSS")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _status_mb("VmRSS"))

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status_mb("VmRSS"))


def child_submit(batch_file: str, ledger_url: str) -> None:
    """The submit task of one batch, in this (child) process; prints its memory figures as JSON.

    The kernel's peak-RSS mark (VmHWM) is reset (``/proc/self/clear_refs``) once everything is
    imported, so the peak read afterwards is the submit's own; a 20 ms sampler checks it.
    """
    batch = json.loads(Path(batch_file).read_text())
    from airflow_creative_provider.hooks import hook_class
    from airflow_creative_provider.sync.engine import submit_batch
    from airflow_creative_provider.sync.ledger import Ledger

    hook_class(batch["platform"])
    ledger = Ledger(ledger_url)
    import_peak = _status_mb("VmHWM")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    rss_before = _status_mb("VmRSS")
    started = time.perf_counter()
    with _RssSampler() as sampler:
        result = submit_batch(batch, ledger=ledger)
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    print(
        json.dumps(
            {
                "import_peak_mb": import_peak,
                "rss_before_mb": rss_before,
                "peak_mb": peak,
                "sampled_peak_mb": sampler.peak,
                "growth_mb": max(peak, sampler.peak) - rss_before,
                "seconds": seconds,
                "counts": dict(result.counts),
                "bytes_sent": result.bytes_sent,
                "reasons": [
                    r["reason"]
                    for r in ledger.run_items(result.run_id, platform=result.platform, batch=result.index)
                    if r["reason"]
                ],
            }
        )
    )


def bench_video(args: argparse.Namespace, sandbox: Sandbox, work: Path) -> tuple[float, bool]:
    from airflow_creative_provider.sync.engine import plan_run
    from airflow_creative_provider.sync.ledger import Ledger

    folder = work / "video"
    folder.mkdir()
    path = folder / "big_video.mp4"
    print(f"\n(c) submit of a {args.video_mb} MB MP4 in a child process", flush=True)
    t0 = time.perf_counter()
    make_video(path, args.video_mb)
    print(f"    video written in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / MB:.0f} MB)", flush=True)
    growths, ok_all = [], True
    for platform in args.video_platforms:
        sandbox.reset()
        url = f"sqlite:///{work / f'ledger-video-{platform}.db'}"
        t0 = time.perf_counter()
        plan = plan_run(
            {"source": str(folder), "platforms": [platform]}, run_id=f"bench_video_{platform}", ledger=Ledger(url)
        )
        batches = [b for b in plan.batches if b.items]
        if not batches or Ledger(url).run_items(plan.run_id, platform=platform, batch=0)[0]["action"] != "upload":
            print(f"    {platform}: the video was not planned for upload: {plan.counts}")
            ok_all = False
            continue
        print(f"    {platform}: planned in {time.perf_counter() - t0:.1f} s (file hashed and probed)", flush=True)
        batch_file = work / f"batch-{platform}.json"
        batch_file.write_text(json.dumps(batches[0].to_json()))
        out = subprocess.run(
            [sys.executable, __file__, "--child-submit", str(batch_file), "--child-ledger", url],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        if out.returncode != 0:
            print(f"    {platform}: the child failed:\n{out.stderr[-3000:]}")
            ok_all = False
            continue
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        sent = figures["bytes_sent"] == path.stat().st_size and not figures["counts"].get("failed")
        uploads = [e for e in sandbox.journal() if e.get("sha256")]
        growth = figures["growth_mb"]
        growths.append(growth)
        ok = growth < TARGET_RSS_MB and sent
        ok_all = ok_all and ok
        received = [(e["kind"], e["method"], e["status"]) for e in uploads]
        print(
            f"    {platform}: sent {figures['bytes_sent'] / MB:.0f} MB in {figures['seconds']:.1f} s "
            f"({figures['bytes_sent'] / MB / max(figures['seconds'], 1e-6):.0f} MB/s), states {figures['counts']}, "
            f"file received by {received}; child RSS {figures['rss_before_mb']:.0f} MB before the submit "
            f"(peak while importing {figures['import_peak_mb']:.0f} MB), peak during it "
            f"{figures['peak_mb']:.0f} MB (sampled every 20 ms: {figures['sampled_peak_mb']:.0f} MB)"
            + (f"; reasons {figures['reasons']}" if figures["reasons"] else "")
        )
        verdict = "ok" if ok else "MISSED"
        target = f"target < {TARGET_RSS_MB:.0f} MB"
        print(f"(c) {platform}: peak RSS growth of the submit task {growth:.1f} MB  {target}: {verdict}")
    return max(growths) if growths else float("nan"), ok_all and bool(growths)


# ----------------------------------------------------------------------------- main
def print_verdicts(started: float, verdicts: dict[str, bool]) -> None:
    """The closing lines: total time and whether every target holds."""
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    print(
        "all targets hold: "
        + ("yes" if verdicts and all(verdicts.values()) else "no")
        + " ("
        + ", ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in verdicts.items())
        + ")"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="(a) images in the cold sync (default 200)")
    parser.add_argument("--latency", type=float, default=0.1, help="(a) seconds added per API call (default 0.1)")
    parser.add_argument("--delay-s3", action="store_true", help="(a) delay the S3 uploads too")
    parser.add_argument(
        "--no-airflow-masking",
        dest="masking",
        action="store_false",
        help="(a) counterfactual: the task processes hand no secret to Airflow's masker (SecretsMasker.add_mask "
        "re-compiles one regex over every mask per new mask); not the shipped behaviour",
    )
    parser.add_argument("--noop-files", type=int, default=10_000, help="(b) files in the no-op rerun (default 10000)")
    parser.add_argument("--reps", type=int, default=3, help="(b) repetitions of listing and rerun (default 3)")
    parser.add_argument("--video-mb", type=int, default=1024, help="(c) size of the video in MB (default 1024)")
    parser.add_argument(
        "--video-platforms",
        default="topsort",
        help="(c) comma-separated platforms to send the video to (default topsort: a streamed multipart POST; "
        "amazon_ads streams a presigned S3 PUT, but the sandbox's moto takes about 2.5 minutes to store 1 GB)",
    )
    parser.add_argument("--platforms", default=",".join(PLATFORMS), help="(a, b) platforms (default all five)")
    parser.add_argument("--only", default="abc", help="which parts to run (default abc)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child-task", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-submit", help=argparse.SUPPRESS)
    parser.add_argument("--child-ledger", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.child_task:
        child_task()
        return
    if args.child_submit:
        child_submit(args.child_submit, args.child_ledger)
        return
    args.platforms = [p for p in args.platforms.split(",") if p]
    args.video_platforms = [p for p in args.video_platforms.split(",") if p]

    work = Path(tempfile.mkdtemp(prefix="creative-bench-"))
    _prepare_environment(work / "airflow_home")
    started = time.perf_counter()
    print(f"work folder {work}; starting the sandbox ...", flush=True)
    sandbox = Sandbox(work)
    os.environ.update(sandbox.env)
    print(f"sandbox on {sandbox.url} (pid {sandbox.process.pid})", flush=True)
    verdicts: dict[str, bool] = {}
    try:
        if "a" in args.only:
            verdicts["a"] = bench_cold_sync(args, sandbox, work)[1]
        if "b" in args.only:
            verdicts["b"] = bench_noop(args, sandbox, work)[1]
        if "c" in args.only:
            verdicts["c"] = bench_video(args, sandbox, work)[1]
    finally:
        sandbox.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_verdicts(started, verdicts)


if __name__ == "__main__":
    main()
