"""``MediaPocketAssetSensor``: waits until MediaPocket has processed the media of assets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.sensors.base import CreativeAssetSensor
from airflow_creative_provider.triggers.mediapocket import MediaPocketAssetStatusTrigger


class MediaPocketAssetSensor(CreativeAssetSensor):
    """Wait until one or many MediaPocket assets have their media processed.

    ``processing`` and ``placeholder`` (media expected) wait; any other ``media_type``
    (``image``, ``video``, ...) is ready. MediaPocket documents no failure state for a fetch
    that fails: an asset still processing past the connection's ``processing_timeout`` fails
    the sensor with its asset id, as does an asset in the trash bin; on the sensor's own
    timeout the message lists the ids still pending. Once assets are ready their staged S3
    objects are deleted (connection extra ``delete_staged``, default true).

    With ``deferrable=True`` the wait runs in the triggerer (``MediaPocketAssetStatusTrigger``);
    the default follows ``[operators] default_deferrable``.

    :param remote_ids: one asset id or a list of them (templated).
    :param conn_id: MediaPocket connection; ``mediapocket_default`` when omitted.
    :param fail_on_rejected: raise when an asset is rejected (default True).
    :param deferrable: wait in the triggerer.
    """

    hook_class = MediaPocketHook
    trigger_class = MediaPocketAssetStatusTrigger

    def execute_complete(
        self, context: Any, event: dict[str, Any], first: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        try:
            return super().execute_complete(context, event, first)
        finally:
            self._cleanup(event.get("assets") or {})

    def _cleanup(self, assets: Mapping[str, Mapping[str, Any]]) -> None:
        """The triggerer only polls; staged objects are deleted here, on the worker."""
        statuses = {
            remote_id: AssetStatus(
                remote_id=remote_id,
                state=status.get("state", ""),
                raw_state=status.get("raw_state"),
                reason=status.get("reason"),
                details=dict(status.get("details") or {}),
            )
            for remote_id, status in assets.items()
        }
        hook: MediaPocketHook = self.hook  # type: ignore[assignment]
        hook.cleanup_staged(statuses)
