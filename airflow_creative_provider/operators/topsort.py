"""Topsort step operators: upload a file as a new asset, or register an external-URL asset.

Topsort's presigned upload form is a secret valid for 30 minutes, so creating the asset and
uploading its file are one task (``TopsortUploadAssetOperator``): the form never reaches XCom.
Topsort documents no UI address for an asset, so these operators have no extra link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_creative_provider.creative import PlatformRules
from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.operators.base import CreativePlatformOperator


def _none_if_empty(value: Any) -> Any:
    """Template fields render unset params as empty strings or lists: treat them as omitted."""
    return None if value in ("", None, [], {}) else value


class _TopsortOperator(CreativePlatformOperator):
    hook_class = TopsortHook

    def __init__(self, *, rules: PlatformRules | None = None, resume: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.resume = resume

    @cached_property
    def hook(self) -> TopsortHook:
        return TopsortHook(self.conn_id, rules=self.rules)


class TopsortUploadAssetOperator(_TopsortOperator):
    """Create a Topsort asset for a file and upload the file to it, in one task.

    The file is checked locally first (one of Topsort's eight types, by extension and magic
    bytes; name at most 64 characters; metadata keys 32 / values 64 characters; lists at most
    10 items): a refused file fails the task before any request. Then the asset is created
    (``pending_upload``) and the file posted to the presigned form it returned. If that form
    expired, a fresh asset is created and the abandoned id is logged and pushed.

    On a retried task (or with ``resume=True``) the operator first looks for the asset an
    earlier try made (matched by the file's sha256 in the asset's metadata) and returns it
    instead of creating a second one.

    Returns the asset id (XCom ``return_value``) and pushes ``asset``: id, state,
    ``abandoned_ids``; never the upload form.

    :param file_path: local path or object-storage URI of the file (templated).
    :param name: asset name, at most 64 characters; the file name when empty (templated).
    :param product_ids: up to 10 product ids (templated).
    :param brands: up to 10 brands (templated).
    :param collection_ids: up to 10 collection ids (templated).
    :param metadata: extra metadata, string values (templated); ``sha256`` is added.
    :param resume: look the asset up before creating it also on the first try (a retried try always does).
    :param rules: local rules instead of Topsort's defaults, e.g. a marketplace's banner sizes
        (``TopsortHook.rules.with_(min_width=300, min_height=250)``).
    :param conn_id: Topsort connection; ``topsort_default`` when omitted (templated).
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "file_path",
        "name",
        "product_ids",
        "brands",
        "collection_ids",
        "metadata",
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        file_path: str,
        name: str | None = None,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.name = name
        self.product_ids = product_ids
        self.brands = brands
        self.collection_ids = collection_ids
        self.metadata = metadata

    def execute(self, context: Any) -> str:
        creative = self.inspect_file(str(self.file_path))
        asset = self.hook.submit(
            creative,
            resume=self.should_resume(context),
            name=_none_if_empty(self.name),
            product_ids=_none_if_empty(self.product_ids),
            brands=_none_if_empty(self.brands),
            collection_ids=_none_if_empty(self.collection_ids),
            metadata=_none_if_empty(self.metadata),
        )
        if asset.abandoned_ids:
            self.log.warning("Topsort: %s", self.hook.leftover_message(asset.abandoned_ids))
        self.log.info("Topsort: %s is asset %s (%s)", creative.key, asset.remote_id, asset.raw_state)
        context["ti"].xcom_push(key="asset", value=asset.to_dict())
        return asset.remote_id


class TopsortCreateExternalAssetOperator(_TopsortOperator):
    """Create a Topsort asset whose file stays at an external URL (Topsort does not host it).

    Nothing is uploaded. The URL's sha256 is stored in the asset's metadata, so a retried task
    (or ``resume=True``) finds the asset it made instead of creating a second one.

    Returns the asset id (XCom ``return_value``) and pushes ``asset``.

    :param name: asset name, at most 64 characters (templated).
    :param external_url: http(s) URL of the file, 1 to 2083 characters (templated).
    :param mimetype: one of Topsort's eight mimetypes, or None (templated).
    :param product_ids: up to 10 product ids (templated).
    :param brands: up to 10 brands (templated).
    :param collection_ids: up to 10 collection ids (templated).
    :param metadata: extra metadata, string values (templated); ``sha256`` is added.
    :param resume: look the asset up before creating it also on the first try (a retried try always does).
    :param conn_id: Topsort connection; ``topsort_default`` when omitted (templated).
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "name",
        "external_url",
        "mimetype",
        "product_ids",
        "brands",
        "collection_ids",
        "metadata",
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        name: str,
        external_url: str,
        mimetype: str | None = None,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.external_url = external_url
        self.mimetype = mimetype
        self.product_ids = product_ids
        self.brands = brands
        self.collection_ids = collection_ids
        self.metadata = metadata

    def execute(self, context: Any) -> str:
        url = str(self.external_url)
        if self.should_resume(context):
            found = self.hook.find_external_asset(url)
            if found is not None:
                self.log.info("Topsort: %s is already asset %s (%s)", self.name, found.remote_id, found.raw_state)
                context["ti"].xcom_push(key="asset", value=found.to_dict())
                return found.remote_id
        created = self.hook.create_external_asset(
            str(self.name),
            url,
            mimetype=_none_if_empty(self.mimetype),
            product_ids=_none_if_empty(self.product_ids),
            brands=_none_if_empty(self.brands),
            collection_ids=_none_if_empty(self.collection_ids),
            metadata=self.hook.content_metadata(self.hook.external_key(url), _none_if_empty(self.metadata)),
        )
        # The initial state of an external asset is undocumented: read it from Topsort, never assume it.
        asset = self.hook.read_back(str(created["id"]))
        self.log.info("Topsort: created external asset %s (%s)", asset.remote_id, asset.raw_state)
        context["ti"].xcom_push(key="asset", value=asset.to_dict())
        return asset.remote_id
