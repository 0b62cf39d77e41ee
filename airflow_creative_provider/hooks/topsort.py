"""Topsort Assets API: create an asset, upload its file by presigned POST, poll until approved.

Flow (contract ``platforms/topsort.md``): ``POST /public/v1/assets/asset?vendor_id=`` answers
201 with the asset in ``pending_upload`` and an ``uploadUrl`` plus form ``fields`` (an S3-style
presigned POST). The file is posted there as ``multipart/form-data``: every returned field
unchanged, then the file as the last part; video assets get empty ``fields`` and only the
file part is sent. Topsort then moves the asset ``pending_upload -> pending_approval ->
approved`` (``url`` set); ``upload_error`` and ``rejected`` are terminal failures.

Auth: ``Authorization: Bearer <API key>`` from the connection's password; the key cannot be
refreshed, so a 401 is final and the error says to replace the key. ``vendor_id`` (extra) is
the account assets are created for.

Upload window: the presigned form is valid 30 minutes and cannot be re-issued. An upload
refused as expired (S3's 403 "Policy expired") makes ``submit`` create a fresh asset and
upload again; the abandoned id is kept in ``RemoteAsset.abandoned_ids``.

Idempotency: Topsort's create is not idempotent and has no idempotency key or external id.
Every asset ``submit`` creates carries the file's sha256 in its metadata (``{"sha256":
<64 hex chars>}``: a sha256 hex digest is exactly the 64 characters a metadata value may
hold). With ``resume=True`` (a retried task, or a ledger intent without a remote id)
``find_asset`` first lists the vendor's assets of that mimetype (cursor pagination to the
end) and matches that metadata entry: an asset past ``pending_upload`` is returned as is, so
no second asset is made; one still in ``pending_upload`` cannot be finished (Get returns no
upload URL), so it is recorded as abandoned and a fresh asset is created. A create whose
answer was lost (``UncertainOutcome``) is reconciled the same way before it is repeated.

Left-over assets: Topsort re-issues no upload form (Get and List return none) and documents
no way to put content into an existing asset, so a contentless ``pending_upload`` asset can
never be reused. Every one ``submit`` meets or leaves behind is returned in
``RemoteAsset.abandoned_ids`` and as a warning naming the ids, which the ledger records and
the report and the Creatives page show, so a person can delete them.

Names: the 64-character limit is on the asset ``name`` sent, so a longer file name becomes a
shortened name ending in a short hash of the whole name (``fit_asset_name``), never a refusal.

After the upload the asset is read back once (``GET``): its state is what Topsort says, not
an assumed ``pending_approval``.

Rate limit: 45 requests per 2 s per IP for the whole account (every worker behind one NAT
shares it). The hook throttles itself (``rate_limit``) and on 429 waits for
``Retry-After`` or, as Topsort sends, ``X-RateLimit-Reset``; else exponential backoff.

Errors come in two shapes, ``[{"errCode", "docUrl", "message"}]`` and ``{"error",
"message"}``; the hook dispatches on ``errCode`` (or the status) and shows the message.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict
from urllib.parse import quote

from airflow_creative_provider.creative import SIZE_GUARD_BYTES, SIZE_GUARD_HINT, PlatformRules
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformAuthError,
    PlatformError,
    PlatformRequestError,
    PlatformUnavailable,
    PresignedUrlExpired,
    UncertainOutcome,
)
from airflow_creative_provider.hooks.base import (
    ApiCall,
    AssetStatus,
    CreativePlatformHook,
    ListedAsset,
    RemoteAsset,
    Response,
    content_warnings,
    parse_retry_after,
)
from airflow_creative_provider.transfer import form_body

if TYPE_CHECKING:
    from airflow_creative_provider.creative import Creative

ASSET_PATH = "/public/v1/assets/asset"
ASSETS_PATH = "/public/v1/assets/assets"

MIMETYPES: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "text/html",
        "video/mp4",
        "video/quicktime",
        "application/json",
    }
)
STATUSES: tuple[str, ...] = ("pending_upload", "pending_approval", "upload_error", "approved", "rejected")
STATE_MAP: dict[str, str] = {
    "pending_upload": AssetStatus.PENDING,
    "pending_approval": AssetStatus.PROCESSING,
    "approved": AssetStatus.READY,
    "upload_error": AssetStatus.REJECTED,
    "rejected": AssetStatus.REJECTED,
}
DEFAULT_REASONS: dict[str, str] = {
    "upload_error": "Topsort could not process the uploaded file (upload_error): check that its content matches "
    "its type and that it is not corrupt, then upload it again.",
    "rejected": "the asset was rejected in Topsort's approval (rejected).",
}
#: the order in which a lookup prefers one of several assets holding the same content.
_PREFERENCE = {"approved": 0, "pending_approval": 1, "upload_error": 2, "rejected": 2, "pending_upload": 3}

MAX_NAME = 64
MAX_METADATA_KEY = 32
MAX_METADATA_VALUE = 64
MAX_ARRAY_ITEMS = 10
MAX_EXTERNAL_URL = 2083
UPLOAD_WINDOW_SECONDS = 30 * 60
SHA256_METADATA_KEY = "sha256"
_AUTH_CODES = frozenset({"invalid_api_key", "unauthorized"})
_REQUEST_CODES = frozenset({"bad_request", "invalid_json", "empty_request", "invalid_operation"})
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")
#: characters of the hash that tells two shortened names apart.
NAME_HASH_LENGTH = 8


def fit_asset_name(name: str, limit: int = MAX_NAME) -> str:
    """``name`` when it fits Topsort's 64-character asset name, else a shortened name that keeps
    the start and the extension and ends with a short hash of the whole name (two long names
    with the same start stay apart)."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    ext = f".{ext}" if dot and 0 < len(ext) <= 5 else ""
    stem = stem if ext else name
    digest = hashlib.sha256(name.encode()).hexdigest()[:NAME_HASH_LENGTH]
    room = limit - len(ext) - len(digest) - 1
    return f"{stem[:room].rstrip()}~{digest}{ext}"


TOPSORT_RULES = PlatformRules(
    platform="topsort",
    mimetypes=MIMETYPES,
    type_hint="Topsort accepts JPEG, PNG, GIF, WebP, HTML, JSON, MP4 and QuickTime files.",
    # Topsort documents no file size limit: the project's guard.
    max_bytes=SIZE_GUARD_BYTES,
    own_limits=frozenset({"max_bytes"}),
    guard_hint=SIZE_GUARD_HINT,
)


class _AssetFields(TypedDict):
    """The optional fields of a create that ``submit`` checks and then sends."""

    product_ids: Sequence[str] | None
    brands: Sequence[str] | None
    collection_ids: Sequence[str] | None
    metadata: dict[str, str]


class TopsortHook(CreativePlatformHook):
    """Topsort Assets API: create, upload (presigned POST), get and list assets.

    Connection: ``password`` = API key (sent as ``Authorization: Bearer``), extra ``vendor_id``
    (required to create), ``host`` defaults to ``https://api.topsort.com``.

    Topsort publishes no file size or pixel limits for assets (banner slot sizes are set per
    marketplace): pass ``rules=TopsortHook.rules.with_(min_width=..., ...)`` to enforce yours.

    :param conn_id: Airflow connection id; ``topsort_default`` when omitted.
    :param rules: local rules to check files against instead of the default ``TOPSORT_RULES``.
    """

    conn_name_attr = "topsort_conn_id"
    default_conn_name = "topsort_default"
    conn_type = "topsort"
    hook_name = "Topsort"

    platform: ClassVar[str] = "topsort"
    default_host: ClassVar[str | None] = "https://api.topsort.com"
    rules: ClassVar[PlatformRules] = TOPSORT_RULES
    #: Topsort allows 45 requests per 2 s; the extra 0.1 s absorbs network jitter between our
    #: clock and the server's window (a request sent at 2.0 s may arrive before the first one did).
    rate_limit: ClassVar[tuple[int, float] | None] = (45, 2.1)
    supports_auth_refresh: ClassVar[bool] = False
    auth_hint: ClassVar[str] = "the password (Topsort API key)"
    #: new assets ``submit`` creates when an upload window expired before the file was sent.
    max_upload_attempts: ClassVar[int] = 2
    list_page_size: ClassVar[int] = 100

    def __init__(self, conn_id: str | None = None, *, rules: PlatformRules | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        if rules is not None:
            self.rules = rules  # type: ignore[misc]

    # ----------------------------------------------------------------- connection and auth
    @property
    def vendor_id(self) -> str:
        """The Topsort vendor the assets belong to (connection extra ``vendor_id``)."""
        return str(self.extra_field("vendor_id", required=True))

    @property
    def account(self) -> str:
        return self.vendor_id

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_password()}"}

    def check_connection(self) -> str:
        """List one asset of the vendor: proves the key, the host and ``vendor_id``."""
        page = self.request_json("GET", ASSETS_PATH, params={"vendor_id": self.vendor_id, "limit": 1}) or {"assets": []}
        seen = len(page.get("assets") or [])
        more = " or more" if page.get("hasMore") else ""
        return f"Topsort API key accepted; vendor {self.vendor_id} has {seen}{more} asset(s)."

    # ----------------------------------------------------------------- local validation
    def validate_asset_fields(
        self,
        *,
        name: str,
        mimetype: str | None = None,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        external_url: str | None = None,
        file: str | None = None,
    ) -> None:
        """Refuse locally what Create would answer 422 to; the message names the field and the limit."""
        label = file or name or "(unnamed asset)"

        def refuse(rule: str, why: str) -> CreativeRefused:
            return CreativeRefused(
                f"{label}: refused for topsort ({rule}): {why}", file=label, rule=rule, platform=self.platform
            )

        if not isinstance(name, str) or not name.strip():
            raise refuse("name", "an asset needs a name")
        if len(name) > MAX_NAME:
            raise refuse("name", f"the name has {len(name)} characters, the limit is {MAX_NAME}")
        if mimetype is not None and mimetype not in MIMETYPES:
            raise refuse("type", f"mimetype {mimetype!r} is not one of {', '.join(sorted(MIMETYPES))}")
        for field, values in (("productIds", product_ids), ("brands", brands), ("collectionIds", collection_ids)):
            if values is None:
                continue
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise refuse(field, f"{field} must be a list of strings")
            if len(values) > MAX_ARRAY_ITEMS:
                raise refuse(field, f"{field} has {len(values)} items, the limit is {MAX_ARRAY_ITEMS}")
        for key, value in (metadata or {}).items():
            if not isinstance(value, str):
                raise refuse("metadata", f"metadata value of {key!r} must be a string")
            if len(key) > MAX_METADATA_KEY:
                raise refuse("metadata", f"metadata key {key!r} is longer than {MAX_METADATA_KEY} characters")
            if len(value) > MAX_METADATA_VALUE:
                raise refuse(
                    "metadata",
                    f"metadata value of {key!r} has {len(value)} characters, the limit is {MAX_METADATA_VALUE}",
                )
        if external_url is not None:
            if not 1 <= len(external_url) <= MAX_EXTERNAL_URL:
                raise refuse("externalUrl", f"externalUrl must have 1 to {MAX_EXTERNAL_URL} characters")
            if not external_url.startswith(("http://", "https://")):
                raise refuse("externalUrl", "externalUrl must be an http(s) URL")

    @staticmethod
    def content_metadata(sha256: str, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
        """The asset metadata: the caller's entries plus ``sha256`` (the idempotency key)."""
        return {**(metadata or {}), SHA256_METADATA_KEY: sha256}

    # ----------------------------------------------------------------- operations
    def create_asset(
        self,
        name: str,
        mimetype: str | None,
        *,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        external_url: str | None = None,
    ) -> dict[str, Any]:
        """``POST /public/v1/assets/asset?vendor_id=``: a new asset in ``pending_upload``.

        The answer holds ``uploadUrl`` and ``fields``, a secret presigned form valid 30 minutes:
        pass it straight to ``upload_file`` and never log, return from a task or store it.
        Not idempotent: never repeated after it may have reached Topsort. A name longer than 64
        characters is shortened (``fit_asset_name``).
        """
        name = fit_asset_name(name)
        self.validate_asset_fields(
            name=name,
            mimetype=mimetype,
            product_ids=product_ids,
            brands=brands,
            collection_ids=collection_ids,
            metadata=metadata,
            external_url=external_url,
        )
        body: dict[str, Any] = {"name": name, "mimetype": mimetype}
        for key, value in (
            ("productIds", product_ids),
            ("brands", brands),
            ("collectionIds", collection_ids),
            ("metadata", metadata),
            ("externalUrl", external_url),
        ):
            if value is not None:
                body[key] = list(value) if isinstance(value, (list, tuple)) else value
        asset = self.request_json("POST", ASSET_PATH, params={"vendor_id": self.vendor_id}, json=body)
        if not isinstance(asset, dict) or not asset.get("id"):
            raise PlatformRequestError(
                f"Topsort: POST {ASSET_PATH} answered without an asset id; the asset may exist, look it up "
                "with list_assets before creating it again.",
                platform=self.platform,
            )
        self._register_upload_secrets(asset)
        self.log.info("Topsort: created asset %s (%s, status %s)", asset["id"], mimetype, asset.get("status"))
        return asset

    def create_external_asset(
        self,
        name: str,
        external_url: str,
        *,
        mimetype: str | None = None,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An asset whose file Topsort does not host (``externalUrl``): nothing to upload."""
        return self.create_asset(
            name,
            mimetype,
            product_ids=product_ids,
            brands=brands,
            collection_ids=collection_ids,
            metadata=metadata,
            external_url=external_url,
        )

    def _register_upload_secrets(self, asset: Mapping[str, Any]) -> None:
        fields = asset.get("fields") or {}
        for key, value in fields.items():
            if key.lower() in ("policy", "signature", "x-amz-signature", "x-amz-security-token") and value:
                self.register_secret(str(value), ephemeral=True)
        upload_url = asset.get("uploadUrl")
        if upload_url and "?" in upload_url:
            self.register_secret(upload_url, ephemeral=True)

    def upload_file(self, asset: Mapping[str, Any], creative: Creative) -> int:
        """Post the file to the asset's presigned form (streamed); returns the storage's 2xx status.

        Every returned field is sent unchanged, then the file as the last part named ``file``
        (its filename is the asset id, as Topsort's guide does). For video only the file part
        is sent. An expired form raises ``PresignedUrlExpired``: create a new asset.
        """
        upload_url = asset.get("uploadUrl")
        if not upload_url:
            raise PlatformRequestError(
                f"Topsort: asset {asset.get('id')} has no upload URL (external assets need no upload).",
                platform=self.platform,
            )
        mimetype = asset.get("mimetype") or creative.mimetype or "application/octet-stream"
        fields: Mapping[str, Any] = {} if mimetype.startswith("video/") else (asset.get("fields") or {})
        first = self._form(fields, creative, str(asset["id"]), mimetype, boundary=None)
        unused = [first]

        def body() -> Any:  # a fresh stream per attempt, same boundary as the Content-Type header
            if unused:
                return unused.pop()
            return self._form(fields, creative, str(asset["id"]), mimetype, boundary=first.boundary)

        call = ApiCall(
            method="POST",
            url=upload_url,
            data=body,
            headers={"Content-Type": first.content_type},
            idempotent=True,  # the same file to the same key: repeating it changes nothing
            authenticated=False,
        )
        started = time.monotonic()
        response = self.send(call)
        self.log.info(
            "Topsort: uploaded %s (%d bytes) for asset %s in %.1f s",
            creative.key,
            creative.size,
            asset["id"],
            time.monotonic() - started,
        )
        return response.status

    @staticmethod
    def _form(
        fields: Mapping[str, Any], creative: Creative, filename: str, mimetype: str, *, boundary: str | None
    ) -> Any:
        return form_body(
            fields,
            creative,  # its planned bytes from any source kind, verified while sent
            creative.size,
            filename=filename,
            file_content_type=mimetype,
            boundary=boundary,
            label=creative.key,
        )

    def get_asset(self, asset_id: str) -> dict[str, Any]:
        """``GET /public/v1/assets/asset/{id}``: the asset with its ``status`` and, once approved, ``url``."""
        return self.request_json("GET", self.asset_path(asset_id))

    @staticmethod
    def asset_path(asset_id: str) -> str:
        return f"{ASSET_PATH}/{quote(str(asset_id), safe='')}"

    def iter_assets(
        self,
        *,
        vendor_id: str | None = None,
        collection_name: str | None = None,
        brand: str | None = None,
        mimetype: str | None = None,
        status: str | None = None,
        asset_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``GET /public/v1/assets/assets``, following ``nextPage`` until ``hasMore`` is false.

        :param vendor_id: the connection's ``vendor_id`` when omitted; pass ``""`` for every vendor
            the key sees.
        :param limit: page size, 1 to 100 (``list_page_size`` when omitted).
        """
        page_size = limit or self.list_page_size
        if not 1 <= page_size <= 100:
            raise PlatformRequestError(
                f"Topsort: list limit must be between 1 and 100, got {page_size}.", platform=self.platform
            )
        if status is not None and status not in STATUSES:
            raise PlatformRequestError(
                f"Topsort: unknown status filter {status!r}; use one of {', '.join(STATUSES)}.",
                platform=self.platform,
            )
        if mimetype is not None and mimetype not in MIMETYPES:
            raise PlatformRequestError(
                f"Topsort: unknown mimetype filter {mimetype!r}; use one of {', '.join(sorted(MIMETYPES))}.",
                platform=self.platform,
            )
        vendor = self.vendor_id if vendor_id is None else vendor_id
        params: dict[str, Any] = {"limit": page_size}
        for key, value in (
            ("vendor_id", vendor or None),
            ("collection_name", collection_name),
            ("brand", brand),
            ("mimetype", mimetype),
            ("status", status),
            ("asset_ids", list(asset_ids) if asset_ids else None),
        ):
            if value is not None:
                params[key] = value
        seen_cursors: set[str] = set()
        while True:
            page = self.request_json("GET", ASSETS_PATH, params=params) or {}
            yield from page.get("assets") or []
            cursor = page.get("nextPage")
            if not page.get("hasMore") or not cursor:
                return
            if cursor in seen_cursors:
                raise PlatformRequestError(
                    "Topsort: list_assets returned the same nextPage cursor twice; stopping to avoid a loop.",
                    platform=self.platform,
                )
            seen_cursors.add(cursor)
            params["next_page"] = cursor

    def list_assets(self, **filters: Any) -> list[dict[str, Any]]:
        """Every asset matching the filters (all pages); see ``iter_assets`` for the filters."""
        return list(self.iter_assets(**filters))

    # ----------------------------------------------------------------- platform surface
    @content_warnings
    def submit(
        self,
        creative: Creative,
        *,
        resume: bool = False,
        previous_id: str | None = None,
        name: str | None = None,
        product_ids: Sequence[str] | None = None,
        brands: Sequence[str] | None = None,
        collection_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> RemoteAsset:
        """Create the asset and upload its file in one go (the presigned form never leaves here).

        :param resume: look the content up first (``find_asset``) and return the asset an earlier
            attempt made instead of creating a second one.
        :param previous_id: ignored: Topsort has no asset versions, a changed file is a new asset.
        :param name: asset name; the file name when omitted. A name over Topsort's 64 characters
            is shortened with a short hash (``fit_asset_name``), never refused.
        :param product_ids: up to 10 product ids.
        :param brands: up to 10 brands.
        :param collection_ids: up to 10 collection ids.
        :param metadata: extra metadata (keys up to 32, values up to 64 characters); ``sha256``
            is added.
        """
        self.check_creative(creative)
        if not creative.sha256:
            raise PlatformRequestError(
                f"Topsort: {creative.key} has no sha256; inspect it with Creative.inspect first.",
                platform=self.platform,
            )
        name = fit_asset_name(name or creative.upload_name)
        fields: _AssetFields = {
            "product_ids": product_ids,
            "brands": brands,
            "collection_ids": collection_ids,
            "metadata": self.content_metadata(creative.sha256, metadata),
        }
        self.validate_asset_fields(name=name, mimetype=creative.mimetype, file=creative.key, **fields)
        abandoned: list[str] = []

        def usable_asset() -> RemoteAsset | None:
            """The asset an earlier or lost create made, when it holds the content; one still
            ``pending_upload`` cannot be finished (Topsort re-issues no upload form): left over."""
            found = self.find_asset(creative)
            if found is None:
                return None
            usable = found.raw_state != "pending_upload"
            leftovers = found.abandoned_ids if usable else (found.remote_id, *found.abandoned_ids)
            abandoned.extend(i for i in leftovers if i not in abandoned)
            return found if usable else None

        if resume:
            found = usable_asset()
            if found is not None:
                self.log.info("Topsort: %s is already asset %s (%s)", creative.key, found.remote_id, found.raw_state)
                return self._with_leftovers(found, abandoned)
        for attempt in range(1, self.max_upload_attempts + 1):
            made = self.create_or_find(
                lambda: self.create_asset(name, creative.mimetype, **fields),
                usable_asset,
                what=f"the asset for {creative.key}",
                attempts=self.max_upload_attempts,
            )
            if isinstance(made, RemoteAsset):
                return self._with_leftovers(made, abandoned)
            try:
                self.upload_file(made, creative)
            except PresignedUrlExpired:
                abandoned.append(str(made["id"]))
                self.log.warning(
                    "Topsort: the upload window of asset %s expired (attempt %d of %d); abandoning it and "
                    "creating a new asset",
                    made["id"],
                    attempt,
                    self.max_upload_attempts,
                )
                continue
            return self._with_leftovers(self.read_back(str(made["id"])), abandoned)
        raise PresignedUrlExpired(
            f"Topsort: the upload window expired {self.max_upload_attempts} times for {creative.key}; "
            f"{self.leftover_message(abandoned)} Check the clock and the network speed, then retry the task.",
            platform=self.platform,
        )

    def read_back(self, asset_id: str) -> RemoteAsset:
        """The asset as Topsort holds it now (one ``GET``): its state comes from the platform."""
        asset = self.get_asset(asset_id)
        status = self.asset_status(asset)
        return RemoteAsset(
            remote_id=str(asset_id),
            state=status.state,
            raw_state=status.raw_state,
            url=asset.get("url"),
            details={
                "name": asset.get("name"),
                "mimetype": asset.get("mimetype"),
                "isExternal": asset.get("isExternal"),
            },
        )

    @staticmethod
    def leftover_message(asset_ids: Sequence[str]) -> str:
        """The warning listing contentless assets a person should delete in Topsort."""
        return (
            f"left over in Topsort without content (pending_upload, no upload form can be re-issued): "
            f"{', '.join(asset_ids)}; delete them in Topsort."
        )

    def _with_leftovers(self, remote: RemoteAsset, abandoned: Sequence[str]) -> RemoteAsset:
        """``remote`` carrying the left-over assets: in ``abandoned_ids`` and as a warning, which
        the ledger records and the report and the Creatives page show."""
        ids = tuple(dict.fromkeys([*abandoned, *remote.abandoned_ids]))
        if not ids:
            return remote
        warning = f"Topsort assets {self.leftover_message(ids)}"
        return replace(remote, abandoned_ids=ids, warnings=(*remote.warnings, warning))

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        """The asset an earlier attempt made for this content: matched by the ``sha256`` metadata.

        Lists the vendor's assets of the file's mimetype (all pages). With several matches the
        most advanced wins (approved, then pending_approval, then a failure, then pending_upload);
        other ``pending_upload`` matches are returned as ``abandoned_ids``.
        """
        if not creative.sha256:
            return None
        mimetype = creative.mimetype if creative.mimetype in MIMETYPES else None
        return self._find_by_metadata(creative.sha256, mimetype=mimetype)

    def find_external_asset(self, external_url: str) -> RemoteAsset | None:
        """The external asset created for ``external_url`` (matched by its sha256 metadata)."""
        return self._find_by_metadata(self.external_key(external_url), external=True)

    @staticmethod
    def external_key(external_url: str) -> str:
        """The identity of an external asset: the sha256 of its URL."""
        return hashlib.sha256(external_url.encode()).hexdigest()

    def _find_by_metadata(
        self, sha256: str, *, mimetype: str | None = None, external: bool | None = None
    ) -> RemoteAsset | None:
        matches = [
            asset
            for asset in self.iter_assets(mimetype=mimetype)
            if (asset.get("metadata") or {}).get(SHA256_METADATA_KEY) == sha256
            and (external is None or bool(asset.get("isExternal")) == external)
        ]
        if not matches:
            return None
        matches.sort(key=lambda a: _PREFERENCE.get(str(a.get("status")), 4))
        best = matches[0]
        abandoned = tuple(
            str(a["id"]) for a in matches[1:] if a.get("status") == "pending_upload" and a["id"] != best["id"]
        )
        status = self.asset_status(best)
        return RemoteAsset(
            remote_id=str(best["id"]),
            state=status.state,
            raw_state=status.raw_state,
            url=best.get("url"),
            abandoned_ids=abandoned,
            details={"name": best.get("name"), "mimetype": best.get("mimetype"), "reason": status.reason},
        )

    def asset_status(self, asset: Mapping[str, Any]) -> AssetStatus:
        """Normalise one Topsort asset object."""
        raw = str(asset.get("status") or "")
        state = STATE_MAP.get(raw, AssetStatus.PROCESSING)
        reason = None
        if state == AssetStatus.REJECTED:
            vendor = next(
                (asset[k] for k in ("reason", "statusReason", "rejectionReason", "message") if asset.get(k)), None
            )
            reason = f"{raw}: {vendor}" if vendor else DEFAULT_REASONS.get(raw, raw)
        details = {k: asset.get(k) for k in ("name", "mimetype", "url", "isExternal") if asset.get(k) not in (None, "")}
        return AssetStatus(str(asset.get("id")), state, raw_state=raw or None, reason=reason, details=details)

    def list_account_assets(self) -> list[ListedAsset]:
        """The vendor's assets (``GET /public/v1/assets/assets``, every page), each with its
        status and the ``sha256`` metadata entry ``submit`` puts on every asset it creates."""
        return [
            ListedAsset(
                remote_id=str(asset.get("id")),
                status=self.asset_status(asset),
                content_mark=(asset.get("metadata") or {}).get(SHA256_METADATA_KEY),
                name=asset.get("name"),
                metadata={
                    "name": asset.get("name"),
                    # our content mark is ours, not the manifest's
                    "metadata": {k: v for k, v in (asset.get("metadata") or {}).items() if k != SHA256_METADATA_KEY},
                },
            )
            for asset in self.iter_assets()
        ]

    def status_calls(self, remote_ids: list[str]) -> list[ApiCall]:
        return [self.call("GET", self.asset_path(i)) for i in remote_ids]

    def parse_status(self, remote_ids: list[str], responses: list[Response]) -> dict[str, AssetStatus]:
        statuses = {}
        for remote_id, response in zip(remote_ids, responses, strict=True):
            status = self.asset_status(response.json() or {"id": remote_id})
            statuses[remote_id] = AssetStatus(
                remote_id, status.state, status.raw_state, status.reason, status.warnings, status.details
            )
        return statuses

    # ----------------------------------------------------------------- errors
    def vendor_error(self, response: Response) -> tuple[str | None, str | None]:
        """``(errCode, message)`` from either Topsort error shape, FastAPI's ``detail`` or S3's XML."""
        try:
            body = response.json()
        except ValueError:
            found = dict(_XML_FIELD.findall(response.text))
            if found:
                return found.get("Code"), found.get("Message")
            text = response.text.strip()
            return None, text[:500] or None
        if isinstance(body, list):
            entries = [e for e in body if isinstance(e, dict)]
            if not entries:
                return None, str(body)[:500]
            code = next((str(e["errCode"]) for e in entries if e.get("errCode")), None)
            messages = [
                str(e.get("message") or e.get("errCode")) for e in entries if e.get("message") or e.get("errCode")
            ]
            return code, "; ".join(messages) or None
        if isinstance(body, dict):
            detail = body.get("detail")
            if isinstance(detail, list):
                parts = []
                for item in detail:
                    if isinstance(item, dict):
                        loc = ".".join(str(p) for p in item.get("loc") or () if p != "body")
                        parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
                return "validation_error", "; ".join(parts) or None
            code = body.get("errCode") or body.get("code") or body.get("error")
            message = body.get("message") or body.get("error") or detail
            return (str(code) if code else None), (str(message) if message else None)
        return None, str(body)[:500]

    def retry_after(self, response: Response) -> float | None:
        """``Retry-After`` when sent; on 429 else ``X-RateLimit-Reset`` (epoch seconds, epoch ms or seconds)."""
        explicit = parse_retry_after(response.headers.get("Retry-After"))
        if explicit is not None or response.status != 429:
            return explicit
        raw = response.headers.get("X-RateLimit-Reset")
        try:
            reset = float(raw) if raw else None
        except ValueError:
            return None
        if reset is None:
            return None
        if reset > 1e12:
            reset = reset / 1000 - time.time()
        elif reset > 1e9:
            reset -= time.time()
        return max(0.0, reset)

    def error_for(self, call: ApiCall, response: Response) -> PlatformError:
        ctx = self.error_context(call, response)
        code, message, status, where, said, common = ctx.code, ctx.message, ctx.status, ctx.where, ctx.said, ctx.common
        key = (code or "").lower()
        if not call.authenticated:  # the presigned upload form, answered by the storage
            if status == 403 and "expired" in (message or "").lower():
                return PresignedUrlExpired(
                    f"Topsort: the upload form expired ({code}{said}). Upload URLs are valid 30 minutes and "
                    "cannot be re-issued: create a new asset.",
                    **common,
                )
            if 400 <= status < 500 and status != 429:
                return PlatformRequestError(
                    f"Topsort: the upload to storage answered {status} ({code}{said}). The form fields must be "
                    "sent unchanged with the file last.",
                    **common,
                )
            return super().error_for(call, response)
        if status == 401 or key in _AUTH_CODES:
            return PlatformAuthError(
                f"Topsort: {where} answered {status}{said}. The API key of connection {self.conn_id!r} is missing, "
                "invalid, expired or revoked, and Topsort keys cannot be refreshed: generate a new Advanced API "
                "key in Topsort (Settings > API Integration) and replace the connection's Password with it.",
                **common,
            )
        if status == 403:
            return PlatformAuthError(
                f"Topsort: {where} answered 403 (forbidden){said}. The API key of connection {self.conn_id!r} "
                "may be the wrong kind (the Assets API needs an Advanced API key) or the vendor/asset belongs to "
                "another marketplace: check the key and the vendor_id extra.",
                **common,
            )
        if status == 404:
            return PlatformRequestError(
                f"Topsort: {where} answered 404 (not found){said}. The asset id is unknown or belongs to another "
                "vendor of this key, or the path is wrong (Topsort answers 404 to a trailing slash).",
                **common,
            )
        if status == 422:
            return PlatformRequestError(
                f"Topsort: {where} answered 422 (the request does not match the model){said}. Fix the named "
                f"fields: name at most {MAX_NAME} characters, lists at most {MAX_ARRAY_ITEMS} items, metadata "
                f"keys {MAX_METADATA_KEY} / values {MAX_METADATA_VALUE} characters, a known mimetype, "
                "vendor_id set, list limit 1 to 100.",
                **common,
            )
        if key == "request_canceled" and status < 500:
            cls = PlatformUnavailable if call.is_idempotent else UncertainOutcome
            return cls(f"Topsort: {where} was canceled by Topsort ({status}){said}.", **common)
        if key in _REQUEST_CODES or status == 400:
            return PlatformRequestError(
                f"Topsort: {where} answered {status} ({code or 'bad request'}){said}. The request is malformed; "
                "it is not repeated.",
                **common,
            )
        return super().error_for(call, response)
