"""``AssetWait``: the one decision every wait follows (sensors, the sync's wait operator, triggers)."""

from __future__ import annotations

from typing import Any

from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.waiting import AssetWait, WaitStep


def status(state: str, raw: str | None = None) -> dict[str, Any]:
    return AssetStatus(remote_id="x", state=state, raw_state=raw).to_dict()


def test_the_steps_in_their_order() -> None:
    wait = AssetWait(["a", "b"], timeout=60, started_at=1000.0, fail_on=frozenset({AssetStatus.REJECTED}))
    assert wait.step(now=1001) is WaitStep.POLL and wait.pending == ["a", "b"]
    wait.deferrable = True
    assert wait.step(now=1001) is WaitStep.DEFER
    assert wait.step(now=1060) is WaitStep.TIMEOUT  # the time up, assets still pending
    wait.record({"a": status(AssetStatus.READY), "b": status(AssetStatus.PROCESSING)})
    assert wait.pending == ["b"] and list(wait.finished) == ["a"] and wait.step(now=1001) is WaitStep.DEFER
    wait.record({"b": status(AssetStatus.READY)})
    assert wait.step(now=5000) is WaitStep.DONE  # done wins over a timeout
    wait.record({"b": status(AssetStatus.REJECTED)})
    assert wait.step(now=1001) is WaitStep.FAILED  # a state the waiter fails on
    wait.fail_on = frozenset()
    assert wait.step(now=1001) is WaitStep.DONE  # a rejection only ends a wait that records it
    wait.error = "HTTP 500"
    assert wait.step(now=1001) is WaitStep.ERROR


def test_the_trigger_event_rebuilds_the_wait_on_the_worker() -> None:
    first = {"a": status(AssetStatus.READY), "b": status(AssetStatus.PROCESSING, "PENDING")}
    in_trigger = AssetWait(["b", "c"], timeout=10, started_at=0.0)  # the worker deferred the pending ones
    in_trigger.record({"b": status(AssetStatus.PROCESSING, "PENDING"), "c": status(AssetStatus.READY)})
    event = in_trigger.event()
    assert event["status"] == "timeout" and event["pending"] == ["b"] and list(event["assets"]) == ["c"]
    back = AssetWait.from_event(event, first=first)
    assert back.step() is WaitStep.TIMEOUT and back.pending == ["b"]
    assert set(back.finished) == {"a", "c"} and back.statuses["b"]["raw_state"] == "PENDING"

    in_trigger.record({"b": status(AssetStatus.READY)})
    done = AssetWait.from_event(in_trigger.event(), first=first)
    assert done.step() is WaitStep.DONE and set(done.finished) == {"a", "b", "c"}

    failed = AssetWait.from_event({"status": "error", "message": "HTTP 401", "assets": {}, "pending": ["b"]})
    assert failed.step() is WaitStep.ERROR and failed.error == "HTTP 401"
