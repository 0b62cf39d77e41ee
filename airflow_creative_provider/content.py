"""One way to read a creative's bytes, whatever the source, and to prove they are the planned bytes.

Every hook reads a creative through this module, so a folder path, ``file://...``,
``s3://bucket/key`` and ``s3://conn_id@bucket/key`` behave the same on every platform:

- ``open_content(uri)`` opens the bytes for streaming: the local file, or the object through
  Airflow's ``ObjectStoragePath`` (the connection named in the URI, else the filesystem's
  default credentials). An object is read as one version: every ranged read carries the
  ``ETag`` seen at open (``If-Match``), so a concurrent overwrite fails the read instead of
  mixing two versions.
- ``PlannedContent(creative)`` is the stream an upload sends: it counts and hashes the bytes
  in the same pass as the send and, before it hands out the *last* bytes, checks that the
  size and sha256 are the ones the plan recorded (and that nothing follows). When they differ
  it raises ``ContentChanged`` instead, so the request body is never completed and the
  platform never receives a whole wrong file.
- ``check_unchanged(creative)`` is the cheap check before a create: the current size (a
  ``stat`` or the object's metadata) and, for objects, the ``ETag`` the plan saw.
- In a versioned S3 bucket the plan records the object's ``VersionId`` too, and uploads read
  that version (one ``GetObject``), so an object overwritten since the plan still sends the
  planned bytes; MediaPocket gets a presigned URL of that version.

``ContentChanged`` is a ``PlatformError``: the sync engine reports the file as failed, not
sent ("changed during the run"), records nothing as sent for the planned sha256, and the next
run plans the new content.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from airflow_creative_provider.exceptions import PlatformError

if TYPE_CHECKING:
    from airflow_creative_provider.creative import Creative

READ_BLOCK = 1024 * 1024


class ContentChanged(PlatformError):
    """A file's bytes are not the ones planned: it changed during the run.

    Nothing is committed for the planned content; the next run plans and sends the new one.

    :param file: the file's key.
    """

    def __init__(self, message: str, *, file: str, **kwargs: Any) -> None:
        self.file = file
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class ContentLocation:
    """Where a creative's bytes live.

    :param uri: the path or URI as given.
    :param local_path: the local file (``file://`` prefix removed), None for object storage.
    :param protocol: ``file`` or the object storage's scheme (``s3``, ``gs``, ...).
    :param conn_id: the Airflow connection named in the URI (``s3://conn_id@bucket/key``).
    :param bucket: the bucket of an object, None for a local file.
    :param key: the object key (no leading ``/``), None for a local file.
    :param version_id: the object version named in the URI (``...key?versionId=<id>``, s3fs's
        spelling), None for the current version.
    """

    uri: str
    local_path: str | None
    protocol: str
    conn_id: str | None = None
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def plain_uri(self) -> str:
        """The URI without the connection id (``s3://bucket/key``), e.g. for S3 tools that take no conn id."""
        if self.is_local:
            return str(self.local_path)
        return f"{self.protocol}://{self.bucket}/{self.key}"


def parse_location(uri: str | os.PathLike[str]) -> ContentLocation:
    """Split a creative's path or URI into local path, or protocol, connection id, bucket and key."""
    text = os.fspath(uri)
    if "://" not in text:
        return ContentLocation(text, text, "file")
    protocol, _, rest = text.partition("://")
    if protocol == "file":
        return ContentLocation(text, rest, "file")
    netloc, _, key = rest.partition("/")
    conn_id, at, bucket = netloc.rpartition("@")
    key, _, version_id = key.partition(VERSION_MARK)
    return ContentLocation(
        text.split(VERSION_MARK, 1)[0], None, protocol, conn_id or None if at else None, bucket, key, version_id or None
    )


#: how a revision (and an object URI) names an object version, as s3fs spells it.
VERSION_MARK = "?versionId="


def split_revision(revision: str | None) -> tuple[str | None, str | None]:
    """``(etag, version_id)`` of a ``Creative.revision`` (``<etag>`` or ``<etag>?versionId=<id>``)."""
    if not revision:
        return None, None
    etag, _, version_id = revision.partition(VERSION_MARK)
    return etag or None, version_id or None


def _object_path(uri: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri)


def _refresh(path: Any) -> None:
    """Forget cached metadata of ``path``: the plan's listing may have cached an older object version."""
    invalidate = getattr(path.fs, "invalidate_cache", None)
    if callable(invalidate):
        invalidate(path.path)


def open_content(uri: str | os.PathLike[str]) -> IO[bytes]:
    """Open a creative's bytes for streaming reads (a local path, ``file://`` or an object-storage URI)."""
    location = parse_location(uri)
    if location.local_path is not None:
        return open(location.local_path, "rb")  # noqa: SIM115 - the caller closes it
    path = _object_path(location.uri)
    _refresh(path)
    return path.open("rb")


def _revision(details: Any) -> str | None:
    if not isinstance(details, dict):
        return None
    etag = details.get("ETag") or details.get("etag")
    if not etag:
        return None
    version_id = details.get("VersionId")
    revision = str(etag).strip('"')
    return f"{revision}{VERSION_MARK}{version_id}" if version_id and version_id != "null" else revision


def revision_of(handle: IO[bytes]) -> str | None:
    """The object version a handle reads: ``<ETag>``, or ``<ETag>?versionId=<id>`` in a versioned bucket.

    None for local files.
    """
    return _revision(getattr(handle, "details", None))


class _ObjectVersion:
    """One planned version of an S3 object, streamed by a single ``GetObject`` (versioned buckets)."""

    def __init__(self, fs: Any, bucket: str, key: str, version_id: str) -> None:
        from fsspec.asyn import sync

        self._sync = lambda coro_fn, *args: sync(fs.loop, coro_fn, *args)
        try:
            answer = fs.call_s3("get_object", Bucket=bucket, Key=key, VersionId=version_id)
        except (FileNotFoundError, OSError) as exc:
            raise FileNotFoundError(f"version {version_id} of s3://{bucket}/{key} ({exc})") from None
        self.details = {"ETag": answer.get("ETag"), "VersionId": answer.get("VersionId") or version_id}
        self.size = int(answer.get("ContentLength") or 0)
        self._body = answer["Body"]
        self.closed = False

    def read(self, size: int | None = -1) -> bytes:
        return self._sync(self._body.read, None if size is None or size < 0 else size)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._body.close()

    def __enter__(self) -> _ObjectVersion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_version(uri: str | os.PathLike[str], version_id: str) -> IO[bytes]:
    """Open one version of an object (S3 with versioning); other storages open the current object."""
    location = parse_location(uri)
    path = _object_path(location.uri)
    if location.local_path is not None or not hasattr(path.fs, "call_s3"):
        return open_content(uri)
    return _ObjectVersion(path.fs, str(location.bucket), str(location.key), version_id)  # type: ignore[return-value]


def current_facts(uri: str | os.PathLike[str], version_id: str | None = None) -> tuple[int, str | None]:
    """The size and revision of what is at ``uri`` now (or of its version ``version_id``), without reading it."""
    location = parse_location(uri)
    if location.local_path is not None:
        return os.stat(location.local_path).st_size, None
    path = _object_path(location.uri)
    if version_id and hasattr(path.fs, "call_s3"):
        try:
            head = path.fs.call_s3("head_object", Bucket=location.bucket, Key=location.key, VersionId=version_id)
        except (FileNotFoundError, OSError) as exc:
            raise FileNotFoundError(f"version {version_id} of {location.plain_uri} ({exc})") from None
        return int(head.get("ContentLength") or 0), _revision(head)
    _refresh(path)
    info = path.fs.info(path.path)
    return int(info.get("size") or 0), _revision(info)


def _changed(creative: Creative, what: str) -> ContentChanged:
    return ContentChanged(
        f"{creative.key}: the file changed during the run ({what}); nothing was sent as the planned content "
        f"(sha256 {str(creative.sha256)[:12]}…, {creative.size} bytes). The next run sends the new content.",
        file=creative.key,
    )


def check_unchanged(creative: Creative) -> None:
    """Raise ``ContentChanged`` when the file's current size or object ``ETag`` is not the planned one.

    The cheap check before a create (one ``stat`` or one metadata request); the bytes are
    verified in full while they are sent (``PlannedContent``). In a versioned bucket the
    planned version is checked: it is what the upload reads, even after an overwrite.
    """
    planned_etag, version_id = split_revision(creative.revision)
    try:
        size, revision = current_facts(creative.path, version_id)
    except FileNotFoundError:
        raise _changed(creative, "it is gone") from None
    if size != creative.size:
        raise _changed(creative, f"it now has {size} bytes")
    etag = split_revision(revision)[0]
    if planned_etag and etag and etag != planned_etag:
        raise _changed(creative, "the object's ETag is not the one planned")


def _is_expired(exc: BaseException) -> bool:
    """s3fs raises ``FileExpired`` (an OSError) when ``If-Match`` fails: the object was overwritten."""
    return type(exc).__name__ == "FileExpired" or getattr(exc, "errno", None) == 16 and "ETag" in str(exc)


class PlannedContent:
    """A read-only stream of a creative's planned bytes, verified in the same pass as the send.

    ``read`` hands out the file's bytes while hashing them; before it returns the final
    bytes it checks that the size and sha256 are the planned ones and that the file ends
    there, and raises ``ContentChanged`` otherwise. Other digests (``hashes=("sha1",)``) are
    available from ``digests()`` once everything was read.

    :param creative: the planned facts (``path``, ``key``, ``size``, ``sha256``, ``revision``).
    :param verify: check against the plan (False: only count and hash, e.g. for a file with no plan).
    """

    def __init__(self, creative: Creative, *, hashes: Sequence[str] = (), verify: bool = True) -> None:
        self.creative = creative
        self.size = creative.size
        self._verify = verify and creative.sha256 is not None
        planned_etag, version_id = split_revision(creative.revision)
        try:
            if version_id:  # a versioned bucket: read the planned version, whatever was written since
                self._handle = open_version(creative.path, version_id)
            else:
                self._handle = open_content(creative.path)
        except FileNotFoundError:
            raise _changed(creative, "it is gone") from None
        etag = split_revision(revision_of(self._handle))[0]
        if self._verify and planned_etag and etag and planned_etag != etag:
            self._handle.close()
            raise _changed(creative, "the object's ETag is not the one planned")
        self._sha256 = hashlib.sha256()
        self._hashers = {name: hashlib.new(name, usedforsecurity=False) for name in hashes if name != "sha256"}
        self._remaining = self.size
        self.bytes_read = 0

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        try:
            data = self._handle.read(want)
        except OSError as exc:
            if _is_expired(exc):
                raise _changed(self.creative, "the object was overwritten while it was read") from None
            raise
        if not data:
            raise _changed(self.creative, f"it ended after {self.bytes_read} of {self.size} bytes")
        self._sha256.update(data)
        for hasher in self._hashers.values():
            hasher.update(data)
        self.bytes_read += len(data)
        self._remaining -= len(data)
        if self._remaining <= 0:
            self._check_end()
        return data

    def _check_end(self) -> None:
        """Before the last bytes leave: the file ends here and its sha256 is the planned one."""
        if not self._verify:
            return
        if self._handle.read(1):
            raise _changed(self.creative, f"it is longer than the planned {self.size} bytes")
        if self._sha256.hexdigest() != self.creative.sha256:
            raise _changed(self.creative, "its sha256 is not the planned one")

    def digests(self) -> dict[str, str]:
        """Hex digests of everything read (sha256 and the ``hashes`` asked for)."""
        return {"sha256": self._sha256.hexdigest(), **{n: h.hexdigest() for n, h in self._hashers.items()}}

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PlannedContent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def planned_content(creative: Creative, **kwargs: Any) -> PlannedContent:
    """``PlannedContent(creative)``: the verified stream every upload sends."""
    return PlannedContent(creative, **kwargs)


__all__ = [
    "ContentChanged",
    "ContentLocation",
    "PlannedContent",
    "check_unchanged",
    "current_facts",
    "open_content",
    "open_version",
    "parse_location",
    "planned_content",
    "revision_of",
    "split_revision",
]
