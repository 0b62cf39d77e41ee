"""Airflow plugin of the provider (registered through the ``airflow.plugins`` entry point)."""

from __future__ import annotations

from airflow.sdk.plugins_manager import AirflowPlugin


class CreativeSyncPlugin(AirflowPlugin):
    """The creative sync plugin; the status page is added by the UI work."""

    name = "creative_sync"
