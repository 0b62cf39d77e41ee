"""The sync on a real Airflow cluster, driven as a user does: runs triggered through the REST
API, judged by the sandbox's journal (what each platform received) and the ledger.

Every test syncs a folder of its own, with content no other test has, to all five platforms;
windows (a worker killed mid-upload, waits deferred, the ledger's connections dropped) are made
with the sandbox's fault, processing and clock controls, never by sleeping and hoping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.source import list_source
from tests.support.dags import CREATE_CALLS

pytestmark = pytest.mark.timeout(900)

SIZES = [(300, 250), (728, 90), (600, 600), (1200, 628)]


def make_folder(folder: Path, count: int, seed: int) -> Path:
    """``count`` images of sizes every platform takes, with content no other folder has."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for index in range(count):
        size = SIZES[index % len(SIZES)]
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        image = Image.new("RGB", size, colour)
        image.putpixel((index % size[0], 0), (seed % 256, index % 256, 7))
        suffix = "png" if index % 2 else "jpg"
        image.save(folder / f"creative_{seed}_{index:02}.{suffix}")
    return folder


def expected_contents(source: Path) -> dict[str, set[str]]:
    """Per platform: the distinct contents (sha256) its rules accept from ``source``."""
    out: dict[str, set[str]] = {p: set() for p in PLATFORMS}
    for creative in list_source(str(source), include="**/*").files:
        full = Creative.inspect(source / creative.key, creative.key)
        for platform in PLATFORMS:
            if not hook_class(platform).rules.check(full):
                out[platform].add(full.sha256)
    return out


def creates(cluster: Any, platform: str, since: int) -> list[dict[str, Any]]:
    """Create calls the platform processed after journal entry ``since``."""
    method, path = CREATE_CALLS[platform]
    return [
        e
        for e in cluster.sandbox.control("GET", "journal", platform=platform, method=method, path=path)
        if e["seq"] > since and (e["status"] == "dropped_after" or (isinstance(e["status"], int) and e["status"] < 300))
    ]


def last_seq(cluster: Any) -> int:
    entries = cluster.sandbox.journal()
    return entries[-1]["seq"] if entries else 0


def assert_each_content_created_once(cluster: Any, source: Path, since: int, *, shells: bool = False) -> int:
    """A ready ledger record for each accepted content per platform, with its own remote id
    (0 lost), and no other asset created for it (0 duplicates).

    :param shells: a worker was killed between a create and its upload: Topsort may hold empty
        assets stuck in ``pending_upload`` (no upload URL can be had again, so they are left
        behind; see hooks/topsort.py). Each must be exactly that: never uploaded, never approved.
    :return: how many such empty assets were left behind.
    """
    ledger = Ledger(cluster.ledger_url)
    left_behind = 0
    for platform, contents in expected_contents(source).items():
        assert contents, platform
        records = [r for r in ledger_records(ledger, platform) if r.sha256 in contents]
        assert {r.sha256 for r in records} == contents, platform
        assert all(r.state == "ready" and r.remote_id for r in records), [(r.state, r.reason) for r in records]
        kept = {r.remote_id for r in records}
        assert len(kept) == len(contents), platform
        made = creates(cluster, platform, since)
        assert kept <= {e.get("remote_id") for e in made}, platform  # each made by this test's runs
        extra = [e["remote_id"] for e in made if e.get("remote_id") not in kept]
        if shells and platform == "topsort":
            for remote_id in extra:
                assert topsort_status(cluster, remote_id) == "pending_upload", remote_id
            left_behind += len(extra)
        else:
            assert extra == [], f"{platform}: {len(made)} creates for {len(contents)} contents"
    return left_behind


def topsort_status(cluster: Any, remote_id: str) -> str:
    """An asset's status, asked of (the sandbox's) Topsort with the cluster's connection."""
    import os

    from airflow_creative_provider.hooks.topsort import TopsortHook

    name = "AIRFLOW_CONN_TOPSORT_DEFAULT"
    saved = os.environ.get(name)
    os.environ[name] = cluster.sandbox.connections[name]
    try:
        return TopsortHook().get_asset(remote_id)["status"]
    finally:
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved


def ledger_records(ledger: Ledger, platform: str) -> list[Any]:
    from sqlalchemy import select

    from airflow_creative_provider.sync.ledger import AssetRecord, assets_table

    with ledger.begin() as conn:
        rows = conn.execute(select(assets_table).where(assets_table.c.platform == platform)).mappings().all()
    return [AssetRecord.from_row(r) for r in rows]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(1)


def sync(cluster: Any, source: Path, dag_id: str = "creative_sync", **conf: Any) -> str:
    return cluster.trigger(dag_id, {"source": str(source), **conf})


def submit_hosts(cluster: Any, dag_id: str, run_id: str) -> set[str]:
    return {t["hostname"] for t in cluster.tries(dag_id, run_id, "submit") if t.get("hostname")}


# -- 1. cold sync ----------------------------------------------------------------------------


def test_cold_sync_of_the_sample_folder_creates_each_content_once_on_both_workers(cluster, tmp_path: Path) -> None:
    source = cluster.work / "sample"
    if not source.exists():
        import shutil

        shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "creatives", source)
    since = last_seq(cluster)
    run_id = sync(cluster, source, batch_size=4)  # 2-3 submit tasks per platform
    assert cluster.wait_run("creative_sync", run_id) == "success"
    assert_each_content_created_once(cluster, source, since)
    assert submit_hosts(cluster, "creative_sync", run_id) == {"worker-1", "worker-2"}


# -- 2. a worker killed mid-upload -------------------------------------------------------------


def test_worker_killed_while_uploading_is_retried_on_the_other_without_duplicates(cluster, tmp_path: Path) -> None:
    source = make_folder(tmp_path / "kill", 16, seed=2)
    since = last_seq(cluster)
    # every create is processed, then its answer held 30 s: the worker dies not knowing the ids
    for platform, (method, path) in CREATE_CALLS.items():
        cluster.sandbox.control(
            "POST",
            "faults",
            {"kind": "delay_after", "platform": platform, "method": method, "path": path, "count": None, "delay": 30},
        )
    run_id = sync(cluster, source, batch_size=8)  # 2 submit tasks per platform
    try:

        def uploading_on_worker_1() -> bool:
            return any(
                t["task_id"] == "submit" and t["state"] == "running" and t["hostname"] == "worker-1"
                for t in cluster.task_instances("creative_sync", run_id)
            )

        wait_for(uploading_on_worker_1, 300, "a submit task running on worker-1")
        wait_for(lambda: creates(cluster, "topsort", since) or any_create(cluster, since), 60, "a processed create")
        cluster.stop_component("worker-1", kill=True)  # SIGKILL the worker and its task processes
        cluster.sandbox.control("DELETE", "faults")
        assert cluster.wait_run("creative_sync", run_id, timeout=600) == "success"
    finally:
        cluster.sandbox.control("DELETE", "faults")
        if "worker-1" not in cluster.processes:
            cluster.start_worker(1)
    tries = cluster.tries("creative_sync", run_id, "submit")
    killed = [t for t in tries if t["hostname"] == "worker-1" and t["state"] != "success"]
    retried = [t for t in tries if t["try_number"] > 1 and t["state"] == "success"]
    assert killed and retried, tries
    assert {t["hostname"] for t in retried} == {"worker-2"}
    shells = assert_each_content_created_once(cluster, source, since, shells=True)
    print(f"Topsort assets left empty in pending_upload by the killed worker: {shells}")


def any_create(cluster: Any, since: int) -> bool:
    return any(creates(cluster, platform, since) for platform in PLATFORMS)


# -- 3. the triggerer stopped while waits are deferred -------------------------------------------


def test_waits_resume_after_the_triggerer_restarts(cluster, tmp_path: Path) -> None:
    source = make_folder(tmp_path / "triggerer", 6, seed=3)
    since = last_seq(cluster)
    for platform in PLATFORMS:  # processing does not finish until told to
        cluster.sandbox.control("PUT", "processing", {"platform": platform, "polls": 10**6, "seconds": None})
    try:
        run_id = sync(cluster, source, batch_size=50)

        def all_waits_deferred() -> bool:
            waits = [t for t in cluster.task_instances("creative_sync", run_id) if t["task_id"] == "wait"]
            return len(waits) == len(PLATFORMS) and all(t["state"] == "deferred" for t in waits)

        wait_for(all_waits_deferred, 400, "every wait deferred")
        cluster.stop_component("triggerer")
        for platform in PLATFORMS:  # processing finishes at the next poll, while no triggerer runs
            cluster.sandbox.control("PUT", "processing", {"platform": platform, "polls": 1, "seconds": None})
        time.sleep(5)
        assert cluster.run_state("creative_sync", run_id) == "running"  # nobody polls: the waits stay deferred
        cluster.start_component("triggerer", ["triggerer"])
        assert cluster.wait_run("creative_sync", run_id, timeout=400) == "success"
    finally:
        for platform in PLATFORMS:
            cluster.sandbox.control("PUT", "processing", {"platform": platform, "polls": 1, "seconds": None})
        if "triggerer" not in cluster.processes:
            cluster.start_component("triggerer", ["triggerer"])
    waits = [t for t in cluster.task_instances("creative_sync", run_id) if t["task_id"] == "wait"]
    assert all(t["state"] == "success" and t["try_number"] == 1 for t in waits), waits
    assert_each_content_created_once(cluster, source, since)


# -- 4. two DAGs' runs overlapping on one folder and ledger ------------------------------------


def test_overlapping_runs_of_two_dags_create_each_content_once(cluster, tmp_path: Path) -> None:
    source = make_folder(tmp_path / "overlap", 8, seed=4)
    since = last_seq(cluster)
    # creates answer after 3 s: the two runs' submits are sure to overlap
    for platform, (method, path) in CREATE_CALLS.items():
        cluster.sandbox.control(
            "POST",
            "faults",
            {"kind": "delay", "platform": platform, "method": method, "path": path, "count": None, "delay": 3},
        )
    try:
        first = sync(cluster, source, batch_size=50)
        second = sync(cluster, source, dag_id="creative_sync_second", batch_size=50)
        states = {cluster.wait_run("creative_sync", first), cluster.wait_run("creative_sync_second", second)}
    finally:
        cluster.sandbox.control("DELETE", "faults")
    hosts = submit_hosts(cluster, "creative_sync", first) | submit_hosts(cluster, "creative_sync_second", second)
    assert hosts == {"worker-1", "worker-2"}
    if states != {"success"}:  # a run that found the other's claims reports them as held: the rerun settles
        rerun = sync(cluster, source, batch_size=50)
        assert cluster.wait_run("creative_sync", rerun) == "success"
    assert_each_content_created_once(cluster, source, since)


# -- 5. the ledger's connections dropped mid-run -------------------------------------------------


def test_ledger_connections_dropped_mid_run_then_rerun_converges(cluster, tmp_path: Path) -> None:
    source = make_folder(tmp_path / "ledger-drop", 10, seed=5)
    since = last_seq(cluster)
    for platform, (method, path) in CREATE_CALLS.items():
        cluster.sandbox.control(
            "POST",
            "faults",
            {"kind": "delay_after", "platform": platform, "method": method, "path": path, "count": None, "delay": 5},
        )
    database = cluster.ledger_url.rsplit("/", 1)[1]
    admin = create_engine(cluster.server, isolation_level="AUTOCOMMIT")
    try:
        run_id = sync(cluster, source, batch_size=50)
        wait_for(lambda: any_create(cluster, since), 300, "a processed create")
        with admin.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar()
        assert dropped, "the ledger had no connection to drop"
        cluster.sandbox.control("DELETE", "faults")
        state = cluster.wait_run("creative_sync", run_id)
    finally:
        cluster.sandbox.control("DELETE", "faults")
        admin.dispose()
    if state != "success":
        rerun = sync(cluster, source, batch_size=50)
        assert cluster.wait_run("creative_sync", rerun) == "success"
    assert_each_content_created_once(cluster, source, since)
