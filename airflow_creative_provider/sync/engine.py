"""The sync engine's task functions: plan, submit a batch, wait targets, record statuses, report.

The ``creative_sync`` DAG calls these from its tasks; each takes and returns JSON-safe dicts
(no secret: ids, keys, states and reasons only), so they travel through XCom:

1. ``plan_run(params, run_id=...)`` lists the source, applies the rules, reads the ledger and
   returns the work in batches per (platform, ``batch_size``);
2. ``submit_batch(platform, conn_id, batch, run_id)`` uploads one batch with bounded
   concurrency within the platform's rate limit, recording intent / remote id / outcome in
   the ledger per asset; one bad file never stops the others;
3. ``wait_targets(submit_result)`` -> the remote ids one deferred wait polls for that batch;
4. ``record_statuses(targets, statuses, run_id)`` stores what the wait saw;
5. ``build_report(plan, submit_results, wait_results)`` -> the file x platform table, the
   failure decision (``raise_for_report``) and the Airflow Asset events of ready creatives.

With ``dry_run`` the same plan is reported and nothing is sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from airflow_creative_provider import PLATFORMS, __version__
from airflow_creative_provider.creative import Creative, PlatformRules
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformConfigError,
    PlatformError,
    PlatformRejected,
)
from airflow_creative_provider.sync import plan as planning
from airflow_creative_provider.sync.ledger import (
    ARCHIVED,
    FAILED,
    READY,
    REJECTED,
    SENDING,
    TERMINAL_STATES,
    Ledger,
)
from airflow_creative_provider.sync.rules import Verdict, check
from airflow_creative_provider.sync.source import (
    Scan,
    index_entries,
    is_object_storage,
    list_source,
    local_root,
    matches_include,
    scan_source,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
DEFAULT_CONCURRENCY = 8
PROGRESS_EVERY_SECONDS = 5.0
#: states a report row can end in that fail the run.
FAILED_STATE = FAILED
REFUSED_STATE = "refused"


class SyncFailed(PlatformError):
    """The run finished, but some asset failed to send or was rejected by its platform."""


# ---------------------------------------------------------------------------- params
def default_source() -> str:
    """``$CREATIVE_SYNC_SOURCE``, else ``$AIRFLOW_HOME/creatives``."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.environ.get("CREATIVE_SYNC_SOURCE") or os.path.join(home, "creatives")


def normalise_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's params with defaults filled in and types checked; raises ``ValueError`` naming the fix."""
    platforms = params.get("platforms") or list(PLATFORMS)
    if isinstance(platforms, str):
        platforms = [p.strip() for p in platforms.split(",") if p.strip()]
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise ValueError(f"unknown platform(s) {', '.join(unknown)}; use some of {', '.join(PLATFORMS)}")
    connections = {p: f"{p}_default" for p in PLATFORMS}
    connections.update(params.get("connections") or {})
    batch_size = int(params.get("batch_size") or DEFAULT_BATCH_SIZE)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    max_archive = int(params["max_archive"]) if params.get("max_archive") is not None else 10
    if max_archive < 0:
        raise ValueError("max_archive must be 0 or more")
    return {
        "source": source_identity(str(params.get("source") or default_source())),
        "source_conn_id": params.get("source_conn_id") or None,
        "platforms": list(dict.fromkeys(platforms)),
        "include": params.get("include") or "**/*",
        "dry_run": bool(params.get("dry_run", False)),
        "wait_for_ready": bool(params.get("wait_for_ready", True)),
        "batch_size": batch_size,
        "connections": {p: connections[p] for p in platforms},
        "strict": bool(params.get("strict", False)),
        "archive_removed": bool(params.get("archive_removed", False)),
        "max_archive": max_archive,
        "checksum": bool(params.get("checksum", False)),
        "min_age_seconds": float(params.get("min_age_seconds") or 0),
        "concurrency": int(params["concurrency"]) if params.get("concurrency") else None,
    }


def source_identity(source: str) -> str:
    """One spelling per source (the ledger's key): absolute local paths, URIs without a trailing slash."""
    if is_object_storage(source):
        return source.rstrip("/")
    return os.path.abspath(os.path.expanduser(local_root(source)))


def _hook_class(platform: str) -> Any:
    from airflow_creative_provider.hooks import hook_class

    return hook_class(platform)


# ---------------------------------------------------------------------------- plan
def _resolve_targets(
    p: Mapping[str, Any],
) -> tuple[list[planning.Target], dict[str, PlatformRules], dict[str, dict[str, Any]]]:
    """Each requested platform's hook class, rules and account; an unusable one gets an ``error``."""
    targets: list[planning.Target] = []
    rules: dict[str, PlatformRules] = {}
    platform_info: dict[str, dict[str, Any]] = {}
    for platform in p["platforms"]:
        conn_id = p["connections"][platform]
        info: dict[str, Any] = {"conn_id": conn_id, "account": None, "error": None}
        platform_info[platform] = info
        try:
            cls = _hook_class(platform)
            rules[platform] = cls.rules
            info["account"] = str(cls(conn_id).account)
        except ImportError:
            info["error"] = f"the {platform} integration is not installed in this provider version"
            continue
        except PlatformError as exc:
            info["error"] = str(exc)
            continue
        targets.append(
            planning.Target(
                platform=platform,
                account=info["account"],
                supports_archive=bool(getattr(cls, "supports_archive", False)),
                supports_versions=bool(getattr(cls, "supports_versions", False)),
            )
        )
    return targets, rules, platform_info


def _digest(value: Any) -> str:
    """sha256 of a JSON rendering that does not depend on set or dict order (hash seeds differ per process)."""

    def canonical(item: Any) -> Any:
        if isinstance(item, (set, frozenset)):
            return sorted(canonical(i) for i in item)
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return canonical(dataclasses.asdict(item))
        if isinstance(item, Mapping):
            return {str(k): canonical(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [canonical(i) for i in item]
        return item

    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True, default=str).encode()).hexdigest()


def _plan_inputs(p: Mapping[str, Any], targets: Sequence[planning.Target], rules: Mapping[str, PlatformRules]) -> str:
    """Everything a plan depends on besides the files and the ledger: params, accounts, rules, version."""
    return _digest(
        {
            "version": __version__,
            "params": {name: p[name] for name in ("include", "min_age_seconds", "archive_removed", "max_archive")},
            "targets": targets,
            "rules": {platform: rules[platform] for platform in sorted(rules)},
        }
    )


def _fingerprint(ledger: Ledger, source: str, inputs: str, scan: Scan, targets: Sequence[planning.Target]) -> str:
    """The digest a saved plan is found by: inputs, listed files (size, mtime) and the ledger's marks."""
    marks = ledger.marks(source, [(t.platform, t.account) for t in targets])
    return _digest([source, inputs, scan.fingerprint(), marks])


def _plan_afresh(
    p: Mapping[str, Any],
    scan: Scan,
    targets: Sequence[planning.Target],
    rules: Mapping[str, PlatformRules],
    platform_info: Mapping[str, dict[str, Any]],
    *,
    run_id: str,
    ledger: Ledger,
) -> tuple[dict[str, Any], planning.Plan, list[dict[str, Any]]]:
    """Facts (from the file index, or read), rules and ledger records -> listing summary, plan, batches."""
    source = p["source"]
    previous = ledger.file_index(source)
    listing = list_source(source, index=previous, checksum=p["checksum"], scan=scan)
    ledger.update_file_index(
        source,
        index_entries(listing, only_read=True),
        complete=listing.ok,
        previous=previous,
        present=(c.key for c in listing.files),
    )
    log.info(
        "Listed %s: %d files (%d read, %d from the index), skipped %s, %d errors",
        source,
        len(listing.files),
        listing.hashed,
        len(listing.files) - listing.hashed,
        listing.skipped or "none",
        len(listing.errors),
    )
    verdict_cache: dict[tuple[str, str], Verdict] = {}

    def verdicts(creative: Creative, platform: str) -> Verdict:
        key = (creative.key, platform)
        if key not in verdict_cache:
            verdict_cache[key] = check(creative, platform, rules[platform])
        return verdict_cache[key]

    records = {t.platform: ledger.records(t.platform, t.account) for t in targets}
    plan = planning.build_plan(
        listing.files,
        verdicts,
        records,
        targets,
        source=p["source"],
        listing_ok=listing.ok,
        archive_removed=p["archive_removed"],
        max_archive=p["max_archive"],
        in_scope=lambda key: key not in scan.recent and matches_include(key, p["include"]),
    )
    for platform, info in platform_info.items():
        if info["error"]:
            plan.rows.extend(
                planning.PlanRow(platform, c.key, "error", sha256=c.sha256, reason=info["error"]) for c in listing.files
            )

    creatives = {c.key: c for c in listing.files}
    batches: list[dict[str, Any]] = []
    for platform in p["platforms"]:
        info = platform_info[platform]
        common = {
            "platform": platform,
            "conn_id": info["conn_id"],
            "account": info["account"],
            "run_id": run_id,
            "source": p["source"],
            "dry_run": p["dry_run"],
            "wait_for_ready": p["wait_for_ready"],
            "concurrency": p["concurrency"],
        }
        if info["error"]:
            batches.append({**common, "index": 0, "items": [], "error": info["error"]})
            continue
        work = plan.work(platform)
        for index, start in enumerate(range(0, len(work), p["batch_size"])):
            items = []
            for row in work[start : start + p["batch_size"]]:
                item = row.to_dict(compact=True)
                if row.action == planning.UPLOAD:
                    item["creative"] = creatives[row.key].to_dict()
                items.append(item)
            batches.append({**common, "index": index, "items": items, "error": None})
    return listing.summary(), plan, batches


def _save_if_idle(
    ledger: Ledger,
    p: Mapping[str, Any],
    inputs: str | None,
    scan: Scan,
    targets: Sequence[planning.Target],
    listing_summary: Mapping[str, Any],
    plan: planning.Plan,
    batches: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
) -> str | None:
    """Save a plan that found no work (the next unchanged run reuses it); its fingerprint, else None."""
    if inputs is None or batches or listing_summary["errors"]:
        return None
    fingerprint = _fingerprint(ledger, p["source"], inputs, scan, targets)  # after this plan's index update
    summary = {"counts": plan.counts(), "archive_blocked": plan.archive_blocked, "planned_by": run_id}
    ledger.save_plan(fingerprint, source=p["source"], inputs=inputs, plan=summary, rows=planning.pack_rows(plan.rows))
    return fingerprint


def _prepare(
    params: Mapping[str, Any], ledger: Ledger
) -> tuple[
    dict[str, Any], Scan, list[planning.Target], dict[str, PlatformRules], dict[str, dict[str, Any]], str | None
]:
    """Params, listing scan and targets; ``inputs`` is None when no saved plan may serve."""
    p = normalise_params(params)
    scan = scan_source(
        p["source"], include=p["include"], min_age_seconds=p["min_age_seconds"], conn_id=p["source_conn_id"]
    )
    targets, rules, platform_info = _resolve_targets(p)
    reusable = not p["checksum"] and len(targets) == len(platform_info)
    return p, scan, targets, rules, platform_info, _plan_inputs(p, targets, rules) if reusable else None


def plan_run(params: Mapping[str, Any], *, run_id: str, ledger: Ledger | None = None) -> dict[str, Any]:
    """List the source, apply the rules, read the ledger and return the run's work.

    A run that finds the same files (key, size, mtime) and the same ledger as a saved plan
    without work, with the same params, accounts and rules, reuses that plan: it costs one
    listing and a few ledger reads (``checksum`` always plans afresh). Plans without work are
    saved by the plan task, and by the report task of a run that sent anything
    (``prepare_next_plan``), so even the first rerun after a sync reuses one.

    :param params: the DAG's params (``source``, ``platforms``, ``include``, ``dry_run``,
        ``wait_for_ready``, ``batch_size``, ``connections``, ``strict``, ``archive_removed``,
        ``max_archive``, ``checksum``, ``min_age_seconds``; optional ``source_conn_id``,
        ``concurrency``).
    :param run_id: the DAG run's id (claims and ledger rows carry it).
    :param ledger: the ledger; ``Ledger()`` (connection ``creative_ledger`` or SQLite) by default.
    :return: JSON-safe: ``run_id``, ``source``, ``dry_run``, ``listing`` (counts, skipped,
        errors), ``platforms`` (conn id, account, error, counts), ``batches`` (one per
        platform and ``batch_size`` of work: ``platform``, ``conn_id``, ``account``,
        ``index``, ``items``, ``dry_run``, ``wait_for_ready``, ``error``), ``counts``,
        ``reused_plan_of`` (the run that made the reused plan, else None).
    """
    ledger = ledger or Ledger()
    started = time.monotonic()
    p, scan, targets, rules, platform_info, inputs = _prepare(params, ledger)
    source = p["source"]
    fingerprint = _fingerprint(ledger, source, inputs, scan, targets) if inputs is not None else None
    saved = ledger.saved_plan(fingerprint) if fingerprint else None
    if saved is not None:
        reused_plan_of = saved["planned_by"]
        listing_summary = scan.summary()
        plan_counts: dict[str, dict[str, int]] = saved["counts"]
        archive_blocked = saved.get("archive_blocked")
        batches: list[dict[str, Any]] = []
        plan_rows: Any = {"plan": fingerprint}
        log.info(
            "Listed %s: %d files, skipped %s, %d errors; nothing changed since the plan of run %s (same files by "
            "size and mtime, same ledger, params and rules): reused, no file read",
            source,
            len(scan.entries),
            scan.skipped or "none",
            len(scan.errors),
            reused_plan_of,
        )
    else:
        reused_plan_of = None
        listing_summary, plan, batches = _plan_afresh(
            p, scan, targets, rules, platform_info, run_id=run_id, ledger=ledger
        )
        plan_counts = plan.counts()
        archive_blocked = plan.archive_blocked
        saved_as = _save_if_idle(ledger, p, inputs, scan, targets, listing_summary, plan, batches, run_id=run_id)
        plan_rows = {"plan": saved_as} if saved_as else planning.pack_rows(plan.rows)
    for error in listing_summary["errors"]:
        log.warning("Listing error: %s", error)
    for target in targets:
        platform_info[target.platform]["counts"] = plan_counts.get(target.platform, {})
        platform_info[target.platform]["supports_archive"] = target.supports_archive
    summary = {
        "listing": listing_summary,
        "platforms": platform_info,
        "archive_blocked": archive_blocked,
        "batches": len(batches),
        "reused_plan_of": reused_plan_of,
        "seconds": round(time.monotonic() - started, 3),
    }
    ledger.start_run(run_id, source=source, dry_run=p["dry_run"], params=dict(p), summary=summary, plan_rows=plan_rows)
    for platform, info in platform_info.items():
        if info["error"]:
            log.error("%s: %s", platform, info["error"])
        else:
            log.info("%s (account %s): %s", platform, info["account"], info.get("counts") or "nothing to do")
    if archive_blocked:
        log.warning("Archiving skipped: %s", archive_blocked)
    return {
        "run_id": run_id,
        "source": source,
        "dry_run": p["dry_run"],
        "wait_for_ready": p["wait_for_ready"],
        "strict": p["strict"],
        "listing": listing_summary,
        "platforms": platform_info,
        "archive_blocked": archive_blocked,
        "counts": plan_counts,
        "batches": batches,
        "reused_plan_of": reused_plan_of,
    }


def prepare_next_plan(run_id: str, *, ledger: Ledger | None = None) -> dict[str, Any] | None:
    """Plan the next run now, at the end of a run that sent anything, and save that plan if it has no work.

    The rerun of an unchanged folder then reuses it and costs one listing, instead of reading
    every ledger record again right after they changed. Nothing is sent or recorded; a dry
    run, ``checksum`` or a platform that cannot be used prepares nothing.

    :return: ``{"work": n, "saved": bool}``, or None when nothing was prepared.
    """
    ledger = ledger or Ledger()
    params = ledger.run_params(run_id)
    if not params or params.get("dry_run"):
        return None
    p, scan, targets, rules, platform_info, inputs = _prepare(params, ledger)
    if inputs is None:
        return None
    if ledger.saved_plan(_fingerprint(ledger, p["source"], inputs, scan, targets)) is not None:
        return {"work": 0, "saved": True}
    listing_summary, plan, batches = _plan_afresh(p, scan, targets, rules, platform_info, run_id=run_id, ledger=ledger)
    saved = _save_if_idle(ledger, p, inputs, scan, targets, listing_summary, plan, batches, run_id=run_id)
    work = sum(len(b["items"]) for b in batches)
    log.info(
        "Next run planned ahead: %s",
        "nothing to do; the plan is saved for it" if saved else f"{work} items of work, planned again then",
    )
    return {"work": work, "saved": bool(saved)}


def unpack_rows(packed: Any) -> list[dict[str, Any]]:
    """The inverse of ``plan.pack_rows`` (empty values left out again)."""
    if not packed:
        return []
    if isinstance(packed, list):
        return packed
    fields = packed["fields"]
    return [{k: v for k, v in zip(fields, values, strict=True) if v is not None} for values in packed["rows"]]


def _compact(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, False)}


# ---------------------------------------------------------------------------- submit
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


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


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


def upload_concurrency(hook: Any, requested: int | None = None) -> int:
    """Parallel uploads for one platform: the request (or the hook's ``upload_concurrency``,
    else 8), never more than the calls its limit allows per window (the connection's
    ``call_limit`` for a hook, the class's ``rate_limit`` for a hook class)."""
    wanted = requested or getattr(hook, "upload_concurrency", None) or DEFAULT_CONCURRENCY
    limit = getattr(hook, "rate_limit", None) if isinstance(hook, type) else hook.call_limit
    if limit:
        wanted = min(wanted, max(1, int(limit[0])))
    return max(1, int(wanted))


def submit_batch(
    platform: str,
    conn_id: str,
    batch: Mapping[str, Any],
    run_id: str,
    *,
    ledger: Ledger | None = None,
    concurrency: int | None = None,
    hook: Any = None,
) -> dict[str, Any]:
    """Do one batch's work on one platform: uploads, one status poll, archives.

    Uploads run in a thread pool bounded by ``upload_concurrency`` (within the platform's
    rate limit). Each upload claims its content in the ledger (another live run holding the
    claim wins), writes its intent, calls ``hook.submit`` (``resume=True`` when an earlier
    attempt may have created the asset) and records the remote id or the failure. A failure
    is recorded and counted, never raised: the report decides the run's outcome.

    :param platform: platform name.
    :param conn_id: the platform's Airflow connection.
    :param batch: one entry of ``plan_run(...)["batches"]``.
    :param run_id: the DAG run's id.
    :param ledger: the ledger; ``Ledger()`` by default.
    :param concurrency: parallel uploads; defaults to the batch's or the hook's setting.
    :param hook: an already built hook (tests); built from ``conn_id`` otherwise.
    :return: JSON-safe: ``platform``, ``conn_id``, ``account``, ``index``, ``results`` (one per
        item: ``key``, ``sha256``, ``action``, ``state``, ``remote_id``, ``version``,
        ``reason``, ``bytes``), ``counts`` per state, ``bytes_sent``, ``failed``, ``rejected``.
    """
    if batch.get("error"):
        raise PlatformConfigError(f"{platform}: {batch['error']}", platform=platform)
    items = list(batch.get("items") or [])
    result: dict[str, Any] = {
        "platform": platform,
        "conn_id": conn_id,
        "account": batch.get("account"),
        "index": batch.get("index", 0),
        "run_id": run_id,
        "dry_run": bool(batch.get("dry_run")),
        "wait_for_ready": bool(batch.get("wait_for_ready", True)),
        "results": [],
        "counts": {},
        "bytes_sent": 0,
        "failed": 0,
        "rejected": 0,
    }
    if result["dry_run"]:
        result["results"] = [_dry_result(item) for item in items]
        result["counts"] = _count(result["results"])
        log.info("%s: dry run, nothing sent: %s", platform, result["counts"])
        return result
    ledger = ledger or Ledger()
    hook_cls = type(hook) if hook is not None else _hook_class(platform)
    hook = hook if hook is not None else hook_cls(conn_id)
    account = str(hook.account)
    result["account"] = account
    if batch.get("account") not in (None, account):
        raise PlatformConfigError(
            f"{platform}: connection {conn_id!r} now points at account {account!r}, the plan was made for "
            f"{batch.get('account')!r}; run the sync again.",
            platform=platform,
        )
    uploads = [i for i in items if i["action"] == planning.UPLOAD]
    polls = [i for i in items if i["action"] == planning.POLL]
    archives = [i for i in items if i["action"] == planning.ARCHIVE]
    workers = upload_concurrency(hook, concurrency or batch.get("concurrency"))
    progress = _Progress(platform, len(uploads), sum(int(i.get("size") or 0) for i in uploads))
    log.info(
        "%s: batch %s: %d uploads (%s), %d polls, %d archives; %d in parallel",
        platform,
        result["index"],
        len(uploads),
        human_bytes(progress.total_bytes),
        len(polls),
        len(archives),
        workers,
    )
    results: list[dict[str, Any]] = []
    with _Heartbeat(ledger, run_id, platform, account, every=max(5.0, ledger.stale_after / 4)):
        if uploads:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"submit-{platform}") as pool:
                futures = [
                    pool.submit(_upload_one, hook, ledger, platform, account, run_id, i, batch.get("source"))
                    for i in uploads
                ]
                for future in as_completed(futures):
                    outcome = future.result()
                    results.append(outcome)
                    progress.done(outcome.get("bytes", 0), outcome["state"] in (FAILED, REJECTED))
        if polls:
            results.extend(_poll(hook, ledger, platform, account, run_id, polls))
        for item in archives:
            results.append(_archive_one(hook, ledger, platform, account, run_id, item))
    order = {(i["key"], i["action"]): n for n, i in enumerate(items)}
    results.sort(key=lambda r: order.get((r["key"], r["action"]), 0))
    result["results"] = results
    result["counts"] = _count(results)
    result["bytes_sent"] = sum(r.get("bytes", 0) for r in results)
    result["failed"] = sum(1 for r in results if r["state"] == FAILED)
    result["rejected"] = sum(1 for r in results if r["state"] == REJECTED and r.get("this_run"))
    ledger.add_run_counts(run_id, platform, result["counts"], result["bytes_sent"])
    log.info(
        "%s: batch %s done: %s, %s sent", platform, result["index"], result["counts"], human_bytes(result["bytes_sent"])
    )
    return result


def _dry_result(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": item["key"],
        "sha256": item.get("sha256"),
        "action": item["action"],
        "state": f"would_{item['action']}",
        "remote_id": item.get("remote_id"),
        "previous_id": item.get("previous_id"),
        "reason": item.get("reason"),
        "bytes": 0,
    }


def _count(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def _safe_message(hook: Any, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    redact = getattr(hook, "redact", None)
    return redact(text) if callable(redact) else text


def _upload_one(
    hook: Any,
    ledger: Ledger,
    platform: str,
    account: str,
    run_id: str,
    item: Mapping[str, Any],
    source: str | None,
) -> dict[str, Any]:
    """Claim, write intent, submit, record; every outcome returned, none raised."""
    facts = dict(item["creative"])
    creative = Creative(**facts)
    sha256 = str(creative.sha256)
    out: dict[str, Any] = {"key": creative.key, "sha256": sha256, "action": planning.UPLOAD, "bytes": 0}
    try:
        if not ledger.claim(sha256, platform, account, run_id):
            holder = ledger.claim_holder(sha256, platform, account)
            log.info("%s: %s is being sent by run %s; leaving it to that run", platform, creative.key, holder)
            return {**out, "state": SENDING, "reason": f"being sent by run {holder}"}
    except Exception as exc:  # noqa: BLE001 - the ledger is unreachable for this asset: isolate it
        return {**out, "state": FAILED, "reason": f"ledger error before sending: {_safe_message(hook, exc)}"}
    try:
        record = ledger.get(sha256, platform, account)
        if record is not None and record.remote_id and record.state not in (SENDING, FAILED, ARCHIVED):
            if record.last_run_id != run_id or record.state in TERMINAL_STATES:
                # An overlapping run sent it after this run's plan was made.
                return {
                    **out,
                    "action": planning.NONE,
                    "state": record.state,
                    "remote_id": record.remote_id,
                    "version": record.version,
                    "reason": f"already sent by run {record.last_run_id}",
                }
        resume = bool(item.get("resume")) or bool(record is not None and record.needs_resume)
        ledger.record_intent(
            sha256,
            platform,
            account,
            run_id=run_id,
            source=source,
            file_key=creative.key,
            file_name=creative.name,
            size=creative.size,
        )
        try:
            remote = hook.submit(creative, resume=resume, previous_id=item.get("previous_id"))
        except CreativeRefused as exc:
            reason = _safe_message(hook, exc)
            ledger.record_failure(sha256, platform, account, run_id=run_id, reason=reason, state=REFUSED_STATE)
            log.warning("%s: %s refused: %s", platform, creative.key, reason)
            return {**out, "state": REFUSED_STATE, "reason": reason}
        except PlatformRejected as exc:
            reason = _safe_message(hook, exc)
            ledger.record_failure(sha256, platform, account, run_id=run_id, reason=reason, state=REJECTED)
            log.warning("%s: %s rejected: %s", platform, creative.key, reason)
            return {**out, "state": REJECTED, "reason": reason, "this_run": True}
        except PlatformError as exc:
            reason = _safe_message(hook, exc)
            ledger.record_failure(sha256, platform, account, run_id=run_id, reason=reason)
            log.error("%s: sending %s failed: %s", platform, creative.key, reason)
            return {**out, "state": FAILED, "reason": reason}
        except Exception as exc:  # noqa: BLE001 - one file's bug or I/O error never stops the others
            reason = f"{type(exc).__name__}: {_safe_message(hook, exc)}"
            ledger.record_failure(sha256, platform, account, run_id=run_id, reason=reason)
            log.error("%s: sending %s failed: %s", platform, creative.key, reason)
            return {**out, "state": FAILED, "reason": reason}
        reason = "; ".join(remote.warnings) if remote.warnings else None
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
        if remote.abandoned_ids:
            log.info("%s: %s: earlier attempts left %s behind", platform, creative.key, list(remote.abandoned_ids))
        log.debug("%s: %s -> %s (%s)", platform, creative.key, remote.remote_id, remote.state)
        return {
            **out,
            "state": remote.state,
            "remote_id": str(remote.remote_id),
            "version": remote.version,
            "raw_state": remote.raw_state,
            "reason": reason,
            "bytes": creative.size,
            "this_run": True,
            "resumed": resume,
        }
    except Exception as exc:  # noqa: BLE001 - ledger failures are isolated per asset too
        return {**out, "state": FAILED, "reason": f"ledger error: {_safe_message(hook, exc)}"}
    finally:
        try:
            ledger.release(sha256, platform, account, run_id)
        except Exception:  # noqa: BLE001 - a stale claim is taken over later
            log.warning("Could not release the claim on %s", creative.key, exc_info=True)


def _poll(
    hook: Any, ledger: Ledger, platform: str, account: str, run_id: str, items: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One status poll of assets sent in earlier runs that are not terminal yet."""
    ids = list(dict.fromkeys(str(i["remote_id"]) for i in items))
    try:
        statuses = hook.get_status(ids)
    except Exception as exc:  # noqa: BLE001 - a failed poll leaves the states as they were
        reason = _safe_message(hook, exc)
        log.warning("%s: status poll failed: %s", platform, reason)
        statuses = {}
    out = []
    for item in items:
        status = statuses.get(str(item["remote_id"]))
        entry = {
            "key": item["key"],
            "sha256": item.get("sha256"),
            "action": planning.POLL,
            "remote_id": item["remote_id"],
            "version": item.get("version"),
            "state": item.get("state") or "pending",
            "bytes": 0,
        }
        if status is not None:
            ledger.record_status(
                item["sha256"],
                platform,
                account,
                run_id=run_id,
                state=status.state,
                raw_state=status.raw_state,
                reason=status.reason,
            )
            entry.update(state=status.state, raw_state=status.raw_state, reason=status.reason)
            entry["this_run"] = status.state == REJECTED
        out.append(entry)
    return out


def _archive_one(
    hook: Any, ledger: Ledger, platform: str, account: str, run_id: str, item: Mapping[str, Any]
) -> dict[str, Any]:
    out = {
        "key": item["key"],
        "sha256": item.get("sha256"),
        "action": planning.ARCHIVE,
        "remote_id": item["remote_id"],
        "bytes": 0,
    }
    try:
        hook.archive(str(item["remote_id"]))
    except Exception as exc:  # noqa: BLE001 - reported; the next run tries again
        reason = _safe_message(hook, exc)
        log.error("%s: archiving %s (%s) failed: %s", platform, item["remote_id"], item["key"], reason)
        return {**out, "state": FAILED, "reason": f"archive failed: {reason}"}
    ledger.record_status(
        item["sha256"], platform, account, run_id=run_id, state=ARCHIVED, reason="removed from the source"
    )
    log.info("%s: archived %s (%s): removed from the source", platform, item["remote_id"], item["key"])
    return {**out, "state": ARCHIVED, "reason": "removed from the source"}


# ---------------------------------------------------------------------------- wait
def wait_targets(submit_result: Mapping[str, Any]) -> dict[str, Any]:
    """What one deferred wait polls for one batch: the ids still pending or processing.

    :param submit_result: what ``submit_batch`` returned for the batch.
    :return: ``platform``, ``conn_id``, ``account``, ``index``, ``remote_ids`` (empty when
        nothing needs waiting, in a dry run, or with ``wait_for_ready`` off) and ``items``
        (``key``, ``sha256``, ``remote_id``) to map the statuses back.
    """
    items = []
    wait = submit_result.get("wait_for_ready", True) and not submit_result.get("dry_run")
    for r in submit_result.get("results", []):
        if not wait or not r.get("remote_id") or r["state"] in TERMINAL_STATES or r["state"] in (FAILED, REFUSED_STATE):
            continue
        if r["action"] not in (planning.UPLOAD, planning.POLL):
            continue
        items.append({"key": r["key"], "sha256": r["sha256"], "remote_id": r["remote_id"]})
    return {
        "platform": submit_result["platform"],
        "conn_id": submit_result["conn_id"],
        "account": submit_result.get("account"),
        "index": submit_result.get("index", 0),
        "run_id": submit_result.get("run_id"),
        "remote_ids": list(dict.fromkeys(i["remote_id"] for i in items)),
        "items": items,
    }


def record_statuses(
    targets: Mapping[str, Any],
    statuses: Mapping[str, Mapping[str, Any]],
    run_id: str,
    *,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Store what a wait saw in the ledger and return it per item.

    :param targets: what ``wait_targets`` returned for the batch.
    :param statuses: ``{remote_id: AssetStatus.to_dict()}`` (a trigger event's ``assets``,
        plus ``last`` for the ids still pending after a timeout).
    :param run_id: the DAG run's id.
    :return: ``platform``, ``account``, ``index``, ``results`` (``key``, ``sha256``,
        ``remote_id``, ``state``, ``raw_state``, ``reason``), ``rejected``, ``pending``.
    """
    ledger = ledger or Ledger()
    platform = targets["platform"]
    account = targets["account"]
    results = []
    for item in targets.get("items", []):
        status = statuses.get(item["remote_id"])
        entry = {**item, "action": "wait"}
        if not status:
            entry["state"] = "pending"
            entry["reason"] = "no status received"
            results.append(entry)
            continue
        state = status.get("state") or "pending"
        reason = status.get("reason")
        warnings = status.get("warnings") or []
        if warnings and not reason:
            reason = "; ".join(str(w) for w in warnings)
        ledger.record_status(
            item["sha256"],
            platform,
            account,
            run_id=run_id,
            state=state,
            raw_state=status.get("raw_state"),
            reason=reason,
        )
        entry.update(state=state, raw_state=status.get("raw_state"), reason=reason)
        if state == REJECTED:
            entry["this_run"] = True
            log.warning("%s: %s (%s) rejected: %s", platform, item["key"], item["remote_id"], reason)
        results.append(entry)
    return {
        "platform": platform,
        "account": account,
        "index": targets.get("index", 0),
        "results": results,
        "rejected": sum(1 for r in results if r["state"] == REJECTED),
        "pending": sum(1 for r in results if r["state"] not in (READY, REJECTED)),
    }


# ---------------------------------------------------------------------------- report
def build_report(
    plan: Mapping[str, Any],
    submit_results: Iterable[Mapping[str, Any] | None] = (),
    wait_results: Iterable[Mapping[str, Any] | None] = (),
    *,
    strict: bool | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """The run's final table (file x platform -> state, remote id, reason) and its outcome.

    :param plan: what ``plan_run`` returned.
    :param submit_results: every ``submit_batch`` result that exists (a failed task's is
        missing: its platform's rows are reported as not sent, and the run fails).
    :param wait_results: every ``record_statuses`` result.
    :param strict: fail the run for files refused by local rules too (default: the plan's).
    :param ledger: the ledger; ``Ledger()`` by default.
    :return: JSON-safe: ``run_id``, ``source``, ``dry_run``, ``rows`` (``key``, ``platform``,
        ``action``, ``state``, ``remote_id``, ``version``, ``reason``), ``counts``
        ``{platform: {state: n}}``, ``failed`` (bool), ``failures`` (messages),
        ``asset_events`` (``uri``, ``extra``) for platforms with creatives that became ready
        in this run, ``bytes_sent``, ``listing``, ``table`` (the text table).
    """
    ledger = ledger or Ledger()
    run_id = plan["run_id"]
    strict = plan.get("strict", False) if strict is None else strict
    dry_run = bool(plan.get("dry_run"))
    stored = ledger.run(run_id) or {}
    plan_rows = unpack_rows(ledger.plan_rows(run_id)) or plan.get("rows") or []
    submitted: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    seen_batches: set[tuple[str, int]] = set()
    bytes_sent = 0
    for res in submit_results:
        if not res:
            continue
        seen_batches.add((res["platform"], int(res.get("index", 0))))
        bytes_sent += int(res.get("bytes_sent") or 0)
        for r in res.get("results", []):
            submitted[(res["platform"], r.get("sha256"), r["key"])] = dict(r)
    waited: dict[tuple[str, str | None], dict[str, Any]] = {}
    wait_errors: list[str] = []
    for res in wait_results:
        if not res:
            continue
        if res.get("error"):
            wait_errors.append(f"{res['platform']}: waiting for batch {res.get('index', 0)} failed: {res['error']}")
        for r in res.get("results", []):
            waited[(res["platform"], r.get("sha256"))] = dict(r)
    expected_batches = {(b["platform"], int(b.get("index", 0))) for b in plan.get("batches", []) if b.get("items")}
    missing_platforms = {p for p, _ in expected_batches - seen_batches}
    errored = {p for p, i in (plan.get("platforms") or {}).items() if i.get("error")}
    by_content: dict[tuple[str, str | None], dict[str, Any]] = {}
    for (platform, sha256, _key), r in submitted.items():
        by_content[(platform, sha256)] = r

    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    ready_now: dict[str, list[str]] = {}
    for plan_row in plan_rows:
        platform = plan_row["platform"]
        action = plan_row["action"]
        row = {
            "key": plan_row["key"],
            "platform": platform,
            "action": action,
            "state": plan_row.get("state"),
            "remote_id": plan_row.get("remote_id"),
            "version": plan_row.get("version"),
            "reason": plan_row.get("reason"),
        }
        content = (platform, plan_row.get("sha256"))
        outcome = submitted.get((platform, plan_row.get("sha256"), plan_row["key"]))
        if outcome is None and action == planning.ALIAS:
            outcome = by_content.get(content)
        if outcome is not None:
            for name in ("state", "remote_id", "version"):
                if outcome.get(name) is not None:
                    row[name] = outcome[name]
            if outcome.get("reason") or action != planning.ALIAS:
                row["reason"] = outcome.get("reason") if action != planning.ALIAS else row["reason"]
        wait = waited.get(content)
        if wait is not None and (outcome is not None or action in (planning.ALIAS, planning.POLL)):
            row["state"] = wait["state"]
            if wait.get("reason") and action != planning.ALIAS:
                row["reason"] = wait["reason"]
        if dry_run and action in planning.WORK_ACTIONS:
            row["state"] = f"would_{action}"
        elif action in planning.WORK_ACTIONS and outcome is None and platform in missing_platforms:
            row["state"] = "not_sent"
            row["reason"] = f"the {platform} submit task did not finish; see its log"
        if action == "error":
            row["state"] = "error"
        if action == planning.REFUSED:
            row["state"] = REFUSED_STATE
            if strict:
                failures.append(f"{platform}: {row['reason']}")
        elif action != planning.ALIAS and not dry_run:
            if row["state"] == FAILED:
                failures.append(f"{platform}: {row['key']}: {row['reason']}")
            elif row["state"] == REJECTED and (
                (outcome and outcome.get("this_run")) or (wait is not None and wait.get("this_run"))
            ):
                failures.append(f"{platform}: {row['key']} rejected: {row['reason']}")
            elif row["state"] == REFUSED_STATE and outcome is not None and strict:
                failures.append(f"{platform}: {row['reason']}")
            if row["state"] == READY and (outcome is not None or wait is not None) and row.get("remote_id"):
                ready_now.setdefault(platform, []).append(str(row["remote_id"]))
        rows.append({k: v for k, v in row.items() if v is not None})
    for platform in sorted(missing_platforms):
        failures.append(f"{platform}: a submit task did not finish; its assets were not all sent")
    failures.extend(wait_errors)
    for platform in sorted(errored):
        failures.append(f"{platform}: {(plan['platforms'][platform] or {}).get('error')}")
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        per = counts.setdefault(row["platform"], {})
        state = row.get("state") or row["action"]
        per[state] = per.get(state, 0) + 1
    accounts = {p: i.get("account") for p, i in (plan.get("platforms") or {}).items()}
    asset_events = [
        {
            "uri": f"creative://{platform}/{accounts.get(platform)}",
            "extra": {"ready": len(ids), "remote_ids": ids[:100], "run_id": run_id},
        }
        for platform, ids in sorted(ready_now.items())
        if accounts.get(platform)
    ]
    report = {
        "run_id": run_id,
        "source": plan.get("source"),
        "dry_run": dry_run,
        "strict": strict,
        "listing": plan.get("listing"),
        "rows": rows,
        "counts": counts,
        "bytes_sent": bytes_sent,
        "failed": bool(failures),
        "failures": failures,
        "asset_events": asset_events,
        "archive_blocked": plan.get("archive_blocked"),
        "reused_plan_of": plan.get("reused_plan_of"),
    }
    report["table"] = format_report(report)
    if not dry_run or stored:
        ledger.finish_run(
            run_id,
            outcome="dry_run" if dry_run else ("failed" if failures else "success"),
            summary={**(stored.get("summary") or {}), "counts": counts, "failures": failures[:50]},
        )
    return report


def format_report(report: Mapping[str, Any], *, max_unchanged: int = 50) -> str:
    """The report as a text table; beyond ``max_unchanged`` rows, unchanged ready files are summarised."""
    rows = list(report.get("rows", []))
    unchanged = [r for r in rows if r["action"] in (planning.NONE, planning.ALIAS) and r.get("state") == READY]
    shown = rows if len(unchanged) <= max_unchanged else [r for r in rows if r not in unchanged]
    headers = ("file", "platform", "action", "state", "remote id", "reason")
    table = [headers] + [
        (
            str(r["key"]),
            r["platform"],
            r["action"],
            str(r.get("state") or ""),
            str(r.get("remote_id") or ""),
            str(r.get("reason") or "")[:160],
        )
        for r in sorted(shown, key=lambda r: (r["key"], r["platform"]))
    ]
    widths = [min(max(len(line[i]) for line in table), 60 if i < 5 else 160) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(widths[i])[: max(widths[i], 1)] if i < 5 else cell for i, cell in enumerate(line)).rstrip()
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(shown) < len(rows):
        lines.append(f"... and {len(rows) - len(shown)} unchanged rows already ready")
    title = f"creative sync {report.get('run_id')}{' (dry run: nothing sent)' if report.get('dry_run') else ''}"
    totals = "; ".join(
        f"{p}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
        for p, c in sorted(report.get("counts", {}).items())
    )
    footer = [f"totals: {totals or 'nothing'}", f"bytes sent: {human_bytes(report.get('bytes_sent') or 0)}"]
    if report.get("reused_plan_of"):
        footer.append(f"plan: nothing changed since the plan of run {report['reused_plan_of']}; reused")
    if report.get("archive_blocked"):
        footer.append(f"archive: {report['archive_blocked']}")
    if report.get("failures"):
        footer.append(f"FAILED: {len(report['failures'])} problem(s)")
        footer.extend(f"  - {f}" for f in report["failures"][:20])
    return "\n".join([title, *lines, *footer])


def raise_for_report(report: Mapping[str, Any]) -> None:
    """Fail the run (after every asset was handled) when any send failed or an asset was rejected."""
    if report.get("failed"):
        failures = list(report.get("failures") or [])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        raise SyncFailed(f"creative sync finished with {len(failures)} problem(s): " + "; ".join(failures[:10]) + more)
