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
from collections.abc import Callable, Iterator, Mapping
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


#: the last characters of the temporary suffixes, in both cases: most keys need no suffix test.
_TEMPORARY_LAST = frozenset(c for suffix in TEMPORARY_SUFFIXES for c in (suffix[-1].lower(), suffix[-1].upper()))


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


_ENTRY_NAME = attrgetter("name")


def _walk_local(
    root: str, errors: list[str], *, follow_outside_links: bool = False, outside: list[str] | None = None
) -> Iterator[_Entry]:
    """Every regular file under ``root``, one ``stat`` each, in directory order.

    Links to files inside the source folder are followed. A link whose target lies outside
    it (anywhere else on the worker) is not, unless ``follow_outside_links``: its key is
    appended to ``outside`` and logged, so a link never publishes a file from elsewhere
    unnoticed. Symlinked folders are never entered.
    """
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise SourceError(f"source {root!r} does not exist or is not a folder; check the source param.")
    real_root = os.path.realpath(root)
    inside_prefix = real_root.rstrip(os.sep) + os.sep
    pending = [(root, "")]
    new_entry, S_ISREG = tuple.__new__, stat.S_ISREG  # no Python-level NamedTuple.__new__ per file
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as it:
                found = list(it)  # no sort here: the scan sorts every key once
        except OSError as exc:
            errors.append(f"{prefix or '.'}: cannot list ({exc.strerror or exc})")
            continue
        # each folder's names in order and its sub-folders visited in order: the entries come
        # nearly sorted by key, and the scan's final sort only merges a few runs
        found.sort(key=_ENTRY_NAME)
        folders = []
        for item in found:
            key = prefix + item.name
            try:
                # DirEntry caches the file type from the directory read; stat follows symlinks.
                if item.is_dir(follow_symlinks=False):  # like os.walk: symlinked folders not entered
                    folders.append((item.path, key + "/"))
                    continue
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
                            continue
                        log.warning("%s: a link to %s, outside the source folder: followed", key, target)
                st = item.stat()
            except OSError as exc:
                errors.append(f"{key}: cannot stat ({exc.strerror or exc})")
                continue
            if S_ISREG(st.st_mode):
                yield new_entry(_Entry, (key, item.path, st.st_size, st.st_mtime))
        pending.extend(reversed(folders))


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


_ENTRY_KEY, _ENTRY_SIZE, _ENTRY_MTIME = attrgetter("key"), attrgetter("size"), attrgetter("mtime")


def _entries_digest(entries: list[_Entry], head: Any) -> str:
    """sha256 of ``head`` (JSON) and every entry's key, size and mtime, in order.

    Fed column by column in C (the keys joined, the sizes and mtimes as packed arrays): no
    string is formatted per file. A missing mtime (object storage without one) is packed as NaN,
    which no real mtime is.
    """
    digest = hashlib.sha256(json.dumps(head).encode())
    digest.update(b"keys,size,mtime:%d\n" % len(entries))
    digest.update("\0".join(map(_ENTRY_KEY, entries)).encode("utf-8", "surrogateescape"))
    digest.update(array("q", map(_ENTRY_SIZE, entries)).tobytes())
    try:
        mtimes = array("d", map(_ENTRY_MTIME, entries))
    except TypeError:  # a missing mtime
        mtimes = array("d", (math.nan if e.mtime is None else e.mtime for e in entries))
    digest.update(mtimes.tobytes())
    return digest.hexdigest()


@dataclass
class Scan:
    """The first, cheap half of a listing: the files to sync with their size and mtime, no content read.

    :param entries: the kept files, sorted by key.
    :param skipped: counts of skipped files by reason (``hidden``, ``temporary``, ``recent``,
        ``excluded``).
    :param errors: what could not be listed.
    :param recent: keys skipped as modified less than ``min_age_seconds`` ago.
    """

    source: str
    entries: list[_Entry] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    recent: set[str] = field(default_factory=set)
    #: keys of links whose target lies outside the source folder (skipped unless followed).
    links_outside: list[str] = field(default_factory=list)
    #: the metadata manifest (``MANIFEST_NAME`` at the root), when the source has one.
    manifest: _Entry | None = None
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """A digest of every kept key, size and mtime, the skip counts and the errors.

        Two scans with the same fingerprint hold the same files as far as size and mtime tell
        (what the file index trusts unless ``checksum`` is set). Computed once per scan (a scan
        is complete when ``scan_source`` returns it).
        """
        if self._fingerprint is None:
            self._fingerprint = _entries_digest(self.entries, [sorted(self.skipped.items()), self.errors])
        return self._fingerprint

    def summary(self) -> dict[str, Any]:
        """What ``Listing.summary`` says, for a listing that read nothing."""
        return {
            "source": self.source,
            "files": len(self.entries),
            "bytes": sum(map(_ENTRY_SIZE, self.entries)),
            "skipped": dict(self.skipped),
            "errors": list(self.errors),
            "hashed": 0,
            "bytes_hashed": 0,
        }


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
        entries = _walk_object_storage(source, conn_id, scan.errors)
    else:
        entries = _walk_local(
            local_root(source), scan.errors, follow_outside_links=follow_outside_links, outside=outside
        )
    skipped = scan.skipped
    included = _include_matcher(include)
    for entry in entries:
        key = entry.key
        if key == MANIFEST_NAME:  # the metadata manifest: read by the plan, never a creative
            scan.manifest = entry
            continue
        # skip_reason only where a name starts with "." or "~" or ends like a temporary file
        # (substring and last-character tests first: this runs for every file of every listing)
        maybe = key[:1] in (".", "~") or "/." in key or "/~" in key
        if not maybe and key[-1:] in _TEMPORARY_LAST:
            maybe = key.lower().endswith(TEMPORARY_SUFFIXES)
        reason = skip_reason(key) if maybe else None
        if reason is None and included is not None and not included(key):
            reason = "excluded"
        if reason is None and min_age_seconds and entry.mtime is not None and now - entry.mtime < min_age_seconds:
            reason = "recent"
            scan.recent.add(key)
        if reason is None:
            scan.entries.append(entry)
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    scan.entries.sort(key=attrgetter("key"))
    scan.links_outside = sorted(outside)
    if outside and not follow_outside_links:
        skipped[LINK_OUTSIDE] = skipped.get(LINK_OUTSIDE, 0) + len(outside)
    return scan


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
