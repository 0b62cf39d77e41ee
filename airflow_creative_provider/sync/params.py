"""The run's params, validated once before anything is listed or sent: ``SyncParams``.

The DAG's params arrive as a JSON-like mapping (the trigger form, ``dag.test(run_conf=...)``,
the REST API); ``SyncParams.parse`` checks every value and refuses a wrong one with a
message that names the param (and the key, for ``connections``) and says what to do.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.source import is_object_storage, local_root

DEFAULT_BATCH_SIZE = 200
DEFAULT_MAX_ARCHIVE = 10


class ParamsError(ValueError):
    """A param the run cannot start with; the message names the param and the fix."""


def default_source() -> str:
    """``$CREATIVE_SYNC_SOURCE``, else ``$AIRFLOW_HOME/creatives``."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.environ.get("CREATIVE_SYNC_SOURCE") or os.path.join(home, "creatives")


def source_identity(source: str) -> str:
    """One spelling per source (the ledger's key): absolute local paths, URIs without a trailing slash."""
    if is_object_storage(source):
        return source.rstrip("/")
    return os.path.abspath(os.path.expanduser(local_root(source)))


@dataclass(frozen=True)
class SyncParams:
    """The params of one sync run, defaults filled in and checked.

    :param source: the source's identity (``source_identity``).
    :param platforms: the platforms to sync, in the order asked, without repeats.
    :param connections: the Airflow connection id of each platform in ``platforms``.
    :param concurrency: parallel uploads per batch; None: the hook's setting.
    """

    source: str
    platforms: tuple[str, ...]
    connections: Mapping[str, str]
    source_conn_id: str | None = None
    include: str = "**/*"
    dry_run: bool = False
    wait_for_ready: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    strict: bool = False
    archive_removed: bool = False
    max_archive: int = DEFAULT_MAX_ARCHIVE
    checksum: bool = False
    min_age_seconds: float = 0.0
    concurrency: int | None = None
    require_approval_above: int = 0
    #: also send files that symbolic links outside the source folder point to.
    follow_outside_links: bool = False

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> SyncParams:
        """Check the DAG's params and fill in defaults; raises ``ParamsError`` naming the param."""
        platforms = _platforms(params.get("platforms"))
        connections = _connections(params.get("connections"), platforms)
        source = params.get("source") or default_source()
        if not isinstance(source, str):
            raise ParamsError(f"source must be a folder path or URI, got {type(source).__name__}")
        source_conn_id = params.get("source_conn_id") or None
        if source_conn_id is not None and not isinstance(source_conn_id, str):
            raise ParamsError("source_conn_id must be an Airflow connection id (a string)")
        include = params.get("include") or "**/*"
        if not isinstance(include, str):
            raise ParamsError("include must be a glob such as **/*.png (a string)")
        concurrency = _integer(params, "concurrency", None, minimum=1)
        return cls(
            source=source_identity(source),
            platforms=platforms,
            connections=connections,
            source_conn_id=source_conn_id,
            include=include,
            dry_run=_flag(params, "dry_run", False),
            wait_for_ready=_flag(params, "wait_for_ready", True),
            batch_size=_integer(params, "batch_size", DEFAULT_BATCH_SIZE, minimum=1) or DEFAULT_BATCH_SIZE,
            strict=_flag(params, "strict", False),
            archive_removed=_flag(params, "archive_removed", False),
            max_archive=_integer(params, "max_archive", DEFAULT_MAX_ARCHIVE, minimum=0, falsy_default=False) or 0,
            checksum=_flag(params, "checksum", False),
            min_age_seconds=float(_number(params, "min_age_seconds", 0.0)),
            concurrency=concurrency,
            require_approval_above=_integer(params, "require_approval_above", 0, minimum=0) or 0,
            follow_outside_links=_flag(params, "follow_outside_links", False),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-safe (what the ledger's run record keeps); ``parse`` reads it back."""
        data = dataclasses.asdict(self)
        data["platforms"] = list(self.platforms)
        data["connections"] = dict(self.connections)
        return data

    def reuse_key(self) -> dict[str, Any]:
        """The params a plan's decisions depend on (besides the source, files, ledger and rules)."""
        return {
            "include": self.include,
            "min_age_seconds": self.min_age_seconds,
            "archive_removed": self.archive_removed,
            "max_archive": self.max_archive,
            "follow_outside_links": self.follow_outside_links,
        }


def _platforms(value: Any) -> tuple[str, ...]:
    if value is None or value == [] or value == "":
        return tuple(PLATFORMS)
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ParamsError(f"platforms must be a list of platform names: some of {', '.join(PLATFORMS)}")
    unknown = [p for p in value if p not in PLATFORMS]
    if unknown:
        raise ParamsError(f"unknown platform(s) {', '.join(unknown)}; use some of {', '.join(PLATFORMS)}")
    return tuple(dict.fromkeys(value))


def _connections(value: Any, platforms: tuple[str, ...]) -> dict[str, str]:
    """Every platform's connection id: the default ``<platform>_default`` unless the param names one."""
    given = value or {}
    if not isinstance(given, Mapping):
        raise ParamsError('connections must be an object such as {"topsort": "topsort_default"}')
    for key, conn_id in given.items():
        if key not in PLATFORMS:
            raise ParamsError(
                f"connections: unknown platform {key!r}; the keys are platform names: {', '.join(PLATFORMS)}"
            )
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ParamsError(
                f"connections: {key!r} must name an Airflow connection id (a non-empty string), "
                f"got {conn_id!r}; for example {{{key!r}: '{key}_default'}}"
            )
    return {p: str(given.get(p) or f"{p}_default").strip() for p in platforms}


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParamsError(f"{name} must be true or false, got {value!r}")


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ParamsError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise ParamsError(f"{name} must be 0 or more, got {value!r}")
    return number


def _integer(
    params: Mapping[str, Any], name: str, default: int | None, *, minimum: int, falsy_default: bool = True
) -> int | None:
    value = params.get(name)
    if value is None or value == "" or (falsy_default and value == 0 and minimum > 0):
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ParamsError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ParamsError(f"{name} must be at least {minimum}, got {number}")
    return number
