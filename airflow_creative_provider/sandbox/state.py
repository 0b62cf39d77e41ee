"""Shared state of the sandbox: faults, journal, processing speed, tokens, clock, stores."""

from __future__ import annotations

import fnmatch
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_creative_provider import PLATFORMS as _PACKAGE_PLATFORMS

FAULT_KINDS = ("status", "delay", "delay_after", "drop", "drop_after", "expire_url", "expire_token")
#: the package's platform registry: the sandbox serves the same five.
PLATFORMS: tuple[str, ...] = tuple(_PACKAGE_PLATFORMS)


@dataclass
class FaultRule:
    """One injected fault.

    :param kind: ``status`` (answer ``status``, with ``retry_after`` when given), ``delay``
        (wait ``delay`` seconds, then answer normally), ``delay_after`` (process the request, then
        hold the answer ``delay`` seconds), ``drop`` (close the connection before
        the request is processed), ``drop_after`` (process it, then close the connection
        without an answer: the client cannot know it worked), ``expire_url`` (a presigned
        upload is refused as expired), ``expire_token`` (every token of the platform expires).
    :param platform: platform name, or None for any; presigned uploads belong to the
        platform whose bucket they target, with paths starting ``/s3/``.
    :param method: HTTP method, or None for any.
    :param path: regular expression searched in the path below the platform prefix.
    :param count: how many matching requests it applies to (None: every one).
    :param probability: chance that a matching request is hit (drawn from a seeded RNG).
    """

    kind: str
    platform: str | None = None
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    probability: float = 1.0
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    message: str = "injected fault"
    id: int = 0
    hits: int = 0

    def matches(self, platform: str, method: str, path: str) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.platform and self.platform != platform:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and not re.search(self.path, path))


class Faults:
    """Fault rules, matched in the order they were added; seeded for reproducible runs."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self.seed(seed)

    def seed(self, seed: int) -> None:
        self._random = random.Random(seed)

    def add(self, kind: str, **options: Any) -> FaultRule:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        retry_after = options.get("retry_after")
        if isinstance(retry_after, float) and retry_after.is_integer():
            retry_after = int(retry_after)
        if retry_after is not None:
            options["retry_after"] = str(retry_after)
        with self._lock:
            rule = FaultRule(kind=kind, id=self._next_id, **options)
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def take(self, platform: str, method: str, path: str, kinds: tuple[str, ...] = FAULT_KINDS) -> FaultRule | None:
        """The first rule that hits this request (its count is used up)."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(platform, method, path):
                    if rule.probability < 1.0 and self._random.random() >= rule.probability:
                        continue
                    rule.hits += 1
                    return rule
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class Journal:
    """Every request the sandbox served: platform, method, path, status, uploaded sha256."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, **entry: Any) -> None:
        with self._lock:
            entry["seq"] = len(self._entries) + 1
            entry.setdefault("time", time.time())
            self._entries.append(entry)

    def entries(
        self, platform: str | None = None, method: str | None = None, path: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self._entries)
        return [
            e
            for e in found
            if (platform is None or e.get("platform") == platform)
            and (method is None or e.get("method") == method.upper())
            and (path is None or re.search(path, e.get("path", "")))
            and (kind is None or e.get("kind") == kind)
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class ProcessingSpeed:
    """When asynchronous processing finishes: after ``polls`` status reads or ``seconds``."""

    polls: int | None = 2
    seconds: float | None = None


@dataclass
class Job:
    created: float
    polls: int = 0


@dataclass
class Outcome:
    """Force how processing ends for names matching ``name`` (a glob) on ``platform``."""

    platform: str
    name: str
    outcome: str
    reason: str = ""


class SandboxState:
    """Everything the routers share. One per sandbox app."""

    def __init__(self, *, seed: int = 0) -> None:
        self.faults = Faults(seed)
        self.journal = Journal()
        self.speeds: dict[str, ProcessingSpeed] = {}
        self.default_speed = ProcessingSpeed()
        self.outcomes: list[Outcome] = []
        self.clock_offset = 0.0
        self._jobs: dict[tuple[str, str], Job] = {}
        self._tokens: dict[str, dict[str, tuple[str, float]]] = {}
        self._stores: dict[str, dict[str, Any]] = {}
        self._reset_hooks: list[Callable[[], None]] = []
        self.lock = threading.RLock()
        self.s3: Any = None  # SandboxS3, set by create_app
        self.base_url = "http://127.0.0.1"  # set by the server once it listens
        self.credentials: dict[str, dict[str, str]] = {}

    # -- time
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += seconds

    # -- per-platform stores
    def store(self, platform: str) -> dict[str, Any]:
        with self.lock:
            return self._stores.setdefault(platform, {})

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.journal.clear()
            self.speeds.clear()
            self.default_speed = ProcessingSpeed()
            self.outcomes.clear()
            self.clock_offset = 0.0
            self._jobs.clear()
            self._tokens.clear()
            for store in self._stores.values():
                store.clear()
            for hook in self._reset_hooks:
                hook()
        if self.s3 is not None:
            self.s3.reset()

    def platform_url(self, platform: str) -> str:
        return f"{self.base_url}/{platform}"

    # -- asynchronous processing
    def speed(self, platform: str) -> ProcessingSpeed:
        return self.speeds.get(platform, self.default_speed)

    def start_job(self, platform: str, key: str) -> None:
        with self.lock:
            self._jobs[(platform, key)] = Job(created=self.now())

    def poll_job(self, platform: str, key: str) -> bool:
        """Count one status read of a job; True once its processing has finished."""
        with self.lock:
            job = self._jobs.get((platform, key))
            if job is None:
                return True
            job.polls += 1
            speed = self.speed(platform)
            by_polls = speed.polls is not None and job.polls >= speed.polls
            by_time = speed.seconds is not None and self.now() - job.created >= speed.seconds
            if speed.polls is None and speed.seconds is None:
                return True
            return by_polls or by_time

    def forced_outcome(self, platform: str, name: str) -> Outcome | None:
        for outcome in self.outcomes:
            if outcome.platform == platform and fnmatch.fnmatch(name, outcome.name):
                return outcome
        return None

    # -- tokens and sessions
    def issue_token(self, platform: str, ttl: float, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(24)
        with self.lock:
            self._tokens.setdefault(platform, {})[token] = (platform, self.now() + ttl)
        return token

    def token_valid(self, platform: str, token: str | None) -> bool:
        if not token:
            return False
        with self.lock:
            entry = self._tokens.get(platform, {}).get(token)
        return entry is not None and entry[1] > self.now()

    def expire_tokens(self, platform: str) -> None:
        with self.lock:
            self._tokens.pop(platform, None)


@dataclass
class ConnectionSpec:
    """An Airflow connection a platform router asks users to paste (JSON form)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"conn_type": self.conn_type}
        for name in ("host", "login", "password"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.extra:
            data["extra"] = self.extra
        return data
