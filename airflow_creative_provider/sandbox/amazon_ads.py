"""Sandbox of the Amazon Ads Creative Asset Library and its Login with Amazon token endpoint.

Mounted under ``/amazon_ads``; the token route is ``/amazon_ads/auth/o2/token`` (the connection's
``token_url`` extra points there). Follows ``platforms/amazon-ads.md``, strict by default:

* token endpoint, form-encoded only: the right client + refresh token give ``Atza|…`` with
  ``expires_in`` (3600, ``configure(state, token_ttl=...)``); a wrong or revoked refresh token
  gives 400 ``invalid_grant``, a wrong client 401 ``invalid_client``;
* Ads routes: a missing/expired token or wrong ``Amazon-Advertising-API-ClientId`` -> 401; no
  ``Amazon-Advertising-API-Scope`` -> 401 "Scope header is missing"; an unknown profile, or the
  EU test profile on this NA host -> 401 "No matching advertiser found for scope";
* each operation answers only its vendor media type: a foreign ``Accept`` -> 406 (absent or
  ``*/*`` is fine, as the guides' curls show); a wrong request ``Content-Type`` -> 415
  (``application/json`` or the guides' ``text/plain``; batch: its vendor request type only);
* upload: ``filename`` (the seed's examples) or ``fileName`` (the OpenAPI) with an extension ->
  presigned PUT on the sandbox S3; which spelling the real service takes is unconfirmed, so
  both are accepted unless ``configure(state, upload_name_field="fileName")`` (or
  ``"filename"``) accepts only one and answers 400 naming it;
  15-minute expiry, the extension's Content-Type signed (a PUT with another type gets
  ``SignatureDoesNotMatch``; other methods 403). ``configure(state, strict_put_content_type=False)``
  signs only ``host``: a wrong type is stored and the asset turns ``INACTIVE`` at processing;
* register: 400 for an unknown or not-uploaded ``url`` (the URL as returned, or its location
  without the query string), bad enums, a sub type of the other asset type, 0 or > 10 sub types,
  an upload name outside the documented pattern's extensions (``jpg|png|mp4|mov|wmv|avi``: no
  ``jpeg``), an extension the library does not store, a ``registrationContext`` not shaped
  ``{associatedPrograms: [{programName, metadata}]}``; 404 for an unknown ``linkedAssetId``; the same file
  name with ``linkedAssetId`` returns the existing id/version; 200 ``version_v1`` with spec checks
  (videos outside 6–45 s fail ``SPONSORED_BRANDS_VIDEO``; images get none: the library checks no
  image eligibility);
* ``PROCESSING`` -> ``ACTIVE`` after the platform's ``ProcessingSpeed``; an unreadable or
  mistyped file -> ``INACTIVE``; ``state.outcomes`` can force ``INACTIVE``/``ARCHIVED``/
  ``FAILED_SPEC`` by asset name;
* get (all versions without ``version``; 400 without ``assetId``), search (filters, text, sort,
  size 1–500, opaque ``token``, ``totalRecords``), batch register (1–50, asynchronous);
* errors ``{"message"}`` in the operation's media type (``configure(state, error_shape="code")``
  for ``{code, details}``); a client-side rate limit ``configure(state, rate_limit=(calls, s))``
  answers 429 with ``Retry-After`` (``retry_after=False`` omits it, as some real 429s do).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import tempfile
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from airflow_creative_provider.sandbox.state import ConnectionSpec

if TYPE_CHECKING:
    from airflow_creative_provider.sandbox.state import SandboxState

PLATFORM = "amazon_ads"
UPLOAD_URL_EXPIRY = 15 * 60

MEDIA: dict[str, tuple[str, frozenset[str]]] = {
    "upload": ("application/vnd.creativeassetsuploadresponse.v3+json", frozenset({"application/json", "text/plain"})),
    "register": (
        "application/vnd.creativeassetsregisterresponse.v3+json",
        frozenset({"application/json", "text/plain"}),
    ),
    "get": ("application/vnd.creativeassetsgetresponse.v3+json", frozenset()),
    "search": (
        "application/vnd.creativeassetssearchassetsresponse.v3+json",
        frozenset({"application/json", "text/plain"}),
    ),
    "batch_register": (
        "application/vnd.assetsbatchregisterresponse.v1+json",
        frozenset({"application/vnd.assetsbatchregisterrequest.v1+json"}),
    ),
    "batch_status": ("application/vnd.creativeassetsgetbatchregisterresponse.v3+json", frozenset()),
}

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".wmv": "video/x-ms-wmv",
    ".avi": "video/x-msvideo",
}
STORED_EXTENSIONS = {".jpg": "IMAGE", ".jpeg": "IMAGE", ".png": "IMAGE", ".mp4": "VIDEO", ".mov": "VIDEO"}
#: the extensions of the OpenAPI's upload name pattern ``[\w]+\.jpg|png|mp4|mov|wmv|avi``; the
#: seed warns that a wrong extension passes the upload step and fails later (here: register).
PATTERN_EXTENSIONS = frozenset({".jpg", ".png", ".mp4", ".mov", ".wmv", ".avi"})
UPLOAD_NAME_FIELDS = ("filename", "fileName")
SUBTYPES = {
    "IMAGE": ("LOGO", "PRODUCT_IMAGE", "AUTHOR_IMAGE", "LIFESTYLE_IMAGE", "OTHER_IMAGE"),
    "VIDEO": ("BACKGROUND_VIDEO",),
}
VALUE_FIELDS = (
    "TAG",
    "ASIN",
    "CAMPAIGN_NAME",
    "CAMPAIGN_ID",
    "PROGRAM",
    "ASSET_TYPE",
    "ASSET_SUB_TYPE",
    "APPROVED_AD_POLICY",
    "ASSET_EXTENSION",
)
RANGE_FIELDS = ("SIZE", "DATE_UPLOADED")
SORT_FIELDS = ("CREATED_TIME", "SIZE", "NAME", "IMAGE_HEIGHT", "IMAGE_WIDTH", "EXTENSION")

DEFAULT_OPTIONS: dict[str, Any] = {
    "token_ttl": 3600,
    "strict_put_content_type": True,
    "error_shape": "message",
    "rate_limit": None,
    "retry_after": True,
    "upload_name_field": None,
}


# ----------------------------------------------------------------- configuration
def options(state: SandboxState) -> dict[str, Any]:
    """The router's options (reset with the sandbox)."""
    return state.store(PLATFORM).setdefault("options", dict(DEFAULT_OPTIONS))


def configure(state: SandboxState, **changes: Any) -> None:
    """Change router options: ``token_ttl``, ``strict_put_content_type``, ``error_shape``
    (``message`` | ``code``), ``rate_limit`` (``(calls, seconds)`` or None), ``retry_after``,
    ``upload_name_field`` (None accepts ``filename`` and ``fileName``; one of them accepts only it)."""
    unknown = set(changes) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown amazon_ads sandbox options: {', '.join(sorted(unknown))}")
    options(state).update(changes)


def credentials(state: SandboxState) -> dict[str, str]:
    """The client, refresh token and profiles this sandbox accepts (stable for its lifetime)."""
    return state.credentials.setdefault(
        PLATFORM,
        {
            "client_id": "amzn1.application-oa2-client." + secrets.token_hex(16),
            "client_secret": "amzn1.oa2-cs.v1." + secrets.token_hex(24),
            "refresh_token": "Atzr|" + secrets.token_urlsafe(48),
            "profile_id": str(3_000_000_000_000_000 + secrets.randbelow(10**15)),
            "eu_profile_id": str(4_000_000_000_000_000 + secrets.randbelow(10**15)),
        },
    )


def profiles(state: SandboxState) -> tuple[str, ...]:
    """The NA profiles the sandbox's client and refresh token reach: ``profile_id`` and
    ``second_profile_id`` (contract: one LwA grant reaches every profile ``GET /v2/profiles``
    lists, each profile one advertiser account in one marketplace, e.g. US and CA on the NA host)."""
    creds = credentials(state)
    second = creds.setdefault("second_profile_id", str(3_100_000_000_000_000 + secrets.randbelow(10**15)))
    return (creds["profile_id"], second)


def revoke_refresh_token(state: SandboxState) -> None:
    """The user withdrew consent: the refresh token now gives ``invalid_grant`` (until reset)."""
    state.store(PLATFORM)["revoked"] = True


def connection(state: SandboxState) -> ConnectionSpec:
    creds = credentials(state)
    url = state.platform_url(PLATFORM)
    return ConnectionSpec(
        conn_id="amazon_ads_default",
        conn_type="amazon_ads",
        host=url,
        login=creds["client_id"],
        password=creds["client_secret"],
        extra={
            "refresh_token": creds["refresh_token"],
            "profile_id": creds["profile_id"],
            "region": "NA",
            "token_url": f"{url}/auth/o2/token",
        },
    )


def extra_connections(state: SandboxState) -> list[ConnectionSpec]:
    """``amazon_ads_second``: the same client and grant, the second NA profile (another account)."""
    spec = connection(state)
    return [
        ConnectionSpec(
            conn_id="amazon_ads_second",
            conn_type=spec.conn_type,
            host=spec.host,
            login=spec.login,
            password=spec.password,
            extra={**spec.extra, "profile_id": profiles(state)[1]},
        )
    ]


def fault_response(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


def upload_location(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ----------------------------------------------------------------- helpers
class _Refused(Exception):  # noqa: N818 - control flow inside the router
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _now_ms(state: SandboxState) -> int:
    return int(state.now() * 1000)


def _error(state: SandboxState, op: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if options(state)["error_shape"] == "code":
        body: dict[str, Any] = {"code": str(status), "details": message, "requestId": uuid.uuid4().hex.upper()}
    else:
        body = {"message": message}
    return JSONResponse(body, status_code=status, media_type=MEDIA[op][0], headers=headers)


def _ok(op: str, body: Any) -> Response:
    return JSONResponse(body, media_type=MEDIA[op][0])


def _accepts(header: str | None, vendor_type: str) -> bool:
    if not header:
        return True
    for part in header.split(","):
        media = _media_type(part)
        if media in ("*/*", "application/*", vendor_type):
            return True
    return False


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    store = state.store

    def data() -> dict[str, Any]:
        s = store(PLATFORM)
        s.setdefault("uploads", {})  # key -> upload record
        s.setdefault("by_location", {})  # location -> key
        s.setdefault("assets", {})  # assetId -> asset record
        s.setdefault("search_tokens", {})
        s.setdefault("batches", {})
        s.setdefault("calls", deque())
        return s

    def rate_limited(request: Request, op: str) -> Response | None:
        limit = options(state)["rate_limit"]
        if not limit:
            return None
        calls, seconds = limit
        stamps: deque[float] = data()["calls"]
        now = state.now()
        while stamps and now - stamps[0] >= seconds:
            stamps.popleft()
        if len(stamps) >= calls:
            wait = max(1, math.ceil(seconds - (now - stamps[0])))
            headers = {"Retry-After": str(wait)} if options(state)["retry_after"] else None
            return _error(state, op, 429, "Too Many Requests", headers)
        stamps.append(now)
        return None

    def guard(request: Request, op: str, has_body: bool) -> tuple[str | None, Response | None]:
        """(profile id, None) when the call may proceed, else (None, error response)."""
        limited = rate_limited(request, op)
        if limited is not None:
            return None, limited
        creds = credentials(state)
        headers = request.headers
        if headers.get("amazon-advertising-api-clientid") != creds["client_id"]:
            return None, _error(state, op, 401, "Invalid or missing Amazon-Advertising-API-ClientId")
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if not state.token_valid(PLATFORM, token):
            return None, _error(
                state, op, 401, "Authentication failed: the access token is missing, invalid or expired"
            )
        scope = headers.get("amazon-advertising-api-scope")
        if not scope:
            return None, _error(state, op, 401, "Scope header is missing")
        if scope not in profiles(state):
            return None, _error(state, op, 401, "No matching advertiser found for scope")
        vendor_type, request_types = MEDIA[op]
        if not _accepts(headers.get("accept"), vendor_type):
            return None, _error(state, op, 406, f"Not Acceptable: this operation answers {vendor_type}")
        if has_body and _media_type(headers.get("content-type")) not in request_types:
            return None, _error(
                state,
                op,
                415,
                f"Unsupported Media Type: send Content-Type {' or '.join(sorted(request_types))}",
            )
        return scope, None

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            raise _Refused(400, "Request body is required")
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Refused(400, "Request body must be a JSON object")
        return body

    # ------------------------------------------------------------- LwA token
    @router.post("/auth/o2/token")
    async def token(request: Request) -> Response:
        def oauth_error(status: int, code: str, description: str) -> Response:
            return JSONResponse({"error": code, "error_description": description}, status_code=status)

        if _media_type(request.headers.get("content-type")) != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "The request must be application/x-www-form-urlencoded")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        creds = credentials(state)
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported")
        if form.get("client_id") != creds["client_id"] or form.get("client_secret") != creds["client_secret"]:
            return oauth_error(401, "invalid_client", "Client authentication failed")
        if form.get("refresh_token") != creds["refresh_token"] or store(PLATFORM).get("revoked"):
            return oauth_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        ttl = int(options(state)["token_ttl"])
        access = state.issue_token(PLATFORM, ttl, prefix="Atza|")
        return JSONResponse(
            {"access_token": access, "token_type": "bearer", "expires_in": ttl, "refresh_token": creds["refresh_token"]}
        )

    # ------------------------------------------------------------- upload location
    @router.post("/assets/upload")
    async def upload(request: Request) -> Response:
        profile, refused = guard(request, "upload", True)
        if refused:
            return refused
        try:
            body = await json_body(request)
        except _Refused as exc:
            return _error(state, "upload", exc.status, exc.message)
        only = options(state)["upload_name_field"]
        fields = (only,) if only else UPLOAD_NAME_FIELDS
        file_name = next((body[f] for f in fields if f in body), None)
        if not isinstance(file_name, str) or not file_name.strip():
            return _error(state, "upload", 400, f"{only or 'filename'} is required")
        ext = os.path.splitext(file_name)[1].lower()
        if not ext or ext == ".":
            return _error(state, "upload", 400, "fileName must have an extension")
        key = f"{uuid.uuid4()}{ext}"
        strict = options(state)["strict_put_content_type"]
        content_type = CONTENT_TYPES.get(ext) if strict else None
        url = state.s3.presign_put(PLATFORM, key, expires=UPLOAD_URL_EXPIRY, content_type=content_type)
        store_ = data()
        store_["uploads"][key] = {
            "key": key,
            "fileName": file_name,
            "extension": ext,
            "profile": profile,
            "url": url,
            "location": upload_location(url),
            "issued": state.now(),
        }
        store_["by_location"][upload_location(url)] = key
        return _ok("upload", {"url": url})

    # ------------------------------------------------------------- register
    def inspect_upload(upload: dict[str, Any]) -> dict[str, Any]:
        """File facts of the uploaded object, and why processing would fail."""
        from airflow_creative_provider.creative import Creative

        head = state.s3.head(PLATFORM, upload["key"]) or {}
        facts: dict[str, Any] = {
            "contentType": head.get("ContentType"),
            "extension": upload["extension"].lstrip("."),
            "fileSize": head.get("ContentLength"),
        }
        with tempfile.TemporaryDirectory(prefix="sandbox-amazon-ads-") as tmp:
            path = os.path.join(tmp, "object" + upload["extension"])
            if not state.s3.download(PLATFORM, upload["key"], path):
                raise FileNotFoundError(f"nothing was uploaded to {upload['key']}")
            creative = Creative.inspect(path)
        facts.update({"width": creative.width, "height": creative.height, "duration": creative.duration})
        if creative.width and creative.height:
            facts["aspectRatio"] = f"{creative.width}:{creative.height}"
        expected = CONTENT_TYPES.get(upload["extension"])
        failure = None
        if creative.error:
            failure = f"Processing failed: {creative.error}"
        elif creative.mimetype != expected:
            failure = f"Processing failed: the file is {creative.mimetype or 'of an unknown type'}, not {expected}"
        elif facts["contentType"] != expected:
            failure = (
                f"Processing failed: stored Content-Type {facts['contentType']} does not match .{facts['extension']}"
            )
        facts["_failure"] = failure
        facts["_sha256"] = creative.sha256
        return facts

    def spec_checks(asset_type: str, facts: dict[str, Any]) -> list[dict[str, Any]]:
        checks: list[dict[str, Any]] = []
        duration = facts.get("duration")
        if asset_type == "VIDEO" and duration is not None and not 6.0 <= duration <= 45.0:
            checks.append(
                {
                    "Program": "SPONSORED_BRANDS",
                    "specProgramName": "SPONSORED_BRANDS_VIDEO",
                    "specifications": [
                        {
                            "stringId": "al-spec-video-duration",
                            "isPassed": False,
                            "actualValue": f"{duration:g}",
                            "arguments": ["6.0", "45.0"],
                            "failureReason": "Duration is not between 6.0 and 45.0 seconds.",
                        }
                    ],
                }
            )
        return checks

    def register_one(profile: str, body: dict[str, Any], tag_field: str = "tags") -> dict[str, Any]:
        """Register one asset (or version); raises ``_Refused`` like the real API answers."""
        store_ = data()
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise _Refused(400, "url is required")
        key = store_["by_location"].get(upload_location(url))
        upload = store_["uploads"].get(key) if key else None
        if upload is None or upload["profile"] != profile:
            raise _Refused(400, "url is not an upload location issued by POST /assets/upload")
        if urlsplit(url).query and url != upload["url"]:
            raise _Refused(400, "url does not match the upload location returned by POST /assets/upload")
        if state.s3.head(PLATFORM, key) is None:
            raise _Refused(400, "Nothing was uploaded to url; PUT the file first")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Refused(400, "name is required")
        asset_type = body.get("assetType")
        if asset_type not in SUBTYPES:
            raise _Refused(400, "assetType must be one of IMAGE, VIDEO")
        subtypes = body.get("assetSubTypeList")
        if not isinstance(subtypes, list) or not 1 <= len(subtypes) <= 10:
            raise _Refused(400, "assetSubTypeList must hold 1 to 10 sub types")
        all_subtypes = {s for values in SUBTYPES.values() for s in values}
        unknown = [s for s in subtypes if s not in all_subtypes]
        if unknown:
            raise _Refused(400, f"Invalid assetSubTypeList value(s): {', '.join(map(str, unknown))}")
        mismatched = [s for s in subtypes if s not in SUBTYPES[asset_type]]
        if mismatched:
            raise _Refused(400, f"Sub type(s) {', '.join(mismatched)} do not match assetType {asset_type}")
        if upload["extension"] not in PATTERN_EXTENSIONS:
            raise _Refused(
                400,
                f"File name {upload['fileName']} does not match the pattern [\\w]+\\.jpg|png|mp4|mov|wmv|avi",
            )
        context = body.get("registrationContext")
        if context is not None and not (
            isinstance(context, dict)
            and isinstance(context.get("associatedPrograms"), list)
            and context["associatedPrograms"]
            and all(isinstance(p, dict) and p.get("programName") for p in context["associatedPrograms"])
        ):
            raise _Refused(400, "registrationContext.associatedPrograms must list {programName, metadata} objects")
        stored_type = STORED_EXTENSIONS.get(upload["extension"])
        if stored_type is None:
            raise _Refused(400, f"Unsupported file extension {upload['extension']}; use jpg, jpeg, png, mp4 or mov")
        if stored_type != asset_type:
            raise _Refused(400, f"assetType {asset_type} does not match the uploaded {upload['extension']} file")
        tags = body.get(tag_field) or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _Refused(400, f"{tag_field} must be a list of strings")
        if tag_field == "tagList" and len(tags) > 10:
            raise _Refused(400, "tagList holds at most 10 tags")
        asins = body.get("asinList") or []
        if not isinstance(asins, list) or len(asins) > 100:
            raise _Refused(400, "asinList must hold 1 to 100 ASINs")
        entities = body.get("associatedSubEntityList")
        if entities is not None and (
            not isinstance(entities, list)
            or not 1 <= len(entities) <= 100
            or not all(isinstance(e, dict) and e.get("brandEntityId") for e in entities)
        ):
            raise _Refused(400, "associatedSubEntityList must hold 1 to 100 {brandEntityId} objects")
        version_info = body.get("versionInfo")
        asset: dict[str, Any] | None = None
        if version_info is not None:
            linked = version_info.get("linkedAssetId") if isinstance(version_info, dict) else None
            notes = version_info.get("versionNotes") if isinstance(version_info, dict) else None
            if not linked:
                raise _Refused(400, "versionInfo.linkedAssetId is required")
            if notes is not None and (not isinstance(notes, str) or len(notes) > 1000):
                raise _Refused(400, "versionInfo.versionNotes holds at most 1000 characters")
            asset = store_["assets"].get(linked)
            if asset is None or asset["profile"] != profile:
                raise _Refused(404, f"Asset {linked} not found")
            current = asset["versions"][-1]
            if current["fileName"] == upload["fileName"]:
                # Same file name: Amazon answers with the current id/version, no new version.
                return {
                    "assetId": asset["assetId"],
                    "versionId": current["version"],
                    "failedSpecChecks": current["failedSpecChecks"],
                    "programPolicyValidationsList": None,
                }
        facts = inspect_upload(upload)
        failure = facts.pop("_failure")
        facts.pop("_sha256")
        outcome, reason = ("INACTIVE", failure) if failure else ("ACTIVE", None)
        checks = spec_checks(asset_type, facts)
        forced = state.forced_outcome(PLATFORM, name)
        if forced is not None:
            if forced.outcome.upper() == "FAILED_SPEC":
                checks.append(
                    {
                        "Program": "SPONSORED_BRANDS",
                        "specProgramName": "SPONSORED_BRANDS_VIDEO" if asset_type == "VIDEO" else "STORES_IMAGE",
                        "specifications": [
                            {
                                "stringId": "al-spec-forced",
                                "isPassed": False,
                                "actualValue": "",
                                "arguments": [],
                                "failureReason": forced.reason or "Specification check failed.",
                            }
                        ],
                    }
                )
            else:
                outcome, reason = forced.outcome.upper(), forced.reason or f"forced {forced.outcome}"
        if asset is None:
            asset_id = "amzn1.assetlibrary.asset1." + uuid.uuid4().hex
            asset = {"assetId": asset_id, "assetType": asset_type, "profile": profile, "versions": []}
            store_["assets"][asset_id] = asset
        version = f"version_v{len(asset['versions']) + 1}"
        record = {
            "version": version,
            "name": name,
            "fileName": upload["fileName"],
            "key": upload["key"],
            "registrationContext": context,
            "assetStatus": "PROCESSING",
            "assetSubTypes": list(subtypes),
            "tags": list(tags),
            "asins": list(asins),
            "creationTime": _now_ms(state),
            "fileMetadata": facts,
            "failedSpecChecks": checks,
            "versionNotes": (version_info or {}).get("versionNotes"),
            "brandEntityIds": [e["brandEntityId"] for e in entities or []],
            "_outcome": outcome,
            "_reason": reason,
        }
        asset["versions"].append(record)
        state.start_job(PLATFORM, f"{asset['assetId']}:{version}")
        return {
            "assetId": asset["assetId"],
            "versionId": version,
            "failedSpecChecks": checks,
            "programPolicyValidationsList": None,
        }

    @router.post("/assets/register")
    async def register(request: Request) -> Response:
        profile, refused = guard(request, "register", True)
        if refused:
            return refused
        try:
            body = await json_body(request)
            with state.lock:
                result = register_one(profile or "", body)
        except _Refused as exc:
            return _error(state, "register", exc.status, exc.message)
        request.state.remote_id = result["assetId"]
        return _ok("register", result)

    # ------------------------------------------------------------- get
    def advance(asset: dict[str, Any], record: dict[str, Any]) -> None:
        if record["assetStatus"] == "PROCESSING" and state.poll_job(
            PLATFORM, f"{asset['assetId']}:{record['version']}"
        ):
            record["assetStatus"] = record["_outcome"]

    def version_view(asset: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        location = state.s3.object_url(PLATFORM, record["key"])
        view = {
            "assetIdentifier": {"assetId": asset["assetId"], "version": record["version"]},
            "assetStatus": record["assetStatus"],
            "assetSubTypes": record["assetSubTypes"],
            "name": record["name"],
            "url": location,
            "creationTime": record["creationTime"],
            "fileMetadata": record["fileMetadata"],
            "storageLocationUrls": {"defaultUrl": location, "processedUrls": {}},
            "specCheckApprovedPrograms": [],
            "failedSpecChecks": record["failedSpecChecks"],
            "moderationContentList": [],
            "versionNotes": record["versionNotes"],
            "tags": record["tags"] + record["asins"],
        }
        if record["assetStatus"] == "INACTIVE" and record["_reason"]:
            view["statusReason"] = record["_reason"]
        if record["assetStatus"] == "ACTIVE" and not record["failedSpecChecks"]:
            view["specCheckApprovedPrograms"] = (
                ["SPONSORED_BRANDS"] if asset["assetType"] == "IMAGE" else ["SPONSORED_BRANDS_VIDEO"]
            )
        return view

    @router.get("/assets")
    async def get_asset(request: Request) -> Response:
        profile, refused = guard(request, "get", False)
        if refused:
            return refused
        asset_id = request.query_params.get("assetId")
        if not asset_id:
            return _error(state, "get", 400, "assetId is required")
        version = request.query_params.get("version")
        with state.lock:
            asset = data()["assets"].get(asset_id)
            if asset is None or asset["profile"] != profile:
                return _error(state, "get", 404, f"Asset {asset_id} not found")
            records = [r for r in asset["versions"] if version is None or r["version"] == version]
            if not records:
                return _error(state, "get", 404, f"Version {version} of asset {asset_id} not found")
            for record in records:
                advance(asset, record)
            views = [version_view(asset, r) for r in records]
        return _ok(
            "get",
            {
                "assetGlobal": {
                    "assetId": asset["assetId"],
                    "assetType": asset["assetType"],
                    "accountIds": [profile],
                    "marketplaceId": ["ATVPDKIKX0DER"],
                },
                "assetVersionList": views,
            },
        )

    # ------------------------------------------------------------- search
    def matches(asset: dict[str, Any], record: dict[str, Any], value_filters: list[dict[str, Any]]) -> bool:
        for flt in value_filters:
            values = set(flt["values"])
            field = flt["valueField"]
            if field == "TAG":
                ok = bool(values & set(record["tags"]))
            elif field == "ASIN":
                ok = bool(values & set(record["asins"]))
            elif field == "ASSET_TYPE":
                ok = asset["assetType"] in values
            elif field == "ASSET_SUB_TYPE":
                ok = bool(values & set(record["assetSubTypes"]))
            elif field == "ASSET_EXTENSION":
                ok = record["fileMetadata"]["extension"].upper() in {v.upper().lstrip(".") for v in values}
            else:  # campaigns, programs and policies: none exist in the sandbox
                ok = False
            if not ok:
                return False
        return True

    def in_ranges(record: dict[str, Any], range_filters: list[dict[str, Any]]) -> bool:
        for flt in range_filters:
            value = record["fileMetadata"].get("fileSize") if flt["rangeField"] == "SIZE" else record["creationTime"]
            hit = False
            for rng in flt["ranges"]:
                start = float(rng.get("start") or "-inf")
                end = float(rng.get("end") or "inf")
                hit = hit or (value is not None and start <= float(value) <= end)
            if not hit:
                return False
        return True

    def parse_search(body: dict[str, Any]) -> tuple[dict[str, Any], int, str | None]:
        criteria = body.get("filterCriteria") or {}
        value_filters = criteria.get("valueFilters") or []
        range_filters = criteria.get("rangeFilters") or []
        for flt in value_filters:
            if not isinstance(flt, dict) or flt.get("valueField") not in VALUE_FIELDS:
                raise _Refused(400, f"valueField must be one of {', '.join(VALUE_FIELDS)}")
            if not isinstance(flt.get("values"), list) or not flt["values"]:
                raise _Refused(400, "values of a value filter must be a non-empty list")
        for flt in range_filters:
            if not isinstance(flt, dict) or flt.get("rangeField") not in RANGE_FIELDS:
                raise _Refused(400, f"rangeField must be one of {', '.join(RANGE_FIELDS)}")
            if not isinstance(flt.get("ranges"), list) or not flt["ranges"]:
                raise _Refused(400, "ranges of a range filter must be a non-empty list")
            try:
                for rng in flt["ranges"]:
                    float(rng.get("start") or 0), float(rng.get("end") or 0)
            except (TypeError, ValueError, AttributeError):
                raise _Refused(400, "range start and end must be numbers (as strings)") from None
        sort = body.get("sortCriteria") or {"field": "CREATED_TIME", "order": "DESC"}
        if sort.get("field") not in SORT_FIELDS or sort.get("order", "DESC") not in ("ASC", "DESC"):
            raise _Refused(400, f"sortCriteria.field must be one of {', '.join(SORT_FIELDS)}, order ASC or DESC")
        page = body.get("pageCriteria") or {}
        size = page.get("size", 25)
        if not isinstance(size, int) or not 1 <= size <= 500:
            raise _Refused(400, "pageCriteria.size must be between 1 and 500")
        token = (page.get("identifier") or {}).get("token")
        query = {
            "text": body.get("text"),
            "valueFilters": value_filters,
            "rangeFilters": range_filters,
            "sort": {"field": sort["field"], "order": sort.get("order", "DESC")},
        }
        return query, size, token

    def sort_key(field: str) -> Any:
        def key(item: tuple[dict[str, Any], dict[str, Any]]) -> Any:
            _, record = item
            meta = record["fileMetadata"]
            return {
                "CREATED_TIME": record["creationTime"],
                "SIZE": meta.get("fileSize") or 0,
                "NAME": record["name"].lower(),
                "IMAGE_HEIGHT": meta.get("height") or 0,
                "IMAGE_WIDTH": meta.get("width") or 0,
                "EXTENSION": meta.get("extension") or "",
            }[field]

        return key

    @router.post("/assets/search")
    async def search(request: Request) -> Response:
        profile, refused = guard(request, "search", True)
        if refused:
            return refused
        try:
            body = await json_body(request)
            query, size, token = parse_search(body)
        except _Refused as exc:
            return _error(state, "search", exc.status, exc.message)
        fingerprint = hashlib.sha256(json.dumps([profile, query], sort_keys=True).encode()).hexdigest()
        tokens = data()["search_tokens"]
        offset = 0
        if token is not None:
            entry = tokens.get(token)
            if entry is None or entry[0] != fingerprint:
                return _error(state, "search", 400, "Invalid pagination token")
            offset = entry[1]
        with state.lock:
            items = [
                (asset, record)
                for asset in data()["assets"].values()
                if asset["profile"] == profile
                for record in asset["versions"]
                if matches(asset, record, query["valueFilters"])
                and in_ranges(record, query["rangeFilters"])
                and (not query["text"] or str(query["text"]).lower() in record["name"].lower())
            ]
            items.sort(key=sort_key(query["sort"]["field"]), reverse=query["sort"]["order"] == "DESC")
            page = items[offset : offset + size]
            listed = [
                {
                    "assetId": asset["assetId"],
                    "version": record["version"],
                    "name": record["name"],
                    "assetType": asset["assetType"],
                    "assetSubTypes": record["assetSubTypes"],
                    "status": record["assetStatus"],
                    "tags": record["tags"],
                    "asinList": record["asins"],
                    "fileMetadata": record["fileMetadata"],
                    "creationTime": record["creationTime"],
                }
                for asset, record in page
            ]
        result: dict[str, Any] = {"assetList": listed, "totalRecords": len(items)}
        if offset + size < len(items):
            next_token = secrets.token_urlsafe(18)
            tokens[next_token] = (fingerprint, offset + size)
            result["token"] = next_token
        return _ok("search", result)

    # ------------------------------------------------------------- batch register
    @router.post("/assets/batchRegister")
    async def batch_register(request: Request) -> Response:
        profile, refused = guard(request, "batch_register", True)
        if refused:
            return refused
        try:
            body = await json_body(request)
        except _Refused as exc:
            return _error(state, "batch_register", exc.status, exc.message)
        items = body.get("assetDetailsList")
        if not isinstance(items, list) or not 1 <= len(items) <= 50:
            return _error(state, "batch_register", 400, "assetDetailsList must hold 1 to 50 assets")
        if not all(isinstance(i, dict) for i in items):
            return _error(state, "batch_register", 400, "each assetDetailsList item must be an object")
        request_id = str(uuid.uuid4())
        data()["batches"][request_id] = {"profile": profile, "items": items, "result": None}
        state.start_job(PLATFORM, f"batch:{request_id}")
        return _ok("batch_register", {"requestId": request_id})

    @router.get("/assets/batchRegister/{request_id}")
    async def batch_status(request: Request, request_id: str) -> Response:
        profile, refused = guard(request, "batch_status", False)
        if refused:
            return refused
        with state.lock:
            batch = data()["batches"].get(request_id)
            if batch is None or batch["profile"] != profile:
                return _error(state, "batch_status", 404, f"Batch request {request_id} not found")
            if batch["result"] is None and not state.poll_job(PLATFORM, f"batch:{request_id}"):
                return _ok(
                    "batch_status",
                    {
                        "registrationStatus": "IN_PROGRESS",
                        "successfullyRegisteredAssets": [],
                        "failedAssetDetails": [],
                        "inProgressAssetDetails": [
                            {"name": i.get("name"), "url": i.get("url")} for i in batch["items"]
                        ],
                    },
                )
            if batch["result"] is None:
                succeeded, failed = [], []
                for item in batch["items"]:
                    try:
                        registered = register_one(profile or "", item, tag_field="tagList")
                    except _Refused as exc:
                        failed.append(
                            {"name": item.get("name"), "errorCode": str(exc.status), "errorMessage": exc.message}
                        )
                    else:
                        succeeded.append({"name": item.get("name"), **registered})
                batch["result"] = {
                    "registrationStatus": "COMPLETE" if succeeded else "FAILED",
                    "successfullyRegisteredAssets": succeeded,
                    "failedAssetDetails": failed,
                    "inProgressAssetDetails": [],
                }
        return _ok("batch_status", batch["result"])

    return router
