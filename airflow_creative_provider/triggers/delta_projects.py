"""``DeltaProjectsFileStatusTrigger``: waits in the triggerer until Delta files are processed.

Delta's list gives no states, so each file is retrieved; the hook's ``aget_status`` runs
those Retrieve calls concurrently (``status_concurrency``) within the client-side rate limit
and honours ``Retry-After``.
"""

from __future__ import annotations

from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


class DeltaProjectsFileStatusTrigger(AssetStatusTrigger):
    """Poll Delta Projects files until each is ``PROCESSED`` or ``UNPROCESSABLE``.

    :param conn_id: Delta Projects connection.
    :param remote_ids: file ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began.
    """

    hook_class = DeltaProjectsHook
