"""MediaMath step operators: native creatives, video assets, extra assets.

* ``MediaMathCreateCreativeOperator``: a native creative from an image (base64 in the
  creative's ``assets``) or a video, plus text assets (title, destination URL, ...).
* ``MediaMathUploadVideoAssetOperator``: presigned URL + PUT + Video asset, fused in one task
  because the URL lives 60 seconds and is a secret (it never reaches XCom).
* ``MediaMathAddAssetOperator``: one more text or image asset for a creative (or advertiser).

Wait for approval with ``MediaMathApprovalSensor``. MediaMath's contract gives no UI URL for
a creative, so these operators have no extra link. The connection's ``advertiser_id`` is the
default advertiser everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_creative_provider.hooks.mediamath import (
    COMPONENT_DESTINATION_URL,
    COMPONENT_IMAGE,
    COMPONENT_TITLE,
    MediaMathHook,
)
from airflow_creative_provider.operators.base import CreativePlatformOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


def _optional_int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _ids(value: Any) -> list[int]:
    if value in (None, "", []):
        return []
    if isinstance(value, (int, str)):
        value = str(value).strip("[] ").split(",")
    return [int(str(i).strip()) for i in value if str(i).strip()]


class _MediaMathOperator(CreativePlatformOperator):
    hook_class = MediaMathHook
    ui_color = "#fde9d9"

    @property
    def mm(self) -> MediaMathHook:
        return self.hook  # type: ignore[return-value]

    @staticmethod
    def _push(context: Context, result: Mapping[str, Any]) -> None:
        for key, value in result.items():
            context["ti"].xcom_push(key=key, value=value)


class MediaMathCreateCreativeOperator(_MediaMathOperator):
    """Create a MediaMath native creative from an image (or video) file and text assets.

    The file is checked locally first (type by magic bytes, size, dimensions, forbidden
    characters in its name); a refusal names the file and the rule and sends nothing. An
    image travels as base64 inside the creative's ``assets`` (streamed); a video is PUT to a
    fresh presigned URL and attached as a Video asset. The texts become assets of the
    creative (``POST /assets`` with its id).

    The creative carries ``external_identifier`` ``acp-<sha256 prefix>`` of the content. On an
    Airflow retry (or with ``resume=True``) the advertiser's creatives are searched for it
    first, so a retried task continues with the creative it made, adding only missing texts.

    Pushes ``atomic_creative_id``, ``advertiser_id``, ``asset_ids`` and
    ``external_identifier`` to XCom and returns them as a dict.

    :param file_path: local path or object-storage URI of the image or video (templated).
    :param creative_name: the creative's name; the file name when empty (templated).
    :param title: text of the Title component (7) (templated).
    :param destination_url: text of the Destination URL component (4) (templated).
    :param texts: more text assets, ``{component_id: text}`` (e.g. ``{6: body, 13: brand}``) (templated).
    :param advertiser_id: advertiser; the connection's ``advertiser_id`` when empty (templated).
    :param concept_id: concept of the advertiser to file the creative under (templated).
    :param resume: look for the creative of an earlier attempt also on the first try.
    :param conn_id: MediaMath connection; ``mediamath_default`` when omitted (templated).
    """

    template_fields: Sequence[str] = (
        "file_path",
        "creative_name",
        "title",
        "destination_url",
        "texts",
        "advertiser_id",
        "concept_id",
        "conn_id",
    )

    def __init__(
        self,
        *,
        file_path: str,
        creative_name: str | None = None,
        title: str | None = None,
        destination_url: str | None = None,
        texts: Mapping[int | str, str] | None = None,
        advertiser_id: int | str | None = None,
        concept_id: int | str | None = None,
        resume: bool = False,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.file_path = file_path
        self.creative_name = creative_name
        self.title = title
        self.destination_url = destination_url
        self.texts = texts
        self.advertiser_id = advertiser_id
        self.concept_id = concept_id
        self.resume = resume

    def all_texts(self) -> dict[int, str]:
        texts = {int(k): str(v) for k, v in (self.texts or {}).items() if v not in (None, "")}
        if self.title:
            texts[COMPONENT_TITLE] = self.title
        if self.destination_url:
            texts[COMPONENT_DESTINATION_URL] = self.destination_url
        return texts

    def execute(self, context: Context) -> dict[str, Any]:
        creative = self.inspect_file(self.file_path)
        made = self.mm.create_native_creative(
            creative,
            creative_name=self.creative_name or None,
            texts=self.all_texts(),
            advertiser_id=_optional_int(self.advertiser_id),
            concept_id=_optional_int(self.concept_id),
            resume=self.should_resume(context),
        )
        result = {
            "atomic_creative_id": made["atomic_creative_id"],
            "advertiser_id": made["advertiser_id"],
            "asset_ids": [a["asset_id"] for a in made.get("assets", [])],
            "external_identifier": made.get("external_identifier"),
        }
        self.log.info(
            "%s is MediaMath creative %s with %d assets",
            creative.name,
            result["atomic_creative_id"],
            len(result["asset_ids"]),
        )
        self._push(context, result)
        return result


class MediaMathUploadVideoAssetOperator(_MediaMathOperator):
    """Upload a video to MediaMath and register it as a Video asset (component 11).

    ``GET /upload/{filename}`` gives a presigned S3 URL that lives 60 seconds, so it is
    requested immediately before the PUT in this same task, and requested again when S3
    refuses it as expired. The URL without its query string becomes the asset's value; the
    signed URL never leaves the task. The file name is checked against MediaMath's forbidden
    characters before any request.

    Pushes ``asset_id``, ``video_url`` (the bare URL) and ``component_id`` to XCom and returns
    them as a dict.

    :param file_path: local path or object-storage URI of the MP4 (templated).
    :param creative_ids: creatives to attach the asset to (one advertiser) (templated).
    :param advertiser_id: advertiser; the connection's ``advertiser_id`` when empty (templated).
    :param filename: name to upload under; the file's own name when empty (templated).
    :param conn_id: MediaMath connection; ``mediamath_default`` when omitted (templated).
    """

    template_fields: Sequence[str] = ("file_path", "creative_ids", "advertiser_id", "filename", "conn_id")

    def __init__(
        self,
        *,
        file_path: str,
        creative_ids: int | str | list[int | str] | None = None,
        advertiser_id: int | str | None = None,
        filename: str | None = None,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.file_path = file_path
        self.creative_ids = creative_ids
        self.advertiser_id = advertiser_id
        self.filename = filename

    def execute(self, context: Context) -> dict[str, Any]:
        creative = self.inspect_file(self.file_path)
        creative_ids = _ids(self.creative_ids)
        asset = self.mm.create_video_asset(
            creative,
            advertiser_id=_optional_int(self.advertiser_id),
            creative_ids=creative_ids or None,
            filename=self.filename or None,
        )
        result = {
            "asset_id": asset["asset_id"],
            "video_url": asset.get("video_url"),
            "component_id": asset.get("component_id"),
        }
        self.log.info("%s is MediaMath video asset %s", creative.name, result["asset_id"])
        self._push(context, result)
        return result


class MediaMathAddAssetOperator(_MediaMathOperator):
    """Add one asset to a MediaMath creative (or to an advertiser): a text or an image.

    Give ``value`` for a text component (Title 7, Destination URL 4, Body 6, ...) or
    ``file_path`` for an image component (Image 2, Logo 21), sent as a streamed multipart
    form. The asset is created with ``POST /assets`` and attached to ``creative_id``; the
    creative's other assets are untouched.

    Pushes ``asset_id`` and ``component_id`` to XCom and returns them as a dict.

    :param component_id: MediaMath component id (templated).
    :param creative_id: creative to attach the asset to; None for an advertiser-level asset (templated).
    :param value: text of a text component (templated).
    :param file_path: image file of an image component (templated).
    :param advertiser_id: advertiser; the connection's ``advertiser_id`` when empty and no
        creative is given (templated).
    :param conn_id: MediaMath connection; ``mediamath_default`` when omitted (templated).
    """

    template_fields: Sequence[str] = ("component_id", "creative_id", "value", "file_path", "advertiser_id", "conn_id")

    def __init__(
        self,
        *,
        component_id: int | str,
        creative_id: int | str | None = None,
        value: str | None = None,
        file_path: str | None = None,
        advertiser_id: int | str | None = None,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        if (value is None) == (file_path is None):
            raise ValueError("give exactly one of value (text asset) or file_path (image asset)")
        self.component_id = component_id
        self.creative_id = creative_id
        self.value = value
        self.file_path = file_path
        self.advertiser_id = advertiser_id

    def execute(self, context: Context) -> dict[str, Any]:
        creative_ids = _ids(self.creative_id)
        advertiser = _optional_int(self.advertiser_id)
        component = int(self.component_id)
        if self.file_path:
            creative = self.inspect_file(self.file_path)
            asset = self.mm.create_image_asset(
                creative,
                component_id=component or COMPONENT_IMAGE,
                advertiser_id=advertiser,
                creative_ids=creative_ids or None,
            )
        else:
            asset = self.mm.create_text_asset(
                component, str(self.value), advertiser_id=advertiser, creative_ids=creative_ids or None
            )
        result = {"asset_id": asset["asset_id"], "component_id": asset.get("component_id")}
        self.log.info(
            "MediaMath asset %s (component %s) added to %s",
            result["asset_id"],
            result["component_id"],
            creative_ids or "the advertiser",
        )
        self._push(context, result)
        return result
