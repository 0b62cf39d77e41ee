"""The plan: a pure function from source facts x ledger records x rules to work per platform.

No I/O happens here (the records come through a ``RecordReader``, a mapping in tests), so
every decision is unit tested on plain values:

* new content -> ``upload``; the same content under a second name -> ``alias`` (sent once);
* changed content under a known name -> ``upload`` as a new version of the earlier asset
  where the platform has versions (``previous_id``), else as a new asset;
* an intent without a remote id, or a failed send -> ``upload`` with ``resume`` (the hook
  looks the asset up first, so nothing is created twice);
* sent and not terminal -> ``poll``; ready or rejected -> ``none`` (the state and reason
  are reported); refused by a local rule -> ``refused`` with the reason;
* content no longer in the source -> reported (files the listing left out on purpose, by
  ``include`` or ``min_age_seconds``, are not "removed"); with ``archive_removed`` it is ``archive``d
  on platforms that can archive and ``keep`` on the others. Nothing is archived when the
  listing had errors, nor when more than ``max_archive`` assets would be (``would_archive``,
  like rclone's ``--max-delete``); an asset that gets a new version is never archived.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, Protocol

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.sync.ledger import AssetRecord, PlanRecord, record_line
from airflow_creative_provider.sync.rules import Verdict
from airflow_creative_provider.sync.states import WORK_ACTIONS, Action, Change, State

ARCHIVED, FAILED, PENDING, PROCESSING = State.ARCHIVED, State.FAILED, State.PENDING, State.PROCESSING
READY, REJECTED, SENDING = State.READY, State.REJECTED, State.SENDING
UPLOAD, POLL, NONE, ALIAS = Action.UPLOAD, Action.POLL, Action.NONE, Action.ALIAS
REFUSED, ARCHIVE, KEEP, WOULD_ARCHIVE = Action.REFUSED, Action.ARCHIVE, Action.KEEP, Action.WOULD_ARCHIVE
NEW, CHANGED, RETRY, RESTORED = Change.NEW, Change.CHANGED, Change.RETRY, Change.RESTORED
#: an asset record as the plan reads it: whole, or only the fields a plan reads (``Ledger.plan_records``).
Record = AssetRecord | PlanRecord
#: states in which a file sent under the same single name has nothing to do.
_SETTLED = frozenset({READY, REJECTED})


@dataclass(frozen=True)
class Target:
    """One platform account to sync to.

    :param supports_archive: the platform can archive or trash an asset through its API.
    :param supports_versions: a changed file becomes a new version of its earlier asset.
    """

    platform: str
    account: str
    supports_archive: bool = False
    supports_versions: bool = False
    #: the platform documents an update of an asset's metadata without its file (``sync.metadata``).
    supports_metadata_update: bool = False


@dataclass(frozen=True)
class PlanRow:
    """One decision: a file (or a removed content) on one platform."""

    platform: str
    key: str
    action: str
    sha256: str | None = None
    size: int | None = None
    state: str | None = None
    remote_id: str | None = None
    version: str | None = None
    previous_id: str | None = None
    change: str | None = None
    resume: bool = False
    alias_of: str | None = None
    reason: str | None = None
    rule: str | None = None

    @property
    def is_work(self) -> bool:
        return self.action in WORK_ACTIONS

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """The row as a dict; ``compact`` leaves out empty fields (None, False)."""
        if not compact:
            return {name: getattr(self, name) for name in _ROW_FIELDS}
        return {
            name: value for name in _ROW_FIELDS if (value := getattr(self, name)) is not None and value is not False
        }


_ROW_FIELDS = tuple(PlanRow.__dataclass_fields__)
_ROW_VALUES = attrgetter(*_ROW_FIELDS)


def pack_rows(rows: Iterable[PlanRow]) -> dict[str, Any]:
    """Rows as one field list + value lists: compact JSON for the ledger's run record."""
    return {"fields": list(_ROW_FIELDS), "rows": [_ROW_VALUES(row) for row in rows]}


#: the rules' verdict on one file for one platform: a mapping ``{(key, platform): Verdict}``
#: or a function ``(creative, platform) -> Verdict`` called only where a decision needs it.
Verdicts = Mapping[tuple[str, str], Verdict] | Callable[[Creative, str], Verdict | None]
#: ``(creative, platform) -> bool``: the metadata the manifest gives this file now differs
#: from what was sent with its content (``creative.sha256``) to the platform (``sync.metadata``).
MetadataChanged = Callable[[Creative, str], bool]


class RecordReader(Protocol):
    """Where a plan reads one target's ledger records (the ledger's, or a mapping's in tests).

    The common rerun needs only ``lines`` (compared with the listing as sets); full records are
    read only for the contents that need a decision.
    """

    def lines(self, platform: str) -> Mapping[str, set[str]]:
        """Every record of the target as a ``record_line``, by state."""
        ...

    def records(self, platform: str, shas: Collection[str] | None = None) -> Sequence[Record]:
        """The target's records (only those of ``shas`` when given)."""
        ...


class MappingRecords:
    """A ``RecordReader`` over records in memory: ``{platform: [record, ...]}``."""

    def __init__(self, records: Mapping[str, Iterable[Record]]) -> None:
        self._records = records

    def lines(self, platform: str) -> Mapping[str, set[str]]:
        by_state: dict[str, set[str]] = {}
        for r in self._records.get(platform, ()):
            by_state.setdefault(r.state, set()).add(record_line(r.sha256, r.file_key))
        return by_state

    def records(self, platform: str, shas: Collection[str] | None = None) -> Sequence[Record]:
        every = list(self._records.get(platform, ()))
        return every if shas is None else [r for r in every if r.sha256 in shas]


def _verdict(verdicts: Verdicts, creative: Creative, platform: str) -> Verdict | None:
    if callable(verdicts):
        return verdicts(creative, platform)
    return verdicts.get((creative.key, platform))


@dataclass
class Plan:
    """Every decision of one run, per platform; ``work`` is what the submit tasks do.

    :param unchanged: ``{platform: {state: n}}`` of the files with nothing to do that were
        counted instead of kept as rows (``build_plan(..., unchanged_rows=False)``).
    """

    rows: list[PlanRow] = field(default_factory=list)
    listing_ok: bool = True
    archive_blocked: str | None = None
    unchanged: dict[str, dict[str, int]] = field(default_factory=dict)

    def for_platform(self, platform: str) -> list[PlanRow]:
        return [r for r in self.rows if r.platform == platform]

    def work(self, platform: str) -> list[PlanRow]:
        return [r for r in self.rows if r.platform == platform and r.is_work]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{platform: {action: n}}`` (counted unchanged files included, as ``none``)."""
        result: dict[str, dict[str, int]] = {}
        for platform, per_state in self.unchanged.items():
            if sum(per_state.values()):
                result.setdefault(platform, {})[str(NONE)] = sum(per_state.values())
        for row in self.rows:
            per = result.setdefault(row.platform, {})
            action = str(row.action)
            per[action] = per.get(action, 0) + 1
        return result


def build_plan(
    files: Sequence[Creative],
    verdicts: Verdicts,
    records: Mapping[str, Iterable[Record]] | RecordReader,
    targets: Sequence[Target],
    *,
    source: str,
    listing_ok: bool = True,
    archive_removed: bool = False,
    max_archive: int = 10,
    in_scope: Callable[[str], bool] | None = None,
    unchanged_rows: bool = True,
    metadata_changed: MetadataChanged | None = None,
    no_update_reason: Callable[[str], str] | None = None,
) -> Plan:
    """Decide the work of one run (no I/O but the ``records`` reader's).

    With ``unchanged_rows=False`` (what a sync does) each target's records are first compared
    with the listing as ``record_line`` sets; full records are read only for the contents that
    need a decision, all of them only when many do (a few hundred milliseconds at 90,000
    records, where reading them all took a second).

    :param files: the creatives listed in the source (with sha256).
    :param verdicts: the platforms' rules on each file: ``{(key, platform): Verdict}`` or a
        function ``(creative, platform) -> Verdict``, called only for files that need a
        decision (content already ready under the same single name needs none).
    :param records: ledger records per target (``{platform: [record, ...]}``), or a
        ``RecordReader`` that reads them when needed.
    :param targets: the platform accounts to sync to.
    :param source: the source's identity; only its own records are considered removed.
    :param listing_ok: the listing had no errors (else nothing is archived).
    :param archive_removed: archive assets whose content left the source.
    :param max_archive: the most assets archived in one run; above it nothing is archived.
    :param in_scope: ``key -> bool``, the keys this listing covers; a record whose key is
        outside (excluded by ``include``, or a file too recent to list) is not removed.
    :param unchanged_rows: keep a row for each file already ready or rejected under the same
        single name; else they are only counted (``Plan.unchanged``), the cheap way at scale.
    :param metadata_changed: whether a sent file's metadata changed (``sync.metadata``): such a
        file is an ``update`` where the target supports one, else ``keep`` with
        ``no_update_reason(platform)`` (what happens instead).
    """
    plan = Plan(listing_ok=listing_ok)
    reader: RecordReader = MappingRecords(records) if isinstance(records, Mapping) else records
    by_content: dict[str, list[Creative]] = {}
    for creative in sorted(files, key=_KEY):
        if creative.sha256:
            by_content.setdefault(creative.sha256, []).append(creative)
    present = set(by_content)
    # each content listed under one name, by the record line it matches when sent under that name
    single: dict[str, Creative] = (
        {}
        if unchanged_rows
        else {record_line(sha, found[0].key): found[0] for sha, found in by_content.items() if len(found) == 1}
    )
    candidates: list[PlanRow] = []
    for target in targets:
        counted = plan.unchanged.setdefault(target.platform, {})
        decide: Iterable[str] = by_content  # the contents that need a decision (rows)
        shas: set[str] | None = None  # the records to read in full; None: all of them
        if not unchanged_rows:
            lines = reader.lines(target.platform)
            hits = _count_settled(single, lines, target.platform, metadata_changed, counted)
            # the records not counted (none in the common rerun), then the digests a decision needs:
            # each a string the listing already holds, not 90,000 new ones
            others = [line for state, found in lines.items() for line in found - hits.get(state, set())]
            settled_count = sum(map(len, hits.values()))
            if not others and settled_count == len(by_content):
                continue  # the common case of a rerun: every content counted, no record of a removed one
            settled = {single[line].sha256 for found in hits.values() for line in found}
            decide = [sha for sha in by_content if sha not in settled]
            unlisted = {line.partition("\t")[0] for line in others} - present
            if (len(decide) + len(unlisted)) * 5 < settled_count + len(others):  # a few: by digest, else all
                shas = _shas_to_read(decide, by_content, lines) | unlisted
            del lines, hits, others, settled  # gone before the rows are made
        platform_records = list(reader.records(target.platform, shas))
        by_sha = dict(zip(map(_SHA256, platform_records), platform_records, strict=True))
        by_key: dict[str, Record] | None = None  # the latest live asset of each file key, when first needed
        previous_ids: set[str] = set()
        for sha256 in decide:
            creatives = by_content[sha256]
            found = by_sha.get(sha256)
            if by_key is None:
                by_key = _latest_by_key(platform_records, source)
            rows = _content_rows(target, sha256, creatives, verdicts, found, by_key, previous_ids)
            if metadata_changed is not None and found is not None:
                rows = [_metadata_row(r, target, found, creatives, metadata_changed, no_update_reason) for r in rows]
            plan.rows.extend(rows)
        # records of contents no longer listed (a set difference in C, not a pass over every record)
        missing = by_sha.keys() - present
        gone = [r for r in platform_records if r.sha256 in missing] if missing else []
        gone = [r for r in gone if r.source == source and r.remote_id]
        if gone and shas is not None:  # whether a removed asset lives on needs every listed content's record
            platform_records = list(reader.records(target.platform))
        live_ids = {r.remote_id for r in platform_records if r.sha256 in present and r.remote_id} if gone else set()
        for record in sorted(gone, key=lambda r: (r.file_key or "", r.sha256)):
            if in_scope is not None and record.file_key and not in_scope(record.file_key):
                continue
            if record.state == ARCHIVED or record.remote_id in live_ids:
                continue
            row = PlanRow(
                platform=target.platform,
                key=record.file_key or record.sha256,
                action=KEEP,
                sha256=record.sha256,
                size=record.size,
                state=record.state,
                remote_id=record.remote_id,
                version=record.version,
            )
            if record.remote_id in previous_ids:
                continue  # the same asset gets a new version in this run
            if not archive_removed:
                row = replace(row, reason="removed from the source; kept (archive_removed is off)")
            elif not target.supports_archive:
                row = replace(row, reason=f"removed from the source; kept ({target.platform} cannot archive)")
            elif not listing_ok:
                row = replace(row, reason="removed from the source; not archived because the listing had errors")
            else:
                row = replace(row, action=ARCHIVE, reason="removed from the source")
                candidates.append(row)
            plan.rows.append(row)
        # this platform's records go before the next platform's are read: one platform's in memory, not two
        del platform_records, by_sha, by_key, gone, live_ids
    if len(candidates) > max_archive:
        why = (
            f"{len(candidates)} assets would be archived, more than max_archive={max_archive}; "
            "nothing archived: raise max_archive to allow it"
        )
        plan.archive_blocked = why
        blocked = {id(r) for r in candidates}
        plan.rows = [replace(r, action=WOULD_ARCHIVE, reason=why) if id(r) in blocked else r for r in plan.rows]
    return plan


def _metadata_row(
    row: PlanRow,
    target: Target,
    record: AssetRecord,
    creatives: list[Creative],
    metadata_changed: MetadataChanged,
    no_update_reason: Callable[[str], str] | None,
) -> PlanRow:
    """A settled row (ready or rejected, same name) whose metadata changed: ``update``, or ``keep`` with why."""
    if row.action != NONE or row.key != record.file_key or record.state not in _SETTLED:
        return row
    creative = next((c for c in creatives if c.key == row.key), None)
    if creative is None or not metadata_changed(creative, target.platform):
        return row
    if target.supports_metadata_update:
        return replace(
            row, action=Action.UPDATE, change=Change.METADATA, reason="metadata changed: updated, the file is not sent"
        )
    why = no_update_reason(target.platform) if no_update_reason else f"{target.platform} has no metadata update"
    return replace(row, action=KEEP, change=Change.METADATA, reason=f"metadata changed; {why}")


_SHA256 = attrgetter("sha256")
_KEY = attrgetter("key")


def _count_settled(
    single: Mapping[str, Creative],
    lines: Mapping[str, set[str]],
    platform: str,
    metadata_changed: MetadataChanged | None,
    counted: dict[str, int],
) -> dict[str, set[str]]:
    """Count the contents already ready or rejected under their one name (set intersections, in C).

    Returns the matching lines by state; a file whose metadata changed is not counted (it needs a row).
    """
    found: dict[str, set[str]] = {}
    for state in _SETTLED:
        hits = single.keys() & lines.get(state, set())
        if metadata_changed is not None:
            hits = {line for line in hits if not metadata_changed(single[line], platform)}
        if hits:
            counted[state] = counted.get(state, 0) + len(hits)
            found[state] = hits
    return found


def _shas_to_read(
    decide: list[str], by_content: Mapping[str, list[Creative]], lines: Mapping[str, set[str]]
) -> set[str]:
    """The records a decision on ``decide`` reads: their contents', and the earlier contents of their names."""
    keys = {creative.key for sha in decide for creative in by_content[sha]}
    shas = set(decide)
    for found in lines.values():
        for line in found:
            sha, _, key = line.partition("\t")
            if key in keys:
                shas.add(sha)
    return shas


def _latest_by_key(records: Sequence[Record], source: str) -> dict[str, Record]:
    """The latest live asset (sent, not archived) of each file key of ``source``."""
    by_key: dict[str, Record] = {}
    for record in records:
        if record.source == source and record.file_key and record.remote_id and record.state != ARCHIVED:
            known = by_key.get(record.file_key)
            if known is None or record.updated_at >= known.updated_at:
                by_key[record.file_key] = record
    return by_key


def _content_rows(
    target: Target,
    sha256: str,
    creatives: list[Creative],
    verdicts: Verdicts,
    record: Record | None,
    by_key: Mapping[str, Record],
    previous_ids: set[str],
) -> list[PlanRow]:
    """The rows of one content (all its file names) on one platform."""
    if (
        record is not None
        and record.state in (READY, REJECTED)
        and len(creatives) == 1
        and creatives[0].key == record.file_key
    ):  # the common case of a rerun, kept cheap: sent, terminal, same single name
        return [
            PlanRow(
                platform=target.platform,
                key=record.file_key,
                action=NONE,
                sha256=sha256,
                size=creatives[0].size,
                state=record.state,
                remote_id=record.remote_id,
                version=record.version,
                reason=record.reason if record.state == REJECTED else None,
            )
        ]
    rows: list[PlanRow] = []
    accepted: list[Creative] = []
    for creative in creatives:
        verdict = _verdict(verdicts, creative, target.platform)
        if verdict is not None and not verdict.accepted:
            rows.append(
                PlanRow(
                    platform=target.platform,
                    key=creative.key,
                    action=REFUSED,
                    sha256=sha256,
                    size=creative.size,
                    state=State.REFUSED,
                    reason=verdict.reason,
                    rule=verdict.rule,
                )
            )
        else:
            accepted.append(creative)
    if not accepted:
        return rows
    primary = accepted[0]
    if record is not None and record.file_key:
        primary = next((c for c in accepted if c.key == record.file_key), primary)
    base = PlanRow(platform=target.platform, key=primary.key, action=NONE, sha256=sha256, size=primary.size)
    if record is None or record.state == ARCHIVED:
        row = replace(base, action=UPLOAD, change=NEW if record is None else RESTORED, state=State.NEW)
        earlier = by_key.get(primary.key)
        if earlier is not None and earlier.sha256 != sha256:
            row = replace(row, change=CHANGED)
            if target.supports_versions:
                row = replace(row, previous_id=earlier.remote_id, reason=f"new version of {earlier.remote_id}")
                previous_ids.add(str(earlier.remote_id))
            else:
                row = replace(row, reason=f"changed content; a new asset (was {earlier.remote_id})")
    elif record.state in (SENDING, FAILED) or (record.remote_id is None and record.state not in (READY, REJECTED)):
        row = replace(
            base,
            action=UPLOAD,
            change=RETRY,
            resume=record.attempts > 0,
            state=record.state,
            remote_id=record.remote_id,
            reason=record.reason,
        )
        earlier = by_key.get(primary.key)
        if target.supports_versions and earlier is not None and earlier.sha256 != sha256:
            row = replace(row, previous_id=earlier.remote_id)
            previous_ids.add(str(earlier.remote_id))
    elif record.state in (PENDING, PROCESSING):
        row = replace(base, action=POLL, state=record.state, remote_id=record.remote_id, version=record.version)
    else:  # ready or rejected: nothing to do, the state and reason are reported
        row = replace(
            base,
            state=record.state,
            remote_id=record.remote_id,
            version=record.version,
            reason=record.reason if record.state == REJECTED else None,
        )
    rows.append(row)
    for alias in (c for c in accepted if c.key != primary.key):
        rows.append(
            replace(
                row,
                key=alias.key,
                action=ALIAS,
                alias_of=primary.key,
                previous_id=None,
                change=None,
                resume=False,
                size=alias.size,
                reason=f"same content as {primary.key}; not sent again",
            )
        )
    return rows
