"""MediaMathApprovalTrigger: serialize() round trip and run() driven directly."""

from __future__ import annotations

import json
import time

import pytest

from airflow_creative_provider.hooks.mediamath import MediaMathHook
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.triggers.mediamath import MediaMathApprovalTrigger


@pytest.fixture
def mm(creative_sandbox_env):
    creative_sandbox_env.state.speeds["mediamath"] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def test_serialize_round_trip():
    trigger = MediaMathApprovalTrigger(conn_id="mediamath_default", remote_ids=[1, "2"], poll_interval=3, timeout=60)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_creative_provider.triggers.mediamath.MediaMathApprovalTrigger"
    json.dumps(kwargs)
    again = MediaMathApprovalTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert kwargs["remote_ids"] == ["1", "2"]


async def test_run_waits_until_approved_and_rejected(mm):
    mm.state.outcomes.append(Outcome("mediamath", "bad*", "rejected", "Logo too small"))
    hook = MediaMathHook()
    good = str(hook.create_creative("good")["atomic_creative_id"])
    bad = str(hook.create_creative("bad one")["atomic_creative_id"])
    trigger = MediaMathApprovalTrigger(conn_id=None, remote_ids=[good, bad], poll_interval=0.01)
    event = await anext(trigger.run())
    assert event.payload["status"] == "done"
    assets = event.payload["assets"]
    assert assets[good]["state"] == "ready" and assets[good]["raw_state"] == "APPROVED"
    assert assets[bad]["state"] == "rejected" and "Logo too small" in assets[bad]["reason"]
    assert len(mm.journal(platform="mediamath", method="GET", path="/approvals")) == 2


async def test_run_times_out_listing_pending(mm):
    hook = MediaMathHook()
    mm.state.outcomes.append(Outcome("mediamath", "slow", "pending"))
    slow = str(hook.create_creative("slow")["atomic_creative_id"])
    trigger = MediaMathApprovalTrigger(conn_id=None, remote_ids=[slow, "99999"], poll_interval=0.01, timeout=0.05)
    event = await anext(trigger.run())
    assert event.payload["status"] == "timeout"
    assert set(event.payload["pending"]) == {slow, "99999"}
    assert event.payload["last"]["99999"]["raw_state"] == "N/A"


async def test_run_reports_errors(mm):
    mm.state.faults.add("status", platform="mediamath", path="/approvals", status=401, count=2)
    trigger = MediaMathApprovalTrigger(conn_id=None, remote_ids=["1"], poll_interval=0.01)
    event = await anext(trigger.run())
    assert event.payload["status"] == "error" and "401" in event.payload["message"]


async def test_run_survives_429_with_retry_after(mm):
    hook = MediaMathHook()
    mm.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)
    one = str(hook.create_creative("one")["atomic_creative_id"])
    mm.state.faults.add("status", platform="mediamath", path="/approvals", status=429, retry_after="0.2")
    event = await anext(MediaMathApprovalTrigger(conn_id=None, remote_ids=[one], poll_interval=0.01).run())
    assert event.payload["status"] == "done"
    assert [e["status"] for e in mm.journal(platform="mediamath", path="/approvals")] == [429, 200]


async def test_run_ends_on_not_submitted_instead_of_the_timeout(mm, monkeypatch):
    conn = mm.connections()["mediamath_default"]
    conn["extra"]["not_submitted_after"] = "0"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_NOWAIT", json.dumps(conn))
    mm.state.outcomes.append(Outcome("mediamath", "draft", "not_submitted"))
    draft = str(MediaMathHook().create_creative("draft")["atomic_creative_id"])
    trigger = MediaMathApprovalTrigger(conn_id="mediamath_nowait", remote_ids=[draft], poll_interval=0.01, timeout=60)
    event = await anext(trigger.run())
    assert event.payload["status"] == "done"
    assert event.payload["assets"][draft]["state"] == "not_submitted"
    assert "not submitted for approval" in event.payload["assets"][draft]["reason"]


async def test_not_submitted_counts_from_the_wait_start_not_the_triggers_first_poll(mm):
    """The worker saw N/A before deferring; the trigger (a new hook, maybe after a triggerer restart)
    keeps counting from the wait's ``started_at``."""
    mm.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)  # N/A at the trigger's first poll
    mm.state.outcomes.append(Outcome("mediamath", "draft*", "not_submitted"))
    creative = str(MediaMathHook().create_creative("draft")["atomic_creative_id"])
    after = MediaMathHook().not_submitted_after
    trigger = MediaMathApprovalTrigger(
        conn_id=None, remote_ids=[creative], poll_interval=60, timeout=after + 1, started_at=time.time() - after - 1
    )
    event = await anext(trigger.run())
    assert event.payload["status"] == "done"  # not "timeout": the N/A wait ended first
    assert event.payload["assets"][creative]["state"] == "not_submitted"
