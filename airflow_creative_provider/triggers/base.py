"""``AssetStatusTrigger``: polls a batch of remote assets until each is ready or rejected.

It runs in the triggerer, so no worker slot is held while platforms process. The connection
is read with ``BaseHook.aget_connection``; polls go through the hook's async client
(``aget_status``), which reuses the hook's request building and response parsing and
honours ``Retry-After``. ``serialize()`` holds ids only, never a secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_creative_provider.hooks.base import CreativePlatformHook
from airflow_creative_provider.waiting import AssetWait, WaitStep


class AssetStatusTrigger(BaseTrigger):
    """Poll ``remote_ids`` every ``poll_interval`` seconds until each is terminal (``waiting.AssetWait``).

    Fires one event: ``{"status": "done", "assets": {...}}`` when every asset is ready or
    rejected, ``"timeout"`` (with ``pending``) when ``timeout`` seconds passed since
    ``started_at``, or ``"error"`` with a message when the platform call failed for good.

    :param conn_id: Airflow connection of the platform.
    :param remote_ids: ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began (kept across triggerer restarts).
    :param platform: platform name, when this base class is used directly (the sync DAG);
        platform subclasses set ``hook_class`` instead.
    """

    hook_class: ClassVar[type[CreativePlatformHook] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "hook_class", None), type):
            raise TypeError(f"{cls.__name__} must set hook_class to a CreativePlatformHook subclass")

    def __init__(
        self,
        conn_id: str | None,
        remote_ids: list[str],
        poll_interval: float = 10.0,
        timeout: float | None = None,
        started_at: float | None = None,
        platform: str | None = None,
    ) -> None:
        super().__init__()
        if self.hook_class is None and platform is None:
            raise ValueError("AssetStatusTrigger needs a platform name (or use a platform's trigger class)")
        self.platform = platform
        self.conn_id = conn_id
        self.remote_ids = [str(i) for i in remote_ids]
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.started_at = started_at if started_at is not None else time.time()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "remote_ids": self.remote_ids,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "started_at": self.started_at,
                **({"platform": self.platform} if self.platform else {}),
            },
        )

    def _hook_class(self) -> type[CreativePlatformHook]:
        if self.hook_class is not None:
            return self.hook_class
        from airflow_creative_provider.hooks import hook_class

        return hook_class(str(self.platform))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = await self._hook_class().afrom_conn_id(self.conn_id)
        wait = AssetWait(
            self.remote_ids, poll_interval=self.poll_interval, timeout=self.timeout, started_at=self.started_at
        )
        while True:
            step = await wait.apoll(hook)
            if step is not WaitStep.ERROR:
                self.log.info(
                    "%s: %d of %d assets finished, %d pending",
                    hook.hook_name,
                    len(wait.finished),
                    len(self.remote_ids),
                    len(wait.pending),
                )
            if step is not WaitStep.POLL:
                yield TriggerEvent(wait.event())
                return
            await asyncio.sleep(self.poll_interval)
