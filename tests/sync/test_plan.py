"""The plan as a pure function: every decision from plain values, no I/O."""

from __future__ import annotations

from airflow_creative_provider.creative import Creative, Refusal
from airflow_creative_provider.sync.ledger import (
    ARCHIVED,
    FAILED,
    PROCESSING,
    READY,
    REJECTED,
    SENDING,
    AssetRecord,
)
from airflow_creative_provider.sync.plan import (
    ALIAS,
    ARCHIVE,
    CHANGED,
    KEEP,
    NEW,
    NONE,
    POLL,
    REFUSED,
    RETRY,
    UPLOAD,
    WOULD_ARCHIVE,
    MappingRecords,
    Plan,
    PlanRow,
    Target,
    build_plan,
)
from airflow_creative_provider.sync.rules import Verdict

SRC = "/creatives"
TOPSORT = Target("topsort", "vendor-1", supports_archive=False)
AMAZON = Target("amazon_ads", "profile-1", supports_archive=False, supports_versions=True)
POCKET = Target("mediapocket", "project-1", supports_archive=True)


def creative(key: str, sha: str, size: int = 100) -> Creative:
    return Creative(path=f"{SRC}/{key}", key=key, size=size, sha256=sha * 64, mimetype="image/png")


def record(
    target: Target, sha: str, state: str, remote_id: str | None = "r-1", key: str = "a.png", **kw
) -> AssetRecord:
    return AssetRecord(
        sha256=sha * 64,
        platform=target.platform,
        account=target.account,
        state=state,
        remote_id=remote_id,
        source=kw.pop("source", SRC),
        file_key=key,
        attempts=kw.pop("attempts", 1),
        updated_at=kw.pop("updated_at", 1.0),
        **kw,
    )


def plan(files, records=None, targets=(TOPSORT,), verdicts=None, **kw) -> Plan:
    """The plan with a row per file; checked against the counted plan a sync makes (``unchanged_rows=False``)."""
    full = build_plan(files, verdicts or {}, records or {}, list(targets), source=SRC, **kw)
    counted = build_plan(files, verdicts or {}, records or {}, list(targets), source=SRC, unchanged_rows=False, **kw)
    assert_same_decisions(full, counted)
    return full


def assert_same_decisions(full: Plan, counted: Plan) -> None:
    """The counted plan has the full plan's rows but the settled ones, which it counts per state."""
    assert all(row in full.rows for row in counted.rows), [r for r in counted.rows if r not in full.rows]
    left_out = [r for r in full.rows if r not in counted.rows]
    assert all(r.action == NONE and r.state in (READY, REJECTED) for r in left_out), left_out
    per_platform: dict[str, dict[str, int]] = {}
    for row in left_out:
        states = per_platform.setdefault(row.platform, {})
        states[row.state] = states.get(row.state, 0) + 1
    assert {p: c for p, c in counted.unchanged.items() if c} == per_platform


class CountingReader(MappingRecords):
    """Records in memory that count the full records they hand out."""

    def __init__(self, records: dict[str, list[AssetRecord]]) -> None:
        super().__init__(records)
        self.read: list[int] = []

    def records(self, platform: str, shas=None) -> list[AssetRecord]:
        chosen = list(super().records(platform, shas))
        self.read.append(len(chosen))
        return chosen


def only(p: Plan, **match) -> PlanRow:
    rows = [r for r in p.rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(rows) == 1, rows
    return rows[0]


def test_new_content_is_uploaded() -> None:
    p = plan([creative("a.png", "a")])
    row = only(p, key="a.png")
    assert (row.action, row.change, row.resume, row.previous_id) == (UPLOAD, NEW, False, None)
    assert p.work("topsort") == [row]


def test_same_content_under_two_names_is_sent_once() -> None:
    p = plan([creative("b/copy.png", "a"), creative("a.png", "a")])
    assert only(p, key="a.png").action == UPLOAD
    alias = only(p, key="b/copy.png")
    assert (alias.action, alias.alias_of) == (ALIAS, "a.png")
    assert len(p.work("topsort")) == 1


def test_alias_of_sent_content_keeps_the_recorded_name() -> None:
    records = {"topsort": [record(TOPSORT, "a", READY, key="z.png")]}
    p = plan([creative("a.png", "a"), creative("z.png", "a")], records)
    assert only(p, key="z.png").action == NONE
    alias = only(p, key="a.png")
    assert (alias.action, alias.alias_of, alias.state, alias.remote_id) == (ALIAS, "z.png", READY, "r-1")
    assert p.work("topsort") == []


def test_ready_is_nothing_and_pending_is_polled() -> None:
    records = {
        "topsort": [
            record(TOPSORT, "a", READY, "r-a", key="a.png"),
            record(TOPSORT, "b", PROCESSING, "r-b", key="b.png"),
        ]
    }
    p = plan([creative("a.png", "a"), creative("b.png", "b")], records)
    assert (only(p, key="a.png").action, only(p, key="a.png").state) == (NONE, READY)
    polled = only(p, key="b.png")
    assert (polled.action, polled.remote_id) == (POLL, "r-b")


def test_rejected_is_reported_not_resent() -> None:
    records = {"topsort": [record(TOPSORT, "a", REJECTED, reason="blurry")]}
    row = only(plan([creative("a.png", "a")], records), key="a.png")
    assert (row.action, row.state, row.reason) == (NONE, REJECTED, "blurry")


def test_intent_without_remote_id_resumes() -> None:
    records = {"topsort": [record(TOPSORT, "a", SENDING, None)]}
    row = only(plan([creative("a.png", "a")], records), key="a.png")
    assert (row.action, row.change, row.resume) == (UPLOAD, RETRY, True)


def test_failed_send_is_retried_with_resume() -> None:
    records = {"topsort": [record(TOPSORT, "a", FAILED, "r-half", reason="503")]}
    row = only(plan([creative("a.png", "a")], records), key="a.png")
    assert (row.action, row.resume, row.remote_id) == (UPLOAD, True, "r-half")


def test_refused_file_gets_the_reason_and_is_not_work() -> None:
    bad = creative("bad.gif", "b")
    verdict = Verdict(
        "bad.gif", "topsort", (Refusal("bad.gif", "topsort", "type", "bad.gif: refused for topsort (type): no gifs"),)
    )
    p = plan([bad, creative("a.png", "a")], verdicts={("bad.gif", "topsort"): verdict})
    row = only(p, key="bad.gif")
    assert (row.action, row.rule, row.reason) == (REFUSED, "type", "bad.gif: refused for topsort (type): no gifs")
    assert [r.key for r in p.work("topsort")] == ["a.png"]


def test_refused_under_one_name_accepted_under_another() -> None:
    verdict = Verdict("x.png", "topsort", (Refusal("x.png", "topsort", "name", "x.png: bad name"),))
    p = plan([creative("x.png", "a"), creative("y.png", "a")], verdicts={("x.png", "topsort"): verdict})
    assert only(p, key="x.png").action == REFUSED
    assert only(p, key="y.png").action == UPLOAD


def test_changed_content_is_a_new_version_where_versions_exist() -> None:
    records = {
        "amazon_ads": [record(AMAZON, "o", READY, "amzn-1", key="a.png")],
        "topsort": [record(TOPSORT, "o", READY, "ts-1", key="a.png")],
    }
    p = plan([creative("a.png", "n")], records, targets=(AMAZON, TOPSORT), archive_removed=True)
    amazon = only(p, platform="amazon_ads", key="a.png", action=UPLOAD)
    assert (amazon.change, amazon.previous_id) == (CHANGED, "amzn-1")
    topsort = only(p, platform="topsort", key="a.png", action=UPLOAD)
    assert (topsort.change, topsort.previous_id) == (CHANGED, None)
    assert "new asset" in (topsort.reason or "")
    # the versioned asset is the same asset: never offered for archiving
    assert [r for r in p.rows if r.platform == "amazon_ads" and r.action in (ARCHIVE, KEEP)] == []


def test_removed_files_are_reported_and_kept_by_default() -> None:
    records = {"topsort": [record(TOPSORT, "g", READY, "r-gone", key="gone.png")]}
    row = only(plan([creative("a.png", "a")], records), key="gone.png")
    assert (row.action, row.remote_id) == (KEEP, "r-gone")
    assert "archive_removed is off" in (row.reason or "")


def test_archive_removed_where_the_platform_can() -> None:
    records = {
        "topsort": [record(TOPSORT, "g", READY, "ts-gone", key="gone.png")],
        "mediapocket": [record(POCKET, "g", READY, "mp-gone", key="gone.png")],
    }
    p = plan([creative("a.png", "a")], records, targets=(TOPSORT, POCKET), archive_removed=True)
    kept = only(p, platform="topsort", key="gone.png")
    assert kept.action == KEEP and "cannot archive" in (kept.reason or "")
    archived = only(p, platform="mediapocket", key="gone.png")
    assert (archived.action, archived.remote_id) == (ARCHIVE, "mp-gone")
    assert archived in p.work("mediapocket")


def test_files_left_out_of_the_listing_on_purpose_are_not_removed() -> None:
    records = {
        "mediapocket": [
            record(POCKET, "j", READY, "mp-jpg", key="photo.jpg"),  # excluded by include
            record(POCKET, "o", READY, "mp-old", key="being-written.png"),  # too recent to list now
            record(POCKET, "g", READY, "mp-gone", key="gone.png"),
        ]
    }
    listed = {"a.png", "gone.png"}
    p = plan(
        [creative("a.png", "a")],
        records,
        targets=(POCKET,),
        archive_removed=True,
        in_scope=lambda key: key.endswith(".png") and key != "being-written.png",
    )
    assert {r.key for r in p.rows} == listed
    assert only(p, key="gone.png").action == ARCHIVE


def test_nothing_archived_when_the_listing_had_errors() -> None:
    records = {"mediapocket": [record(POCKET, "g", READY, "mp-gone", key="gone.png")]}
    p = plan([creative("a.png", "a")], records, targets=(POCKET,), archive_removed=True, listing_ok=False)
    row = only(p, key="gone.png")
    assert row.action == KEEP and "listing had errors" in (row.reason or "")
    assert [r.action for r in p.work("mediapocket")] == [UPLOAD]


def test_max_archive_blocks_and_reports_what_would_be_archived() -> None:
    records = {"mediapocket": [record(POCKET, f"{i:x}", READY, f"mp-{i}", key=f"gone{i}.png") for i in range(3)]}
    blocked = plan([], records, targets=(POCKET,), archive_removed=True, max_archive=2)
    assert [r.action for r in blocked.rows] == [WOULD_ARCHIVE] * 3
    assert blocked.archive_blocked and "max_archive=2" in blocked.archive_blocked
    assert blocked.work("mediapocket") == []
    allowed = plan([], records, targets=(POCKET,), archive_removed=True, max_archive=3)
    assert [r.action for r in allowed.rows] == [ARCHIVE] * 3


def test_renamed_file_is_not_removed() -> None:
    records = {"mediapocket": [record(POCKET, "a", READY, "mp-a", key="old-name.png")]}
    p = plan([creative("new-name.png", "a")], records, targets=(POCKET,), archive_removed=True)
    row = only(p, key="new-name.png")
    assert (row.action, row.state) == (NONE, READY)
    assert [r for r in p.rows if r.action in (ARCHIVE, KEEP)] == []


def test_replaced_asset_on_a_platform_without_versions_is_archived() -> None:
    old = record(POCKET, "o", READY, "mp-old", key="a.png", updated_at=1.0)
    first = plan([creative("a.png", "n")], {"mediapocket": [old]}, targets=(POCKET,), archive_removed=True)
    assert only(first, key="a.png", action=UPLOAD).change == CHANGED
    # the new content becomes a different asset on this platform: the old one is removed
    assert only(first, key="a.png", action=ARCHIVE).remote_id == "mp-old"


def test_other_sources_and_archived_records_are_left_alone() -> None:
    records = {
        "mediapocket": [
            record(POCKET, "x", READY, "mp-x", key="x.png", source="/another"),
            record(POCKET, "y", ARCHIVED, "mp-y", key="y.png"),
        ]
    }
    p = plan([], records, targets=(POCKET,), archive_removed=True)
    assert p.rows == []


def test_archived_content_back_in_the_source_is_uploaded_again() -> None:
    records = {"mediapocket": [record(POCKET, "a", ARCHIVED, "mp-a")]}
    row = only(plan([creative("a.png", "a")], records, targets=(POCKET,)), key="a.png")
    assert (row.action, row.change) == (UPLOAD, "restored")


def test_counts_per_platform() -> None:
    p = plan([creative("a.png", "a"), creative("b.png", "a")], targets=(TOPSORT, POCKET))
    assert p.counts() == {"topsort": {UPLOAD: 1, ALIAS: 1}, "mediapocket": {UPLOAD: 1, ALIAS: 1}}


def _many(count: int, target: Target = POCKET) -> tuple[list[Creative], dict[str, list[AssetRecord]]]:
    """``count`` files each ready on ``target`` under its own name."""
    files = [creative(f"f{i:03}.png", f"{i:03x}", size=i + 1) for i in range(count)]
    records = [record(target, f"{i:03x}", READY, f"mp-{i}", key=c.key) for i, c in enumerate(files)]
    return files, {target.platform: records}


def test_a_rerun_with_nothing_to_do_reads_no_full_record() -> None:
    files, records = _many(50)
    reader = CountingReader(records)
    p = build_plan(files, {}, reader, [POCKET], source=SRC, unchanged_rows=False, archive_removed=True)
    assert (p.rows, p.unchanged) == ([], {"mediapocket": {READY: 50}})
    assert reader.read == []


def test_a_few_changes_read_only_their_records() -> None:
    files, records = _many(50)
    files[3] = creative(files[3].key, "new", size=7)  # new content under an old name
    files.append(creative("added.png", "add"))
    del files[10]  # removed: its record is read to offer it for archiving
    reader = CountingReader(records)
    p = build_plan(files, {}, reader, [POCKET], source=SRC, unchanged_rows=False, archive_removed=True)
    changed = only(p, key="f003.png", action=UPLOAD)
    assert (changed.change, only(p, key="f003.png", action=ARCHIVE).remote_id) == (CHANGED, "mp-3")
    assert only(p, key="added.png").change == NEW
    assert only(p, key="f010.png").action == ARCHIVE
    assert p.unchanged == {"mediapocket": {READY: 48}}
    # the old version of f003 and the removed f010 by digest, then every record: whether a removed
    # asset lives on under another content needs them all
    assert reader.read == [2, 50]
    assert_same_decisions(build_plan(files, {}, records, [POCKET], source=SRC, archive_removed=True), p)


def test_records_of_another_source_in_the_account_are_read_but_left_alone() -> None:
    files, records = _many(50)
    records["mediapocket"].append(record(POCKET, "e", READY, "mp-else", key="else.png", source="/another"))
    reader = CountingReader(records)
    p = build_plan(files, {}, reader, [POCKET], source=SRC, unchanged_rows=False, archive_removed=True)
    assert (p.rows, p.unchanged) == ([], {"mediapocket": {READY: 50}})
    assert reader.read == [1]
