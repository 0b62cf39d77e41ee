"""One rate budget per platform account, shared by every thread and process, on SQLite and PostgreSQL.

Slots are judged by the times the budget hands out (computed in the database, not measured),
so the checks hold whatever the machine's load; elapsed times are only ever lower bounds.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from airflow_creative_provider.hooks import base
from airflow_creative_provider.hooks.base import RateLimiter
from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from airflow_creative_provider.sync import ledger as ledger_module

BUDGET = "topsort vendor-1 http://platform 45/2s"


def _take_slots(url: str, count: int, start: Any, out: Any) -> None:
    for engine in ledger_module._ENGINES.values():  # a worker process of its own
        engine.dispose(close=False)
    ledger_module._ENGINES.clear()
    limiter = RateLimiter(45, 2.0, budget=BUDGET, url=url)
    start.wait()
    out.put([limiter._reserve()[0] for _ in range(count)])


def test_four_processes_share_one_budget(ledger_url: str) -> None:
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_take_slots, args=(ledger_url, 30, start, out)) for _ in range(4)]
    for process in processes:
        process.start()
    slots = sorted(slot for _ in processes for slot in out.get(timeout=60))
    for process in processes:
        process.join(30)
    interval = 2.0 / 45
    assert len(slots) == 120
    assert min(b - a for a, b in zip(slots, slots[1:], strict=False)) >= interval - 1e-6
    # never more than 45 calls in any 2 s: the 46th slot after any slot is more than 2 s later
    assert all(slots[i + 45] - slots[i] > 2.0 for i in range(len(slots) - 45))


class _Clock:
    """Stands in for the ``time`` module of hooks.base: sleeping moves it and nothing waits, so
    what happens while a caller sleeps is placed exactly, whatever the machine's load."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.while_asleep: list[Any] = []  # run once each, 0.1 s into the next sleep

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        while self.while_asleep:
            self.now += 0.1
            self.while_asleep.pop(0)()
        self.now = max(self.now, wake)


def test_a_pause_moves_every_caller_past_it(ledger_url: str, monkeypatch: Any) -> None:
    clock = _Clock(1_000_000.0)
    monkeypatch.setattr(base, "time", clock)
    one = RateLimiter(1, 1.0, budget=BUDGET, url=ledger_url)
    other = RateLimiter(1, 1.0, budget=BUDGET, url=ledger_url)  # another worker's view of the budget
    one.acquire()  # slot now; the next one is about 1 s later
    paused_at: list[float] = []
    clock.while_asleep.append(lambda: (paused_at.append(clock.now), one.pause(2.5)))
    other.acquire()  # takes the slot about 1 s on, sleeps, and the pause comes while it sleeps
    # the sleeper's slot fell inside the pause: it took a new one after it
    assert paused_at and paused_at[0] < 1_000_001.0
    assert clock.now >= paused_at[0] + 2.5
    assert other._reserve()[0] >= paused_at[0] + 2.5


def test_a_caller_waking_after_its_slot_has_passed_takes_a_new_one(ledger_url: str, monkeypatch: Any) -> None:
    clock = _Clock(1_000_000.0)
    monkeypatch.setattr(base, "time", clock)
    limiter = RateLimiter(1, 1.0, budget=BUDGET, url=ledger_url)
    limiter.acquire()
    taken = limiter._reserve()[0]  # another caller's slot, about 1 s on
    slot = taken + limiter.interval  # so acquire sleeps until about 2 s on
    late = slot + limiter.late_after + 0.5
    clock.while_asleep.append(lambda: setattr(clock, "now", late))  # a loaded machine wakes it late
    limiter.acquire()
    # a call sent that late would crowd the next ones: it slept on to a fresh slot instead
    assert clock.now > late
    assert clock.now >= slot + limiter.interval - 1e-6


def test_429_with_retry_after_pauses_every_hook_of_the_account(creative_sandbox_env: Any) -> None:
    sandbox = creative_sandbox_env
    sandbox.state.speeds["topsort"] = ProcessingSpeed(polls=1, seconds=None)
    sandbox.state.faults.add("status", platform="topsort", method="GET", status=429, retry_after=2)
    first, second = TopsortHook(), TopsortHook()  # two threads or processes of one account
    assert first.limiter is second.limiter or first.limiter.budget == second.limiter.budget
    started = time.time()
    first.list_assets(limit=1)  # 429 with Retry-After: 2, then the retry succeeds
    slot, _ = second.limiter._reserve()
    assert slot >= started + 2.0  # the other caller waits out the same pause
    statuses = [e["status"] for e in sandbox.journal(platform="topsort") if e.get("kind") == "api"]
    assert statuses == [429, 200]


def test_database_down_falls_back_to_this_process(tmp_path: Any) -> None:
    limiter = RateLimiter(10, 1.0, url=f"sqlite:///{tmp_path}/missing-dir/ledger.db")
    first, _ = limiter._reserve()
    second, pauses = limiter._reserve()
    assert pauses == -1 and second - first >= 0.1


def _count_engine_builds(monkeypatch: Any) -> list[str]:
    """Record each attempt to reach the budget's database (an unreachable one is never cached)."""
    built: list[str] = []
    real = ledger_module._engine_for

    def counting(url: str) -> Any:
        built.append(url)
        return real(url)

    monkeypatch.setattr(ledger_module, "_engine_for", counting)
    return built


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/missing-dir/ledger.db",  # SQLite: unable to open the database file
        "postgresql+psycopg://nobody@127.0.0.1:1/ledger",  # PostgreSQL: connection refused
    ],
    ids=["sqlite-missing", "postgresql-refused"],
)
def test_an_outage_paces_this_process_alone_at_once(url: str, tmp_path: Any, monkeypatch: Any) -> None:
    built = _count_engine_builds(monkeypatch)
    limiter = RateLimiter(10, 1.0, url=url.format(tmp=tmp_path))
    _, pauses = limiter._reserve()
    assert pauses == -1  # this process's own pacing
    assert len(built) == 1  # not retried: an outage is no lock that clears in a moment


class _LockedFirst:
    """The budget's SQLite engine, answering "database is locked" to its first ``times`` transactions."""

    def __init__(self, engine: Any, times: int) -> None:
        self.engine = engine
        self.left = times
        self.refused = 0

    def begin(self) -> Any:
        if self.left:
            self.left -= 1
            self.refused += 1
            raise OperationalError("UPDATE creative_rate_budgets", {}, sqlite3.OperationalError("database is locked"))
        return self.engine.begin()


def test_a_locked_sqlite_database_is_tried_again(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    limiter = RateLimiter(10, 1.0, budget=BUDGET, url=url)
    locked = _LockedFirst(ledger_module._engine_for(url), times=2)
    limiter._engine = locked
    _, pauses = limiter._reserve()
    assert locked.refused == 2 and pauses == 0  # the shared budget's slot, not this process's own
    other = RateLimiter(10, 1.0, budget=BUDGET, url=url)
    _, other_pauses = other._reserve()
    assert other_pauses == 0  # the row the retried call created is the shared one


def test_a_database_locked_for_good_falls_back(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    limiter = RateLimiter(10, 1.0, url=url)
    locked = _LockedFirst(ledger_module._engine_for(url), times=1000)
    limiter._engine = locked
    _, pauses = limiter._reserve()
    assert pauses == -1 and locked.refused == base._BUDGET_ATTEMPTS
