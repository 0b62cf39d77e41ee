"""Streaming upload bodies: presigned PUT, presigned POST form, base64 inside JSON.

Each body is a file-like object that knows its exact length (``len(body)``), so requests
sends one ``Content-Length`` and urllib3 pulls it in 1 MiB blocks (``TransferAdapter``):
no file is ever read whole into memory, whatever its size. A body can hash the file in the
same pass (``hashes=("sha256", "sha1")``, read with ``digests()`` after the send) and logs
progress for files over ``PROGRESS_MIN_BYTES``: bytes sent, rate and time left, at least
every ``PROGRESS_EVERY_SECONDS`` or ``PROGRESS_EVERY_PERCENT`` during one file.

The source is a ``Creative`` (its planned bytes, read through ``content.PlannedContent``
from any source kind and verified in the same pass: a file that changed since the plan
raises ``ContentChanged`` before the body's last bytes leave, so the platform never gets a
whole wrong file), a path or URI (local, ``file://``, ``s3://[conn@]bucket/key``), or an
open binary file.

Bodies are one-shot: a call that may be retried passes a factory (``lambda: put_body(...)``)
so each attempt streams from the start.

Why hand-made and not requests-toolbelt's ``MultipartEncoder``: ``benchmarks/transfer.py``
measures the encoder at a fraction of a raw socket send, and this sized chain of parts at
about the raw rate. Base64 uses ``pybase64`` (SIMD), several times faster than the stdlib.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

import pybase64
from requests.adapters import HTTPAdapter

from airflow_creative_provider.creative import Creative

log = logging.getLogger(__name__)

READ_BLOCK = 1024 * 1024
#: 768 KiB of input is exactly 1 MiB of base64 (a multiple of 3 keeps chunks padding-free).
BASE64_READ_BLOCK = 3 * 256 * 1024
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
#: a long upload logs its progress at least this often (seconds) ...
PROGRESS_EVERY_SECONDS = 10.0
#: ... and at least every this many percent of the file.
PROGRESS_EVERY_PERCENT = 5
#: Marker replaced by the streamed base64 payload in a JSON document. Only letters and
#: underscores, so it survives JSON encoding at any depth (MediaMath nests a JSON string).
PAYLOAD = "__CREATIVE_BASE64_PAYLOAD__"

Source = Creative | str | os.PathLike[str] | IO[bytes]


class TransferAdapter(HTTPAdapter):
    """HTTPAdapter whose connections send bodies in 1 MiB blocks (urllib3's default is 16 KiB).

    Measured by ``benchmarks/transfer.py``: the default block size holds a streamed PUT to
    well under half of a raw socket send; 1 MiB blocks reach it.
    """

    def __init__(self, blocksize: int = READ_BLOCK, **kwargs: Any) -> None:
        self.blocksize = blocksize
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = self.blocksize
        super().init_poolmanager(*args, **kwargs)


def base64_length(size: int) -> int:
    """Length of the standard (padded) base64 encoding of ``size`` bytes."""
    return 4 * math.ceil(size / 3)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Logs bytes sent, rate and time left of one long transfer.

    A line at least every ``every_seconds`` (checked as bytes are read) or every
    ``every_percent`` of the file, whichever comes first, and one at the end. Files under
    ``min_bytes`` log nothing (the per-file line of the caller suffices).

    :param clock: seconds, monotonic (``time.monotonic``); tests pass a fake clock.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        every_seconds: float = PROGRESS_EVERY_SECONDS,
        every_percent: float = PROGRESS_EVERY_PERCENT,
        min_bytes: int = PROGRESS_MIN_BYTES,
    ) -> None:
        self.label = label
        self.total = total
        self.enabled = total >= min_bytes
        self.clock = clock
        self.every_seconds = every_seconds
        self.every_bytes = max(1, int(total * every_percent / 100))
        self.start = clock()
        self.last_time = self.start
        self.last_done = 0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        finished = done >= self.total
        if not finished and done - self.last_done < self.every_bytes and now - self.last_time < self.every_seconds:
            return
        self.last_done, self.last_time = done, now
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed
        percent = done * 100 / self.total if self.total else 100.0
        if finished:
            log.info(
                "%s: %.1f of %.1f MB sent (100%%) in %s, %.1f MB/s",
                self.label, done / 1e6, self.total / 1e6, _duration(elapsed), rate / 1e6,
            )  # fmt: skip
            return
        left = (self.total - done) / rate if rate > 0 else float("inf")
        log.info(
            "%s: %.1f of %.1f MB sent (%.0f%%), %.1f MB/s, about %s left",
            self.label, done / 1e6, self.total / 1e6, percent, rate / 1e6,
            _duration(left) if left != float("inf") else "unknown time",
        )  # fmt: skip


#: the name older callers used.
_Progress = Progress


class StreamingBody:
    """A sized, readable, one-shot request body made of byte strings and one file."""

    content_type: str = "application/octet-stream"

    def __init__(
        self,
        source: Source,
        size: int | None,
        *,
        hashes: Sequence[str] = (),
        label: str | None = None,
        read_block: int = READ_BLOCK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # content imports Airflow (its errors are Airflow's): only when a body is built
        from airflow_creative_provider.content import PlannedContent, open_content, parse_location

        if isinstance(source, Creative):
            self._file: IO[bytes] = PlannedContent(source)  # type: ignore[assignment]
            self._owns_file = True
            size = source.size if size is None else size
            label = label or source.key
        elif isinstance(source, (str, os.PathLike)):
            location = parse_location(source)
            self._file = open_content(source)
            self._owns_file = True
            if size is None:
                size = os.fstat(self._file.fileno()).st_size if location.is_local else int(self._file.size)  # type: ignore[attr-defined]
            label = label or os.path.basename(location.local_path or location.key or "")
        else:
            self._file = source
            self._owns_file = False
        if size is None:
            raise ValueError("size is required when the source is a file object")
        self.file_size = size
        self._read_block = read_block
        self._hashers = {name: hashlib.new(name) for name in hashes}
        self._progress = Progress(label or "upload", size, clock=clock)
        self._file_done = 0
        self._chunks = self._generate()
        self._pending = b""
        self._length = self._compute_length()

    # -- subclasses describe their bytes
    def _compute_length(self) -> int:
        return self.file_size

    def _generate(self) -> Iterator[bytes]:
        yield from self._file_chunks(self._read_block)

    def _file_chunks(self, block: int) -> Iterator[bytes]:
        remaining = self.file_size
        while remaining > 0:
            chunk = self._file.read(min(block, remaining))
            if not chunk:
                raise OSError(
                    f"{self._progress.label}: the file ended after {self.file_size - remaining} of "
                    f"{self.file_size} bytes (it changed while being sent)"
                )
            remaining -= len(chunk)
            for hasher in self._hashers.values():
                hasher.update(chunk)
            self._file_done += len(chunk)
            self._progress.update(self._file_done)
            yield chunk
        self.close()

    # -- the file-like surface requests and urllib3 use
    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(self._read_block):
            yield chunk

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join([self._pending, *self._chunks])
        if not self._pending:
            self._pending = next(self._chunks, b"")
        if len(self._pending) <= size:
            out, self._pending = self._pending, b""
            return out
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        if self._owns_file and not self._file.closed:
            self._file.close()

    def __enter__(self) -> StreamingBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def digests(self) -> dict[str, str]:
        """Hex digests of the file, valid once the body has been sent completely."""
        if self._file_done != self.file_size:
            raise RuntimeError("digests are only known once the whole file was read")
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}


class PutBody(StreamingBody):
    """The raw file, for a presigned PUT."""


class MultipartFormBody(StreamingBody):
    """``multipart/form-data``: every field as given, in order, then the file as the last part.

    S3's POST policy requires the file last; fields are sent unchanged. Pass ``boundary``
    to rebuild the same form for a retry (its ``content_type`` header stays valid).
    """

    def __init__(
        self,
        fields: Mapping[str, Any] | Sequence[tuple[str, Any]],
        source: Source,
        size: int | None = None,
        *,
        file_field: str = "file",
        filename: str = "file",
        file_content_type: str = "application/octet-stream",
        boundary: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.boundary = boundary or secrets.token_hex(16)
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        parts = []
        for name, value in items:
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
                + (value if isinstance(value, bytes) else str(value).encode())
                + b"\r\n"
            )
        parts.append(
            (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
                f'filename="{_quote(filename)}"\r\nContent-Type: {file_content_type}\r\n\r\n'
            ).encode()
        )
        self._head = b"".join(parts)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        super().__init__(source, size, **kwargs)

    def _compute_length(self) -> int:
        return len(self._head) + self.file_size + len(self._tail)

    def _generate(self) -> Iterator[bytes]:
        yield self._head
        yield from self._file_chunks(self._read_block)
        yield self._tail


class Base64JsonBody(StreamingBody):
    """A JSON document whose ``PAYLOAD`` marker is replaced by the file's base64, streamed.

    The document is serialised once; the marker splits it into a prefix and a suffix, and
    the file is encoded in 768 KiB pieces in between. Works for nested JSON strings too
    (MediaMath's ``assets`` is a JSON-encoded string inside the JSON body), because base64
    needs no escaping at any depth.
    """

    content_type = "application/json"

    def __init__(self, document: Any, source: Source, size: int | None = None, **kwargs: Any) -> None:
        text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))
        if text.count(PAYLOAD) != 1:
            raise ValueError("the JSON document must contain the PAYLOAD marker exactly once")
        prefix, suffix = text.split(PAYLOAD)
        self._prefix, self._suffix = prefix.encode(), suffix.encode()
        kwargs.setdefault("read_block", BASE64_READ_BLOCK)
        super().__init__(source, size, **kwargs)

    def _compute_length(self) -> int:
        return len(self._prefix) + base64_length(self.file_size) + len(self._suffix)

    def _generate(self) -> Iterator[bytes]:
        yield self._prefix
        carry = b""
        for chunk in self._file_chunks(self._read_block):
            if carry:
                chunk = carry + chunk
            cut = len(chunk) - len(chunk) % 3
            carry = chunk[cut:]
            if cut:
                yield pybase64.b64encode(chunk[:cut])
        if carry:
            yield pybase64.b64encode(carry)
        yield self._suffix


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def put_body(source: Source, size: int | None = None, **kwargs: Any) -> PutBody:
    """Raw body for a presigned PUT."""
    return PutBody(source, size, **kwargs)


def form_body(
    fields: Mapping[str, Any] | Sequence[tuple[str, Any]], source: Source, size: int | None = None, **kwargs: Any
) -> MultipartFormBody:
    """Multipart form for a presigned POST: the returned fields unchanged, the file last."""
    return MultipartFormBody(fields, source, size, **kwargs)


def base64_json_body(document: Any, source: Source, size: int | None = None, **kwargs: Any) -> Base64JsonBody:
    """JSON with the file's base64 at the ``PAYLOAD`` marker, e.g. ``{"name": n, "payload": PAYLOAD}``."""
    return Base64JsonBody(document, source, size, **kwargs)
