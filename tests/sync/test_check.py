"""``sync.check.compare``: the ledger x a platform's listing -> drift (pure, no I/O)."""

from __future__ import annotations

from airflow_creative_provider.hooks.base import AssetStatus, ListedAsset
from airflow_creative_provider.sync.check import (
    build_check_report,
    compare,
    format_check_table,
    metadata_differences,
    unlisted_fields,
)
from airflow_creative_provider.sync.ledger import AssetRecord

SOURCE = "/data/creatives"
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def _record(sha: str, remote_id: str, state: str = "ready", **kw) -> AssetRecord:
    return AssetRecord(
        sha256=sha,
        platform="p",
        account="acc",
        state=state,
        remote_id=remote_id,
        source=kw.pop("source", SOURCE),
        file_key=kw.pop("file_key", f"{sha[:1]}.png"),
        **kw,
    )


def _listed(remote_id: str, state: str = "ready", **kw) -> ListedAsset:
    return ListedAsset(remote_id, AssetStatus(remote_id, state, raw_state=kw.pop("raw", state.upper())), **kw)


def _compare(records, listed, sha1=None, names=None):
    return compare("p", "acc", records, listed, source=SOURCE, sha1_by_sha256=sha1 or {}, names_by_sha1=names or {})


def test_missing_and_settled_state_change_are_drift_progress_is_not() -> None:
    records = [
        _record(SHA_A, "1"),
        _record(SHA_B, "2"),
        _record(SHA_C, "3", state="pending"),
    ]
    drift, moved, counts = _compare(records, [_listed("2", "rejected", raw="ARCHIVED"), _listed("3", "ready")])
    assert [(d.kind, d.remote_id) for d in drift] == [("missing", "1"), ("state_changed", "2")]
    assert drift[1].detail == "was ready, now rejected (ARCHIVED on p)" and drift[1].recorded_state == "ready"
    assert [r.remote_id for r, _ in moved] == ["2", "3"]  # both stored; only the settled one reported
    assert counts["checked"] == 3 and counts["ok"] == 1 and counts["updated"] == 1


def test_only_this_sources_sent_records_are_checked() -> None:
    records = [
        _record(SHA_A, "1", source="/other"),  # another source's asset on the same account
        _record(SHA_B, "2", state="archived"),  # we archived it: absence is expected
        _record(SHA_C, None, state="failed"),  # never created
    ]
    drift, _, counts = _compare(records, [])
    assert drift == [] and counts["checked"] == 0


def test_amazon_versions_a_newer_version_is_not_a_state_change() -> None:
    old = _record(SHA_A, "asset-1", version="version_v1")
    drift, moved, _ = _compare([old], [_listed("asset-1", "processing", version="version_v2")])
    assert drift == [] and moved == []


def test_content_differs_by_checksum() -> None:
    drift, _, counts = _compare(
        [_record(SHA_A, "f1")], [_listed("f1", checksum_sha1="99" * 20)], sha1={SHA_A: "AB" * 20}
    )
    assert [d.kind for d in drift] == ["content_differs"] and counts["ok"] == 0
    assert "abab" in drift[0].detail  # shown lower-case
    same, _, _ = _compare([_record(SHA_A, "f1")], [_listed("f1", checksum_sha1="ab" * 20)], sha1={SHA_A: "AB" * 20})
    assert same == []


def test_unknown_assets_carrying_our_marks() -> None:
    records = [_record(SHA_A, "1")]
    listed = [
        _listed("1", content_mark=SHA_A),
        _listed("2", content_mark=SHA_B),  # full sha256 mark, unknown id
        _listed("3", content_mark=SHA_A[:32]),  # a prefix mark of a known content: a duplicate
        _listed("4"),  # no mark: not ours
        _listed("5", checksum_sha1="d" * 40, name="banner.png"),  # Delta: name + SHA-1 of a source file
        _listed("6", checksum_sha1="d" * 40, name="other.png"),  # same bytes, another name: not ours
    ]
    drift, _, counts = _compare(records, listed, names={"d" * 40: [(SHA_C, "x/banner.png")]})
    unknown = {d.remote_id: d for d in drift if d.kind == "unknown"}
    assert set(unknown) == {"2", "3", "5"}
    assert unknown["3"].sha256 == SHA_A and "another id" in unknown["3"].detail
    assert unknown["5"].sha256 == SHA_C and unknown["5"].file_key == "x/banner.png"
    assert counts["unknown"] == 3 and counts["listed"] == 6


def test_report_counts_errors_and_next_step() -> None:
    results = [
        {
            "platform": "topsort",
            "counts": {"checked": 2, "ok": 1, "missing": 1},
            "differences": [{"platform": "topsort", "kind": "missing", "remote_id": "1", "detail": "gone"}],
            "differences_total": 1,
        },
        {"platform": "delta_projects", "error": "delta_projects could not be listed: 401"},
    ]
    params = {"source": SOURCE, "platforms": ["topsort", "delta_projects", "mediamath"]}
    report = build_check_report("r1", params, results)
    assert report["drift"]["missing"] == 1 and report["repaired"] == 0
    assert "repair=true" in report["next_step"]
    assert set(report["errors"]) == {"delta_projects", "mediamath"}  # mediamath's task never reported
    table = format_check_table(report)
    assert "topsort missing: 1 (1): gone" in table and "delta_projects: ERROR" in table


def test_an_unchanged_not_submitted_approval_is_no_drift() -> None:
    record = _record(SHA_A, "7", state="not_submitted", raw_state="N/A")
    drift, moved, counts = _compare([record], [_listed("7", "pending", raw="N/A")])
    assert drift == [] and moved == [] and counts["ok"] == 1
    drift, _, _ = _compare([record], [_listed("7", "rejected", raw="REJECTED")])
    assert [d.kind for d in drift] == ["state_changed"]


def _compare_metadata(platform: str, sent: dict, shown: dict | None, **record_kw):
    record = _record(SHA_A, "9", **record_kw)
    listed = _listed("9", metadata=shown, version=record_kw.get("version"))
    return compare(
        platform,
        "acc",
        [record],
        [listed],
        source=SOURCE,
        sha1_by_sha256={},
        names_by_sha1={},
        sent_metadata={SHA_A: sent},
    )


def test_metadata_changed_names_the_field_the_ledger_value_and_the_platforms() -> None:
    sent = {"title": "Spring banner", "description": "Homepage", "category": "banners", "tags": ["a", "b"]}
    shown = {"title": "Renamed there", "description": "Homepage", "category": "banners", "tags": ["b", "a"]}
    drift, _, counts = _compare_metadata("mediapocket", sent, shown)
    assert [d.kind for d in drift] == ["metadata_changed"] and counts["metadata_changed"] == 1 and counts["ok"] == 0
    assert drift[0].fields == {"title": {"ledger": "Spring banner", "platform": "Renamed there"}}  # tag order: same
    assert drift[0].detail == "title: ledger 'Spring banner' vs mediapocket 'Renamed there'"
    same, _, counts = _compare_metadata("mediapocket", sent, dict(sent))
    assert same == [] and counts["ok"] == 1


def test_metadata_compares_only_what_was_sent_and_what_the_listing_shows() -> None:
    # a field never sent (description set there) is the platform's own; asinList is not in the search answer
    sent = {"name": "logo", "tags": ["t"], "asinList": ["B1"], "assetSubTypeList": ["LOGO"]}
    shown = {"name": "logo", "tags": ["t"], "assetSubTypeList": ["LOGO"], "description": "set there"}
    assert _compare_metadata("amazon_ads", sent, shown)[0] == []
    assert unlisted_fields("amazon_ads", [sent]) == ["asinList"]
    assert unlisted_fields("mediamath", [{"creative_name": "x", "start_date": "2026-01-01T00:00:00"}]) == []
    # a listing without metadata (an older hook) is not guessed at
    assert _compare_metadata("topsort", {"name": "x"}, None)[0] == []
    # Amazon: the version the ledger sent is compared; a newer one made elsewhere carries its own metadata
    drift, _, _ = _compare_metadata("amazon_ads", sent, {"name": "other"}, version="version_v1")
    assert [d.kind for d in drift] == ["metadata_changed"]
    record = _record(SHA_A, "9", version="version_v1")
    newer = _listed("9", metadata={"name": "other"}, version="version_v2")
    drift, _, _ = compare(
        "amazon_ads",
        "acc",
        [record],
        [newer],
        source=SOURCE,
        sha1_by_sha256={},
        names_by_sha1={},
        sent_metadata={SHA_A: sent},
    )
    assert drift == []


def test_metadata_values_that_mean_the_same_are_no_drift() -> None:
    same_instant = metadata_differences(
        "mediamath",
        {"creative_name": "c", "start_date": "2026-03-01T00:00:00", "end_date": "2026-05-31T00:00:00"},
        {"creative_name": "c", "start_date": "2026-03-01T00:00:00Z", "end_date": "2026-05-31T00:00:00+00:00"},
    )
    assert same_instant == {}
    moved = metadata_differences("mediamath", {"end_date": "2026-05-31T00:00:00"}, {"end_date": "2026-06-30T00:00:00"})
    assert moved == {"end_date": {"ledger": "2026-05-31T00:00:00", "platform": "2026-06-30T00:00:00"}}
    assert metadata_differences("mediapocket", {"description": ""}, {"description": None}) == {}
    assert metadata_differences("mediapocket", {"tags": ["a"]}, {"tags": []}) == {
        "tags": {"ledger": ["a"], "platform": []}
    }
    assert metadata_differences("topsort", {"metadata": {"k": "1"}}, {"metadata": {"k": 1}}) == {}
    assert "metadata" in metadata_differences("topsort", {"metadata": {"k": "1"}}, {"metadata": {"k": "2"}})


def test_report_says_what_metadata_repair_does_and_what_was_not_checked() -> None:
    results = [
        {
            "platform": "mediamath",
            "counts": {"checked": 1, "ok": 0, "metadata_changed": 1, "repaired": 1, "repaired_metadata": 1},
            "differences": [
                {
                    "platform": "mediamath",
                    "kind": "metadata_changed",
                    "remote_id": "7",
                    "file_key": "b.png",
                    "detail": "creative_name: ledger 'a' vs mediamath 'b'",
                    "repaired": True,
                }
            ],
            "differences_total": 1,
        },
        {
            "platform": "amazon_ads",
            "counts": {"checked": 1, "ok": 0, "metadata_changed": 1},
            "differences": [],
            "differences_total": 1,
            "notes": ["amazon_ads: its listing (POST /assets/search) does not show asinList: not checked"],
        },
    ]
    report = build_check_report(
        "r2", {"source": SOURCE, "platforms": ["mediamath", "amazon_ads"], "repair": True}, results
    )
    assert report["drift"]["metadata_changed"] == 2 and report["repaired"] == 1
    assert (
        report["next_step"]
        == "1 metadata change(s) marked for an update: the next creative_sync run updates them (no bytes sent)"
    )
    table = format_check_table(report)
    assert "metadata_changed" in table.splitlines()[1]  # a column of its own
    assert "mediamath metadata_changed: b.png (7): creative_name: ledger 'a' vs mediamath 'b'" in table
    assert "note: amazon_ads: its listing (POST /assets/search) does not show asinList: not checked" in table
    unrepaired = build_check_report("r3", {"source": SOURCE, "platforms": ["mediamath", "amazon_ads"]}, results[1:])
    assert unrepaired["next_step"] is None  # Amazon has no update: repair=true would not help
    results[0]["counts"] = {"checked": 1, "ok": 0, "metadata_changed": 1}
    advised = build_check_report("r4", {"source": SOURCE, "platforms": ["mediamath"]}, results[:1])
    assert advised["next_step"] == "trigger creative_check with repair=true to update the changed metadata"
