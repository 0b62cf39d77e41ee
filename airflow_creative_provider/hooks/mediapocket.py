"""MediaPocket (Media Pocket DAM) API v2 hook: assets in a project, media pulled from a URL.

Auth: every call sends ``X-API-KEY`` (the connection's password) and ``Content-Type:
application/json``. The tenant URL is the connection host (``https://<tenant>.mediapocket.fi``)
and every path lives under ``/api/v2``. MediaPocket documents no expiry or refresh for keys,
so a 401 is final and says to check the key.

Media is pulled, not pushed: MediaPocket downloads the file from a URL it can reach. A local
file is first **staged** in S3 through the Amazon provider (``S3Hook`` with the connection's
``aws_conn_id`` and ``staging_bucket`` extras) under ``<staging_prefix>/<external_id>/<file
name>``, then handed over as a SigV4 presigned GET URL valid ``presigned_url_expires`` seconds
(default 12 h, enough for a slow fetch). A source already on ``s3://`` is presigned in place,
never copied; an ``http(s)://`` source is passed as is. When the extra ``tenant_reads_bucket``
is true, the tenant reads the staging bucket itself and the create call uses its S3-key form
(``s3: {s3_key, filename}``) instead of a URL. Once an asset finished processing its staged
object is deleted (extra ``delete_staged``, default true). Presigned URLs are registered as
secrets: they never reach a log line, an exception text or XCom.

Idempotency, by ``external_id`` (unique per tenant across assets and projects):

* the external id is derived from the content's sha256 and the project
  (``creative-sha256-<32 hex>-<project_id>``), so the same file sent again to the same
  project always carries the same id;
* before creating, ``GET /external_ids/:id`` looks the asset up; a found asset is reused
  (a ``placeholder`` one gets its media added, nothing is created);
* a create answered 400 ``External id has already been taken`` is treated as "found" and the
  asset is looked up again;
* the partial-failure 400 ``Asset <id> created, adding media to asset failed: ...`` means the
  asset **was** created: its id is parsed from the message and the media is added again with
  ``POST /assets/<id>/media``, never a second asset; if that fails too, the error names the
  asset id, and a retried task finds the asset by its external id;
* a create whose answer was lost (5xx, dropped connection: ``UncertainOutcome``) is followed
  by the lookup, and created again only when the lookup proves nothing was made.

States (``media_type`` is the only lifecycle signal): ``processing`` is processing;
``placeholder`` (no media yet, media expected) is pending; ``article``, ``image`` and
``video`` are ready; any other value is reported with the raw state ``unknown`` and never as
ready. MediaPocket documents no failure state for a fetch that fails, so an asset still
``processing`` or ``placeholder`` ``processing_timeout`` seconds (default 3600) after its last
change is reported ``failed`` (raw state ``processing_failed``: not a rejection) with its asset
id and the likely cause; submitting that content again (the sync's next run) adds the media to
the same asset with a fresh URL. An asset in the trash bin is reported rejected. The account
is the ``project_id``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import logging
import os
import posixpath
import re
import time
from collections.abc import Iterable, Mapping
from copy import deepcopy
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_creative_provider.content import VERSION_MARK, PlannedContent, parse_location, split_revision
from airflow_creative_provider.creative import SIZE_GUARD_BYTES, SIZE_GUARD_HINT, Creative, PlatformRules
from airflow_creative_provider.exceptions import (
    PlatformAuthError,
    PlatformConfigError,
    PlatformError,
    PlatformRequestError,
)
from airflow_creative_provider.hooks.base import (
    PROCESSING_FAILED,
    ApiCall,
    AssetStatus,
    CreativePlatformHook,
    ListedAsset,
    RemoteAsset,
    Response,
    content_warnings,
)

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

API_PREFIX = "/api/v2"
DEFAULT_STAGING_PREFIX = "mediapocket-staging"
DEFAULT_PRESIGNED_URL_EXPIRES = 12 * 3600
DEFAULT_PROCESSING_TIMEOUT = 3600.0
PARTIAL_FAILURE = re.compile(
    r"Asset\s+(?P<id>[A-Za-z0-9_-]+)\s+created,\s*adding media to asset failed:?\s*(?P<why>.*)"
)
EXTERNAL_ID_TAKEN = "External id has already been taken"
PENDING_MEDIA_TYPES = frozenset({"placeholder"})
PROCESSING_MEDIA_TYPES = frozenset({"processing"})
#: ``media_type`` values that mean the media is there: ``article`` (documented, terminal) and the
#: kinds the contract expects once processing ends (``image``, ``video``; the vendor's final
#: values are unconfirmed, an assumption). Any other value is reported as unknown, never ready.
READY_MEDIA_TYPES = frozenset({"article", "image", "video"})
#: characters a ``filename`` cannot carry, and its length (this project's guard: MediaPocket
#: documents neither); a name outside them is sent cleaned and shortened, never refused.
FILENAME_UNSAFE = re.compile(r"[/\\\x00-\x1f]")
MAX_FILENAME = 255

#: MediaPocket documents no file type, size, dimension or name limits. Ad creatives are
#: images and videos; the file name travels as ``filename`` (255 characters, no slashes).
MEDIAPOCKET_RULES = PlatformRules(
    platform="mediapocket",
    mimetypes=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/quicktime"}),
    type_hint="MediaPocket takes the creatives as images or videos.",
    # MediaPocket documents no file size limit: the project's guard.
    max_bytes=SIZE_GUARD_BYTES,
    own_limits=frozenset({"max_bytes"}),
    guard_hint=SIZE_GUARD_HINT,
)


def safe_filename(name: str) -> str:
    """``name`` without slashes or control characters and at most 255 characters, extension kept."""
    cleaned = FILENAME_UNSAFE.sub("_", name)
    if len(cleaned) <= MAX_FILENAME:
        return cleaned
    stem, ext = os.path.splitext(cleaned)
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{stem[: MAX_FILENAME - len(ext) - 9]}~{digest}{ext}"


class MediaPocketPartialFailure(PlatformRequestError):
    """400 ``Asset <id> created, adding media to asset failed``: the asset exists, without media.

    :param asset_id: the id of the asset that was created.
    """

    def __init__(self, message: str, *, asset_id: str, **kwargs: Any) -> None:
        self.asset_id = asset_id
        super().__init__(message, **kwargs)


class MediaPocketExternalIdTaken(PlatformRequestError):
    """400 ``External id has already been taken``: an asset or project already has the id."""


class MediaPocketNotFound(PlatformRequestError):
    """404: the asset, project or external id does not exist (or was purged from the trash)."""


class _BotocoreSignatureFilter(logging.Filter):
    """botocore's debug lines print the signature of every presigned URL: scrub them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(("Signature:", "StringToSign:", "CanonicalRequest:")):
            record.msg = record.msg.split(":", 1)[0] + ": ***"
            record.args = ()
        return True


_botocore_auth_log = logging.getLogger("botocore.auth")
if not any(isinstance(f, _BotocoreSignatureFilter) for f in _botocore_auth_log.filters):
    _botocore_auth_log.addFilter(_BotocoreSignatureFilter())


def _strip_html(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def parse_timestamp(value: str | None) -> float | None:
    """Epoch seconds of an ISO-8601 timestamp (``2023-11-27T09:43:34.166Z``), None if absent."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _as_bool(value: Any, default: bool) -> bool:
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class MediaPocketHook(CreativePlatformHook):
    """Talks to one MediaPocket tenant (API v2) and stages local files in S3 for it.

    Connection: ``host`` = tenant URL, ``password`` = API key; extras ``project_id``,
    ``aws_conn_id`` + ``staging_bucket`` (S3 staging), optional ``staging_prefix``,
    ``presigned_url_expires`` (seconds), ``tenant_reads_bucket`` (use the S3-key form),
    ``delete_staged`` (default true), ``processing_timeout`` (seconds), ``max_file_bytes``.

    :param conn_id: the Airflow connection; ``mediapocket_default`` when omitted.
    """

    conn_name_attr = "mediapocket_conn_id"
    default_conn_name = "mediapocket_default"
    conn_type = "mediapocket"
    hook_name = "MediaPocket"
    platform = "mediapocket"
    default_host = None
    rules = MEDIAPOCKET_RULES
    supports_archive = True
    auth_hint = "the API key (Password field, sent as X-API-KEY)"

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._cleaned: set[str] = set()

    # ----------------------------------------------------------------- connection
    @cached_property
    def base_url(self) -> str:
        """The tenant URL; a host given with ``/api/v2`` is accepted too."""
        url = CreativePlatformHook.base_url.func(self)  # type: ignore[attr-defined]
        return url.removesuffix(API_PREFIX)

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.require_password(), "Content-Type": "application/json"}

    @property
    def project_id(self) -> str | None:
        """The connection's default project (extra ``project_id``)."""
        value = self.extra_field("project_id")
        return str(value) if value else None

    @property
    def account(self) -> str:
        """The project the assets are created in."""
        return str(self.extra_field("project_id", required=True))

    def _project(self, project_id: str | None) -> str:
        project = project_id or self.project_id
        if not project:
            raise PlatformConfigError(
                f"{self.hook_name}: no project id given and connection {self.conn_id!r} has no extra "
                "'project_id'; set it in the connection form.",
                platform=self.platform,
            )
        return project

    @property
    def effective_rules(self) -> PlatformRules:
        """The rules with the connection's ``max_file_bytes`` (``connection_rules``)."""
        return self.connection_rules

    @staticmethod
    def path(*parts: str) -> str:
        """``/api/v2/<parts>``, each part URL-quoted."""
        return API_PREFIX + "".join("/" + quote(str(p), safe="") for p in parts)

    # ----------------------------------------------------------------- errors
    def vendor_error(self, response: Response) -> tuple[str | None, str | None]:
        code, message = super().vendor_error(response)
        return code, _strip_html(message) if message else None

    def error_for(self, call: ApiCall, response: Response) -> PlatformError:
        ctx = self.error_context(call, response)
        message, status, where, said, common = ctx.message, ctx.status, ctx.where, ctx.said, ctx.common
        if status == 401:
            return PlatformAuthError(
                f"{self.hook_name}: {where} answered 401 Unauthorized. Check the API key (Password field, "
                f"sent as X-API-KEY) of connection {self.conn_id!r}: MediaPocket keys cannot be refreshed, "
                "so create a new key under your profile settings if this one was deleted.",
                **common,
            )
        if status == 400 and message:
            partial = PARTIAL_FAILURE.search(message)
            if partial:
                return MediaPocketPartialFailure(
                    f"{self.hook_name}: {where}: asset {partial['id']} was created but adding its media "
                    f"failed ({partial['why'] or 'no reason given'}).",
                    asset_id=partial["id"],
                    **common,
                )
            if EXTERNAL_ID_TAKEN.lower() in message.lower():
                return MediaPocketExternalIdTaken(
                    f"{self.hook_name}: {where} answered 400{said}. Another asset or project of the "
                    "tenant already uses this external id.",
                    **common,
                )
            if "valid http url" in message.lower():
                return PlatformRequestError(
                    f"{self.hook_name}: {where} answered 400{said}. The media URL must be an absolute "
                    "http(s) URL MediaPocket can download.",
                    **common,
                )
        if status == 404:
            hint = ""
            if message and "project" in message.lower():
                hint = f" Check the project id (extra 'project_id' of connection {self.conn_id!r})."
            return MediaPocketNotFound(f"{self.hook_name}: {where} answered 404{said}.{hint}", **common)
        if status == 422:
            return PlatformRequestError(
                f"{self.hook_name}: {where} answered 422{said}. Fix the request parameters.", **common
            )
        return super().error_for(call, response)

    # ----------------------------------------------------------------- assets
    @staticmethod
    def _asset(body: Any) -> dict[str, Any]:
        if isinstance(body, Mapping) and isinstance(body.get("asset"), Mapping):
            return dict(body["asset"])
        return dict(body or {})

    @staticmethod
    def _asset_fields(
        title: str,
        external_id: str | None,
        description: str | None,
        category: str | None,
        tags: Iterable[str] | None,
        media_type: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title}
        if description is not None:
            body["description"] = description
        if category is not None:
            body["category"] = category
        if tags is not None:
            body["tags"] = [str(t) for t in tags]
        if external_id is not None:
            body["external_id"] = external_id
        if media_type is not None:
            body["media_type"] = media_type
        return body

    def create_asset(
        self,
        title: str,
        *,
        project_id: str | None = None,
        external_id: str | None = None,
        description: str | None = None,
        category: str | None = None,
        tags: Iterable[str] | None = None,
        file_url: str | None = None,
        s3_key: str | None = None,
        filename: str | None = None,
        media_type: str | None = None,
    ) -> dict[str, Any]:
        """``POST /projects/:project_id/assets``: create an asset, with media from a URL or S3 key.

        Raises ``MediaPocketPartialFailure`` (with ``asset_id``) when the asset was created but
        its media could not be added, ``MediaPocketExternalIdTaken`` for a used external id.
        """
        body = self._asset_fields(title, external_id, description, category, tags, media_type)
        if file_url is not None:
            body["url"] = {"file_url": file_url, "filename": filename or posixpath.basename(file_url.split("?")[0])}
        elif s3_key is not None:
            body["s3"] = {"s3_key": s3_key, "filename": filename or posixpath.basename(s3_key)}
        project = self._project(project_id)
        asset = self._asset(self.request_json("POST", self.path("projects", project, "assets"), json=body))
        self.log.info(
            "%s: created asset %s in project %s (media_type %s)", self.hook_name, asset.get("id"), project,
            asset.get("media_type"),
        )  # fmt: skip
        return asset

    def create_asset_without_project(
        self,
        title: str,
        *,
        external_id: str | None = None,
        description: str | None = None,
        category: str | None = None,
        tags: Iterable[str] | None = None,
        media_type: str | None = None,
    ) -> dict[str, Any]:
        """``POST /assets``: create an asset outside any project (no media; add it afterwards)."""
        body = self._asset_fields(title, external_id, description, category, tags, media_type)
        asset = self._asset(self.request_json("POST", self.path("assets"), json=body))
        self.log.info("%s: created asset %s outside any project", self.hook_name, asset.get("id"))
        return asset

    def add_media(self, asset_id: str, file_url: str, filename: str) -> None:
        """``POST /assets/:asset_id/media``: MediaPocket downloads ``file_url`` into the asset."""
        self.request("POST", self.path("assets", asset_id, "media"), json={"file_url": file_url, "filename": filename})
        self.log.info("%s: media %s added to asset %s", self.hook_name, filename, asset_id)

    def get_asset(self, asset_id: str) -> dict[str, Any]:
        """``GET /assets/:asset_id``."""
        return self._asset(self.request_json("GET", self.path("assets", asset_id)))

    def get_media(self, asset_id: str) -> Any:
        """``GET /assets/:asset_id/media``: the asset's media with download/preview URLs."""
        return self.request_json("GET", self.path("assets", asset_id, "media"))

    def get_file_metadata(self, asset_id: str) -> Any:
        """``GET /assets/:asset_id/file_metadata``: EXIF/IPTC/XMP and mediainfo of the original."""
        return self.request_json("GET", self.path("assets", asset_id, "file_metadata"))

    def get_history(self, asset_id: str) -> list[dict[str, Any]]:
        """``GET /assets/:asset_id/history/:cursor``, followed from cursor 0 to the end."""
        events: list[dict[str, Any]] = []
        cursor: Any = 0
        seen: set[str] = set()
        while cursor is not None and str(cursor) not in seen:
            seen.add(str(cursor))
            body = self.request_json("GET", self.path("assets", asset_id, "history", str(cursor))) or {}
            history = body.get("history") or {}
            events.extend(history.get("results") or [])
            cursor = history.get("next_cursor")
            if cursor in ("", 0, "0"):
                cursor = None
        return events

    def update_asset(self, asset_id: str, **fields: Any) -> dict[str, Any]:
        """``PUT /assets/:asset_id``: update metadata (title, description, category, tags, ...)."""
        return self._asset(self.request_json("PUT", self.path("assets", asset_id), json=fields))

    def trash_asset(self, asset_id: str) -> None:
        """``POST /assets/:asset_id/trash_bin``: to the trash bin (purged after 14 days)."""
        self.request("POST", self.path("assets", asset_id, "trash_bin"), idempotent=True)
        self.log.info("%s: asset %s moved to the trash bin", self.hook_name, asset_id)

    def restore_asset(self, asset_id: str) -> None:
        """``POST /assets/:asset_id/restore``: back from the trash bin."""
        self.request("POST", self.path("assets", asset_id, "restore"), idempotent=True)
        self.log.info("%s: asset %s restored", self.hook_name, asset_id)

    def archive(self, remote_id: str) -> None:
        """Archiving in MediaPocket is the trash bin (restorable for 14 days)."""
        self.trash_asset(remote_id)

    def get_project(self, project_id: str | None = None) -> dict[str, Any]:
        """``GET /projects/:project_id`` (the connection's project by default)."""
        body = self.request_json("GET", self.path("projects", self._project(project_id)))
        return dict(body.get("project", body)) if isinstance(body, Mapping) else {}

    def lookup_external_id(self, external_id: str) -> dict[str, Any] | None:
        """``GET /external_ids/:external_id`` -> ``{external_id, id, type}``, None when unknown."""
        try:
            return dict(self.request_json("GET", self.path("external_ids", external_id)))
        except MediaPocketNotFound:
            return None

    def list_external_ids(self) -> list[dict[str, Any]]:
        """``GET /external_ids``: every asset and project of the tenant that has an external id."""
        body = self.request_json("GET", self.path("external_ids"))
        if isinstance(body, Mapping):
            body = body.get("external_ids", [])
        return list(body or [])

    def find_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """The asset carrying ``external_id``, or None; a project with that id is an error."""
        found = self.lookup_external_id(external_id)
        if found is None:
            return None
        if found.get("type", "asset") != "asset":
            raise PlatformRequestError(
                f"{self.hook_name}: external id {external_id!r} belongs to a {found.get('type')} "
                f"({found.get('id')}), not an asset; choose another external id.",
                platform=self.platform,
            )
        try:
            return self.get_asset(str(found["id"]))
        except MediaPocketNotFound:
            return None

    # ----------------------------------------------------------------- S3 staging
    @cached_property
    def s3_hook(self) -> S3Hook:
        """The Amazon provider's ``S3Hook`` for the connection's ``aws_conn_id``.

        Its client signs with SigV4 unless the AWS connection chose a signature version:
        botocore otherwise presigns SigV2 URLs, which recent regions and strict endpoints refuse.
        """
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        aws_conn_id = self.extra_field("aws_conn_id", default="aws_default")
        config = deepcopy(S3Hook(aws_conn_id=aws_conn_id).config)
        if not config.signature_version:
            config = config.merge(Config(signature_version="s3v4"))
        return S3Hook(aws_conn_id=aws_conn_id, config=config)

    def _s3_hook_for(self, conn_id: str | None) -> S3Hook:
        """The S3 hook of a source's own connection (SigV4), or the connection's ``aws_conn_id`` one."""
        if not conn_id or conn_id == self.extra_field("aws_conn_id", default="aws_default"):
            return self.s3_hook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        config = deepcopy(S3Hook(aws_conn_id=conn_id).config)
        if not config.signature_version:
            config = config.merge(Config(signature_version="s3v4"))
        return S3Hook(aws_conn_id=conn_id, config=config)

    @property
    def staging_bucket(self) -> str:
        return str(self.extra_field("staging_bucket", required=True))

    @property
    def staging_prefix(self) -> str:
        return str(self.extra_field("staging_prefix", default=DEFAULT_STAGING_PREFIX)).strip("/")

    @property
    def presigned_url_expires(self) -> int:
        return int(self.extra_field("presigned_url_expires", default=DEFAULT_PRESIGNED_URL_EXPIRES))

    @property
    def tenant_reads_bucket(self) -> bool:
        return _as_bool(self.extra_field("tenant_reads_bucket"), False)

    @property
    def delete_staged(self) -> bool:
        return _as_bool(self.extra_field("delete_staged"), True)

    @property
    def processing_timeout(self) -> float:
        return float(self.extra_field("processing_timeout", default=DEFAULT_PROCESSING_TIMEOUT))

    def staging_key(self, external_id: str, filename: str) -> str:
        """Where a local file is staged: ``<staging_prefix>/<external_id>/<filename>``."""
        return f"{self.staging_prefix}/{external_id}/{filename}"

    def stage_file(self, source: str | Creative, *, external_id: str, filename: str | None = None) -> str:
        """Put ``source`` where MediaPocket can fetch it; return an ``s3://`` or ``http(s)://`` URI.

        A local file is uploaded (streamed, multipart) to the staging bucket; a ``Creative``
        is staged from its planned bytes, verified while they are copied (``ContentChanged``
        and nothing staged when the file changed since the plan). An ``s3://[conn_id@]bucket/key``
        source stays where it is (presigned with its own connection); an ``http(s)://``
        source is returned unchanged.
        """
        creative = source if isinstance(source, Creative) else None
        source = creative.path if creative is not None else str(source)
        if source.startswith(("s3://", "http://", "https://")):
            version_id = split_revision(creative.revision)[1] if creative is not None else None
            # the version the plan read (versioned buckets), not whatever was written since
            return f"{source}{VERSION_MARK}{version_id}" if version_id and source.startswith("s3://") else source
        if "://" in source and not source.startswith("file://"):
            raise PlatformConfigError(
                f"{self.hook_name}: cannot stage {source!r}: use a local path, an s3:// URI or an http(s) URL.",
                platform=self.platform,
            )
        local = source.removeprefix("file://")
        filename = filename or os.path.basename(local)
        bucket, key = self.staging_bucket, self.staging_key(external_id, filename)
        if creative is not None:
            with PlannedContent(creative) as planned:
                self.s3_hook.load_file_obj(planned, key, bucket_name=bucket, replace=True)
        else:
            self.s3_hook.load_file(local, key, bucket_name=bucket, replace=True)
        self.log.info("%s: staged %s as s3://%s/%s", self.hook_name, filename, bucket, key)
        return f"s3://{bucket}/{key}"

    def presign(self, s3_uri: str) -> str:
        """A SigV4 presigned GET URL for ``s3_uri``, valid ``presigned_url_expires`` seconds.

        ``s3://conn_id@bucket/key`` (a source named with its connection) is signed with that
        connection; ``s3://bucket/key`` with the connection's ``aws_conn_id``.
        The URL is a secret: registered with the masker and never logged or returned to XCom.
        """
        location = parse_location(s3_uri)
        bucket, key = location.bucket, location.key
        s3_hook = self._s3_hook_for(location.conn_id)
        params = {"Bucket": bucket, "Key": key}
        if location.version_id:
            params["VersionId"] = location.version_id
        expires = self.presigned_url_expires
        url = s3_hook.get_conn().generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        self.register_secret(url, ephemeral=True)
        self.register_secret(url.partition("?")[2], ephemeral=True)
        return url

    def media_reference(self, source: str, filename: str) -> dict[str, Any]:
        """The media part of a create call for a staged ``source``: ``file_url`` or ``s3_key``."""
        if source.startswith("s3://"):
            location = parse_location(source)
            bucket, key = location.bucket, location.key
            if self.tenant_reads_bucket and bucket == self.extra_field("staging_bucket"):
                return {"s3_key": key, "filename": filename}
            return {"file_url": self.presign(source), "filename": filename}
        if source.startswith(("http://", "https://")):
            return {"file_url": source, "filename": filename}
        raise PlatformConfigError(
            f"{self.hook_name}: {source!r} is not staged; stage local files first (stage_file).",
            platform=self.platform,
        )

    def fetch_url(self, source: str) -> str:
        """An http(s) URL MediaPocket can download ``source`` from (``add_media`` takes only URLs)."""
        return self.presign(source) if source.startswith("s3://") else source

    def cleanup_staged(self, statuses: Mapping[str, AssetStatus]) -> list[str]:
        """Delete the staged objects of finished assets (extra ``delete_staged``); returns the keys."""
        if not self.delete_staged or not self.extra_field("staging_bucket"):
            return []
        keys = []
        for remote_id, status in statuses.items():
            details = status.details or {}
            if status.state != AssetStatus.READY or remote_id in self._cleaned:
                continue
            if not details.get("external_id") or not details.get("original_filename"):
                continue
            keys.append(self.staging_key(str(details["external_id"]), str(details["original_filename"])))
            self._cleaned.add(remote_id)
        if keys:
            try:
                self.s3_hook.delete_objects(self.staging_bucket, keys)
            except Exception as exc:  # noqa: BLE001 - cleanup never fails a poll
                self.log.warning("%s: could not delete staged objects (%s)", self.hook_name, type(exc).__name__)
                return []
            self.log.info("%s: deleted %d staged object(s) of finished assets", self.hook_name, len(keys))
        return keys

    # ----------------------------------------------------------------- idempotent create
    def external_id_for(self, creative: Creative, project_id: str | None = None) -> str:
        """Stable external id of a content in a project: ``creative-sha256-<32 hex>-<project>``."""
        digest = creative.sha256
        if not digest:
            sha256 = hashlib.sha256()
            with creative.open() as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha256.update(block)
            digest = sha256.hexdigest()
        return f"creative-sha256-{digest[:32]}-{project_id or self.project_id or 'noproject'}"

    def create_asset_with_media(
        self,
        *,
        title: str,
        source: str,
        filename: str,
        external_id: str,
        project_id: str | None = None,
        description: str | None = None,
        category: str | None = None,
        tags: Iterable[str] | None = None,
        existing: dict[str, Any] | None = None,
        looked_up: bool = False,
    ) -> dict[str, Any]:
        """Create the asset for a staged ``source`` exactly once, idempotent by ``external_id``.

        Looks the external id up first (unless ``looked_up``; ``existing`` is then the result);
        reuses a found asset (adding media to a ``placeholder``); treats "External id has
        already been taken" as found; recovers the partial-failure 400 by adding the media to
        the asset it names; after a lost answer, looks up before creating again.
        """
        asset = existing if looked_up else self.find_by_external_id(external_id)
        if asset is not None:
            return self._continue_existing(asset, source, filename, external_id)
        media = self.media_reference(source, filename)

        def create() -> dict[str, Any]:
            try:
                return self.create_asset(
                    title,
                    project_id=project_id,
                    external_id=external_id,
                    description=description,
                    category=category,
                    tags=tags,
                    **media,
                )
            except MediaPocketExternalIdTaken:
                self.log.info("%s: external id %s already taken; looking the asset up", self.hook_name, external_id)
                taken = self.find_by_external_id(external_id)
                if taken is None:
                    raise
                return self._continue_existing(taken, source, filename, external_id)
            except MediaPocketPartialFailure as exc:
                self.log.warning(
                    "%s: asset %s was created but its media was not added (%s); adding the media again",
                    self.hook_name,
                    exc.asset_id,
                    exc.vendor_message,
                )
                return self._add_media_to(exc.asset_id, source, filename, external_id)

        def find() -> dict[str, Any] | None:
            found = self.find_by_external_id(external_id)
            return None if found is None else self._continue_existing(found, source, filename, external_id)

        return self.create_or_find(create, find, what=f"the asset with external id {external_id}", attempts=2)

    def _continue_existing(self, asset: dict[str, Any], source: str, filename: str, external_id: str) -> dict[str, Any]:
        if asset.get("media_type") in PENDING_MEDIA_TYPES:
            self.log.info(
                "%s: asset %s (external id %s) exists without media; adding it",
                self.hook_name,
                asset["id"],
                external_id,
            )
            return self._add_media_to(str(asset["id"]), source, filename, external_id)
        self.log.info(
            "%s: asset %s already exists for external id %s (media_type %s); not creating another",
            self.hook_name,
            asset.get("id"),
            external_id,
            asset.get("media_type"),
        )
        return asset

    def _add_media_to(self, asset_id: str, source: str, filename: str, external_id: str) -> dict[str, Any]:

        def media_added() -> dict[str, Any] | None:
            asset = self.get_asset(asset_id)
            return None if asset.get("media_type") in PENDING_MEDIA_TYPES else asset

        try:
            self.create_or_find(
                lambda: self.add_media(asset_id, self.fetch_url(source), filename),
                media_added,
                what=f"the media of asset {asset_id}",
                attempts=2,
            )
        except PlatformRequestError as exc:
            raise PlatformRequestError(
                f"{self.hook_name}: asset {asset_id} (external id {external_id}) exists without media and adding "
                f"{filename} failed: {exc.vendor_message or exc}. A retry finds the asset by its external id "
                "and adds the media again.",
                platform=self.platform,
                status=exc.status,
                vendor_message=exc.vendor_message,
                method=exc.method,
                path=exc.path,
            ) from None
        return self.get_asset(asset_id)

    # ----------------------------------------------------------------- platform surface
    def _remote(self, asset: Mapping[str, Any]) -> RemoteAsset:
        status = self.status_of(asset)
        return RemoteAsset(
            remote_id=str(asset["id"]),
            state=status.state,
            raw_state=status.raw_state,
            url=self.asset_url(str(asset["id"])),
            details={**status.details, **({"reason": status.reason} if status.reason else {})},
        )

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        """The asset of this content in the connection's project, found by its external id."""
        asset = self.find_by_external_id(self.external_id_for(creative))
        return self._remote(asset) if asset else None

    @content_warnings
    def submit(
        self,
        creative: Creative,
        *,
        resume: bool = False,
        previous_id: str | None = None,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> RemoteAsset:
        """Check, look up, stage (S3) and create one creative; idempotent by external id.

        MediaPocket has no versions: ``previous_id`` is ignored (a changed file is new content
        with a new external id). The lookup always runs, so ``resume`` changes nothing.

        :param title: the asset's title; the file name by default.
        :param description: the asset's description.
        :param category: the asset's category (MediaPocket stores it lower-cased).
        :param tags: the asset's tags.
        """
        self.check_creative(creative)
        external_id = self.external_id_for(creative)
        existing = self.find_by_external_id(external_id)
        stalled = existing is not None and self.status_of(existing).state == AssetStatus.FAILED
        if existing is not None and existing.get("media_type") not in PENDING_MEDIA_TYPES and not stalled:
            self.log.info("%s: %s is already asset %s", self.hook_name, creative.key, existing.get("id"))
            return self._remote(existing)
        filename = safe_filename(creative.upload_name)
        source = self.stage_file(creative, external_id=external_id, filename=filename)
        if stalled:
            assert existing is not None
            self.log.warning(
                "%s: asset %s (%s) never finished processing; adding its media again with a fresh URL",
                self.hook_name,
                existing.get("id"),
                creative.key,
            )
            return self._remote(self._add_media_to(str(existing["id"]), source, filename, external_id))
        asset = self.create_asset_with_media(
            title=title or creative.name,
            source=source,
            filename=filename,
            external_id=external_id,
            description=description,
            category=category,
            tags=tags,
            existing=existing,
            looked_up=True,
        )
        return self._remote(asset)

    def status_of(self, asset: Mapping[str, Any], now: float | None = None) -> AssetStatus:
        """Normalise one asset object (``media_type`` is the lifecycle signal)."""
        remote_id = str(asset.get("id"))
        media_type = asset.get("media_type")
        details = {
            k: asset.get(k)
            for k in ("external_id", "project_id", "original_filename", "md5_sum", "media_type", "deleted")
        }
        if asset.get("deleted"):
            return AssetStatus(
                remote_id,
                AssetStatus.REJECTED,
                media_type,
                f"asset {remote_id} is in the trash bin since {asset['deleted']}; restore it within 14 days",
                details=details,
            )
        if media_type in PROCESSING_MEDIA_TYPES or media_type in PENDING_MEDIA_TYPES:
            changed = parse_timestamp(asset.get("modification_date")) or parse_timestamp(asset.get("created_date"))
            age = (now if now is not None else time.time()) - changed if changed else 0.0
            if age > self.processing_timeout:
                what = "still processing" if media_type in PROCESSING_MEDIA_TYPES else "still without media"
                return AssetStatus(
                    remote_id,
                    AssetStatus.FAILED,
                    PROCESSING_FAILED,
                    f"asset {remote_id} is {what} {age:.0f} s after its last change (timeout "
                    f"{self.processing_timeout:.0f} s, a guard of this project: MediaPocket documents no failure "
                    "state; extra processing_timeout): MediaPocket probably could not fetch the media "
                    "URL (unreachable or expired); the next sync adds the media again with a fresh URL",
                    details=details,
                )
            state = AssetStatus.PROCESSING if media_type in PROCESSING_MEDIA_TYPES else AssetStatus.PENDING
            return AssetStatus(remote_id, state, media_type, details=details)
        if media_type not in READY_MEDIA_TYPES:
            return AssetStatus(
                remote_id,
                AssetStatus.PROCESSING,
                "unknown",
                f"MediaPocket reports media_type {media_type!r} for asset {remote_id}, a value no document "
                f"describes: reported as unknown, not ready (documented: placeholder, processing, "
                f"{', '.join(sorted(READY_MEDIA_TYPES))})",
                details=details,
            )
        return AssetStatus(remote_id, AssetStatus.READY, media_type, details=details)

    def list_account_assets(self) -> list[ListedAsset]:
        """The project's assets that carry our external id (``GET /external_ids``, then ``GET
        /assets/:id`` each for its state; staged objects are left alone: this only reads).

        The mark is the id's 32 hex characters of the content's sha256 (``external_id_for``).
        MediaPocket lists no assets without an external id here; ours always have one.
        """
        prefix, suffix = "creative-sha256-", f"-{self.project_id or 'noproject'}"
        entries = [
            entry
            for entry in self.list_external_ids()
            if entry.get("type", "asset") == "asset"
            and str(entry.get("external_id") or "").startswith(prefix)
            and str(entry.get("external_id") or "").endswith(suffix)
        ]
        ids = [str(entry.get("id")) for entry in entries]
        # the same GET /assets/:id a poll sends, read for the metadata too (no staged cleanup: read-only)
        responses = [self.send(call) for call in self.status_calls(ids)]
        statuses = self.parse_status(ids, responses) if ids else {}
        assets = {i: self._asset(r.json()) for i, r in zip(ids, responses, strict=True)}
        return [
            ListedAsset(
                remote_id=remote_id,
                status=statuses[remote_id],
                content_mark=str(entry["external_id"])[len(prefix) : len(prefix) + 32],
                name=assets[remote_id].get("title"),
                metadata={k: assets[remote_id].get(k) for k in ("title", "description", "category", "tags")},
            )
            for entry, remote_id in zip(entries, ids, strict=True)
        ]

    def status_calls(self, remote_ids: list[str]) -> list[ApiCall]:
        return [self.call("GET", self.path("assets", i)) for i in remote_ids]

    def parse_status(self, remote_ids: list[str], responses: list[Response]) -> dict[str, AssetStatus]:
        return {i: self.status_of(self._asset(r.json())) for i, r in zip(remote_ids, responses, strict=True)}

    def get_status(self, remote_ids: Iterable[str]) -> dict[str, AssetStatus]:
        """One poll; staged objects of assets that finished are deleted (``delete_staged``)."""
        statuses = super().get_status(remote_ids)
        self.cleanup_staged(statuses)
        return statuses

    async def aget_status(self, remote_ids: Iterable[str]) -> dict[str, AssetStatus]:
        """The async poll (triggers); staged objects of finished assets are deleted in a thread."""
        statuses = await super().aget_status(remote_ids)
        if any(s.state == AssetStatus.READY for s in statuses.values()):
            await asyncio.to_thread(self.cleanup_staged, statuses)
        return statuses

    def check_connection(self) -> str:
        if self.project_id:
            project = self.get_project()
            return f"MediaPocket project {project.get('title')!r} ({project.get('id')}) is reachable"
        return f"MediaPocket tenant reachable; {len(self.list_external_ids())} external ids"
