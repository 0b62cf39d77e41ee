"""Task building blocks of the ``creative_sync`` DAG that are not plain functions.

``CreativeSyncWaitOperator`` waits for one batch of one platform (a submit task's
``BatchResult``; the remote ids to wait for are read from the ledger) until every asset is
ready or rejected. It polls once on the worker, then defers to ``AssetStatusTrigger`` (one
trigger per batch, no worker slot held), and records the statuses in the ledger when the
trigger fires; the decisions are ``CreativeAssetSensor``'s (``waiting.AssetWait``). A
rejection or a timeout does not fail this task: the report task decides the run's outcome
after every batch was handled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator, conf

from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.hooks.base import CreativePlatformHook
from airflow_creative_provider.sync.executor import (
    WaitTargets,
    record_statuses,
    schedule_interval_seconds,
    wait_deadline,
    wait_targets,
)
from airflow_creative_provider.sync.payloads import BatchResult
from airflow_creative_provider.triggers.base import AssetStatusTrigger
from airflow_creative_provider.waiting import AssetWait, WaitStep


class CreativeSyncWaitOperator(BaseOperator):
    """Wait until one sync batch's assets are ready or rejected, and record their states.

    Returns a ``WaitResult`` as JSON (counts per state, ``rejected``, ``pending``, ``error``
    when the platform could not be polled); each status is stored in the ledger. Rejections
    are reported, not raised here.

    :param targets: one submit task's ``BatchResult`` (JSON); mapped over the submit tasks.
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait at most; assets still processing then are reported as
        such and polled again by the next run.
    :param fit_schedule: also end by the run's deadline (``sync.executor.wait_deadline``: the
        run's start plus three quarters of the DAG's schedule interval), so that a slow
        platform never holds back the next scheduled run of every platform.
    :param deferrable: wait in the triggerer (no worker slot held); defaults to Airflow's
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("targets",)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        targets: Any,
        poll_interval: float = 10.0,
        timeout: float | None = 6 * 3600,
        fit_schedule: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.poll_interval = poll_interval
        self.wait_timeout = timeout
        self.fit_schedule = fit_schedule
        self.deferrable = deferrable

    def seconds_left(self, context: Any, now: float | None = None) -> float | None:
        """How long this wait may still take: ``timeout``, and the run's deadline with ``fit_schedule``."""
        timeout = self.wait_timeout
        dag_run = context.get("dag_run") if self.fit_schedule else None
        started = getattr(dag_run, "start_date", None)
        if started is None:
            return timeout
        dag = context.get("dag")
        interval = schedule_interval_seconds(getattr(dag, "timetable", None), started)
        left = max(0.0, wait_deadline(started.timestamp(), interval) - (time.time() if now is None else now))
        return left if timeout is None else min(timeout, left)

    @cached_property
    def batch(self) -> WaitTargets:
        """The remote ids this batch waits for (read from the ledger once)."""
        return wait_targets(BatchResult.from_json(self.targets))

    def _hook(self) -> CreativePlatformHook:
        return hook_class(self.batch.platform)(self.batch.conn_id)

    def execute(self, context: Any) -> dict[str, Any]:
        batch = self.batch
        if not batch.remote_ids:
            self.log.info("%s batch %s: nothing to wait for", batch.platform, batch.index)
            return self._record({})
        hook = self._hook()
        started = time.time()
        wait = AssetWait(
            list(batch.remote_ids),
            poll_interval=self.poll_interval,
            timeout=self.seconds_left(context, started),
            started_at=started,
            deferrable=self.deferrable,
        )
        while (step := wait.poll(hook)) is WaitStep.POLL:
            time.sleep(self.poll_interval)
        if step is WaitStep.DEFER:
            wait.defer(self, AssetStatusTrigger, conn_id=batch.conn_id, platform=batch.platform, grace=300)
        if step is WaitStep.TIMEOUT:
            self.log.warning(
                "%s: the run's waits ended (deadline); still processing, polled by the next run: %s",
                batch.platform,
                ", ".join(wait.pending),
            )
        return self._record(wait.statuses)

    def execute_complete(
        self, context: Any, event: dict[str, Any], first: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        wait = AssetWait.from_event(event, first=first)
        step = wait.step()
        if step is WaitStep.TIMEOUT:
            self.log.warning("%s: timed out; still processing: %s", self.batch.platform, ", ".join(wait.pending))
        if step is WaitStep.ERROR:
            self.log.error("%s: status poll failed: %s", self.batch.platform, wait.error)
        return self._record(wait.statuses, error=wait.error)

    def _record(self, statuses: dict[str, dict[str, Any]], error: str | None = None) -> dict[str, Any]:
        result = record_statuses(self.batch, statuses, error=error)
        self.log.info(
            "%s batch %s: %d assets, %d rejected, %d still processing",
            result.target_name,
            result.index,
            len(self.batch.items),
            result.rejected,
            result.pending,
        )
        return result.to_json()


class CreativeSyncApprovalOperator(ApprovalOperator):
    """Airflow's human-in-the-loop approval, remembering the decision for the sync report.

    Approve lets the sync send; Reject skips the submit tasks (nothing is sent) and the
    report says the plan was rejected. The decision is pushed to XCom ``decision``
    (``approved`` or ``rejected``) because a rejected approval skips downstream tasks
    and its return value is not kept.
    """

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        chosen = (event.get("chosen_options") or [None])[0] if "error" not in event else None
        if chosen is not None:
            context["ti"].xcom_push(key="decision", value="approved" if chosen == self.APPROVE else "rejected")
        return super().execute_complete(context=context, event=event)
