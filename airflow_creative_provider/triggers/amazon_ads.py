"""Trigger polling Amazon Ads Creative Asset Library assets until each is ACTIVE or failed."""

from __future__ import annotations

from airflow_creative_provider.hooks.amazon_ads import AmazonAdsHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


class AmazonAdsAssetStatusTrigger(AssetStatusTrigger):
    """Poll ``GET /assets`` for each id (``assetId`` or ``assetId:version_vN``) until it is terminal.

    ``ACTIVE`` is ready; ``INACTIVE`` and ``ARCHIVED`` are rejections. Runs in the triggerer with
    the hook's async client (same requests, same parsing, ``Retry-After`` honoured); ``serialize()``
    holds the connection id and asset ids only.

    :param conn_id: Airflow connection of type ``amazon_ads``.
    :param remote_ids: asset ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began.
    """

    hook_class = AmazonAdsHook
