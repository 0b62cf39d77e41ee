"""``DeltaProjectsFileSensor``: waits until Delta Projects files are processed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook, checksum_mismatch
from airflow_creative_provider.operators.delta_projects import DeltaProjectsAssetLink
from airflow_creative_provider.sensors.base import CreativeAssetSensor
from airflow_creative_provider.triggers.delta_projects import DeltaProjectsFileStatusTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class DeltaProjectsFileSensor(CreativeAssetSensor):
    """Wait until one or many Delta Projects files are ``PROCESSED``.

    Delta's file list carries no state, so every file is retrieved on each poll (in the
    triggerer, concurrently within the rate the hook keeps to). ``UNPROCESSABLE`` fails the
    task (unless ``fail_on_rejected`` is False). When ``expected_sha1`` is given, the checksum
    Delta returns for a processed file (upper-case hex SHA-1) is compared case-insensitively
    with it, and a mismatch fails the task saying so. On timeout the message lists the files
    still pending. Returns ``{file_id: status}``; with a single file, its public URL becomes
    the "Delta Projects file" extra link.

    With ``deferrable=True`` the wait runs in the triggerer (``DeltaProjectsFileStatusTrigger``);
    the default follows ``[operators] default_deferrable``.

    :param remote_ids: one file id or a list of them (templated).
    :param expected_sha1: the local SHA-1 of each file: one value for one file, a list aligned
        with ``remote_ids``, or ``{file_id: sha1}`` (templated); the upload operator pushes it
        as XCom ``sha1``.
    :param conn_id: Delta Projects connection; ``delta_projects_default`` when omitted (templated).
    :param fail_on_rejected: fail when a file is unprocessable or its checksum differs (default True).
    :param deferrable: wait in the triggerer.
    """

    hook_class = DeltaProjectsHook
    trigger_class = DeltaProjectsFileStatusTrigger
    template_fields: Sequence[str] = ("remote_ids", "conn_id", "expected_sha1")
    operator_extra_links = (DeltaProjectsAssetLink(),)
    ui_color = "#e3f1fb"

    def __init__(self, *, expected_sha1: str | list[str] | dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected_sha1 = expected_sha1

    @property
    def expected(self) -> dict[str, str]:
        """``{file_id: sha1}`` from ``expected_sha1``."""
        value = self.expected_sha1
        if not value:
            return {}
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v}
        values = [value] if isinstance(value, str) else list(value)
        if len(values) != len(self.ids):
            raise ValueError(
                f"expected_sha1 has {len(values)} value(s) for {len(self.ids)} file id(s); give one per file "
                "or a {file_id: sha1} mapping."
            )
        return {i: str(v) for i, v in zip(self.ids, values, strict=True) if v}

    def poke(self, context: Any) -> bool:
        self.hook.expected_checksums.update(self.expected)  # type: ignore[attr-defined]
        return super().poke(context)

    def _evaluate(self, statuses: dict[str, dict[str, Any]]) -> bool:
        expected = self.expected
        for file_id, status in statuses.items():
            if status["state"] != AssetStatus.READY:
                continue
            reason = checksum_mismatch(file_id, (status.get("details") or {}).get("checksum"), expected.get(file_id))
            if reason:
                status["state"], status["reason"] = AssetStatus.REJECTED, reason
        return super()._evaluate(statuses)

    def _link(self, context: Context, statuses: dict[str, Any]) -> None:
        if len(statuses) == 1:
            status = next(iter(statuses.values()))
            if status.get("state") == AssetStatus.READY:
                DeltaProjectsAssetLink.persist(context, (status.get("details") or {}).get("url"))

    def execute(self, context: Context) -> dict[str, Any]:
        statuses = super().execute(context)
        self._link(context, statuses)
        return statuses

    def execute_complete(
        self, context: Context, event: dict[str, Any], first: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        statuses = super().execute_complete(context, event, first)
        self._link(context, statuses)
        return statuses
