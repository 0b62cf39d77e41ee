"""Amazon Ads Creative Asset Library step operators: upload (location + PUT), then register.

The presigned upload URL carries a signature and an STS token, so asking for it and using it
happen in one task (``AmazonAdsUploadAssetOperator``); only the upload *location* (the URL
without its query string) reaches XCom, and ``AmazonAdsRegisterAssetOperator`` registers that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_creative_provider.exceptions import PlatformConfigError
from airflow_creative_provider.hooks.amazon_ads import (
    AmazonAdsHook,
    asset_type_for,
    content_tag,
    spec_warnings,
    upload_location,
)
from airflow_creative_provider.operators.base import CreativePlatformOperator

if TYPE_CHECKING:
    from airflow.sdk import XComArg


def _as_list(value: Sequence[str] | str | None) -> list[str]:
    """A list from a list, a rendered JSON array (``{{ params.tags | tojson }}``) or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [part.strip() for part in text.split(",") if part.strip()]
    return [str(v) for v in value]


class AmazonAdsUploadAssetOperator(CreativePlatformOperator):
    """Check a file against a rule set, request an upload location and PUT the file there.

    Both steps run in this one task because the presigned URL (signature + STS token, valid
    15 minutes) is a secret: it never reaches XCom. An expired URL is replaced once. Returns
    (XCom) ``upload_location`` (the URL without its query string, for
    ``AmazonAdsRegisterAssetOperator``), ``file_name``, ``asset_type``, ``content_sha256``,
    ``size`` and ``mimetype``. Nothing is sent when a local rule refuses the file.

    :param file_path: local path or object-storage URI of the file (templated).
    :param rule_set: rules the file must pass: a key of ``AMAZON_ADS_RULE_SETS``, e.g.
        ``asset_library`` (default), ``sponsored_brands_logo``, ``sponsored_brands_video`` (templated).
    :param file_name: name to request the upload under; by default ``<stem>_<sha256 prefix>.<ext>``,
        which makes a changed file a new version rather than the current one (templated).
    :param conn_id: Airflow connection of type ``amazon_ads``; ``amazon_ads_default`` when omitted.
    """

    hook_class = AmazonAdsHook
    template_fields: Sequence[str] = ("file_path", "rule_set", "file_name", "conn_id")
    ui_color = "#ff9900"

    def __init__(
        self, *, file_path: str, rule_set: str = "asset_library", file_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.rule_set = rule_set
        self.file_name = file_name

    @cached_property
    def hook(self) -> AmazonAdsHook:
        return AmazonAdsHook(self.conn_id, rule_set=self.rule_set)

    def execute(self, context: Any) -> dict[str, Any]:
        creative = self.inspect_file(self.file_path)
        file_name = self.file_name or self.hook.upload_file_name(creative)
        url = self.hook.upload_creative(creative, file_name)
        location = upload_location(url)
        self.log.info("Uploaded %s (%d bytes) to the asset library as %s", creative.key, creative.size, file_name)
        return {
            "upload_location": location,
            "file_name": file_name,
            "source_name": creative.name,
            "asset_type": asset_type_for(creative.mimetype),
            "content_sha256": creative.sha256,
            "size": creative.size,
            "mimetype": creative.mimetype,
        }


class AmazonAdsRegisterAssetOperator(CreativePlatformOperator):
    """Register an uploaded file in the Creative Asset Library (``POST /assets/register``).

    Registering is not idempotent on Amazon's side, so the asset is tagged with
    ``sha256:<content>``: a retried task (or an answer lost in transit) first searches for that
    tag and returns what it finds instead of registering twice. Failed spec checks (HTTP 200 is
    not "eligible") are logged as warnings and returned. Returns (XCom) ``asset_id``,
    ``version_id``, ``remote_id`` (``assetId:version_vN``, for ``AmazonAdsAssetSensor``) and
    ``warnings``.

    :param upload: the XCom of ``AmazonAdsUploadAssetOperator`` (``upload_location``,
        ``asset_type``, ``content_sha256``, ``source_name``); the arguments below override it (templated).
    :param upload_location: the upload location (or URL) to register (templated).
    :param name: asset name; defaults to the uploaded file's name (templated).
    :param asset_type: ``IMAGE`` or ``VIDEO``; defaults to the upload's (templated).
    :param subtypes: ``assetSubTypeList`` (1–10), e.g. ``["LOGO"]`` (or a JSON array / comma-separated
        string); defaults to ``OTHER_IMAGE`` / ``BACKGROUND_VIDEO`` (templated).
    :param tags: tags for search and categorisation, like ``subtypes`` (templated).
    :param asins: ASINs to associate, like ``subtypes`` (templated).
    :param linked_asset_id: register a new version of this asset (``versionInfo.linkedAssetId``) (templated).
    :param version_notes: notes of the new version, at most 1000 characters (templated).
    :param brand_entity_id: sellers' brand entity; defaults to the connection's ``brand_entity_id`` (templated).
    :param content_sha256: sha256 of the content for the idempotency tag; defaults to the upload's (templated).
    :param skip_subtype_detection: keep the given sub types (``skipAssetSubTypesDetection``).
    :param registration_context: ``registrationContext``, required for DSP assets, e.g.
        ``{"associatedPrograms": [{"programName": "AMAZON_DSP", "metadata": {"dspAdvertiserId": "..."}}]}``;
        the connection extra ``registration_context`` when omitted (templated).
    :param conn_id: Airflow connection of type ``amazon_ads``; ``amazon_ads_default`` when omitted.
    """

    hook_class = AmazonAdsHook
    template_fields: Sequence[str] = (
        "upload",
        "registration_context",
        "upload_location",
        "name",
        "asset_type",
        "subtypes",
        "tags",
        "asins",
        "linked_asset_id",
        "version_notes",
        "brand_entity_id",
        "content_sha256",
        "conn_id",
    )
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        upload: Mapping[str, Any] | XComArg | None = None,
        upload_location: str | None = None,
        name: str | None = None,
        asset_type: str | None = None,
        subtypes: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        asins: Sequence[str] | None = None,
        linked_asset_id: str | None = None,
        version_notes: str | None = None,
        brand_entity_id: str | None = None,
        content_sha256: str | None = None,
        skip_subtype_detection: bool | None = None,
        registration_context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.upload = upload
        self.registration_context = registration_context
        self.upload_location = upload_location
        self.name = name
        self.asset_type = asset_type
        self.subtypes = subtypes
        self.tags = tags
        self.asins = asins
        self.linked_asset_id = linked_asset_id
        self.version_notes = version_notes
        self.brand_entity_id = brand_entity_id
        self.content_sha256 = content_sha256
        self.skip_subtype_detection = skip_subtype_detection

    def _pick(self, own: Any, key: str) -> Any:
        if own not in (None, "", []):
            return own
        if not self.upload:
            return None
        # Airflow renders an XComArg to the upload task's dict before execute; anything else
        # (e.g. a Jinja string without render_template_as_native_obj) cannot be read.
        if not isinstance(self.upload, Mapping):
            raise PlatformConfigError(
                f"Amazon Ads: register needs `upload` as the upload task's XCom (a dict), got "
                f"{type(self.upload).__name__}. Pass the task's .output, or render templates as native objects.",
                platform=AmazonAdsHook.platform,
            )
        return self.upload.get(key)

    def execute(self, context: Any) -> dict[str, Any]:
        hook: AmazonAdsHook = self.hook  # type: ignore[assignment]
        location = self._pick(self.upload_location, "upload_location")
        asset_type = self._pick(self.asset_type, "asset_type")
        sha256 = self._pick(self.content_sha256, "content_sha256")
        name = self._pick(self.name, "source_name")
        name = str(name) if name not in (None, "") else None
        if not location or not asset_type or not name:
            raise PlatformConfigError(
                "Amazon Ads: register needs upload_location, asset_type and name (or the upload task's XCom "
                "as `upload`).",
                platform=hook.platform,
            )
        asset_type = str(asset_type).upper()
        if sha256 and self.retried(context):
            found = hook.find_by_tag(content_tag(sha256))
            if found is not None:
                self.log.info("A previous try registered %s as %s; not registering again", name, found["assetId"])
                return self._result(found["assetId"], found.get("version"), ())
        result = hook.register_idempotent(
            location,
            content_sha256=sha256,
            name=name,
            asset_type=asset_type,
            subtypes=_as_list(self.subtypes) or list(hook.default_subtypes(asset_type)),
            tags=_as_list(self.tags),
            asins=_as_list(self.asins),
            linked_asset_id=self.linked_asset_id or None,
            version_notes=self.version_notes,
            brand_entity_id=self.brand_entity_id,
            skip_subtype_detection=self.skip_subtype_detection,
            registration_context=self.registration_context or None,
        )
        return self._result(result["assetId"], result.get("versionId"), spec_warnings(result.get("failedSpecChecks")))

    def _result(self, asset_id: str, version: str | None, warnings: Sequence[str]) -> dict[str, Any]:
        remote_id = f"{asset_id}:{version}" if version else asset_id
        self.log.info("Registered %s; %d spec-check warning(s)", remote_id, len(warnings))
        return {"asset_id": asset_id, "version_id": version, "remote_id": remote_id, "warnings": list(warnings)}
