"""``MediaPocketAssetStatusTrigger``: polls MediaPocket assets until their media is processed."""

from __future__ import annotations

from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


class MediaPocketAssetStatusTrigger(AssetStatusTrigger):
    """Poll MediaPocket assets (``GET /api/v2/assets/:id``) until each is ready or rejected.

    ``processing`` and ``placeholder`` are still waiting; any other ``media_type`` is ready; an
    asset in the trash bin or stuck past the connection's ``processing_timeout`` is rejected.

    :param conn_id: MediaPocket connection.
    :param remote_ids: asset ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began.
    """

    hook_class = MediaPocketHook
