"""Read-only queries of the ledger for the Creatives page and its JSON API (SQLAlchemy Core).

A *creative* is one content (sha256): the file index (``creative_files``) knows the files
that hold it now (key, size, facts such as type, dimensions, duration), the asset table
(``creative_assets``) what it became on each platform account. A creative still recorded
on a platform but gone from the source is listed too, under the name it was sent with.

Every list is filtered, counted and paged by the database (``LIMIT``/``OFFSET`` over a
grouped ``UNION``); only the rows of one page are read, whatever the ledger's size. The
default view (every creative by name, its first pages) does not sort the whole ledger: its
candidates come from indexes (``_first_by_name``), and the figures that need a pass over every
record (records per platform account, contents gone from their source) are reused between
requests while the ledger stays the same (``_census``). The filtered views by name (a state, a
run, a search) walk the same way with the filter pushed into each read (``_first_matching_by_name``):
only matching contents are counted and grouped.
"""

from __future__ import annotations

import json
import os
import posixpath
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, distinct, func, intersect, literal, or_, select, union, union_all
from sqlalchemy.engine import Connection, Engine, RowMapping

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.ledger import (
    ARCHIVED,
    FAILED,
    PENDING,
    PROCESSING,
    READY,
    REJECTED,
    SENDING,
    Ledger,
    assets_table,
    drift_table,
    files_table,
    history_table,
    refusals_table,
    run_counts_table,
    runs_table,
)
from airflow_creative_provider.sync.states import State

#: ledger states the page can filter by (``refused``: refused by the platform's rules).
REFUSED = State.REFUSED
STATES: tuple[str, ...] = (
    READY,
    PROCESSING,
    PENDING,
    SENDING,
    FAILED,
    REJECTED,
    State.NOT_SUBMITTED,
    REFUSED,
    ARCHIVED,
)
SORTS: tuple[str, ...] = ("name", "first_seen", "last_change")
MAX_LIMIT = 500


@dataclass(frozen=True)
class AssetFilter:
    """What the matrix shows.

    :param platforms: columns to show (all platforms in the ledger when empty); with
        ``state`` also the platforms the state must be on.
    :param state: only creatives in this state on one of ``platforms``.
    :param search: case-insensitive part of a file name or key.
    :param sort: ``name``, ``first_seen`` (newest first) or ``last_change`` (newest first).
    :param offset: rows to skip.
    :param limit: rows of one page (at most ``MAX_LIMIT``).
    :param run_id: only creatives this ``creative_sync`` run sent or changed.
    """

    platforms: tuple[str, ...] = ()
    state: str | None = None
    search: str | None = None
    sort: str = "name"
    offset: int = 0
    limit: int = 50
    run_id: str | None = None


@dataclass
class Column:
    """One platform account: a column of the matrix."""

    platform: str
    account: str
    label: str
    assets: int = 0

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account}"


@dataclass
class AssetPage:
    """One page of the matrix."""

    total: int
    offset: int
    limit: int
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contents(shas: Sequence[str] | None = None) -> Any:
    """Every (content, name) the ledger knows: files now in a source, and sent assets (of ``shas`` only when given)."""
    f, a = files_table, assets_table
    in_source = select(
        f.c.sha256.label("sha256"),
        f.c.file_key.label("key"),
        f.c.size.label("size"),
        f.c.updated_at.label("seen_at"),
        f.c.updated_at.label("changed_at"),
        literal(1).label("present"),
    ).where(f.c.sha256.is_not(None))
    sent = select(
        a.c.sha256.label("sha256"),
        a.c.file_key.label("key"),
        a.c.size.label("size"),
        a.c.created_at.label("seen_at"),
        a.c.updated_at.label("changed_at"),
        literal(0).label("present"),
    ).where(a.c.file_key.is_not(None))
    if shas is not None:  # inside each branch of the union, where the indexes are
        in_source, sent = in_source.where(f.c.sha256.in_(shas)), sent.where(a.c.sha256.in_(shas))
    return union_all(in_source, sent).subquery("contents")


def _grouped(flt: AssetFilter, shas: Sequence[str] | None = None) -> Any:
    """One row per content, filtered (not yet paged); of ``shas`` only when given."""
    u = _contents(shas)
    name = func.coalesce(func.min(case((u.c.present == 1, u.c.key))), func.min(u.c.key))
    query = select(
        u.c.sha256.label("sha256"),
        name.label("key"),
        func.min(u.c.seen_at).label("first_seen"),
        func.max(u.c.changed_at).label("last_change"),
        func.max(u.c.present).label("present"),
        func.count(distinct(u.c.key)).label("names"),
    ).group_by(u.c.sha256)
    if flt.search:
        v = _contents(shas)  # a content's names are its own rows: only the candidates' are read
        query = query.where(
            u.c.sha256.in_(select(v.c.sha256).where(v.c.key.ilike(_like(flt.search.strip()), escape="\\")))
        )
    if flt.state:
        a = assets_table
        cond = [a.c.state == flt.state]
        if flt.platforms:
            cond.append(a.c.platform.in_(flt.platforms))
        if shas is not None:  # only the candidates' records: an index lookup, not a pass over every record
            cond.append(a.c.sha256.in_(shas))
        wanted: Any = select(a.c.sha256).where(and_(*cond))
        if flt.state == REFUSED:
            r = refused_now()
            local = select(r.c.sha256)
            if flt.platforms:
                local = local.where(r.c.platform.in_(flt.platforms))
            if shas is not None:
                local = local.where(r.c.sha256.in_(shas))
            wanted = union(wanted, local)
        query = query.where(u.c.sha256.in_(wanted))
    if flt.run_id:
        query = query.where(u.c.sha256.in_(run_contents(flt.run_id, shas)))
    return query


def refused_now() -> Any:
    """The refusals by local rules of files still in their source with the same content (a subquery)."""
    r, f = refusals_table, files_table
    return (
        select(r.c.sha256, r.c.platform, r.c.account, r.c.file_key, r.c.rule, r.c.reason, r.c.run_id)
        .join(f, and_(f.c.source == r.c.source, f.c.file_key == r.c.file_key, f.c.sha256 == r.c.sha256))
        .subquery("refused_now")
    )


def columns(conn: Connection, platforms: Sequence[str] = ()) -> list[Column]:
    """The platform accounts in the ledger (the asked-for platforms even when empty)."""
    r = refusals_table
    found: dict[tuple[str, str], int] = dict(_record_counts(conn))
    for row in conn.execute(select(r.c.platform, r.c.account).distinct()).all():
        found.setdefault((row.platform, row.account), 0)
    wanted = set(platforms)
    result = [
        Column(platform, account, display_name(platform), n)
        for (platform, account), n in found.items()
        if not wanted or platform in wanted
    ]
    for platform in wanted - {c.platform for c in result}:
        result.append(Column(platform, "", display_name(platform), 0))
    order = {p: i for i, p in enumerate(PLATFORMS)}
    result.sort(key=lambda c: (order.get(c.platform, len(order)), c.platform, c.account))
    return result


def _record_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Records per (platform, account): a pass over every record once, then only the records added since."""
    a = assets_table

    def count(*where: Any) -> dict[tuple[str, str], int]:
        rows = conn.execute(
            select(a.c.platform, a.c.account, func.count().label("n")).where(*where).group_by(a.c.platform, a.c.account)
        ).all()
        return {(row.platform, row.account): row.n for row in rows}

    def grow(counts: dict[tuple[str, str], int], since: int, until: int) -> dict[tuple[str, str], int]:
        grown = dict(counts)
        for key, n in count(a.c.id > since, a.c.id <= until).items():
            grown[key] = grown.get(key, 0) + n
        return grown

    return _census(conn, "record_counts", _records_mark(conn), count, grow)


# ---------------------------------------------------------------------------- census
#: how long a census may be reused while the ledger's marks stay the same (a bound on what marks miss)
CENSUS_MAX_AGE = 60.0


@dataclass(frozen=True)
class _Census:
    """A figure that takes a pass over a whole table, with the ledger's marks when it was taken."""

    mark: tuple[Any, ...]
    taken_at: float
    value: Any


_CENSUS: weakref.WeakKeyDictionary[Engine, dict[str, _Census]] = weakref.WeakKeyDictionary()
_CENSUS_LOCK = threading.Lock()


def _census(
    conn: Connection,
    name: str,
    mark: tuple[Any, ...],
    compute: Callable[[], Any],
    grow: Callable[[Any, int, int], Any] | None = None,
) -> Any:
    """``compute()``, or its value from an earlier request of this process while the marks are the same.

    ``mark`` ends with the records' mark (``_records_mark``); when only that one moved on,
    ``grow(value, old id, new id)`` adds the records added since instead of counting them all.
    The marks are read before the figure, so a change landing in between only makes the next
    request count again. Marks cost an index lookup (records) or one pass over the file index;
    the figures they guard a pass over every record (500,000 rows at 100,000 creatives). Every
    ``CENSUS_MAX_AGE`` seconds the figure is taken whole again.
    """
    with _CENSUS_LOCK:
        held = _CENSUS.get(conn.engine, {}).get(name)
    now = time.monotonic()
    if held is not None and now - held.taken_at < CENSUS_MAX_AGE:
        if held.mark == mark:
            return held.value
        since, until = held.mark[-1], mark[-1]
        if grow is not None and held.mark[:-1] == mark[:-1] and since is not None and until is not None:
            if until > since:
                value = grow(held.value, since, until)
                with _CENSUS_LOCK:
                    _CENSUS.setdefault(conn.engine, {})[name] = _Census(mark, held.taken_at, value)
                return value
    value = compute()
    with _CENSUS_LOCK:
        _CENSUS.setdefault(conn.engine, {})[name] = _Census(mark, now, value)
    return value


def _records_mark(conn: Connection) -> tuple[Any, ...]:
    """The newest record's id: records are added with a growing id, updated in place (their file key
    is set when they are created), never removed. A record committed after one with a higher id
    is missed until the figure is taken whole again (``CENSUS_MAX_AGE``)."""
    return (conn.execute(select(func.max(assets_table.c.id))).scalar(),)


def _files_mark(conn: Connection) -> tuple[Any, ...]:
    """Changes when a file is added, removed or changed (its ``updated_at`` is set each time)."""
    f = files_table
    # a sum of integers: a float sum's last bits depend on the order a parallel scan adds the rows in
    stamps = func.sum(cast(f.c.updated_at * 1000, BigInteger) % 1_000_003)
    return tuple(conn.execute(select(func.count(), func.max(f.c.updated_at), stamps)).one())


def display_name(platform: str) -> str:
    """``Amazon Ads``; one of a run's several accounts of it (``amazon_ads:amazon_eu``): ``Amazon Ads · amazon_eu``."""
    if platform in PLATFORMS:
        return PLATFORMS[platform][1]
    name, _, conn_id = platform.partition(":")
    return f"{PLATFORMS[name][1]} · {conn_id}" if name in PLATFORMS and conn_id else platform


def list_assets(ledger: Ledger, flt: AssetFilter) -> AssetPage:
    """One page of creatives with their facts and one cell per platform account."""
    limit = max(1, min(int(flt.limit), MAX_LIMIT))
    offset = max(0, int(flt.offset))
    grouped = _grouped(flt).subquery("grouped")
    order = {
        "name": (grouped.c.key, grouped.c.sha256),
        "first_seen": (grouped.c.first_seen.desc(), grouped.c.key, grouped.c.sha256),
        "last_change": (grouped.c.last_change.desc(), grouped.c.key, grouped.c.sha256),
    }[flt.sort if flt.sort in SORTS else "name"]
    with ledger.begin() as conn:
        cols = columns(conn, flt.platforms)
        by_name = _first_by_name(conn, offset, limit) if _unfiltered_by_name(flt, offset, limit) else None
        if by_name is None and _filtered_by_name(flt, offset, limit):
            by_name = _first_matching_by_name(conn, flt, offset, limit)
        page: Sequence[RowMapping]
        if by_name is not None:
            total, page = by_name
        else:
            total = conn.execute(select(func.count()).select_from(grouped)).scalar_one()
            page = conn.execute(select(grouped).order_by(*order).limit(limit).offset(offset)).mappings().all()
        shas = [r["sha256"] for r in page]
        files: dict[str, list[RowMapping]] = {}
        assets: dict[str, list[RowMapping]] = {}
        if shas:
            for r in conn.execute(
                select(files_table).where(files_table.c.sha256.in_(shas)).order_by(files_table.c.file_key)
            ).mappings():
                files.setdefault(r["sha256"], []).append(r)
            for r in conn.execute(select(assets_table).where(assets_table.c.sha256.in_(shas))).mappings():
                assets.setdefault(r["sha256"], []).append(r)
            drift = conn.execute(select(drift_table).where(drift_table.c.sha256.in_(shas))).mappings().all()
        refusals = _refusals(conn, shas)
    rows = [_row(r, files.get(r["sha256"], []), assets.get(r["sha256"], []), cols) for r in page]
    if shas:
        _drift_badges(rows, drift)
    _stored_refusals(rows, cols, refusals)
    _local_verdicts(rows, cols)
    return AssetPage(total=total, offset=offset, limit=limit, columns=cols, rows=rows)


#: the deepest row the name walk serves; a page past it is sorted by the grouped query (as before)
NAME_WALK_DEPTH = 5_000
#: file rows the name walk reads at least per query
NAME_WALK_CHUNK = 500
#: contents gone from their source listed whole; past it only the first of them by name are read
GONE_LISTED = 1_000


def _unfiltered_by_name(flt: AssetFilter, offset: int, limit: int) -> bool:
    """The default view (every creative by name, the first pages): served by the name walk."""
    plain = not (flt.state or flt.search or flt.run_id)
    return plain and (flt.sort == "name" or flt.sort not in SORTS) and offset + limit <= NAME_WALK_DEPTH


def _first_by_name(conn: Connection, offset: int, limit: int) -> tuple[int, list[RowMapping]]:
    """(total, one page) of the unfiltered matrix by name, reading only what the page needs.

    The grouped query sorts every content of the ledger to show fifty; here the candidates come
    from indexes instead: the files in a source in key order (the first key of a content is its
    name) and the contents only recorded as sent (their file left the source), then the grouped
    query runs on those candidates alone, so the order, names and dates are the same as before.
    """
    f, a = files_table, assets_table
    wanted = offset + limit
    files_mark = _files_mark(conn)
    present_total = _census(
        conn,
        "present",
        files_mark,
        lambda: conn.execute(
            select(func.count()).select_from(select(f.c.sha256).where(f.c.sha256.is_not(None)).distinct().subquery())
        ).scalar_one(),
    )

    gone = _gone_contents(conn, files_mark)
    candidates = list(gone)
    if len(gone) > max(wanted, GONE_LISTED):  # many files left their source: their first names only
        named = (
            select(a.c.sha256.label("sha256"), func.min(a.c.file_key).label("key"))
            .where(a.c.sha256.in_(_gone_query(conn.dialect.name).subquery().select()), a.c.file_key.is_not(None))
            .group_by(a.c.sha256)
            .subquery("named")
        )
        candidates = list(
            conn.execute(select(named.c.sha256).order_by(named.c.key, named.c.sha256).limit(wanted)).scalars()
        )
    # the files in key order: the first `wanted` distinct contents are the first by name
    candidates += _walk_by_name(conn, wanted)
    total = present_total + len(gone)
    if not candidates:
        return total, []
    grouped = _grouped(AssetFilter(), candidates).subquery("grouped")
    page = (
        conn.execute(select(grouped).order_by(grouped.c.key, grouped.c.sha256).limit(limit).offset(offset))
        .mappings()
        .all()
    )
    return total, list(page)


def _gone_contents(conn: Connection, files_mark: tuple[Any, ...]) -> list[str]:
    """The contents recorded as sent that no file in a source holds (``_gone_query``), reused while
    the ledger stays the same (``_census``)."""
    a = assets_table

    def grow_gone(gone: list[str], since: int, until: int) -> list[str]:
        # the files are the same: only records added since can name a content no file holds
        added = _gone_query(conn.dialect.name, (a.c.id > since, a.c.id <= until))
        return list(dict.fromkeys([*gone, *conn.execute(added).scalars()]))

    gone: list[str] = _census(
        conn,
        "gone",
        files_mark + _records_mark(conn),
        lambda: list(conn.execute(_gone_query(conn.dialect.name)).scalars()),
        grow_gone,
    )
    return gone


def _filter_sets(flt: AssetFilter) -> list[Any]:
    """The contents (sha256) each of the filter's conditions admits, as selects: a creative of
    the filtered view is in every one (the same conditions as ``_grouped``)."""
    sets: list[Any] = []
    if flt.search:
        pattern = _like(flt.search.strip())
        f, a = files_table, assets_table
        sets.append(
            union(
                select(f.c.sha256).where(f.c.sha256.is_not(None), f.c.file_key.ilike(pattern, escape="\\")),
                select(a.c.sha256).where(a.c.file_key.ilike(pattern, escape="\\")),
            )
        )
    if flt.state:
        a = assets_table
        cond = [a.c.state == flt.state]
        if flt.platforms:
            cond.append(a.c.platform.in_(flt.platforms))
        wanted: Any = select(a.c.sha256).where(and_(*cond))
        if flt.state == REFUSED:
            r = refused_now()
            local = select(r.c.sha256)
            if flt.platforms:
                local = local.where(r.c.platform.in_(flt.platforms))
            wanted = union(wanted, local)
        sets.append(wanted)
    if flt.run_id:
        a, h = assets_table, history_table
        sets.append(  # run_contents in three selects: each one range of an index in sha256 order
            union(
                select(h.c.sha256).where(h.c.run_id == flt.run_id),
                select(a.c.sha256).where(a.c.last_run_id == flt.run_id),
                select(a.c.sha256).where(a.c.state_run_id == flt.run_id),
            )
        )
    return sets


def _count_matching_files(conn: Connection, sets: Sequence[Any]) -> int:
    """How many contents held by a file each of ``sets`` admits (index ranges; no grouping of the whole ledger)."""
    f = files_table
    if conn.dialect.name != "sqlite" and sets:
        # PostgreSQL: the admitted contents (an index range, made unique in order) semi-joined to the files
        subs = [wanted.subquery(f"admitted_{n}") for n, wanted in enumerate(sets)]
        admitted: Any = select(subs[0].c.sha256).distinct()
        if len(subs) > 1:
            admitted = intersect(*(select(sub.c.sha256) for sub in subs))
        w = admitted.subquery("matching")
        held = select(f.c.id).where(f.c.sha256 == w.c.sha256).exists()
        return int(conn.execute(select(func.count()).select_from(w).where(held)).scalar_one())
    parts = [select(f.c.sha256).where(f.c.sha256.is_not(None))]
    for n, wanted in enumerate(sets):
        sub = wanted.subquery(f"admitted_{n}")
        parts.append(select(sub.c.sha256))
    query = intersect(*parts)
    if conn.dialect.name == "sqlite":  # in sha256 order: a merge of the index scans, no temporary table
        query = query.order_by(query.selected_columns.sha256)
    return int(conn.execute(select(func.count()).select_from(query.subquery("matching"))).scalar_one())


def _admitted(flt: AssetFilter, sha: Any) -> list[Any]:
    """The filter's conditions on the content column ``sha``, each an index lookup of that content
    (``_filter_sets``' conditions as ``EXISTS``): cheap on a walk that stops at the page's last row."""
    a = assets_table.alias("admitting")  # ``sha`` may be a column of the asset table itself
    conds: list[Any] = []
    if flt.search:
        conds.append(sha.in_(_filter_sets(AssetFilter(search=flt.search))[0]))
    if flt.state:
        own = [a.c.sha256 == sha, a.c.state == flt.state]
        if flt.platforms:
            own.append(a.c.platform.in_(flt.platforms))
        cond: Any = select(a.c.id).where(*own).exists()
        if flt.state == REFUSED:
            r = refused_now()
            local = [r.c.sha256 == sha] + ([r.c.platform.in_(flt.platforms)] if flt.platforms else [])
            cond = or_(cond, select(r.c.sha256).where(*local).exists())
        conds.append(cond)
    if flt.run_id:
        h = history_table.alias("admitting_entries")
        # coalesce(run id): the content's entries by its index, not every entry of the run by the run's
        conds.append(
            or_(
                select(h.c.id).where(h.c.sha256 == sha, func.coalesce(h.c.run_id, "") == flt.run_id).exists(),
                select(a.c.id)
                .where(
                    a.c.sha256 == sha,
                    or_(
                        func.coalesce(a.c.last_run_id, "") == flt.run_id,
                        func.coalesce(a.c.state_run_id, "") == flt.run_id,
                    ),
                )
                .exists(),
            )
        )
    return conds


#: contents a search may match to be grouped whole (past it the search walks the files like the other filters)
SEARCH_LISTED = 2_000


def _filtered_by_name(flt: AssetFilter, offset: int, limit: int) -> bool:
    """A filtered view by name (state, run, search), its first pages: served by the filtered name walk."""
    filtered = bool(flt.state or flt.search or flt.run_id)
    return filtered and (flt.sort == "name" or flt.sort not in SORTS) and offset + limit <= NAME_WALK_DEPTH


def _first_matching_by_name(
    conn: Connection, flt: AssetFilter, offset: int, limit: int
) -> tuple[int, list[RowMapping]]:
    """(total, one page) of a filtered matrix by name: ``_first_by_name`` with the filter pushed
    into each read, so only matching contents are counted and grouped.

    The total counts the matching contents a file holds plus the matching ones only recorded as
    sent; the candidates are the first matching files in key order and the matching contents gone
    from their source; the grouped query (with the same filter) then runs on those alone.
    """
    a = assets_table
    wanted = offset + limit
    if flt.search:  # a pass over every name whatever the count: read once, and when few match they are the candidates
        matched = list(conn.execute(_filter_sets(AssetFilter(search=flt.search))[0].limit(SEARCH_LISTED + 1)).scalars())
        if len(matched) <= SEARCH_LISTED:
            grouped = _grouped(flt, matched).subquery("grouped")
            total = conn.execute(select(func.count()).select_from(grouped)).scalar_one()
            page = conn.execute(
                select(grouped).order_by(grouped.c.key, grouped.c.sha256).limit(limit).offset(offset)
            ).mappings()
            return total, list(page)
    sets = _filter_sets(flt)
    files_mark = _files_mark(conn)
    gone = _gone_contents(conn, files_mark)
    present_total = _count_matching_files(conn, sets)
    gone_matching: list[str] = []
    if gone:
        gone_query = _gone_query(conn.dialect.name).subquery("gone")
        gone_sha = select(gone_query.c.sha256) if len(gone) > GONE_LISTED else None
        cond = [a.c.sha256.in_(gone_sha if gone_sha is not None else gone), a.c.file_key.is_not(None)]
        named = (
            select(a.c.sha256.label("sha256"), func.min(a.c.file_key).label("key"))
            .where(*cond, *_admitted(flt, a.c.sha256))
            .group_by(a.c.sha256)
            .subquery("named")
        )
        gone_matching = list(conn.execute(select(named.c.sha256).order_by(named.c.key, named.c.sha256)).scalars())
    total = present_total + len(gone_matching)
    candidates = gone_matching[:wanted]
    candidates += _walk_by_name(conn, wanted, *_admitted(flt, files_table.c.sha256))
    if not candidates:
        return total, []
    grouped = _grouped(flt, candidates).subquery("grouped")
    rows = (
        conn.execute(select(grouped).order_by(grouped.c.key, grouped.c.sha256).limit(limit).offset(offset))
        .mappings()
        .all()
    )
    return total, list(rows)


def _walk_by_name(conn: Connection, wanted: int, *admitted: Any) -> list[str]:
    """The first ``wanted`` distinct contents held by a file, by file key (a content's name is its
    first key), that pass the ``admitted`` conditions; read in chunks from the name index."""
    f = files_table
    seen: set[str] = set()
    present: list[str] = []
    chunk, start = max(2 * wanted, NAME_WALK_CHUNK), 0
    while len(present) < wanted:
        keys = (
            conn.execute(
                select(f.c.sha256)
                .where(f.c.sha256.is_not(None), *admitted)
                .order_by(f.c.file_key, f.c.sha256)
                .limit(chunk)
                .offset(start)
            )
            .scalars()
            .all()
        )
        for sha in keys:
            if sha not in seen:
                seen.add(sha)
                present.append(sha)
        if len(keys) < chunk:
            break
        start += chunk
    return present[:wanted]


def _gone_query(dialect: str, records: Sequence[Any] = ()) -> Any:
    """The contents recorded as sent (with a file key) that no file in a source holds any more
    (among the ``records`` conditions' records when given)."""
    f, a = files_table, assets_table
    sent = select(a.c.sha256).where(a.c.file_key.is_not(None), *records)
    if dialect == "sqlite":
        # an EXCEPT in sha256 order is a merge of two index scans in SQLite: no lookup per record
        query = sent.except_(select(f.c.sha256).where(f.c.sha256.is_not(None)))
        return query.order_by(query.selected_columns.sha256)
    # PostgreSQL and others: a hash anti-join
    return sent.where(~select(f.c.id).where(f.c.sha256 == a.c.sha256).exists()).distinct()


def _row(
    group: RowMapping,
    files: Sequence[RowMapping],
    assets: Sequence[RowMapping],
    cols: Sequence[Column],
) -> dict[str, Any]:
    key = group["key"]
    current = next((f for f in files if f["file_key"] == key), files[0] if files else None)
    facts = _json(current["facts"]) if current else {}
    facts = facts or {}
    sent = next((a for a in assets if a["file_key"] == key), assets[0] if assets else None)
    size = current["size"] if current else (sent["size"] if sent else None)
    by_column = {(a["platform"], a["account"]): a for a in assets}
    cells: dict[str, dict[str, Any] | None] = {}
    for col in cols:
        record = by_column.get((col.platform, col.account))
        cells[col.key] = _cell(record) if record else None
    return {
        "sha256": group["sha256"],
        "key": key,
        "file_name": posixpath.basename(key),
        "other_names": sorted({f["file_key"] for f in files} - {key}),
        "in_source": bool(group["present"]),
        "source": current["source"] if current else (sent["source"] if sent else None),
        "mimetype": facts.get("mimetype"),
        "kind": kind_of(facts.get("mimetype"), key),
        "type": type_label(facts.get("mimetype"), key),
        "size": size,
        "width": facts.get("width"),
        "height": facts.get("height"),
        "duration": facts.get("duration"),
        "video_codec": facts.get("video_codec"),
        "error": facts.get("error"),
        "first_seen": group["first_seen"],
        "last_change": group["last_change"],
        "cells": cells,
        "_creative": _creative(current["source"], current["file_key"], current["size"], facts) if current else None,
    }


def _drift_badges(rows: Sequence[dict[str, Any]], drift: Sequence[RowMapping]) -> None:
    """Put what the last ``creative_check`` found on each cell (``cell["drift"]``), while the
    cell still holds the remote id the check saw (a re-sent asset has a new one)."""
    found = {(d["sha256"], d["platform"], d["account"], d["remote_id"]): d for d in drift}
    for row in rows:
        for cell in row["cells"].values():
            if not cell or cell.get("local"):
                continue
            seen = found.get((row["sha256"], cell["platform"], cell["account"], cell["remote_id"]))
            if seen is not None:
                cell["drift"] = {k: seen[k] for k in ("kind", "detail", "checked_at", "run_id")}


def _refusals(conn: Connection, shas: Sequence[str]) -> dict[str, list[RowMapping]]:
    """sha256 -> its current refusals by local rules (every name x platform account)."""
    found: dict[str, list[RowMapping]] = {}
    if shas:
        r = refused_now()
        query = select(r).where(r.c.sha256.in_(list(shas))).order_by(r.c.file_key)
        for row in conn.execute(query).mappings():
            found.setdefault(row["sha256"], []).append(row)
    return found


def _stored_refusals(
    rows: Sequence[dict[str, Any]], cols: Sequence[Column], refusals: Mapping[str, Sequence[RowMapping]]
) -> None:
    """Put the recorded refusals in the cells, per file name: a cell without a record shows ``refused``
    with every refused name and its reason; a sent cell lists the names refused besides (``refused_names``)."""
    for row in rows:
        by_column: dict[str, list[RowMapping]] = {}
        for refusal in refusals.get(row["sha256"], []):
            by_column.setdefault(f"{refusal['platform']}:{refusal['account']}", []).append(refusal)
        for col in cols:
            found = by_column.get(col.key)
            if not found:
                continue
            names = [{"key": r["file_key"], "reason": r["reason"], "rule": r["rule"]} for r in found]
            cell = row["cells"].get(col.key)
            if cell is None:
                several = len({n["key"] for n in names}) > 1
                row["cells"][col.key] = {
                    "platform": col.platform,
                    "account": col.account,
                    "state": REFUSED,
                    "local": True,
                    "reason": "; ".join(f"{n['key']}: {n['reason']}" for n in names) if several else names[0]["reason"],
                    "rule": names[0]["rule"],
                    "refused_names": names,
                    "run_id": found[0]["run_id"],
                }
            else:
                cell["refused_names"] = names


def _local_verdicts(rows: Sequence[dict[str, Any]], cols: Sequence[Column]) -> None:
    """Fill the cells without a ledger record: ``refused`` with the reason when the platform's
    rules refuse the file (the sync never sends it), else left empty (not sent yet).

    The rules are the hooks' own (``sync.rules``), applied to the facts in the file index,
    only for the rows of one page: no file is read.
    """
    from airflow_creative_provider.sync.rules import check, rules_for

    rules: dict[str, Any] = {}
    for row in rows:
        creative = row.pop("_creative", None)
        if creative is None:
            continue
        for col in cols:
            if row["cells"].get(col.key) is not None:
                continue
            if col.platform not in rules:
                try:
                    rules[col.platform] = rules_for(col.platform)
                except Exception:  # noqa: BLE001 - a platform not installed: nothing to say
                    rules[col.platform] = None
            if rules[col.platform] is None:
                continue
            verdict = check(creative, col.platform, rules[col.platform])
            if not verdict.accepted:
                row["cells"][col.key] = {
                    "platform": col.platform,
                    "account": col.account,
                    "state": REFUSED,
                    "local": True,
                    "reason": verdict.reason,
                    "rule": verdict.rule,
                }


def _creative(source: str | None, key: str, size: int | None, facts: Mapping[str, Any]) -> Any:
    from airflow_creative_provider.creative import Creative

    known = {f for f in Creative.__dataclass_fields__ if f not in ("path", "key", "size", "extra")}
    kept = {k: v for k, v in facts.items() if k in known}
    return Creative(path=source_path(source or "", key), key=key, size=int(size or 0), **kept)


def _cell(record: RowMapping) -> dict[str, Any]:
    return {
        "platform": record["platform"],
        "account": record["account"],
        "state": record["state"],
        "raw_state": record["raw_state"],
        "remote_id": record["remote_id"],
        "version": record["version"],
        "reason": record["reason"],
        "file_key": record["file_key"],
        "updated_at": record["updated_at"],
        "sent_at": record["sent_at"],
        "run_id": record["state_run_id"] or record["last_run_id"],
        "last_run_id": record["last_run_id"],
        "local": False,
    }


EXTENSION_KINDS = {
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".gif": "image",
    ".webp": "image",
    ".mp4": "video",
    ".mov": "video",
    ".webm": "video",
}


def kind_of(mimetype: str | None, key: str) -> str:
    """``image``, ``video`` or ``other``: from the content type, else the extension."""
    major = (mimetype or "").split("/")[0]
    if major in ("image", "video"):
        return major
    if mimetype:
        return "other"
    return EXTENSION_KINDS.get(os.path.splitext(key)[1].lower(), "other")


def type_label(mimetype: str | None, key: str) -> str:
    """A short type for people: ``PNG``, ``MP4``, ``QuickTime``... (``?`` when unknown)."""
    if mimetype:
        sub = mimetype.split("/")[-1]
        return {"quicktime": "QuickTime", "jpeg": "JPEG", "svg+xml": "SVG", "octet-stream": "binary"}.get(
            sub, sub.upper()
        )
    ext = os.path.splitext(key)[1].lstrip(".").upper()
    return ext or "?"


def file_location(ledger: Ledger, sha256: str) -> tuple[str, str, dict[str, Any]] | None:
    """(source, key, facts) of a file in a source holding this content, None when none does."""
    with ledger.begin() as conn:
        row = (
            conn.execute(
                select(files_table.c.source, files_table.c.file_key, files_table.c.facts)
                .where(files_table.c.sha256 == sha256)
                .order_by(files_table.c.updated_at.desc())
                .limit(1)
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        return None
    return row["source"], row["file_key"], _json(row["facts"]) or {}


def source_path(source: str, key: str) -> str:
    """The readable path or URI of ``key`` in ``source`` (as the sync listed it)."""
    if "://" in source and not source.startswith("file://"):
        return f"{source.rstrip('/')}/{key}"
    root = source[len("file://") :] if source.startswith("file://") else source
    return os.path.join(root, *key.split("/"))


# ---------------------------------------------------------------------------- runs
#: the counts of a run, per platform, in the page's order.
RUN_COUNTS: tuple[str, ...] = ("sent", "ready", "rejected", "refused", "failed", "unchanged")


def list_runs(ledger: Ledger, *, offset: int = 0, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of runs, newest first) with counts per platform and bytes sent."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    r = runs_table
    with ledger.begin() as conn:
        total = conn.execute(select(func.count()).select_from(r)).scalar_one()
        rows = (
            conn.execute(
                select(
                    r.c.run_id,
                    r.c.started_at,
                    r.c.finished_at,
                    r.c.source,
                    r.c.dry_run,
                    r.c.summary,
                    r.c.bytes_sent,
                    r.c.outcome,
                )
                .order_by(r.c.started_at.desc(), r.c.run_id)
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
        run_ids = [row["run_id"] for row in rows]
        live: dict[str, dict[str, dict[str, int]]] = {}
        if run_ids:
            c = run_counts_table
            for row in conn.execute(select(c).where(c.c.run_id.in_(run_ids))).mappings():
                live.setdefault(row["run_id"], {}).setdefault(row["platform"], {})[row["name"]] = row["value"]
    return total, [_run(row, live.get(row["run_id"], {})) for row in rows]


def _run(row: RowMapping, submitted: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """A run's counts per platform from its plan (actions), report (final states) and submits.

    ``sent``: uploads that reached the platform in this run; ``ready`` / ``rejected`` /
    ``failed``: final states of the report (``rejected`` includes earlier rejections still
    standing); ``refused``: refused by the platform's rules, never sent; ``unchanged``: already
    on the platform (nothing to do, or the same content under another name).
    """
    summary = _json(row["summary"]) or {}
    platforms = summary.get("platforms") or {}
    report_counts: Mapping[str, Mapping[str, int]] = summary.get("counts") or {}
    names = list(dict.fromkeys([*platforms, *report_counts, *submitted]))
    per_platform: dict[str, dict[str, Any]] = {}
    for platform in names:
        plan = (platforms.get(platform) or {}).get("counts") or {}
        final = report_counts.get(platform) or {}
        sub = submitted.get(platform) or {}
        sent = sum(v for k, v in sub.items() if k not in ("bytes_sent", FAILED, REFUSED, SENDING))
        if row["dry_run"]:
            sent = 0
        per_platform[platform] = {
            "label": display_name(platform),
            "account": (platforms.get(platform) or {}).get("account"),
            "error": (platforms.get(platform) or {}).get("error"),
            "sent": sent,
            "ready": int(final.get(READY, 0)),
            "rejected": int(final.get(REJECTED, 0)),
            "refused": int(plan.get("refused", 0)) or int(final.get(REFUSED, 0)),
            "failed": int(final.get(FAILED, 0)) + int(final.get("not_sent", 0)) + int(final.get("error", 0)),
            "unchanged": int(plan.get("none", 0)) + int(plan.get("alias", 0)),
            "bytes_sent": int(sub.get("bytes_sent", 0)),
        }
    bytes_sent = int(row["bytes_sent"] or 0) or sum(p["bytes_sent"] for p in per_platform.values())
    return {
        "run_id": row["run_id"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "source": row["source"],
        "dry_run": bool(row["dry_run"]),
        "outcome": row["outcome"] or ("running" if row["finished_at"] is None else None),
        "bytes_sent": bytes_sent,
        "failures": list(summary.get("failures") or [])[:20],
        "warnings": list(summary.get("warnings") or [])[:20],
        "platforms": per_platform,
    }


def run_connections(ledger: Ledger, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """run id -> {platform: conn id, or a list of them for several accounts} from the runs' params
    (to build the platforms' hooks)."""
    if not run_ids:
        return {}
    with ledger.begin() as conn:
        rows = conn.execute(
            select(runs_table.c.run_id, runs_table.c.params).where(runs_table.c.run_id.in_(list(set(run_ids))))
        ).mappings()
        return {r["run_id"]: dict((_json(r["params"]) or {}).get("connections") or {}) for r in rows}


# ---------------------------------------------------------------------------- one run, one creative
def run_contents(run_id: str, shas: Sequence[str] | None = None) -> Any:
    """The contents (sha256) a run sent or changed on any platform: its history entries, and the
    records it changed last (ledgers written before the history existed); of ``shas`` only when given."""
    a, h = assets_table, history_table
    entries = select(h.c.sha256).where(h.c.run_id == run_id)
    records = select(a.c.sha256).where(or_(a.c.last_run_id == run_id, a.c.state_run_id == run_id))
    if shas is not None:
        entries, records = entries.where(h.c.sha256.in_(shas)), records.where(a.c.sha256.in_(shas))
    return union(entries, records)


def sent_runs(ledger: Ledger, shas: Sequence[str]) -> dict[tuple[str, str, str], str]:
    """(sha256, platform, account) -> the run that sent the current remote id (its last ``sent`` entry)."""
    if not shas:
        return {}
    h = history_table
    result: dict[tuple[str, str, str], str] = {}
    with ledger.begin() as conn:
        rows = conn.execute(
            select(h.c.sha256, h.c.platform, h.c.account, h.c.run_id)
            .where(h.c.sha256.in_(list(shas)), h.c.event == "sent", h.c.run_id.is_not(None))
            .order_by(h.c.at, h.c.id)
        )
        for row in rows:
            result[(row.sha256, row.platform, row.account)] = row.run_id  # the newest wins
    return result


def asset_history(ledger: Ledger, sha256: str) -> list[dict[str, Any]]:
    """Every recorded change of one content on every platform account, oldest first."""
    h = history_table
    with ledger.begin() as conn:
        rows = conn.execute(select(h).where(h.c.sha256 == sha256).order_by(h.c.at, h.c.id)).mappings().all()
    return [
        {
            "platform": r["platform"],
            "account": r["account"],
            "at": r["at"],
            "run_id": r["run_id"],
            "event": r["event"],
            "state": r["state"],
            "raw_state": r["raw_state"],
            "remote_id": r["remote_id"],
            "version": r["version"],
            "reason": r["reason"],
        }
        for r in rows
    ]


def asset_metadata(ledger: Ledger, sha256: str) -> dict[str, dict[str, Any]]:
    """The metadata each platform account was last given for one content (``creatives.yaml``),
    keyed like the page's columns (``platform:account``): its fields, when and by which run."""
    return {
        f"{platform}:{account}": {"platform": platform, "account": account, **sent}
        for (platform, account), sent in sorted(ledger.asset_metadata(sha256).items())
    }


def creative_detail(ledger: Ledger, sha256: str) -> tuple[list[Column], dict[str, Any]] | None:
    """(platform columns, the creative's matrix row) for one content; None when the ledger does not know it."""
    grouped = _grouped(AssetFilter(), [sha256]).subquery("grouped")
    with ledger.begin() as conn:
        group = conn.execute(select(grouped)).mappings().one_or_none()
        if group is None:
            return None
        cols = columns(conn)
        files = (
            conn.execute(select(files_table).where(files_table.c.sha256 == sha256).order_by(files_table.c.file_key))
            .mappings()
            .all()
        )
        assets = conn.execute(select(assets_table).where(assets_table.c.sha256 == sha256)).mappings().all()
        refusals = _refusals(conn, [sha256])
    row = _row(group, files, assets, cols)
    _stored_refusals([row], cols, refusals)
    _local_verdicts([row], cols)
    return cols, row


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


__all__ = [
    "AssetFilter",
    "AssetPage",
    "Column",
    "STATES",
    "columns",
    "asset_history",
    "creative_detail",
    "file_location",
    "list_assets",
    "list_runs",
    "run_contents",
    "sent_runs",
    "source_path",
]
