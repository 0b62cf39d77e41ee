"""``TopsortAssetSensor``: waits until Topsort assets are ``approved``."""

from __future__ import annotations

from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.sensors.base import CreativeAssetSensor
from airflow_creative_provider.triggers.topsort import TopsortAssetStatusTrigger


class TopsortAssetSensor(CreativeAssetSensor):
    """Wait until one or many Topsort assets are ``approved``.

    ``upload_error`` and ``rejected`` fail the task with the reason (unless
    ``fail_on_rejected=False``); an asset still in ``pending_upload`` never had its file
    uploaded. On timeout the message lists the assets still pending and their states.
    Returns ``{asset_id: status}`` with the approved ``url`` in each status's ``details``.

    With ``deferrable=True`` the wait runs in the triggerer (``TopsortAssetStatusTrigger``);
    the default follows ``[operators] default_deferrable``.

    :param remote_ids: one asset id or a list of ids (templated).
    :param conn_id: Topsort connection; ``topsort_default`` when omitted (templated).
    :param fail_on_rejected: fail when an asset ends in ``upload_error`` or ``rejected``.
    :param deferrable: wait in the triggerer.
    """

    hook_class = TopsortHook
    trigger_class = TopsortAssetStatusTrigger
