"""``CreativePlatformHook``: what every ad-platform hook shares.

A platform hook declares its identity, its auth and its endpoints; this base owns the hard
parts once:

* one pooled ``requests.Session`` per hook, 1 MiB send blocks for streamed uploads, a
  connect/read timeout on every call (connection extra ``timeout`` overrides);
* retries (tenacity) with exponential backoff and jitter on 429/5xx and connection errors,
  honouring ``Retry-After`` in seconds or as an HTTP date. A call that is not idempotent
  (a create) is retried only when the platform cannot have processed it: a 429 or a
  connection that was never established. Otherwise it raises ``UncertainOutcome`` and the
  platform hook looks the object up before creating it again;
* on 401 the auth is refreshed once and the call repeated; a second 401 raises
  ``PlatformAuthError`` naming the connection and the field to check;
* typed errors carrying status, the vendor's own message, method and path (never a query);
* redaction: every secret read from the connection or received at run time is registered
  with Airflow's secrets masker at once and scrubbed from our own messages; URLs are logged
  and raised without their query string, urllib3's own debug lines included;
* the same request building and response checking for the async client (httpx) that
  triggers use, so a trigger never holds a second copy of an API.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
import requests
from airflow.sdk import BaseHook
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3.exceptions import NewConnectionError

from airflow_creative_provider.content import check_unchanged
from airflow_creative_provider.exceptions import (
    PlatformAuthError,
    PlatformConfigError,
    PlatformError,
    PlatformRateLimited,
    PlatformRequestError,
    PlatformUnavailable,
    UncertainOutcome,
)
from airflow_creative_provider.transfer import TransferAdapter

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_creative_provider.creative import Creative, PlatformRules

_T = TypeVar("_T")
_U = TypeVar("_U")
log = logging.getLogger(__name__)

#: tries of the shared rate budget's database before a caller paces its own process alone.
_BUDGET_ATTEMPTS = 5

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s#\"'<>]*")


def strip_query(text: str) -> str:
    """Replace the query string of every URL in ``text`` with ``?***``."""
    return _URL_QUERY.sub(r"\1?***", text)


def url_path(url: str) -> str:
    """The path of a URL, without scheme, host or query: safe to log and raise."""
    return httpx.URL(url).path


class _QueryStringFilter(logging.Filter):
    """Strips query strings from urllib3's and requests' own log lines (API keys travel there)."""

    @staticmethod
    def _clean(value: str) -> str:
        if value.startswith("/") and "?" in value:  # urllib3 logs the request target alone
            return value.split("?", 1)[0] + "?***"
        return strip_query(value)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            # httpx logs its request URL as an ``httpx.URL`` object, not a str.
            record.args = tuple(self._clean(str(a)) if isinstance(a, (str, httpx.URL)) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = strip_query(record.msg)
        return True


for _name in ("urllib3.connectionpool", "urllib3.connection", "requests", "httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _QueryStringFilter) for f in _logger.filters):
        _logger.addFilter(_QueryStringFilter())


def mask_secret(value: str) -> None:
    """Register a secret with Airflow's masker (task logs show it as ``***``)."""
    from airflow.sdk.log import mask_secret as _airflow_mask_secret

    _airflow_mask_secret(value)


def _sqlite_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked": writers colliding on the budget's row, worth another try."""
    import sqlite3

    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


class RateLimiter:
    """The call budget of one platform account, shared by every thread, task process and worker.

    Calls are spaced evenly, ``period / calls`` apart plus ``margin`` (2 %) so that network
    jitter never packs more than ``calls`` into any ``period`` at the platform: a GCRA without
    burst. A 429 with ``Retry-After`` (``pause``) moves the budget's next slot past the pause,
    so every caller of the account waits, and a caller already asleep on an earlier slot
    takes a new one. With ``calls=None`` the budget only carries pauses (platforms that
    document no limit but answer 429).

    Where it lives: one row of the ledger's database (table ``creative_rate_budgets``, the
    ``creative_ledger`` connection, else SQLite in ``AIRFLOW_HOME``). Every process that calls
    a platform (Celery, Kubernetes or local workers, the triggerer) must reach the ledger
    anyway, on every executor and on SQLite as on PostgreSQL; Redis exists only beside the
    CeleryExecutor, and Airflow pools count running tasks, not calls. Each call costs one
    atomic ``UPDATE ... RETURNING`` (row-locked on PostgreSQL, the write lock on SQLite);
    clocks are wall clocks, so workers on several hosts need NTP. Should the database not
    answer, the budget falls back to this process alone (with a warning) rather than stop.

    :param calls: calls per ``period``; None for pauses only.
    :param period: seconds.
    :param budget: the account's key (``platform account base-url``); a private one when omitted.
    :param url: the database; ``ledger.default_url()`` when omitted.
    """

    margin: ClassVar[float] = 0.02

    def __init__(self, calls: int | None, period: float, *, budget: str | None = None, url: str | None = None) -> None:
        import uuid

        self.calls = calls
        self.period = period
        self.interval = period / calls * (1 + self.margin) if calls else 0.0
        self.budget = budget or f"private {uuid.uuid4().hex}"
        self._url = url
        self._engine: Any = None
        self._lock = threading.Lock()
        self._local_next = 0.0  # fallback when the database does not answer

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from airflow_creative_provider.sync.ledger import _engine_for, default_url

            self._engine = _engine_for(self._url or default_url())
        return self._engine

    def _reserve(self) -> tuple[float, int]:
        """Take the next slot: (wall-clock time it starts, the budget's pause count)."""
        from sqlalchemy import case, insert, update
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

        from airflow_creative_provider.sync.ledger import rate_budgets_table as table

        # SQLite answers "database is locked" at once (no busy wait) when writers collide in
        # some lock states: that is contention, not an outage, so try again before pacing alone;
        # any other error (no such file, a server that refuses) paces this process alone at once.
        for attempt in range(_BUDGET_ATTEMPTS):
            now = time.time()
            take = (
                update(table)
                .where(table.c.budget == self.budget)
                .values(next_at=case((table.c.next_at > now, table.c.next_at), else_=now) + self.interval)
                .returning(table.c.next_at, table.c.pauses)
            )
            try:
                for _ in range(3):
                    with self.engine.begin() as conn:
                        row = conn.execute(take).one_or_none()
                    if row is not None:
                        return row[0] - self.interval, row[1]
                    try:
                        with self.engine.begin() as conn:
                            conn.execute(
                                insert(table).values(budget=self.budget, next_at=now, paused_until=0.0, pauses=0)
                            )
                    except IntegrityError:
                        pass  # another caller created it first
            except SQLAlchemyError as exc:
                if _sqlite_locked(exc) and attempt + 1 < _BUDGET_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                log.warning("Rate budget %s: its database does not answer (%s); pacing this process only",
                            self.budget, type(exc).__name__)  # fmt: skip
            break
        with self._lock:
            slot = max(now, self._local_next)
            self._local_next = slot + self.interval
            return slot, -1

    def _pauses(self) -> int:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from airflow_creative_provider.sync.ledger import rate_budgets_table as table

        try:
            with self.engine.begin() as conn:
                return conn.execute(select(table.c.pauses).where(table.c.budget == self.budget)).scalar() or 0
        except SQLAlchemyError:
            return -1

    @property
    def late_after(self) -> float:
        """A caller that wakes this much after its slot takes a new one: sent that late, its call
        would crowd the next ``calls`` into one ``period`` (a call is never early, so the
        margin's slack is what lateness may use)."""
        return max(0.005, self.period * self.margin)

    def _still_valid(self, slot: float, pauses: int) -> bool:
        if pauses >= 0 and self._pauses() != pauses:
            return False  # a 429 came in while we slept: take a slot after the pause
        # last, as close to the call as can be: woke too late (a loaded machine)? the slot is lost
        return time.time() - slot <= self.late_after

    def acquire(self) -> None:
        """Wait for a slot of the shared budget."""
        while True:
            slot, pauses = self._reserve()
            delay = slot - time.time()
            if delay <= 0:
                return
            time.sleep(delay)
            if self._still_valid(slot, pauses):
                return

    async def aacquire(self) -> None:
        """``acquire`` for asyncio (the database calls run in a thread)."""
        while True:
            slot, pauses = await asyncio.to_thread(self._reserve)
            delay = slot - time.time()
            if delay <= 0:
                return
            await asyncio.sleep(delay)
            if await asyncio.to_thread(self._still_valid, slot, pauses):
                return

    def pause(self, seconds: float) -> None:
        """The platform answered 429 with ``Retry-After``: no caller of this budget calls for ``seconds``."""
        from sqlalchemy import case, update
        from sqlalchemy.exc import SQLAlchemyError

        from airflow_creative_provider.sync.ledger import rate_budgets_table as table

        until = time.time() + seconds
        self._reserve()  # makes sure the row exists
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.budget == self.budget)
                    .values(
                        next_at=case((table.c.next_at > until, table.c.next_at), else_=until),
                        paused_until=case((table.c.paused_until > until, table.c.paused_until), else_=until),
                        pauses=table.c.pauses + 1,
                    )
                )
        except SQLAlchemyError:
            with self._lock:
                self._local_next = max(self._local_next, until)


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call, described once and sent by the sync or the async client.

    :param path: path under the connection's base URL; or give ``url`` for an absolute URL
        (a presigned upload), used as is.
    :param data: request body: bytes, a sized file-like object, or a zero-argument callable
        returning a fresh body (needed for any call that may be retried with a stream).
    :param idempotent: may the call be repeated after it may have reached the server?
        Defaults to True for GET/HEAD/PUT/DELETE/OPTIONS.
    :param authenticated: add the platform's auth (False for presigned storage URLs).
    """

    method: str
    path: str = ""
    url: str | None = None
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Any = None
    files: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool | None = None
    authenticated: bool = True
    timeout: tuple[float, float] | None = None

    @property
    def is_idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent

    @property
    def safe_path(self) -> str:
        """Method-free path without query string, safe for logs and messages."""
        return url_path(self.url) if self.url else self.path.split("?")[0]

    def body(self) -> Any:
        return self.data() if callable(self.data) else self.data


#: ``raw_state`` of an ``AssetStatus.FAILED``: the platform's processing failed or stalled
#: beyond its bound (a label of this project; the platform's own state is in ``details``).
PROCESSING_FAILED = "processing_failed"


@dataclass(frozen=True)
class AssetStatus:
    """One poll of one remote asset, normalised across platforms.

    :param state: ``pending`` | ``processing`` | ``ready`` | ``rejected`` | ``not_submitted``
        (the platform holds the asset but nobody submitted it for approval: nothing to wait
        for, and not a rejection) | ``failed`` (the platform's own processing failed or stalled,
        e.g. MediaPocket could not fetch the media: not a rejection; the sync sends it again,
        ``raw_state`` is ``PROCESSING_FAILED``).
    :param raw_state: the platform's own state name.
    :param reason: the platform's reason for a rejection, when it gives one.
    :param warnings: non-blocking findings (e.g. Amazon's failed spec checks).
    """

    remote_id: str
    state: str
    raw_state: str | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    PENDING: ClassVar[str] = "pending"
    PROCESSING: ClassVar[str] = "processing"
    READY: ClassVar[str] = "ready"
    REJECTED: ClassVar[str] = "rejected"
    NOT_SUBMITTED: ClassVar[str] = "not_submitted"
    FAILED: ClassVar[str] = "failed"
    #: states a wait ends on.
    TERMINAL: ClassVar[frozenset[str]] = frozenset({READY, REJECTED, NOT_SUBMITTED, FAILED})

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote_id": self.remote_id,
            "state": self.state,
            "raw_state": self.raw_state,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class ListedAsset:
    """One asset of the account in the platform's own listing (``list_account_assets``).

    :param status: its state now, normalised as a poll would.
    :param content_mark: our idempotency mark on it, when it carries one: the content's sha256
        or the prefix of it the platform keeps (MediaMath, MediaPocket: 32 hex characters).
    :param checksum_sha1: the content checksum the platform computed itself (Delta Projects).
    :param metadata: the metadata fields the listing shows, under the names ``sync.metadata``
        sends them (``PLATFORM_FIELDS``), without our own idempotency mark; only the fields the
        platform's listing exposes (``creative_check`` compares them with what was sent).
    """

    remote_id: str
    status: AssetStatus
    content_mark: str | None = None
    checksum_sha1: str | None = None
    name: str | None = None
    version: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RemoteAsset:
    """What ``submit`` leaves on a platform: ids to poll and to show, never a secret.

    :param remote_id: the platform's id for the asset (what ``get_status`` takes).
    :param version: version id where the platform has versions.
    :param state: normalised state right after the submit.
    :param abandoned_ids: ids of earlier attempts left behind (e.g. an expired Topsort upload).
    """

    remote_id: str
    state: str = AssetStatus.PENDING
    version: str | None = None
    raw_state: str | None = None
    url: str | None = None
    warnings: tuple[str, ...] = ()
    abandoned_ids: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote_id": self.remote_id,
            "state": self.state,
            "version": self.version,
            "raw_state": self.raw_state,
            "url": self.url,
            "warnings": list(self.warnings),
            "abandoned_ids": list(self.abandoned_ids),
            "details": dict(self.details),
        }


@dataclass
class Response:
    """A finished, successful HTTP answer (sync or async), with the body read."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    def json(self) -> Any:
        import json

        return json.loads(self.content) if self.content.strip() else None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class ErrorContext:
    """What every ``error_for`` starts from: the vendor's code and (redacted) message, where
    the call went, and the keyword arguments every ``PlatformError`` takes."""

    code: str | None
    message: str | None
    status: int
    where: str
    common: dict[str, Any]

    @property
    def said(self) -> str:
        """``": <vendor message>"``, or empty when the platform said nothing."""
        return f": {self.message}" if self.message else ""


def content_warnings(submit: Callable[..., RemoteAsset]) -> Callable[..., RemoteAsset]:
    """Decorate a hook's ``submit``: the creative's content warning (a file sent with another
    type than its name says) joins the returned asset's warnings, so the report shows it."""

    @wraps(submit)
    def wrapper(self: CreativePlatformHook, creative: Creative, *args: Any, **kwargs: Any) -> RemoteAsset:
        remote = submit(self, creative, *args, **kwargs)
        warning = creative.content_warning
        if warning and warning not in remote.warnings:
            remote = replace(remote, warnings=(*remote.warnings, warning))
        return remote

    return wrapper


class _WaitRetryAfterOrBackoff:
    """tenacity wait: the platform's ``Retry-After`` when it gave one, else exponential jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.backoff(state)


class CreativePlatformHook(BaseHook):
    """Base of every ad-platform hook: session, retries, auth refresh, typed errors, redaction.

    Subclasses set the Airflow identity (``conn_name_attr``, ``default_conn_name``,
    ``conn_type``, ``hook_name``), ``platform``, ``default_host`` and ``rules``, implement
    their auth in ``auth_headers``/``auth_params``/``auth_cookies`` (+ ``refresh_auth`` when
    the platform has tokens), their error shapes in ``vendor_error``, and the platform
    surface: ``submit``, ``status_calls`` + ``parse_status``, ``asset_url``.

    :param conn_id: the Airflow connection to use; ``default_conn_name`` when omitted.
    """

    # Airflow's identity of the hook; the task-SDK BaseHook reads them but does not declare them.
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    platform: ClassVar[str] = ""
    default_host: ClassVar[str | None] = None
    rules: ClassVar[PlatformRules]
    supports_auth_refresh: ClassVar[bool] = False
    #: extras that hold secrets: registered with the masker when the connection is read.
    secret_extras: ClassVar[tuple[str, ...]] = ()
    #: (calls, seconds) the platform tolerates; None for no client-side limit.
    rate_limit: ClassVar[tuple[int, float] | None] = None
    #: how many times the sync sends a creative again whose processing failed on the platform
    #: (``AssetStatus.FAILED``) before it only polls it and keeps reporting it failed.
    processing_retries: ClassVar[int] = 3
    #: what to check when the platform answers 401 twice.
    auth_hint: ClassVar[str] = "the password (API key)"
    max_attempts: ClassVar[int] = 5
    backoff_initial: ClassVar[float] = 0.5
    backoff_max: ClassVar[float] = 30.0
    max_retry_after: ClassVar[float] = 120.0
    default_timeout: ClassVar[tuple[float, float]] = (10.0, 120.0)
    #: parallel status polls an async ``aget_status`` may run (within ``rate_limit``).
    status_concurrency: ClassVar[int] = 8

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._secrets: set[str] = set()
        #: epoch seconds when the wait polling through this hook began (set by ``waiting.AssetWait``;
        #: kept across deferral and reschedules), for states a platform only ends by time.
        self.waiting_since: float | None = None

    # ----------------------------------------------------------------- connection
    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, read once; its secrets registered with the masker."""
        try:
            conn = self.get_connection(self.conn_id)
        except Exception as exc:  # Airflow raises AirflowNotFoundException or a task-SDK error
            raise PlatformConfigError(
                f"{self.hook_name}: Airflow connection {self.conn_id!r} was not found. Create it "
                f"(conn_type {self.conn_type!r}) in Admin > Connections or as AIRFLOW_CONN_"
                f"{self.conn_id.upper()}.",
                platform=self.platform,
            ) from exc
        self._register_connection_secrets(conn)
        return conn

    @classmethod
    async def afrom_conn_id(cls, conn_id: str | None = None) -> CreativePlatformHook:
        """Build a hook inside a trigger: the connection is read with the async API."""
        hook = cls(conn_id)
        conn = await BaseHook.aget_connection(hook.conn_id)
        hook._register_connection_secrets(conn)
        hook.__dict__["connection"] = conn
        return hook

    def _register_connection_secrets(self, conn: Connection) -> None:
        if conn.password:
            self.register_secret(conn.password)
        extras = conn.extra_dejson or {}
        for name in self.secret_extras:
            if extras.get(name):
                self.register_secret(str(extras[name]))

    @property
    def extras(self) -> dict[str, Any]:
        """The connection's extra JSON, parsed once per connection (and extra text).

        ``Connection.extra_dejson`` parses the JSON and walks it through Airflow's masker on
        every access; the hooks read extras several times per upload.
        """
        conn = self.connection
        cached = self.__dict__.get("_extras_cache")
        if cached is None or cached[0] is not conn or cached[1] != conn.extra:
            cached = (conn, conn.extra, conn.extra_dejson or {})
            self.__dict__["_extras_cache"] = cached
        return cached[2]

    def extra_field(self, name: str, *, required: bool = False, default: Any = None) -> Any:
        """An extra of the connection; a missing required one raises a message naming it."""
        value = self.extras.get(name)
        if value in (None, ""):
            if required:
                raise PlatformConfigError(
                    f"{self.hook_name}: connection {self.conn_id!r} needs the extra field {name!r}; "
                    "set it in the connection form or in the extra JSON.",
                    platform=self.platform,
                )
            return default
        return value

    def require_password(self) -> str:
        if not self.connection.password:
            raise PlatformConfigError(
                f"{self.hook_name}: connection {self.conn_id!r} has no {self.auth_hint}; set the Password field.",
                platform=self.platform,
            )
        return self.connection.password

    @cached_property
    def base_url(self) -> str:
        host = (self.connection.host or self.default_host or "").strip()
        if not host:
            raise PlatformConfigError(
                f"{self.hook_name}: connection {self.conn_id!r} has no host and the platform has no "
                "public default; set Host to the API base URL.",
                platform=self.platform,
            )
        if "://" not in host:
            scheme = self.connection.schema or "https"
            host = f"{scheme}://{host}"
            if self.connection.port:
                host = f"{host}:{self.connection.port}"
        return host.rstrip("/")

    @cached_property
    def timeout(self) -> tuple[float, float]:
        value = self.extras.get("timeout")
        if value in (None, ""):
            return self.default_timeout
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return (float(value[0]), float(value[1]))
        try:
            return (min(float(value), self.default_timeout[0]), float(value))
        except (TypeError, ValueError):
            raise PlatformConfigError(
                f"{self.hook_name}: extra 'timeout' of connection {self.conn_id!r} must be seconds "
                f"(a number) or [connect, read]; got {value!r}.",
                platform=self.platform,
            ) from None

    # ----------------------------------------------------------------- secrets
    def register_secret(self, value: str | None, *, ephemeral: bool = False) -> None:
        """Scrub a secret from our own messages and, unless ``ephemeral``, mask it in Airflow's logs.

        ``ephemeral`` is for one-use, short-lived values (presigned URLs and their signatures):
        Airflow's masker recompiles one regex over every mask it holds on each addition, so one
        mask per upload costs minutes of CPU on a batch of a few hundred files (measured by
        ``benchmarks/sync.py``). Those values only ever travel in URL query strings, which every
        log line we and our HTTP libraries write has stripped (``strip_query``).
        """
        if value and len(value) >= 5 and value not in self._secrets:
            self._secrets.add(value)
            if not ephemeral:
                mask_secret(value)

    def redact(self, text: str) -> str:
        """``text`` without any registered secret and without URL query strings."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return strip_query(text)

    # ----------------------------------------------------------------- auth (override)
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a call (fetching a token first when needed)."""
        return {}

    def auth_params(self) -> dict[str, str]:
        """Query parameters that authenticate a call."""
        return {}

    def auth_cookies(self) -> dict[str, str]:
        """Cookies that authenticate a call."""
        return {}

    def refresh_auth(self) -> None:
        """Forget cached tokens so the next call obtains fresh ones."""

    def default_headers(self) -> dict[str, str]:
        return {"User-Agent": "airflow-creative-provider"}

    # ----------------------------------------------------------------- sessions
    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook; retries are done by tenacity around each call."""
        session = requests.Session()
        adapter = TransferAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(self.default_headers())
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    @property
    def call_limit(self) -> tuple[int, float] | None:
        """(calls, seconds) this connection may make: the extra ``max_calls_per_second`` when
        set (an account's own quota), else the platform's ``rate_limit``.

        The budget is shared by every caller of the account (``limiter``).
        """
        raw = self.extras.get("max_calls_per_second")
        if raw in (None, ""):
            return self.rate_limit
        try:
            rate = float(raw)
        except (TypeError, ValueError):
            rate = 0.0
        if not rate > 0 or rate == float("inf"):
            raise PlatformConfigError(
                f"{self.hook_name}: connection {self.conn_id!r}: the extra field 'max_calls_per_second' must be a "
                f"number above 0 (calls per second), not {raw!r}; fix it or remove it to use the platform's default.",
                platform=self.platform,
            )
        return (round(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)

    @property
    def limiter(self) -> RateLimiter | None:
        """The account's rate budget, shared by every caller (see ``RateLimiter``); None without a limit."""
        limit = self.call_limit
        if limit is None:
            return None
        calls, period = limit
        key = (self.platform, f"{self.platform} {self.account} {self.base_url} {calls}/{period:g}s")
        with _LIMITERS_LOCK:
            if key not in _LIMITERS:
                _LIMITERS[key] = RateLimiter(calls, period, budget=key[1])
            return _LIMITERS[key]

    def _pause_budget(self, exc: PlatformRateLimited) -> None:
        """A 429 with Retry-After pauses every caller of the account, not only this thread."""
        limiter = self.limiter
        if limiter is not None and exc.retry_after:
            limiter.pause(min(float(exc.retry_after), self.max_retry_after))

    def _retrying_kwargs(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(self._is_retryable),
            "wait": _WaitRetryAfterOrBackoff(self.backoff_initial, self.backoff_max),
            "stop": stop_after_attempt(self.max_attempts),
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    @staticmethod
    def _is_retryable(exc: BaseException) -> bool:
        if isinstance(exc, UncertainOutcome):
            return False
        return isinstance(exc, (PlatformRateLimited, PlatformUnavailable))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "%s; retrying in %.1f s (attempt %d of %d)",
            exc,  # our messages already start with the platform's name
            delay,
            state.attempt_number + 1,
            self.max_attempts,
        )

    # ----------------------------------------------------------------- requests
    def call(self, method: str, path: str = "", **kwargs: Any) -> ApiCall:
        """Describe a call (see ``ApiCall``); send it with ``send`` or ``asend``."""
        return ApiCall(method=method.upper(), path=path, **kwargs)

    def request(self, method: str, path: str = "", **kwargs: Any) -> Response:
        """Send one call with retries, auth refresh and typed errors; return the 2xx answer."""
        return self.send(self.call(method, path, **kwargs))

    def request_json(self, method: str, path: str = "", **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def send(self, call: ApiCall) -> Response:
        for attempt in Retrying(**self._retrying_kwargs()):
            with attempt:
                return self._send_once(call)
        raise AssertionError("unreachable")  # pragma: no cover

    def _url(self, call: ApiCall) -> str:
        return call.url or f"{self.base_url}/{call.path.lstrip('/')}"

    def _auth_parts(self, call: ApiCall) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
        headers = dict(call.headers)
        params: dict[str, Any] = dict(call.params or {})
        cookies: dict[str, str] = {}
        if call.authenticated:
            headers.update(self.auth_headers())
            params.update(self.auth_params())
            cookies = self.auth_cookies()
        return headers, params, cookies

    def _send_once(self, call: ApiCall, refreshed: bool = False) -> Response:
        if self.limiter and call.authenticated:
            self.limiter.acquire()
        headers, params, cookies = self._auth_parts(call)
        try:
            raw = self.session.request(
                call.method,
                self._url(call),
                params=params or None,
                json=call.json,
                data=call.body(),
                files=call.files,
                headers=headers,
                cookies=cookies or None,
                timeout=call.timeout or self.timeout,
            )
            content = raw.content
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise self._transport_error(call, exc) from None
        if raw.status_code == 401 and call.authenticated and self.supports_auth_refresh and not refreshed:
            self.log.info("%s: %s %s answered 401; refreshing auth once", self.hook_name, call.method, call.safe_path)
            self.refresh_auth()
            return self._send_once(call, refreshed=True)
        response = Response(raw.status_code, raw.headers, content, raw.url)
        try:
            self.check_response(call, response)
        except PlatformRateLimited as exc:
            self._pause_budget(exc)
            raise
        return response

    def _transport_error(self, call: ApiCall, exc: BaseException) -> PlatformUnavailable:
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        never_sent = isinstance(exc, (requests.ConnectTimeout, httpx.ConnectError, httpx.ConnectTimeout)) or isinstance(
            reason, NewConnectionError
        )
        what = "could not connect" if never_sent else "lost the connection"
        if never_sent or call.is_idempotent:
            return PlatformUnavailable(
                f"{self.hook_name}: {call.method} {call.safe_path} {what} ({type(exc).__name__}).",
                platform=self.platform,
                method=call.method,
                path=call.safe_path,
            )
        return UncertainOutcome(
            f"{self.hook_name}: {call.method} {call.safe_path} {what} ({type(exc).__name__}) after "
            "the request may have reached the platform; it is not repeated blindly.",
            platform=self.platform,
            method=call.method,
            path=call.safe_path,
        )

    # ----------------------------------------------------------------- async client
    async def asend(self, call: ApiCall, client: httpx.AsyncClient | None = None) -> Response:
        """The async twin of ``send`` (httpx), for triggers: same building, same checks."""
        if client is None:
            async with httpx.AsyncClient(timeout=self._httpx_timeout(call)) as own:
                return await self.asend(call, own)
        async for attempt in AsyncRetrying(**self._retrying_kwargs()):
            with attempt:
                return await self._asend_once(call, client)
        raise AssertionError("unreachable")  # pragma: no cover

    def _httpx_timeout(self, call: ApiCall) -> httpx.Timeout:
        connect, read = call.timeout or self.timeout
        return httpx.Timeout(read, connect=connect)

    async def _asend_once(self, call: ApiCall, client: httpx.AsyncClient, refreshed: bool = False) -> Response:
        if self.limiter and call.authenticated:
            await self.limiter.aacquire()
        # Token fetches are blocking (requests): keep them off the event loop.
        headers, params, cookies = await asyncio.to_thread(self._auth_parts, call)
        headers = {**self.default_headers(), **headers}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        try:
            raw = await client.request(
                call.method,
                self._url(call),
                params=params or None,
                json=call.json,
                content=call.body(),
                headers=headers,
                timeout=self._httpx_timeout(call),
            )
        except httpx.TransportError as exc:
            raise self._transport_error(call, exc) from None
        if raw.status_code == 401 and call.authenticated and self.supports_auth_refresh and not refreshed:
            await asyncio.to_thread(self.refresh_auth)
            return await self._asend_once(call, client, refreshed=True)
        response = Response(raw.status_code, raw.headers, raw.content, str(raw.url))
        try:
            self.check_response(call, response)
        except PlatformRateLimited as exc:
            await asyncio.to_thread(self._pause_budget, exc)
            raise
        return response

    # ----------------------------------------------------------------- errors
    def vendor_error(self, response: Response) -> tuple[str | None, str | None]:
        """(code, message) from the platform's error body; override for vendor shapes."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
            return None, text[:500] or None
        if isinstance(body, dict):
            message = body.get("message") or body.get("error") or body.get("detail")
            code = body.get("code") or body.get("errCode")
            return (str(code) if code is not None else None), (str(message) if message else None)
        return None, str(body)[:500]

    def retry_after(self, response: Response) -> float | None:
        """Seconds the platform asked us to wait; override to read vendor headers."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def check_response(self, call: ApiCall, response: Response) -> None:
        """Raise the typed error for a non-2xx answer; never includes a secret."""
        if 200 <= response.status < 300:
            return
        raise self.error_for(call, response)

    def error_context(self, call: ApiCall, response: Response) -> ErrorContext:
        """The vendor's code and redacted message, where the call went, the error's common fields."""
        code, message = self.vendor_error(response)
        message = self.redact(message) if message else None
        common = {
            "platform": self.platform,
            "status": response.status,
            "vendor_message": message,
            "vendor_code": code,
            "method": call.method,
            "path": call.safe_path,
        }
        return ErrorContext(code, message, response.status, f"{call.method} {call.safe_path}", common)

    def error_for(self, call: ApiCall, response: Response) -> PlatformError:
        """Map a failed answer to a typed error; platforms override to dispatch on vendor codes."""
        ctx = self.error_context(call, response)
        status, where, said, common = ctx.status, ctx.where, ctx.said, ctx.common
        if status == 401:
            return PlatformAuthError(
                f"{self.hook_name}: {where} answered 401{said}. Check {self.auth_hint} of connection {self.conn_id!r}.",
                **common,
            )
        if status == 403:
            return PlatformAuthError(
                f"{self.hook_name}: {where} answered 403 (forbidden){said}. The credentials of "
                f"connection {self.conn_id!r} lack access to this resource.",
                **common,
            )
        if status == 429:
            retry_after = self.retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                return PlatformRequestError(
                    f"{self.hook_name}: {where} is rate limited for {retry_after:.0f} s, longer than "
                    f"{self.max_retry_after:.0f} s; the task should retry later.",
                    **common,
                )
            return PlatformRateLimited(
                f"{self.hook_name}: {where} answered 429 (rate limited){said}.",
                retry_after=retry_after,
                **common,
            )
        if status >= 500:
            if not call.is_idempotent:
                return UncertainOutcome(
                    f"{self.hook_name}: {where} answered {status}{said}; the request may have been "
                    "applied, so it is not repeated blindly.",
                    **common,
                )
            return PlatformUnavailable(
                f"{self.hook_name}: {where} answered {status}{said}.",
                retry_after=self.retry_after(response),
                **common,
            )
        return PlatformRequestError(f"{self.hook_name}: {where} answered {status}{said}.", **common)

    # ----------------------------------------------------------------- idempotent creates
    def create_or_find(
        self,
        create: Callable[[], _T],
        find: Callable[[], _U | None],
        *,
        what: str,
        attempts: int = 1,
    ) -> _T | _U:
        """Run a create the platform cannot deduplicate; when its outcome is uncertain (the
        answer was lost after the request may have arrived) look the result up with ``find``
        instead of creating blindly again.

        A found result is returned. When ``find`` proves nothing was made, the create runs
        again, ``attempts`` times in all; then the ``UncertainOutcome`` stands.

        :param what: what is created, for the log (never a secret).
        """
        for attempt in range(1, attempts + 1):
            try:
                return create()
            except UncertainOutcome as exc:
                self.log.warning("%s Looking up whether %s was made.", exc, what)
                found = find()
                if found is not None:
                    self.log.warning(
                        "%s: the answer was lost, but %s was made; continuing with it", self.hook_name, what
                    )
                    return found
                if attempt >= attempts:
                    raise
                self.log.warning(
                    "%s: %s was not made; creating it again (attempt %d of %d)",
                    self.hook_name,
                    what,
                    attempt + 1,
                    attempts,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------- platform surface
    @property
    def connection_rules(self) -> PlatformRules:
        """``rules`` with this connection's extra ``max_file_bytes``: it raises or lowers a size
        limit that is this project's guard, and can only lower one the platform documents."""
        raw = self.extras.get("max_file_bytes")
        if raw in (None, ""):
            return self.rules
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            limit = 0
        if limit <= 0:
            raise PlatformConfigError(
                f"{self.hook_name}: extra 'max_file_bytes' of connection {self.conn_id!r} must be a positive "
                f"number of bytes; got {raw!r}.",
                platform=self.platform,
            )
        documented = self.rules.max_bytes if "max_bytes" not in self.rules.own_limits else None
        return self.rules.with_(max_bytes=min(limit, documented) if documented else limit)

    def check_creative(self, creative: Creative, rules: PlatformRules | None = None) -> None:
        """Raise ``CreativeRefused`` when a local rule refuses the file (nothing is sent)."""
        from airflow_creative_provider.exceptions import CreativeRefused

        refusals = (rules or self.connection_rules).check(creative)
        if creative.content_warning and not refusals:
            self.log.warning("%s: %s", self.hook_name, creative.content_warning)
        if refusals:
            first = refusals[0]
            raise CreativeRefused(
                "; ".join(r.message for r in refusals), file=first.file, rule=first.rule, platform=self.platform
            )
        if creative.sha256:  # planned facts: the file must still be them before anything is created
            check_unchanged(creative)

    #: the platform can archive/trash an asset through its API (``archive``).
    supports_archive: ClassVar[bool] = False
    #: ``submit(previous_id=...)`` makes a new version of that asset (Amazon's ``linkedAssetId``);
    #: the sync engine passes ``previous_id`` for a changed file only where this is True.
    supports_versions: ClassVar[bool] = False

    @property
    def account(self) -> str:
        """The account assets belong to (vendor, profile, advertiser, project, client): part of
        the ledger's key, so two accounts of one platform never share a record."""
        return self.conn_id

    def submit(self, creative: Creative, *, resume: bool = False, previous_id: str | None = None) -> RemoteAsset:
        """Upload one creative with every step the platform needs.

        :param resume: an earlier attempt may have created the asset (a retried task, or the
            ledger holds an intent without a remote id): look it up first (``find_asset``) and
            continue from where it stands instead of creating a second one.
        :param previous_id: remote id of an earlier version of the same file name; platforms
            with versions (Amazon) make a new version of it, others create a new asset.
        """
        raise NotImplementedError

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        """The idempotency lookup: the asset an earlier attempt made for this content, if any."""
        raise NotImplementedError

    def archive(self, remote_id: str) -> None:
        """Archive or trash an asset (only where ``supports_archive``)."""
        raise NotImplementedError(f"{self.hook_name} has no archive operation")

    def status_calls(self, remote_ids: list[str]) -> list[ApiCall]:
        """The calls that poll the given assets (built once, sent sync or async)."""
        raise NotImplementedError

    def parse_status(self, remote_ids: list[str], responses: list[Response]) -> dict[str, AssetStatus]:
        """Normalise the answers of ``status_calls`` into one ``AssetStatus`` per id."""
        raise NotImplementedError

    def get_status(self, remote_ids: Iterable[str]) -> dict[str, AssetStatus]:
        """One poll of the given assets: ``{remote_id: AssetStatus}``."""
        ids = [str(i) for i in remote_ids]
        responses = [self.send(call) for call in self.status_calls(ids)]
        return self.parse_status(ids, responses)

    async def aget_status(self, remote_ids: Iterable[str]) -> dict[str, AssetStatus]:
        """The async twin of ``get_status``: calls run concurrently, within the rate limit."""
        ids = [str(i) for i in remote_ids]
        calls = self.status_calls(ids)
        semaphore = asyncio.Semaphore(self.status_concurrency)
        async with httpx.AsyncClient() as client:

            async def one(call: ApiCall) -> Response:
                async with semaphore:
                    return await self.asend(call, client)

            responses = await asyncio.gather(*(one(c) for c in calls))
        return self.parse_status(ids, list(responses))

    def list_account_assets(self) -> list[ListedAsset]:
        """Every asset of this account as the platform lists it, with its state and our mark.

        Read-only (GET, or a search that changes nothing): what ``creative_check`` compares
        with the ledger.
        """
        raise NotImplementedError(f"{self.hook_name} cannot list its assets")

    def asset_url(self, remote_id: str) -> str | None:
        """Where a person sees the asset in the platform's own UI (None when undocumented)."""
        return None

    def check_connection(self) -> str:
        """A cheap authenticated call proving the connection works; returns what it saw."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        """Used by the Airflow UI's Test button."""
        try:
            return True, self.check_connection()
        except PlatformError as exc:
            return False, str(exc)
        except NotImplementedError:
            return False, f"{self.hook_name} has no connection test"


def with_call(call: ApiCall, **changes: Any) -> ApiCall:
    """A copy of ``call`` with some fields changed."""
    return replace(call, **changes)


def run_bounded(func: Callable[..., Any], items: list[Any], concurrency: int) -> list[Any]:
    """Run ``func`` over ``items`` in a thread pool of ``concurrency``; results in order."""
    from concurrent.futures import ThreadPoolExecutor

    if concurrency <= 1 or len(items) <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(func, items))
