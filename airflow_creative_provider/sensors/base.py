"""``CreativeAssetSensor``: waits until one or many remote assets are ready."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, conf

from airflow_creative_provider.exceptions import PlatformError, PlatformRejected
from airflow_creative_provider.hooks.base import AssetStatus, CreativePlatformHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


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
    ``reschedule`` modes still work.

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

    @cached_property
    def hook(self) -> CreativePlatformHook:
        return self.hook_class(self.conn_id)

    @property
    def ids(self) -> list[str]:
        ids = self.remote_ids
        if isinstance(ids, str):
            ids = [ids]
        return [str(i) for i in ids]

    def _evaluate(self, statuses: dict[str, dict[str, Any]]) -> bool:
        failed = {i: s for i, s in statuses.items() if s["state"] == AssetStatus.FAILED}
        if failed:
            reasons = "; ".join(f"{i}: {s.get('reason') or s.get('raw_state')}" for i, s in failed.items())
            raise PlatformError(
                f"{self.hook_class.hook_name}: processing failed for {len(failed)} asset(s): {reasons}",
                platform=self.hook_class.platform,
            )
        rejected = {i: s for i, s in statuses.items() if s["state"] == AssetStatus.REJECTED}
        if rejected and self.fail_on_rejected:
            reasons = "; ".join(f"{i}: {s.get('reason') or s.get('raw_state')}" for i, s in rejected.items())
            raise PlatformRejected(
                f"{self.hook_class.hook_name} rejected {len(rejected)} asset(s): {reasons}",
                platform=self.hook_class.platform,
            )
        for remote_id, status in statuses.items():
            for warning in status.get("warnings") or ():
                self.log.warning("%s %s: %s", self.hook_class.hook_name, remote_id, warning)
        for remote_id, status in statuses.items():
            if status["state"] == AssetStatus.NOT_SUBMITTED:
                self.log.warning("%s %s: %s", self.hook_class.hook_name, remote_id, status.get("reason"))
        return all(s["state"] in AssetStatus.TERMINAL for s in statuses.values())

    def poke(self, context: Any) -> bool:
        statuses = {i: s.to_dict() for i, s in self.hook.get_status(self.ids).items()}
        self._last = statuses
        pending = [i for i, s in statuses.items() if s["state"] not in AssetStatus.TERMINAL]
        self.log.info("%d of %d assets finished; pending: %s", len(statuses) - len(pending), len(statuses), pending)
        return self._evaluate(statuses)

    def execute(self, context: Any) -> dict[str, Any]:
        if not self.deferrable:
            super().execute(context)
            return self._last
        if self.poke(context):
            return self._last
        self.defer(
            trigger=self.trigger_class(
                conn_id=self.conn_id,
                remote_ids=self.ids,
                poll_interval=float(self.poke_interval),
                timeout=float(self.timeout) if self.timeout else None,
                started_at=time.time(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )
        return {}  # pragma: no cover - defer raises

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "error":
            raise PlatformError(event.get("message", "status poll failed"), platform=self.hook_class.platform)
        if status == "timeout":
            pending = ", ".join(
                f"{i} ({(event.get('last') or {}).get(i, {}) and event['last'][i].get('raw_state')})"
                for i in event.get("pending", [])
            )
            raise PlatformError(
                f"{self.hook_class.hook_name}: timed out waiting; still pending: {pending}",
                platform=self.hook_class.platform,
            )
        assets = event.get("assets", {})
        self._evaluate(assets)
        return assets
