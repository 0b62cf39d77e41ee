"""The ledger: a durable record of what was sent where (SQLAlchemy 2, any SQL database).

Tables (created and migrated on first use, see ``sync/migrations``; a ledger written by a newer
provider is refused with ``LedgerSchemaError``):

* ``creative_assets``: one row per (content sha256, platform, account): remote id, version,
  state, reason, attempts, file key and name, source, timestamps and the last run. Before a
  create call the engine writes its *intent* (state ``sending``, attempts + 1) and right after
  it the remote id, so a task killed in between is resumed with the hook's lookup
  (``submit(..., resume=True)``) instead of creating a second asset.
* ``creative_asset_history``: every change of an asset record (intent, sent with remote id
  and version, polled status, failure) with its run, append-only: the history the Creatives
  page shows per creative and platform, and which run sent each remote id.
* ``creative_drift``: what the last ``creative_check`` of each (source, platform, account)
  found differing from this record (``sync.check``): replaced by every check of that target.
* ``creative_claims``: one row per (sha256, platform, account) being sent. Its primary key
  decides which of two overlapping runs sends the asset; a claim whose heartbeat is older
  than ``stale_after`` seconds (its run died) can be taken over, atomically.
* ``creative_files``: the file index (source, key -> size, mtime, sha256, facts), so an
  unchanged folder is never read again.
* ``creative_runs``: one row per run (params, counts per platform, bytes sent, plan rows; a
  run without work refers to a saved plan, ``{"plan": fingerprint}``, instead).
* ``creative_rate_budgets``: one row per platform account, the call budget shared by every
  thread, task process and worker (``hooks.base.RateLimiter``).
* ``creative_refusals``: the files each platform's local rules refuse (never sent), per file
  name and platform account, as the newest plan of each file decided.
* ``creative_saved_plans``: plans that found no work, by fingerprint (a digest of the plan's
  inputs, the listing's keys, sizes and mtimes, and the ledger's marks), so an unchanged
  rerun reuses one instead of planning again; the newest few per source and inputs are kept.

Default store: ``$AIRFLOW_HOME/creative_ledger.db`` (SQLite, WAL); the Airflow connection
``creative_ledger`` (any SQLAlchemy URI) overrides it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from airflow_creative_provider.sync.source import IndexEntry
from airflow_creative_provider.sync.states import TERMINAL_STATES, State

log = logging.getLogger(__name__)

LEDGER_CONN_ID = "creative_ledger"
DEFAULT_FILENAME = "creative_ledger.db"

#: states of a ledger record (``sync.states.State``; these names stay for existing imports).
SENDING = State.SENDING
FAILED = State.FAILED
PENDING = State.PENDING
PROCESSING = State.PROCESSING
READY = State.READY
REJECTED = State.REJECTED
ARCHIVED = State.ARCHIVED

metadata = MetaData()

assets_table = Table(
    "creative_assets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("remote_id", String(512)),
    Column("version", String(255)),
    Column("state", String(32), nullable=False),
    Column("raw_state", String(255)),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("source", Text),
    Column("file_key", Text),
    Column("file_name", String(1024)),
    Column("size", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("intent_at", Float),
    Column("last_run_id", String(255)),
    Column("state_run_id", String(255)),
    UniqueConstraint("sha256", "platform", "account", name="uq_creative_assets_content"),
    Index("ix_creative_assets_target", "platform", "account", "updated_at"),
    Index("ix_creative_assets_content_key", "sha256", "file_key"),  # the Creatives page (ui.queries)
    # the Creatives page's state and run views: their contents in sha256 order (ui.queries)
    Index("ix_creative_assets_state_content", "state", "sha256", "platform"),
    Index("ix_creative_assets_last_run_content", "last_run_id", "sha256"),
    Index("ix_creative_assets_state_run_content", "state_run_id", "sha256"),
)

#: every change of an asset record (append-only): the state history the Creatives page shows.
history_table = Table(
    "creative_asset_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("at", Float, nullable=False),
    Column("run_id", String(255)),
    Column("event", String(32), nullable=False),  # intent | sent | failure | status
    Column("state", String(32), nullable=False),
    Column("raw_state", String(255)),
    Column("remote_id", String(512)),
    Column("version", String(255)),
    Column("reason", Text),
    Index("ix_creative_asset_history_content", "sha256", "platform", "account", "at"),
    Index("ix_creative_asset_history_run", "run_id"),
    Index("ix_creative_asset_history_run_content", "run_id", "sha256"),  # the Creatives page's run view
)

#: the differences the last ``creative_check`` found per (source, platform, account) (``sync.check``).
drift_table = Table(
    "creative_drift",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255), nullable=False),
    Column("checked_at", Float, nullable=False),
    Column("source", Text),
    Column("platform", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("sha256", String(64)),
    Column("remote_id", String(512)),
    Column("file_key", Text),
    Column("kind", String(32), nullable=False),  # missing | state_changed | content_differs | unknown
    Column("recorded_state", String(32)),
    Column("platform_state", String(32)),
    Column("raw_state", String(255)),
    Column("detail", Text),
    Column("repaired", Integer, nullable=False, default=0),
    Index("ix_creative_drift_target", "platform", "account"),
    Index("ix_creative_drift_content", "sha256"),
)

claims_table = Table(
    "creative_claims",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("run_id", String(255), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

files_table = Table(
    "creative_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(1024), nullable=False),
    Column("file_key", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float),
    Column("sha256", String(64)),
    Column("facts", JSON),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("source", "file_key", name="uq_creative_files_key"),
    Index("ix_creative_files_source_updated", "source", "updated_at"),
    Index("ix_creative_files_content", "sha256"),  # the Creatives page (ui.queries)
    Index("ix_creative_files_name", "file_key", "sha256"),
)

runs_table = Table(
    "creative_runs",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("source", Text),
    Column("dry_run", Integer, nullable=False, default=0),
    Column("params", JSON),
    Column("summary", JSON),
    Column("counts", JSON),
    Column("bytes_sent", Integer, nullable=False, default=0),
    Column("plan_rows", JSON),
    Column("outcome", String(32)),
)

run_counts_table = Table(
    "creative_run_counts",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False, default=0),
)


plans_table = Table(
    "creative_saved_plans",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("source", String(1024), nullable=False),
    Column("inputs", String(64), nullable=False),
    Column("plan", JSON, nullable=False),
    Column("rows", JSON, nullable=False),
    Column("stored_at", Float, nullable=False),
    Index("ix_creative_saved_plans_inputs", "source", "inputs", "stored_at"),
)

#: the plan of one run, one row per file x platform that has something to say (work, an
#: alias, a refusal, a removed file); files with nothing to do are counted in the run's
#: summary instead. Submit and wait tasks read their batch's rows and write each outcome back.
run_items_table = Table(
    "creative_run_items",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("platform", String(64), nullable=False),
    Column("batch", Integer),
    Column("file_key", Text, nullable=False),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("action", String(32), nullable=False),
    Column("change", String(16)),
    Column("resume", Integer, nullable=False, default=0),
    Column("previous_id", String(512)),
    Column("alias_of", Text),
    Column("rule", String(64)),
    Column("creative", JSON),
    Column("state", String(32)),
    Column("remote_id", String(512)),
    Column("version", String(255)),
    Column("reason", Text),
    Column("done", Integer, nullable=False, default=0),
    Column("this_run", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    #: the metadata to send with an upload or an update (``sync.metadata``), per platform's field names.
    Column("metadata", JSON),
    Index("ix_creative_run_items_batch", "run_id", "platform", "batch"),
)

#: the metadata last sent with each asset (``sync.metadata``): what the platform was given at
#: the create or the last update, and its digest (what the plan compares with the manifest).
asset_metadata_table = Table(
    "creative_asset_metadata",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("remote_id", String(512)),
    Column("run_id", String(255)),
    Column("sent_at", Float, nullable=False),
)

#: files refused by a platform's local rules, per file name x platform account: what the
#: newest plan of each listed file decided (the Creatives page's "refused" filter and counts).
refusals_table = Table(
    "creative_refusals",
    metadata,
    Column("source", String(1024), primary_key=True),
    Column("file_key", String(1024), primary_key=True),
    Column("platform", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("sha256", String(64)),
    Column("rule", String(64)),
    Column("reason", Text),
    Column("run_id", String(255)),
    Column("updated_at", Float, nullable=False),
    Index("ix_creative_refusals_sha256", "sha256"),
)


#: one row per platform account: the rate budget every caller shares (``hooks.base.RateLimiter``).
rate_budgets_table = Table(
    "creative_rate_budgets",
    metadata,
    Column("budget", String(512), primary_key=True),
    Column("next_at", Float, nullable=False),  # wall-clock time of the next free call slot
    Column("paused_until", Float, nullable=False, default=0.0),  # the last 429's Retry-After
    Column("pauses", Integer, nullable=False, default=0),  # bumped by every pause
)


@dataclass(frozen=True)
class AssetRecord:
    """One ledger row: what one content became on one platform account."""

    sha256: str
    platform: str
    account: str
    state: str
    remote_id: str | None = None
    version: str | None = None
    raw_state: str | None = None
    reason: str | None = None
    attempts: int = 0
    source: str | None = None
    file_key: str | None = None
    file_name: str | None = None
    size: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    sent_at: float | None = None
    intent_at: float | None = None
    last_run_id: str | None = None
    state_run_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def needs_resume(self) -> bool:
        """An earlier attempt may have created the asset: the hook must look it up first."""
        return self.attempts > 0 and self.state in (SENDING, FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | RowMapping) -> AssetRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


_RECORD_FIELDS = tuple(AssetRecord.__dataclass_fields__)


class PlanRecord(NamedTuple):
    """What a plan reads of one asset record (``Ledger.plan_records``): 10 of its 19 fields, as a tuple.

    A field not here is not read: accessing one raises ``AttributeError`` (add it here and it is
    read), never a silent None.
    """

    sha256: str
    state: str
    remote_id: str | None
    version: str | None
    reason: str | None
    attempts: int
    source: str | None
    file_key: str | None
    size: int | None
    updated_at: float


PLAN_FIELDS = PlanRecord._fields


def record_line(sha256: str, file_key: str | None) -> str:
    """A record's content and name as one text (``Ledger.record_lines``): ``sha256 TAB file key``.

    Unambiguous whatever the key holds: the digest has no tab.
    """
    return f"{sha256}\t{file_key or ''}"


def default_url() -> str:
    """The ledger's SQLAlchemy URL: connection ``creative_ledger`` if defined, else SQLite in AIRFLOW_HOME."""
    uri = _connection_uri(LEDGER_CONN_ID)
    if uri:
        return uri
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    os.makedirs(home, exist_ok=True)
    return f"sqlite:///{os.path.join(home, DEFAULT_FILENAME)}"


def _connection_uri(conn_id: str) -> str | None:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - absent connection: Airflow raises different types by context
        return None
    uri = conn.get_uri()
    # Airflow writes SQLite URIs as sqlite://<host>; SQLAlchemy wants three slashes.
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}" if conn.host else "sqlite://"
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    return uri


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(url: str) -> Engine:
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

                @event.listens_for(engine, "connect")
                def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                    cursor = dbapi_conn.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA busy_timeout=60000")
                    cursor.execute("PRAGMA synchronous=NORMAL")
                    cursor.close()
            else:
                engine = create_engine(url, pool_pre_ping=True)
            from airflow_creative_provider.sync.migrations import migrate

            migrate(engine, engine.url.render_as_string(hide_password=True))  # schema at head, or refused
            _ENGINES[url] = engine
        return engine


class Ledger:
    """Durable record of what was sent where; see the module docstring.

    :param url: SQLAlchemy URL; ``default_url()`` when omitted.
    :param stale_after: seconds without heartbeat after which another run may take a claim.
    """

    def __init__(self, url: str | None = None, *, stale_after: float = 600.0) -> None:
        self.url = url or default_url()
        self.engine = _engine_for(self.url)
        self.stale_after = stale_after

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ------------------------------------------------------------------ file index
    def file_index(self, source: str) -> dict[str, IndexEntry]:
        """key -> ``IndexEntry`` of the last listing of ``source``."""
        f = files_table
        # facts read as text and decoded by msgspec: the stdlib's json is most of the cost at 100,000 files
        facts = type_coerce(f.c.facts, Text)
        with self.begin() as conn:
            query = select(f.c.file_key, f.c.size, f.c.mtime, f.c.sha256, facts).where(f.c.source == source)
            rows = conn.execute(query)
            decode = msgspec.json.decode
            # built without the frozen dataclass's per-field __init__ (100,000 entries per plan)
            new, fields = object.__new__, ("size", "mtime", "sha256", "facts")
            index: dict[str, IndexEntry] = {}
            for key, size, mtime, sha256, raw in rows:
                entry = new(IndexEntry)
                known = (decode(raw) if isinstance(raw, (str, bytes)) else raw) or {}
                entry.__dict__.update(zip(fields, (size, mtime, sha256, known), strict=True))
                index[key] = entry
            return index

    def update_file_index(
        self,
        source: str,
        entries: Mapping[str, IndexEntry],
        *,
        complete: bool,
        previous: Mapping[str, IndexEntry],
        present: Iterable[str] | None = None,
    ) -> int:
        """Store the index after a listing; only changed keys are written.

        :param entries: the listing's entries (all, or only the files read again).
        :param complete: the listing had no errors, so keys absent from it are dropped.
        :param previous: the index the listing started from (to write only what changed).
        :param present: every key of the listing, when ``entries`` holds only the changed ones.
        :return: how many rows were written or removed.
        """
        now = time.time()
        changed = [(k, e) for k, e in entries.items() if previous.get(k) != e]
        keys = set(present) if present is not None else set(entries)
        removed = [k for k in previous if k not in keys] if complete else []
        with self.begin() as conn:
            for key, entry in changed:
                values = {
                    "size": entry.size,
                    "mtime": entry.mtime,
                    "sha256": entry.sha256,
                    "facts": dict(entry.facts),
                    "updated_at": now,
                }
                result = conn.execute(
                    update(files_table)
                    .where(files_table.c.source == source, files_table.c.file_key == key)
                    .values(**values)
                )
                if result.rowcount == 0:
                    conn.execute(insert(files_table).values(source=source, file_key=key, **values))
            for chunk in _chunks(removed, 500):
                conn.execute(
                    delete(files_table).where(files_table.c.source == source, files_table.c.file_key.in_(chunk))
                )
        return len(changed) + len(removed)

    # ------------------------------------------------------------------ plan reuse
    def marks(self, source: str, targets: Iterable[tuple[str, str]]) -> list[Any]:
        """What moves when anything a plan reads changes: the source's file index (row count,
        latest ``updated_at``: rows are also deleted) and each (platform, account)'s latest
        asset ``updated_at`` (asset records are never deleted, and every insert or update
        stamps ``updated_at`` with the time of the write).

        Each latest ``updated_at`` is one index lookup (``max`` over an index ending in it); no
        asset row is counted: counting 450,000 of them cost a no-op rerun a third of a listing.
        """
        wanted = sorted(set(targets))
        a = assets_table
        latest = [
            select(func.max(a.c.updated_at)).where(a.c.platform == p, a.c.account == acc).scalar_subquery()
            for p, acc in wanted
        ]
        of_source = files_table.c.source == source
        count = select(func.count()).select_from(files_table).where(of_source).scalar_subquery()
        newest = select(func.max(files_table.c.updated_at)).where(of_source).scalar_subquery()
        with self.begin() as conn:  # one round trip; apart, count and max each take their cheapest path
            files_count, files_newest, *assets = conn.execute(select(count, newest, *latest)).one()
        return [
            [files_count, files_newest],
            [[p, acc, at] for (p, acc), at in zip(wanted, assets, strict=True) if at is not None],
        ]

    def saved_plan(self, fingerprint: str) -> dict[str, Any] | None:
        """The summary (not the rows) of the saved plan with this fingerprint, if any."""
        with self.begin() as conn:
            found = conn.execute(select(plans_table.c.plan).where(plans_table.c.fingerprint == fingerprint)).scalar()
        return _json(found) if found is not None else None

    def save_plan(
        self, fingerprint: str, *, source: str, inputs: str, plan: Mapping[str, Any], rows: Any, keep: int = 5
    ) -> None:
        """Save a plan without work; only the newest ``keep`` of the same source and inputs stay."""
        values = {"source": source, "inputs": inputs, "plan": dict(plan), "rows": rows, "stored_at": time.time()}
        try:
            with self.begin() as conn:
                conn.execute(insert(plans_table).values(fingerprint=fingerprint, **values))
        except IntegrityError:
            return  # saved already (by an overlapping run): the same inputs give the same plan
        same = (plans_table.c.source == source, plans_table.c.inputs == inputs)
        with self.begin() as conn:
            old = conn.execute(
                select(plans_table.c.fingerprint).where(*same).order_by(plans_table.c.stored_at.desc()).offset(keep)
            ).scalars()
            for chunk in _chunks(list(old), 500):
                conn.execute(delete(plans_table).where(plans_table.c.fingerprint.in_(chunk)))

    # ------------------------------------------------------------------ asset records
    def records(self, platform: str, account: str) -> list[AssetRecord]:
        """Every record of one platform account (hundreds of thousands at scale: built without per-field checks)."""
        columns = [assets_table.c[name] for name in _RECORD_FIELDS]
        with self.begin() as conn:
            rows = _fetch_all(
                conn.execute(
                    select(*columns).where(assets_table.c.platform == platform, assets_table.c.account == account)
                )
            )
        new = object.__new__
        records = []
        for row in rows:
            record = new(AssetRecord)
            record.__dict__.update(zip(_RECORD_FIELDS, row, strict=True))
            records.append(record)
        return records

    def plan_records(self, platform: str, account: str, shas: Collection[str] | None = None) -> list[PlanRecord]:
        """The records of one platform account (only those of ``shas`` when given), with the
        fields a plan reads (``PlanRecord``): 10 of the 19 columns, each row made in C.
        """
        a = assets_table
        columns = [a.c[name] for name in PLAN_FIELDS]
        query = select(*columns).where(a.c.platform == platform, a.c.account == account)
        new = tuple.__new__
        with self.begin() as conn:
            if shas is None:
                return [new(PlanRecord, row) for row in _fetch_all(conn.execute(query))]
            records: list[PlanRecord] = []
            for chunk in _chunks(list(shas), 500):
                records.extend(
                    new(PlanRecord, row) for row in _fetch_all(conn.execute(query.where(a.c.sha256.in_(chunk))))
                )
            return records

    def record_lines(self, platform: str, account: str) -> dict[str, set[str]]:
        """Each record of one platform account as a ``record_line`` (digest and name), by state.

        What a rerun compares with the listing (as sets, in C): half of ``plan_records``' cost
        at 90,000 records, the largest read of planning afresh.
        """
        a = assets_table
        line = a.c.sha256 + "\t" + func.coalesce(a.c.file_key, "")
        with self.begin() as conn:
            rows = _fetch_all(
                conn.execute(select(a.c.state, line).where(a.c.platform == platform, a.c.account == account))
            )
        by_state: dict[str, set[str]] = {}
        for state, text in rows:
            lines = by_state.get(state)
            if lines is None:
                lines = by_state[state] = set()
            lines.add(text)
        return by_state

    def get(self, sha256: str, platform: str, account: str) -> AssetRecord | None:
        with self.begin() as conn:
            row = (
                conn.execute(select(assets_table).where(*self._key(sha256, platform, account))).mappings().one_or_none()
            )
            return AssetRecord.from_row(row) if row else None

    @staticmethod
    def _history(
        conn: Connection, sha256: str, platform: str, account: str, *, run_id: str | None, event: str, **values: Any
    ) -> None:
        """Append one change of an asset record to its history (in the caller's transaction)."""
        conn.execute(
            insert(history_table).values(
                sha256=sha256,
                platform=platform,
                account=account,
                at=values.pop("at", None) or time.time(),
                run_id=run_id,
                event=event,
                **values,
            )
        )

    @staticmethod
    def _key(sha256: str, platform: str, account: str, table: Table = assets_table) -> tuple[Any, ...]:
        """The where-clause of one (content, platform, account) in ``table`` (asset records or claims)."""
        return (table.c.sha256 == sha256, table.c.platform == platform, table.c.account == account)

    def record_intent(
        self,
        sha256: str,
        platform: str,
        account: str,
        *,
        run_id: str,
        source: str | None,
        file_key: str,
        file_name: str,
        size: int | None,
    ) -> AssetRecord:
        """Write the intent to send (state ``sending``, attempts + 1) before any create call."""
        now = time.time()
        changes = {
            "state": SENDING,
            "reason": None,
            "source": source,
            "file_key": file_key,
            "file_name": file_name,
            "size": size,
            "updated_at": now,
            "intent_at": now,
            "last_run_id": run_id,
        }
        bump = (
            update(assets_table)
            .where(*self._key(sha256, platform, account))
            .values(attempts=assets_table.c.attempts + 1, **changes)
        )
        # the history row goes in the transaction of the record's write: one write transaction
        # per intent, not two (each contends for SQLite's write lock with every other upload)
        with self.begin() as conn:
            updated = conn.execute(bump).rowcount
            if updated:
                self._history(conn, sha256, platform, account, run_id=run_id, event="intent", state=SENDING, at=now)
        if not updated:
            try:
                with self.begin() as conn:
                    conn.execute(
                        insert(assets_table).values(
                            sha256=sha256, platform=platform, account=account, attempts=1, created_at=now, **changes
                        )
                    )
                    self._history(conn, sha256, platform, account, run_id=run_id, event="intent", state=SENDING, at=now)
            except IntegrityError:
                with self.begin() as conn:
                    conn.execute(bump)
                    self._history(conn, sha256, platform, account, run_id=run_id, event="intent", state=SENDING, at=now)
        record = self.get(sha256, platform, account)
        assert record is not None
        return record

    def record_sent(
        self,
        sha256: str,
        platform: str,
        account: str,
        *,
        run_id: str,
        remote_id: str,
        state: str,
        version: str | None = None,
        raw_state: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Store the remote id right after the create call."""
        now = time.time()
        with self.begin() as conn:
            conn.execute(
                update(assets_table)
                .where(*self._key(sha256, platform, account))
                .values(
                    remote_id=remote_id,
                    version=version,
                    state=state,
                    raw_state=raw_state,
                    reason=reason,
                    sent_at=now,
                    updated_at=now,
                    last_run_id=run_id,
                    state_run_id=run_id,
                )
            )
            self._history(
                conn,
                sha256,
                platform,
                account,
                run_id=run_id,
                event="sent",
                at=now,
                state=state,
                raw_state=raw_state,
                remote_id=remote_id,
                version=version,
                reason=reason,
            )

    def record_failure(
        self, sha256: str, platform: str, account: str, *, run_id: str, reason: str, state: str = FAILED
    ) -> None:
        """The send failed (``failed``: resumed next run) or the platform refused it (``rejected``)."""
        with self.begin() as conn:
            conn.execute(
                update(assets_table)
                .where(*self._key(sha256, platform, account))
                .values(state=state, reason=reason, updated_at=time.time(), last_run_id=run_id, state_run_id=run_id)
            )
            self._history(conn, sha256, platform, account, run_id=run_id, event="failure", state=state, reason=reason)

    def record_status(
        self,
        sha256: str,
        platform: str,
        account: str,
        *,
        run_id: str,
        state: str,
        raw_state: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Store a polled state; returns whether it changed. A poll that gives no reason keeps
        the recorded one (a warning from the send, e.g. leftover Topsort assets to delete)."""
        with self.begin() as conn:
            result = conn.execute(
                update(assets_table)
                .where(
                    *self._key(sha256, platform, account),
                    (assets_table.c.state != state)
                    | (assets_table.c.raw_state.is_(None))
                    | (assets_table.c.raw_state != (raw_state or "")),
                )
                .values(
                    state=state,
                    raw_state=raw_state,
                    reason=reason if reason is not None else assets_table.c.reason,
                    updated_at=time.time(),
                    last_run_id=run_id,
                    state_run_id=run_id,
                )
            )
            if result.rowcount > 0:
                self._history(
                    conn,
                    sha256,
                    platform,
                    account,
                    run_id=run_id,
                    event="status",
                    state=state,
                    raw_state=raw_state,
                    reason=reason,
                )
            return result.rowcount > 0

    def record_statuses(
        self,
        platform: str,
        account: str,
        statuses: Iterable[tuple[str, str, str | None, str | None]],
        *,
        run_id: str,
    ) -> set[str]:
        """``record_status`` for many assets of one platform account in one transaction.

        :param statuses: ``(sha256, state, raw_state, reason)`` each.
        :return: the sha256 of the records that changed (each got its history row).

        A wait of 10,000 assets wrote 10,000 transactions, each also contending for the write
        lock with the other waits; now one per wait.
        """
        a = assets_table
        changed: list[dict[str, Any]] = []
        with self.begin() as conn:
            for sha256, state, raw_state, reason in statuses:
                now = time.time()
                result = conn.execute(
                    update(a)
                    .where(
                        *self._key(sha256, platform, account),
                        (a.c.state != state) | (a.c.raw_state.is_(None)) | (a.c.raw_state != (raw_state or "")),
                    )
                    .values(
                        state=state,
                        raw_state=raw_state,
                        reason=reason if reason is not None else a.c.reason,
                        updated_at=now,
                        last_run_id=run_id,
                        state_run_id=run_id,
                    )
                )
                if result.rowcount > 0:
                    changed.append(
                        {
                            "sha256": sha256,
                            "platform": platform,
                            "account": account,
                            "at": now,
                            "run_id": run_id,
                            "event": "status",
                            "state": state,
                            "raw_state": raw_state,
                            "reason": reason,
                        }
                    )
            if changed:
                conn.execute(insert(history_table), changed)
        return {row["sha256"] for row in changed}

    # ------------------------------------------------------------------ claims
    def claim(
        self,
        sha256: str,
        platform: str,
        account: str,
        run_id: str,
        *,
        holder_alive: Callable[[str], bool | None] | None = None,
    ) -> bool:
        """Take the right to send this content to this account; False when another live run holds it.

        A claim held by the same run (a retried task) is taken again; one whose holder
        ``holder_alive(run_id)`` says is no longer running (``False``: Airflow knows its task
        or run ended) is taken over at once; one whose heartbeat is older than ``stale_after``
        (the last resort, for a holder nobody can vouch for) too. Takeovers are a
        compare-and-set on the old holder.
        """
        key = {"sha256": sha256, "platform": platform, "account": account}
        where = self._key(sha256, platform, account, claims_table)
        for _ in range(5):
            now = time.time()
            try:
                with self.begin() as conn:
                    conn.execute(insert(claims_table).values(**key, run_id=run_id, claimed_at=now, heartbeat_at=now))
                return True
            except IntegrityError:
                pass
            with self.begin() as conn:
                row = conn.execute(select(claims_table).where(*where)).mappings().one_or_none()
            if row is None:  # released in between: try again from the top
                continue
            if (
                row["run_id"] != run_id
                and now - row["heartbeat_at"] < self.stale_after
                and (holder_alive is None or holder_alive(row["run_id"]) is not False)
            ):
                return False
            with self.begin() as conn:
                taken = conn.execute(
                    update(claims_table)
                    .where(
                        *where,
                        claims_table.c.run_id == row["run_id"],
                        claims_table.c.heartbeat_at == row["heartbeat_at"],
                    )
                    .values(run_id=run_id, claimed_at=now, heartbeat_at=now)
                ).rowcount
            if taken == 1:
                if row["run_id"] != run_id:
                    stale = now - row["heartbeat_at"] >= self.stale_after
                    log.warning(
                        "Took over the %s claim of run %s on %s/%s %s",
                        "stale" if stale else "ended",
                        row["run_id"],
                        platform,
                        account,
                        sha256[:12],
                    )
                return True
        return False

    def claim_holder(self, sha256: str, platform: str, account: str) -> str | None:
        with self.begin() as conn:
            return conn.execute(
                select(claims_table.c.run_id).where(*self._key(sha256, platform, account, claims_table))
            ).scalar_one_or_none()

    def claim_info(self, sha256: str, platform: str, account: str) -> tuple[str, float] | None:
        """``(run_id, heartbeat_at)`` of the claim on this content, if any."""
        with self.begin() as conn:
            row = conn.execute(
                select(claims_table.c.run_id, claims_table.c.heartbeat_at).where(
                    *self._key(sha256, platform, account, claims_table)
                )
            ).one_or_none()
        return None if row is None else (str(row[0]), float(row[1]))

    def heartbeat(self, run_id: str, platform: str, account: str) -> int:
        """Refresh every claim this run holds on one platform account."""
        with self.begin() as conn:
            return conn.execute(
                update(claims_table)
                .where(
                    claims_table.c.run_id == run_id,
                    claims_table.c.platform == platform,
                    claims_table.c.account == account,
                )
                .values(heartbeat_at=time.time())
            ).rowcount

    def release(self, sha256: str, platform: str, account: str, run_id: str) -> None:
        with self.begin() as conn:
            conn.execute(
                delete(claims_table).where(
                    *self._key(sha256, platform, account, claims_table), claims_table.c.run_id == run_id
                )
            )

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        run_id: str,
        *,
        source: str,
        dry_run: bool,
        params: Mapping[str, Any],
        summary: Mapping[str, Any],
        plan_rows: Any,
    ) -> None:
        """Create (or, for a re-run of the plan task, replace) the run's row."""
        values = {
            "started_at": time.time(),
            "source": source,
            "dry_run": int(dry_run),
            "params": dict(params),
            "summary": dict(summary),
            "counts": {},
            "bytes_sent": 0,
            "plan_rows": plan_rows,
            "finished_at": None,
            "outcome": None,
        }
        with self.begin() as conn:
            if conn.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**values)).rowcount == 0:
                conn.execute(insert(runs_table).values(run_id=run_id, **values))

    def plan_rows(self, run_id: str) -> Any:
        """The run's packed plan rows (a saved plan's when the run refers to one)."""
        with self.begin() as conn:
            rows = _json(conn.execute(select(runs_table.c.plan_rows).where(runs_table.c.run_id == run_id)).scalar())
            if isinstance(rows, dict) and "plan" in rows:
                saved = select(plans_table.c.rows).where(plans_table.c.fingerprint == rows["plan"])
                rows = _json(conn.execute(saved).scalar())
            return rows

    def run_params(self, run_id: str) -> dict[str, Any] | None:
        """The params a run was planned with."""
        with self.begin() as conn:
            return _json(conn.execute(select(runs_table.c.params).where(runs_table.c.run_id == run_id)).scalar())

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = conn.execute(select(runs_table).where(runs_table.c.run_id == run_id)).mappings().one_or_none()
            if row is None:
                return None
            data = dict(row)
            for name in ("params", "summary", "counts", "plan_rows"):
                data[name] = _json(data[name])
            return data

    def add_run_counts(self, run_id: str, platform: str, counts: Mapping[str, int], bytes_sent: int) -> None:
        """Add one batch's counts (per platform and state) and bytes sent to the run (atomic increments)."""
        values = {**{k: int(v) for k, v in counts.items()}, "bytes_sent": int(bytes_sent)}
        for name, value in values.items():
            where = (
                run_counts_table.c.run_id == run_id,
                run_counts_table.c.platform == platform,
                run_counts_table.c.name == name,
            )
            for _ in range(3):
                with self.begin() as conn:
                    bump = update(run_counts_table).where(*where).values(value=run_counts_table.c.value + value)
                    if conn.execute(bump).rowcount:
                        break
                try:
                    with self.begin() as conn:
                        conn.execute(
                            insert(run_counts_table).values(run_id=run_id, platform=platform, name=name, value=value)
                        )
                    break
                except IntegrityError:
                    continue

    def run_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """``{platform: {name: value}}`` added by ``add_run_counts`` (``bytes_sent`` included)."""
        result: dict[str, dict[str, int]] = {}
        with self.begin() as conn:
            rows = conn.execute(select(run_counts_table).where(run_counts_table.c.run_id == run_id)).mappings()
            for row in rows:
                result.setdefault(row["platform"], {})[row["name"]] = row["value"]
        return result

    def finish_run(self, run_id: str, *, outcome: str, summary: Mapping[str, Any] | None = None) -> None:
        """Close the run's row: outcome, final summary, counts per platform and bytes sent."""
        counts = self.run_counts(run_id)
        values: dict[str, Any] = {
            "finished_at": time.time(),
            "outcome": outcome,
            "counts": {p: {k: v for k, v in c.items() if k != "bytes_sent"} for p, c in counts.items()},
            "bytes_sent": sum(c.get("bytes_sent", 0) for c in counts.values()),
        }
        if summary is not None:
            values["summary"] = dict(summary)
        with self.begin() as conn:
            conn.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**values))

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.begin() as conn:
            rows = conn.execute(
                select(
                    runs_table.c.run_id,
                    runs_table.c.started_at,
                    runs_table.c.finished_at,
                    runs_table.c.source,
                    runs_table.c.dry_run,
                    runs_table.c.counts,
                    runs_table.c.bytes_sent,
                    runs_table.c.outcome,
                )
                .order_by(runs_table.c.started_at.desc())
                .limit(limit)
            ).mappings()
            return [dict(r, counts=_json(r["counts"])) for r in rows]

    # ------------------------------------------------------------------ run items (the plan)
    def save_run_items(self, run_id: str, items: Iterable[Mapping[str, Any]]) -> int:
        """Store a run's plan rows (``run_items_table`` columns), replacing those of a retried plan task.

        ``items`` may be a generator: it is consumed 5,000 rows at a time, so a plan of 50,000
        uploads never holds all its rows (and a copy of each) at once.
        """
        stored = 0
        rows = iter(items)
        with self.begin() as conn:
            conn.execute(delete(run_items_table).where(run_items_table.c.run_id == run_id))
            while chunk := [{**item, "run_id": run_id} for item in islice(rows, 5000)]:
                conn.execute(insert(run_items_table), chunk)
                stored += len(chunk)
        return stored

    def run_items(self, run_id: str, *, platform: str | None = None, batch: int | None = None) -> list[dict[str, Any]]:
        """A run's plan rows with their outcomes so far (one platform's batch, when given), in plan order.

        A run that reused a saved plan has no rows of its own: the saved plan's are returned.
        """
        t = run_items_table
        where = [t.c.run_id == run_id]
        if platform is not None:
            where.append(t.c.platform == platform)
        if batch is not None:
            where.append(t.c.batch == batch)
        with self.begin() as conn:
            rows = [dict(r) for r in conn.execute(select(t).where(*where).order_by(t.c.seq)).mappings()]
        if rows or batch is not None:
            for row in rows:
                row["creative"] = _json(row["creative"])
                row["metadata"] = _json(row.get("metadata"))
            return rows
        packed = self.plan_rows(run_id)
        if not isinstance(packed, dict) or "fields" not in packed:
            return []
        fields = ["file_key" if name == "key" else name for name in packed["fields"]]
        unpacked = [
            {**dict(zip(fields, values, strict=True)), "seq": seq, "done": 0, "this_run": 0, "bytes": 0}
            for seq, values in enumerate(packed["rows"])
        ]
        return [row for row in unpacked if platform is None or row["platform"] == platform]

    def record_items(self, run_id: str, outcomes: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Store what became of several plan rows, in one transaction (``record_item`` for each)."""
        t = run_items_table
        with self.begin() as conn:
            for seq, values in outcomes:
                conn.execute(update(t).where(t.c.run_id == run_id, t.c.seq == seq).values(**values))

    def record_item(self, run_id: str, seq: int, **outcome: Any) -> None:
        """Store what became of one plan row (``state``, ``remote_id``, ``reason``, ``done``, ``bytes``...)."""
        with self.begin() as conn:
            conn.execute(
                update(run_items_table)
                .where(run_items_table.c.run_id == run_id, run_items_table.c.seq == seq)
                .values(**outcome)
            )

    # ------------------------------------------------------------------ metadata sent
    def record_metadata(
        self,
        sha256: str,
        platform: str,
        account: str,
        *,
        fields: Mapping[str, Any],
        digest: str,
        run_id: str,
        remote_id: str | None,
        updated: bool = False,
    ) -> None:
        """Store the metadata an asset was given (create or update); an update is also a history event
        and moves the asset's ``updated_at`` (so a saved plan made before it is not reused)."""
        now = time.time()
        t = asset_metadata_table
        values = {"digest": digest, "fields": dict(fields), "remote_id": remote_id, "run_id": run_id, "sent_at": now}
        with self.begin() as conn:
            changed = conn.execute(update(t).where(*self._key(sha256, platform, account, t)).values(**values))
            if changed.rowcount == 0:
                conn.execute(insert(t).values(sha256=sha256, platform=platform, account=account, **values))
            if updated:
                conn.execute(
                    update(assets_table)
                    .where(*self._key(sha256, platform, account))
                    .values(updated_at=now, last_run_id=run_id)
                )
                row = conn.execute(select(assets_table.c.state).where(*self._key(sha256, platform, account))).scalar()
                self._history(
                    conn,
                    sha256,
                    platform,
                    account,
                    run_id=run_id,
                    event="metadata",
                    at=now,
                    state=row or READY,
                    remote_id=remote_id,
                    reason="metadata updated: " + json.dumps(dict(fields), sort_keys=True, default=str)[:900],
                )

    def metadata_digests(self, platform: str, account: str) -> dict[str, str]:
        """``{sha256: digest}`` of the metadata last sent to one platform account."""
        t = asset_metadata_table
        with self.begin() as conn:
            rows = conn.execute(select(t.c.sha256, t.c.digest).where(t.c.platform == platform, t.c.account == account))
            return {sha: digest for sha, digest in rows}

    def asset_metadata(self, sha256: str) -> dict[tuple[str, str], dict[str, Any]]:
        """``{(platform, account): {"fields", "sent_at", "run_id", "remote_id"}}`` of one content."""
        t = asset_metadata_table
        with self.begin() as conn:
            rows = conn.execute(select(t).where(t.c.sha256 == sha256)).mappings().all()
        return {
            (r["platform"], r["account"]): {
                "fields": _json(r["fields"]),
                "sent_at": r["sent_at"],
                "run_id": r["run_id"],
                "remote_id": r["remote_id"],
            }
            for r in rows
        }

    # ------------------------------------------------------------------ refusals by local rules
    def replace_refusals(
        self,
        source: str,
        keys: Iterable[str],
        targets: Iterable[tuple[str, str]],
        refusals: Iterable[Mapping[str, Any]],
        *,
        run_id: str | None = None,
    ) -> None:
        """Store the refusals of the files ``keys`` on the platform accounts ``targets`` (what a plan decided),
        replacing what was stored for them; other files and platforms keep theirs.

        :param refusals: ``{"file_key", "platform", "account", "sha256", "rule", "reason"}`` each.

        Only what changed is written: a refusal that stays as it was keeps its row (and the run
        that first decided it), so a plan of 100,000 files that refuses the same files as the
        last one reads the refusals once and writes nothing.
        """
        now = time.time()
        t = refusals_table
        wanted = set(targets)
        if not wanted:
            return
        facts = ("sha256", "rule", "reason")
        new = {(r["file_key"], r["platform"], r["account"]): tuple(r.get(n) for n in facts) for r in refusals}
        listed = set(keys)
        accounts = tuple_(t.c.platform, t.c.account).in_(sorted(wanted))
        with self.begin() as conn:
            stored = conn.execute(
                select(t.c.file_key, t.c.platform, t.c.account, t.c.sha256, t.c.rule, t.c.reason).where(
                    t.c.source == source, accounts
                )
            ).all()
            old = {(k, p, a): (sha, rule, reason) for k, p, a, sha, rule, reason in stored if k in listed}
            stale = [{"k": k, "p": p, "a": a} for (k, p, a), values in old.items() if new.get((k, p, a)) != values]
            rows = [
                {"file_key": k, "platform": p, "account": a, **dict(zip(facts, values, strict=True))}
                | {"source": source, "run_id": run_id, "updated_at": now}
                for (k, p, a), values in new.items()
                if old.get((k, p, a)) != values
            ]
            if stale:
                conn.execute(
                    delete(t).where(
                        t.c.source == source,
                        t.c.file_key == bindparam("k"),
                        t.c.platform == bindparam("p"),
                        t.c.account == bindparam("a"),
                    ),
                    stale,
                )
            for chunk in _chunks(rows, 5000):
                conn.execute(insert(t), chunk)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


def _fetch_all(result: Any) -> list[Any]:
    """All rows of ``result`` as the DB-API driver gives them (tuples, no SQLAlchemy ``Row`` per row)."""
    return result.cursor.fetchall() if result.cursor is not None else result.all()


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
