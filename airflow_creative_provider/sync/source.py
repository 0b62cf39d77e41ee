"""List a creative source (local folder, ``file://`` or ``s3://bucket/prefix``) and learn each file's facts.

The listing is one pass: a directory walk with ``stat`` for local folders, one recursive
object listing for object storage (``ObjectStoragePath`` and the Amazon provider; name the
connection in the URI as ``s3://conn_id@bucket/prefix`` or pass ``conn_id``). Keys are paths
relative to the source, with ``/`` separators.

Hidden and temporary files (dot files and dot folders, Office lock files ``~$...``, partial
downloads such as ``.part``, ``.crdownload``, ``.tmp``) are skipped and counted, and so are
files modified less than ``min_age_seconds`` ago (half-written files wait for the next run).

Content is read only when needed: a file whose size and modification time match the file
index of the previous run keeps its recorded facts (sha256, type, dimensions, ...), so an
unchanged folder costs one listing. ``checksum=True`` re-reads every file. Errors (a folder
that cannot be read, a file that vanished or cannot be opened) are collected, never raised
for one file: a listing with errors is incomplete, so nothing may be archived because of it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import logging
import math
import os
import posixpath
import re
import stat
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from airflow_creative_provider.creative import Creative

log = logging.getLogger(__name__)

#: suffixes of files still being written by a browser, a download tool or an editor.
TEMPORARY_SUFFIXES: tuple[str, ...] = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", "~")
#: prefixes of lock and temporary files (Office lock files ``~$report.docx``).
TEMPORARY_PREFIXES: tuple[str, ...] = ("~$", ".~lock.")


class SourceError(ValueError):
    """The source itself cannot be listed (it does not exist, or is not a folder)."""


@dataclass(frozen=True)
class IndexEntry:
    """What the file index remembers of one key: its size, mtime and facts (sha256, type...)."""

    size: int
    mtime: float | None
    sha256: str | None
    facts: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, size: int, mtime: float | None) -> bool:
        if self.size != size or self.sha256 is None:
            return False
        if mtime is None or self.mtime is None:
            return mtime is None and self.mtime is None
        return abs(self.mtime - mtime) < 1e-6


@dataclass
class Listing:
    """The result of listing a source.

    :param files: the creatives kept, with their facts, sorted by key.
    :param skipped: counts of skipped files by reason (``hidden``, ``temporary``, ``recent``,
        ``excluded``).
    :param errors: what could not be listed or read (``key: message``); any error makes
        archiving impossible.
    :param hashed: how many files were read in this listing (the others kept indexed facts).
    """

    source: str
    files: list[Creative] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hashed: int = 0
    bytes_hashed: int = 0
    #: keys of the files read in this listing (the others kept their indexed facts).
    read_keys: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": len(self.files),
            "bytes": sum(f.size for f in self.files),
            "skipped": dict(self.skipped),
            "errors": list(self.errors),
            "hashed": self.hashed,
            "bytes_hashed": self.bytes_hashed,
        }


class _Entry(NamedTuple):
    """One listed file (a tuple: tens of thousands are made per listing)."""

    key: str
    path: str
    size: int
    mtime: float | None


# ---------------------------------------------------------------------------- globs
@lru_cache(maxsize=64)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with ``**`` (any folders), ``*`` and ``?`` (within one name) to a regex."""
    i, out = 0, []
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i : end + 1])[4:-3])
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _include_matcher(include: str | None) -> Callable[[str], bool] | None:
    """A predicate for ``matches_include(key, include)``; None when every key matches."""
    patterns = [p.strip().lstrip("/") for p in (include or "").split(",") if p.strip()]
    if not patterns or any(p in ("**", "**/*") for p in patterns):
        return None
    return lambda key: matches_include(key, include)


def matches_include(key: str, include: str | None) -> bool:
    """Does ``key`` match the ``include`` glob?

    ``**`` spans folders, ``*`` and ``?`` stay within one name; a pattern without ``/``
    matches the file name in any folder (``*.png``), a pattern with ``/`` the whole key.
    Several patterns may be given separated by commas.
    """
    if not include:
        return True
    for pattern in (p.strip() for p in include.split(",")):
        if not pattern:
            continue
        pattern = pattern.lstrip("/")
        target = key if "/" in pattern else posixpath.basename(key)
        if _glob_regex(pattern).match(target):
            return True
    return False


def skip_reason(key: str) -> str | None:
    """``hidden`` or ``temporary`` when the file must not be synced, else None."""
    parts = key.split("/")
    name = parts[-1]
    if any(part.startswith(".") and not part.startswith(".~lock.") for part in parts[:-1]):
        return "hidden"
    if name.startswith(TEMPORARY_PREFIXES) or name.lower().endswith(TEMPORARY_SUFFIXES):
        return "temporary"
    if name.startswith("."):
        return "hidden"
    return None


# ---------------------------------------------------------------------------- sources
def is_object_storage(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def local_root(source: str) -> str:
    return source[len("file://") :] if source.startswith("file://") else source


#: the skip reason of a symbolic link whose target lies outside the source folder.
LINK_OUTSIDE = "link_outside"
#: the metadata manifest at the source's root (``sync.metadata``): read, never sent as a creative.
MANIFEST_NAME = "creatives.yaml"


class _Columns:
    """A listing's files as columns, in listing order: one append per column per file, no object per file."""

    __slots__ = ("keys", "paths", "sizes", "mtimes")

    def __init__(self) -> None:
        self.keys: list[str] = []
        #: None for a local folder: each path is the root joined with the key (built only when needed).
        self.paths: list[str] | None = []
        self.sizes: list[int] = []
        self.mtimes: list[float | None] = []

    def add(self, entry: _Entry) -> None:
        self.keys.append(entry.key)
        assert self.paths is not None
        self.paths.append(entry.path)
        self.sizes.append(entry.size)
        self.mtimes.append(entry.mtime)


def _walk_local(
    root: str,
    errors: list[str],
    *,
    follow_outside_links: bool = False,
    outside: list[str] | None = None,
) -> tuple[_Columns, _Entry | None]:
    """Every regular file under ``root``, one ``stat`` each, in directory order; and the manifest.

    Links to files inside the source folder are followed. A link whose target lies outside
    it (anywhere else on the worker) is not, unless ``follow_outside_links``: its key is
    appended to ``outside`` and logged, so a link never publishes a file from elsewhere
    unnoticed. Symlinked folders are never entered. The manifest (``MANIFEST_NAME`` at the
    root) is returned apart, never as a file to sync.

    A plain file costs what a bare ``os.scandir`` walk with ``stat`` costs plus three appends:
    an unchanged folder's listing is most of a no-op rerun, and nothing is sorted here (the
    scan sorts only when a plan is made; its fingerprint takes the listing order).
    """
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise SourceError(f"source {root!r} does not exist or is not a folder; check the source param.")
    inside_prefix = os.path.realpath(root).rstrip(os.sep) + os.sep
    columns = _Columns()
    columns.paths = None
    add_key, add_size, add_mtime = columns.keys.append, columns.sizes.append, columns.mtimes.append
    manifest: _Entry | None = None
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as it:
                for item in it:
                    # DirEntry caches the file type from the directory read: a plain file needs
                    # one lstat and nothing else
                    try:
                        if item.is_file(follow_symlinks=False):
                            st = item.stat()
                            add_key(prefix + item.name)
                            add_size(st.st_size)
                            add_mtime(st.st_mtime)
                        elif item.is_dir(follow_symlinks=False):  # like os.walk: symlinked folders not entered
                            pending.append((item.path, prefix + item.name + "/"))
                        else:  # a link, a device, a socket...
                            entry = _other_entry(item, prefix, inside_prefix, follow_outside_links, outside)
                            if entry is not None:
                                add_key(entry.key)
                                add_size(entry.size)
                                add_mtime(entry.mtime)
                    except OSError as exc:  # vanished since the directory was read, or unreadable
                        errors.append(f"{prefix}{item.name}: cannot stat ({exc.strerror or exc})")
        except OSError as exc:
            errors.append(f"{prefix or '.'}: cannot list ({exc.strerror or exc})")
    if MANIFEST_NAME in columns.keys:  # at the root only: its key has no folder
        at = columns.keys.index(MANIFEST_NAME)
        manifest = _Entry(MANIFEST_NAME, os.path.join(root, MANIFEST_NAME), columns.sizes[at], columns.mtimes[at])
        for column in (columns.keys, columns.sizes, columns.mtimes):
            del column[at]
    return columns, manifest


def _other_entry(
    item: os.DirEntry[str],
    prefix: str,
    inside_prefix: str,
    follow_outside_links: bool,
    outside: list[str] | None,
) -> _Entry | None:
    """A directory entry that is neither a plain file nor a folder: a linked file, or nothing to list.

    :raises OSError: it cannot be followed (a dangling link).
    """
    key = prefix + item.name
    if item.is_symlink() and item.is_file():  # linked folders are never entered
        target = os.path.realpath(item.path)
        if not target.startswith(inside_prefix):
            if outside is not None:
                outside.append(key)
            if not follow_outside_links:
                log.warning(
                    "%s: a link to %s, outside the source folder: not followed (param "
                    "follow_outside_links sends such files)",
                    key,
                    target,
                )
                return None
            log.warning("%s: a link to %s, outside the source folder: followed", key, target)
    st = item.stat()
    if not stat.S_ISREG(st.st_mode):  # a device, a socket, a fifo
        return None
    return _Entry(key, item.path, st.st_size, st.st_mtime)


def object_storage_root(source: str, conn_id: str | None = None) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(source, conn_id=conn_id) if conn_id else ObjectStoragePath(source)


def _mtime_of(info: Mapping[str, Any]) -> float | None:
    for name in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _walk_object_storage(source: str, conn_id: str | None, errors: list[str]) -> Iterator[_Entry]:
    root = object_storage_root(source, conn_id)
    base = root.path.rstrip("/")
    # str(ObjectStoragePath) carries the connection id (never a secret): ``s3://conn@bucket/key``.
    uri_base = str(root).rstrip("/")
    try:
        found = root.fs.find(base, detail=True)
    except FileNotFoundError:
        raise SourceError(f"source {source!r} does not exist; check the source param.") from None
    except Exception as exc:  # noqa: BLE001 - any storage error makes the listing incomplete
        errors.append(f"{source}: cannot list ({type(exc).__name__}: {exc})")
        return
    if not found and not root.exists():
        raise SourceError(f"source {source!r} does not exist; check the source param.")
    for name in sorted(found):
        info = found[name]
        if info.get("type", "file") != "file":
            continue
        name = name.strip("/")
        if not name.startswith(base.strip("/") + "/"):
            continue
        key = name[len(base.strip("/")) + 1 :]
        yield _Entry(key, f"{uri_base}/{key}", int(info.get("size") or 0), _mtime_of(info))


def _columns_digest(columns: _Columns, head: Any, joined: str | None = None) -> str:
    """sha256 of ``head`` (JSON) and every file's key, size and mtime, in listing order.

    Fed column by column in C (the keys joined, the sizes and mtimes as packed arrays): no
    string is formatted per file. A missing mtime (object storage without one) is packed as NaN,
    which no real mtime is. Listing order, not key order: the same unchanged folder lists in the
    same order, and another order only costs planning afresh, never a wrong reuse (the digest
    still covers every key, size and mtime).
    """
    digest = hashlib.sha256(json.dumps(head).encode())
    digest.update(b"keys,size,mtime:%d\n" % len(columns.keys))
    digest.update(("\0".join(columns.keys) if joined is None else joined).encode("utf-8", "surrogateescape"))
    digest.update(array("q", columns.sizes).tobytes())
    mtimes: array[float]
    try:
        mtimes = array("d", columns.mtimes)  # type: ignore[arg-type]  # a None raises: handled below
    except TypeError:  # a missing mtime
        mtimes = array("d", (math.nan if m is None else m for m in columns.mtimes))
    digest.update(mtimes.tobytes())
    return digest.hexdigest()


@dataclass
class Scan:
    """The first, cheap half of a listing: the files to sync with their size and mtime, no content read.

    :param skipped: counts of skipped files by reason (``hidden``, ``temporary``, ``recent``,
        ``excluded``).
    :param errors: what could not be listed.
    :param recent: keys skipped as modified less than ``min_age_seconds`` ago.

    The kept files are held as columns in listing order; ``entries`` gives them sorted by key
    (built on first use: an unchanged rerun only needs the fingerprint and the summary).
    """

    source: str
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    recent: set[str] = field(default_factory=set)
    #: keys of links whose target lies outside the source folder (skipped unless followed).
    links_outside: list[str] = field(default_factory=list)
    #: the metadata manifest (``MANIFEST_NAME`` at the root), when the source has one.
    manifest: _Entry | None = None
    columns: _Columns = field(default_factory=_Columns, repr=False)
    #: a local folder's absolute path (the files' paths are it joined with their keys).
    root: str | None = None
    _joined: str | None = field(default=None, init=False, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)
    _entries: list[_Entry] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def entries(self) -> list[_Entry]:
        """The kept files, sorted by key."""
        if self._entries is None:
            columns = self.columns
            if columns.paths is None:
                root = self.root or ""
                paths: Iterable[str] = (os.path.join(root, key) for key in columns.keys)
            else:
                paths = columns.paths
            new_entry = tuple.__new__  # no Python-level NamedTuple.__new__ per file
            rows = zip(columns.keys, paths, columns.sizes, columns.mtimes, strict=True)
            self._entries = sorted((new_entry(_Entry, row) for row in rows), key=_ENTRY_KEY)
        return self._entries

    def fingerprint(self) -> str:
        """A digest of every kept key, size and mtime, the skip counts and the errors.

        Two scans with the same fingerprint hold the same files as far as size and mtime tell
        (what the file index trusts unless ``checksum`` is set). Computed once per scan (a scan
        is complete when ``scan_source`` returns it).
        """
        if self._fingerprint is None:
            self._fingerprint = _columns_digest(self.columns, [sorted(self.skipped.items()), self.errors], self._joined)
            self._joined = None
        return self._fingerprint

    @property
    def file_count(self) -> int:
        """How many files are kept (without sorting them)."""
        return len(self.columns.keys)

    def summary(self) -> dict[str, Any]:
        """What ``Listing.summary`` says, for a listing that read nothing."""
        return {
            "source": self.source,
            "files": self.file_count,
            "bytes": sum(self.columns.sizes),
            "skipped": dict(self.skipped),
            "errors": list(self.errors),
            "hashed": 0,
            "bytes_hashed": 0,
        }


_ENTRY_KEY = attrgetter("key")
#: what may start a hidden or temporary name, or end a temporary one, in keys joined by NUL
#: (``skip_reason`` is asked only when the joined keys hold one: most folders hold none)
_SKIP_MARKS = ("\0.", "/.", "\0~", "/~", *(suffix + "\0" for suffix in TEMPORARY_SUFFIXES))


def scan_source(
    source: str,
    *,
    include: str | None = "**/*",
    min_age_seconds: float = 0,
    conn_id: str | None = None,
    now: float | None = None,
    follow_outside_links: bool = False,
) -> Scan:
    """Walk ``source`` and keep the files to sync (skip rules, ``include``, ``min_age_seconds``); read nothing.

    Parameters as for ``list_source``; ``follow_outside_links`` also sends the files that
    symbolic links outside the source folder point to (by default they are skipped, counted
    as ``link_outside``, and named in ``Scan.links_outside``).
    """
    scan = Scan(source=source)
    now = time.time() if now is None else now
    outside: list[str] = []
    if is_object_storage(source):
        listed = _Columns()
        for entry in _walk_object_storage(source, conn_id, scan.errors):
            if entry.key == MANIFEST_NAME:  # the metadata manifest: read by the plan, never a creative
                scan.manifest = entry
            else:
                listed.add(entry)
    else:
        scan.root = os.path.abspath(os.path.expanduser(local_root(source)))
        listed, scan.manifest = _walk_local(
            scan.root, scan.errors, follow_outside_links=follow_outside_links, outside=outside
        )
    included = _include_matcher(include)
    # every key is kept unless one may be hidden or temporary, an include narrows the keys or
    # a file is recent: the keys are joined once (the fingerprint hashes that text) and searched in C
    joined = "\0".join(listed.keys)
    marked = "\0" + joined.lower() + "\0"
    may_skip = any(mark in marked for mark in _SKIP_MARKS)
    oldest_kept = now - min_age_seconds
    may_be_recent = bool(min_age_seconds) and _newest(listed.mtimes) > oldest_kept
    if not may_skip and included is None and not may_be_recent:
        scan.columns, scan._joined = listed, joined
    else:
        scan.columns = _kept(listed, scan, included, min_age_seconds, now, may_skip=may_skip)
    scan.links_outside = sorted(outside)
    if outside and not follow_outside_links:
        scan.skipped[LINK_OUTSIDE] = scan.skipped.get(LINK_OUTSIDE, 0) + len(outside)
    return scan


def _newest(mtimes: list[float | None]) -> float:
    try:
        return max(mtimes, default=0.0)  # type: ignore[type-var,return-value]  # a None raises: handled below
    except TypeError:  # object storage without an mtime for some files
        return max((m for m in mtimes if m is not None), default=0.0)


def _kept(
    listed: _Columns,
    scan: Scan,
    included: Callable[[str], bool] | None,
    min_age_seconds: float,
    now: float,
    *,
    may_skip: bool = True,
) -> _Columns:
    """The listed files the skip rules, ``include`` and ``min_age_seconds`` keep; the others counted in ``scan``.

    :param may_skip: some key may be hidden or temporary (else ``skip_reason`` is not asked per key).
    """
    kept = _Columns()
    kept.paths = None if listed.paths is None else []
    skipped = scan.skipped
    for at, key in enumerate(listed.keys):
        reason = skip_reason(key) if may_skip else None
        if reason is None and included is not None and not included(key):
            reason = "excluded"
        mtime = listed.mtimes[at]
        if reason is None and min_age_seconds and mtime is not None and now - mtime < min_age_seconds:
            reason = "recent"
            scan.recent.add(key)
        if reason is None:
            kept.keys.append(key)
            if kept.paths is not None and listed.paths is not None:
                kept.paths.append(listed.paths[at])
            kept.sizes.append(listed.sizes[at])
            kept.mtimes.append(mtime)
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return kept


def read_manifest(scan: Scan) -> bytes | None:
    """The bytes of the source's metadata manifest (any source kind), None when it has none."""
    if scan.manifest is None:
        return None
    from airflow_creative_provider.content import open_content

    with open_content(scan.manifest.path) as handle:
        return handle.read()


def list_source(
    source: str,
    *,
    include: str | None = "**/*",
    min_age_seconds: float = 0,
    index: Mapping[str, IndexEntry] | None = None,
    checksum: bool = False,
    conn_id: str | None = None,
    now: float | None = None,
    inspect: Callable[[str, str], Creative] | None = None,
    scan: Scan | None = None,
) -> Listing:
    """List ``source`` and return the facts of every file to sync.

    :param source: a folder path, ``file://...`` or ``s3://[conn_id@]bucket/prefix``.
    :param include: glob of the keys to keep (see ``matches_include``).
    :param min_age_seconds: skip files modified less than this many seconds ago.
    :param index: the file index of the previous run (key -> ``IndexEntry``): files whose
        size and mtime match keep their recorded facts instead of being read again.
    :param checksum: read every file, ignoring the index.
    :param conn_id: Airflow connection for object storage (else the one in the URI, else
        the Amazon provider's default).
    :param now: epoch seconds to age files against (defaults to the current time).
    :param inspect: ``(path, key) -> Creative``; defaults to ``Creative.inspect`` with sha1.
    :param scan: the result of ``scan_source`` when the caller already walked the source.
    """
    if scan is None:
        scan = scan_source(source, include=include, min_age_seconds=min_age_seconds, conn_id=conn_id, now=now)
    listing = Listing(source=source, skipped=dict(scan.skipped), errors=list(scan.errors))
    index = index or {}
    inspect = inspect or (lambda path, key: Creative.inspect(path, key, sha1=True))
    new = object.__new__
    for entry in scan.entries:
        known = index.get(entry.key)
        if known is not None and not checksum and known.matches(entry.size, entry.mtime):
            facts = known.facts
            if facts.keys() <= _FACT_SET:  # built without the frozen dataclass's per-field __init__
                creative = new(Creative)
                creative.__dict__.update(_FACT_DEFAULTS, **facts)
                creative.__dict__.update(path=entry.path, key=entry.key, size=entry.size, mtime=entry.mtime, extra={})
            else:  # facts of another version of this provider: only the fields Creative has
                facts = {k: facts[k] for k in _FACT_FIELDS if k in facts}
                creative = Creative(path=entry.path, key=entry.key, size=entry.size, mtime=entry.mtime, **facts)
            listing.files.append(creative)
            continue
        try:
            creative = inspect(entry.path, entry.key)
        except Exception as exc:  # noqa: BLE001 - one unreadable file is that file's error, never the listing's
            listing.errors.append(f"{entry.key}: cannot read ({type(exc).__name__}: {exc})")
            continue
        listing.hashed += 1
        listing.bytes_hashed += creative.size
        listing.read_keys.add(entry.key)
        listing.files.append(creative.replace(mtime=entry.mtime))
    return listing


_FACT_FIELDS = tuple(
    f.name for f in dataclasses.fields(Creative) if f.name not in ("path", "key", "size", "mtime", "extra")
)
_FACT_SET = frozenset(_FACT_FIELDS)
_FACT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Creative) if f.name in _FACT_SET}


def creative_facts(creative: Creative) -> dict[str, Any]:
    """What the index keeps of a creative (everything but where it is): a flat, JSON-safe dict."""
    return {name: getattr(creative, name) for name in _FACT_FIELDS}


def index_entries(listing: Listing, *, only_read: bool = False) -> dict[str, IndexEntry]:
    """The file index after ``listing`` (key -> size, mtime, sha256, facts).

    :param only_read: only the files read in this listing (what changed since the index).
    """
    files = [c for c in listing.files if c.key in listing.read_keys] if only_read else listing.files
    return {c.key: IndexEntry(c.size, c.mtime, c.sha256, creative_facts(c)) for c in files}
