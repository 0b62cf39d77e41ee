"""Delta Projects step operators: upload one file to the Files API.

Delta takes a file in one call (``{name, payload}`` with the file's base64), so there is
one durable step: ``DeltaProjectsUploadFileOperator``. Processing is asynchronous; wait for
it with ``DeltaProjectsFileSensor``, which also shows the processed file's public URL as the
"Delta Projects file" extra link (``DeltaProjectsAssetLink``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_creative_provider.hooks.delta_projects import DeltaProjectsHook
from airflow_creative_provider.links import CreativeAssetLink
from airflow_creative_provider.operators.base import CreativePlatformOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class DeltaProjectsAssetLink(CreativeAssetLink):
    """The public URL Delta gives a file once it is ``PROCESSED`` (the contract documents it)."""

    name: ClassVar[str] = "Delta Projects file"
    key: ClassVar[str] = "delta_projects_file_url"


class DeltaProjectsUploadFileOperator(CreativePlatformOperator):
    """Upload a jpg, gif or png file to Delta Projects (``POST .../client/<clientId>/file``).

    The file is checked locally first (jpg, gif or png by extension and magic bytes, no video,
    at most the connection's ``max_file_bytes``); a refusal names the file and the rule and
    sends nothing. The body is streamed as base64 JSON. A POST whose answer was lost is never
    repeated blindly: the hook looks for a file with the same name and SHA-1 first. On an
    Airflow retry of this task (or with ``resume=True``) that lookup also runs before
    uploading, so a retried task finds the file it already made instead of making a second.

    Pushes ``file_id``, ``name`` and ``sha1`` (lower-case hex, for the sensor's checksum
    check) to XCom and returns them as a dict.

    :param file_path: local path or object-storage URI of the file (templated).
    :param name: file name sent to Delta; the file's own name when empty. Its extension follows
        the content's real type (a PNG named ``.jpg`` is sent as ``.png``, with a warning)
        (templated).
    :param resume: look for an earlier upload of the same content before uploading, also on
        the first try (retries always do).
    :param conn_id: Delta Projects connection; ``delta_projects_default`` when omitted (templated).
    """

    hook_class = DeltaProjectsHook
    template_fields: Sequence[str] = ("file_path", "name", "conn_id")
    ui_color = "#e3f1fb"

    def __init__(
        self,
        *,
        file_path: str,
        name: str | None = None,
        resume: bool = False,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.file_path = file_path
        self.name = name
        self.resume = resume

    def execute(self, context: Context) -> dict[str, Any]:
        hook: DeltaProjectsHook = self.hook  # type: ignore[assignment]
        creative = self.inspect_file(self.file_path, sha1=True, key=self.name or None)
        asset = hook.submit(creative, resume=self.should_resume(context))
        result = {
            "file_id": asset.remote_id,
            "name": creative.typed_name,
            "sha1": hook.local_sha1(creative),
            "state": asset.state,
            "raw_state": asset.raw_state,
            "warnings": list(asset.warnings),
        }
        self.log.info("%s is Delta Projects file %s (%s)", creative.typed_name, asset.remote_id, asset.raw_state)
        for key in ("file_id", "name", "sha1"):
            context["ti"].xcom_push(key=key, value=result[key])
        return result
