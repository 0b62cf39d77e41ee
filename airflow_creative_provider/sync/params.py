"""The run's params, validated once before anything is listed or sent: ``SyncParams``.

The DAG's params arrive as a JSON-like mapping (the trigger form, ``dag.test(run_conf=...)``,
the REST API); ``SyncParams.parse`` checks every value and refuses a wrong one with a
message that names the param (and the key, for ``connections``) and says what to do.

``connections`` maps each platform to one Airflow connection id or to a list of them: one
connection per platform account (``{"amazon_ads": ["amazon_us", "amazon_eu"]}``). Each is its
own ``SyncTarget``; ``target_params()`` declares the params both DAGs share (source,
platforms, connections) once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.source import is_object_storage, local_root

if TYPE_CHECKING:
    from airflow.sdk import Param

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
    :param connections: the Airflow connection id of each platform in ``platforms``; a tuple
        of ids where the platform has several accounts (``targets`` lists them one by one).
    :param concurrency: parallel uploads per batch; None: the hook's setting.
    """

    source: str
    platforms: tuple[str, ...]
    connections: Mapping[str, str | tuple[str, ...]]
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
        data["connections"] = {p: c if isinstance(c, str) else list(c) for p, c in self.connections.items()}
        return data

    @property
    def targets(self) -> tuple[SyncTarget, ...]:
        """Every platform account to sync, platform by platform in the order asked."""
        found: list[SyncTarget] = []
        for platform in self.platforms:
            conn_ids = connection_ids(self.connections[platform])
            several = len(conn_ids) > 1
            found.extend(SyncTarget(target_name(platform, c, several=several), platform, c) for c in conn_ids)
        return tuple(found)

    def target(self, name: str) -> SyncTarget:
        """The target called ``name`` (``SyncTarget.name``); ``ParamsError`` when the params have none."""
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets)
        raise ParamsError(f"no platform account {name!r} in these params; they have {known}")

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


def _connections(value: Any, platforms: tuple[str, ...]) -> dict[str, str | tuple[str, ...]]:
    """Every platform's connection id(s): ``<platform>_default`` unless the param names one or a list.

    One id stays a string (the shape of the trigger form and of earlier runs' records); a list
    of several becomes a tuple, repeats dropped (the same connection is the same account).
    """
    given = value or {}
    if not isinstance(given, Mapping):
        raise ParamsError(
            'connections must be an object such as {"topsort": "topsort_default"} or, for several accounts of a '
            'platform, {"amazon_ads": ["amazon_us", "amazon_eu"]}'
        )
    for key, conn_id in given.items():
        if key not in PLATFORMS:
            raise ParamsError(
                f"connections: unknown platform {key!r}; the keys are platform names: {', '.join(PLATFORMS)}"
            )
        if isinstance(conn_id, (list, tuple)):
            if not conn_id:
                raise ParamsError(
                    f"connections: {key!r} is an empty list; name at least one Airflow connection id, "
                    f"for example {{{key!r}: ['{key}_default']}}, or leave {key!r} out for '{key}_default'"
                )
            for index, item in enumerate(conn_id):
                if not isinstance(item, str) or not item.strip():
                    raise ParamsError(
                        f"connections: item {index} of {key!r} must name an Airflow connection id (a non-empty "
                        f"string), got {item!r}; for example {{{key!r}: ['{key}_us', '{key}_eu']}}"
                    )
        elif not isinstance(conn_id, str) or not conn_id.strip():
            raise ParamsError(
                f"connections: {key!r} must name an Airflow connection id (a non-empty string) or a list of them, "
                f"got {conn_id!r}; for example {{{key!r}: '{key}_default'}}"
            )
    result: dict[str, str | tuple[str, ...]] = {}
    for platform in platforms:
        conn_ids = connection_ids(given.get(platform) or f"{platform}_default")
        result[platform] = conn_ids[0] if len(conn_ids) == 1 else conn_ids
    return result


def connection_ids(value: str | Sequence[str]) -> tuple[str, ...]:
    """The connection ids of one platform's ``connections`` value (a string or a list), stripped, in order, once."""
    items = [value] if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(item).strip() for item in items))


@dataclass(frozen=True)
class SyncTarget:
    """One platform account a run syncs to: a platform and the Airflow connection that reaches the account.

    :param name: how the run names it everywhere (plan, ledger rows of the run, mapped tasks,
        report): the platform when the run has one account of it, else ``<platform>:<conn id>``.
    """

    name: str
    platform: str
    conn_id: str


#: between the platform and the connection id in a target's name (platform names have none).
TARGET_SEPARATOR = ":"


def target_name(platform: str, conn_id: str, *, several: bool) -> str:
    """``platform`` for the only account of a platform (as before several were possible), else ``platform:conn_id``."""
    return f"{platform}{TARGET_SEPARATOR}{conn_id}" if several else platform


def platform_of(name: str) -> str:
    """The platform of a target's name (``amazon_ads:amazon_eu`` -> ``amazon_ads``; a platform is its own)."""
    return name.partition(TARGET_SEPARATOR)[0]


def duplicate_accounts(resolved: Sequence[tuple[SyncTarget, str | None]]) -> dict[str, str]:
    """``{target name: why it is refused}`` for each target whose account an earlier target already has.

    Two connections that reach the same account would write the same ledger records (the ledger
    is keyed by platform and account) and count every creative twice: the first one named syncs,
    each later one is refused with a message naming both connections. ``resolved`` pairs each
    target with its account (None: unknown, never a duplicate).
    """
    first: dict[tuple[str, str], SyncTarget] = {}
    refused: dict[str, str] = {}
    for target, account in resolved:
        if account is None:
            continue
        earlier = first.setdefault((target.platform, account), target)
        if earlier is not target:
            refused[target.name] = (
                f"connection {target.conn_id!r} reaches the same {target.platform} account {account!r} as "
                f"connection {earlier.conn_id!r}; each account is synced once: remove one of them from the "
                f"connections param (or point {target.conn_id!r} at another account)"
            )
    return refused


def target_params(*, source_help: str, platforms_help: str) -> dict[str, Param]:
    """The params every creative DAG takes to say where from and where to: ``source``,
    ``platforms``, ``connections`` (declared once, so both DAGs accept the same values).

    :param source_help: the ``source`` param's description (markdown).
    :param platforms_help: the ``platforms`` param's description (markdown).
    """
    from airflow.sdk import Param

    names = list(PLATFORMS)
    conn_id = {"type": "string", "minLength": 1}
    several = {"type": "array", "items": conn_id, "minItems": 1, "uniqueItems": True}
    return {
        "source": Param(default_source(), type="string", minLength=1, title="Source", description_md=source_help),
        "platforms": Param(
            names,
            type="array",
            items={"type": "string", "enum": names},
            examples=names,
            values_display={name: PLATFORMS[name][1] for name in names},
            uniqueItems=True,
            minItems=1,
            title="Platforms",
            description_md=platforms_help,
        ),
        "connections": Param(
            {p: f"{p}_default" for p in names},
            type="object",
            properties={p: {"anyOf": [conn_id, several]} for p in names},
            additionalProperties=False,
            title="Connections",
            description_md="Airflow connection id per platform (keys: "
            + ", ".join(f"`{p}`" for p in names)
            + "). For several accounts of a platform, a list: "
            '`{"amazon_ads": ["amazon_us", "amazon_eu"]}` syncs to both profiles (each connection one account).',
            section="Advanced",
        ),
    }


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
