"""The plan task: listing + rules + ledger -> the run's plan, kept in the ledger.

``plan_run`` lists the source, reads the file index and the asset records, decides every
file x platform (``sync.plan.build_plan``, pure) and stores the rows that have something to
say in the ledger (``creative_run_items``); it returns a ``PlanSummary``: counts, and one
``BatchRef`` per mapped submit task. Files with nothing to do are counted, not stored.

A plan without work is saved by its fingerprint (the plan's inputs, the listed keys, sizes
and mtimes, the ledger's marks): an unchanged rerun finds it and costs one listing.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import math
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_creative_provider import __version__
from airflow_creative_provider.creative import Creative, PlatformRules, Refusal
from airflow_creative_provider.exceptions import PlatformError
from airflow_creative_provider.sync import metadata as meta
from airflow_creative_provider.sync import plan as planning
from airflow_creative_provider.sync.ledger import Ledger, PlanRecord
from airflow_creative_provider.sync.params import SyncParams, SyncTarget, duplicate_accounts, platform_of
from airflow_creative_provider.sync.payloads import BatchRef, HookRegistry, PlanSummary, PlatformInfo, default_hooks
from airflow_creative_provider.sync.rules import Verdict, check
from airflow_creative_provider.sync.source import (
    IndexEntry,
    Scan,
    _include_matcher,
    index_entries,
    list_source,
    matches_include,
    read_manifest,
    scan_source,
)
from airflow_creative_provider.sync.states import Action, Change, State

log = logging.getLogger(__name__)

#: the most mapped submit tasks of one run (all platforms): Airflow's ``max_map_length`` is
#: 1024, and the plan task's XCom (their references) stays small. Beyond it batches grow.
MAX_BATCHES = 100
#: listing errors kept in the plan's XCom (all are in the plan task's log).
MAX_LISTED_ERRORS = 20
#: skipped links outside the source named in the report (the plan log names every one).
MAX_LISTED_LINKS = 10


@dataclass(frozen=True)
class _Prepared:
    """What every plan starts from: params, the listing's first half, the platform accounts."""

    params: SyncParams
    scan: Scan
    targets: list[planning.Target]
    rules: dict[str, PlatformRules]
    platforms: dict[str, PlatformInfo]
    #: digest of the plan's inputs besides files and ledger; None when no saved plan may serve.
    inputs: str | None
    #: the source's metadata manifest (``sync.metadata``), None when it has none.
    manifest: meta.Manifest | None = None


def resolve_targets(
    params: SyncParams, hooks: HookRegistry
) -> tuple[list[planning.Target], dict[str, PlatformRules], dict[str, PlatformInfo]]:
    """Each platform account's rules and account; one that cannot be used gets an ``error``.

    Keyed by target name (``SyncTarget.name``: the platform, or ``platform:conn_id`` where the
    run syncs several accounts of it); each ``planning.Target`` carries that name as its
    ``platform``, so the plan, its rows and batches are per account. A connection reaching an
    account another connection of the run already reaches is refused (``duplicate_accounts``).
    """
    targets: list[planning.Target] = []
    rules: dict[str, PlatformRules] = {}
    infos: dict[str, PlatformInfo] = {}
    resolved: list[tuple[SyncTarget, str | None]] = []
    for sync_target in params.targets:
        name, platform, conn_id = sync_target.name, sync_target.platform, sync_target.conn_id
        try:
            cls = hooks(platform)
            hook = cls(conn_id)
            account = str(hook.account)
            # the connection may raise a size guard of this project (extra max_file_bytes)
            rules[name] = getattr(hook, "connection_rules", None) or cls.rules
        except ImportError:
            infos[name] = PlatformInfo(
                platform, conn_id, error=f"the {platform} integration is not installed in this provider version"
            )
            resolved.append((sync_target, None))
            continue
        except PlatformError as exc:
            infos[name] = PlatformInfo(platform, conn_id, error=str(exc))
            resolved.append((sync_target, None))
            continue
        resolved.append((sync_target, account))
        target = planning.Target(
            platform=name,
            account=account,
            supports_archive=bool(getattr(cls, "supports_archive", False)),
            supports_versions=bool(getattr(cls, "supports_versions", False)),
            supports_metadata_update=platform in meta.UPDATABLE,
        )
        targets.append(target)
        infos[name] = PlatformInfo(platform, conn_id, account=account, supports_archive=target.supports_archive)
    for name, why in duplicate_accounts(resolved).items():
        infos[name] = dataclasses.replace(infos[name], error=why)
        targets = [t for t in targets if t.platform != name]
        rules.pop(name, None)
    return targets, rules, infos


def digest(value: Any) -> str:
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


def _prepare(params: SyncParams, ledger: Ledger, hooks: HookRegistry) -> _Prepared:
    # the cyclic collector is paused while the scan makes 100,000 acyclic entries: its full
    # collections would walk every object of the task process (Airflow's included) meanwhile
    paused = gc.isenabled()
    gc.disable()
    try:
        scan = scan_source(
            params.source,
            include=params.include,
            min_age_seconds=params.min_age_seconds,
            conn_id=params.source_conn_id,
            follow_outside_links=params.follow_outside_links,
        )
    finally:
        if paused:
            gc.enable()
    targets, rules, infos = resolve_targets(params, hooks)
    manifest = load_manifest(scan)
    inputs = None
    if not params.checksum and len(targets) == len(infos):
        inputs = digest(
            {
                "version": __version__,
                "params": params.reuse_key(),
                "targets": targets,
                "rules": {platform: rules[platform] for platform in sorted(rules)},
                "metadata": manifest.digest if manifest else None,
            }
        )
    return _Prepared(params, scan, targets, rules, infos, inputs, manifest)


def load_manifest(scan: Scan) -> meta.Manifest | None:
    """The source's ``creatives.yaml``, parsed (from a folder, ``file://`` or ``s3://`` alike).

    :raises ManifestError: it is not valid YAML or names a field this project does not know;
        nothing is sent (the message says where).
    """
    raw = read_manifest(scan)
    if raw is None:
        return None
    return meta.Manifest.parse(raw, where=f"{scan.source.rstrip('/')}/{meta.MANIFEST_NAME}")


def _fingerprint(ledger: Ledger, prepared: _Prepared) -> str:
    """The digest a saved plan is found by: inputs, listed files (size, mtime) and the ledger's marks."""
    marks = ledger.marks(prepared.params.source, [(platform_of(t.platform), t.account) for t in prepared.targets])
    return digest([prepared.params.source, prepared.inputs, prepared.scan.fingerprint(), marks])


@dataclass
class _Fresh:
    """A plan made afresh: the listing's summary, the decisions and the uploads' file facts (by key)."""

    listing: dict[str, Any]
    plan: planning.Plan
    creatives: dict[str, Creative]
    #: the manifest's metadata per file and platform (what uploads and updates send).
    metadata: _MetadataPlan | None = None


def _plan_afresh(prepared: _Prepared, ledger: Ledger, *, run_id: str | None = None) -> _Fresh:
    """Facts (from the file index, or read), rules and ledger records -> the decisions.

    The cyclic garbage collector is paused meanwhile: planning makes hundreds of thousands of
    short-lived, acyclic objects, and each collection would walk all of them again.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _decide(prepared, ledger, run_id=run_id)
    finally:
        if paused:
            gc.enable()


def _decide(prepared: _Prepared, ledger: Ledger, *, run_id: str | None) -> _Fresh:
    """Facts (from the file index, or read), rules and ledger records -> the decisions."""
    params, scan = prepared.params, prepared.scan
    previous = ledger.file_index(params.source)
    listing = list_source(params.source, index=previous, checksum=params.checksum, scan=scan)
    # only a file this listing could have seen is gone when absent: a narrow include or a
    # recent file leaves the rest of the index as it was
    included = _include_matcher(params.include)  # None: every key (no per-key glob over 100,000 keys)
    if included is None and not scan.recent:
        in_scope: Mapping[str, IndexEntry] = previous
    else:
        in_scope = {k: e for k, e in previous.items() if k not in scan.recent and matches_include(k, params.include)}
    ledger.update_file_index(
        params.source,
        index_entries(listing, only_read=True),
        complete=listing.ok,
        previous=in_scope,
        present=(c.key for c in listing.files),
    )
    del previous, in_scope  # the listing holds what it needs of the index
    log.info(
        "Listed %s: %d files (%d read, %d from the index), skipped %s, %d errors",
        params.source,
        len(listing.files),
        listing.hashed,
        len(listing.files) - listing.hashed,
        listing.skipped or "none",
        len(listing.errors),
    )
    rules = prepared.rules
    verdict_cache: dict[tuple[str, str], Verdict] = {}

    fields = _MetadataPlan(prepared.manifest, ledger, {t.platform: t.account for t in prepared.targets})

    def verdicts(creative: Creative, platform: str) -> Verdict:
        key = (creative.key, platform)
        if key not in verdict_cache:
            verdict = check(creative, platform_of(platform), rules[platform])
            if verdict.accepted:
                verdict = fields.verdict(creative, platform, verdict)
            verdict_cache[key] = verdict
        return verdict_cache[key]

    plan = planning.build_plan(
        listing.files,
        verdicts,
        _RecordsOnDemand(ledger, {t.platform: t.account for t in prepared.targets}),
        prepared.targets,
        source=params.source,
        listing_ok=listing.ok,
        archive_removed=params.archive_removed,
        max_archive=params.max_archive,
        in_scope=None
        if included is None and not scan.recent
        else lambda key: key not in scan.recent and matches_include(key, params.include),
        unchanged_rows=False,
        metadata_changed=fields.changed if fields.needed() else None,
        no_update_reason=lambda name: meta.NO_UPDATE.get(
            platform_of(name), f"{platform_of(name)} documents no metadata update"
        ),
    )
    if any(row.change == Change.METADATA for row in plan.rows):
        by_key = {c.key: c for c in listing.files}  # once: not once per row (450,000 rows x 90,000 files)
        plan.rows = [fields.refuse_bad_update(row, by_key) for row in plan.rows]
    _record_refusals(ledger, params.source, listing.files, plan, prepared.targets, run_id=run_id)
    # only the files to upload or update are kept past the plan (their facts and metadata go in
    # the items), not all 100,000
    kept = {r.key for r in plan.rows if r.action in (Action.UPLOAD, Action.UPDATE)}
    return _Fresh(listing.summary(), plan, {c.key: c for c in listing.files if c.key in kept}, fields)


class _MetadataPlan:
    """What the manifest gives each file on each platform, checked, and how it compares with the ledger.

    Keyed by target name (the platform, or ``platform:conn_id`` for one of several accounts): the
    fields are the platform's, the digests sent are the account's.
    """

    def __init__(self, manifest: meta.Manifest | None, ledger: Ledger, accounts: Mapping[str, str]) -> None:
        self.manifest = manifest
        self._ledger = ledger
        self._accounts = accounts
        self._digests: dict[str, dict[str, str]] = {}

    def resolve(self, creative: Creative, platform: str) -> dict[str, Any] | meta.MetadataRefused:
        return meta.resolve(self.manifest, creative, platform_of(platform))

    def verdict(self, creative: Creative, platform: str, verdict: Verdict) -> Verdict:
        """The rules' verdict, refused when a metadata value does not fit the platform."""
        fields = self.resolve(creative, platform)
        if isinstance(fields, meta.MetadataRefused):
            refusal = Refusal(creative.key, platform_of(platform), fields.rule, fields.reason)
            return dataclasses.replace(verdict, refusals=(refusal,), warnings=())
        return verdict

    def sent_digests(self, platform: str) -> dict[str, str]:
        if platform not in self._digests:
            self._digests[platform] = self._ledger.metadata_digests(platform_of(platform), self._accounts[platform])
        return self._digests[platform]

    def needed(self) -> bool:
        """Without a manifest, and no metadata recorded, every file keeps its default: nothing to compare."""
        return self.manifest is not None or any(self.sent_digests(p) for p in self._accounts)

    def changed(self, creative: Creative, platform: str) -> bool:
        """The metadata the manifest gives now differs from what was sent with this content (the
        default when none was recorded)."""
        wanted = self.resolve(creative, platform)
        if isinstance(wanted, meta.MetadataRefused):
            return True  # refused below, with its message
        sent = self.sent_digests(platform).get(creative.sha256 or "")
        if sent is None:
            default = meta.resolve(None, creative, platform_of(platform))
            sent = meta.digest(default if isinstance(default, dict) else None)
        return meta.digest(wanted) != sent

    def refuse_bad_update(self, row: planning.PlanRow, creatives: Mapping[str, Creative]) -> planning.PlanRow:
        """A sent file whose new metadata a platform cannot take: refused with the file, field and rule."""
        if row.change != Change.METADATA or row.key not in creatives:
            return row
        fields = self.resolve(creatives[row.key], row.platform)
        if not isinstance(fields, meta.MetadataRefused):
            return row
        return dataclasses.replace(
            row, action=Action.REFUSED, state=State.REFUSED, rule=fields.rule, reason=fields.reason
        )

    def fields(self, creative: Creative, platform: str) -> dict[str, Any] | None:
        resolved = self.resolve(creative, platform)
        return resolved if isinstance(resolved, dict) else None


class _RecordsOnDemand:
    """Each target's asset records (a ``plan.RecordReader``), read when the plan comes to that
    target and not kept: one platform's records in memory at a time (90,000 of them, not 450,000)."""

    def __init__(self, ledger: Ledger, accounts: Mapping[str, str]) -> None:
        self._ledger = ledger
        self._accounts = accounts

    # keyed by target name (``platform:conn_id`` for one of several accounts); the ledger by platform
    def lines(self, platform: str) -> dict[str, set[str]]:
        return self._ledger.record_lines(platform_of(platform), self._accounts[platform])

    def records(self, platform: str, shas: Collection[str] | None = None) -> list[PlanRecord]:
        return self._ledger.plan_records(platform_of(platform), self._accounts[platform], shas)


def _record_refusals(
    ledger: Ledger,
    source: str,
    files: list[Creative],
    plan: planning.Plan,
    targets: list[planning.Target],
    *,
    run_id: str | None,
) -> None:
    """Keep each listed file's refusals by local rules (per name x platform) for the Creatives page and its API."""
    accounts = {t.platform: t.account for t in targets}
    refusals = [
        {
            "file_key": row.key,
            "platform": platform_of(row.platform),
            "account": accounts[row.platform],
            "sha256": row.sha256,
            "rule": row.rule,
            "reason": row.reason,
        }
        for row in plan.rows
        if row.action == Action.REFUSED and row.platform in accounts
    ]
    targets_by_platform = [(platform_of(name), account) for name, account in accounts.items()]
    ledger.replace_refusals(source, (c.key for c in files), targets_by_platform, refusals, run_id=run_id)


def batch_size_for(params: SyncParams, work: int, platforms: int) -> int:
    """``batch_size``, grown where a platform's work would need more than its share of ``MAX_BATCHES``."""
    share = max(1, MAX_BATCHES // max(1, platforms))
    return max(params.batch_size, math.ceil(work / share)) if work else params.batch_size


def _items(
    fresh: _Fresh, params: SyncParams, infos: Mapping[str, PlatformInfo], batches: dict[tuple[str, int], int]
) -> Iterator[dict[str, Any]]:
    """The rows to store (all but "nothing to do") with their batch, made one at a time as the
    ledger stores them (``save_run_items``); ``batches`` gets the size of each (platform, batch)."""
    work_rows: dict[str, int] = {}
    for row in fresh.plan.rows:
        if row.is_work:
            work_rows[row.platform] = work_rows.get(row.platform, 0) + 1
    usable = [name for name, info in infos.items() if not info.error]
    sizes = {p: batch_size_for(params, n, len(usable)) for p, n in work_rows.items()}
    seen: dict[str, int] = {}
    for seq, row in enumerate(r for r in fresh.plan.rows if r.action != Action.NONE):
        batch = None
        creative = None
        if row.is_work and not params.dry_run:
            n = seen.get(row.platform, 0)
            seen[row.platform] = n + 1
            batch = n // sizes[row.platform]
            batches[(row.platform, batch)] = batches.get((row.platform, batch), 0) + 1
            if row.action == Action.UPLOAD:
                creative = _creative_json(fresh.creatives[row.key])
        fields = None
        if row.action in (Action.UPLOAD, Action.UPDATE) and fresh.metadata is not None and row.key in fresh.creatives:
            fields = fresh.metadata.fields(fresh.creatives[row.key], row.platform)
        yield (
            {
                "seq": seq,
                "platform": row.platform,
                "batch": batch,
                "file_key": row.key,
                "sha256": row.sha256,
                "size": row.size,
                "action": str(row.action),
                "change": row.change,
                "resume": int(row.resume),
                "previous_id": row.previous_id,
                "alias_of": row.alias_of,
                "rule": row.rule,
                "creative": creative,
                "state": row.state,
                "remote_id": row.remote_id,
                "version": row.version,
                "reason": row.reason,
                "metadata": fields,
            }
        )


#: what an upload item keeps of its file (``Creative.to_dict`` without its deep copy: thousands per plan).
_CREATIVE_FIELDS = tuple(f.name for f in dataclasses.fields(Creative) if f.name != "extra")


def _creative_json(creative: Creative) -> dict[str, Any]:
    return {name: getattr(creative, name) for name in _CREATIVE_FIELDS}


def _unchanged(plan: planning.Plan) -> dict[str, dict[str, int]]:
    """``{platform: {state: n}}`` of the files with nothing to do (counted, or rows of action ``none``)."""
    counts = {platform: dict(per) for platform, per in plan.unchanged.items()}
    for row in plan.rows:
        if row.action == Action.NONE:
            per = counts.setdefault(row.platform, {})
            state = str(row.state)
            per[state] = per.get(state, 0) + 1
    return counts


def _capped_listing(summary: Mapping[str, Any], links_outside: Sequence[str] = ()) -> dict[str, Any]:
    """The listing for the plan's XCom: its first errors and the first skipped outside links (keys)."""
    errors = list(summary.get("errors") or [])
    capped = {**summary, "errors": errors[:MAX_LISTED_ERRORS], "errors_total": len(errors)}
    if links_outside:
        capped["links_outside"] = list(links_outside[:MAX_LISTED_LINKS])
    return capped


def _save_if_idle(ledger: Ledger, prepared: _Prepared, fresh: _Fresh, *, run_id: str) -> str | None:
    """Save a plan that found no work (the next unchanged run reuses it); its fingerprint, else None."""
    if prepared.inputs is None or fresh.listing["errors"] or any(r.is_work for r in fresh.plan.rows):
        return None
    fingerprint = _fingerprint(ledger, prepared)  # after this plan's index update
    summary = {
        "counts": fresh.plan.counts(),
        "unchanged": _unchanged(fresh.plan),
        "archive_blocked": fresh.plan.archive_blocked,
        "planned_by": run_id,
    }
    notable = [r for r in fresh.plan.rows if r.action != Action.NONE]
    ledger.save_plan(
        fingerprint,
        source=prepared.params.source,
        inputs=prepared.inputs,
        plan=summary,
        rows=planning.pack_rows(notable),
    )
    return fingerprint


def plan_run(
    params: Mapping[str, Any] | SyncParams,
    *,
    run_id: str,
    ledger: Ledger | None = None,
    hooks: HookRegistry | None = None,
) -> PlanSummary:
    """List the source, apply the rules, read the ledger, store the run's plan; return its summary.

    A run that finds the same files (key, size, mtime) and the same ledger as a saved plan
    without work, with the same params, accounts and rules, reuses that plan: it costs one
    listing and a few ledger reads (``checksum`` always plans afresh). Plans without work are
    saved by the plan task, and by the report task of a run that sent anything
    (``prepare_next_plan``), so even the first rerun after a sync reuses one.

    :param params: the DAG's params (checked by ``SyncParams.parse``).
    :param run_id: the DAG run's id (claims and ledger rows carry it).
    :param ledger: the ledger; ``Ledger()`` (connection ``creative_ledger`` or SQLite) by default.
    :param hooks: platform name -> hook class; the package's registry by default.
    :return: the ``PlanSummary``: counts per platform and the batches (references to the
        ledger's rows of this run), none in a dry run.
    """
    ledger = ledger or Ledger()
    try:
        p = params if isinstance(params, SyncParams) else SyncParams.parse(params)
    except Exception as exc:
        _record_failed_run(ledger, run_id, params, exc)
        raise
    hooks = hooks or default_hooks()
    started = time.monotonic()
    try:
        prepared = _prepare(p, ledger, hooks)
    except Exception as exc:
        _record_failed_run(ledger, run_id, p.to_json(), exc)
        raise
    fingerprint = _fingerprint(ledger, prepared) if prepared.inputs is not None else None
    saved = ledger.saved_plan(fingerprint) if fingerprint else None
    infos = prepared.platforms
    batch_sizes: dict[tuple[str, int], int] = {}
    if saved is not None:
        reused_plan_of: str | None = saved["planned_by"]
        listing = prepared.scan.summary()
        counts: dict[str, dict[str, int]] = saved["counts"]
        unchanged: dict[str, dict[str, int]] = saved.get("unchanged") or {}
        archive_blocked = saved.get("archive_blocked")
        plan_rows: Any = {"plan": fingerprint}
        new = archive = 0
        log.info(
            "Listed %s: %d files, skipped %s, %d errors; nothing changed since the plan of run %s (same files by "
            "size and mtime, same ledger, params and rules): reused, no file read",
            p.source,
            prepared.scan.file_count,
            prepared.scan.skipped or "none",
            len(prepared.scan.errors),
            reused_plan_of,
        )
    else:
        reused_plan_of = None
        fresh = _plan_afresh(prepared, ledger, run_id=run_id)
        listing = fresh.listing
        counts = fresh.plan.counts()
        unchanged = _unchanged(fresh.plan)
        archive_blocked = fresh.plan.archive_blocked
        ledger.save_run_items(run_id, _items(fresh, p, infos, batch_sizes))
        saved_as = _save_if_idle(ledger, prepared, fresh, run_id=run_id)
        plan_rows = {"plan": saved_as} if saved_as else None
        uploads = [r for r in fresh.plan.rows if r.action == Action.UPLOAD]
        new = len({r.sha256 for r in uploads if r.change == Change.NEW})
        archive = sum(1 for r in fresh.plan.rows if r.action == Action.ARCHIVE)
        for platform in list(infos):
            infos[platform] = dataclasses.replace(
                infos[platform], new=sum(1 for r in uploads if r.platform == platform and r.change == Change.NEW)
            )
    for error in listing["errors"][:MAX_LISTED_ERRORS]:
        log.warning("Listing error: %s", error)
    for platform, info in list(infos.items()):
        if not info.error:
            infos[platform] = dataclasses.replace(info, counts=counts.get(platform, {}))
    batches: list[BatchRef] = []
    for name, info in infos.items():  # one platform account each
        platform, target = info.platform, (name if name != info.platform else None)
        if info.error:
            batches.append(
                BatchRef(
                    run_id, platform, 0, info.conn_id, None, 0, p.concurrency, p.wait_for_ready, info.error, target
                )
            )
            continue
        for (batch_platform, index), size in sorted(batch_sizes.items()):
            if batch_platform == name:
                batches.append(
                    BatchRef(
                        run_id,
                        platform,
                        index,
                        info.conn_id,
                        info.account,
                        size,
                        p.concurrency,
                        p.wait_for_ready,
                        target=target,
                    )
                )
    summary = PlanSummary(
        run_id=run_id,
        source=p.source,
        dry_run=p.dry_run,
        wait_for_ready=p.wait_for_ready,
        strict=p.strict,
        listing=_capped_listing(listing, () if p.follow_outside_links else prepared.scan.links_outside),
        platforms=infos,
        counts=counts,
        unchanged=unchanged,
        batches=tuple(batches),
        archive_blocked=archive_blocked,
        reused_plan_of=reused_plan_of,
        new=new,
        archive=archive,
        include=p.include,
    )
    record = {**summary.to_json(), "seconds": round(time.monotonic() - started, 3)}
    record.pop("batches")
    record["batches"] = len(batches)
    ledger.start_run(
        run_id, source=p.source, dry_run=p.dry_run, params=p.to_json(), summary=record, plan_rows=plan_rows
    )
    for platform, info in infos.items():
        if info.error:
            log.error("%s: %s", platform, info.error)
        else:
            log.info("%s (account %s): %s", platform, info.account, dict(info.counts) or "nothing to do")
    if archive_blocked:
        log.warning("Archiving skipped: %s", archive_blocked)
    return summary


def _record_failed_run(ledger: Ledger, run_id: str, params: Any, error: Exception) -> None:
    """A run that could not even plan (bad params, a missing source) is still on the Sync runs tab, with its error."""
    raw = params.to_json() if isinstance(params, SyncParams) else dict(params or {})
    source = str(raw.get("source") or "") or None
    message = f"the run could not start: {error}"
    try:
        ledger.start_run(
            run_id,
            source=source or "",
            dry_run=bool(raw.get("dry_run")),
            params=json.loads(json.dumps(raw, default=str)),
            summary={},
            plan_rows=None,
        )
        ledger.finish_run(run_id, outcome="failed", summary={"error": message, "failures": [message]})
    except Exception:  # noqa: BLE001 - the run fails with its own error whatever happens here
        log.warning("Could not record the failed run %s in the ledger", run_id, exc_info=True)


def prepare_next_plan(
    run_id: str, *, ledger: Ledger | None = None, hooks: HookRegistry | None = None
) -> dict[str, Any] | None:
    """Plan the next run now, at the end of a run that sent anything, and save that plan if it has no work.

    The rerun of an unchanged folder then reuses it and costs one listing, instead of reading
    every ledger record again right after they changed. Nothing is sent or recorded; a dry
    run, ``checksum`` or a platform that cannot be used prepares nothing.

    :return: ``{"work": n, "saved": bool}``, or None when nothing was prepared.
    """
    ledger = ledger or Ledger()
    stored = ledger.run_params(run_id)
    if not stored or stored.get("dry_run"):
        return None
    prepared = _prepare(SyncParams.parse(stored), ledger, hooks or default_hooks())
    if prepared.inputs is None:
        return None
    if ledger.saved_plan(_fingerprint(ledger, prepared)) is not None:
        return {"work": 0, "saved": True}
    fresh = _plan_afresh(prepared, ledger, run_id=run_id)
    saved = _save_if_idle(ledger, prepared, fresh, run_id=run_id)
    work = sum(1 for r in fresh.plan.rows if r.is_work)
    log.info(
        "Next run planned ahead: %s",
        "nothing to do; the plan is saved for it" if saved else f"{work} items of work, planned again then",
    )
    return {"work": work, "saved": bool(saved)}


def approval_summary(plan: PlanSummary) -> dict[str, Any]:
    """What an approver must see: new creatives to send and assets to archive, per platform (a few lines)."""
    lines = [
        f"| {p} | {info.new} | {info.counts.get(Action.ARCHIVE, 0)} |"
        for p, info in sorted(plan.platforms.items())
        if not info.error
    ]
    body = "\n".join(
        [
            f"Source `{plan.source}`: **{plan.new} new creatives** to send, **{plan.archive} assets** to archive.",
            "",
            "| platform | new | archive |",
            "|---|---|---|",
            *lines,
            "",
            "Approve to send; reject to end this run without sending anything.",
        ]
    )
    return {"new": plan.new, "archive": plan.archive, "body": body}


def needs_approval(plan: PlanSummary, threshold: int) -> bool:
    """Ask a person first when the plan archives anything or sends more than ``threshold`` new creatives."""
    return bool(threshold) and not plan.dry_run and (plan.archive > 0 or plan.new > threshold)


__all__ = ["MAX_BATCHES", "approval_summary", "batch_size_for", "plan_run", "prepare_next_plan", "resolve_targets"]
