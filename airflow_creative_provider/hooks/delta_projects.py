"""``DeltaProjectsHook``: the Delta Projects DSP API v1 Files endpoints.

Files are uploaded as JSON ``{"name": <file name>, "payload": <base64 of the bytes>}``,
streamed by ``transfer.base64_json_body`` with an exact ``Content-Length`` (base64 makes the
body about 4/3 of the file). Delta answers ``202 Accepted`` with the new file id, bare, in
``Location``; the general docs promise ``201`` with the entity URL, so both forms are parsed
(the last path segment is the id). Processing is asynchronous: ``PROCESSING`` (pending),
then ``PROCESSED`` (ready: ``url`` and ``checksum`` valid) or ``UNPROCESSABLE`` (rejected,
no reason given). On ``PROCESSED`` the returned checksum (upper-case hex SHA-1) is compared
case-insensitively with the local SHA-1; a mismatch is reported as a rejection that says so.

Auth is the ``apikey`` query parameter on every call (connection password). Because the key
travels in URLs, no URL is ever logged or raised with its query string: the base hook reduces
URLs to their path in every message and filters urllib3's, requests' and httpx's own log lines.
Paths live under ``/api/v1/media_agency/<media_agency_id>/client/<client_id>``, with both
ids taken from the connection extras; the account is the ``client_id``.

Idempotency: Delta cannot deduplicate uploads and has no external id. An upload POST is
never repeated blindly: when its outcome is uncertain (the connection dropped or timed out
after the body was sent, a 5xx, or a 2xx without ``Location``) the hook lists the client's
files, keeps those with the same ``name``, retrieves each and compares its ``checksum`` with
the local SHA-1 (a candidate still ``PROCESSING`` has no checksum yet, so it is polled for up
to ``recovery_wait`` seconds). A match is the file the lost POST created; only when no
candidate matches is the upload sent again. If a candidate cannot be decided in time the
hook raises ``UncertainOutcome`` instead of risking a second file. The same lookup is
``find_asset``, used by ``submit(resume=True)`` when a task is retried.

Local rules: only jpg, gif and png, decided by the content's magic bytes. The seed lists the
types as ``jpg``, ``gif`` and ``png`` and whether Delta reads the name's extension is
unconfirmed, so every file is sent under its name with the extension of its real type
(``photo.jpeg`` as ``photo.jpg``; a PNG named ``.jpg`` as ``.png``, with a warning); video is refused
with a reason saying that Delta's Files API does not take video (video goes through VAST
creatives by URL); a size limit per connection (extra ``max_file_bytes``, default 10 MiB), a
guard of this project (Delta documents none) because large base64 bodies are answered 413 by
proxies. Rate limits are undocumented: the
hook keeps to a conservative client-side limit and polls at most ``status_concurrency`` files
at once (the list gives no states, so N files cost N Retrieve calls).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_creative_provider.creative import Creative, PlatformRules, Refusal, open_binary
from airflow_creative_provider.exceptions import (
    PlatformConfigError,
    PlatformError,
    PlatformRequestError,
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
    url_path,
)
from airflow_creative_provider.transfer import PAYLOAD, base64_json_body

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_creative_provider.transfer import Base64JsonBody

#: Our conservative default size limit; the real limit is undocumented (extra ``max_file_bytes``).
DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024

STATE_MAP: dict[str, str] = {
    "PROCESSING": AssetStatus.PENDING,
    "PROCESSED": AssetStatus.READY,
    "UNPROCESSABLE": AssetStatus.REJECTED,
}

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class DeltaProjectsRules(PlatformRules):
    """Delta's rules: jpg, gif, png only; video refused with the reason Delta gives none for."""

    def _refusals(self, c: Creative) -> Iterable[Refusal]:
        if c.kind == "video":
            yield Refusal(
                c.key,
                self.platform,
                "type",
                f"{c.key}: refused for {self.platform} (type): Delta Projects' Files API does not take "
                "video, only jpg, gif and png images; video goes through VAST creatives by URL.",
            )
            return
        yield from super()._refusals(c)


RULES = DeltaProjectsRules(
    platform="delta_projects",
    mimetypes=frozenset({"image/jpeg", "image/gif", "image/png"}),
    extensions=frozenset({".jpg", ".jpeg", ".gif", ".png"}),
    max_bytes=DEFAULT_MAX_FILE_BYTES,
    own_limits=frozenset({"max_bytes"}),
    guard_hint="Raise it with the connection extra max_file_bytes.",
    type_hint="Delta Projects' Files API takes only jpg, gif and png.",
)


def loads_lenient(content: bytes) -> Any:
    """JSON, tolerating the trailing commas of Delta's documented examples."""
    if not content.strip():
        return None
    text = content.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", text))


def file_id_from_location(location: str | None) -> str | None:
    """The file id from ``Location``: a bare id (202) or the entity URL (201): the last segment."""
    if not location:
        return None
    value = location.strip().split("#", 1)[0].split("?", 1)[0].rstrip("/")
    segment = value.rsplit("/", 1)[-1]
    return segment or None


def checksum_mismatch(remote_id: str, reported: str | None, expected: str | None) -> str | None:
    """The reason when Delta's checksum differs from the local SHA-1 (case-insensitive), else None."""
    if not expected:
        return None
    if not reported:
        return f"file {remote_id} is PROCESSED but Delta Projects returned no checksum to compare with {expected}"
    if reported.strip().lower() != expected.strip().lower():
        return (
            f"checksum mismatch: Delta Projects reports SHA-1 {reported} for file {remote_id}, the local file's "
            f"SHA-1 is {expected.lower()}; the stored file differs from what was sent. Upload it again."
        )
    return None


class DeltaProjectsHook(CreativePlatformHook):
    """Delta Projects DSP API v1: list, retrieve and upload files; list and get clients.

    Connection: ``host`` = API base URL (no public default), ``password`` = API key (sent as
    the ``apikey`` query parameter), extras ``media_agency_id``, ``client_id`` and optionally
    ``max_file_bytes`` and ``timeout``.

    :param conn_id: the Airflow connection; ``delta_projects_default`` when omitted.
    """

    conn_name_attr = "delta_projects_conn_id"
    default_conn_name = "delta_projects_default"
    conn_type = "delta_projects"
    hook_name = "Delta Projects"

    platform: ClassVar[str] = "delta_projects"
    default_host: ClassVar[str | None] = None
    rules: ClassVar[PlatformRules] = RULES
    auth_hint: ClassVar[str] = (
        "the password (the Delta Projects API key, sent as the apikey query parameter; only your Delta "
        "representative can issue or reset one)"
    )
    #: Delta documents no rate limit: rather than invent one, bound the calls in flight (the
    #: pace then follows Delta's own response times), honour 429/Retry-After, and let an
    #: account with a known quota set the connection extra ``max_calls_per_second``.
    rate_limit: ClassVar[tuple[int, float] | None] = None
    upload_concurrency: ClassVar[int] = 4
    status_concurrency: ClassVar[int] = 4
    #: how long an uncertain upload's lookup waits for a same-name candidate to finish processing.
    recovery_wait: float = 60.0
    recovery_poll: float = 2.0
    #: upload attempts when a lookup proved an uncertain POST created nothing.
    max_upload_attempts: int = 3

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        #: local SHA-1 by file id, compared with Delta's checksum once a file is PROCESSED.
        self.expected_checksums: dict[str, str] = {}

    # ----------------------------------------------------------------- connection
    @property
    def media_agency_id(self) -> str:
        return str(self.extra_field("media_agency_id", required=True))

    @property
    def client_id(self) -> str:
        return str(self.extra_field("client_id", required=True))

    @property
    def account(self) -> str:
        return self.client_id

    @property
    def max_file_bytes(self) -> int:
        value = self.extra_field("max_file_bytes", default=DEFAULT_MAX_FILE_BYTES)
        try:
            limit = int(value)
        except (TypeError, ValueError):
            limit = 0
        if limit <= 0:
            raise PlatformConfigError(
                f"{self.hook_name}: extra 'max_file_bytes' of connection {self.conn_id!r} must be a positive "
                f"number of bytes; got {value!r}.",
                platform=self.platform,
            )
        return limit

    @property
    def connection_rules(self) -> PlatformRules:
        """The platform rules with this connection's size limit."""
        return self.rules.with_(max_bytes=self.max_file_bytes)

    def check_creative(self, creative: Creative, rules: PlatformRules | None = None) -> None:
        super().check_creative(creative, rules or self.connection_rules)

    def auth_params(self) -> dict[str, str]:
        return {"apikey": self.require_password()}

    # ----------------------------------------------------------------- paths
    @property
    def agency_path(self) -> str:
        return f"api/v1/media_agency/{self.media_agency_id}"

    @property
    def files_path(self) -> str:
        return f"{self.agency_path}/client/{self.client_id}/file"

    def file_path(self, file_id: str) -> str:
        return f"{self.files_path}/{file_id}"

    # ----------------------------------------------------------------- errors
    def vendor_error(self, response: Response) -> tuple[str | None, str | None]:
        """Delta's error body shape is undocumented: keep it as text, never parse it."""
        text = response.text.strip()
        return None, text[:500] or None

    def error_for(self, call: ApiCall, response: Response) -> PlatformError:
        status = response.status
        if status not in (400, 404, 413):
            return super().error_for(call, response)
        ctx = self.error_context(call, response)
        where, said = ctx.where, ctx.said
        if status == 400:
            advice = (
                "Delta refused the request as malformed; an upload needs a string name (with a jpg, gif or png "
                "extension) and the standard base64 of the file as payload."
            )
        elif status == 404:
            advice = (
                f"Delta knows no such entity: check the extras media_agency_id ({self.media_agency_id}) and "
                f"client_id ({self.client_id}) of connection {self.conn_id!r}, and the file id."
            )
        else:
            advice = (
                "The request body was too large for Delta or a proxy in front of it (base64 makes it about 4/3 "
                f"of the file); lower the extra max_file_bytes of connection {self.conn_id!r} so such files are "
                "refused locally, or shrink the file."
            )
        return PlatformRequestError(f"{self.hook_name}: {where} answered {status}{said}. {advice}", **ctx.common)

    def _json(self, response: Response) -> Any:
        try:
            return loads_lenient(response.content)
        except ValueError:
            raise PlatformError(
                f"{self.hook_name}: the answer to {url_path(response.url)} is not JSON.",
                platform=self.platform,
                status=response.status,
            ) from None

    # ----------------------------------------------------------------- clients
    def list_clients(self) -> list[dict[str, Any]]:
        """``GET /media_agency/<id>/client``: the agency's clients as ``[{id, name}]``."""
        return list(self._json(self.request("GET", f"{self.agency_path}/client")) or [])

    def get_client(self, client_id: str | None = None) -> dict[str, Any]:
        """``GET /media_agency/<id>/client/<clientId>``: ``{id, name, country, currency}``."""
        return dict(self._json(self.request("GET", f"{self.agency_path}/client/{client_id or self.client_id}")) or {})

    def check_connection(self) -> str:
        try:
            client = self.get_client()
        except PlatformRequestError as exc:
            if exc.status != 404:
                raise
            clients = ", ".join(f"{c.get('name')} ({c.get('id')})" for c in self.list_clients()) or "none"
            raise PlatformConfigError(
                f"{self.hook_name}: client {self.client_id} is not under media agency {self.media_agency_id}; "
                f"the agency's clients are: {clients}. Fix the client_id extra of connection {self.conn_id!r}.",
                platform=self.platform,
                status=404,
            ) from None
        return (
            f"Connected to Delta Projects: client {client.get('name')!r} ({client.get('id')}) of media agency "
            f"{self.media_agency_id}."
        )

    # ----------------------------------------------------------------- files
    def list_files(self) -> list[dict[str, Any]]:
        """``GET .../file``: every file of the client as ``[{id, name}]`` (no state, url or checksum)."""
        return list(self._json(self.request("GET", self.files_path)) or [])

    def get_file(self, file_id: str) -> dict[str, Any]:
        """``GET .../file/<fileId>``: ``{id, name, state, url, checksum}``."""
        return dict(self._json(self.request("GET", self.file_path(file_id))) or {})

    def upload_call(self, creative: Creative, name: str | None = None) -> ApiCall:
        """The upload POST; each attempt streams a fresh base64 JSON body with an exact Content-Length."""
        document = {"name": name or creative.typed_name, "payload": PAYLOAD}

        def body() -> Base64JsonBody:
            # the planned bytes from any source kind, verified while sent (ContentChanged otherwise)
            return base64_json_body(document, creative, creative.size, label=creative.name)

        return self.call(
            "POST", self.files_path, data=body, headers={"Content-Type": "application/json"}, idempotent=False
        )

    def upload_file(self, creative: Creative, name: str | None = None) -> str:
        """Upload one file (``POST .../file``) and return its id, recovering a lost answer.

        When the POST's outcome is uncertain, the files with the same name are checked by
        SHA-1 before anything is sent again (see the module docstring).
        """
        name = name or creative.typed_name
        sha1 = self.local_sha1(creative)

        def upload() -> str:
            response = self.send(self.upload_call(creative, name))
            file_id = file_id_from_location(response.headers.get("Location"))
            if not file_id:
                raise UncertainOutcome(
                    f"{self.hook_name}: upload of {name} answered {response.status} without a Location header.",
                    platform=self.platform,
                    status=response.status,
                    method="POST",
                    path=self.files_path,
                )
            self.expected_checksums[file_id] = sha1
            self.log.info("%s: uploaded %s as file %s (%s)", self.hook_name, name, file_id, response.status)
            return file_id

        def find() -> str | None:
            found = self._lookup(name, sha1)
            return None if found is None else str(found["id"])

        return self.create_or_find(upload, find, what=f"file {name} (SHA-1 {sha1})", attempts=self.max_upload_attempts)

    # ----------------------------------------------------------------- idempotency
    def local_sha1(self, creative: Creative) -> str:
        """The file's SHA-1 (lower-case hex), from ``Creative.inspect(sha1=True)`` or one streaming pass."""
        if creative.sha1:
            return creative.sha1.lower()
        digest = hashlib.sha1(usedforsecurity=False)
        with open_binary(creative.path) as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    def _lookup(self, name: str, sha1: str) -> dict[str, Any] | None:
        """The file named ``name`` whose checksum is ``sha1``; waits for candidates still processing."""
        candidates = [str(f["id"]) for f in self.list_files() if f.get("name") == name]
        if not candidates:
            return None
        deadline = time.monotonic() + self.recovery_wait
        while True:
            undecided: list[str] = []
            for file_id in candidates:
                info = self.get_file(file_id)
                checksum = info.get("checksum")
                if checksum:
                    if str(checksum).lower() == sha1.lower():
                        self.expected_checksums[file_id] = sha1
                        return info
                    continue
                if info.get("state") == "PROCESSING":
                    undecided.append(file_id)
                else:
                    self.log.warning(
                        "%s: file %s named %s is %s without a checksum; it cannot be matched by SHA-1",
                        self.hook_name,
                        file_id,
                        name,
                        info.get("state"),
                    )
            if not undecided:
                return None
            if time.monotonic() >= deadline:
                raise UncertainOutcome(
                    f"{self.hook_name}: file(s) {', '.join(undecided)} named {name} are still PROCESSING after "
                    f"{self.recovery_wait:.0f} s, so it is unknown whether an earlier upload created them; nothing "
                    "was sent again. Retry the task later.",
                    platform=self.platform,
                )
            candidates = undecided
            time.sleep(self.recovery_poll)

    def find_asset(self, creative: Creative, name: str | None = None) -> RemoteAsset | None:
        """The file an earlier attempt uploaded for this content: same name, same SHA-1."""
        sha1 = self.local_sha1(creative)
        info = self._lookup(name or creative.typed_name, sha1)
        if info is None:
            return None
        return self._remote_asset(info, sha1)

    def _remote_asset(self, info: Mapping[str, Any], sha1: str) -> RemoteAsset:
        status = self._status(str(info["id"]), info)
        return RemoteAsset(
            remote_id=status.remote_id,
            state=status.state,
            raw_state=status.raw_state,
            url=info.get("url") if status.state == AssetStatus.READY else None,
            details={"name": info.get("name"), "sha1": sha1},
        )

    @content_warnings
    def submit(
        self, creative: Creative, *, resume: bool = False, previous_id: str | None = None, name: str | None = None
    ) -> RemoteAsset:
        """Check the file locally, then upload it; with ``resume`` first look for an earlier upload.

        :param previous_id: ignored: Delta files have no versions, a new file is uploaded.
        :param name: the file name Delta stores (``creatives.yaml``); the file's own by default.
        """
        self.check_creative(creative)
        sha1 = self.local_sha1(creative)
        name = name or creative.typed_name
        if resume:
            found = self.find_asset(creative, name)
            if found is not None:
                self.log.info("%s: %s was already uploaded as file %s", self.hook_name, creative.name, found.remote_id)
                return found
        file_id = self.upload_file(creative, name)
        return RemoteAsset(
            remote_id=file_id,
            state=AssetStatus.PENDING,
            raw_state="PROCESSING",
            details={"name": name, "sha1": sha1},
        )

    # ----------------------------------------------------------------- status
    def list_account_assets(self) -> list[ListedAsset]:
        """The client's files (``GET .../file``), each retrieved (``GET .../file/<id>``) for its
        state and checksum, which the list does not give: N files cost N + 1 calls. Delta has
        no mark of ours: the name and the SHA-1 checksum identify a file (see the module docstring)."""
        files = self.list_files()
        ids = [str(f.get("id")) for f in files]
        statuses = self.get_status(ids) if ids else {}
        return [
            ListedAsset(
                remote_id=remote_id,
                status=statuses[remote_id],
                checksum_sha1=str(statuses[remote_id].details.get("checksum") or "").lower() or None,
                name=file.get("name"),
                metadata={"name": file.get("name")},
            )
            for file, remote_id in zip(files, ids, strict=True)
        ]

    def status_calls(self, remote_ids: list[str]) -> list[ApiCall]:
        return [self.call("GET", self.file_path(file_id)) for file_id in remote_ids]

    def parse_status(self, remote_ids: list[str], responses: list[Response]) -> dict[str, AssetStatus]:
        return {
            file_id: self._status(file_id, self._json(response) or {})
            for file_id, response in zip(remote_ids, responses, strict=True)
        }

    def _status(self, file_id: str, info: Mapping[str, Any]) -> AssetStatus:
        raw = str(info.get("state") or "")
        state = STATE_MAP.get(raw, AssetStatus.PENDING)
        details = {k: info.get(k) for k in ("name", "url", "checksum") if info.get(k) is not None}
        reason = None
        if state == AssetStatus.REJECTED:
            reason = "Delta Projects marked the file UNPROCESSABLE (a bad or unsupported jpg, gif or png)"
        elif state == AssetStatus.READY:
            reason = checksum_mismatch(file_id, info.get("checksum"), self.expected_checksums.get(file_id))
            if reason:
                state = AssetStatus.REJECTED
        elif raw not in STATE_MAP:
            self.log.warning("%s: file %s has an unknown state %r; treated as pending", self.hook_name, file_id, raw)
        return AssetStatus(file_id, state, raw_state=raw or None, reason=reason, details=details)

    def file_url(self, file_id: str) -> str | None:
        """The public URL of a PROCESSED file (None while processing or when unprocessable)."""
        info = self.get_file(file_id)
        return info.get("url") if info.get("state") == "PROCESSED" else None
