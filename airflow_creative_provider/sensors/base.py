"""``CreativeAssetSensor``: waits until one or many remote assets are ready."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, conf

from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.base import AssetStatus, CreativePlatformHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger
from airflow_creative_provider.waiting import AssetWait, WaitStep


class CreativeAssetSensor(BaseSensorOperator):
    """Wait until every asset in ``remote_ids`` reached the platform's ready state.

    An asset the platform holds but nobody submitted for approval (``not_submitted``, e.g.
    MediaMath's ``N/A`` after the connection's ``not_submitted_after``) ends the wait too, with
    a warning naming it: nothing would change by waiting longer.

    Fails with the platform's reasons as soon as an asset is rejected (unless
    ``fail_on_rejected`` is False); on timeout, the message lists what is still pending.
    Returns ``{remote_id: status}`` (pushed to XCom).

    With ``deferrable=True`` the wait runs in the triggerer (no worker slot held); the
    default follows Airflow's ``[operators] default_deferrable``. ``poke`` and
    ``reschedule`` modes still work; the wait counts from its first poke in every mode
    (in ``reschedule`` mode, Airflow's first reschedule date), so MediaMath's ``N/A``
    clock keeps running across reschedules.

    :param remote_ids: one id or a list of ids (templated).
    :param conn_id: Airflow connection of the platform; the hook's default when omitted.
    :param fail_on_rejected: raise when an asset is rejected (default True).
    :param deferrable: wait in the triggerer.
    """

    hook_class: ClassVar[type[CreativePlatformHook]]
    trigger_class: ClassVar[type[AssetStatusTrigger]]
    template_fields: Sequence[str] = ("remote_ids", "conn_id")

    def __init__(
        self,
        *,
        remote_ids: str | list[str],
        conn_id: str | None = None,
        fail_on_rejected: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 10)
        super().__init__(**kwargs)
        self.remote_ids = remote_ids
        self.conn_id = conn_id
        self.fail_on_rejected = fail_on_rejected
        self.deferrable = deferrable
        self._started_at: float | None = None
        self._last: dict[str, dict[str, Any]] = {}

    @cached_property
    def hook(self) -> CreativePlatformHook:
        return self.hook_class(self.conn_id)

    @property
    def ids(self) -> list[str]:
        ids = self.remote_ids
        if isinstance(ids, str):
            ids = [ids]
        return [str(i) for i in ids]

    @property
    def fail_on(self) -> frozenset[str]:
        """The asset states that fail this sensor: ``failed``, and ``rejected`` with ``fail_on_rejected``."""
        return frozenset({AssetStatus.FAILED} | ({AssetStatus.REJECTED} if self.fail_on_rejected else set()))

    def _wait(self, statuses: Mapping[str, Mapping[str, Any]] | None = None) -> AssetWait:
        """This sensor's wait (``waiting.AssetWait``), holding ``statuses``; it began at the first poke."""
        if self._started_at is None:
            self._started_at = time.time()
        wait = AssetWait(
            self.ids,
            poll_interval=float(self.poke_interval),
            timeout=float(self.timeout) if self.timeout else None,
            started_at=self._started_at,
            deferrable=self.deferrable,
            fail_on=self.fail_on,
        )
        wait.record(statuses or {})
        return wait

    def _evaluate(self, statuses: dict[str, dict[str, Any]]) -> bool:
        """Raise when an asset failed or was rejected; log the platform's warnings; True once all finished."""
        name, platform = self.hook_class.hook_name, self.hook_class.platform
        wait = self._wait(statuses)
        step = wait.step()
        if step is WaitStep.FAILED:
            failed = {i: s for i, s in wait.failures.items() if s["state"] == AssetStatus.FAILED}
            if failed:
                raise PlatformError(
                    f"{name}: processing failed for {len(failed)} asset(s): {_reasons(failed)}", platform=platform
                )
            rejected = wait.failures
            raise PlatformRejected(f"{name} rejected {len(rejected)} asset(s): {_reasons(rejected)}", platform=platform)
        for remote_id, status in statuses.items():
            for warning in status.get("warnings") or ():
                self.log.warning("%s %s: %s", name, remote_id, warning)
        for remote_id, status in statuses.items():
            if status["state"] == AssetStatus.NOT_SUBMITTED:
                self.log.warning("%s %s: %s", name, remote_id, status.get("reason"))
        return step is WaitStep.DONE

    def poke(self, context: Any) -> bool:
        wait = self._wait()
        wait.poll(self.hook)
        statuses = self._last = wait.statuses
        pending = [i for i, s in statuses.items() if s["state"] not in AssetStatus.TERMINAL]
        self.log.info("%d of %d assets finished; pending: %s", len(statuses) - len(pending), len(statuses), pending)
        return self._evaluate(statuses)

    def execute(self, context: Any) -> dict[str, Any]:
        self._started_at = self._first_poke(context)
        if not self.deferrable:
            super().execute(context)
            return self._last
        if self.poke(context):
            return self._last
        wait = self._wait(self._last)
        if wait.step() is WaitStep.TIMEOUT:
            raise self._timed_out(wait)
        wait.defer(self, self.trigger_class, conn_id=self.conn_id)
        return {}  # pragma: no cover - defer raises

    def execute_complete(
        self, context: Any, event: dict[str, Any], first: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Finish on the worker: the trigger's event, with ``first`` (the statuses of the poke before deferring)."""
        wait = AssetWait.from_event(event, first=first)
        step = wait.step()
        if step is WaitStep.ERROR:
            raise PlatformError(str(wait.error), platform=self.hook_class.platform)
        if step is WaitStep.TIMEOUT:
            raise self._timed_out(wait)
        assets = wait.finished
        self._evaluate(assets)
        return assets

    def _first_poke(self, context: Any) -> float:
        """When this wait began: now, or in ``reschedule`` mode Airflow's first reschedule date."""
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return float(first.timestamp())
        return time.time()

    def _timed_out(self, wait: AssetWait) -> PlatformError:
        pending = ", ".join(f"{i} ({(wait.statuses.get(i) or {}).get('raw_state')})" for i in wait.pending)
        return PlatformError(
            f"{self.hook_class.hook_name}: timed out waiting; still pending: {pending}",
            platform=self.hook_class.platform,
        )


def _reasons(statuses: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(f"{i}: {s.get('reason') or s.get('raw_state')}" for i, s in statuses.items())
