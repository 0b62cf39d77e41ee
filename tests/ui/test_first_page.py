"""The first pages by name come from the name walk (indexes, candidates only), not from sorting the
whole ledger; they must be exactly the pages the grouped query gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import insert

from airflow_creative_provider.sync.ledger import READY, Ledger, assets_table, files_table, refusals_table
from airflow_creative_provider.ui import queries
from airflow_creative_provider.ui.queries import AssetFilter, list_assets


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _file(source: str, key: str, content: str | None, at: float) -> dict[str, Any]:
    return {
        "source": source,
        "file_key": key,
        "size": 10,
        "mtime": at,
        "sha256": _sha(content) if content else None,
        "facts": {"mimetype": "image/png", "width": 8, "height": 8},
        "updated_at": at,
    }


def _record(content: str, platform: str, key: str | None, at: float) -> dict[str, Any]:
    return {
        "sha256": _sha(content),
        "platform": platform,
        "account": f"acct-{platform}",
        "remote_id": f"{platform}-{content}",
        "state": READY,
        "attempts": 1,
        "source": "/src-a",
        "file_key": key,
        "file_name": key.rsplit("/", 1)[-1] if key else None,
        "size": 10,
        "created_at": at,
        "updated_at": at + 1,
        "last_run_id": "run-1",
        "state_run_id": "run-1",
    }


def fill(ledger: Ledger) -> None:
    """Every case the name of a content depends on."""
    files = [_file("/src-a", f"f/tile_{n:02d}.png", f"tile-{n}", 100 + n) for n in range(30)]
    files += [
        _file("/src-a", "b/one.png", "one", 50),
        _file("/src-a", "a/dup.png", "dup", 51),  # one content under two names: shown once, by its first
        _file("/src-a", "c/dup-copy.png", "dup", 52),
        _file("/src-b", "a/dup.png", "other-source", 53),  # the same name in another source: two rows
        _file("/src-a", "d/renamed.png", "renamed", 54),  # sent under an older name that sorts first
        _file("/src-a", "e/not-read-yet.png", None, 55),  # no content yet: not a creative
    ]
    records = [_record(f"tile-{n}", p, f"f/tile_{n:02d}.png", 200 + n) for n in range(30) for p in ("meta", "tiktok")]
    records += [
        _record("one", "meta", "b/one.png", 10),
        _record("dup", "meta", "a/dup.png", 11),
        _record("renamed", "meta", "0/old-name.png", 12),
        _record("gone", "meta", "aa/gone.png", 13),  # its file left the source: named as it was sent
        _record("gone-twice", "meta", "zz/late.png", 14),  # two sent names: the smaller one
        _record("gone-twice", "tiktok", "ab/early.png", 15),
        _record("gone-last", "tiktok", "zzz/last.png", 16),
        _record("no-key", "meta", None, 17),  # a record without a file key: no name, not listed
    ]
    refusal = {
        "source": "/src-a",
        "file_key": "b/one.png",
        "platform": "tiktok",
        "account": "acct-tiktok",
        "sha256": _sha("one"),
        "rule": "dimensions",
        "reason": "too small",
        "run_id": "run-1",
        "updated_at": 60,
    }
    with ledger.begin() as conn:
        conn.execute(insert(files_table), files)
        conn.execute(insert(assets_table), records)
        conn.execute(insert(refusals_table), [refusal])


def _page(ledger: Ledger, offset: int, limit: int) -> tuple[int, list[dict[str, Any]], list[str]]:
    page = list_assets(ledger, AssetFilter(offset=offset, limit=limit))
    return page.total, page.rows, [c.key for c in page.columns]


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_pages_by_name_are_the_grouped_querys_pages(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    ledger = Ledger(ledger_url)
    fill(ledger)
    walked = []
    first_by_name = queries._first_by_name
    monkeypatch.setattr(queries, "_first_by_name", lambda *a: walked.append(a) or first_by_name(*a))
    monkeypatch.setattr(queries, "NAME_WALK_CHUNK", 2)  # several reads of the files even on a small ledger
    monkeypatch.setattr(queries, "GONE_LISTED", 1)  # and the gone contents read by name, not listed whole
    pages = [_page(ledger, offset, limit) for offset in range(0, 40, limit)]
    assert len(walked) == len(pages)
    monkeypatch.setattr(queries, "NAME_WALK_DEPTH", 0)  # every page from the grouped query, as before
    expected = [_page(ledger, offset, limit) for offset in range(0, 40, limit)]
    assert len(walked) == len(pages)
    assert pages == expected

    total, _, columns = pages[0]
    rows = [row for _, page, _ in pages for row in page]
    names = [(row["key"], row["in_source"]) for row in rows]
    assert total == len(rows) == 30 + 4 + 3  # tiles, one/dup/other-source/renamed, three gone
    assert names[:6] == [
        ("a/dup.png", True),
        ("a/dup.png", True),
        ("aa/gone.png", False),
        ("ab/early.png", False),
        ("b/one.png", True),
        ("d/renamed.png", True),
    ]
    assert names[-1] == ("zzz/last.png", False)
    dup = next(row for row in rows if row["sha256"] == _sha("dup"))
    assert dup["other_names"] == ["c/dup-copy.png"]
    one = next(row for row in rows if row["sha256"] == _sha("one"))
    assert one["cells"]["tiktok:acct-tiktok"]["state"] == "refused"
    assert columns == ["meta:acct-meta", "tiktok:acct-tiktok"]


def test_filtered_sorted_and_deep_pages_keep_the_grouped_query(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(ledger_url)
    fill(ledger)
    walked = []
    first_by_name = queries._first_by_name
    monkeypatch.setattr(queries, "_first_by_name", lambda *a: walked.append(a) or first_by_name(*a))
    monkeypatch.setattr(queries, "NAME_WALK_DEPTH", 37)
    assert [r["key"] for r in list_assets(ledger, AssetFilter(search="late")).rows] == ["ab/early.png"]
    assert list_assets(ledger, AssetFilter(state="refused")).total == 1
    assert list_assets(ledger, AssetFilter(run_id="run-1")).total == 36  # not the other source's file: never sent
    assert [r["key"] for r in list_assets(ledger, AssetFilter(sort="first_seen", limit=1)).rows] == ["f/tile_29.png"]
    assert [r["key"] for r in list_assets(ledger, AssetFilter(offset=36, limit=5)).rows] == ["zzz/last.png"]
    assert walked == []
    assert [r["key"] for r in list_assets(ledger, AssetFilter(offset=36, limit=1)).rows] == ["zzz/last.png"]
    assert len(walked) == 1


def test_whole_ledger_counts_are_taken_again_as_soon_as_the_ledger_changes(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The passes over every record (records per column, contents gone from the source) are reused
    between requests only while the ledger is the same: a file leaving, a file changing, a new
    record show on the next page."""
    from sqlalchemy import delete, update

    ledger = Ledger(ledger_url)
    fill(ledger)
    passes = []
    gone_query = queries._gone_query
    monkeypatch.setattr(queries, "_gone_query", lambda *a: passes.append(a) or gone_query(*a))

    def view() -> tuple[int, dict[str, bool], dict[str, int]]:
        page = list_assets(ledger, AssetFilter(limit=50))
        return page.total, {r["key"]: r["in_source"] for r in page.rows}, {c.key: c.assets for c in page.columns}

    total, shown, counts = view()
    assert (total, shown["b/one.png"], counts["meta:acct-meta"]) == (37, True, 36)
    assert view() == (total, shown, counts) and len(passes) == 1  # nothing changed: counted once

    with ledger.begin() as conn:  # b/one.png leaves the source
        conn.execute(delete(files_table).where(files_table.c.file_key == "b/one.png"))
    total, shown, counts = view()
    assert (total, shown["b/one.png"]) == (37, False) and len(passes) == 2

    with ledger.begin() as conn:  # d/renamed.png now holds another content, never sent
        conn.execute(
            update(files_table)
            .where(files_table.c.file_key == "d/renamed.png")
            .values(sha256=_sha("new-content"), updated_at=1000)
        )
    total, shown, counts = view()
    assert total == 38 and shown["d/renamed.png"] and shown["0/old-name.png"] is False

    with ledger.begin() as conn:  # a record of a content no file holds, and one of a file's content
        conn.execute(insert(assets_table), [_record("sent-elsewhere", "meta", "ba/elsewhere.png", 30)])
        conn.execute(insert(assets_table), [_record("tile-3", "other", "f/tile_03.png", 31)])
    total, shown, counts = view()
    assert (total, shown["ba/elsewhere.png"], counts["meta:acct-meta"], counts["other:acct-other"]) == (
        39,
        False,
        37,
        1,
    )
    assert passes[-1][1], "only the records added since were read"

    # records are never removed by the sync; one removed by hand shows once the figures are taken whole again
    with ledger.begin() as conn:
        conn.execute(delete(assets_table).where(assets_table.c.sha256 == _sha("sent-elsewhere")))
    monkeypatch.setattr(queries, "CENSUS_MAX_AGE", 0)
    total, shown, counts = view()
    assert (total, "ba/elsewhere.png" in shown, counts["meta:acct-meta"]) == (38, False, 36)


def test_one_creatives_page_reads_that_content_only(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    fill(ledger)
    rows = {r["sha256"]: r for r in list_assets(ledger, AssetFilter(limit=50)).rows}
    for content in ("dup", "gone-twice", "renamed", "one"):
        found = queries.creative_detail(ledger, _sha(content))
        assert found is not None
        assert found[1] == rows[_sha(content)]
    assert queries.creative_detail(ledger, _sha("no-key")) is None  # no name: not a creative of the page
    assert queries.creative_detail(ledger, _sha("never-seen")) is None


FILTERS = [
    AssetFilter(state="ready"),
    AssetFilter(state="ready", platforms=("tiktok",)),
    AssetFilter(state="refused"),
    AssetFilter(state="refused", platforms=("meta",)),
    AssetFilter(state="failed"),
    AssetFilter(run_id="run-1"),
    AssetFilter(run_id="run-2"),
    AssetFilter(search="TILE_1"),
    AssetFilter(search="late"),
    AssetFilter(search="dup"),
    AssetFilter(search="100%_"),
    AssetFilter(state="ready", search="gone", run_id="run-1"),
]


def _filtered(ledger: Ledger, flt: AssetFilter) -> list[tuple[int, list[dict[str, Any]]]]:
    pages = []
    for offset, limit in ((0, 1), (1, 3), (0, 7), (5, 7), (0, 50)):
        page = list_assets(ledger, AssetFilter(**{**flt.__dict__, "offset": offset, "limit": limit}))
        pages.append((page.total, page.rows))
    return pages


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.__dict__.items() if v))
def test_filtered_pages_by_name_are_the_grouped_querys_pages(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, flt: AssetFilter
) -> None:
    """State, run and search views by name read only matching contents, and show exactly what the
    grouped query over the whole ledger shows (rows, order, names, cells, totals)."""
    ledger = Ledger(ledger_url)
    fill(ledger)
    with ledger.begin() as conn:  # a failed record, one of another run, a name only a record has
        conn.execute(
            insert(assets_table),
            [
                {**_record("tile-4", "other", "f/tile_04.png", 300), "state": "failed", "last_run_id": "run-2"},
                {**_record("gone", "tiktok", "Tile_100.png", 301), "state_run_id": "run-2"},
            ],
        )
    walked = []
    matching = queries._first_matching_by_name
    monkeypatch.setattr(queries, "_first_matching_by_name", lambda *a: walked.append(a) or matching(*a))
    monkeypatch.setattr(queries, "NAME_WALK_CHUNK", 2)  # several reads of the files even on a small ledger
    monkeypatch.setattr(queries, "SEARCH_LISTED", 1)  # and a search that matches more walks the files too
    fast = _filtered(ledger, flt)
    monkeypatch.setattr(queries, "SEARCH_LISTED", 2_000)
    listed = _filtered(ledger, flt)
    assert len(walked) == 2 * len(fast)
    monkeypatch.setattr(queries, "NAME_WALK_DEPTH", 0)  # every page from the grouped query, as before
    expected = _filtered(ledger, flt)
    assert len(walked) == 2 * len(fast)
    assert fast == expected
    assert listed == expected


def test_the_filtered_walk_can_fail(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above sees a walk that loses a filter's condition (the walk admits every content)."""
    ledger = Ledger(ledger_url)
    fill(ledger)
    monkeypatch.setattr(queries, "NAME_WALK_DEPTH", 0)
    expected = _filtered(ledger, AssetFilter(state="refused"))
    monkeypatch.setattr(queries, "NAME_WALK_DEPTH", 5_000)
    monkeypatch.setattr(queries, "_admitted", lambda flt, sha: [])
    monkeypatch.setattr(queries, "_filter_sets", lambda flt: [])
    assert _filtered(ledger, AssetFilter(state="refused")) != expected
