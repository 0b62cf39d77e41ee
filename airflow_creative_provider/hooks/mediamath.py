"""MediaMath Component (native) Creatives API v1.0 hook.

Auth: an OAuth2 password grant at the ``auth_url`` extra (JSON body with the T1 user name
and password, the API audience and the connection's client id and secret) gives a Bearer
token; ``GET <session_url>/session`` with that token gives the ``adama_session`` cookie. The
session comes from the T1 API (extra ``session_url``, default
``https://api.mediamath.com/api/v2.0``), not from the Component Creatives host (default the
seed's production base ``https://t1.mediamath.com/component_creatives/v1.0``). Both travel on
every call (a real ``Cookie``, not the header the vendor's curl samples show). When the
connection carries an ``api_key`` extra instead of client credentials, the legacy
``POST <session_url>/login`` (form ``user``/``password``, query ``api_key``) gives the cookie.
Token and session are cached until shortly before they expire and renewed once on a 401.

Images travel as base64 inside the creative's ``assets`` (itself a JSON-encoded string),
streamed by ``transfer.base64_json_body``; video is PUT to the presigned S3 URL of
``GET /upload/{filename}`` (it lives 60 s, so it is requested right before the PUT and
requested again when it expired), and the bare URL becomes a Video asset (component 11).
The seed forbids ``{}^/`[]~<>|#%'"`` in that upload path only: a video is uploaded under a
safe derived name (``video_upload_name``: ASCII slug, short content hash, extension), while
images go as base64 with any ``image_filename``; the original file name stays the creative's
name. Nothing is refused for its name.

Approvals: ``net_status`` values in the extra ``ready_net_statuses`` (default ``APPROVED``)
are ready, ``REJECTED`` is rejected, ``N/A`` means "not submitted": a creative still ``N/A``
``not_submitted_after`` seconds (default 300) after the wait first saw it ends the wait in the
state ``not_submitted`` ("not submitted for approval"), instead of waiting for the timeout. The
wait's start (``waiting_since``) carries across a sensor's reschedules and deferral.

The vendor's mixed types (``status`` "1"/true, ids as strings or ints, ``assets`` as a JSON
string) are normalised in one place, ``normalise``.

**Idempotency.** ``POST /creatives`` cannot be deduplicated by the platform, so every
creative this hook creates from a file carries an ``external_identifier`` derived from the
content's sha256 (``acp-<first 32 hex>``). With ``resume=True`` (a retried task, or a ledger
intent without a remote id) ``find_asset`` lists the advertiser's creatives (paging with
``page_offset`` to the end) and continues with the creative that carries that identifier,
adding only the text assets it still lacks, instead of creating a second one.

**Updating assets.** MediaMath replaces *all* of a creative's assets when ``assets`` is
given. ``update_creative`` therefore reads the creative first and lists every existing
asset as ``{"asset_id": N}`` next to the new ones; an asset is only dropped when the caller
names it in ``remove_asset_ids``.

The account (ledger key) is the connection's ``advertiser_id``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_creative_provider.creative import EXTENSION_BY_MIMETYPE, Creative, PlatformRules, ascii_slug
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformConfigError,
    PlatformError,
    PresignedUrlExpired,
)
from airflow_creative_provider.hooks.base import (
    ApiCall,
    AssetStatus,
    CreativePlatformHook,
    ListedAsset,
    RemoteAsset,
    Response,
    content_warnings,
)
from airflow_creative_provider.transfer import PAYLOAD, base64_json_body, form_body, put_body

#: the seed's "Prod API Base" of the Component Creatives API.
DEFAULT_HOST = "https://t1.mediamath.com/component_creatives/v1.0"
#: the T1 API that opens sessions (``/session``, legacy ``/login``): another service than the
#: Component Creatives host (contract "Bearer to cookie"); connection extra ``session_url``.
DEFAULT_SESSION_URL = "https://api.mediamath.com/api/v2.0"
#: ``net_status`` values that mean ready by default (connection extra ``ready_net_statuses``).
DEFAULT_READY_NET_STATUSES = ("APPROVED",)
#: ``net_status`` of a creative nobody submitted for approval (seed: ``N/A``).
NOT_SUBMITTED_NET_STATUS = "N/A"
#: seconds a creative may stay ``N/A`` before the wait ends as "not submitted for approval"
#: (connection extra ``not_submitted_after``; this project's choice, the seed gives no delay).
DEFAULT_NOT_SUBMITTED_AFTER = 300.0
DEFAULT_AUTH_URL = "https://auth.mediamath.com/oauth/token"
DEFAULT_AUDIENCE = "https://api.mediamath.com/"
DEFAULT_API_VERSION = "v1.0"
#: the upload file name must not contain any of these (vendor docs of ``GET /upload/{filename}``,
#: the video upload only: image file names travel in a JSON body and have no documented limit).
FORBIDDEN_FILENAME_CHARS = "{}^/\\[]~<>|#%'\"`"
#: ``GET /approvals`` takes at most this many ids per call.
MAX_APPROVAL_IDS = 50
MAX_PAGE_LIMIT = 100
#: token and session are renewed this long before they expire (at most a tenth of their life).
REFRESH_MARGIN = 300.0
DEFAULT_SESSION_TTL = 86400.0

COMPONENT_CALL_TO_ACTION = 1
COMPONENT_IMAGE = 2
COMPONENT_DESTINATION_URL = 4
COMPONENT_BODY = 6
COMPONENT_TITLE = 7
COMPONENT_DISPLAY_URL = 9
COMPONENT_DESCRIPTION = 10
COMPONENT_VIDEO = 11
COMPONENT_SUBTITLE = 12
COMPONENT_BRAND_NAME = 13
COMPONENT_LOGO = 21

_ID_FIELDS = ("atomic_creative_id", "creative_id", "advertiser_id", "concept_id", "asset_id", "component_id", "id")
_BOOL_FIELDS = ("status", "unpublished", "is_enabled", "eligible", "present", "available")
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")
_SESSION_COOKIE = re.compile(r"adama_session=([^;,\s]+)")


# ----------------------------------------------------------------------------- normalising
def _as_int(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return value


def _as_bool(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return value


def normalise(record: Any) -> Any:
    """The one place MediaMath's mixed types are made uniform.

    Ids (``atomic_creative_id``, ``concept_id``, ``asset_id``, ...) become ints, flags
    (``status`` "1"/"0"/true, ``unpublished``, ``eligible``, ...) become booleans, and a
    creative's ``assets`` (a JSON-encoded string in v1.0, a list elsewhere) becomes a list of
    normalised assets. Lists and nested records are normalised recursively; unknown values
    are left as they are.
    """
    if isinstance(record, list):
        return [normalise(item) for item in record]
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in _ID_FIELDS:
            out[key] = _as_int(value)
        elif key in _BOOL_FIELDS:
            out[key] = _as_bool(value)
        elif key == "assets":
            if isinstance(value, str):
                value = json.loads(value) if value.strip() else []
            out[key] = normalise(value or [])
        elif isinstance(value, (dict, list)):
            out[key] = normalise(value)
        else:
            out[key] = value
    return out


def external_identifier_for(creative: Creative) -> str:
    """The ``external_identifier`` that marks a creative made from this content."""
    if not creative.sha256:
        raise ValueError(f"{creative.key}: the content hash is unknown; inspect the file first")
    return f"acp-{creative.sha256[:32]}"


def video_upload_name(creative: Creative) -> str:
    """The name a video is uploaded under (``GET /upload/{filename}``): an ASCII slug of the
    file name, a short content hash and the content's extension, so no forbidden character
    can reach the path (``Q3 #launch [final].mp4`` -> ``q3_launch_final_<8 hex>.mp4``). The
    original name stays the creative's name."""
    slug = ascii_slug(os.path.splitext(creative.name)[0], "video").lower()
    digest = (creative.sha256 or hashlib.sha256(creative.name.encode()).hexdigest())[:8]
    ext = EXTENSION_BY_MIMETYPE.get(creative.mimetype or "") or creative.extension
    return f"{slug}_{digest}{ext}"


def bare_url(url: str) -> str:
    """A presigned URL without its query string (what MediaMath stores as the video's value)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MediaMathHook(CreativePlatformHook):
    """Talk to MediaMath's Component Creatives API (native creatives, assets, approvals).

    Connection: host (default the seed's production base
    ``https://t1.mediamath.com/component_creatives/v1.0``; a host without the
    ``/component_creatives/<version>`` path gets it added), login/password = T1 user name and
    password, extras ``client_id``, ``client_secret``, ``auth_url``, ``advertiser_id``,
    ``session_url`` (the T1 session service, default ``https://api.mediamath.com/api/v2.0``),
    ``ready_net_statuses`` (approval ``net_status`` values that mean ready, default
    ``["APPROVED"]``), ``not_submitted_after`` (seconds an ``N/A`` approval is waited for,
    default 300), optional ``audience``, ``realm``, ``api_key`` (legacy login) and ``api_version``.

    :param conn_id: the Airflow connection; ``mediamath_default`` when omitted.
    """

    conn_name_attr = "mediamath_conn_id"
    default_conn_name = "mediamath_default"
    conn_type = "mediamath"
    hook_name = "MediaMath"

    platform: ClassVar[str] = "mediamath"
    default_host: ClassVar[str | None] = DEFAULT_HOST
    supports_auth_refresh: ClassVar[bool] = True
    secret_extras: ClassVar[tuple[str, ...]] = ("client_secret", "api_key")
    #: the vendor's rate page: 10 req/s guaranteed, 30 recommended per user.
    rate_limit: ClassVar[tuple[int, float] | None] = (30, 1.0)
    auth_hint: ClassVar[str] = "the T1 user name and password and the OAuth client id/secret (or legacy api_key)"
    rules: ClassVar[PlatformRules] = PlatformRules(
        platform="mediamath",
        mimetypes=frozenset({"image/jpeg", "image/png", "image/gif", "video/mp4"}),
        # Byte and pixel limits are unconfirmed by the vendor: these are our own guards
        # (base64 bodies grow by a third; 413s follow large ones).
        max_bytes=200 * 1024 * 1024,
        max_width=10000,
        max_height=10000,
        own_limits=frozenset({"max_bytes", "max_width", "max_height"}),
        type_hint="Native image assets are JPEG, PNG or GIF; video is MP4.",
    )
    #: images go base64 inside JSON: a tighter size guard.
    image_rules: ClassVar[PlatformRules] = rules.with_(max_bytes=10 * 1024 * 1024, name="image")

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._auth_lock = threading.RLock()
        self._token: str | None = None
        self._token_expires = 0.0
        self._session_id: str | None = None
        self._session_expires = 0.0
        #: the clock the token and session expiry is measured on (tests move it).
        self._clock: Callable[[], float] = time.time
        #: when each creative's approval was first seen ``N/A`` (the wait for a submission); None
        #: once this hook saw it in another state (a later ``N/A`` counts from then).
        self._not_submitted_since: dict[str, float | None] = {}

    # ----------------------------------------------------------------- connection
    @property
    def api_version(self) -> str:
        return str(self.extra_field("api_version", default=DEFAULT_API_VERSION)).strip("/")

    @property
    def api_prefix(self) -> str:
        """``/component_creatives/<version>``, or nothing when the host already ends with it."""
        if re.search(r"/component_creatives/[^/]+$", self.base_url):
            return ""
        return f"/component_creatives/{self.api_version}"

    @property
    def session_url(self) -> str:
        """The T1 session service (``/session``, ``/login``): extra ``session_url``."""
        return str(self.extra_field("session_url", default=DEFAULT_SESSION_URL)).rstrip("/")

    @property
    def ready_net_statuses(self) -> frozenset[str]:
        """Approval ``net_status`` values that count as ready (extra ``ready_net_statuses``)."""
        value = self.extra_field("ready_net_statuses", default=DEFAULT_READY_NET_STATUSES)
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        return frozenset(str(v).strip().upper() for v in value if str(v).strip())

    @property
    def not_submitted_after(self) -> float:
        """Seconds an ``N/A`` approval is waited for (extra ``not_submitted_after``)."""
        return float(self.extra_field("not_submitted_after", default=DEFAULT_NOT_SUBMITTED_AFTER))

    def api_path(self, path: str) -> str:
        return f"{self.api_prefix}/{path.lstrip('/')}"

    @property
    def account(self) -> str:
        advertiser = self.extra_field("advertiser_id")
        return str(advertiser) if advertiser not in (None, "") else self.conn_id

    @property
    def default_advertiser_id(self) -> int | None:
        value = self.extra_field("advertiser_id")
        return _as_int(value) if value not in (None, "") else None

    def advertiser(self, advertiser_id: int | str | None) -> int:
        """The given advertiser id, or the connection's ``advertiser_id``."""
        value = _as_int(advertiser_id) if advertiser_id not in (None, "") else self.default_advertiser_id
        if value is None:
            raise PlatformConfigError(
                f"{self.hook_name}: no advertiser id given and connection {self.conn_id!r} has no "
                "'advertiser_id' extra; pass advertiser_id or set the extra.",
                platform=self.platform,
            )
        if not isinstance(value, int):
            raise PlatformConfigError(
                f"{self.hook_name}: advertiser id {value!r} is not a number.", platform=self.platform
            )
        return value

    @property
    def uses_legacy_login(self) -> bool:
        """Legacy ``/api/v2.0/login`` when the connection has an ``api_key`` but no client id."""
        return bool(self.extra_field("api_key")) and not self.extra_field("client_id")

    # ----------------------------------------------------------------- auth
    def _margin(self, lifetime: float) -> float:
        return min(REFRESH_MARGIN, max(lifetime, 0.0) / 10)

    def _credentials(self) -> tuple[str, str]:
        login = self.connection.login
        if not login:
            raise PlatformConfigError(
                f"{self.hook_name}: connection {self.conn_id!r} has no T1 user name; set the Login field.",
                platform=self.platform,
            )
        return login, self.require_password()

    def _fetch_token(self) -> None:
        username, password = self._credentials()
        body: dict[str, Any] = {
            "grant_type": "password",
            "username": username,
            "password": password,
            "audience": self.extra_field("audience", default=DEFAULT_AUDIENCE),
            "client_id": self.extra_field("client_id", required=True),
            "client_secret": self.extra_field("client_secret", required=True),
        }
        realm = self.extra_field("realm")
        if realm:
            body.update(grant_type="http://auth0.com/oauth/grant-type/password-realm", realm=realm, scope="openid")
        elif self.extra_field("scope"):
            body["scope"] = self.extra_field("scope")
        started = self._clock()
        answer = self.send(
            ApiCall(
                "POST",
                url=str(self.extra_field("auth_url", default=DEFAULT_AUTH_URL)),
                json=body,
                idempotent=True,
                authenticated=False,
            )
        ).json()
        token = (answer or {}).get("access_token")
        if not token:
            raise PlatformError(
                f"{self.hook_name}: the token endpoint answered without an access_token; check the auth_url extra "
                f"of connection {self.conn_id!r}.",
                platform=self.platform,
            )
        self.register_secret(token)
        lifetime = float(answer.get("expires_in") or 86400)
        self._token = token
        self._token_expires = started + lifetime - self._margin(lifetime)
        self.log.info("%s: obtained an OAuth token (valid %.0f s)", self.hook_name, lifetime)

    def _store_session(self, response: Response, started: float) -> None:
        session_id = None
        match = _SESSION_COOKIE.search(response.headers.get("Set-Cookie", "") or "")
        if match:
            session_id = match.group(1)
        lifetime = DEFAULT_SESSION_TTL
        try:
            body = response.json() or {}
        except ValueError:
            body = {}
        session = ((body.get("data") or {}).get("session") or {}) if isinstance(body, dict) else {}
        session_id = session_id or session.get("sessionid")
        try:
            current = float(session["current_time"])
            expires = float(session["expires"])
            if expires > current:
                lifetime = expires - current
        except (KeyError, TypeError, ValueError):
            pass
        # Never keep the cookie in requests' jar: it is sent explicitly, and only to MediaMath.
        self.session.cookies.clear()
        if not session_id:
            raise PlatformError(
                f"{self.hook_name}: the session call answered without an adama_session cookie.",
                platform=self.platform,
            )
        self.register_secret(session_id)
        self._session_id = session_id
        self._session_expires = started + lifetime - self._margin(lifetime)

    def _fetch_session(self) -> None:
        started = self._clock()
        response = self.send(
            ApiCall(
                "GET",
                url=f"{self.session_url}/session",
                headers={"Authorization": f"Bearer {self._token}"},
                authenticated=False,
            )
        )
        self._store_session(response, started)
        self.log.info("%s: opened an adama_session", self.hook_name)

    def _legacy_login(self) -> None:
        username, password = self._credentials()
        started = self._clock()
        response = self.send(
            ApiCall(
                "POST",
                url=f"{self.session_url}/login",
                params={"api_key": self.extra_field("api_key", required=True)},
                data={"user": username, "password": password},
                idempotent=True,
                authenticated=False,
            )
        )
        self._store_session(response, started)
        self.log.info("%s: opened an adama_session with the legacy login", self.hook_name)

    def ensure_auth(self) -> None:
        """Obtain (or renew shortly before expiry) the token and the session."""
        with self._auth_lock:
            now = self._clock()
            if self.uses_legacy_login:
                if self._session_id is None or now >= self._session_expires:
                    self._legacy_login()
                return
            if self._token is None or now >= self._token_expires:
                self._token = None
                self._session_id = None
                self._fetch_token()
            if self._session_id is None or now >= self._session_expires:
                self._fetch_session()

    def auth_headers(self) -> dict[str, str]:
        self.ensure_auth()
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def auth_cookies(self) -> dict[str, str]:
        self.ensure_auth()
        return {"adama_session": self._session_id} if self._session_id else {}

    def refresh_auth(self) -> None:
        with self._auth_lock:
            self._token = None
            self._session_id = None
            self._token_expires = self._session_expires = 0.0

    # ----------------------------------------------------------------- errors
    def vendor_error(self, response: Response) -> tuple[str | None, str | None]:
        """Reads ``{meta, errors}`` (component creatives), ``{errors, meta.status}`` (T1 core),
        ``{error, error_description}`` (OAuth), v3 ``{error, message}`` and S3's XML."""
        text = response.text
        if text.lstrip().startswith("<"):
            fields = dict(_XML_FIELD.findall(text))
            if fields:
                return fields.get("Code"), fields.get("Message")
        try:
            body = response.json()
        except ValueError:
            return None, text.strip()[:500] or None
        if not isinstance(body, dict):
            return None, str(body)[:500]
        meta = body.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        parts: list[str] = []
        message = meta.get("message") or body.get("message")
        if message:
            parts.append(str(message))
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                where = error.get("param") or error.get("field")
                what = error.get("msg") or error.get("message")
                parts.append(f"{where}: {what}" if where else str(what))
            else:
                parts.append(str(error))
        if body.get("error") and not parts:
            description = body.get("error_description")
            parts.append(f"{body['error']}: {description}" if description else str(body["error"]))
        code = meta.get("code") or meta.get("status") or body.get("error")
        return (str(code) if code not in (None, "") else None), ("; ".join(parts) or None)

    def error_for(self, call: ApiCall, response: Response) -> PlatformError:
        error = super().error_for(call, response)
        if call.url and not call.authenticated and response.status == 403 and "expired" in (error.vendor_message or ""):
            return PresignedUrlExpired(
                f"{self.hook_name}: the presigned upload URL expired before the upload "
                f"({error.vendor_message}); request a new one with GET /upload/{{filename}}.",
                platform=self.platform,
                status=403,
                vendor_message=error.vendor_message,
                vendor_code=error.vendor_code,
                method=call.method,
                path=call.safe_path,
            )
        return error

    # ----------------------------------------------------------------- helpers
    def _data(self, response: Response) -> Any:
        body = response.json()
        return normalise(body.get("data") if isinstance(body, dict) else body)

    def check_filename(self, filename: str) -> None:
        """Refuse a name ``GET /upload/{filename}`` rejects, before the request (derive one
        with ``video_upload_name`` instead: the hook's own uploads never meet this)."""
        bad = sorted({ch for ch in filename if ch in FORBIDDEN_FILENAME_CHARS})
        if not filename or bad:
            why = f"contains forbidden characters {' '.join(bad)}" if bad else "is empty"
            raise CreativeRefused(
                f"{filename}: refused for mediamath (name): the file name {why}; rename the file.",
                file=filename,
                rule="name",
                platform=self.platform,
            )

    @staticmethod
    def _source(creative: Creative) -> Any:
        """What an upload body streams: the planned bytes from any source kind, verified while sent."""
        return creative

    def _inspect(self, file: str | os.PathLike[str] | Creative, rules: PlatformRules | None = None) -> Creative:
        creative = file if isinstance(file, Creative) else Creative.inspect(file)
        self.check_creative(creative, rules)
        return creative

    # ----------------------------------------------------------------- creatives
    def list_creatives(
        self,
        advertiser_id: int | str | None = None,
        *,
        status: bool | None = None,
        sort_by: str | None = "atomic_creative_id",
        page_limit: int = MAX_PAGE_LIMIT,
    ) -> list[dict[str, Any]]:
        """Every creative of the advertiser, paging with ``page_offset`` to the end.

        ``meta.next_page`` is never followed: it points at an internal MediaMath host.
        """
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be between 1 and {MAX_PAGE_LIMIT}")
        params: dict[str, Any] = {"advertiser_id": self.advertiser(advertiser_id), "page_limit": page_limit}
        if status is not None:
            params["status"] = 1 if status else 0
        if sort_by:
            params["sort_by"] = sort_by
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = self.request("GET", self.api_path("creatives"), params={**params, "page_offset": offset}).json()
            page = normalise(body.get("data") or [])
            meta = body.get("meta") or {}
            found.extend(page)
            offset += len(page)
            total = _as_int(meta.get("total_count"))
            if not page or (isinstance(total, int) and offset >= total):
                break
        return found

    def get_creative(self, atomic_creative_id: int | str, *, include_previews: bool = False) -> dict[str, Any]:
        """One creative (``include_previews`` adds ``previews``)."""
        params = {"include": "previews"} if include_previews else None
        return self._data(self.request("GET", self.api_path(f"creatives/{int(atomic_creative_id)}"), params=params))

    def create_creative(
        self,
        creative_name: str,
        *,
        advertiser_id: int | str | None = None,
        image: str | os.PathLike[str] | Creative | None = None,
        image_filename: str | None = None,
        asset_ids: Iterable[int | str] = (),
        concept_id: int | str | None = None,
        external_identifier: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        status: bool | None = None,
    ) -> dict[str, Any]:
        """``POST /creatives``: a creative, optionally with one image (base64, streamed) and
        existing assets by id. ``assets`` is sent as the JSON-encoded string MediaMath wants."""
        if (start_date is None) != (end_date is None):
            raise ValueError("start_date and end_date go together: give both or neither")
        document: dict[str, Any] = {"creative_name": creative_name, "advertiser_id": self.advertiser(advertiser_id)}
        for key, value in (
            ("concept_id", _as_int(concept_id)),
            ("external_identifier", external_identifier),
            ("start_date", start_date),
            ("end_date", end_date),
        ):
            if value is not None:
                document[key] = value
        if status is not None:
            document["status"] = 1 if status else 0
        assets: list[dict[str, Any]] = [{"asset_id": int(i)} for i in asset_ids]
        return self._post_creative(self.api_path("creatives"), document, assets, image, image_filename)

    def _post_creative(
        self,
        path: str,
        document: dict[str, Any],
        assets: list[dict[str, Any]] | None,
        image: str | os.PathLike[str] | Creative | None,
        image_filename: str | None,
        *,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        if image is None:
            if assets is not None:
                document = {**document, "assets": json.dumps(assets)}
            return self._data(self.request("POST", path, json=document, idempotent=idempotent))
        creative = self._inspect(image, self.image_rules)
        filename = image_filename or creative.upload_name
        new = {"encoded_image_file": PAYLOAD, "image_filename": filename}
        document = {**document, "assets": json.dumps([*(assets or []), new], separators=(",", ":"))}

        def body() -> Any:
            return base64_json_body(document, self._source(creative), creative.size, label=creative.name)

        response = self.request(
            "POST", path, data=body, headers={"Content-Type": "application/json"}, idempotent=idempotent
        )
        return self._data(response)

    def update_creative(
        self,
        atomic_creative_id: int | str,
        *,
        fields: Mapping[str, Any] | None = None,
        image: str | os.PathLike[str] | Creative | None = None,
        image_filename: str | None = None,
        add_asset_ids: Iterable[int | str] = (),
        remove_asset_ids: Iterable[int | str] = (),
    ) -> dict[str, Any]:
        """``POST /creatives/{id}``: change fields and/or assets without losing any asset.

        MediaMath replaces every asset when ``assets`` is sent, so when assets change this
        reads the creative first and keeps each existing asset (``{"asset_id": N}``) unless
        it is named in ``remove_asset_ids``.

        :param fields: creative fields to change (``creative_name``, ``status``, dates, ...).
        :param image: a new image asset (base64, streamed).
        :param add_asset_ids: existing assets to attach.
        :param remove_asset_ids: assets to detach, explicitly.
        """
        creative_id = int(atomic_creative_id)
        document = dict(fields or {})
        if "assets" in document:
            raise ValueError("pass assets through image/add_asset_ids/remove_asset_ids, never as a raw field")
        if "status" in document and isinstance(document["status"], bool):
            document["status"] = 1 if document["status"] else 0
        add = [int(i) for i in add_asset_ids]
        remove = {int(i) for i in remove_asset_ids}
        assets: list[dict[str, Any]] | None = None
        if image is not None or add or remove:
            current = self.get_creative(creative_id)
            existing = [a["asset_id"] for a in current.get("assets", []) if isinstance(a.get("asset_id"), int)]
            unknown = remove - set(existing)
            if unknown:
                raise ValueError(f"creative {creative_id} has no asset(s) {sorted(unknown)} to remove")
            keep = [i for i in existing if i not in remove]
            keep += [i for i in add if i not in keep]
            assets = [{"asset_id": i} for i in keep]
            self.log.info(
                "%s: updating creative %s assets: keeping %d, removing %d, adding %d",
                self.hook_name,
                creative_id,
                len(keep) - len(add),
                len(remove),
                len(add) + (1 if image is not None else 0),
            )
        return self._post_creative(
            self.api_path(f"creatives/{creative_id}"),
            document,
            assets,
            image,
            image_filename,
            idempotent=image is None,
        )

    def creative_eligibility(self, atomic_creative_id: int | str) -> list[dict[str, Any]]:
        """Per ad format: eligible or not, with required and optional components."""
        return self._data(self.request("GET", self.api_path(f"creatives/{int(atomic_creative_id)}/eligibility")))

    # ----------------------------------------------------------------- assets
    def _owner(self, advertiser_id: int | str | None, creative_ids: Iterable[int | str] | None) -> dict[str, Any]:
        ids = [int(i) for i in creative_ids or ()]
        if ids:
            owner: dict[str, Any] = {"creative_ids": ids}
            if advertiser_id not in (None, ""):
                owner["advertiser_id"] = self.advertiser(advertiser_id)
            return owner
        return {"advertiser_id": self.advertiser(advertiser_id)}

    def create_text_asset(
        self,
        component_id: int,
        value: str,
        *,
        advertiser_id: int | str | None = None,
        creative_ids: Iterable[int | str] | None = None,
    ) -> dict[str, Any]:
        """``POST /assets`` (JSON): a text asset (Title, Destination URL, ...), optionally
        attached to creatives (which must share an advertiser)."""
        body = {"component_id": int(component_id), "asset_value": value, **self._owner(advertiser_id, creative_ids)}
        return self._data(self.request("POST", self.api_path("assets"), json=body))

    def create_image_asset(
        self,
        file: str | os.PathLike[str] | Creative,
        *,
        component_id: int = COMPONENT_IMAGE,
        advertiser_id: int | str | None = None,
        creative_ids: Iterable[int | str] | None = None,
        filename: str | None = None,
        encoding: str = "multipart",
    ) -> dict[str, Any]:
        """``POST /assets``: an image asset, as a streamed multipart form (``asset_value`` the
        file, the vendor's documented form) or as JSON with the base64 image
        (``encoding="base64"``, ``encoded_image_file`` + ``image_filename``)."""
        creative = self._inspect(file, self.image_rules)
        name = filename or creative.upload_name
        owner = self._owner(advertiser_id, creative_ids)
        if encoding == "base64":
            document = {"component_id": int(component_id), "encoded_image_file": PAYLOAD, "image_filename": name}
            document.update(owner)

            def body() -> Any:
                return base64_json_body(document, self._source(creative), creative.size, label=name)

            headers = {"Content-Type": "application/json"}
            return self._data(self.request("POST", self.api_path("assets"), data=body, headers=headers))
        if encoding != "multipart":
            raise ValueError("encoding must be 'multipart' or 'base64'")
        fields: list[tuple[str, Any]] = [("component_id", int(component_id))]
        if "creative_ids" in owner:
            fields.append(("creative_ids", json.dumps(owner["creative_ids"])))
        if "advertiser_id" in owner:
            fields.append(("advertiser_id", owner["advertiser_id"]))
        return self._post_form(self.api_path("assets"), fields, creative, name)

    def _post_form(
        self, path: str, fields: list[tuple[str, Any]], creative: Creative, filename: str, *, idempotent: bool = False
    ) -> dict[str, Any]:
        """POST a streamed multipart form whose file part is ``asset_value``."""
        boundary = secrets.token_hex(16)

        def body() -> Any:
            return form_body(
                fields,
                self._source(creative),
                creative.size,
                file_field="asset_value",
                filename=filename,
                file_content_type=creative.mimetype or "application/octet-stream",
                boundary=boundary,
                label=filename,
            )

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._data(self.request("POST", path, data=body, headers=headers, idempotent=idempotent))

    def get_asset(self, asset_id: int | str) -> dict[str, Any]:
        """``GET /assets/{id}``."""
        return self._data(self.request("GET", self.api_path(f"assets/{int(asset_id)}")))

    def update_asset(
        self,
        asset_id: int | str,
        *,
        value: str | None = None,
        file: str | os.PathLike[str] | Creative | None = None,
    ) -> dict[str, Any]:
        """``POST /assets/{id}``: a new text ``value`` (JSON) or a new image ``file`` (multipart).

        MediaMath answers 201 to this update."""
        if (value is None) == (file is None):
            raise ValueError("give exactly one of value (text) or file (image)")
        path = self.api_path(f"assets/{int(asset_id)}")
        if value is not None:
            return self._data(self.request("POST", path, json={"asset_value": value}, idempotent=True))
        creative = self._inspect(file, self.image_rules)  # type: ignore[arg-type]
        return self._post_form(path, [], creative, creative.upload_name, idempotent=True)

    # ----------------------------------------------------------------- video
    def get_upload_url(self, filename: str) -> str:
        """``GET /upload/{filename}``: a presigned S3 PUT URL (lives 60 s). A secret: never log it."""
        self.check_filename(filename)
        response = self.request("GET", self.api_path(f"upload/{quote(filename, safe='')}"))
        url = response.json().get("data")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PlatformError(f"{self.hook_name}: /upload answered without a URL.", platform=self.platform)
        query = urlsplit(url).query
        if query:
            self.register_secret(query, ephemeral=True)
        return url

    def upload_video(
        self, file: str | os.PathLike[str] | Creative, *, filename: str | None = None, max_url_attempts: int = 3
    ) -> str:
        """Request a presigned URL and PUT the file at once; return the bare URL.

        The URL lives 60 s, so it is requested immediately before the PUT, and requested
        again when S3 refuses it as expired. Uploaded under ``filename`` when given, else under
        ``video_upload_name`` (no character the upload path forbids).
        """
        creative = self._inspect(file)
        if creative.kind != "video":
            raise CreativeRefused(
                f"{creative.key}: refused for mediamath (type): {creative.mimetype} is not a video.",
                file=creative.key,
                rule="type",
                platform=self.platform,
            )
        name = video_upload_name(creative) if filename is None else filename
        for attempt in range(1, max_url_attempts + 1):
            url = self.get_upload_url(name)
            try:
                self.send(
                    ApiCall(
                        "PUT",
                        url=url,
                        data=lambda: put_body(self._source(creative), creative.size, label=name),
                        authenticated=False,
                    )
                )
            except PresignedUrlExpired:
                if attempt == max_url_attempts:
                    raise
                self.log.warning(
                    "%s: the upload URL for %s expired before the PUT; requesting a new one (attempt %d of %d)",
                    self.hook_name,
                    name,
                    attempt + 1,
                    max_url_attempts,
                )
                continue
            self.log.info("%s: uploaded %s (%d bytes)", self.hook_name, name, creative.size)
            return bare_url(url)
        raise AssertionError("unreachable")  # pragma: no cover

    def create_video_asset(
        self,
        file: str | os.PathLike[str] | Creative,
        *,
        advertiser_id: int | str | None = None,
        creative_ids: Iterable[int | str] | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Upload a video (presigned PUT) and register it as a Video asset (component 11)."""
        url = self.upload_video(file, filename=filename)
        body = {"component_id": COMPONENT_VIDEO, "asset_value": url, **self._owner(advertiser_id, creative_ids)}
        return self._data(self.request("POST", self.api_path("assets"), json=body))

    # ----------------------------------------------------------------- components, version
    def list_components(self) -> list[dict[str, Any]]:
        """``GET /components``."""
        return self._data(self.request("GET", self.api_path("components")))

    def get_component(self, component_id: int | str) -> dict[str, Any]:
        """``GET /components/{id}``."""
        return self._data(self.request("GET", self.api_path(f"components/{int(component_id)}")))

    def get_version(self) -> str:
        """``GET /version``."""
        return str(self.request("GET", self.api_path("version")).json().get("version"))

    # ----------------------------------------------------------------- approvals
    def approval_calls(self, atomic_creative_ids: Iterable[int | str]) -> list[ApiCall]:
        ids = [str(int(i)) for i in atomic_creative_ids]
        return [
            ApiCall("GET", self.api_path("approvals"), params={"atomic_creative_ids": ",".join(chunk)})
            for chunk in _chunks(ids, MAX_APPROVAL_IDS)
        ]

    def get_approvals(self, atomic_creative_ids: Iterable[int | str]) -> dict[int, dict[str, Any]]:
        """``GET /approvals`` in calls of at most 50 ids: ``{atomic_creative_id: approval}``."""
        approvals: dict[int, dict[str, Any]] = {}
        for call in self.approval_calls(atomic_creative_ids):
            for item in self._data(self.send(call)) or []:
                approvals[item["atomic_creative_id"]] = item
        return approvals

    def list_account_assets(self) -> list[ListedAsset]:
        """The advertiser's creatives (``GET /creatives``, every page) with their approvals
        (``GET /approvals``, 50 ids a call), marked by ``external_identifier`` ``acp-<32 hex>``
        (``external_identifier_for``: the first 32 hex characters of the content's sha256)."""
        creatives = self.list_creatives()
        ids = [str(c.get("atomic_creative_id")) for c in creatives]
        statuses = self.get_status(ids) if ids else {}
        listed = []
        for creative, remote_id in zip(creatives, ids, strict=True):
            external = str(creative.get("external_identifier") or "")
            listed.append(
                ListedAsset(
                    remote_id=remote_id,
                    status=statuses[remote_id],
                    content_mark=external[len("acp-") :] if external.startswith("acp-") else None,
                    name=creative.get("creative_name"),
                    # the listing's creative fields (contract): name and dates as MediaMath holds them
                    metadata={k: creative.get(k) for k in ("creative_name", "start_date", "end_date")},
                )
            )
        return listed

    def status_calls(self, remote_ids: list[str]) -> list[ApiCall]:
        return self.approval_calls(remote_ids)

    @staticmethod
    def _source_reasons(sources: Any) -> list[str]:
        reasons = []
        for name, source in (sources or {}).items():
            if isinstance(source, dict):
                state = str(source.get("status") or source.get("net_status") or "").upper()
                reason = source.get("reason") or source.get("rejected_reason") or source.get("message")
                if isinstance(reason, list):
                    reason = ", ".join(str(r) for r in reason)
            else:
                state, reason = str(source).upper(), None
            if state == "REJECTED":
                reasons.append(f"{name}: {reason}" if reason else f"{name}: rejected")
        return reasons

    def parse_status(self, remote_ids: list[str], responses: list[Response]) -> dict[str, AssetStatus]:
        by_id: dict[str, dict[str, Any]] = {}
        for response in responses:
            for item in self._data(response) or []:
                by_id[str(item.get("atomic_creative_id"))] = item
        statuses: dict[str, AssetStatus] = {}
        ready = self.ready_net_statuses
        for remote_id in remote_ids:
            item = by_id.get(str(remote_id))
            raw = str(item.get("net_status") or "").upper() if item else None
            if raw != NOT_SUBMITTED_NET_STATUS:
                self._not_submitted_since[str(remote_id)] = None
            if raw in ready:
                state, reason = AssetStatus.READY, None
            elif raw == "REJECTED":
                reasons = self._source_reasons(item.get("sources")) if item else []
                state, reason = AssetStatus.REJECTED, "; ".join(reasons) or "rejected by the supply sources"
            elif raw == NOT_SUBMITTED_NET_STATUS:
                state, reason = self._not_submitted(str(remote_id))
            else:  # PENDING, a value outside ready_net_statuses, or missing
                state, reason = AssetStatus.PENDING, None
            statuses[remote_id] = AssetStatus(
                remote_id=remote_id,
                state=state,
                raw_state=raw,
                reason=reason,
                details={"sources": item.get("sources")} if item and item.get("sources") else {},
            )
        return statuses

    def _not_submitted(self, remote_id: str) -> tuple[str, str]:
        """``N/A``: pending while ``not_submitted_after`` runs, then ``not_submitted`` (terminal)."""
        now = self._clock()
        since = self._not_submitted_since.get(remote_id)
        if since is None:
            # First seen N/A by this hook: a wait that began earlier (an earlier poke of a rescheduled
            # sensor, the poll before deferring) saw it N/A since then, unless this hook saw it otherwise.
            seen_otherwise = remote_id in self._not_submitted_since
            since = now if seen_otherwise or self.waiting_since is None else min(now, self.waiting_since)
            self._not_submitted_since[remote_id] = since
        waited = now - since
        if waited < self.not_submitted_after:
            return AssetStatus.PENDING, "approval N/A: not submitted for approval yet"
        return AssetStatus.NOT_SUBMITTED, (
            f"not submitted for approval: creative {remote_id}'s approval stayed N/A for {waited:.0f} s (extra "
            f"not_submitted_after of connection {self.conn_id!r}); submit it in MediaMath, the next run looks again"
        )

    # ----------------------------------------------------------------- platform surface
    def find_creative(self, external_identifier: str, advertiser_id: int | str | None = None) -> dict | None:
        """The advertiser's creative carrying ``external_identifier``, if any."""
        for creative in self.list_creatives(advertiser_id):
            if creative.get("external_identifier") == external_identifier:
                return creative
        return None

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        found = self.find_creative(external_identifier_for(creative))
        if found is None:
            return None
        return self._remote(found)

    def _remote(self, creative: Mapping[str, Any]) -> RemoteAsset:
        return RemoteAsset(
            remote_id=str(creative["atomic_creative_id"]),
            state=AssetStatus.PENDING,
            raw_state="PENDING",
            details={
                "creative_name": creative.get("creative_name"),
                "advertiser_id": creative.get("advertiser_id"),
                "asset_ids": [a.get("asset_id") for a in creative.get("assets", [])],
                "external_identifier": creative.get("external_identifier"),
            },
        )

    def create_native_creative(
        self,
        file: str | os.PathLike[str] | Creative,
        *,
        creative_name: str | None = None,
        texts: Mapping[int, str] | Mapping[str, str] | None = None,
        advertiser_id: int | str | None = None,
        concept_id: int | str | None = None,
        resume: bool = False,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> dict[str, Any]:
        """A native creative from one image or video file plus text assets by component id
        (e.g. ``{7: title, 4: destination URL}``).

        The creative is marked with ``external_identifier_for(file)``; with ``resume=True``
        an existing creative with that mark is reused and only missing text components are
        added. Returns the creative (normalised) as it stands at the end.
        """
        creative = self._inspect(file)
        advertiser = self.advertiser(advertiser_id)
        mark = external_identifier_for(creative)
        name = creative_name or creative.name
        existing = self.find_creative(mark, advertiser) if resume else None
        if existing is not None:
            self.log.info(
                "%s: creative %s already carries %s; continuing with it",
                self.hook_name,
                existing["atomic_creative_id"],
                mark,
            )
            current = existing
        else:

            def create() -> dict[str, Any]:
                if creative.kind == "video":
                    video = self.create_video_asset(creative, advertiser_id=advertiser)
                    return self.create_creative(
                        name,
                        advertiser_id=advertiser,
                        asset_ids=[video["asset_id"]],
                        concept_id=concept_id,
                        external_identifier=mark,
                        start_date=start_date,
                        end_date=end_date,
                    )
                return self.create_creative(
                    name,
                    advertiser_id=advertiser,
                    image=creative,
                    concept_id=concept_id,
                    external_identifier=mark,
                    start_date=start_date,
                    end_date=end_date,
                )

            current = self.create_or_find(create, lambda: self.find_creative(mark, advertiser), what=f"creative {mark}")
        creative_id = current["atomic_creative_id"]
        present = {a.get("component_id") for a in current.get("assets", [])}
        added = False
        for component, value in (texts or {}).items():
            if value in (None, "") or int(component) in present:
                continue
            self.create_text_asset(int(component), str(value), creative_ids=[creative_id])
            added = True
        return self.get_creative(creative_id) if added else current

    @content_warnings
    def submit(
        self,
        creative: Creative,
        *,
        resume: bool = False,
        previous_id: str | None = None,
        creative_name: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> RemoteAsset:
        """Create a native creative carrying the file (an image by base64, a video by presigned PUT),
        named after the original file name unless ``creative_name`` is given; ``start_date`` and
        ``end_date`` (both or neither, ``2026-03-01T00:00:00``) are the creative's dates."""
        made = self.create_native_creative(
            creative, resume=resume, creative_name=creative_name, start_date=start_date, end_date=end_date
        )
        return self._remote(made)

    def check_connection(self) -> str:
        self.ensure_auth()
        components = self.list_components()
        return f"{self.hook_name}: authenticated; {len(components)} components (API {self.get_version()})"


__all__ = ["MediaMathHook", "bare_url", "external_identifier_for", "normalise", "video_upload_name"]
