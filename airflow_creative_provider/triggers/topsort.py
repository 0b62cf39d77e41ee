"""``TopsortAssetStatusTrigger``: polls Topsort assets from the triggerer until approved or failed."""

from __future__ import annotations

from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


class TopsortAssetStatusTrigger(AssetStatusTrigger):
    """Poll Topsort assets (``GET /public/v1/assets/asset/{id}``) until each is terminal.

    ``approved`` is ready; ``upload_error`` and ``rejected`` are failures. Polls go through the
    hook's async client: the same requests, error mapping and 429 handling as the hook.

    :param conn_id: Topsort connection id.
    :param remote_ids: asset ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began.
    """

    hook_class = TopsortHook
