"""MediaPocket step operators: stage a file in S3, create the asset, add media.

MediaPocket pulls media from a URL. ``MediaPocketStageFileOperator`` puts a local file in the
connection's S3 staging bucket and returns its ``s3://`` URI (never a presigned URL: those are
secrets and short-lived). ``MediaPocketCreateAssetOperator`` and
``MediaPocketAddMediaOperator`` presign that URI at run time and hand it to MediaPocket in the
same task. The create is idempotent by ``external_id`` (see the hook's docstring). The contract
documents no URL for an asset in MediaPocket's UI, so these operators have no extra link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_creative_provider.hooks.mediapocket import MediaPocketHook
from airflow_creative_provider.operators.base import CreativePlatformOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


def _tags(value: list[str] | str | None) -> list[str] | None:
    """Tags from a list or from a rendered template (``a,b``)."""
    if not value:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return [str(t).strip() for t in items if str(t).strip()] or None


class MediaPocketStageFileOperator(CreativePlatformOperator):
    """Stage a creative in S3 where MediaPocket can fetch it (``S3Hook``, ``aws_conn_id`` + ``staging_bucket``).

    The file is checked against MediaPocket's local rules first (nothing is uploaded when it is
    refused), then streamed to ``s3://<staging_bucket>/<staging_prefix>/<external_id>/<file name>``.
    A source already on ``s3://`` is used in place, without a copy. The external id is derived
    from the content's sha256 and the project, so a retried run stages and creates the same asset.

    Returns (XCom) ``{"source", "filename", "external_id", "sha256", "size", "mimetype"}``:
    no presigned URL, no secret.

    :param file_path: local path or ``s3://`` URI of the creative (templated).
    :param filename: file name MediaPocket shows; the file's own name when omitted (templated).
    :param project_id: project the asset will live in (part of the external id); the
        connection's ``project_id`` when omitted (templated).
    :param conn_id: MediaPocket connection; ``mediapocket_default`` when omitted.
    """

    hook_class = MediaPocketHook
    template_fields: Sequence[str] = ("conn_id", "file_path", "filename", "project_id")

    def __init__(
        self, *, file_path: str, filename: str | None = None, project_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.filename = filename
        self.project_id = project_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook: MediaPocketHook = self.hook  # type: ignore[assignment]
        creative = self.inspect_file(self.file_path)
        filename = self.filename or creative.name
        external_id = hook.external_id_for(creative, self.project_id)
        source = hook.stage_file(creative.path, external_id=external_id, filename=filename)
        self.log.info("Staged %s (%d bytes) for external id %s", filename, creative.size, external_id)
        return {
            "source": source,
            "filename": filename,
            "external_id": external_id,
            "sha256": creative.sha256,
            "size": creative.size,
            "mimetype": creative.mimetype,
        }


class MediaPocketCreateAssetOperator(CreativePlatformOperator):
    """Create a MediaPocket asset in a project with its media, exactly once per ``external_id``.

    ``POST /api/v2/projects/:project_id/assets`` with the media as a presigned GET URL of the
    staged ``s3://`` source (made in this task, never stored), as an ``http(s)`` URL given as
    is, or in the S3-key form when the connection's ``tenant_reads_bucket`` is true. Before
    creating, the external id is looked up: a found asset is reused (a ``placeholder`` gets its
    media), "External id has already been taken" counts as found, and the partial-failure 400
    ("Asset X created, adding media to asset failed") adds the media to asset X: a retried task
    never makes a second asset.

    Returns (XCom) ``{"asset_id", "external_id", "media_type", "project_id"}``.

    :param source: ``s3://`` URI (usually the stage task's ``source``) or an ``http(s)`` URL
        MediaPocket can download (templated).
    :param filename: file name of the media (templated).
    :param external_id: the idempotency key (usually the stage task's ``external_id``) (templated).
    :param title: asset title; the file name when omitted (templated).
    :param description: asset description (templated).
    :param category: asset category; MediaPocket stores it lower-cased (templated).
    :param tags: asset tags: a list, or one string of comma-separated tags (templated).
    :param project_id: the project; the connection's ``project_id`` when omitted (templated).
    :param conn_id: MediaPocket connection; ``mediapocket_default`` when omitted.
    """

    hook_class = MediaPocketHook
    template_fields: Sequence[str] = (
        "conn_id",
        "source",
        "filename",
        "external_id",
        "title",
        "description",
        "category",
        "tags",
        "project_id",
    )

    def __init__(
        self,
        *,
        source: str,
        filename: str,
        external_id: str,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        tags: list[str] | str | None = None,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.filename = filename
        self.external_id = external_id
        self.title = title
        self.description = description
        self.category = category
        self.tags = tags
        self.project_id = project_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook: MediaPocketHook = self.hook  # type: ignore[assignment]
        asset = hook.create_asset_with_media(
            title=self.title or self.filename,
            source=self.source,
            filename=self.filename,
            external_id=self.external_id,
            project_id=self.project_id or None,
            description=self.description or None,
            category=self.category or None,
            tags=_tags(self.tags),
        )
        self.log.info("MediaPocket asset %s: media_type %s", asset.get("id"), asset.get("media_type"))
        return {
            "asset_id": asset.get("id"),
            "external_id": asset.get("external_id"),
            "media_type": asset.get("media_type"),
            "project_id": asset.get("project_id"),
        }


class MediaPocketAddMediaOperator(CreativePlatformOperator):
    """Add media to an existing MediaPocket asset (``POST /api/v2/assets/:asset_id/media``).

    The ``s3://`` source is presigned in this task (the URL never reaches XCom); an ``http(s)``
    URL is given as is. MediaPocket then downloads it: wait with ``MediaPocketAssetSensor``.

    Returns (XCom) ``{"asset_id", "media_type"}``.

    :param asset_id: the asset (templated).
    :param source: ``s3://`` URI or ``http(s)`` URL of the media (templated).
    :param filename: file name of the media (templated).
    :param conn_id: MediaPocket connection; ``mediapocket_default`` when omitted.
    """

    hook_class = MediaPocketHook
    template_fields: Sequence[str] = ("conn_id", "asset_id", "source", "filename")

    def __init__(self, *, asset_id: str, source: str, filename: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asset_id = asset_id
        self.source = source
        self.filename = filename

    def execute(self, context: Context) -> dict[str, Any]:
        hook: MediaPocketHook = self.hook  # type: ignore[assignment]
        hook.add_media(str(self.asset_id), hook.fetch_url(self.source), self.filename)
        asset = hook.get_asset(str(self.asset_id))
        return {"asset_id": asset.get("id"), "media_type": asset.get("media_type")}
