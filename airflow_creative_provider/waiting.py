"""``AssetWait``: the one poll/defer path of every wait for remote assets.

``CreativeAssetSensor`` (and each platform's sensor), ``CreativeSyncWaitOperator`` and
``AssetStatusTrigger`` all wait the same way: poll the assets still pending, then decide,
in ``AssetWait.step``, whether to poll again here, defer the rest to the trigger, or end
(done, failed, error, timed out). The trigger's event is the wait's state as JSON
(``AssetWait.event``), and ``AssetWait.from_event`` rebuilds it on the worker.

The wait's start (``started_at``) travels with it (the trigger's ``started_at``, Airflow's
first reschedule date for a sensor in ``reschedule`` mode), so time-based states survive
deferral and reschedules: the hook is told when the wait began (``waiting_since``) before
each poll; MediaMath counts how long an approval has been ``N/A`` from it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_creative_provider.exceptions import PlatformError
from airflow_creative_provider.hooks.base import AssetStatus

if TYPE_CHECKING:
    from airflow_creative_provider.hooks.base import CreativePlatformHook
    from airflow_creative_provider.triggers.base import AssetStatusTrigger


class WaitStep(StrEnum):
    """What a wait does next. ``done``, ``timeout`` and ``error`` are also the trigger events' ``status``."""

    #: poll again after ``poll_interval``, where the wait runs now.
    POLL = "poll"
    #: hand the assets still pending to the trigger (no worker slot held).
    DEFER = "defer"
    #: every asset is finished (ready, rejected, not submitted, failed).
    DONE = "done"
    #: an asset is in a state the waiter fails on (``fail_on``).
    FAILED = "failed"
    #: the platform could not be polled (``error`` says why).
    ERROR = "error"
    #: the time is up with assets still pending.
    TIMEOUT = "timeout"


def is_finished(status: Mapping[str, Any] | None) -> bool:
    """A polled status (``AssetStatus.to_dict()``) that ends the wait for its asset."""
    state = status.get("state") if status else None
    return isinstance(state, str) and state in AssetStatus.TERMINAL


@dataclass
class AssetWait:
    """One wait for a set of remote assets: what was seen so far, and what to do next.

    :param remote_ids: the assets waited for.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when the wait began (kept across deferral and reschedules).
    :param deferrable: wait in the triggerer once a poll leaves assets pending.
    :param fail_on: asset states that end the wait as failed (a sensor's rejections).
    :param statuses: the last status seen of each asset (``AssetStatus.to_dict()``).
    :param error: why the platform could not be polled, once it could not.
    :param timed_out_by: the trigger's verdict, when the wait is rebuilt from a timeout event.
    """

    remote_ids: list[str]
    poll_interval: float = 10.0
    timeout: float | None = None
    started_at: float = field(default_factory=time.time)
    deferrable: bool = False
    fail_on: frozenset[str] = frozenset()
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    timed_out_by: str | None = None

    # ----------------------------------------------------------------- state
    @property
    def pending(self) -> list[str]:
        """The ids not finished yet, in the order they were given."""
        return [i for i in self.remote_ids if not is_finished(self.statuses.get(i))]

    @property
    def finished(self) -> dict[str, dict[str, Any]]:
        """``{remote_id: status}`` of the assets whose wait is over."""
        return {i: s for i, s in self.statuses.items() if is_finished(s)}

    @property
    def failures(self) -> dict[str, dict[str, Any]]:
        """``{remote_id: status}`` of the assets in a ``fail_on`` state."""
        return {i: s for i, s in self.statuses.items() if s and s.get("state") in self.fail_on}

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the timeout (never below 0); None without one."""
        if self.timeout is None:
            return None
        return max(0.0, self.started_at + self.timeout - (time.time() if now is None else now))

    def step(self, now: float | None = None) -> WaitStep:
        """The decision every waiter follows, in this order: a poll error, the trigger's timeout,
        a failed asset, all finished, the time up, else poll again (here, or deferred)."""
        if self.error is not None:
            return WaitStep.ERROR
        if self.timed_out_by is not None:
            return WaitStep.TIMEOUT
        if self.failures:
            return WaitStep.FAILED
        if not self.pending:
            return WaitStep.DONE
        if self.seconds_left(now) == 0.0:
            return WaitStep.TIMEOUT
        return WaitStep.DEFER if self.deferrable else WaitStep.POLL

    # ----------------------------------------------------------------- polling
    def record(self, statuses: Mapping[str, AssetStatus | Mapping[str, Any]]) -> None:
        """Keep what a poll saw (``AssetStatus`` objects or their dicts)."""
        for remote_id, status in statuses.items():
            self.statuses[str(remote_id)] = status.to_dict() if isinstance(status, AssetStatus) else dict(status)

    def _ids_for(self, hook: CreativePlatformHook) -> list[str]:
        hook.waiting_since = self.started_at  # clocks of waiting states count from the wait's start
        return self.pending

    def poll(self, hook: CreativePlatformHook) -> WaitStep:
        """Poll the pending assets once on the worker; what next. A platform error is raised
        (the task's retries, or the sensor's ``soft_fail``/``silent_fail``, apply)."""
        self.record(hook.get_status(self._ids_for(hook)))
        return self.step()

    async def apoll(self, hook: CreativePlatformHook) -> WaitStep:
        """``poll`` in the triggerer: a platform error ends the wait as ``error`` instead."""
        try:
            self.record(await hook.aget_status(self._ids_for(hook)))
        except PlatformError as exc:
            self.error = str(exc)
        return self.step()

    # ----------------------------------------------------------------- deferral
    def defer(
        self,
        task: Any,
        trigger_class: type[AssetStatusTrigger],
        *,
        conn_id: str | None,
        platform: str | None = None,
        grace: float = 0.0,
        method_name: str = "execute_complete",
    ) -> None:
        """Defer ``task`` to ``trigger_class`` for the pending assets; never returns.

        The statuses seen so far travel in the resume kwargs (``first``); Airflow's own
        deferral timeout is the wait's time left plus ``grace`` seconds (a grace lets the
        trigger's timeout event arrive first).
        """
        left = self.seconds_left()
        trigger = trigger_class(
            conn_id=conn_id,
            remote_ids=self.pending,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
            started_at=self.started_at,
            **({"platform": platform} if platform else {}),
        )
        task.defer(
            trigger=trigger,
            method_name=method_name,
            kwargs={"first": self.statuses},
            timeout=timedelta(seconds=left + grace) if left is not None else None,
        )

    def event(self) -> dict[str, Any]:
        """The trigger's event for where the wait ended (``done``, ``timeout`` or ``error``)."""
        step = self.step()
        if step is WaitStep.ERROR:
            return {"status": "error", "message": self.error, "assets": self.finished, "pending": self.pending}
        if step is WaitStep.TIMEOUT:
            pending = self.pending
            return {
                "status": "timeout",
                "assets": self.finished,
                "pending": pending,
                "last": {i: self.statuses.get(i) for i in pending},
            }
        return {"status": "done", "assets": self.finished}

    @classmethod
    def from_event(
        cls,
        event: Mapping[str, Any],
        *,
        first: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AssetWait:
        """The wait as the trigger left it: ``first`` (what the worker saw before deferring),
        then the last statuses of the pending assets, then the finished ones."""
        statuses: dict[str, dict[str, Any]] = {}
        for seen in (first or {}, event.get("last") or {}, event.get("assets") or {}):
            statuses.update({str(i): dict(s) for i, s in seen.items() if s})
        pending = [str(i) for i in event.get("pending") or ()]
        status = event.get("status")
        return cls(
            remote_ids=list(dict.fromkeys([*statuses, *pending])),
            statuses=statuses,
            error=str(event.get("message") or "status poll failed") if status == WaitStep.ERROR else None,
            timed_out_by="trigger" if status == WaitStep.TIMEOUT else None,
        )
