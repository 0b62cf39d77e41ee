"""Sandbox of the Delta Projects DSP API v1 (Files and Clients), strict by the contract.

* every call needs a valid ``apikey`` query parameter, else 401;
* an unknown media agency or client, or a client not under that agency, is 404;
* upload: ``application/json`` with a string ``name`` and a string ``payload`` holding valid
  standard base64, else 400; above ``max_payload_bytes`` (optional) 413; the answer is 202,
  an empty body and ``Location: <uuid>`` (bare);
* a new file is ``PROCESSING``; after the configured processing speed it becomes
  ``PROCESSED`` when the decoded bytes are jpg, gif or png by magic number and the name's
  extension says the same type, else ``UNPROCESSABLE`` (or what ``state.outcomes`` forces:
  ``PROCESSED``/``ready``, ``UNPROCESSABLE``/``rejected``, or ``corrupt``: processed, but the
  stored bytes differ from the ones sent, as if mangled on the way);
* Retrieve gives ``checksum`` = upper-case SHA-1 of the stored bytes once ``PROCESSED``
  (null before), and a ``url`` that serves the bytes only once ``PROCESSED`` (404 before);
* List gives only ``{id, name}`` of that client's files.

Error bodies: the vendor's shape is undocumented; this sandbox answers plain text.
Configure with ``configure(state, max_payload_bytes=...)``.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from airflow_creative_provider.sandbox.state import ConnectionSpec, SandboxState

PLATFORM = "delta_projects"
AGENCY_ID = "86b35325-794c-11e4-8425-daf437376f87"
CLIENT_ID = "86b35326-794c-11e4-8425-daf437376f87"
OTHER_AGENCY_ID = "5f0c1c7e-3b1a-4f59-9d59-0a4f8e7c2b10"
OTHER_CLIENT_ID = "9d1e5c44-6a3b-4c1e-8f6e-2b7a9e4d3c21"

_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"))
_MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
_OUTCOMES = {
    "processed": "PROCESSED",
    "ready": "PROCESSED",
    "unprocessable": "UNPROCESSABLE",
    "rejected": "UNPROCESSABLE",
    "corrupt": "corrupt",
}


def _seed(state: SandboxState) -> None:
    store = state.store(PLATFORM)
    store.setdefault("config", {"max_payload_bytes": None})
    store.setdefault(
        "agencies",
        {
            AGENCY_ID: {
                CLIENT_ID: {"id": CLIENT_ID, "name": "Sandbox Soap Co", "country": "SE", "currency": "SEK"},
            },
            OTHER_AGENCY_ID: {
                OTHER_CLIENT_ID: {
                    "id": OTHER_CLIENT_ID,
                    "name": "Other Agency Client",
                    "country": "DE",
                    "currency": "EUR",
                },
            },
        },
    )
    store.setdefault("files", {})


def api_key(state: SandboxState) -> str:
    """The sandbox's valid API key (one per sandbox, kept across resets)."""
    creds = state.credentials.setdefault(PLATFORM, {})
    if "apikey" not in creds:
        creds["apikey"] = "dp-" + secrets.token_hex(16)
    return creds["apikey"]


def configure(state: SandboxState, *, max_payload_bytes: int | None = None) -> None:
    """Answer 413 to uploads whose body exceeds ``max_payload_bytes`` (None: no limit). Reset clears it."""
    _seed(state)
    state.store(PLATFORM)["config"]["max_payload_bytes"] = max_payload_bytes


def connection(state: SandboxState) -> ConnectionSpec:
    return ConnectionSpec(
        conn_id="delta_projects_default",
        conn_type="delta_projects",
        host=state.platform_url(PLATFORM),
        password=api_key(state),
        extra={"media_agency_id": AGENCY_ID, "client_id": CLIENT_ID},
    )


def extra_connections(state: SandboxState) -> list[ConnectionSpec]:
    """``delta_projects_second``: the same API key, the other media agency's client (another account)."""
    spec = connection(state)
    return [
        ConnectionSpec(
            conn_id="delta_projects_second",
            conn_type=spec.conn_type,
            host=spec.host,
            password=spec.password,
            extra={"media_agency_id": OTHER_AGENCY_ID, "client_id": OTHER_CLIENT_ID},
        )
    ]


def fault_response(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


def _error(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


def _sniff(data: bytes) -> str | None:
    for signature, extension in _MAGIC:
        if data.startswith(signature):
            return extension
    return None


def build_router(state: SandboxState) -> APIRouter:
    _seed(state)
    api_key(state)
    state.on_reset(lambda: _seed(state))
    router = APIRouter()
    store = lambda: state.store(PLATFORM)  # noqa: E731 - the store is replaced on reset

    def authorised(request: Request) -> bool:
        given = request.query_params.get("apikey") or ""
        return secrets.compare_digest(given.encode(), api_key(state).encode())

    def client_of(agency_id: str, client_id: str) -> dict[str, Any] | None:
        return store()["agencies"].get(agency_id, {}).get(client_id)

    def guard(request: Request, agency_id: str, client_id: str | None = None) -> Response | None:
        if not authorised(request):
            return _error(401, "Unauthorized: incorrect or insufficient credentials")
        if agency_id not in store()["agencies"]:
            return _error(404, f"Not Found: media agency {agency_id}")
        if client_id is not None and client_of(agency_id, client_id) is None:
            return _error(404, f"Not Found: client {client_id} under media agency {agency_id}")
        return None

    def public_url(file: dict[str, Any]) -> str:
        return f"{state.platform_url(PLATFORM)}/files/{file['id']}/{file['name']}"

    def advance(file: dict[str, Any]) -> None:
        if file["state"] != "PROCESSING" or not state.poll_job(PLATFORM, file["id"]):
            return
        data: bytes = file["data"]
        forced = state.forced_outcome(PLATFORM, file["name"])
        outcome = _OUTCOMES.get(forced.outcome.lower(), forced.outcome) if forced else None
        if outcome == "corrupt":
            file["data"] = data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"\0"
            outcome = "PROCESSED"
        if outcome is None:
            extension = "." + file["name"].rsplit(".", 1)[-1].lower() if "." in file["name"] else ""
            sniffed = _sniff(data)
            outcome = "PROCESSED" if sniffed is not None and sniffed == extension else "UNPROCESSABLE"
        file["state"] = outcome
        if outcome == "PROCESSED":
            file["checksum"] = hashlib.sha1(file["data"], usedforsecurity=False).hexdigest().upper()

    # -------------------------------------------------------------- clients
    @router.get("/api/v1/media_agency/{agency_id}/client")
    def list_clients(agency_id: str, request: Request) -> Response:
        if (denied := guard(request, agency_id)) is not None:
            return denied
        clients = store()["agencies"][agency_id].values()
        return JSONResponse([{"id": c["id"], "name": c["name"]} for c in clients])

    @router.get("/api/v1/media_agency/{agency_id}/client/{client_id}")
    def get_client(agency_id: str, client_id: str, request: Request) -> Response:
        if (denied := guard(request, agency_id, client_id)) is not None:
            return denied
        return JSONResponse(client_of(agency_id, client_id))

    @router.get("/api/v1/client/{client_id}")
    def get_client_short(client_id: str, request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Unauthorized: incorrect or insufficient credentials")
        for clients in store()["agencies"].values():
            if client_id in clients:
                return JSONResponse(clients[client_id])
        return _error(404, f"Not Found: client {client_id}")

    # -------------------------------------------------------------- files
    files_path = "/api/v1/media_agency/{agency_id}/client/{client_id}/file"

    @router.get(files_path)
    def list_files(agency_id: str, client_id: str, request: Request) -> Response:
        if (denied := guard(request, agency_id, client_id)) is not None:
            return denied
        files = [f for f in store()["files"].values() if f["agency_id"] == agency_id and f["client_id"] == client_id]
        return JSONResponse([{"id": f["id"], "name": f["name"]} for f in files])

    @router.get(files_path + "/{file_id}")
    def retrieve_file(agency_id: str, client_id: str, file_id: str, request: Request) -> Response:
        if (denied := guard(request, agency_id, client_id)) is not None:
            return denied
        file = store()["files"].get(file_id)
        if file is None or file["agency_id"] != agency_id or file["client_id"] != client_id:
            return _error(404, f"Not Found: file {file_id}")
        with state.lock:
            advance(file)
        return JSONResponse(
            {
                "id": file["id"],
                "name": file["name"],
                "state": file["state"],
                "url": public_url(file),
                "checksum": file.get("checksum"),
            }
        )

    @router.post(files_path)
    async def upload_file(agency_id: str, client_id: str, request: Request) -> Response:
        if (denied := guard(request, agency_id, client_id)) is not None:
            return denied
        limit = store()["config"].get("max_payload_bytes")
        declared = request.headers.get("content-length")
        if limit is not None and declared is not None and declared.isdigit() and int(declared) > limit:
            return _error(413, "Request Entity Too Large")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error(400, "Bad Request: the body must be application/json")
        raw = await request.body()
        request.state.note = f"content-length={declared}"
        if limit is not None and len(raw) > limit:
            return _error(413, "Request Entity Too Large")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "Bad Request: the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "Bad Request: the body must be a JSON object")
        name, payload = body.get("name"), body.get("payload")
        if not isinstance(name, str) or not name.strip():
            return _error(400, "Bad Request: 'name' is required and must be a string")
        if not isinstance(payload, str):
            return _error(400, "Bad Request: 'payload' is required and must be a base64 string")
        try:
            data = binascii.a2b_base64(payload.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            return _error(400, "Bad Request: 'payload' is not valid base64")
        file_id = str(uuid.uuid4())
        request.state.sha256 = hashlib.sha256(data).hexdigest()
        request.state.remote_id = file_id
        with state.lock:
            store()["files"][file_id] = {
                "id": file_id,
                "name": name,
                "agency_id": agency_id,
                "client_id": client_id,
                "state": "PROCESSING",
                "data": data,
                "checksum": None,
            }
            state.start_job(PLATFORM, file_id)
        return Response(status_code=202, headers={"Location": file_id})

    # -------------------------------------------------------------- public file URLs (no apikey)
    @router.get("/files/{file_id}/{name}")
    def serve_file(file_id: str, name: str) -> Response:
        file = store()["files"].get(file_id)
        if file is None or file["name"] != name or file["state"] != "PROCESSED":
            return _error(404, "Not Found")
        media_type = _MEDIA_TYPES.get(_sniff(file["data"]) or "", "application/octet-stream")
        return Response(file["data"], media_type=media_type)

    return router
