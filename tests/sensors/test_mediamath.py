"""MediaMathApprovalSensor: poke mode, deferral through the trigger, rejection, timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import timezone
from airflow.sdk.exceptions import AirflowRescheduleException, TaskDeferred

from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.mediamath import MediaMathHook
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.sensors.mediamath import MediaMathApprovalSensor
from airflow_creative_provider.triggers.mediamath import MediaMathApprovalTrigger
from tests.support.airflow import RecordingTI


@pytest.fixture
def mm(creative_sandbox_env):
    creative_sandbox_env.state.speeds["mediamath"] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def make(name: str) -> str:
    return str(MediaMathHook().create_creative(name)["atomic_creative_id"])


def test_ids_accept_int_string_and_list():
    assert MediaMathApprovalSensor(task_id="s", atomic_creative_ids=5).ids == ["5"]
    assert MediaMathApprovalSensor(task_id="s", atomic_creative_ids="5, 6").ids == ["5", "6"]
    assert MediaMathApprovalSensor(task_id="s", remote_ids=[5, "6"]).ids == ["5", "6"]
    with pytest.raises(ValueError):
        MediaMathApprovalSensor(task_id="s")


def test_poke_mode_waits_for_approval(mm):
    ids = [make("a"), make("b")]
    sensor = MediaMathApprovalSensor(task_id="s", atomic_creative_ids=ids, poke_interval=0.01, deferrable=False)
    result = sensor.execute({})
    assert {i: s["raw_state"] for i, s in result.items()} == dict.fromkeys(ids, "APPROVED")
    assert len(mm.journal(platform="mediamath", path="/approvals")) == 2


def test_rejection_fails_with_source_reasons(mm):
    mm.state.outcomes.append(Outcome("mediamath", "nope", "rejected", "Misleading claim"))
    creative = make("nope")
    sensor = MediaMathApprovalSensor(task_id="s", atomic_creative_ids=creative, poke_interval=0.01, deferrable=False)
    with pytest.raises(PlatformRejected, match="sharethrough: Misleading claim"):
        sensor.execute({})


async def test_deferrable_defers_then_completes_through_the_trigger(mm):
    creative = make("deferred")
    sensor = MediaMathApprovalSensor(task_id="s", atomic_creative_ids=creative, poke_interval=0.01, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MediaMathApprovalTrigger) and trigger.remote_ids == [creative]
    event = await anext(trigger.run())
    result = sensor.execute_complete({}, event.payload)
    assert result[creative]["state"] == "ready"


async def test_deferred_rejection_fails_on_completion(mm):
    mm.state.outcomes.append(Outcome("mediamath", "late-*", "rejected", "Broken landing page"))
    creative = make("late-reject")
    sensor = MediaMathApprovalSensor(task_id="s", atomic_creative_ids=[creative], poke_interval=0.01, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    event = await anext(deferred.value.trigger.run())
    with pytest.raises(PlatformRejected, match="Broken landing page"):
        sensor.execute_complete({}, event.payload)


def test_timeout_event_lists_pending():
    sensor = MediaMathApprovalSensor(task_id="s", atomic_creative_ids=["7"])
    event = {"status": "timeout", "pending": ["7"], "last": {"7": {"raw_state": "PENDING"}}, "assets": {}}
    with pytest.raises(PlatformError, match=r"still pending: 7 \(PENDING\)"):
        sensor.execute_complete({}, event)


def test_deferrable_defaults_to_airflow_setting(monkeypatch):
    assert MediaMathApprovalSensor(task_id="s", atomic_creative_ids=1).deferrable is False


def test_not_submitted_ends_the_wait_with_a_clear_state(mm, monkeypatch):
    import json

    conn = mm.connections()["mediamath_default"]
    conn["extra"]["not_submitted_after"] = "0"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_NOWAIT", json.dumps(conn))
    mm.state.outcomes.append(Outcome("mediamath", "draft", "not_submitted"))
    creative = make("draft")
    sensor = MediaMathApprovalSensor(
        task_id="s",
        atomic_creative_ids=creative,
        conn_id="mediamath_nowait",
        poke_interval=0.01,
        timeout=30,
        deferrable=False,
    )
    result = sensor.execute({})
    assert result[creative]["state"] == "not_submitted" and result[creative]["raw_state"] == "N/A"
    assert result[creative]["reason"].startswith("not submitted for approval")


def test_not_submitted_counts_from_the_first_poke_across_reschedules(mm):
    """Each reschedule is a new task process (a new sensor, a new hook): the N/A clock runs from
    the first poke, which Airflow keeps as the first reschedule date. Time moves by that date."""
    mm.state.outcomes.append(Outcome("mediamath", "draft-*", "not_submitted"))
    creative = make("draft-rescheduled")
    after = MediaMathHook().not_submitted_after

    def poke(first_poke_ago: float | None) -> dict:
        first = None if first_poke_ago is None else timezone.utcnow() - timedelta(seconds=first_poke_ago)
        sensor = MediaMathApprovalSensor(
            task_id="s", atomic_creative_ids=creative, mode="reschedule", poke_interval=60, timeout=3600
        )
        return sensor.execute({"ti": RecordingTI(first_reschedule_date=first)})

    with pytest.raises(AirflowRescheduleException):
        poke(None)  # the first poke: N/A, the wait begins
    with pytest.raises(AirflowRescheduleException):
        poke(after - 60)  # a later poke, still inside not_submitted_after
    result = poke(after + 1)  # a poke past it: the wait ends, not a timeout
    assert result[creative]["state"] == "not_submitted" and result[creative]["raw_state"] == "N/A"
    assert f"stayed N/A for {after + 1:.0f} s" in result[creative]["reason"]
    assert len(mm.journal(platform="mediamath", path="/approvals")) == 3
