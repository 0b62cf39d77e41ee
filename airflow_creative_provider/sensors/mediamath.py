"""``MediaMathApprovalSensor``: waits until MediaMath creatives are approved."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from airflow_creative_provider.hooks.mediamath import MediaMathHook
from airflow_creative_provider.sensors.base import CreativeAssetSensor
from airflow_creative_provider.triggers.mediamath import MediaMathApprovalTrigger


class MediaMathApprovalSensor(CreativeAssetSensor):
    """Wait until one or many MediaMath creatives are approved (``net_status`` ``APPROVED``).

    Each poll reads ``GET /approvals`` for every id (at most 50 per call; the hook splits
    larger sets). ``REJECTED`` fails the task with each supply source's reason (unless
    ``fail_on_rejected`` is False); ``PENDING`` keeps waiting; ``N/A`` (not submitted for
    approval) keeps waiting for the connection's ``not_submitted_after`` seconds (default 300,
    counted from the first poke, across reschedules and deferral), then ends the wait with the
    state ``not_submitted`` and a warning, not a timeout. Which ``net_status`` values are ready
    is the connection extra ``ready_net_statuses`` (default ``APPROVED``). On timeout the message
    lists the creatives still pending. Returns ``{atomic_creative_id: status}``.

    With ``deferrable=True`` the wait runs in the triggerer (``MediaMathApprovalTrigger``);
    the default follows ``[operators] default_deferrable``.

    :param atomic_creative_ids: one creative id, a comma-separated string or a list of ids
        (templated; e.g. the ``atomic_creative_id`` XCom of ``MediaMathCreateCreativeOperator``).
    :param remote_ids: the same, under the name every creative sensor uses (give one of the two).
    :param conn_id: MediaMath connection; ``mediamath_default`` when omitted (templated).
    :param fail_on_rejected: fail when a creative is rejected (default True).
    :param deferrable: wait in the triggerer.
    """

    hook_class = MediaMathHook
    trigger_class = MediaMathApprovalTrigger
    template_fields: Sequence[str] = ("remote_ids", "conn_id")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        atomic_creative_ids: int | str | Iterable[int | str] | None = None,
        remote_ids: int | str | Iterable[int | str] | None = None,
        **kwargs: Any,
    ) -> None:
        if (atomic_creative_ids is None) == (remote_ids is None):
            raise ValueError("give atomic_creative_ids (or remote_ids), exactly one of them")
        super().__init__(remote_ids=atomic_creative_ids if remote_ids is None else remote_ids, **kwargs)  # type: ignore[arg-type]

    @property
    def ids(self) -> list[str]:
        """Creative ids as strings, from an int, a comma-separated string or a list."""
        value: Any = self.remote_ids
        if isinstance(value, (int, str)):
            value = str(value).strip("[] ").split(",")
        return [str(i).strip().strip("'\"") for i in value if str(i).strip()]
