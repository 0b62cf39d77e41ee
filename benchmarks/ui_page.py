"""The Creatives page at scale: the first page of ``/`` and of ``/api/assets`` (issue 14 section 3, figure 5).

The ledger is filled directly (no sync, no sandbox) with what a sync of ``--files`` creatives
(default 100,000) to five platforms leaves: the file index, a ready record and a ``sent``
history entry per creative and platform, the run that sent them; plus the odd cases the page
must still get right: creatives gone from the source (records only), contents under two
names, refusals by the platforms' rules and drift found by a check. Then each route is asked
``--reps`` times (median printed; the route's auth dependency is replaced by a no-op), the
issue's two with their target (<= 300 ms), the filtered views analysts use (a state, a run, a
search: the same target, printed beside), a few other views besides (printed, no target).
The two are also timed right after a record is added (as while a sync runs) and right after a
file of the index changed (as after a plan found one): ``ui.queries`` reuses its whole-ledger
figures (records per platform account, contents gone from the source) while the ledger stays the
same, counts only the records added since, and counts the whole ledger again when the files
changed; printed beside them. (Those views add records to a ``--url`` ledger: a few per run.)

    uv run python benchmarks/ui_page.py                                   # SQLite in a temp folder
    uv run python benchmarks/ui_page.py --url postgresql+psycopg://postgres@127.0.0.1:5432/ui_bench
    uv run python benchmarks/ui_page.py --url sqlite:////tmp/ui_bench.db  # kept: filled once, reused

A ledger given by ``--url`` that already holds the benchmark's creatives is reused as it is
(a PostgreSQL database is created when missing). Not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import PLATFORMS, _prepare_environment, print_verdicts  # noqa: E402

TARGET_PAGE_MS = 300.0
SOURCE = "/bench/creatives"
RUN_ID = "populate"
#: the issue's two routes (with a target), the filtered views analysts use (the same target, printed
#: beside the default view's), then other views (printed only)
ROUTES: tuple[tuple[str, bool], ...] = (
    ("/", True),
    ("/api/assets", True),
    ("/?state=ready", True),
    ("/api/assets?state=ready", True),
    ("/api/assets?state=ready&platform=topsort", True),
    ("/api/assets?state=refused", True),
    (f"/?run={RUN_ID}", True),
    (f"/api/assets?run={RUN_ID}", True),
    ("/?q=tile_0999", True),
    ("/api/assets?q=tile_0999", True),
    ("/?page=3", False),
    ("/api/assets?sort=last_change", False),
    ("/api/assets?sort=first_seen", False),
)
#: the routes also timed after a record is added and after a file changed (the default view's figures are reused)
REUSED = ("/", "/api/assets")


def _sha(n: int) -> str:
    return hashlib.sha256(f"creative-{n}".encode()).hexdigest()


def _key(n: int) -> str:
    return f"set_{n // 500:03d}/tile_{n:06d}.png"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def fill(url: str, files: int) -> None:
    """What a sync of ``files`` creatives to every platform leaves in the ledger, and the odd cases."""
    from sqlalchemy import func, insert, select

    from airflow_creative_provider.sync.ledger import (
        READY,
        Ledger,
        assets_table,
        drift_table,
        files_table,
        history_table,
        refusals_table,
        runs_table,
    )

    ledger = Ledger(url)
    with ledger.begin() as conn:
        held = conn.execute(select(func.count()).where(files_table.c.source == SOURCE)).scalar_one()
    if held:
        print(f"  reusing the ledger at {url} ({held} files in the index)", flush=True)
        return
    t0 = time.perf_counter()
    now = time.time()
    accounts = {p: f"bench-{p}" for p in PLATFORMS}
    in_source = range(0, files - files // 1000)  # the last 0.1% left the source, still on every platform
    facts = {"mimetype": "image/png", "width": 8, "height": 8}
    file_rows = [
        {
            "source": SOURCE,
            "file_key": _key(n),
            "size": 100 + n % 50,
            "mtime": now - files + n,
            "sha256": _sha(n),
            "facts": facts,
            "updated_at": now - files + n,
        }
        for n in in_source
    ]
    # every 1000th content also under a second name (sent once, shown once)
    file_rows += [
        {**row, "file_key": "copies/" + row["file_key"].replace("/", "_"), "updated_at": now}
        for row in file_rows[::1000]
    ]
    asset_rows, history_rows = [], []
    for n in range(files):
        for platform in PLATFORMS:
            sent_at = now - files + n + 1
            asset_rows.append(
                {
                    "sha256": _sha(n),
                    "platform": platform,
                    "account": accounts[platform],
                    "remote_id": f"bench-{platform}-{n}",
                    "state": READY,
                    "raw_state": "READY",
                    "attempts": 1,
                    "source": SOURCE,
                    "file_key": _key(n),
                    "file_name": _key(n).rsplit("/", 1)[-1],
                    "size": 100 + n % 50,
                    "created_at": sent_at,
                    "updated_at": sent_at,
                    "sent_at": sent_at,
                    "intent_at": sent_at,
                    "last_run_id": RUN_ID,
                    "state_run_id": RUN_ID,
                }
            )
            history_rows.append(
                {
                    "sha256": _sha(n),
                    "platform": platform,
                    "account": accounts[platform],
                    "at": sent_at,
                    "run_id": RUN_ID,
                    "event": "sent",
                    "state": READY,
                    "remote_id": f"bench-{platform}-{n}",
                }
            )
    refused = [
        {
            "source": SOURCE,
            "file_key": _key(n),
            "platform": "mediamath",
            "account": accounts["mediamath"],
            "sha256": _sha(n),
            "rule": "dimensions",
            "reason": f"{_key(n)}: refused for mediamath (dimensions): 8x8 is not a size MediaMath takes",
            "run_id": RUN_ID,
            "updated_at": now,
        }
        for n in range(0, files - files // 1000, 997)
    ]
    # the refused ones have no mediamath record (never sent)
    refused_shas = {r["sha256"] for r in refused}
    asset_rows = [a for a in asset_rows if not (a["platform"] == "mediamath" and a["sha256"] in refused_shas)]
    drift = [
        {
            "run_id": "creative_check/check-1",
            "checked_at": now,
            "source": SOURCE,
            "platform": "topsort",
            "account": accounts["topsort"],
            "sha256": _sha(n),
            "remote_id": f"bench-topsort-{n}",
            "file_key": _key(n),
            "kind": "state_changed",
            "recorded_state": READY,
            "platform_state": "rejected",
            "detail": "rejected on the platform since",
            "repaired": 0,
        }
        for n in range(0, files, 1009)
    ]
    run = {
        "run_id": RUN_ID,
        "started_at": now - files - 10,
        "finished_at": now,
        "source": SOURCE,
        "dry_run": 0,
        "params": {"source": SOURCE, "connections": {p: f"{p}_default" for p in PLATFORMS}},
        "summary": {"platforms": {p: {"account": accounts[p]} for p in PLATFORMS}},
        "bytes_sent": 0,
        "outcome": "success",
    }
    with ledger.begin() as conn:
        conn.execute(insert(runs_table), [run])
        for table, rows in (
            (files_table, file_rows),
            (assets_table, asset_rows),
            (history_table, history_rows),
            (refusals_table, refused),
            (drift_table, drift),
        ):
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(table), rows[start : start + 20_000])
    if ledger.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves a table that size
    print(
        f"  filled {url}: {len(file_rows)} files, {len(asset_rows)} records, {len(history_rows)} history "
        f"entries, {len(refused)} refusals, {len(drift)} drift rows in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )


def measure(
    url: str, reps: int, routes: tuple[tuple[str, bool], ...], grouped: bool = False
) -> dict[str, tuple[float, ...]]:
    """path -> (median ms, total the page reports[, median ms after a record is added, after the file
    index changed]): the last two for the routes with a target, when the page reuses whole-ledger figures.
    With ``grouped``, the filtered views with a target end with the ms of one request served by the
    grouped query over the whole ledger (the path before the filtered name walk), for comparison."""
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, update

    from airflow_creative_provider.sync.ledger import READY, Ledger, assets_table, files_table
    from airflow_creative_provider.ui import queries
    from airflow_creative_provider.ui.app import create_app

    app = create_app(url)
    for dependency in app.router.dependencies:  # the auth check: not what is measured here
        app.dependency_overrides[dependency.dependency] = lambda: None  # type: ignore[union-attr,index]
    client = TestClient(app, root_path="/creative-sync")
    ledger = Ledger(url)
    added = [0]

    def add_record() -> None:  # what a running sync does between two views of the page
        added[0] += 1
        sha = _sha(-int(time.time() * 1000) - added[0])
        now = time.time()
        with ledger.begin() as conn:
            conn.execute(
                insert(assets_table).values(
                    sha256=sha, platform="topsort", account="bench-topsort", state=READY, attempts=1,
                    file_key=f"later/{sha[:12]}.png", created_at=now, updated_at=now,
                )
            )  # fmt: skip

    def change_files() -> None:  # what a plan does when it finds a changed file
        with ledger.begin() as conn:
            conn.execute(update(files_table).where(files_table.c.file_key == _key(7)).values(updated_at=time.time()))

    def timed(path: str, before: Any = None) -> tuple[float, Any]:
        if before is not None:
            before()
        t0 = time.perf_counter()
        response = client.get(path)
        ms = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        return ms, response

    reuses = hasattr(queries, "_census")
    out: dict[str, tuple[float, ...]] = {}
    for path, target in routes:
        response = timed(path)[1]  # warm: the first request builds the hooks, templates...
        times = [timed(path)[0] for _ in range(reps)]
        total = json.loads(response.text)["total"] if "/api/" in path else -1
        out[path] = (statistics.median(times), total)
        if target and reuses and path in REUSED:
            after_record = statistics.median(timed(path, add_record)[0] for _ in range(reps))
            after_files = statistics.median(timed(path, change_files)[0] for _ in range(reps))
            out[path] += (after_record, after_files)
        if target and grouped and path not in REUSED and hasattr(queries, "NAME_WALK_DEPTH"):
            depth, queries.NAME_WALK_DEPTH = queries.NAME_WALK_DEPTH, 0  # every page by the grouped query
            try:
                out[path] += (timed(path)[0],)
            finally:
                queries.NAME_WALK_DEPTH = depth
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="creatives in the ledger (default 100000)")
    parser.add_argument("--reps", type=int, default=5, help="requests per route, median printed (default 5)")
    parser.add_argument("--url", help="the ledger (default: SQLite in a temporary folder, removed after)")
    parser.add_argument("--targets-only", action="store_true", help="only the routes with a target")
    parser.add_argument(
        "--grouped",
        action="store_true",
        help="also time each filtered view once by the grouped query over the whole ledger (slow: seconds each)",
    )
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="creative-ui-page-"))
    _prepare_environment(work / "airflow_home")
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    started = time.perf_counter()
    url = args.url or f"sqlite:///{work / 'ledger.db'}"
    verdicts: dict[str, bool] = {}
    try:
        ensure_database(url)
        print(f"{args.files} creatives x {len(PLATFORMS)} platforms in {url}", flush=True)
        fill(url, args.files)
        routes = tuple(r for r in ROUTES if r[1] or not args.targets_only)
        results = measure(url, args.reps, routes, args.grouped)
        print(f"\n  (median of {args.reps} requests each)")
        width = max(len(p) for p, _ in routes)
        for path, target in routes:
            ms, total, *after = results[path]
            shown = f"{ms:6.0f} ms"
            if target:
                verdicts[f"first page of {path}"] = ok = ms <= TARGET_PAGE_MS
                shown += f"  <= {TARGET_PAGE_MS:.0f} ms  {'ok' if ok else 'MISSED'}"
                if after and path in REUSED:
                    shown += f"  (after a record is added: {after[0]:.0f} ms; after a file changed: {after[1]:.0f} ms)"
                elif after:
                    shown += f"  (grouped query over the whole ledger: {after[0]:.0f} ms, x{after[0] / ms:.0f})"
            shown += f"  ({total:.0f} creatives)" if total >= 0 else ""
            print(f"  {path:<{width}}  {shown}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_verdicts(started, verdicts)


if __name__ == "__main__":
    main()
