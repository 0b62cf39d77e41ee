"""``MediaMathApprovalTrigger``: waits in the triggerer until MediaMath creatives are approved.

One poll is ``GET /approvals`` in calls of at most 50 ids, sent by the hook's async client
(``aget_status``): same request building, same ``net_status`` parsing as the sync hook,
``Retry-After`` honoured, session renewed once on a 401.
"""

from __future__ import annotations

from airflow_creative_provider.hooks.mediamath import MediaMathHook
from airflow_creative_provider.triggers.base import AssetStatusTrigger


class MediaMathApprovalTrigger(AssetStatusTrigger):
    """Poll MediaMath creative approvals until each is ``APPROVED`` or ``REJECTED``.

    ``PENDING`` and ``N/A`` (not submitted yet) keep waiting.

    :param conn_id: MediaMath connection.
    :param remote_ids: atomic creative ids to watch.
    :param poll_interval: seconds between polls.
    :param timeout: seconds after ``started_at`` to give up; None waits forever.
    :param started_at: epoch seconds when waiting began.
    """

    hook_class = MediaMathHook
