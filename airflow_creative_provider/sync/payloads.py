"""What crosses a task boundary of the ``creative_sync`` DAG: small frozen dataclasses.

Each converts to JSON (``to_json``) only where it enters XCom and back (``from_json``) where
it leaves it. None grows with the folder: items, per-file outcomes and statuses live in the
ledger (``creative_run_items``), and a payload refers to them by run id, platform and batch.

``HookRegistry`` is how the engine finds a platform's hook class; tests hand in their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self, TypeVar

from airflow_creative_provider.sync.states import WORK_ACTIONS

if TYPE_CHECKING:
    from airflow_creative_provider.hooks.base import CreativePlatformHook

#: platform name -> hook class (``airflow_creative_provider.hooks.hook_class`` by default).
HookRegistry = Callable[[str], "type[CreativePlatformHook]"]

_P = TypeVar("_P", bound="Payload")


def default_hooks() -> HookRegistry:
    """The package's platform registry (``hooks.hook_class``)."""
    from airflow_creative_provider.hooks import hook_class

    return hook_class


@dataclass(frozen=True)
class Payload:
    """Base of the task payloads: JSON at the boundary, typed inside."""

    def to_json(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls: type[_P], data: Mapping[str, Any] | _P) -> _P:
        """Build from ``to_json``'s output (unknown keys ignored); an instance is returned as is."""
        if isinstance(data, cls):
            return data
        assert isinstance(data, Mapping), f"{cls.__name__} expects a mapping, got {type(data).__name__}"
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class PlatformInfo(Payload):
    """One platform of a run: its connection, account, what the plan decided, or why it cannot be used."""

    platform: str
    conn_id: str
    account: str | None = None
    error: str | None = None
    supports_archive: bool = False
    #: ``{action: n}`` of the plan.
    counts: Mapping[str, int] = field(default_factory=dict)
    #: uploads of content never sent to this platform account.
    new: int = 0


#: what names one batch: copied from payload to payload by ``BatchPayload.for_batch``.
BATCH_IDENTITY = ("run_id", "platform", "index", "conn_id", "account", "target")


@dataclass(frozen=True)
class BatchPayload(Payload):
    """A payload about one batch of one run on one platform (``index``: the batch's number)."""

    run_id: str
    platform: str
    index: int

    @classmethod
    def for_batch(cls, batch: object, **values: Any) -> Self:
        """This payload for the same batch as ``batch`` (a payload naming it, e.g. the ``BatchRef``).

        The fields in ``BATCH_IDENTITY`` that both declare are copied from ``batch``; ``values``
        give the rest and win over the copied ones (a submit's ``account`` is the hook's).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        same = {n: getattr(batch, n) for n in BATCH_IDENTITY if n in names and hasattr(batch, n)}
        return cls(**(same | values))


@dataclass(frozen=True)
class BatchRef(BatchPayload):
    """One mapped ``submit`` task's work: its items are the ledger's rows of (run, platform, batch)."""

    conn_id: str
    account: str | None
    items: int
    concurrency: int | None = None
    wait_for_ready: bool = True
    error: str | None = None
    #: the platform account's name in the run (``SyncTarget.name``; None: the platform's only account).
    target: str | None = None

    @property
    def target_name(self) -> str:
        """The platform, or ``platform:conn_id`` when the run syncs several accounts of it."""
        return self.target or self.platform

    @property
    def label(self) -> str:
        return f"{self.target_name} #{self.index}"


@dataclass(frozen=True)
class BatchResult(BatchPayload):
    """What one submit task did: counts only (each item's outcome is in the ledger)."""

    conn_id: str
    account: str | None
    counts: Mapping[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    failed: int = 0
    rejected: int = 0
    #: items sent or polled that are not ready or rejected yet (what a wait polls for).
    waiting: int = 0
    wait_for_ready: bool = True
    #: as ``BatchRef.target``.
    target: str | None = None

    @property
    def target_name(self) -> str:
        return self.target or self.platform


@dataclass(frozen=True)
class WaitResult(BatchPayload):
    """What one wait task saw: counts only (each status is in the ledger)."""

    account: str | None
    counts: Mapping[str, int] = field(default_factory=dict)
    rejected: int = 0
    pending: int = 0
    error: str | None = None
    #: as ``BatchRef.target``.
    target: str | None = None

    @property
    def target_name(self) -> str:
        return self.target or self.platform


@dataclass(frozen=True)
class PlanSummary(Payload):
    """The plan task's result: what the run will do, in counts, and its batches (references).

    :param listing: the listing's counts, skipped files by reason and its first errors
        (``errors_total`` counts them all); ``links_outside``: the first skipped links that
        point outside the source (``skipped["link_outside"]`` counts them all).
    :param platforms: ``{target name: PlatformInfo}``: one entry per platform account (the
        platform's name, or ``platform:conn_id`` where the run syncs several accounts of it).
    :param counts: ``{target name: {action: n}}``.
    :param unchanged: ``{target name: {state: n}}`` of the files with nothing to do.
    :param new: distinct contents to send that no platform account has yet.
    :param archive: assets to archive.
    """

    run_id: str
    source: str
    dry_run: bool
    wait_for_ready: bool
    strict: bool
    listing: Mapping[str, Any]
    platforms: Mapping[str, PlatformInfo]
    counts: Mapping[str, Mapping[str, int]]
    unchanged: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    batches: tuple[BatchRef, ...] = ()
    archive_blocked: str | None = None
    reused_plan_of: str | None = None
    new: int = 0
    archive: int = 0
    #: the run's ``include`` glob (to say "0 of N files match include ..." when none did).
    include: str | None = None

    @property
    def work(self) -> int:
        """Items of work (uploads, polls, archives) on every platform."""
        return sum(n for per in self.counts.values() for action, n in per.items() if action in WORK_ACTIONS)

    def without_batches(self) -> PlanSummary:
        """The summary other tasks read (XCom ``plan``): the batches travel to the submit tasks alone."""
        return dataclasses.replace(self, batches=())

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | PlanSummary) -> PlanSummary:
        if isinstance(data, PlanSummary):
            return data
        plain = Payload.from_json.__func__(cls, data)  # type: ignore[attr-defined]
        return dataclasses.replace(
            plain,
            platforms={p: PlatformInfo.from_json(i) for p, i in (data.get("platforms") or {}).items()},
            batches=tuple(BatchRef.from_json(b) for b in data.get("batches") or ()),
        )


@dataclass(frozen=True)
class AssetEvent(Payload):
    """An Airflow Asset event of a platform account whose creatives became ready in this run."""

    uri: str
    extra: Mapping[str, Any]


@dataclass(frozen=True)
class Report(Payload):
    """The run's outcome, as XCom ``report`` holds it: counts, problems, where to see everything.

    :param counts: ``{platform: {state: n}}`` of every file x platform row (per platform account:
        ``platform:conn_id`` where the run syncs several accounts of a platform).
    :param problems: what fails the run (or would, with ``strict``), the first ``MAX_PROBLEMS``;
        ``problems_total`` counts them all.
    :param see: where every row is: the ledger run id and the Creatives page of the run.
    :param table: the short text summary (the report task's log holds the whole table).
    """

    run_id: str
    source: str | None
    dry_run: bool
    strict: bool
    counts: Mapping[str, Mapping[str, int]]
    bytes_sent: int
    failed: bool
    problems: tuple[str, ...]
    problems_total: int
    asset_events: tuple[AssetEvent, ...] = ()
    listing: Mapping[str, Any] = field(default_factory=dict)
    archive_blocked: str | None = None
    reused_plan_of: str | None = None
    approval: str | None = None
    see: Mapping[str, str] = field(default_factory=dict)
    table: str = ""
    #: what a person must see even on a green run: no file matched, files skipped as unreadable.
    warnings: tuple[str, ...] = ()
    #: ``{key of counts: account}``: which account each row of the counts is.
    accounts: Mapping[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[str, ...]:
        """The problems (each one fails the run)."""
        return self.problems

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["failures"] = list(self.problems)  # the name earlier versions of the report used
        return data
