"""``creative_check``: does each platform still hold what the ledger says? Like ``rclone check``.

For every platform account of the params, the platform's own listing
(``hook.list_account_assets()``, read-only) is compared with the ledger's records of the
source, and each difference is one ``Drift``:

* ``missing``: the ledger holds a remote id the platform no longer lists (deleted there);
* ``state_changed``: a settled state (ready, rejected) is no longer what the platform says
  (approved then rejected, archived or trashed by someone); non-settled states that simply
  moved on (pending -> ready) are stored without being reported as drift;
* ``content_differs``: the platform's own checksum is not the file's (Delta Projects' SHA-1,
  compared with the SHA-1 the file index keeps);
* ``unknown``: an asset that carries our idempotency mark (Topsort ``sha256`` metadata, Amazon
  ``sha256:`` tag, MediaMath ``external_identifier``, MediaPocket external id, Delta name +
  SHA-1 of a file of the source) under a remote id the ledger does not know;
* ``metadata_changed``: a metadata field the platform's listing shows is no longer what the
  ledger recorded as sent (``creative_asset_metadata``): the field, the value sent and the
  platform's are named. Only fields the listing exposes are compared (``LISTED_METADATA``);
  the others are named once in the report as not checked.

The ledger is updated: the platform's state is stored on the record (the Creatives page and
the next sync see it; each change is a history entry ``check`` whose run is
``creative_check/<run id>``), a ``missing`` record gets a history entry, and the
differences of each checked target replace its rows in ``creative_drift`` (the Creatives
page's drift badge). Nothing is ever written to a platform: with ``repair`` the missing
records are marked ``failed`` so that the next ``creative_sync`` plan uploads them again, the
normal way (the hook's idempotency lookup first, then a create): there is no second sync engine.
With ``repair`` a ``metadata_changed`` asset on a platform that documents a metadata update
(``sync.metadata.UPDATABLE``: MediaMath, MediaPocket) gets the platform's values recorded as
its metadata, so the next ``creative_sync`` plans an ``update`` sending the manifest's fields
(no bytes); where no update exists the report says so and nothing is marked.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import delete, insert, select, update

from airflow_creative_provider.hooks.base import AssetStatus, ListedAsset
from airflow_creative_provider.sync import metadata as meta
from airflow_creative_provider.sync.ledger import (
    AssetRecord,
    Ledger,
    asset_metadata_table,
    assets_table,
    drift_table,
    history_table,
)
from airflow_creative_provider.sync.params import SyncParams, SyncTarget, duplicate_accounts, platform_of
from airflow_creative_provider.sync.payloads import HookRegistry, default_hooks
from airflow_creative_provider.sync.states import State

log = logging.getLogger(__name__)

MISSING = "missing"
STATE_CHANGED = "state_changed"
CONTENT_DIFFERS = "content_differs"
UNKNOWN = "unknown"
METADATA_CHANGED = "metadata_changed"
DRIFT_KINDS = (MISSING, STATE_CHANGED, CONTENT_DIFFERS, UNKNOWN, METADATA_CHANGED)

#: the metadata fields (``sync.metadata.PLATFORM_FIELDS`` names) each platform's listing
#: (``hook.list_account_assets``) shows, per its contract: the only ones the check compares.
LISTED_METADATA: dict[str, tuple[str, ...]] = {
    "mediapocket": ("title", "description", "category", "tags"),  # GET /assets/:id asset object
    "mediamath": ("creative_name", "start_date", "end_date"),  # GET /creatives creative fields
    "topsort": ("name", "metadata"),  # GET /public/v1/assets/assets: the asset object
    "amazon_ads": ("name", "tags", "assetSubTypeList"),  # POST /assets/search: name, assetSubTypes, tags
    "delta_projects": ("name",),  # GET .../file: [{id, name}]
}
#: where a platform's listing is named in the report's "not checked" note.
_LISTING_CALL = {
    "mediapocket": "GET /assets/:id",
    "mediamath": "GET /creatives",
    "topsort": "GET /public/v1/assets/assets",
    "amazon_ads": "POST /assets/search",
    "delta_projects": "GET .../file",
}
#: fields whose order the platform keeps but that carry no meaning in it (an assumption: no
#: seed says tags or sub types are ordered): compared as sets.
_UNORDERED = frozenset({"tags", "assetSubTypeList"})

#: ledger states of a record the platform should still hold as the record says.
CHECKED_STATES = frozenset({State.PENDING, State.PROCESSING, State.READY, State.REJECTED, "not_submitted"})
#: states whose change is drift (someone acted); a change from the others is progress.
SETTLED_STATES = frozenset({State.READY, State.REJECTED, "not_submitted"})
#: the run reference the check writes in the ledger (``state_run_id``, history): ``creative_check/<run id>``.
CHECK_RUN_PREFIX = "creative_check/"
_NOT_SUBMITTED_OR_PENDING = frozenset({State.PENDING, "not_submitted"})
#: differences kept in a task's XCom (every one is in the ledger and the task log).
MAX_REPORTED = 50


@dataclass(frozen=True)
class Drift:
    """One difference between the ledger and a platform account."""

    platform: str
    account: str
    kind: str
    remote_id: str | None
    sha256: str | None = None
    file_key: str | None = None
    recorded_state: str | None = None
    platform_state: str | None = None
    raw_state: str | None = None
    detail: str = ""
    repaired: bool = False
    #: ``metadata_changed``: ``{field: {"ledger": value sent, "platform": value there now}}``.
    fields: dict[str, dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _DriftOrigin(TypedDict):
    """The fields of a ``Drift`` that name the ledger record it was found on."""

    platform: str
    account: str
    remote_id: str | None
    sha256: str | None
    file_key: str | None
    recorded_state: str | None


@dataclass
class TargetCheck:
    """What the check of one platform account found (``to_json`` is the mapped task's XCom).

    :param target: the account's name in the run (``SyncTarget.name``: the platform, or
        ``platform:conn_id`` where several accounts of the platform are checked).
    """

    platform: str
    account: str | None
    conn_id: str
    counts: dict[str, int] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    error: str | None = None
    target: str | None = None
    #: what the check could not look at, said once (e.g. metadata the listing does not show).
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target or self.platform,
            "platform": self.platform,
            "account": self.account,
            "conn_id": self.conn_id,
            "counts": dict(self.counts),
            "differences": [d.to_json() for d in self.drift[:MAX_REPORTED]],
            "differences_total": len(self.drift),
            "error": self.error,
            "notes": list(self.notes),
        }


def _base_id(remote_id: str) -> str:
    """Amazon ids may carry their version (``assetId:version_vN``); the listing has the asset id."""
    return remote_id.partition(":version_")[0]


def compare(
    platform: str,
    account: str,
    records: Sequence[AssetRecord],
    listed: Sequence[ListedAsset],
    *,
    source: str,
    sha1_by_sha256: Mapping[str, str],
    names_by_sha1: Mapping[str, Sequence[tuple[str, str]]],
    sent_metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[Drift], list[tuple[AssetRecord, ListedAsset]], dict[str, int]]:
    """The differences between one account's ledger records and its listing (pure: no I/O).

    :param records: every ledger record of the account (any source: they make remote ids known).
    :param source: only this source's records are checked for missing, state and content.
    :param sha1_by_sha256: the SHA-1 of each content of the source (file index facts).
    :param names_by_sha1: ``{sha1: [(sha256, file key)]}`` of the source, Delta's identity.
    :param sent_metadata: ``{sha256: fields}`` the ledger recorded as sent to this account
        (``creative_asset_metadata``); compared with the listing's ``metadata``.
    :return: the drift, the (record, listed asset) pairs whose state moved on, and the counts.
    """
    by_id = {_base_id(a.remote_id): a for a in listed}
    known_ids = {_base_id(r.remote_id) for r in records if r.remote_id}
    known_shas = {r.sha256 for r in records}
    drift: list[Drift] = []
    moved: list[tuple[AssetRecord, ListedAsset]] = []
    counts = {"checked": 0, "ok": 0, "listed": len(listed), "updated": 0, **{k: 0 for k in DRIFT_KINDS}}
    for record in records:
        if record.source != source or not record.remote_id or record.state not in CHECKED_STATES:
            continue
        counts["checked"] += 1
        found = by_id.get(_base_id(record.remote_id))
        base: _DriftOrigin = {
            "platform": platform,
            "account": account,
            "remote_id": record.remote_id,
            "sha256": record.sha256,
            "file_key": record.file_key,
            "recorded_state": record.state,
        }
        if found is None:
            drift.append(
                Drift(kind=MISSING, **base, detail=f"{platform} no longer lists {record.remote_id} (deleted there)")
            )
            continue
        differs = False
        same_version = not (found.version and record.version) or found.version == record.version
        # MediaMath's N/A approval reads ``pending`` to a fresh hook until ``not_submitted_after``:
        # the platform's own word did not change, so neither did the asset.
        waiting = {record.state, found.status.state} <= _NOT_SUBMITTED_OR_PENDING and (
            record.raw_state == found.status.raw_state
        )
        if same_version and found.status.state != record.state and not waiting:
            moved.append((record, found))
            if record.state in SETTLED_STATES:
                differs = True
                drift.append(
                    Drift(
                        kind=STATE_CHANGED,
                        **base,
                        platform_state=found.status.state,
                        raw_state=found.status.raw_state,
                        detail=_state_detail(platform, record.state, found.status),
                    )
                )
            else:
                counts["updated"] += 1
        expected = (sha1_by_sha256.get(record.sha256) or "").lower()
        if found.checksum_sha1 and expected and found.checksum_sha1.lower() != expected:
            differs = True
            drift.append(
                Drift(
                    kind=CONTENT_DIFFERS,
                    **base,
                    platform_state=found.status.state,
                    raw_state=found.status.raw_state,
                    detail=f"{platform} checksum {found.checksum_sha1.lower()} is not the file's SHA-1 {expected}",
                )
            )
        sent = (sent_metadata or {}).get(record.sha256)
        changes = metadata_differences(platform, sent, found.metadata) if sent and same_version else {}
        if changes:
            differs = True
            drift.append(
                Drift(
                    kind=METADATA_CHANGED,
                    **base,
                    platform_state=found.status.state,
                    raw_state=found.status.raw_state,
                    detail=_metadata_detail(platform, changes),
                    fields=changes,
                )
            )
        if not differs:
            counts["ok"] += 1
    for asset in listed:
        if _base_id(asset.remote_id) in known_ids:
            continue
        sha256, key = _ours(asset, known_shas, names_by_sha1)
        if sha256 is None and not asset.content_mark:
            continue  # not made by this provider
        shown = sha256 or asset.content_mark
        recorded = sha256 is not None and sha256 in known_shas
        detail = f"carries our mark (content {str(shown)[:12]}) but the ledger has no record of {asset.remote_id}"
        if recorded:
            detail += "; the ledger records this content under another id (a duplicate, or a leftover to delete)"
        drift.append(
            Drift(
                platform=platform,
                account=account,
                kind=UNKNOWN,
                remote_id=asset.remote_id,
                sha256=sha256,
                file_key=key,
                platform_state=asset.status.state,
                raw_state=asset.status.raw_state,
                detail=detail,
            )
        )
    for item in drift:
        counts[item.kind] += 1
    return drift, moved, counts


def _same(name: str, sent: Any, seen: Any) -> bool:
    """Whether a field the platform holds is still the value sent (empty is empty, whatever its type)."""
    if sent in (None, "", [], {}) or seen in (None, "", [], {}):
        return sent in (None, "", [], {}) and seen in (None, "", [], {})
    if name in _UNORDERED and isinstance(sent, list) and isinstance(seen, list):
        return sorted(map(str, sent)) == sorted(map(str, seen))
    if isinstance(sent, Mapping) and isinstance(seen, Mapping):
        return {str(k): str(v) for k, v in sent.items()} == {str(k): str(v) for k, v in seen.items()}
    if name in ("start_date", "end_date"):  # the same instant written another way is the same date
        return _instant(sent) == _instant(seen)
    return str(sent) == str(seen)


def _instant(value: Any) -> Any:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.replace(tzinfo=None) if moment.utcoffset() in (None, timedelta(0)) else moment


def metadata_differences(
    platform: str, sent: Mapping[str, Any] | None, listed: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """``{field: {"ledger": sent, "platform": now}}`` for each field sent that the listing shows differently.

    Only fields the ledger recorded as sent and the platform's listing exposes are compared: a
    field never sent is the platform's own (nothing to hold it to), and one the listing does
    not show is not guessed (``unlisted_fields``).
    """
    if not sent or listed is None:
        return {}
    return {
        name: {"ledger": sent[name], "platform": listed.get(name)}
        for name in LISTED_METADATA.get(platform, ())
        if name in sent and name in listed and not _same(name, sent[name], listed.get(name))
    }


def unlisted_fields(platform: str, sent: Iterable[Mapping[str, Any]]) -> list[str]:
    """The fields sent to ``platform`` that its listing does not show (so the check cannot compare them)."""
    shown = set(LISTED_METADATA.get(platform, ()))
    return sorted({name for fields in sent for name in fields if name not in shown})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _metadata_detail(platform: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """``title: ledger 'Spring banner' vs mediapocket 'x'; tags: ...``."""
    return "; ".join(
        f"{name}: ledger {_short(c['ledger'])} vs {platform} {_short(c['platform'])}" for name, c in changes.items()
    )


def _state_detail(platform: str, recorded: str, status: AssetStatus) -> str:
    """``was ready, now rejected (ARCHIVED on amazon_ads): <the platform's reason>``."""
    raw = f" ({status.raw_state} on {platform})" if status.raw_state and status.raw_state != status.state else ""
    return f"was {recorded}, now {status.state}{raw}" + (f": {status.reason}" if status.reason else "")


def _ours(
    asset: ListedAsset, known_shas: Iterable[str], names_by_sha1: Mapping[str, Sequence[tuple[str, str]]]
) -> tuple[str | None, str | None]:
    """(sha256, file key) an asset's mark stands for, when it can be resolved."""
    if asset.content_mark:
        mark = asset.content_mark.lower()
        if len(mark) == 64:
            return mark, None
        return next((sha for sha in known_shas if sha.startswith(mark)), None), None
    if asset.checksum_sha1:  # Delta: name + SHA-1 of a file of the source
        stem = os.path.splitext(asset.name or "")[0]
        for sha256, key in names_by_sha1.get(asset.checksum_sha1.lower(), ()):
            if os.path.splitext(os.path.basename(key))[0] == stem:
                return sha256, key
    return None, None


def check_platform(
    params: Mapping[str, Any],
    platform: str,
    *,
    run_id: str,
    repair: bool = False,
    ledger: Ledger | None = None,
    hooks: HookRegistry | None = None,
) -> TargetCheck:
    """Check one platform account of the params: list, compare, update the ledger (never the platform).

    :param platform: the target's name (``SyncParams.targets``): the platform, or
        ``platform:conn_id`` where the params name several connections of the platform. A
        connection reaching an account an earlier connection of the params reaches is refused.
    """
    parsed = SyncParams.parse(params)
    ledger = ledger or Ledger()
    target = parsed.target(platform)
    name, platform, conn_id = target.name, target.platform, target.conn_id
    registry = hooks or default_hooks()
    result = TargetCheck(platform=platform, account=None, conn_id=conn_id, target=name)
    try:
        hook = registry(platform)(conn_id)
        result.account = account = str(hook.account)
        duplicate = _duplicate_of(parsed, target, account, registry)
        if duplicate:
            result.error = f"{name}: {duplicate}"
            log.error("%s", result.error)
            return result
        listed = hook.list_account_assets()
    except Exception as exc:  # noqa: BLE001 - one platform's failure is reported; the others go on
        result.error = f"{platform} (connection {conn_id!r}) could not be listed: {exc}"
        log.error("%s", result.error)
        return result
    records = ledger.records(platform, account)
    sha1_by_sha256: dict[str, str] = {}
    names_by_sha1: dict[str, list[tuple[str, str]]] = {}
    for key, entry in ledger.file_index(parsed.source).items():
        sha1 = str((entry.facts or {}).get("sha1") or "").lower()
        if sha1 and entry.sha256:
            sha1_by_sha256[entry.sha256] = sha1
            names_by_sha1.setdefault(sha1, []).append((entry.sha256, key))
    sent_metadata = _sent_metadata(ledger, platform, account)
    drift, moved, counts = compare(
        platform,
        account,
        records,
        listed,
        source=parsed.source,
        sha1_by_sha256=sha1_by_sha256,
        names_by_sha1=names_by_sha1,
        sent_metadata=sent_metadata,
    )
    ours = {r.sha256 for r in records if r.source == parsed.source}
    unlisted = unlisted_fields(platform, (f for sha, f in sent_metadata.items() if sha in ours))
    if unlisted:
        result.notes.append(
            f"{platform}: its listing ({_LISTING_CALL.get(platform, 'list_account_assets')}) does not show "
            f"{', '.join(unlisted)}: not checked"
        )
    ref = CHECK_RUN_PREFIX + run_id
    for record, found in moved:
        status = found.status
        _update_record(
            ledger,
            record.sha256,
            platform,
            account,
            ref,
            state=status.state,
            raw_state=status.raw_state,
            reason=status.reason,
            remote_id=record.remote_id,
        )
    for item in drift:
        if item.kind != MISSING or not item.sha256:
            continue
        if repair:  # failed: the next creative_sync plan uploads it again (lookup first, then create)
            reason = f"creative_check: {item.detail}; marked for re-sending by the next creative_sync run"
            _update_record(
                ledger, item.sha256, platform, account, ref, state=State.FAILED, reason=reason, remote_id=item.remote_id
            )
        else:  # the record stays as it is; its history says what the check saw
            _update_record(
                ledger,
                item.sha256,
                platform,
                account,
                ref,
                state=None,
                reason=f"creative_check: {item.detail}",
                remote_id=item.remote_id,
                history_state=item.recorded_state,
            )
    drift = _handle_metadata_drift(ledger, platform, account, ref, drift, sent_metadata, repair=repair, result=result)
    if repair:
        drift = [Drift(**{**d.to_json(), "repaired": True}) if d.kind == MISSING and d.sha256 else d for d in drift]
        counts["repaired"] = sum(d.repaired for d in drift)
        counts["repaired_metadata"] = sum(d.repaired for d in drift if d.kind == METADATA_CHANGED)
    _store_drift(ledger, parsed.source, platform, account, run_id, drift)
    result.counts, result.drift = counts, drift
    for item in drift:
        log.warning("%s %s: %s %s: %s", platform, account, item.kind, item.file_key or item.remote_id, item.detail)
    log.info("%s (account %s): %s", platform, account, counts)
    return result


def _duplicate_of(parsed: SyncParams, target: SyncTarget, account: str, hooks: HookRegistry) -> str | None:
    """Why ``target`` is not checked when an earlier connection of the same platform reaches its account."""
    resolved: list[tuple[SyncTarget, str | None]] = []
    for other in parsed.targets:
        if other.platform != target.platform:
            continue
        if other == target:
            resolved.append((other, account))
            break
        try:
            resolved.append((other, str(hooks(other.platform)(other.conn_id).account)))
        except Exception:  # noqa: BLE001 - that connection's own check reports why it cannot be used
            resolved.append((other, None))
    return duplicate_accounts(resolved).get(target.name)


def _sent_metadata(ledger: Ledger, platform: str, account: str) -> dict[str, dict[str, Any]]:
    """``{sha256: fields}`` the ledger recorded as sent to one platform account."""
    t = asset_metadata_table
    with ledger.begin() as conn:
        rows = conn.execute(select(t.c.sha256, t.c.fields).where(t.c.platform == platform, t.c.account == account))
        return {sha: json.loads(fields) if isinstance(fields, str) else dict(fields or {}) for sha, fields in rows}


def _handle_metadata_drift(
    ledger: Ledger,
    platform: str,
    account: str,
    ref: str,
    drift: list[Drift],
    sent_metadata: Mapping[str, Mapping[str, Any]],
    *,
    repair: bool,
    result: TargetCheck,
) -> list[Drift]:
    """Record each ``metadata_changed`` in the asset's history; with ``repair``, mark it for an update.

    Marking stores the platform's values as the asset's recorded metadata (they are what it
    holds now): the next ``creative_sync`` plan finds them differing from the manifest's and
    sends an ``update`` (no bytes) where the platform documents one. Elsewhere nothing is
    marked and the report says why.
    """
    out: list[Drift] = []
    not_updatable = 0
    for item in drift:
        sha256 = item.sha256
        if item.kind != METADATA_CHANGED or not sha256:
            out.append(item)
            continue
        updatable = platform in meta.UPDATABLE
        if repair and updatable:
            seen = {name: change["platform"] for name, change in (item.fields or {}).items()}
            fields = {**sent_metadata.get(sha256, {}), **seen}
            reason = (
                f"creative_check: {item.detail}; the platform's values recorded, the next creative_sync "
                f"sends the manifest's through {meta.UPDATABLE[platform]}"
            )
            _mark_metadata(ledger, sha256, platform, account, ref, fields, item.remote_id, reason, item.recorded_state)
            item = Drift(**{**item.to_json(), "repaired": True})
        else:
            if not updatable:
                not_updatable += 1
            _update_record(
                ledger,
                sha256,
                platform,
                account,
                ref,
                state=None,
                reason=f"creative_check: metadata changed on {platform}: {item.detail}",
                remote_id=item.remote_id,
                history_state=item.recorded_state,
            )
        out.append(item)
    if not_updatable:
        why = meta.NO_UPDATE.get(platform, f"{platform} documents no metadata update")
        result.notes.append(f"{platform}: {not_updatable} metadata change(s) that repair cannot send: {why}")
    return out


def _mark_metadata(
    ledger: Ledger,
    sha256: str,
    platform: str,
    account: str,
    ref: str,
    fields: Mapping[str, Any],
    remote_id: str | None,
    reason: str,
    history_state: str | None,
) -> None:
    """Record ``fields`` as the asset's metadata and move its ``updated_at`` (a saved plan is not reused)."""
    now = time.time()
    t = asset_metadata_table
    with ledger.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.sha256 == sha256, t.c.platform == platform, t.c.account == account)
            .values(fields=dict(fields), digest=meta.digest(fields))
        )
        conn.execute(
            update(assets_table)
            .where(
                assets_table.c.sha256 == sha256, assets_table.c.platform == platform, assets_table.c.account == account
            )
            .values(updated_at=now)
        )
    _update_record(
        ledger,
        sha256,
        platform,
        account,
        ref,
        state=None,
        reason=reason,
        remote_id=remote_id,
        history_state=history_state,
    )


def _update_record(
    ledger: Ledger,
    sha256: str,
    platform: str,
    account: str,
    ref: str,
    *,
    state: str | None,
    reason: str | None,
    remote_id: str | None,
    raw_state: str | None = None,
    history_state: str | None = None,
) -> None:
    """Store what the check saw on the record (``state`` None: only a history entry, event ``check``).

    ``state_run_id`` becomes the check's reference (``creative_check/<run id>``: the Creatives
    page links it to that DAG run); ``last_run_id`` stays the sync run that last sent or polled.
    """
    now = time.time()
    key = (assets_table.c.sha256 == sha256, assets_table.c.platform == platform, assets_table.c.account == account)
    with ledger.begin() as conn:
        if state is not None:
            values: dict[str, Any] = {"state": state, "updated_at": now, "state_run_id": ref}
            if raw_state is not None or state != State.FAILED:
                values["raw_state"] = raw_state
            if reason is not None:
                values["reason"] = reason
            conn.execute(update(assets_table).where(*key).values(**values))
        conn.execute(
            insert(history_table).values(
                sha256=sha256,
                platform=platform,
                account=account,
                at=now,
                run_id=ref,
                event="check",
                state=str(state or history_state),
                raw_state=raw_state,
                remote_id=remote_id,
                reason=reason,
            )
        )


def _store_drift(ledger: Ledger, source: str, platform: str, account: str, run_id: str, drift: Sequence[Drift]) -> None:
    """Replace the target's drift rows with this check's (the Creatives page shows them)."""
    t = drift_table
    now = time.time()
    with ledger.begin() as conn:
        conn.execute(delete(t).where(t.c.source == source, t.c.platform == platform, t.c.account == account))
        rows = [
            {
                **{k: v for k, v in d.to_json().items() if k not in ("repaired", "fields")},
                "repaired": int(d.repaired),
                "run_id": run_id,
                "checked_at": now,
                "source": source,
            }
            for d in drift
        ]
        if rows:
            conn.execute(insert(t), rows)


def build_check_report(run_id: str, params: Mapping[str, Any], results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's report (XCom ``report``, small): counts per platform account (keyed like
    ``SyncParams.targets``: the platform, or ``platform:conn_id`` for one of several), the
    first differences, errors."""
    parsed = SyncParams.parse(params)
    repair = bool(params.get("repair"))
    counts: dict[str, dict[str, int]] = {}
    differences: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    notes: list[str] = []
    total = 0
    for result in results:
        if not result:
            continue
        name = result.get("target") or result["platform"]
        notes.extend(result.get("notes") or [])
        if result.get("error"):
            errors[name] = result["error"]
            continue
        counts[name] = dict(result.get("counts") or {})
        total += int(result.get("differences_total") or 0)
        differences.extend(result.get("differences") or [])
    for target in parsed.targets:
        if target.name not in counts and target.name not in errors:
            errors[target.name] = f"{target.name}: its check task did not finish"
    drift = {k: sum(c.get(k, 0) for c in counts.values()) for k in DRIFT_KINDS}
    repaired = sum(c.get("repaired", 0) for c in counts.values())
    metadata_repaired = sum(c.get("repaired_metadata", 0) for c in counts.values())
    done = [
        (n, what, then)
        for n, what, then in (
            (repaired - metadata_repaired, "missing asset(s) marked for re-sending", "uploads them"),
            (metadata_repaired, "metadata change(s) marked for an update", "updates them (no bytes sent)"),
        )
        if n
    ]
    updatable = sum(c.get(METADATA_CHANGED, 0) for p, c in counts.items() if platform_of(p) in meta.UPDATABLE)
    todo = [
        w
        for w, n in (
            ("re-send the missing assets", drift[MISSING]),
            ("update the changed metadata", updatable),
        )
        if n and not repair
    ]
    next_step: str | None = None
    if done:
        next_step = " and ".join(f"{n} {what}" for n, what, _ in done)
        next_step += ": the next creative_sync run " + " and ".join(then for *_, then in done)
    elif todo:
        next_step = f"trigger creative_check with repair=true to {' and '.join(todo)}"
    return {
        "run_id": run_id,
        "source": parsed.source,
        "repair": repair,
        "counts": counts,
        "drift": drift,
        "differences": differences[:MAX_REPORTED],
        "differences_total": total,
        "errors": errors,
        "repaired": repaired,
        "notes": notes,
        "next_step": next_step,
    }


def format_check_table(report: Mapping[str, Any]) -> str:
    """The report as text for the task log: counts per platform, then each difference shown."""
    lines = [f"creative_check {report['run_id']} of {report['source']} (repair={report['repair']})"]
    header = ("platform", "checked", "ok", *DRIFT_KINDS, "updated", "repaired")
    lines.append(" | ".join(header))
    for platform, c in report["counts"].items():
        lines.append(" | ".join([platform, *(str(c.get(k, 0)) for k in header[1:])]))
    for platform, error in report["errors"].items():
        lines.append(f"{platform}: ERROR {error}")
    for d in report["differences"]:
        what = d.get("file_key") or d.get("remote_id")
        lines.append(f"  {d['platform']} {d['kind']}: {what} ({d.get('remote_id')}): {d['detail']}")
    if report["differences_total"] > len(report["differences"]):
        lines.append(f"  ... {report['differences_total'] - len(report['differences'])} more in the ledger")
    for note in report.get("notes") or ():
        lines.append(f"note: {note}")
    if report.get("next_step"):
        lines.append(report["next_step"])
    return "\n".join(lines)
