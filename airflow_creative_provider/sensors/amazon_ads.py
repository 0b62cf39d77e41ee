"""Sensor waiting until Amazon Ads Creative Asset Library assets are ACTIVE."""

from __future__ import annotations

from airflow_creative_provider.hooks.amazon_ads import AmazonAdsHook
from airflow_creative_provider.sensors.base import CreativeAssetSensor
from airflow_creative_provider.triggers.amazon_ads import AmazonAdsAssetStatusTrigger


class AmazonAdsAssetSensor(CreativeAssetSensor):
    """Wait until every asset is ``ACTIVE`` in the Creative Asset Library.

    Processing takes up to 30 minutes (video longer). ``INACTIVE`` (transcoding failed) and
    ``ARCHIVED`` fail the task with Amazon's reason; failed spec checks are logged as warnings
    (an ``ACTIVE`` asset is not necessarily eligible for every program). On timeout the message
    lists what is still processing. Returns ``{remote_id: status}``.

    :param remote_ids: ``assetId`` or ``assetId:version_vN`` (as ``AmazonAdsRegisterAssetOperator``
        returns), one or a list (templated). Without a version the newest version is watched.
    :param conn_id: Airflow connection of type ``amazon_ads``; ``amazon_ads_default`` when omitted.
    :param fail_on_rejected: raise when an asset is INACTIVE or ARCHIVED (default True).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    hook_class = AmazonAdsHook
    trigger_class = AmazonAdsAssetStatusTrigger
    ui_color = "#ff9900"
