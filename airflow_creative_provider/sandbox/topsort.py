"""Topsort Assets API simulator (contract ``platforms/topsort.md``), mounted under ``/topsort``.

What it enforces, strictly:

* ``Authorization: Bearer <key>`` on every API route; a missing or unknown key answers 401
  (``auth_status`` 403 on option) in the configured error shape; a key of the wrong kind
  (a Marketplace key) answers 403. Each key belongs to one marketplace: another
  marketplace's asset is 404.
* Create (``POST /public/v1/assets/asset?vendor_id=``): ``vendor_id`` required; name at most
  64 characters, arrays at most 10 items, metadata keys 32 / values 64 characters, the
  mimetype enum, ``externalUrl`` 1-2083 characters; unknown fields refused: 422 with the error
  array. 201 with ``status=pending_upload``, ``url=null``. Non-video: a presigned S3 POST on the
  sandbox S3 (``key``, ``policy``, ``x-amz-*`` fields) expiring 30 minutes after create. Video:
  ``fields={}`` and an upload URL that takes only the bare multipart ``file`` part.
  External assets: ``isExternal=true``, ``fields={}``, nothing to upload.
* Uploads: the S3 guard checks the POST policy (every field, file last, expiry: 403 XML
  ``AccessDenied``); the video URL checks its token and the same 30-minute window.
  Success 204 (``upload_success_status`` 201 on option).
* States: ``pending_upload`` until the file arrives (never-uploaded assets stay there), then
  ``pending_approval``, then ``approved`` (``url`` set only then) after the processing speed of
  ``state.speeds["topsort"]`` (``"topsort:video"`` for video when set). Content whose magic
  bytes differ from the declared mimetype, or an image that does not decode, ends in
  ``upload_error``; ``state.outcomes`` can force ``rejected``/``upload_error`` by name.
* List: filters, ``limit`` 1-100 (else 422), opaque ``nextPage`` cursor with ``hasMore``.
* 45 requests per 2 s (``rate_limit``; ``SANDBOX_PROFILE`` is 5 / 2 s) with
  ``X-RateLimit-Limit/-Remaining/-Reset`` on every API response, 429 with the error array.
* Unknown routes and trailing slashes: 404, no redirect.

Options live in ``config(state)`` (reset with the sandbox): ``error_shape`` (``array`` |
``object``), ``auth_status`` (401 | 403), ``rate_limit``, ``reset_header`` (``epoch`` |
``seconds``), ``upload_success_status`` (204 | 201), ``upload_window``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from airflow_creative_provider.creative import sniff_mimetype
from airflow_creative_provider.sandbox.s3 import bucket_for
from airflow_creative_provider.sandbox.state import ConnectionSpec, SandboxState

PLATFORM = "topsort"
VENDOR_ID = "vendor-sandbox"
#: Advanced key of the sandbox marketplace (what ``connection()`` hands out).
API_KEY = "ts_adv_sbx_4f7d1c0a9e3b48e2b6d5c8a17f02e9d3"
#: Advanced key of another marketplace: its assets are invisible (404) to ``API_KEY``.
OTHER_MARKETPLACE_KEY = "ts_adv_oth_0b2e6a9d4c1f47a8935e7d2c6b1a8f40"
#: Marketplace (auction) key: the wrong kind for the Assets API (403).
MARKETPLACE_KEY = "ts_mkt_sbx_7a3e9c2d5b8f41d6a0e4c7b9d2f51e86"
KEYS: dict[str, tuple[str, str]] = {
    API_KEY: ("marketplace-sandbox", "advanced"),
    OTHER_MARKETPLACE_KEY: ("marketplace-other", "advanced"),
    MARKETPLACE_KEY: ("marketplace-sandbox", "marketplace"),
}
MIMETYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "text/html",
    "video/mp4",
    "video/quicktime",
    "application/json",
)
STATUSES = ("pending_upload", "pending_approval", "upload_error", "approved", "rejected")
CREATE_FIELDS = ("name", "mimetype", "productIds", "brands", "collectionIds", "metadata", "externalUrl")
DOC_URL = "https://docs.topsort.com/en/api-reference/errors"
DEFAULT_RATE_LIMIT = (45, 2.0)
SANDBOX_PROFILE = (5, 2.0)
_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "invalid_api_key",
    404: "not_found",
    422: "bad_request",
    429: "too_many_requests",
}


@dataclass
class TopsortConfig:
    """Behaviour switches of the simulator (see the module docstring)."""

    error_shape: str = "array"
    auth_status: int = 401
    rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT
    reset_header: str = "epoch"
    upload_success_status: int = 204
    upload_window: float = 30 * 60


@dataclass
class _RateWindow:
    stamps: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


def config(state: SandboxState) -> TopsortConfig:
    """The live options of the Topsort simulator (back to defaults on every sandbox reset)."""
    return state.store(PLATFORM).setdefault("config", TopsortConfig())


def _assets(state: SandboxState) -> dict[str, dict[str, Any]]:
    return state.store(PLATFORM).setdefault("assets", {})


def _code_for(status: int) -> str:
    return _CODES.get(status, "internal_server_error" if status >= 500 else "bad_request")


def error_body(status: int, code: str, message: str, shape: str = "array") -> Any:
    """An error in one of Topsort's two shapes."""
    if shape == "object":
        return {"error": HTTPStatus(status).phrase, "message": message}
    return [{"errCode": code, "docUrl": f"{DOC_URL}#{code}", "message": message}]


def fault_response(status: int, message: str) -> Response:
    """Injected faults answer in Topsort's documented error array."""
    return JSONResponse(error_body(status, _code_for(status), message), status_code=status)


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>sandbox</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def connection(state: SandboxState) -> ConnectionSpec:
    return ConnectionSpec(
        conn_id="topsort_default",
        conn_type="topsort",
        host=state.platform_url(PLATFORM),
        password=API_KEY,
        extra={"vendor_id": VENDOR_ID},
    )


#: the vendor of ``topsort_second`` (any vendor id is accepted: the marketplace owns its vendors).
SECOND_VENDOR_ID = "vendor-sandbox-other"


def extra_connections(state: SandboxState) -> list[ConnectionSpec]:
    """``topsort_second``: a vendor of the other marketplace, through that marketplace's key (another account)."""
    spec = connection(state)
    return [
        ConnectionSpec(
            conn_id="topsort_second",
            conn_type=spec.conn_type,
            host=spec.host,
            password=OTHER_MARKETPLACE_KEY,
            extra={"vendor_id": SECOND_VENDOR_ID},
        )
    ]


def build_router(state: SandboxState) -> APIRouter:
    def error(status: int, message: str, code: str | None = None) -> JSONResponse:
        body = error_body(status, code or _code_for(status), message, config(state).error_shape)
        return JSONResponse(body, status_code=status)

    def take_rate() -> tuple[bool, dict[str, str]]:
        calls, period = config(state).rate_limit
        window: _RateWindow = state.store(PLATFORM).setdefault("rate", _RateWindow())
        with window.lock:
            now = time.time()
            while window.stamps and now - window.stamps[0] >= period:
                window.stamps.popleft()
            allowed = len(window.stamps) < calls
            if allowed:
                window.stamps.append(now)
            reset_at = (window.stamps[0] + period) if window.stamps else now + period
            remaining = calls - len(window.stamps)
        reset = f"{reset_at:.3f}" if config(state).reset_header == "epoch" else f"{max(0.0, reset_at - now):.3f}"
        return allowed, {
            "X-RateLimit-Limit": str(calls),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset,
        }

    class TopsortRoute(APIRoute):
        """Every API route: rate limit first (IP-based), ``X-RateLimit-*`` on every answer."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                allowed, headers = take_rate()
                if allowed:
                    response = await handler(request)
                else:
                    response = error(429, "Too many requests: the limit is per IP; retry after X-RateLimit-Reset.")
                response.headers.update(headers)
                return response

            return limited

    def authenticate(request: Request) -> tuple[str | None, Response | None]:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        found = KEYS.get(key.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            status = config(state).auth_status
            return None, error(status, "Invalid or missing API key", "invalid_api_key")
        marketplace, kind = found
        if kind != "advanced":
            return None, error(403, "Insufficient permissions: the Assets API needs an Advanced API key", "forbidden")
        return marketplace, None

    def public(asset: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": asset["id"],
            "name": asset["name"],
            "status": asset["status"],
            "productIds": asset["productIds"],
            "brands": asset["brands"],
            "metadata": asset["metadata"],
            "isExternal": asset["isExternal"],
            "collections": asset["collections"],
            "mimetype": asset["mimetype"],
            "url": asset["url"] if asset["status"] == "approved" else None,
        }

    def uploaded(asset: dict[str, Any]) -> bool:
        if asset["video"]:
            return bool(asset.get("uploaded"))
        return state.s3.head(PLATFORM, asset["key"]) is not None

    def verdict(asset: dict[str, Any]) -> str:
        """``approved`` when the stored bytes are what the asset declares, else ``upload_error``."""
        head = state.s3.read_head(PLATFORM, asset["key"], 64)
        if head is None:  # an unreadable object is an upload error
            return "upload_error"
        sniffed = sniff_mimetype(head)
        declared = asset["mimetype"]
        if sniffed is None or (declared is not None and sniffed != declared):
            return "upload_error"
        if sniffed.startswith("image/"):
            from PIL import Image

            data = state.s3.get(PLATFORM, asset["key"]) or b""
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
            except Exception:  # noqa: BLE001 - Pillow raises many types for broken files
                return "upload_error"
        return "approved"

    def advance(asset: dict[str, Any]) -> None:
        """Move the asset along its states as a read observes it."""
        if asset["status"] == "pending_upload":
            if asset["isExternal"]:
                # Assumption: the docs leave an external asset's states unconfirmed; the sandbox
                # passes it through pending_approval to approved (``state.outcomes`` can force others).
                asset["verdict"] = "approved"
            elif uploaded(asset):
                asset["verdict"] = verdict(asset)
            else:
                return
            asset["status"] = "pending_approval"
            job = f"{PLATFORM}:video" if asset["video"] and f"{PLATFORM}:video" in state.speeds else PLATFORM
            asset["job"] = job
            state.start_job(job, asset["id"])
            return
        if asset["status"] == "pending_approval" and state.poll_job(asset["job"], asset["id"]):
            forced = state.forced_outcome(PLATFORM, asset["name"])
            outcome = forced.outcome if forced else asset["verdict"]
            asset["status"] = outcome if outcome in STATUSES else "rejected"
            if asset["status"] == "approved":
                asset["url"] = asset["externalUrl"] or f"{state.platform_url(PLATFORM)}/_assets/{asset['id']}"

    def validate_create(body: Any, vendor_id: str | None) -> list[str]:
        problems = []
        if not vendor_id:
            problems.append("query.vendor_id: field required")
        if not isinstance(body, dict):
            return [*problems, "body: must be a JSON object"]
        problems += [f"body.{k}: extra fields not permitted" for k in body if k not in CREATE_FIELDS]
        name = body.get("name")
        if not isinstance(name, str):
            problems.append("body.name: field required (string)")
        elif len(name) > 64:
            problems.append("body.name: ensure this value has at most 64 characters")
        mimetype = body.get("mimetype")
        if mimetype is not None and mimetype not in MIMETYPES:
            problems.append(
                f"body.mimetype: value is not a valid enumeration member; permitted: {', '.join(MIMETYPES)}"
            )
        for key in ("productIds", "brands", "collectionIds"):
            value = body.get(key)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"body.{key}: value is not a valid list of strings")
            elif len(value) > 10:
                problems.append(f"body.{key}: ensure this value has at most 10 items")
        metadata = body.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, dict):
                problems.append("body.metadata: value is not a valid dict")
            else:
                for key, value in metadata.items():
                    if len(key) > 32:
                        problems.append(f"body.metadata.{key}: keys have at most 32 characters")
                    if not isinstance(value, str) or len(value) > 64:
                        problems.append(f"body.metadata.{key}: values are strings of at most 64 characters")
        url = body.get("externalUrl")
        if url is not None and (
            not isinstance(url, str) or not 1 <= len(url) <= 2083 or not url.startswith(("http://", "https://"))
        ):
            problems.append("body.externalUrl: invalid or empty URL, or longer than 2083 characters")
        return problems

    api = APIRouter(route_class=TopsortRoute)

    @api.post("/public/v1/assets/asset")
    async def create_asset(request: Request) -> Response:
        marketplace, denied = authenticate(request)
        if denied:
            return denied
        raw = await request.body()
        if not raw.strip():
            return error(400, "The request body is empty", "empty_request")
        try:
            body = json.loads(raw)
        except ValueError:
            return error(400, "The request body is not valid JSON", "invalid_json")
        vendor_id = request.query_params.get("vendor_id")
        problems = validate_create(body, vendor_id)
        if problems:
            return error(422, "; ".join(problems))
        cfg = config(state)
        asset_id = str(uuid.uuid4())
        mimetype = body.get("mimetype")
        external = body.get("externalUrl")
        key = f"{marketplace}/{vendor_id}/{asset_id}"
        asset: dict[str, Any] = {
            "id": asset_id,
            "marketplace": marketplace,
            "vendor_id": vendor_id,
            "name": body["name"],
            "mimetype": mimetype,
            "productIds": body.get("productIds") or [],
            "brands": body.get("brands") or [],
            "collections": body.get("collectionIds") or [],
            "metadata": body.get("metadata") or {},
            "isExternal": external is not None,
            "externalUrl": external,
            "status": "pending_upload",
            "url": None,
            "key": key,
            "video": bool(mimetype and mimetype.startswith("video/")),
            "expires": state.now() + cfg.upload_window,
            "token": secrets.token_urlsafe(24),
        }
        with state.lock:
            _assets(state)[asset_id] = asset
        answer = {k: v for k, v in public(asset).items() if k != "collections"}
        if external is not None:
            answer["fields"] = {}
        elif asset["video"]:
            answer["fields"] = {}
            answer["uploadUrl"] = f"{state.platform_url(PLATFORM)}/_upload/{asset_id}?token={asset['token']}"
        else:
            extra = {"success_action_status": "201"} if cfg.upload_success_status == 201 else None
            post = state.s3.presign_post(
                PLATFORM, key, expires=int(cfg.upload_window + state.clock_offset), fields=extra
            )
            answer["fields"] = post["fields"]
            answer["uploadUrl"] = post["url"]
        request.state.remote_id = asset_id
        return JSONResponse(answer, status_code=201)

    @api.get("/public/v1/assets/asset/{asset_id}")
    async def get_asset(asset_id: str, request: Request) -> Response:
        marketplace, denied = authenticate(request)
        if denied:
            return denied
        with state.lock:
            asset = _assets(state).get(asset_id)
            if asset is None or asset["marketplace"] != marketplace:
                return error(404, f"Asset {asset_id} not found")
            advance(asset)
            return JSONResponse(public(asset))

    @api.get("/public/v1/assets/assets")
    async def list_assets(request: Request) -> Response:
        marketplace, denied = authenticate(request)
        if denied:
            return denied
        query = request.query_params
        problems = []
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            problems.append("query.limit: must be an integer from 1 to 100")
        status, mimetype = query.get("status"), query.get("mimetype")
        if status is not None and status not in STATUSES:
            problems.append(f"query.status: not one of {', '.join(STATUSES)}")
        if mimetype is not None and mimetype not in MIMETYPES:
            problems.append(f"query.mimetype: not one of {', '.join(MIMETYPES)}")
        if problems:
            return error(422, "; ".join(problems))
        ids = {i for value in query.getlist("asset_ids") for i in value.split(",") if i}
        filters = (
            query.get("vendor_id"),
            query.get("collection_name"),
            query.get("brand"),
            mimetype,
            status,
            tuple(sorted(ids)),
        )
        cursors: dict[str, tuple[Any, int]] = state.store(PLATFORM).setdefault("cursors", {})
        offset = 0
        if query.get("next_page") is not None:
            saved = cursors.get(query["next_page"])
            if saved is None or saved[0] != (marketplace, filters):
                return error(400, "next_page is not a cursor of this listing", "bad_request")
            offset = saved[1]
        with state.lock:
            matching = []
            for asset in _assets(state).values():
                if asset["marketplace"] != marketplace:
                    continue
                advance(asset)
                vendor, collection, brand = filters[:3]
                if (
                    (vendor and asset["vendor_id"] != vendor)
                    or (collection and collection not in asset["collections"])
                    or (brand and brand not in asset["brands"])
                    or (mimetype and asset["mimetype"] != mimetype)
                    or (status and asset["status"] != status)
                    or (ids and asset["id"] not in ids)
                ):
                    continue
                matching.append(public(asset))
        page = matching[offset : offset + limit]
        answer: dict[str, Any] = {"assets": page, "hasMore": offset + limit < len(matching)}
        if answer["hasMore"]:
            cursor = secrets.token_urlsafe(12)
            cursors[cursor] = ((marketplace, filters), offset + limit)
            answer["nextPage"] = cursor
        return JSONResponse(answer)

    @api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def not_found(path: str) -> Response:
        return error(404, f"Not found: /{path} (paths take no trailing slash)")

    storage = APIRouter()

    @storage.post("/_upload/{asset_id}")
    async def upload_video(asset_id: str, request: Request) -> Response:
        """The video upload URL: bare multipart with only the ``file`` part, within the window."""
        asset = _assets(state).get(asset_id)
        token = request.query_params.get("token", "")
        if asset is None or not asset["video"] or not hmac.compare_digest(token, asset["token"]):
            return _xml_error(403, "AccessDenied", "Access Denied")
        fault_path = f"/s3/{bucket_for(PLATFORM)}/{asset['key']}"
        expired = state.faults.take(PLATFORM, "POST", fault_path, kinds=("expire_url",)) is not None
        if expired or state.now() > asset["expires"]:
            return _xml_error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        if "multipart/form-data" not in request.headers.get("content-type", ""):
            return _xml_error(400, "InvalidArgument", "Uploads must be multipart/form-data")
        form = await request.form()
        items = list(form.multi_items())
        if [name for name, _ in items] != ["file"] or isinstance(items[0][1], str):
            return _xml_error(400, "InvalidArgument", "Video uploads take exactly one part: the file, named 'file'")
        upload = items[0][1]
        digest = hashlib.sha256()
        data = io.BytesIO()
        while chunk := await upload.read(1024 * 1024):
            digest.update(chunk)
            data.write(chunk)
        await form.close()
        data.seek(0)
        state.s3.client.put_object(Bucket=state.s3.ensure_bucket(PLATFORM), Key=asset["key"], Body=data)
        asset["uploaded"] = True
        request.state.sha256 = digest.hexdigest()
        request.state.remote_id = asset_id
        return Response(status_code=config(state).upload_success_status)

    @storage.get("/_assets/{asset_id}")
    async def asset_file(asset_id: str) -> Response:
        """Where an approved asset's ``url`` points (Topsort's CDN)."""
        asset = _assets(state).get(asset_id)
        if asset is None or asset["status"] != "approved" or asset["isExternal"]:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(state.s3.get(PLATFORM, asset["key"]) or b"", media_type=asset["mimetype"])

    router = APIRouter()
    router.include_router(storage)
    router.include_router(api)
    return router
