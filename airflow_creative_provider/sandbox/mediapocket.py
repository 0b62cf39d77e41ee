"""MediaPocket API v2 simulator (``/mediapocket/api/v2/...``), strict to the contract.

* Every call needs ``X-API-KEY`` (401 ``{"error":"Unauthorized"}`` otherwise); a body that is
  not sent as ``application/json`` is not read (as a Rails app would), so a create without
  the header answers 422 ``Missing parameter title``.
* ``POST /projects/:id/assets``: 404 ``project not found``, 422 ``Missing parameter title``,
  422 for a ``media_type`` other than ``article`` (the vendor's HTML message), 422 for
  mistyped fields, 400 ``External id has already been taken`` (unique across assets and
  projects); a ``url.file_url`` that is not an absolute http(s) URL creates the asset anyway
  and answers 400 ``Asset <id> created, adding media to asset failed: not a valid HTTP URL``.
* Media is fetched for real, in a thread: ``url.file_url`` over HTTP (any URL: the sandbox
  S3's presigned URLs are checked for signature and expiry by its guard, so an expired or
  unreachable URL fails as in production) or ``s3.s3_key`` from the sandbox bucket
  ``sandbox-staging`` (the bucket the simulated tenant reads). The asset stays
  ``processing`` until the fetch succeeded and the processing delay passed
  (``state.speeds["mediapocket"]``), then becomes ``image`` or ``video`` by the bytes'
  magic numbers (``document`` otherwise) with ``md5_sum`` set. A failed fetch leaves it
  ``processing`` (the vendor documents no failure state) and is journaled (``kind="fetch"``).
* Forced outcomes by file name (``state.outcomes``): ``create_media_failed`` answers the
  partial-failure 400 for a create with a URL (the asset is persisted); ``fetch_failed``
  makes the fetch fail.
* Trash bin and restore; an asset trashed 14 days ago (sandbox clock) is purged.
* IDs are 20 URL-safe characters; timestamps ISO-8601 with milliseconds and ``Z``;
  ``category`` is lower-cased. History pages hold two events (cursor = offset).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.cookiejar
import secrets
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from airflow_creative_provider.creative import sniff_mimetype
from airflow_creative_provider.sandbox.state import ConnectionSpec, SandboxState

PLATFORM = "mediapocket"
PREFIX = "/api/v2"
PROJECT_ID = "SbxProject-Creative1"
OTHER_PROJECT_ID = "SbxProject-Creative2"
PROJECT_EXTERNAL_ID = "sandbox-creatives"
STAGING_BUCKET = "sandbox-staging"
OWNER = "sandbox-user@example.com"
PURGE_AFTER = 14 * 24 * 3600.0
HISTORY_PAGE = 2
FETCH_TIMEOUT = 15.0
#: the name of every media fetch thread (``join_fetches`` waits for them).
FETCH_THREAD = "mediapocket-fetch"
ASSET_FIELDS = (
    "id",
    "external_id",
    "parent_id",
    "project_id",
    "owner",
    "title",
    "description",
    "category",
    "tags",
    "ai_tags",
    "status",
    "media_type",
    "original_filename",
    "drop_folder_id",
    "md5_sum",
    "created_date",
    "modification_date",
    "deleted",
)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def fault_response(status: int, message: str) -> Response:
    """Injected faults in MediaPocket's error shape."""
    return _error(status, message)


def api_key(state: SandboxState) -> str:
    creds = state.credentials.setdefault(PLATFORM, {})
    if "api_key" not in creds:
        creds["api_key"] = "mpk_" + secrets.token_urlsafe(24)
    return creds["api_key"]


def connection(state: SandboxState) -> ConnectionSpec:
    """``mediapocket_default``: the tenant, its API key, a project, the sandbox S3 as staging."""
    return ConnectionSpec(
        conn_id=f"{PLATFORM}_default",
        conn_type=PLATFORM,
        host=state.platform_url(PLATFORM),
        password=api_key(state),
        extra={
            "project_id": PROJECT_ID,
            "aws_conn_id": "creative_sandbox_s3",
            "staging_bucket": STAGING_BUCKET,
        },
    )


def extra_connections(state: SandboxState) -> list[ConnectionSpec]:
    """``mediapocket_second``: the same tenant and key, the other project (another account)."""
    spec = connection(state)
    return [
        ConnectionSpec(
            conn_id=f"{PLATFORM}_second",
            conn_type=spec.conn_type,
            host=spec.host,
            password=spec.password,
            extra={**spec.extra, "project_id": OTHER_PROJECT_ID},
        )
    ]


def new_id() -> str:
    return secrets.token_urlsafe(15)  # 20 URL-safe characters


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class Tenant:
    """One tenant's data, kept in ``state.store("mediapocket")`` (cleared on reset)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.db = state.store(PLATFORM)
        with state.lock:
            if "projects" not in self.db:
                now = iso(state.now())
                self.db["assets"] = {}
                self.db["external_ids"] = {}
                self.db["projects"] = {}
                for pid, ext, title in (
                    (PROJECT_ID, PROJECT_EXTERNAL_ID, "Sandbox creatives"),
                    (OTHER_PROJECT_ID, None, "Other project"),
                ):
                    self.db["projects"][pid] = {
                        "id": pid,
                        "external_id": ext,
                        "project_id": None,
                        "owner": OWNER,
                        "title": title,
                        "description": None,
                        "category": None,
                        "tags": [],
                        "media_type": "project",
                        "isPublic": False,
                        "thumbnail_asset_id": None,
                        "created_date": now,
                        "modification_date": now,
                        "deleted": None,
                        "original_title": title,
                    }
                    if ext:
                        self.db["external_ids"][ext] = ("project", pid)
        self.purge()

    @property
    def assets(self) -> dict[str, dict[str, Any]]:
        return self.db["assets"]

    def purge(self) -> None:
        """Remove assets that spent 14 days in the trash bin."""
        now = self.state.now()
        with self.state.lock:
            for asset_id, asset in list(self.assets.items()):
                if asset.get("_trashed_at") is not None and now - asset["_trashed_at"] >= PURGE_AFTER:
                    del self.assets[asset_id]
                    if asset.get("external_id"):
                        self.db["external_ids"].pop(asset["external_id"], None)

    def event(self, asset: dict[str, Any], event_type: str, **data: Any) -> None:
        asset["_history"].append(
            {"event_type": event_type, "created_date": iso(self.state.now()), "user": OWNER, **data}
        )

    def touch(self, asset: dict[str, Any]) -> None:
        asset["modification_date"] = iso(self.state.now())

    def create(self, fields: dict[str, Any], project_id: str | None) -> dict[str, Any]:
        now = iso(self.state.now())
        asset_id = new_id()
        asset: dict[str, Any] = {
            "id": asset_id,
            "external_id": fields.get("external_id"),
            "parent_id": None,
            "project_id": project_id,
            "owner": OWNER,
            "title": fields["title"],
            "description": fields.get("description"),
            "category": fields["category"].lower() if fields.get("category") else fields.get("category"),
            "tags": list(fields.get("tags") or []),
            "ai_tags": [],
            "status": "open",
            "media_type": "article" if fields.get("media_type") == "article" else "placeholder",
            "original_filename": None,
            "drop_folder_id": None,
            "md5_sum": None,
            "created_date": now,
            "modification_date": now,
            "deleted": None,
            "_history": [],
            "_media": [],
            "_fetch": None,
            "_trashed_at": None,
        }
        with self.state.lock:
            self.assets[asset_id] = asset
            if asset["external_id"]:
                self.db["external_ids"][asset["external_id"]] = ("asset", asset_id)
        self.event(asset, "ASSET_ADDED")
        return asset

    def start_media(
        self, asset: dict[str, Any], filename: str, *, url: str | None = None, key: str | None = None
    ) -> None:
        """Media is being fetched: ``processing`` now, a real fetch in a thread."""
        fetch: dict[str, Any] = {"done": False, "filename": filename}
        with self.state.lock:
            asset["media_type"] = "processing"
            asset["original_filename"] = filename
            asset["md5_sum"] = None
            asset["_fetch"] = fetch
            self.touch(asset)
        self.event(asset, "MEDIA_ADDED", filename=filename)
        self.state.start_job(PLATFORM, asset["id"])
        forced = self.state.forced_outcome(PLATFORM, filename)
        fail = (forced.reason or "injected fetch failure") if forced and forced.outcome == "fetch_failed" else None
        threading.Thread(
            target=_fetch, args=(self.state, asset["id"], fetch, url, key, fail), daemon=True, name=FETCH_THREAD
        ).start()

    def advance(self, asset: dict[str, Any]) -> None:
        """One status read: processing ends once the fetch succeeded and the delay passed."""
        if asset["media_type"] != "processing":
            return
        finished = self.state.poll_job(PLATFORM, asset["id"])
        fetch = asset.get("_fetch") or {}
        if not (finished and fetch.get("done") and fetch.get("ok")):
            return
        with self.state.lock:
            asset["media_type"] = fetch["media_type"]
            asset["md5_sum"] = fetch["md5"]
            asset["_media"] = [
                {
                    "id": new_id(),
                    "filename": fetch["filename"],
                    "media_type": fetch["media_type"],
                    "mimetype": fetch["mimetype"],
                    "size": fetch["size"],
                    "md5_sum": fetch["md5"],
                }
            ]
            self.touch(asset)
        self.event(asset, "MEDIA_PROCESSED", media_type=fetch["media_type"])


def join_fetches() -> None:
    """A test control: wait until every media fetch started so far has ended (each is bounded by
    ``FETCH_TIMEOUT``), so a test asserts on a finished fetch instead of sleeping and hoping."""
    for thread in threading.enumerate():
        if thread.name == FETCH_THREAD:
            thread.join()


_fetch_client: httpx.Client | None = None
_fetch_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One HTTP client for every fetch: a client per fetch builds an SSL context (~40 ms CPU)."""
    global _fetch_client
    with _fetch_client_lock:
        if _fetch_client is None:
            # No cookie is kept from one fetch to the next (a jar whose policy accepts none).
            jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            _fetch_client = httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True, cookies=jar)
        return _fetch_client


def _fetch(
    state: SandboxState, asset_id: str, fetch: dict[str, Any], url: str | None, key: str | None, fail: str | None
) -> None:
    """Download the media like MediaPocket would, hash it and recognise its type."""
    md5, sha256, head, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), b"", 0
    status: Any = None
    error: str | None = fail
    path = urlsplit(url).path if url else f"/s3/{STAGING_BUCKET}/{key}"
    if error is None:
        try:
            if url is not None:
                with _http().stream("GET", url) as response:
                    status = response.status_code
                    if status != 200:
                        error = f"HTTP {status} from the media URL"
                    else:
                        for chunk in response.iter_bytes(1024 * 1024):
                            head = head or chunk[:64]
                            size += len(chunk)
                            md5.update(chunk)
                            sha256.update(chunk)
            else:
                body = state.s3.client.get_object(Bucket=STAGING_BUCKET, Key=key)["Body"]
                status = 200
                for chunk in iter(lambda: body.read(1024 * 1024), b""):
                    head = head or chunk[:64]
                    size += len(chunk)
                    md5.update(chunk)
                    sha256.update(chunk)
        except Exception as exc:  # noqa: BLE001 - any failure to fetch is a failed fetch
            error = f"could not fetch the media ({type(exc).__name__})"
    if error is None and size == 0:
        error = "the media is empty"
    mimetype = sniff_mimetype(head) if error is None else None
    kind = (mimetype or "").split("/")[0]
    with state.lock:
        fetch.update(
            done=True,
            ok=error is None,
            error=error,
            md5=md5.hexdigest(),
            size=size,
            mimetype=mimetype or "application/octet-stream",
            media_type=kind if kind in ("image", "video") else "document",
        )
    state.journal.record(
        platform=PLATFORM,
        method="GET",
        path=path,
        kind="fetch",
        status=status,
        remote_id=asset_id,
        sha256=sha256.hexdigest() if error is None else None,
        note=error,
    )


def public(asset: dict[str, Any]) -> dict[str, Any]:
    return {k: asset[k] for k in ASSET_FIELDS}


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The JSON body when sent as application/json; {} otherwise; None when malformed."""
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        import json

        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _invalid(name: str, value: Any, rule: str) -> JSONResponse:
    import json

    return _error(422, f"Invalid parameter '{name}' value {json.dumps(value)}: {rule}.")


def _validate_fields(body: dict[str, Any], *, require_title: bool = True) -> JSONResponse | None:
    if require_title and "title" not in body:
        return _error(422, "Missing parameter title")
    for name in ("title", "description", "category", "external_id"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            return _invalid(name, body[name], "Must be a String")
    if "tags" in body and body["tags"] is not None:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return _invalid("tags", tags, "Must be an array of String")
    if body.get("media_type") is not None and body["media_type"] != "article":
        return _invalid("media_type", body["media_type"], "Must be one of: <code>article</code>")
    return None


def _validate_media(body: dict[str, Any]) -> JSONResponse | None:
    for name, key_field in (("url", "file_url"), ("s3", "s3_key")):
        if name not in body or body[name] is None:
            continue
        value = body[name]
        if not isinstance(value, dict):
            return _invalid(name, value, "Must be a Hash")
        for sub in (key_field, "filename"):
            if sub not in value:
                return _error(422, f"Missing parameter {name}[{sub}]")
            if not isinstance(value[sub], str):
                return _invalid(f"{name}[{sub}]", value[sub], "Must be a String")
    return None


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    key = api_key(state)

    def denied(request: Request) -> JSONResponse | None:
        given = request.headers.get("x-api-key")
        if not given or not secrets.compare_digest(given, key):
            return _error(401, "Unauthorized")
        return None

    def found_asset(asset_id: str) -> tuple[Tenant, dict[str, Any] | None]:
        tenant = Tenant(state)
        return tenant, tenant.assets.get(asset_id)

    async def create(request: Request, project_id: str | None, with_media: bool) -> Response:
        if problem := denied(request):
            return problem
        tenant = Tenant(state)
        if project_id is not None and project_id not in tenant.db["projects"]:
            return _error(404, "project not found")
        body = await _json_body(request)
        if body is None:
            return _error(400, "invalid JSON body")
        problem = _validate_fields(body) or (_validate_media(body) if with_media else None)
        if problem:
            return problem
        external_id = body.get("external_id")
        with state.lock:
            if external_id and external_id in tenant.db["external_ids"]:
                return _error(400, "External id has already been taken")
            asset = tenant.create(body, project_id)
        request.state.remote_id = asset["id"]
        if with_media and asset["media_type"] != "article":
            url, s3 = body.get("url"), body.get("s3")
            if url is not None:
                forced = state.forced_outcome(PLATFORM, url["filename"])
                if not is_http_url(url["file_url"]):
                    return _error(
                        400, f"Asset {asset['id']} created, adding media to asset failed: not a valid HTTP URL"
                    )
                if forced and forced.outcome == "create_media_failed":
                    reason = forced.reason or "could not download the file"
                    return _error(400, f"Asset {asset['id']} created, adding media to asset failed: {reason}")
                tenant.start_media(asset, url["filename"], url=url["file_url"])
            elif s3 is not None:
                tenant.start_media(asset, s3["filename"], key=s3["s3_key"])
        return JSONResponse({"asset": public(asset)})

    @router.post("/projects/{project_id}/assets")
    async def create_in_project(project_id: str, request: Request) -> Response:
        return await create(request, project_id, with_media=True)

    @router.post("/assets")
    async def create_outside_project(request: Request) -> Response:
        return await create(request, None, with_media=False)

    @router.post("/assets/{asset_id}/media")
    async def add_media(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        tenant, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        body = await _json_body(request)
        if body is None:
            return _error(400, "invalid JSON body")
        for name in ("file_url", "filename"):
            if name not in body:
                return _error(422, f"Missing parameter {name}")
            if not isinstance(body[name], str):
                return _invalid(name, body[name], "Must be a String")
        if not is_http_url(body["file_url"]):
            return _error(400, "not a valid HTTP URL")
        request.state.remote_id = asset_id
        tenant.start_media(asset, body["filename"], url=body["file_url"])
        return JSONResponse({"ok": "ok"})

    @router.get("/assets/{asset_id}")
    def get_asset(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        tenant, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        tenant.advance(asset)
        return JSONResponse({"asset": public(asset)})

    @router.put("/assets/{asset_id}")
    async def update_asset(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        tenant, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        body = await _json_body(request)
        if body is None:
            return _error(400, "invalid JSON body")
        if problem := _validate_fields(body, require_title=False):
            return problem
        with state.lock:
            new_ext = body.get("external_id")
            if new_ext and new_ext != asset["external_id"]:
                if new_ext in tenant.db["external_ids"]:
                    return _error(400, "External id has already been taken")
                tenant.db["external_ids"].pop(asset["external_id"], None)
                tenant.db["external_ids"][new_ext] = ("asset", asset_id)
            for name in ("title", "description", "category", "tags", "external_id"):
                if name in body:
                    value = body[name]
                    asset[name] = value.lower() if name == "category" and value else value
            tenant.touch(asset)
        tenant.event(asset, "METADATA_UPDATED", fields=sorted(k for k in body if k in ASSET_FIELDS))
        return JSONResponse({"asset": public(asset)})

    @router.get("/assets/{asset_id}/media")
    def get_media(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        _, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        return JSONResponse({"media": list(asset["_media"])})

    @router.get("/assets/{asset_id}/file_metadata")
    def file_metadata(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        _, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        media = asset["_media"][0] if asset["_media"] else None
        info = {"mediainfo": {k: media[k] for k in ("filename", "mimetype", "size", "md5_sum")}} if media else {}
        return JSONResponse({"file_metadata": info})

    @router.get("/assets/{asset_id}/history/{cursor}")
    def history(asset_id: str, cursor: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        _, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        events = asset["_history"]
        if not cursor.isdigit() or int(cursor) > len(events):
            return _error(422, f"Invalid parameter 'cursor' value \"{cursor}\"")
        start = int(cursor)
        page = events[start : start + HISTORY_PAGE]
        more = start + HISTORY_PAGE < len(events)
        return JSONResponse({"history": {"results": page, "next_cursor": str(start + HISTORY_PAGE) if more else None}})

    @router.post("/assets/{asset_id}/trash_bin")
    def trash(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        tenant, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        with state.lock:
            if asset["_trashed_at"] is None:
                asset["_trashed_at"] = state.now()
                asset["deleted"] = iso(state.now())
                tenant.touch(asset)
                tenant.event(asset, "ASSET_TRASHED")
        return JSONResponse({"ok": "ok"})

    @router.post("/assets/{asset_id}/restore")
    def restore(asset_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        tenant, asset = found_asset(asset_id)
        if asset is None:
            return _error(404, "asset not found")
        with state.lock:
            if asset["_trashed_at"] is not None:
                asset["_trashed_at"] = None
                asset["deleted"] = None
                tenant.touch(asset)
                tenant.event(asset, "ASSET_RESTORED")
        return JSONResponse({"ok": "ok"})

    @router.get("/projects/{project_id}")
    def get_project(project_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        project = Tenant(state).db["projects"].get(project_id)
        if project is None:
            return _error(404, "project not found")
        return JSONResponse({"project": project})

    @router.get("/external_ids")
    def list_external_ids(request: Request) -> Response:
        if problem := denied(request):
            return problem
        ids = Tenant(state).db["external_ids"]
        return JSONResponse([{"external_id": e, "id": i, "type": t} for e, (t, i) in sorted(ids.items())])

    @router.get("/external_ids/{external_id}")
    def by_external_id(external_id: str, request: Request) -> Response:
        if problem := denied(request):
            return problem
        found = Tenant(state).db["external_ids"].get(external_id)
        if found is None:
            return _error(404, f"external id {external_id} not found")
        return JSONResponse({"external_id": external_id, "id": found[1], "type": found[0]})

    return router
