"""The ledger on SQLite and PostgreSQL: records, intent, claims (races across threads and
processes), file index, runs."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from airflow_creative_provider.sync import ledger as ledger_module
from airflow_creative_provider.sync.ledger import (
    FAILED,
    PROCESSING,
    READY,
    SENDING,
    Ledger,
    claims_table,
    default_url,
)
from airflow_creative_provider.sync.source import IndexEntry

SHA = "a" * 64


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    return Ledger(ledger_url, stale_after=30)


def intent(ledger: Ledger, run_id: str = "run-1", sha: str = SHA) -> None:
    ledger.record_intent(
        sha, "topsort", "vendor-1", run_id=run_id, source="/src", file_key="x/a.png", file_name="a.png", size=10
    )


def test_tables_created_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ledger = Ledger(url)
    assert ledger.records("topsort", "v") == []
    assert (tmp_path / "fresh.db").exists()


def test_intent_then_remote_id(ledger: Ledger) -> None:
    intent(ledger)
    record = ledger.get(SHA, "topsort", "vendor-1")
    assert record is not None
    assert (record.state, record.attempts, record.remote_id, record.file_key, record.file_name) == (
        SENDING,
        1,
        None,
        "x/a.png",
        "a.png",
    )
    assert record.needs_resume and record.intent_at and record.last_run_id == "run-1"
    ledger.record_sent(SHA, "topsort", "vendor-1", run_id="run-1", remote_id="r-1", state=PROCESSING, version="v1")
    record = ledger.get(SHA, "topsort", "vendor-1")
    assert record is not None
    assert (record.remote_id, record.state, record.version, record.needs_resume) == ("r-1", PROCESSING, "v1", False)
    assert record.sent_at is not None
    # a second intent (a retry) counts the attempt on the same row
    ledger.record_failure(SHA, "topsort", "vendor-1", run_id="run-1", reason="boom")
    intent(ledger, "run-2")
    record = ledger.get(SHA, "topsort", "vendor-1")
    assert record is not None and record.attempts == 2 and record.last_run_id == "run-2" and record.reason is None
    assert len(ledger.records("topsort", "vendor-1")) == 1
    assert ledger.records("topsort", "other-account") == []


def test_status_and_failure(ledger: Ledger) -> None:
    intent(ledger)
    ledger.record_failure(SHA, "topsort", "vendor-1", run_id="run-1", reason="503 from the platform")
    record = ledger.get(SHA, "topsort", "vendor-1")
    assert record is not None and (record.state, record.reason) == (FAILED, "503 from the platform")
    ledger.record_sent(SHA, "topsort", "vendor-1", run_id="run-2", remote_id="r", state=PROCESSING)
    assert ledger.record_status(SHA, "topsort", "vendor-1", run_id="run-2", state=READY, raw_state="approved")
    assert not ledger.record_status(SHA, "topsort", "vendor-1", run_id="run-2", state=READY, raw_state="approved")
    record = ledger.get(SHA, "topsort", "vendor-1")
    assert record is not None and record.is_terminal and record.raw_state == "approved"


def test_claims_exclusive_same_run_and_stale_takeover(ledger: Ledger) -> None:
    assert ledger.claim(SHA, "topsort", "vendor-1", "scheduled")
    assert not ledger.claim(SHA, "topsort", "vendor-1", "manual")
    assert ledger.claim_holder(SHA, "topsort", "vendor-1") == "scheduled"
    assert ledger.claim(SHA, "topsort", "vendor-1", "scheduled")  # a retried task of the same run
    assert ledger.claim(SHA, "amazon_ads", "vendor-1", "manual")  # another platform is another claim
    # the holder dies: its heartbeat goes stale and the other run takes over
    with ledger.begin() as conn:
        conn.execute(update(claims_table).values(heartbeat_at=time.time() - 31))
    assert ledger.claim(SHA, "topsort", "vendor-1", "manual")
    assert ledger.claim_holder(SHA, "topsort", "vendor-1") == "manual"
    assert ledger.heartbeat("manual", "topsort", "vendor-1") == 1
    ledger.release(SHA, "topsort", "vendor-1", "scheduled")  # not the holder: no effect
    assert ledger.claim_holder(SHA, "topsort", "vendor-1") == "manual"
    ledger.release(SHA, "topsort", "vendor-1", "manual")
    assert ledger.claim(SHA, "topsort", "vendor-1", "scheduled")


def test_claim_race_between_two_sessions(ledger_url: str) -> None:
    """Two ledgers (two engines, as two worker processes would have) race for 40 claims."""
    url = ledger_url
    first = Ledger(url)
    ledger_module._ENGINES.pop(url)  # force a second, independent engine and pool
    second = Ledger(url)
    assert first.engine is not second.engine
    shas = [f"{i:064x}" for i in range(40)]
    won: dict[str, list[str]] = {"one": [], "two": []}
    barrier = threading.Barrier(2)

    def racer(name: str, ledger: Ledger) -> None:
        barrier.wait()
        for sha in shas:
            if ledger.claim(sha, "topsort", "v", name):
                won[name].append(sha)

    threads = [threading.Thread(target=racer, args=(n, lg)) for n, lg in (("one", first), ("two", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won["one"] + won["two"]) == sorted(shas)  # every claim won exactly once
    assert not set(won["one"]) & set(won["two"])
    with first.begin() as conn:
        holders = dict(conn.execute(select(claims_table.c.sha256, claims_table.c.run_id)).all())
    assert all(holders[s] == "one" for s in won["one"]) and all(holders[s] == "two" for s in won["two"])


def test_stale_takeover_race_has_one_winner(ledger: Ledger) -> None:
    assert ledger.claim(SHA, "topsort", "v", "dead-run")
    with ledger.begin() as conn:
        conn.execute(update(claims_table).values(heartbeat_at=time.time() - 60))
    results: dict[str, bool] = {}
    barrier = threading.Barrier(4)

    def take(name: str) -> None:
        barrier.wait()
        results[name] = ledger.claim(SHA, "topsort", "v", name)

    threads = [threading.Thread(target=take, args=(f"run-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results.values()) == 1
    winner = next(n for n, ok in results.items() if ok)
    assert ledger.claim_holder(SHA, "topsort", "v") == winner


def test_file_index_roundtrip_and_removal(ledger: Ledger) -> None:
    assert ledger.file_index("/src") == {}
    entries = {
        "a.png": IndexEntry(10, 1.5, SHA, {"mimetype": "image/png", "width": 2}),
        "b.png": IndexEntry(20, 2.5, "b" * 64, {"mimetype": "image/png"}),
    }
    assert ledger.update_file_index("/src", entries, complete=True, previous={}) == 2
    index = ledger.file_index("/src")
    assert index == entries
    assert ledger.file_index("/other") == {}
    # unchanged entries are not written again
    assert ledger.update_file_index("/src", entries, complete=True, previous=index) == 0
    # an incomplete listing never drops keys
    only_a = {"a.png": entries["a.png"]}
    assert ledger.update_file_index("/src", only_a, complete=False, previous=index) == 0
    assert set(ledger.file_index("/src")) == {"a.png", "b.png"}
    assert ledger.update_file_index("/src", only_a, complete=True, previous=index) == 1
    assert set(ledger.file_index("/src")) == {"a.png"}


def test_runs_and_counts(ledger: Ledger) -> None:
    ledger.start_run("run-1", source="/src", dry_run=False, params={"x": 1}, summary={"s": 2}, plan_rows=[{"k": 1}])
    ledger.add_run_counts("run-1", "topsort", {"processing": 2, "failed": 1}, 300)
    ledger.add_run_counts("run-1", "topsort", {"processing": 1}, 100)
    ledger.add_run_counts("run-1", "mediamath", {"ready": 1}, 50)
    assert ledger.run_counts("run-1")["topsort"] == {"processing": 3, "failed": 1, "bytes_sent": 400}
    ledger.finish_run("run-1", outcome="failed")
    run = ledger.run("run-1")
    assert run is not None
    assert run["counts"] == {"topsort": {"processing": 3, "failed": 1}, "mediamath": {"ready": 1}}
    assert run["bytes_sent"] == 450 and run["outcome"] == "failed" and run["plan_rows"] == [{"k": 1}]
    assert [r["run_id"] for r in ledger.recent_runs()] == ["run-1"]
    json.dumps(ledger.recent_runs())


def test_default_url_sqlite_under_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_CREATIVE_LEDGER", raising=False)
    assert default_url() == f"sqlite:///{tmp_path / 'creative_ledger.db'}"


def test_connection_creative_ledger_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "from-conn.db"
    monkeypatch.setenv("AIRFLOW_CONN_CREATIVE_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    assert default_url() == f"sqlite:///{db}"
    ledger = Ledger()
    intent(ledger)
    assert db.exists() and ledger.get(SHA, "topsort", "vendor-1") is not None
    monkeypatch.setenv("AIRFLOW_CONN_CREATIVE_LEDGER", "postgres://user:s3cr3t-pw@db.example:5432/ledger")
    assert default_url() == "postgresql://user:s3cr3t-pw@db.example:5432/ledger"


def test_a_poll_without_reason_keeps_the_warning_recorded_at_send(ledger: Ledger) -> None:
    intent(ledger)
    warning = "Topsort assets left over in Topsort without content (pending_upload ...): a-1; delete them in Topsort."
    ledger.record_sent(SHA, "topsort", "vendor-1", run_id="run-1", remote_id="r-1", state=PROCESSING, reason=warning)
    assert ledger.record_status(SHA, "topsort", "vendor-1", run_id="run-1", state=READY, raw_state="approved")
    assert ledger.get(SHA, "topsort", "vendor-1").reason == warning
    ledger.record_status(
        SHA, "topsort", "vendor-1", run_id="run-1", state="rejected", raw_state="rejected", reason="no"
    )
    assert ledger.get(SHA, "topsort", "vendor-1").reason == "no"


def _claimer(url: str, run_id: str, shas: list[str], start: Any, created: Any) -> None:
    """One worker process: claim every content, 'create' (record intent + remote id) what it won."""
    for engine in ledger_module._ENGINES.values():  # the parent's pool is not this process's to use
        engine.dispose(close=False)
    ledger_module._ENGINES.clear()
    ledger = Ledger(url, stale_after=30)
    start.wait()
    for sha in shas:
        if ledger.claim(sha, "topsort", "v", run_id):
            ledger.record_intent(
                sha, "topsort", "v", run_id=run_id, source="/src", file_key=sha, file_name="a.png", size=1
            )
            ledger.record_sent(sha, "topsort", "v", run_id=run_id, remote_id=f"{run_id}/{sha}", state=PROCESSING)
            created.put((run_id, sha))
    created.put((run_id, None))


def test_eight_processes_claiming_on_postgresql_never_both_create(postgres_url: str) -> None:
    """8 worker processes race for 30 fresh contents and 10 whose claims went stale: each is created once."""
    ledger = Ledger(postgres_url, stale_after=30)
    fresh = [f"{i:064x}" for i in range(30)]
    stale = [f"{i:064x}" for i in range(100, 110)]
    for sha in stale:
        assert ledger.claim(sha, "topsort", "v", "dead-run")
    with ledger.begin() as conn:
        conn.execute(update(claims_table).values(heartbeat_at=time.time() - 120))
    context = multiprocessing.get_context("fork")
    start = context.Barrier(8)
    created = context.Queue()
    processes = [
        context.Process(target=_claimer, args=(postgres_url, f"run-{i}", fresh + stale, start, created))
        for i in range(8)
    ]
    for process in processes:
        process.start()
    winners: dict[str, list[str]] = {}
    finished = 0
    while finished < 8:
        run_id, sha = created.get(timeout=120)
        if sha is None:
            finished += 1
        else:
            winners.setdefault(sha, []).append(run_id)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert sorted(winners) == sorted(fresh + stale)
    assert {sha: runs for sha, runs in winners.items() if len(runs) > 1} == {}
    assert len({runs[0] for runs in winners.values()}) > 1  # the race was real: several processes won some
    for sha, (run_id,) in winners.items():
        record = ledger.get(sha, "topsort", "v")
        assert record is not None and record.attempts == 1 and record.remote_id == f"{run_id}/{sha}"
        assert ledger.claim_holder(sha, "topsort", "v") == run_id


def test_record_statuses_stores_each_change_once_with_its_history(ledger: Ledger) -> None:
    from airflow_creative_provider.sync.ledger import history_table

    other = "b" * 64
    for sha, remote in ((SHA, "r-1"), (other, "r-2")):
        intent(ledger, sha=sha)
        ledger.record_sent(sha, "topsort", "vendor-1", run_id="run-1", remote_id=remote, state=PROCESSING, reason="w")
    statuses = [(SHA, READY, "approved", None), (other, PROCESSING, "PROCESSING", None)]
    assert ledger.record_statuses("topsort", "vendor-1", statuses, run_id="run-2") == {SHA, other}
    # the same statuses again change nothing and add no history
    assert ledger.record_statuses("topsort", "vendor-1", statuses, run_id="run-3") == set()
    ready = ledger.get(SHA, "topsort", "vendor-1")
    assert ready is not None and (ready.state, ready.raw_state, ready.reason) == (READY, "approved", "w")
    with ledger.begin() as conn:
        events = conn.execute(
            select(history_table.c.sha256, history_table.c.run_id).where(history_table.c.event == "status")
        ).all()
    assert sorted(events) == sorted([(SHA, "run-2"), (other, "run-2")])


def test_plan_records_hold_what_a_plan_reads_and_refuse_the_rest(ledger: Ledger) -> None:
    from airflow_creative_provider.sync.ledger import PLAN_FIELDS

    intent(ledger)
    ledger.record_sent(SHA, "topsort", "vendor-1", run_id="run-1", remote_id="r-1", state=READY, version="v1")
    (full,) = ledger.records("topsort", "vendor-1")
    (planned,) = ledger.plan_records("topsort", "vendor-1")
    assert {name: getattr(planned, name) for name in PLAN_FIELDS} == {name: getattr(full, name) for name in PLAN_FIELDS}
    with pytest.raises(AttributeError):
        planned.last_run_id  # noqa: B018 - not read for a plan: an error, never a silent None
    assert ledger.plan_records("topsort", "other-account") == []


def test_record_lines_and_plan_records_by_digest(ledger: Ledger) -> None:
    """What planning afresh reads: every record as one line, then full records by digest only."""
    from airflow_creative_provider.sync.ledger import record_line

    odd_key = "x/tab\there.png"  # a key may hold the separator: the line stays unambiguous
    other = "b" * 64
    intent(ledger)
    ledger.record_sent(SHA, "topsort", "vendor-1", run_id="run-1", remote_id="r-1", state=READY)
    ledger.record_intent(
        other, "topsort", "vendor-1", run_id="run-1", source="/src", file_key=odd_key, file_name="t.png", size=1
    )
    assert ledger.record_lines("topsort", "vendor-1") == {
        READY: {record_line(SHA, "x/a.png")},
        SENDING: {record_line(other, odd_key)},
    }
    assert ledger.record_lines("topsort", "other-account") == {}
    assert [r.sha256 for r in ledger.plan_records("topsort", "vendor-1", [other, "c" * 64])] == [other]
    many = [f"{i:064x}" for i in range(1200)] + [SHA]  # read in chunks of 500
    assert [r.sha256 for r in ledger.plan_records("topsort", "vendor-1", many)] == [SHA]
    assert ledger.plan_records("topsort", "vendor-1", []) == []


def test_marks_move_with_every_write_a_plan_reads(ledger: Ledger) -> None:
    targets = [("topsort", "vendor-1")]
    entry = IndexEntry(10, 1.0, SHA, {})
    before = ledger.marks("/src", targets)
    ledger.update_file_index("/src", {"a.png": entry}, complete=True, previous={})
    indexed = ledger.marks("/src", targets)
    assert indexed != before
    intent(ledger)  # a new asset record
    sent = ledger.marks("/src", targets)
    assert sent != indexed
    assert ledger.marks("/src", [("topsort", "another-account")]) == [indexed[0], []]
    ledger.record_status(SHA, "topsort", "vendor-1", run_id="run-1", state=READY, raw_state="approved")
    assert ledger.marks("/src", targets) != sent
    removed = ledger.marks("/src", targets)
    ledger.update_file_index("/src", {}, complete=True, previous={"a.png": entry}, present=[])
    assert ledger.marks("/src", targets) != removed  # a deleted index row moves the count


def test_replace_refusals_writes_only_what_changed(ledger: Ledger) -> None:
    from airflow_creative_provider.sync.ledger import refusals_table

    def refusal(key: str, reason: str, platform: str = "topsort", account: str = "t1") -> dict[str, Any]:
        return {
            "file_key": key,
            "platform": platform,
            "account": account,
            "sha256": SHA,
            "rule": "type",
            "reason": reason,
        }

    def stored() -> dict[tuple[str, str], tuple[str, str | None]]:
        r = refusals_table
        with ledger.begin() as conn:
            rows = conn.execute(select(r.c.file_key, r.c.platform, r.c.reason, r.c.run_id)).all()
        return {(k, p): (reason, run) for k, p, reason, run in rows}

    targets = [("topsort", "t1"), ("delta_projects", "d1")]
    first = [
        refusal("a.txt", "not an image"),
        refusal("b.txt", "not an image"),
        refusal("a.txt", "no", "delta_projects", "d1"),
    ]
    ledger.replace_refusals("/src", ["a.txt", "b.txt", "c.png"], targets, first, run_id="run-1")
    assert stored() == {
        ("a.txt", "topsort"): ("not an image", "run-1"),
        ("b.txt", "topsort"): ("not an image", "run-1"),
        ("a.txt", "delta_projects"): ("no", "run-1"),
    }
    # run 2 lists a.txt (same refusal on topsort, none on delta now), b.txt (another reason), c.png (refused now)
    second = [refusal("a.txt", "not an image"), refusal("b.txt", "too large"), refusal("c.png", "too small")]
    ledger.replace_refusals("/src", ["a.txt", "b.txt", "c.png"], targets, second, run_id="run-2")
    assert stored() == {
        ("a.txt", "topsort"): ("not an image", "run-1"),  # unchanged: kept, with the run that decided it
        ("b.txt", "topsort"): ("too large", "run-2"),
        ("c.png", "topsort"): ("too small", "run-2"),
    }
    # a run that does not list b.txt, or plans another platform only, leaves those refusals alone
    ledger.replace_refusals("/src", ["c.png"], [("delta_projects", "d1")], [], run_id="run-3")
    assert len(stored()) == 3
