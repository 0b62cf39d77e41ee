"""Sandbox of MediaMath's Component Creatives API v1.0 (``platforms/mediamath.md``).

Served under ``/mediamath``: the OAuth token endpoint (``/mediamath/oauth/token``, where the
sandbox connection's ``auth_url`` points), the T1 ``/api/v2.0/session`` and
``/api/v2.0/login`` endpoints, and ``/component_creatives/v1.0/...``.

What it enforces (the contract's checklist):

* 401 ``Authorization required.`` without a valid ``adama_session`` cookie (a header named
  ``adama_session``, as the vendor samples show, is not a cookie); tokens and sessions
  expire (86400 s by default; ``store("mediamath")["token_ttl"|"session_ttl"]`` change it);
* ``page_limit`` 1..100 and ``page_offset`` >= 0, else 400 with ``errors[]``; ``meta`` has
  ``count``, ``offset``, ``total_count`` and an internal-host ``next_page``;
* ``assets`` must be a JSON-encoded string; base64 images are decoded (Pillow) for real
  width, height and size and stored in the sandbox S3 (``image_url``);
* an update with ``assets`` replaces every asset except the ``{asset_id}`` ones listed;
* ``POST /assets`` needs ``advertiser_id`` or ``creative_ids`` (one advertiser), JSON or
  multipart; a Video asset's value must be the bare URL of an uploaded object;
* ``/upload/{filename}`` refuses the seed's forbidden characters (there only: image and subtitle
  file names in JSON bodies take any character) and presigns a PUT that expires after
  60 s (``store("mediamath")["upload_ttl"]``);
* approvals take at most 50 ids, move PENDING -> APPROVED or REJECTED after the configured
  processing speed (``state.forced_outcome("mediamath", creative_name)`` forces ``rejected``
  with a reason, ``pending``, or ``not_submitted``: the approval stays ``N/A``, as for a
  creative nobody submitted), and answer N/A for unknown ids;
* 404 ``Creative not found``; injected faults answer in the ``{meta}`` error shape.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from airflow_creative_provider.sandbox.state import ConnectionSpec, SandboxState

PLATFORM = "mediamath"
API = "/component_creatives/v1.0"
AUDIENCE = "https://api.mediamath.com/"
USER = "sandbox-user@example.com"
PASSWORD = "sandbox-t1-password"
CLIENT_ID = "sandbox-mediamath-client"
CLIENT_SECRET = "sandbox-mediamath-client-secret"
API_KEY = "sandbox-mediamath-api-key"
DEFAULT_ADVERTISER = 100178
ADVERTISERS = {100178: "Brooklyn Bubblegum Co.", 166476: "000Adam Test Advertiser"}
CONCEPTS = {1432620: (100178, "LVR_US_IN_New Collection"), 123508: (166476, "NDAR - Native Creative")}
FORBIDDEN = "{}^/\\[]~<>|#%'\"`"
SORT_FIELDS = (
    "atomic_creative_id",
    "advertiser_id",
    "advertiser_name",
    "concept_name",
    "start_date",
    "end_date",
    "concept_id",
    "creative_name",
    "last_modified",
    "external_identifier",
)
COMPONENTS: dict[int, tuple[str, str]] = {
    1: ("Call to Action", "TEXT"),
    2: ("Image", "IMAGE"),
    3: ("Page ID", "TEXT"),
    4: ("Destination URL", "TEXT"),
    5: ("View Tag", "TEXT"),
    6: ("Body", "TEXT"),
    7: ("Title", "TEXT"),
    9: ("Display URL", "TEXT"),
    10: ("Description", "TEXT"),
    11: ("Video", "VIDEO"),
    12: ("Subtitle", "SUBTITLE"),
    13: ("Brand Name(sponsored by)", "TEXT"),
    14: ("3PAS Click Tracking URL", "TEXT"),
    16: ("3PAS Impression Tracking URL", "TEXT"),
    21: ("Logo", "IMAGE"),
}
#: ad formats of the eligibility answer: (external id, name, supplier, required, optional components).
AD_FORMATS = (
    ("NATIVE_DESKTOP_0", "Native desktop", "sharethrough", (7, 2, 4), (6, 13, 21)),
    ("NATIVE_MOBILE_0", "Native mobile", "triplelift", (7, 2, 4, 13), (6, 21)),
    ("INSTREAM_VIDEO_DESKTOP", "In-stream video desktop", "triplelift", (7, 11, 4), (12,)),
)
IMAGE_FORMATS = {"PNG", "JPEG", "GIF"}
UPLOAD_BUCKET_HOST = "mm-component-creative"


# ----------------------------------------------------------------------------- shapes
def _now_iso(state: SandboxState) -> str:
    return dt.datetime.fromtimestamp(state.now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ok(data: Any, kind: str, *, code: int = 200, status: str = "success", **meta: Any) -> JSONResponse:
    return JSONResponse({"data": data, "meta": {"code": code, "status": status, "type": kind, **meta}}, code)


def error(code: int, message: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"meta": {"code": code, "status": "error", "type": "error", "message": message}}
    if errors is not None:
        body["meta"].pop("type")
        body["errors"] = errors
    return JSONResponse(body, code)


def invalid(param: str, msg: str, *, location: str | None = None, value: Any = None) -> JSONResponse:
    item: dict[str, Any] = {"param": param, "msg": msg}
    if location:
        item["location"] = location
    if value is not None:
        item["value"] = str(value)
    return error(400, "Validation Error", [item])


def business(message: str) -> JSONResponse:
    return error(400, f"t1_api: Validation errors: {message}")


def t1_error(code: int, status: str, message: str) -> JSONResponse:
    """The T1 core API's error shape (``/api/v2.0/session`` and ``/login``)."""
    return JSONResponse({"errors": [{"message": message}], "meta": {"status": status}}, code)


def fault_response(status: int, message: str) -> Response:
    return error(status, message)


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _int(value: Any, param: str, *, location: str = "body") -> int:
    if isinstance(value, bool):
        raise _Refused(invalid(param, "must be an Integer", location=location, value=value))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _Refused(invalid(param, "must be an Integer", location=location, value=value))


# ----------------------------------------------------------------------------- store
def _db(state: SandboxState) -> dict[str, Any]:
    store = state.store(PLATFORM)
    store.setdefault("creatives", {})
    store.setdefault("assets", {})
    store.setdefault("uploads", set())
    store.setdefault("next_creative", 3200795)
    store.setdefault("next_asset", 1537)
    return store


def _setting(state: SandboxState, name: str, default: float) -> float:
    return float(state.store(PLATFORM).get(name, default))


def _asset_view(asset: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in asset.items() if not k.startswith("_")}


def _creative_view(db: dict[str, Any], creative: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in creative.items() if not k.startswith("_")}
    view["assets"] = [_asset_view(db["assets"][i]) for i in creative["_asset_ids"] if i in db["assets"]]
    return view


def _required_name(name: Any, param: str) -> str:
    """A file name in a JSON body: required; the seed documents no character limit there."""
    if not isinstance(name, str) or not name:
        raise _Refused(invalid(param, "required"))
    return name


def _check_filename(name: Any, param: str, location: str = "body") -> str:
    """The ``/upload/{filename}`` path: the seed forbids ``{}^/`[]~<>|#%'"`` there only."""
    if not isinstance(name, str) or not name:
        raise _Refused(invalid(param, "required", location=location))
    bad = sorted({ch for ch in name if ch in FORBIDDEN})
    if bad:
        why = f"cannot include any of the following characters: {FORBIDDEN}"
        raise _Refused(invalid(param, why, location=location, value=name))
    return name


def _store_object(state: SandboxState, request: Request, filename: str, content: bytes) -> str:
    key = f"{int(state.now() * 1000)}_{secrets.token_hex(16)}_{filename}"
    s3 = state.s3
    s3.put(PLATFORM, key, content)
    request.state.sha256 = hashlib.sha256(content).hexdigest()
    return s3.object_url(PLATFORM, key)


def _image_asset(
    state: SandboxState,
    request: Request,
    db: dict[str, Any],
    *,
    component_id: int,
    advertiser_id: int,
    filename: str | None,
    content: bytes,
) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    name = _required_name(filename, "image_filename")
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
            fmt = image.format
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _Refused(invalid("asset_value", "is not a valid image file", value=name)) from None
    if fmt not in IMAGE_FORMATS:
        raise _Refused(invalid("asset_value", f"image type {fmt} is not supported (PNG, JPEG, GIF)", value=name))
    url = _store_object(state, request, name, content)
    return _new_asset(
        state,
        db,
        component_id=component_id,
        advertiser_id=advertiser_id,
        asset_type="image",
        values={
            "image_filename": name,
            "image_url": url,
            "image_width": width,
            "image_height": height,
            "image_file_size": len(content),
        },
    )


def _new_asset(
    state: SandboxState,
    db: dict[str, Any],
    *,
    component_id: int,
    advertiser_id: int,
    asset_type: str,
    values: dict[str, Any],
) -> dict[str, Any]:
    asset_id = db["next_asset"]
    db["next_asset"] += 1
    now = _now_iso(state)
    asset = {
        "asset_id": asset_id,
        "asset_type": asset_type,
        "asset_name": None,
        "advertiser_id": advertiser_id,
        "component_id": component_id,
        "component_human_name": COMPONENTS[component_id][0],
        "created_at": now,
        "updated_at": now,
        **values,
    }
    db["assets"][asset_id] = asset
    return asset


def _decode_base64(value: Any, param: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _Refused(invalid(param, "required"))
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused(invalid(param, "must be base64 encoded")) from None


def _parse_assets(state: SandboxState, request: Request, db: dict[str, Any], raw: Any, advertiser_id: int) -> list[int]:
    """The ``assets`` JSON string -> asset ids (existing ones kept, new ones created)."""
    if not isinstance(raw, str):
        raise _Refused(invalid("assets", "must be a JSON-encoded string of an array of assets"))
    try:
        items = json.loads(raw)
    except ValueError:
        raise _Refused(invalid("assets", "is not valid JSON")) from None
    if not isinstance(items, list):
        raise _Refused(invalid("assets", "must be a JSON-encoded string of an array of assets"))
    ids: list[int] = []
    for item in items:
        if not isinstance(item, dict):
            raise _Refused(invalid("assets", "each asset must be an object"))
        if "asset_id" in item:
            asset_id = _int(item["asset_id"], "asset_id")
            asset = db["assets"].get(asset_id)
            if asset is None:
                raise _Refused(business(f"Asset {asset_id} not found"))
            if asset["advertiser_id"] != advertiser_id:
                raise _Refused(business(f"Asset {asset_id} not associated with advertiser {advertiser_id}"))
            ids.append(asset_id)
        elif "encoded_image_file" in item:
            content = _decode_base64(item["encoded_image_file"], "encoded_image_file")
            asset = _image_asset(
                state,
                request,
                db,
                component_id=2,
                advertiser_id=advertiser_id,
                filename=item.get("image_filename") or item.get("image_name"),
                content=content,
            )
            ids.append(asset["asset_id"])
        elif "encoded_subtitle_file" in item:
            content = _decode_base64(item["encoded_subtitle_file"], "encoded_subtitle_file")
            name = _required_name(item.get("subtitle_filename"), "subtitle_filename")
            url = _store_object(state, request, name, content)
            asset = _new_asset(
                state,
                db,
                component_id=12,
                advertiser_id=advertiser_id,
                asset_type="subtitle",
                values={"subtitle_filename": name, "subtitle_url": url},
            )
            ids.append(asset["asset_id"])
        else:
            why = "unknown asset: give asset_id, encoded_image_file or encoded_subtitle_file"
            raise _Refused(invalid("assets", why))
    return ids


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise _Refused(invalid("body", "must be valid JSON")) from None
    if not isinstance(body, dict):
        raise _Refused(invalid("body", "must be a JSON object"))
    return body


# ----------------------------------------------------------------------------- router
def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    def session_valid(request: Request) -> bool:
        session = request.cookies.get("adama_session")
        return session is not None and session.startswith("sess_") and state.token_valid(PLATFORM, session)

    def authorised(handler: Any) -> Any:
        import functools
        import inspect

        @functools.wraps(handler)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs["request"]
            if not session_valid(request):
                return error(401, "Authorization required.")
            try:
                result = handler(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                return result
            except _Refused as refused:
                return refused.response

        return wrapper

    def open_session(user: str) -> JSONResponse:
        ttl = _setting(state, "session_ttl", 86400)
        session = state.issue_token(PLATFORM, ttl, prefix="sess_")
        now = state.now()
        body = {
            "data": {
                "session": {"sessionid": session, "current_time": int(now), "expires": int(now + ttl)},
                "entity_type": "user",
                "id": 1,
                "name": user,
            },
            "meta": {"status": "ok"},
        }
        response = JSONResponse(body, 200)
        response.set_cookie("adama_session", session, max_age=int(ttl), httponly=True)
        return response

    # -- auth ------------------------------------------------------------------
    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "invalid_request", "error_description": "JSON body required"}, 400)
        grant = body.get("grant_type")
        if grant not in ("password", "http://auth0.com/oauth/grant-type/password-realm"):
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "Unsupported grant"}, 403)
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "access_denied", "error_description": "Unauthorized"}, 401)
        if body.get("audience") != AUDIENCE:
            return JSONResponse(
                {"error": "access_denied", "error_description": "Service not found: " + str(body.get("audience"))},
                403,
            )
        if body.get("username") != USER or body.get("password") != PASSWORD:
            return JSONResponse({"error": "invalid_grant", "error_description": "Wrong email or password."}, 403)
        ttl = _setting(state, "token_ttl", 86400)
        access = state.issue_token(PLATFORM, ttl, prefix="tok_")
        return JSONResponse({"access_token": access, "expires_in": int(ttl), "token_type": "Bearer"})

    @router.get("/api/v2.0/session")
    def session(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        if not (bearer and bearer.startswith("tok_") and state.token_valid(PLATFORM, bearer)):
            return t1_error(401, "auth_error", "Authentication required")
        return open_session(USER)

    @router.post("/api/v2.0/login")
    async def login(request: Request) -> Response:
        if request.query_params.get("api_key") != API_KEY:
            return t1_error(403, "auth_error", "Invalid api_key")
        form = await request.form()
        if form.get("user") != USER or form.get("password") != PASSWORD:
            return t1_error(401, "auth_error", "Invalid username or password")
        return open_session(USER)

    # -- creatives ---------------------------------------------------------------
    @router.get(f"{API}/creatives")
    @authorised
    def list_creatives(request: Request) -> Response:
        query = request.query_params
        limit_raw = query.get("page_limit", "20")
        if not re.fullmatch(r"\d+", limit_raw) or not 1 <= int(limit_raw) <= 100:
            return invalid("page_limit", "must be an Integer between 1 and 100", location="query", value=limit_raw)
        offset_raw = query.get("page_offset", "0")
        if not re.fullmatch(r"\d+", offset_raw):
            why = "must be an Integer greater than or equal to 0"
            return invalid("page_offset", why, location="query", value=offset_raw)
        limit, offset = int(limit_raw), int(offset_raw)
        db = _db(state)
        items = [_creative_view(db, c) for c in db["creatives"].values()]
        if "advertiser_id" in query:
            advertiser = _int(query["advertiser_id"], "advertiser_id", location="query")
            items = [c for c in items if c["advertiser_id"] == advertiser]
        if "status" in query:
            if query["status"] not in ("0", "1"):
                return invalid("status", "must be 0 or 1", location="query", value=query["status"])
            items = [c for c in items if c["status"] == query["status"]]
        sort_by = query.get("sort_by")
        if sort_by is not None:
            if sort_by not in SORT_FIELDS:
                return invalid("sort_by", f"must be one of {', '.join(SORT_FIELDS)}", location="query", value=sort_by)
            items.sort(key=lambda c: (c.get(sort_by) is None, str(c.get(sort_by) or "").zfill(20)))
        page = items[offset : offset + limit]
        next_page = None
        if offset + len(page) < len(items):
            next_page = (
                "http://component-creative-api.prod.cbe.mediamath.com/v1.0/creatives"
                f"?page_offset={offset + len(page)}&page_limit={limit}"
            )
        return ok(page, "creatives", count=len(page), offset=offset, total_count=len(items), next_page=next_page)

    @router.post(f"{API}/creatives")
    @authorised
    async def create_creative(request: Request) -> Response:
        body = await _json_body(request)
        db = _db(state)
        name = body.get("creative_name")
        if not isinstance(name, str) or not name.strip():
            return invalid("creative_name", "required")
        if "advertiser_id" not in body:
            return invalid("advertiser_id", "required")
        advertiser = _int(body["advertiser_id"], "advertiser_id")
        if advertiser not in ADVERTISERS:
            return business(f"Advertiser {advertiser} not found")
        concept_id = None
        if body.get("concept_id") not in (None, ""):
            concept_id = _int(body["concept_id"], "concept_id")
            if CONCEPTS.get(concept_id, (None,))[0] != advertiser:
                return business(f"Concept {concept_id} not associated with advertiser {advertiser}")
        if ("start_date" in body) != ("end_date" in body):
            return invalid("end_date" if "start_date" in body else "start_date", "start_date and end_date go together")
        status = body.get("status", 1)
        if str(status).lower() not in ("0", "1", "true", "false"):
            return invalid("status", "must be 0 or 1", value=status)
        asset_ids = _parse_assets(state, request, db, body["assets"], advertiser) if "assets" in body else []
        creative_id = db["next_creative"]
        db["next_creative"] += 1
        now = _now_iso(state)
        creative = {
            "atomic_creative_id": creative_id,
            "creative_id": creative_id - 3200534,
            "creative_name": name,
            "advertiser_id": advertiser,
            "advertiser_name": ADVERTISERS[advertiser],
            "external_identifier": str(body.get("external_identifier") or "NA"),
            "status": "1" if str(status).lower() in ("1", "true") else "0",
            "unpublished": False,
            "created_at": now,
            "updated_at": now,
            "last_modified": now[:19],
            "last_published": now,
            "_asset_ids": asset_ids,
            "_approval": "PENDING",
            "_reason": "",
        }
        if concept_id is not None:
            creative["concept_id"] = str(concept_id)
            creative["concept_name"] = CONCEPTS[concept_id][1]
        if "start_date" in body:
            creative["start_date"], creative["end_date"] = body["start_date"], body["end_date"]
        db["creatives"][creative_id] = creative
        state.start_job(PLATFORM, str(creative_id))
        request.state.remote_id = str(creative_id)
        return ok(_creative_view(db, creative), "creative", code=201, status="created")

    def find_creative(raw: str) -> dict[str, Any]:
        if not re.fullmatch(r"\d+", raw):
            raise _Refused(invalid("atomic_creative_id", "must be an Integer", location="path", value=raw))
        creative = _db(state)["creatives"].get(int(raw))
        if creative is None:
            raise _Refused(error(404, "Creative not found"))
        return creative

    @router.get(f"{API}/creatives/{{atomic_creative_id}}")
    @authorised
    def get_creative(request: Request, atomic_creative_id: str) -> Response:
        creative = find_creative(atomic_creative_id)
        db = _db(state)
        view = _creative_view(db, creative)
        if request.query_params.get("include") == "previews":
            components = {db["assets"][i]["component_id"] for i in creative["_asset_ids"] if i in db["assets"]}
            view["previews"] = {
                f"{external}": {
                    "available": set(required) <= components,
                    "preview": f"{state.platform_url(PLATFORM)}/previews/{creative['atomic_creative_id']}/{external}",
                }
                for external, _, _, required, _ in AD_FORMATS
            }
        return ok(view, "creative")

    @router.post(f"{API}/creatives/{{atomic_creative_id}}")
    @authorised
    async def update_creative(request: Request, atomic_creative_id: str) -> Response:
        creative = find_creative(atomic_creative_id)
        body = await _json_body(request)
        db = _db(state)
        advertiser = creative["advertiser_id"]
        if "advertiser_id" in body and _int(body["advertiser_id"], "advertiser_id") != advertiser:
            return business("advertiser_id of a creative cannot change")
        if "creative_name" in body and (not isinstance(body["creative_name"], str) or not body["creative_name"]):
            return invalid("creative_name", "must be a non-empty string")
        if ("start_date" in body) != ("end_date" in body) and "start_date" not in creative:
            return invalid("start_date", "start_date and end_date go together")
        if body.get("concept_id") not in (None, ""):
            concept_id = _int(body["concept_id"], "concept_id")
            if CONCEPTS.get(concept_id, (None,))[0] != advertiser:
                return business(f"Concept {concept_id} not associated with advertiser {advertiser}")
            creative["concept_id"], creative["concept_name"] = str(concept_id), CONCEPTS[concept_id][1]
        if "assets" in body:
            # MediaMath's documented caution: the list replaces every asset of the creative.
            creative["_asset_ids"] = _parse_assets(state, request, db, body["assets"], advertiser)
        for key in ("creative_name", "start_date", "end_date", "external_identifier"):
            if key in body:
                creative[key] = body[key]
        if "status" in body:
            if str(body["status"]).lower() not in ("0", "1", "true", "false"):
                return invalid("status", "must be 0 or 1", value=body["status"])
            creative["status"] = "1" if str(body["status"]).lower() in ("1", "true") else "0"
        creative["updated_at"] = _now_iso(state)
        creative["last_modified"] = creative["updated_at"][:19]
        return ok(_creative_view(db, creative), "creative", status="updated")

    @router.get(f"{API}/creatives/{{atomic_creative_id}}/eligibility")
    @authorised
    def eligibility(request: Request, atomic_creative_id: str) -> Response:
        creative = find_creative(atomic_creative_id)
        db = _db(state)
        components = {db["assets"][i]["component_id"] for i in creative["_asset_ids"] if i in db["assets"]}

        def listing(ids: tuple[int, ...]) -> list[dict[str, Any]]:
            return [{"id": str(i), "name": COMPONENTS[i][0], "present": i in components} for i in ids]

        data = [
            {
                "ad_format": {"external_id": external, "name": name, "simple_name": external.lower()},
                "eligible": set(required) <= components,
                "required_components": listing(required),
                "optional_components": listing(optional),
                "supplier": supplier,
                "supplier_platform": supplier.upper(),
            }
            for external, name, supplier, required, optional in AD_FORMATS
        ]
        return ok(data, "creative_eligibility")

    # -- approvals ---------------------------------------------------------------
    def approval(creative_id: int) -> dict[str, Any]:
        creative = _db(state)["creatives"].get(creative_id)
        if creative is None:
            return {"atomic_creative_id": str(creative_id), "net_status": "N/A", "sources": {}}
        if creative["_approval"] == "PENDING" and state.poll_job(PLATFORM, str(creative_id)):
            outcome = state.forced_outcome(PLATFORM, creative["creative_name"])
            wanted = (outcome.outcome if outcome else "approved").lower()
            if wanted == "not_submitted":
                creative["_approval"] = "N/A"
            elif wanted.startswith("reject"):
                creative["_approval"] = "REJECTED"
                creative["_reason"] = (outcome.reason if outcome else "") or "Creative does not meet the guidelines"
            elif wanted != "pending":
                creative["_approval"] = "APPROVED"
        net = creative["_approval"]
        sources = {
            name: {"status": net, **({"reason": creative["_reason"]} if net == "REJECTED" else {})}
            for name in ("sharethrough", "triplelift")
        }
        return {"atomic_creative_id": str(creative_id), "net_status": net, "sources": sources}

    @router.get(f"{API}/approvals")
    @authorised
    def approvals(request: Request) -> Response:
        raw = request.query_params.get("atomic_creative_ids")
        if not raw:
            return invalid("atomic_creative_ids", "required", location="query")
        parts = [p.strip() for p in raw.split(",")]
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            return invalid(
                "atomic_creative_ids", "must be an integer or comma-delimited list", location="query", value=raw
            )
        if len(parts) > 50:
            return invalid("atomic_creative_ids", "must not exceed 50 items", location="query", value=len(parts))
        return ok([approval(int(p)) for p in parts], "approvals")

    # -- assets ------------------------------------------------------------------
    def owner(db: dict[str, Any], advertiser_raw: Any, creative_ids_raw: Any) -> tuple[int, list[int]]:
        creative_ids: list[int] = []
        if creative_ids_raw not in (None, ""):
            if isinstance(creative_ids_raw, str):
                try:
                    creative_ids_raw = json.loads(creative_ids_raw)
                except ValueError:
                    raise _Refused(invalid("creative_ids", "must be an array of integers")) from None
            if not isinstance(creative_ids_raw, list):
                raise _Refused(invalid("creative_ids", "must be an array of integers"))
            creative_ids = [_int(i, "creative_ids") for i in creative_ids_raw]
        if advertiser_raw in (None, "") and not creative_ids:
            raise _Refused(invalid("advertiser_id", "advertiser_id or creative_ids is required"))
        advertisers = set()
        for creative_id in creative_ids:
            creative = db["creatives"].get(creative_id)
            if creative is None:
                raise _Refused(error(404, "Creative not found"))
            advertisers.add(creative["advertiser_id"])
        if len(advertisers) > 1:
            raise _Refused(business("All creatives in creative_ids must belong to the same advertiser"))
        advertiser = _int(advertiser_raw, "advertiser_id") if advertiser_raw not in (None, "") else None
        if advertiser is not None and advertisers and advertisers != {advertiser}:
            raise _Refused(business(f"Creatives not associated with advertiser {advertiser}"))
        advertiser = advertiser if advertiser is not None else advertisers.pop()
        if advertiser not in ADVERTISERS:
            raise _Refused(business(f"Advertiser {advertiser} not found"))
        return advertiser, creative_ids

    def component(raw: Any) -> int:
        if raw in (None, ""):
            raise _Refused(invalid("component_id", "required"))
        component_id = _int(raw, "component_id")
        if component_id not in COMPONENTS:
            raise _Refused(business(f"Component {component_id} not found"))
        return component_id

    def video_value(url: Any) -> dict[str, Any]:
        if not isinstance(url, str) or not url:
            raise _Refused(invalid("asset_value", "required"))
        parts = urlsplit(url)
        prefix = f"{state.s3.endpoint}/{state.s3.ensure_bucket(PLATFORM)}/"
        if parts.query or not url.startswith(prefix):
            raise _Refused(invalid("asset_value", "must be the upload URL without its query string", value=url))
        key = url[len(prefix) :]
        from urllib.parse import unquote

        key = unquote(key)
        if key not in _db(state)["uploads"] or state.s3.head(PLATFORM, key) is None:
            raise _Refused(invalid("asset_value", "no video was uploaded to this URL", value=url))
        return {"video_filename": key.split("_", 2)[-1], "video_url": url}

    @router.post(f"{API}/assets")
    @authorised
    async def create_asset(request: Request) -> Response:
        db = _db(state)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            advertiser, creative_ids = owner(db, form.get("advertiser_id"), form.get("creative_ids"))
            component_id = component(form.get("component_id"))
            value = form.get("asset_value")
            kind = COMPONENTS[component_id][1]
            if kind == "IMAGE":
                if value is None or isinstance(value, str):
                    return invalid("asset_value", "an image file is required")
                asset = _image_asset(
                    state,
                    request,
                    db,
                    component_id=component_id,
                    advertiser_id=advertiser,
                    filename=value.filename or "",
                    content=await value.read(),
                )
            elif kind == "TEXT":
                if not isinstance(value, str) or not value:
                    return invalid("asset_value", "required")
                asset = _new_asset(
                    state,
                    db,
                    component_id=component_id,
                    advertiser_id=advertiser,
                    asset_type="text",
                    values={"asset_value": value},
                )
            else:
                return invalid("component_id", f"{kind} assets cannot be sent as a form")
        else:
            body = await _json_body(request)
            advertiser, creative_ids = owner(db, body.get("advertiser_id"), body.get("creative_ids"))
            component_id = component(body.get("component_id"))
            kind = COMPONENTS[component_id][1]
            if kind == "IMAGE":
                content = _decode_base64(body.get("encoded_image_file"), "encoded_image_file")
                asset = _image_asset(
                    state,
                    request,
                    db,
                    component_id=component_id,
                    advertiser_id=advertiser,
                    filename=body.get("image_filename") or "",
                    content=content,
                )
            elif kind == "VIDEO":
                asset = _new_asset(
                    state,
                    db,
                    component_id=component_id,
                    advertiser_id=advertiser,
                    asset_type="video",
                    values=video_value(body.get("asset_value")),
                )
            elif kind == "TEXT":
                value = body.get("asset_value")
                if not isinstance(value, str) or not value:
                    return invalid("asset_value", "required")
                asset = _new_asset(
                    state,
                    db,
                    component_id=component_id,
                    advertiser_id=advertiser,
                    asset_type="text",
                    values={"asset_value": value},
                )
            else:
                return invalid("component_id", f"{kind} assets go in a creative's assets")
        for creative_id in creative_ids:
            db["creatives"][creative_id]["_asset_ids"].append(asset["asset_id"])
        request.state.remote_id = str(asset["asset_id"])
        return ok(_asset_view(asset), "asset", code=201, status="created")

    def find_asset(raw: str) -> dict[str, Any]:
        if not re.fullmatch(r"\d+", raw):
            raise _Refused(invalid("asset_id", "must be an Integer", location="path", value=raw))
        asset = _db(state)["assets"].get(int(raw))
        if asset is None:
            raise _Refused(error(404, "Asset not found"))
        return asset

    @router.get(f"{API}/assets/{{asset_id}}")
    @authorised
    def get_asset(request: Request, asset_id: str) -> Response:
        return ok(_asset_view(find_asset(asset_id)), "asset")

    @router.post(f"{API}/assets/{{asset_id}}")
    @authorised
    async def update_asset(request: Request, asset_id: str) -> Response:
        asset = find_asset(asset_id)
        db = _db(state)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            value = form.get("asset_value")
            if asset["asset_type"] != "image" or value is None or isinstance(value, str):
                return invalid("asset_value", "an image file is required for an image asset")
            replacement = _image_asset(
                state,
                request,
                db,
                component_id=asset["component_id"],
                advertiser_id=asset["advertiser_id"],
                filename=value.filename or "",
                content=await value.read(),
            )
            del db["assets"][replacement["asset_id"]]
            db["next_asset"] -= 1
            for key in ("image_filename", "image_url", "image_width", "image_height", "image_file_size"):
                asset[key] = replacement[key]
        else:
            body = await _json_body(request)
            value = body.get("asset_value")
            if asset["asset_type"] != "text" or not isinstance(value, str) or not value:
                return invalid("asset_value", "a text value is required for a text asset")
            asset["asset_value"] = value
        asset["updated_at"] = _now_iso(state)
        return ok(_asset_view(asset), "asset", code=201, status="created")

    # -- upload ------------------------------------------------------------------
    @router.get(f"{API}/upload/{{filename:path}}")
    @authorised
    def upload(request: Request, filename: str) -> Response:
        _check_filename(filename, "filename", location="path")
        key = f"{int(state.now() * 1000)}_{secrets.token_hex(16)}_{filename}"
        _db(state)["uploads"].add(key)
        url = state.s3.presign_put(PLATFORM, key, expires=int(_setting(state, "upload_ttl", 60)))
        return JSONResponse({"meta": {"code": 200, "status": "success", "type": "upload"}, "data": url})

    # -- components, version ---------------------------------------------------
    def component_view(component_id: int) -> dict[str, Any]:
        name, kind = COMPONENTS[component_id]
        return {
            "component_id": component_id,
            "component_human_name": name,
            "value_type_name": kind,
            "char_limit": None,
            "is_enabled": True,
            "created_at": "2016-12-01T03:56:44.085Z",
            "updated_at": "2016-12-01T03:56:44.085Z",
        }

    @router.get(f"{API}/components")
    @authorised
    def components(request: Request) -> Response:
        data = [component_view(i) for i in COMPONENTS]
        return ok(data, "component", total_count=len(data))

    @router.get(f"{API}/components/{{component_id}}")
    @authorised
    def get_component(request: Request, component_id: str) -> Response:
        if not re.fullmatch(r"\d+", component_id) or int(component_id) not in COMPONENTS:
            return error(404, "Component not found")
        return ok(component_view(int(component_id)), "component")

    @router.post(f"{API}/components")
    @authorised
    def create_component(request: Request) -> Response:
        return error(401, "Unauthorized")

    @router.get(f"{API}/version")
    @authorised
    def version(request: Request) -> Response:
        return JSONResponse({"version": "sandbox-20261123"})

    return router


def extra_connections(state: SandboxState) -> list[ConnectionSpec]:
    """``mediamath_second``: the same user, the other advertiser of the sandbox (another account)."""
    spec = connection(state)
    other = next(a for a in ADVERTISERS if a != DEFAULT_ADVERTISER)
    return [
        ConnectionSpec(
            conn_id="mediamath_second",
            conn_type=spec.conn_type,
            host=spec.host,
            login=spec.login,
            password=spec.password,
            extra={**spec.extra, "advertiser_id": str(other)},
        )
    ]


def connection(state: SandboxState) -> ConnectionSpec:
    base = state.platform_url(PLATFORM)
    return ConnectionSpec(
        conn_id="mediamath_default",
        conn_type="mediamath",
        host=base,
        login=USER,
        password=PASSWORD,
        extra={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_url": f"{base}/oauth/token",
            "session_url": f"{base}/api/v2.0",
            "advertiser_id": str(DEFAULT_ADVERTISER),
        },
    )
