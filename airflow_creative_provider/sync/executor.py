"""The submit and wait tasks: do one batch's work on one platform, record every outcome.

``submit_batch(ref)`` reads its items from the ledger (the plan's rows of that run, platform
and batch), uploads with bounded concurrency within the platform's rate limit (claim, intent,
create, remote id per asset; a heartbeat keeps the claims alive), polls what earlier runs
left processing, archives removed files, and writes each outcome back to its row. One bad
file never stops the others; nothing but counts is returned.

``wait_targets`` / ``record_statuses`` are the wait task's halves: the remote ids still to
poll for one batch, and the statuses seen, stored per row.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformConfigError,
    PlatformError,
    PlatformRejected,
)
from airflow_creative_provider.hooks.base import PROCESSING_FAILED, CreativePlatformHook
from airflow_creative_provider.sync import metadata as meta
from airflow_creative_provider.sync.ledger import AssetRecord, Ledger
from airflow_creative_provider.sync.payloads import (
    BatchPayload,
    BatchRef,
    BatchResult,
    HookRegistry,
    WaitResult,
    default_hooks,
)
from airflow_creative_provider.sync.states import TERMINAL_STATES, Action, State

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
PROGRESS_EVERY_SECONDS = 5.0


def human_bytes(size: float) -> str:
    """``512 B``, ``1.5 MB``...: sizes in logs and the report."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


class _Progress:
    """Thread-safe progress of one batch, logged every few seconds: files, bytes, rate."""

    def __init__(self, platform: str, total_files: int, total_bytes: int) -> None:
        self.platform = platform
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_log = 0.0
        self._lock = threading.Lock()

    def done(self, size: int, failed: bool) -> None:
        with self._lock:
            self.files += 1
            self.bytes += size
            self.failed += int(failed)
            now = time.monotonic()
            if self.files == self.total_files or now - self._last_log >= PROGRESS_EVERY_SECONDS:
                self._last_log = now
                self.log()

    def log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        log.info(
            "%s: %d/%d files, %s of %s, %.1f files/s, %s/s, %d failed",
            self.platform,
            self.files,
            self.total_files,
            human_bytes(self.bytes),
            human_bytes(self.total_bytes),
            self.files / elapsed,
            human_bytes(self.bytes / elapsed),
            self.failed,
        )


class _Heartbeat:
    """Refreshes this run's claims on one platform account while a batch runs."""

    def __init__(self, ledger: Ledger, run_id: str, platform: str, account: str, every: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ledger, run_id, platform, account, every), daemon=True, name="claim-heartbeat"
        )

    def _run(self, ledger: Ledger, run_id: str, platform: str, account: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                ledger.heartbeat(run_id, platform, account)
            except Exception:  # noqa: BLE001 - a missed heartbeat only risks a takeover later
                log.warning("Could not refresh the claims of run %s", run_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


#: task instance states in which a submit task may be sending (one not started yet holds no
#: claim, and a later try of a run takes its claims again or finds them taken: never twice).
_LIVE_TASK_STATES = frozenset({"running", "restarting"})
#: dag run states of a run whose tasks may still hold claims.
_LIVE_RUN_STATES = frozenset({"running", "queued"})

HolderAlive = Callable[[str], "bool | None"]


def airflow_run_liveness() -> HolderAlive | None:
    """Inside an Airflow task: ``holder_alive(run_id)`` for the claims of another run of this DAG.

    ``False`` when Airflow knows the run can no longer be sending: the dag run is not
    running, or none of its ``submit`` task instances is running (they failed, were killed,
    wait for a retry or have not started); ``True`` while one runs; ``None`` when Airflow does
    not know the run (another DAG, a script): its claims then wait for the heartbeat timeout.
    Outside a task: ``None``.
    """
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
        ti = context["ti"]
        dag_id, own_run, task_id = ti.dag_id, ti.run_id, ti.task_id
    except Exception:  # noqa: BLE001 - not in a task: the heartbeat timeout alone decides
        return None
    known: dict[str, bool | None] = {}
    lock = threading.Lock()

    def alive(run_id: str) -> bool | None:
        if run_id == own_run:
            return True
        with lock:
            if run_id in known:
                return known[run_id]
        try:
            state = ti.get_dagrun_state(dag_id, run_id)
            run_state = str(getattr(state, "value", state))
        except Exception:  # noqa: BLE001 - unknown to Airflow (or it cannot answer): the heartbeat decides
            answer: bool | None = None
        else:
            if run_state.lower() not in _LIVE_RUN_STATES:
                answer = False
            else:
                try:
                    states = ti.get_task_states(dag_id, run_ids=[run_id], task_ids=[task_id]).get(run_id) or {}
                except Exception:  # noqa: BLE001
                    answer = None
                else:
                    names = {str(getattr(s, "value", s) or "none").lower() for s in states.values()}
                    answer = bool(names & _LIVE_TASK_STATES) if names else None
        with lock:
            known[run_id] = answer
        return answer

    return alive


def upload_concurrency(hook: Any, requested: int | None = None) -> int:
    """Parallel uploads for one platform: the request (or the hook's ``upload_concurrency``,
    else 8), never more than the calls its limit allows per window (the connection's
    ``call_limit`` for a hook, the class's ``rate_limit`` for a hook class)."""
    wanted = requested or getattr(hook, "upload_concurrency", None) or DEFAULT_CONCURRENCY
    limit = getattr(hook, "rate_limit", None) if isinstance(hook, type) else hook.call_limit
    if limit:
        wanted = min(wanted, max(1, int(limit[0])))
    return max(1, int(wanted))


@dataclass(frozen=True)
class _Outcome:
    """What became of one item in a submit task (written to its ledger row)."""

    seq: int
    key: str
    action: str
    state: str
    remote_id: str | None = None
    version: str | None = None
    reason: str | None = None
    bytes: int = 0
    this_run: bool = False

    def values(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "remote_id": self.remote_id,
            "version": self.version,
            "reason": self.reason,
            "bytes": self.bytes,
            "this_run": int(self.this_run),
            "done": 1,
        }


class _Batch:
    """One submit task's context: the hook, the ledger and where outcomes go."""

    def __init__(
        self,
        ref: BatchRef,
        hook: CreativePlatformHook,
        account: str,
        ledger: Ledger,
        source: str | None,
        holder_alive: HolderAlive | None = None,
    ):
        self.ref = ref
        self.hook = hook
        self.account = account
        self.ledger = ledger
        self.source = source
        self.holder_alive = holder_alive

    def held_reason(self, sha256: str) -> str:
        """Why this run leaves a content to the run holding its claim (and until when, if it may be dead)."""
        info = self.ledger.claim_info(sha256, self.platform, self.account)
        if info is None:
            return "being sent by another run"
        holder, beat = info
        if self.holder_alive is not None and self.holder_alive(holder):
            return f"being sent by run {holder} (Airflow says it is still running)"
        until = datetime.fromtimestamp(beat + self.ledger.stale_after, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"being sent by run {holder}, which Airflow cannot vouch for; waiting for its claim's heartbeat "
            f"timeout ({self.ledger.stale_after:.0f} s, at {until}), after which the next run sends it"
        )

    @property
    def platform(self) -> str:
        return self.ref.platform

    @property
    def run_id(self) -> str:
        return self.ref.run_id

    def safe_message(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        redact = getattr(self.hook, "redact", None)
        return redact(text) if callable(redact) else text

    def record(self, outcome: _Outcome) -> _Outcome:
        try:
            self.ledger.record_item(self.run_id, outcome.seq, **outcome.values())
        except Exception:  # noqa: BLE001 - the asset record holds the truth; the report shows it as not sent
            log.warning("Could not record the outcome of %s", outcome.key, exc_info=True)
        return outcome

    def upload_and_record(self, item: Mapping[str, Any]) -> _Outcome:
        return self.record(self.upload(item))

    def upload(self, item: Mapping[str, Any]) -> _Outcome:
        """Claim, write intent, submit, record; every outcome returned, none raised."""
        creative = Creative(**item["creative"])
        sha256 = str(creative.sha256)
        platform, account, run_id, ledger = self.platform, self.account, self.run_id, self.ledger

        def outcome(state: str, **values: Any) -> _Outcome:
            values.setdefault("action", Action.UPLOAD)
            return _Outcome(item["seq"], creative.key, state=state, **values)

        try:
            if not ledger.claim(sha256, platform, account, run_id, holder_alive=self.holder_alive):
                why = self.held_reason(sha256)
                log.info("%s: %s is %s; leaving it to that run", platform, creative.key, why)
                return outcome(State.SENDING, reason=why)
        except Exception as exc:  # noqa: BLE001 - the ledger is unreachable for this asset: isolate it
            return outcome(State.FAILED, reason=f"ledger error before sending: {self.safe_message(exc)}")
        try:
            record = ledger.get(sha256, platform, account)
            if (
                record is not None
                and record.remote_id
                and record.state not in (State.SENDING, State.FAILED, State.ARCHIVED)
            ):
                if record.last_run_id != run_id or record.state in TERMINAL_STATES:
                    # An overlapping run sent it after this run's plan was made.
                    return outcome(
                        record.state,
                        action=Action.NONE,
                        remote_id=record.remote_id,
                        version=record.version,
                        reason=f"already sent by run {record.last_run_id}",
                    )
            if record is not None and self.gave_up_on(record):
                return self.poll_given_up(record, outcome)
            resume = bool(item.get("resume")) or bool(record is not None and record.needs_resume)
            ledger.record_intent(
                sha256,
                platform,
                account,
                run_id=run_id,
                source=self.source,
                file_key=creative.key,
                file_name=creative.name,
                size=creative.size,
            )
            try:
                remote = self.hook.submit(
                    creative, resume=resume, previous_id=item.get("previous_id"), **self.metadata_kwargs(item)
                )
            except Exception as exc:  # noqa: BLE001 - recorded per asset; never stops the others
                return self._failed(creative, sha256, exc, outcome)
            reason = "; ".join(remote.warnings) if remote.warnings else None
            if remote.state == State.FAILED:  # the platform's processing failed already: say why
                reason = str((remote.details or {}).get("reason") or reason or "the platform's processing failed")
            ledger.record_sent(
                sha256,
                platform,
                account,
                run_id=run_id,
                remote_id=str(remote.remote_id),
                state=remote.state,
                version=remote.version,
                raw_state=remote.raw_state,
                reason=reason,
            )
            if item.get("metadata") is not None:
                ledger.record_metadata(
                    sha256,
                    platform,
                    account,
                    fields=item["metadata"],
                    digest=meta.digest(item["metadata"]),
                    run_id=run_id,
                    remote_id=str(remote.remote_id),
                )
            if remote.abandoned_ids:
                log.info("%s: %s: earlier attempts left %s behind", platform, creative.key, list(remote.abandoned_ids))
            log.debug("%s: %s -> %s (%s)", platform, creative.key, remote.remote_id, remote.state)
            return outcome(
                remote.state,
                remote_id=str(remote.remote_id),
                version=remote.version,
                reason=reason,
                bytes=creative.size,
                this_run=True,
            )
        except Exception as exc:  # noqa: BLE001 - ledger failures are isolated per asset too
            return outcome(State.FAILED, reason=f"ledger error: {self.safe_message(exc)}")
        finally:
            try:
                ledger.release(sha256, platform, account, run_id)
            except Exception:  # noqa: BLE001 - a stale claim is taken over later
                log.warning("Could not release the claim on %s", creative.key, exc_info=True)

    def metadata_kwargs(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest's fields as the hook's ``submit`` takes them (only those it accepts, none unset)."""
        fields = item.get("metadata")
        if not fields:
            return {}
        kwargs = {k: v for k, v in meta.submit_kwargs(self.platform, fields).items() if v is not None}
        try:
            parameters = inspect.signature(self.hook.submit).parameters
        except (TypeError, ValueError):  # pragma: no cover - a builtin: nothing is passed
            return {}
        if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return kwargs
        return {k: v for k, v in kwargs.items() if k in parameters}

    def update_metadata(self, item: Mapping[str, Any]) -> _Outcome:
        """Send a file's changed metadata through the platform's update call (never its bytes); record it."""
        remote_id, key, sha256 = str(item["remote_id"]), item["file_key"], item["sha256"]
        state = str(item.get("state") or State.READY)
        fields = item.get("metadata") or {}

        def outcome(new_state: str, reason: str | None) -> _Outcome:
            return _Outcome(
                item["seq"], key, Action.UPDATE, new_state, remote_id, item.get("version"), reason, this_run=True
            )

        try:
            previous = self.ledger.asset_metadata(sha256).get((self.platform, self.account), {}).get("fields")
            meta.update_remote(self.hook, remote_id, fields, previous)
            self.ledger.record_metadata(
                sha256,
                self.platform,
                self.account,
                fields=fields,
                digest=meta.digest(fields),
                run_id=self.run_id,
                remote_id=remote_id,
                updated=True,
            )
        except NotImplementedError as exc:
            return outcome(state, f"metadata changed; {exc}")
        except Exception as exc:  # noqa: BLE001 - reported; the next run tries again
            reason = self.safe_message(exc)
            log.error("%s: updating the metadata of %s (%s) failed: %s", self.platform, key, remote_id, reason)
            return outcome(State.FAILED, f"metadata update failed: {reason}")
        log.info("%s: %s (%s): metadata updated, the file not sent again", self.platform, key, remote_id)
        return outcome(state, "metadata updated; the file was not sent again")

    def gave_up_on(self, record: AssetRecord) -> bool:
        """The platform's processing of this asset failed on each of its bounded sends."""
        retries = int(getattr(self.hook, "processing_retries", 3))
        return (
            record.state == State.FAILED
            and record.raw_state == PROCESSING_FAILED
            and bool(record.remote_id)
            and record.attempts > retries
        )

    def poll_given_up(self, record: AssetRecord, outcome: Any) -> _Outcome:
        """Not sent again: polled, so it is reported failed until it lands (or ready once it did)."""
        remote_id = str(record.remote_id)
        try:
            status = self.hook.get_status([remote_id]).get(remote_id)
        except Exception as exc:  # noqa: BLE001 - reported as it was
            log.warning("%s: status poll of %s failed: %s", self.platform, remote_id, self.safe_message(exc))
            status = None
        if status is not None and status.state != State.FAILED:
            self.ledger.record_status(
                record.sha256,
                self.platform,
                self.account,
                run_id=self.run_id,
                state=status.state,
                raw_state=status.raw_state,
                reason=status.reason,
            )
            return outcome(status.state, action=Action.POLL, remote_id=remote_id, reason=status.reason)
        reason = (
            f"the platform failed to process asset {remote_id} after {record.attempts} sends; not sent again "
            f"automatically (processing_retries={getattr(self.hook, 'processing_retries', 3)}), polled each run "
            f"until it lands: {(status.reason if status else None) or record.reason}"
        )
        log.error("%s: %s", self.platform, reason)
        return outcome(State.FAILED, action=Action.POLL, remote_id=remote_id, reason=reason)

    def _failed(self, creative: Creative, sha256: str, exc: BaseException, outcome: Any) -> _Outcome:
        """Record a failed create: refused by the API, rejected, or failed (resumed by the next run)."""
        reason = self.safe_message(exc)
        if isinstance(exc, CreativeRefused):
            state, level, what, this_run = State.REFUSED, logging.WARNING, "refused", False
        elif isinstance(exc, PlatformRejected):
            state, level, what, this_run = State.REJECTED, logging.WARNING, "rejected", True
        elif isinstance(exc, PlatformError):
            state, level, what, this_run = State.FAILED, logging.ERROR, "sending failed", False
        else:  # one file's bug or I/O error never stops the others
            reason = f"{type(exc).__name__}: {reason}"
            state, level, what, this_run = State.FAILED, logging.ERROR, "sending failed", False
        self.ledger.record_failure(sha256, self.platform, self.account, run_id=self.run_id, reason=reason, state=state)
        log.log(level, "%s: %s %s: %s", self.platform, creative.key, what, reason)
        return outcome(state, reason=reason, this_run=this_run)

    def poll(self, items: Sequence[Mapping[str, Any]]) -> list[_Outcome]:
        """One status poll of assets sent in earlier runs that are not terminal yet."""
        ids = list(dict.fromkeys(str(i["remote_id"]) for i in items))
        try:
            statuses = self.hook.get_status(ids)
        except Exception as exc:  # noqa: BLE001 - a failed poll leaves the states as they were
            log.warning("%s: status poll failed: %s", self.platform, self.safe_message(exc))
            statuses = {}
        out = []
        for item in items:
            status = statuses.get(str(item["remote_id"]))
            state, reason, this_run = str(item.get("state") or State.PENDING), item.get("reason"), False
            if status is not None:
                self.ledger.record_status(
                    item["sha256"],
                    self.platform,
                    self.account,
                    run_id=self.run_id,
                    state=status.state,
                    raw_state=status.raw_state,
                    reason=status.reason,
                )
                state, reason, this_run = status.state, status.reason, status.state == State.REJECTED
            out.append(
                _Outcome(
                    item["seq"],
                    item["file_key"],
                    Action.POLL,
                    state,
                    remote_id=item["remote_id"],
                    version=item.get("version"),
                    reason=reason,
                    this_run=this_run,
                )
            )
        return out

    def archive(self, item: Mapping[str, Any]) -> _Outcome:
        remote_id = str(item["remote_id"])
        try:
            self.hook.archive(remote_id)
        except Exception as exc:  # noqa: BLE001 - reported; the next run tries again
            reason = self.safe_message(exc)
            log.error("%s: archiving %s (%s) failed: %s", self.platform, remote_id, item["file_key"], reason)
            return _Outcome(
                item["seq"],
                item["file_key"],
                Action.ARCHIVE,
                State.FAILED,
                remote_id,
                reason=f"archive failed: {reason}",
            )
        self.ledger.record_status(
            item["sha256"],
            self.platform,
            self.account,
            run_id=self.run_id,
            state=State.ARCHIVED,
            reason="removed from the source",
        )
        log.info("%s: archived %s (%s): removed from the source", self.platform, remote_id, item["file_key"])
        return _Outcome(
            item["seq"], item["file_key"], Action.ARCHIVE, State.ARCHIVED, remote_id, reason="removed from the source"
        )


def _count(outcomes: Iterable[_Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.state] = counts.get(o.state, 0) + 1
    return counts


def submit_batch(
    ref: BatchRef | Mapping[str, Any],
    *,
    ledger: Ledger | None = None,
    hooks: HookRegistry | None = None,
    hook: CreativePlatformHook | None = None,
    concurrency: int | None = None,
    holder_alive: HolderAlive | None = None,
) -> BatchResult:
    """Do one batch's work on one platform: uploads, one status poll, archives.

    Uploads run in a thread pool bounded by ``upload_concurrency`` (within the platform's
    rate limit). Each upload claims its content in the ledger (another live run holding the
    claim wins), writes its intent, calls ``hook.submit`` (``resume=True`` when an earlier
    attempt may have created the asset) and records the remote id or the failure. A failure
    is recorded and counted, never raised: the report decides the run's outcome.

    :param ref: one of ``PlanSummary.batches`` (its items are read from the ledger).
    :param ledger: the ledger; ``Ledger()`` by default.
    :param hooks: platform name -> hook class; the package's registry by default.
    :param hook: an already built hook; built from the batch's connection otherwise.
    :param concurrency: parallel uploads; defaults to the batch's or the hook's setting.
    :param holder_alive: whether the run holding a claim may still be sending (``False``: take
        its claims over now); inside an Airflow task, Airflow's view (``airflow_run_liveness``).
    :raises PlatformConfigError: the platform cannot be used, or its connection now points at
        another account than the plan's.
    """
    ref = BatchRef.from_json(ref)
    if ref.error:
        raise PlatformConfigError(f"{ref.platform}: {ref.error}", platform=ref.platform)
    ledger = ledger or Ledger()
    if hook is None:
        hook = (hooks or default_hooks())(ref.platform)(ref.conn_id)
    account = str(hook.account)
    if ref.account not in (None, account):
        raise PlatformConfigError(
            f"{ref.platform}: connection {ref.conn_id!r} now points at account {account!r}, the plan was made for "
            f"{ref.account!r}; run the sync again.",
            platform=ref.platform,
        )
    # the run's rows are keyed by target name: one platform account's batch when it has several
    items = ledger.run_items(ref.run_id, platform=ref.target_name, batch=ref.index)
    stored = ledger.run(ref.run_id) or {}
    if holder_alive is None:
        holder_alive = airflow_run_liveness()
    batch = _Batch(ref, hook, account, ledger, stored.get("source"), holder_alive)
    uploads = [i for i in items if i["action"] == Action.UPLOAD]
    polls = [i for i in items if i["action"] == Action.POLL]
    archives = [i for i in items if i["action"] == Action.ARCHIVE]
    updates = [i for i in items if i["action"] == Action.UPDATE]
    workers = upload_concurrency(hook, concurrency or ref.concurrency)
    progress = _Progress(ref.platform, len(uploads), sum(int(i.get("size") or 0) for i in uploads))
    log.info(
        "%s: batch %s: %d uploads (%s), %d polls, %d archives; %d in parallel",
        ref.target_name,
        ref.index,
        len(uploads),
        human_bytes(progress.total_bytes),
        len(polls),
        len(archives),
        workers,
    )
    outcomes: list[_Outcome] = []
    with _Heartbeat(ledger, ref.run_id, ref.platform, account, every=max(5.0, ledger.stale_after / 4)):
        if uploads:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"submit-{ref.platform}") as pool:
                futures = [pool.submit(batch.upload_and_record, item) for item in uploads]
                for future in as_completed(futures):
                    done = future.result()
                    outcomes.append(done)
                    progress.done(done.bytes, done.state in (State.FAILED, State.REJECTED))
        if polls:
            outcomes.extend(batch.record(o) for o in batch.poll(polls))
        outcomes.extend(batch.record(batch.archive(item)) for item in archives)
        outcomes.extend(batch.record(batch.update_metadata(item)) for item in updates)
    counts = _count(outcomes)
    bytes_sent = sum(o.bytes for o in outcomes)
    ledger.add_run_counts(ref.run_id, ref.target_name, counts, bytes_sent)
    waiting = sum(
        1
        for o in outcomes
        if o.remote_id and o.action in (Action.UPLOAD, Action.POLL) and o.state in (State.PENDING, State.PROCESSING)
    )
    log.info("%s: batch %s done: %s, %s sent", ref.target_name, ref.index, counts, human_bytes(bytes_sent))
    return BatchResult.for_batch(
        ref,
        account=account,
        counts=counts,
        bytes_sent=bytes_sent,
        failed=counts.get(State.FAILED, 0),
        rejected=sum(1 for o in outcomes if o.state == State.REJECTED and o.this_run),
        waiting=waiting,
        wait_for_ready=ref.wait_for_ready,
    )


# ---------------------------------------------------------------------------- wait
#: share of the schedule's interval a run may spend waiting for processing: the next scheduled
#: run (one active run at a time) must find it done, report included.
WAIT_SHARE_OF_SCHEDULE = 0.75
#: how long an unscheduled run's waits may take, from the run's start.
DEFAULT_WAIT_SECONDS = 45 * 60.0


def schedule_interval_seconds(timetable: Any, at: datetime) -> float | None:
    """Seconds between two scheduled runs after ``at`` (cron or fixed-interval timetables); None otherwise."""
    try:
        delta = getattr(timetable, "_delta", None)
        if delta is not None:
            return float(delta.total_seconds())
        get_next = timetable._get_next
        first = get_next(at)
        return float((get_next(first) - first).total_seconds())
    except Exception:  # noqa: BLE001 - no regular schedule: the default budget applies
        return None


def wait_deadline(run_started_at: float, schedule_seconds: float | None, *, cap: float | None = None) -> float:
    """Epoch seconds by which every wait of a run ends.

    The run's start plus ``WAIT_SHARE_OF_SCHEDULE`` of its schedule's interval (45 min of an
    hourly schedule), or ``DEFAULT_WAIT_SECONDS`` without one; at most ``cap`` seconds. What is
    still processing then is reported as such and polled by the next run.
    """
    budget = schedule_seconds * WAIT_SHARE_OF_SCHEDULE if schedule_seconds else DEFAULT_WAIT_SECONDS
    if cap is not None:
        budget = min(budget, cap)
    return run_started_at + max(0.0, budget)


@dataclass(frozen=True)
class WaitTargets(BatchPayload):
    """What one wait polls for one batch: the remote ids still pending or processing (read from the ledger)."""

    conn_id: str
    account: str | None
    remote_ids: tuple[str, ...]
    #: ``(seq, key, sha256, remote_id)`` of each row to map the statuses back.
    items: tuple[tuple[int, str, str, str], ...]
    #: as ``BatchRef.target``.
    target: str | None = None


def wait_targets(result: BatchResult | Mapping[str, Any], *, ledger: Ledger | None = None) -> WaitTargets:
    """The ids one deferred wait polls for one batch: sent or polled in it, not ready or rejected yet.

    Empty with ``wait_for_ready`` off or when nothing is waiting.
    """
    result = BatchResult.from_json(result)
    items: list[tuple[int, str, str, str]] = []
    if result.wait_for_ready and result.waiting:
        rows = (ledger or Ledger()).run_items(result.run_id, platform=result.target_name, batch=result.index)
        for r in rows:
            if r["done"] and r["remote_id"] and r["action"] in (Action.UPLOAD, Action.POLL):
                if r["state"] in (State.PENDING, State.PROCESSING):
                    items.append((r["seq"], r["file_key"], r["sha256"], r["remote_id"]))
    return WaitTargets.for_batch(
        result,
        remote_ids=tuple(dict.fromkeys(i[3] for i in items)),
        items=tuple(items),
    )


def record_statuses(
    targets: WaitTargets,
    statuses: Mapping[str, Mapping[str, Any]],
    *,
    ledger: Ledger | None = None,
    error: str | None = None,
) -> WaitResult:
    """Store what a wait saw, in the asset records and the run's rows; return the counts.

    :param targets: what ``wait_targets`` returned for the batch.
    :param statuses: ``{remote_id: AssetStatus.to_dict()}`` (a trigger event's ``assets``,
        plus ``last`` for the ids still pending after a timeout).
    :param error: why the platform could not be polled, if it could not.
    """
    ledger = ledger or Ledger()
    counts: dict[str, int] = {}
    rejected = pending = 0
    outcomes: list[tuple[int, dict[str, Any]]] = []
    seen: list[tuple[str, str, str | None, str | None]] = []  # stored in one transaction below
    for seq, key, sha256, remote_id in targets.items:
        status = statuses.get(remote_id)
        state = str((status or {}).get("state") or State.PENDING)
        counts[state] = counts.get(state, 0) + 1
        if not status:
            pending += 1
            continue
        reason = status.get("reason")
        warnings = status.get("warnings") or []
        if warnings and not reason:
            reason = "; ".join(str(w) for w in warnings)
        if targets.account is not None:
            seen.append((sha256, state, status.get("raw_state"), reason))
        this_run = state == State.REJECTED
        # a status without a reason keeps the submit's (a file sent under another type than its name says)
        kept = {"reason": reason} if reason else {}
        outcomes.append((seq, {"state": state, **kept, **({"this_run": 1} if this_run else {})}))
        if this_run:
            rejected += 1
            log.warning("%s: %s (%s) rejected: %s", targets.platform, key, remote_id, reason)
        elif state == State.FAILED:  # the platform's processing failed: the next run sends it again
            log.error("%s: %s (%s): %s", targets.platform, key, remote_id, reason)
        elif state != State.READY:
            pending += 1
    if seen and targets.account is not None:
        ledger.record_statuses(targets.platform, targets.account, seen, run_id=targets.run_id)
    ledger.record_items(targets.run_id, outcomes)
    return WaitResult.for_batch(
        targets,
        counts=counts,
        rejected=rejected,
        pending=pending,
        error=error,
    )
