"""Task building blocks of the ``creative_sync`` DAG that are not plain functions.

``CreativeSyncWaitOperator`` waits for one batch of one platform (what
``sync.engine.wait_targets`` returned) until every asset is ready or rejected. It polls once
on the worker, then defers to ``AssetStatusTrigger`` (given the platform name) (one trigger per batch, no worker
slot held), and records the statuses in the ledger when the trigger fires. A rejection or a
timeout does not fail this task: the report task decides the run's outcome after every batch
was handled.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator, conf

from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.hooks.base import AssetStatus, CreativePlatformHook
from airflow_creative_provider.sync.engine import record_statuses
from airflow_creative_provider.triggers.base import AssetStatusTrigger


def _run_id(context: Mapping[str, Any]) -> str:
    if context.get("run_id"):
        return str(context["run_id"])
    return str(context["dag_run"].run_id)


class CreativeSyncWaitOperator(BaseOperator):
    """Wait until one sync batch's assets are ready or rejected, and record their states.

    Returns what ``sync.engine.record_statuses`` returns (pushed to XCom): per asset its
    state, raw state and reason; ``rejected`` and ``pending`` counts; ``error`` when the
    platform could not be polled. Rejections are reported, not raised here.

    :param targets: one ``wait_targets(...)`` result (``platform``, ``conn_id``,
        ``account``, ``remote_ids``, ``items``); mapped over the submit tasks' results.
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait at most; assets still processing then are reported as
        such and polled again by the next run.
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
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.poll_interval = poll_interval
        self.wait_timeout = timeout
        self.deferrable = deferrable

    def _hook(self) -> CreativePlatformHook:
        return hook_class(self.targets["platform"])(self.targets["conn_id"])

    def _poll(self, hook: CreativePlatformHook, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: s.to_dict() for i, s in hook.get_status(ids).items()}

    def execute(self, context: Any) -> dict[str, Any]:
        targets = self.targets
        ids = list(targets.get("remote_ids") or [])
        if not ids:
            self.log.info("%s batch %s: nothing to wait for", targets.get("platform"), targets.get("index"))
            return record_statuses(targets, {}, _run_id(context))
        hook = self._hook()
        statuses = self._poll(hook, ids)
        started = time.time()
        while not self._all_terminal(statuses, ids):
            if self.deferrable:
                self.defer(
                    trigger=AssetStatusTrigger(
                        platform=targets["platform"],
                        conn_id=targets["conn_id"],
                        remote_ids=[i for i in ids if not _terminal(statuses.get(i))],
                        poll_interval=self.poll_interval,
                        timeout=self.wait_timeout,
                        started_at=started,
                    ),
                    method_name="execute_complete",
                    kwargs={"first": statuses},
                    timeout=timedelta(seconds=self.wait_timeout + 300) if self.wait_timeout else None,
                )
            if self.wait_timeout is not None and time.time() - started >= self.wait_timeout:
                self.log.warning(
                    "%s: timed out; still processing: %s", targets["platform"], self._pending(statuses, ids)
                )
                break
            time.sleep(self.poll_interval)
            statuses.update(self._poll(hook, [i for i in ids if not _terminal(statuses.get(i))]))
        return self._record(context, statuses)

    def execute_complete(
        self, context: Any, event: dict[str, Any], first: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        statuses = dict(first or {})
        statuses.update(event.get("last") or {})
        statuses.update(event.get("assets") or {})
        status = event.get("status")
        if status == "timeout":
            self.log.warning(
                "%s: timed out; still processing: %s", self.targets["platform"], ", ".join(event.get("pending", []))
            )
        result = self._record(context, {k: v for k, v in statuses.items() if v})
        if status == "error":
            self.log.error("%s: status poll failed: %s", self.targets["platform"], event.get("message"))
            result["error"] = event.get("message")
        return result

    def _record(self, context: Any, statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
        result = record_statuses(self.targets, statuses, _run_id(context))
        self.log.info(
            "%s batch %s: %d assets, %d rejected, %d still processing",
            self.targets["platform"],
            self.targets.get("index"),
            len(result["results"]),
            result["rejected"],
            result["pending"],
        )
        return result

    @staticmethod
    def _all_terminal(statuses: Mapping[str, Any], ids: list[str]) -> bool:
        return all(_terminal(statuses.get(i)) for i in ids)

    @staticmethod
    def _pending(statuses: Mapping[str, Any], ids: list[str]) -> str:
        return ", ".join(i for i in ids if not _terminal(statuses.get(i)))


def _terminal(status: Mapping[str, Any] | None) -> bool:
    return bool(status) and status["state"] in (AssetStatus.READY, AssetStatus.REJECTED)  # type: ignore[index]


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
