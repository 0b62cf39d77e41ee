"""What we know about one creative file, and the local rules a platform applies to it.

``Creative.inspect`` reads a file once, streaming: size, sha256 (and sha1), the type from
its magic bytes (not only its extension), image dimensions (Pillow) and video facts (PyAV).
``PlatformRules.check`` turns those facts into refusals that name the file and the rule,
before a single byte is sent to a platform.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from airflow_creative_provider.content import PlannedContent

MIMETYPE_BY_EXTENSION: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
}

#: the extension an upload name gets for content of each type (``.jpg``: Amazon's documented
#: name pattern and Delta's file types list ``jpg``, not ``jpeg``).
EXTENSION_BY_MIMETYPE: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "text/html": ".html",
    "application/json": ".json",
}

_READ_BLOCK = 1024 * 1024

# (offset, signature, mimetype); ISO-BMFF brands are resolved in sniff_mimetype.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
)


def sniff_mimetype(head: bytes) -> str | None:
    """Return the mimetype that a file's first bytes prove, or None."""
    for offset, signature, mimetype in _MAGIC:
        if head[offset : offset + len(signature)] == signature:
            return mimetype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    if stripped[:5].lower() in (b"<!doc", b"<html"):
        return "text/html"
    return None


@dataclass(frozen=True)
class Creative:
    """Facts about one creative file.

    :param path: local path or object-storage URI (``s3://bucket/key``) to read it from.
    :param key: the file's key relative to its source folder (what reports show).
    :param size: bytes.
    :param mimetype: type proven by the content's magic bytes, None when unknown.
    :param sha256: hex digest of the content.
    :param error: why the file could not be read as what it claims to be (corrupt,
        truncated, too many pixels, any failure of the probe), None when it is sound.
    :param revision: the object version read (its ``ETag``) for object storage, None for
        local files; uploads read that version or fail as "changed during the run".
    """

    path: str
    key: str
    size: int
    mimetype: str | None = None
    sha256: str | None = None
    sha1: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    video_codec: str | None = None
    mtime: float | None = None
    error: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The file name (last part of the key) sent to platforms."""
        return posixpath.basename(self.key)

    @property
    def extension(self) -> str:
        return os.path.splitext(self.name)[1].lower()

    @property
    def extension_mimetype(self) -> str | None:
        return MIMETYPE_BY_EXTENSION.get(self.extension)

    @property
    def extension_agrees(self) -> bool:
        """Does the name's extension say what the content is (``.jpeg`` and ``.jpg`` both for JPEG)?"""
        return self.mimetype is None or self.extension_mimetype == self.mimetype

    @property
    def upload_name(self) -> str:
        """The file name to send: the name, or when its extension disagrees with the content,
        the name with the content's extension (a JPEG named ``photo.png`` goes as ``photo.jpg``)."""
        if self.extension_agrees or self.mimetype not in EXTENSION_BY_MIMETYPE:
            return self.name
        stem = self.name[: -len(self.extension)] if self.extension else self.name
        return f"{stem}{EXTENSION_BY_MIMETYPE[self.mimetype]}"

    @property
    def typed_name(self) -> str:
        """The name with the extension this project gives the content's type (``.jpg`` for any
        JPEG, ``photo.jpeg`` -> ``photo.jpg``), for platforms whose documents list types by
        one extension."""
        ext = EXTENSION_BY_MIMETYPE.get(self.mimetype or "")
        if ext is None:
            return self.upload_name
        stem = self.name[: -len(self.extension)] if self.extension else self.name
        return f"{stem}{ext}"

    @property
    def content_warning(self) -> str | None:
        """Why the file is sent under another name than its own, None when it is not."""
        if self.extension_agrees or self.error or self.size == 0:
            return None
        said = self.extension_mimetype or f"an unknown type ({self.extension or 'no extension'})"
        return (
            f"{self.key}: the content is {self.mimetype} but the name says {said}; "
            f"sent as {self.mimetype} named {self.upload_name!r}"
        )

    @property
    def kind(self) -> str:
        """``image``, ``video`` or ``other``, from the content type."""
        major = (self.mimetype or "").split("/")[0]
        return major if major in ("image", "video") else "other"

    def open(self) -> IO[bytes]:
        """Open the content for reading (binary, streaming), whatever the source (see ``content``)."""
        return open_binary(self.path)

    def planned(self, **kwargs: Any) -> PlannedContent:
        """The stream an upload sends: these facts' bytes, verified in the same pass (``content.PlannedContent``)."""
        from airflow_creative_provider.content import PlannedContent

        return PlannedContent(self, **kwargs)

    def replace(self, **changes: Any) -> Creative:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def inspect(cls, path: str | os.PathLike[str], key: str | None = None, *, sha1: bool = False) -> Creative:
        """Read a file once and return its facts.

        Hashes are computed in the same streaming pass that reads the head; decoding an
        image (to catch truncation) or a video container reads what the decoder needs.
        """
        path = os.fspath(path)
        key = key or posixpath.basename(path.replace(os.sep, "/"))
        sha256_hash = hashlib.sha256()
        sha1_hash = hashlib.sha1(usedforsecurity=False) if sha1 else None
        size = 0
        head = b""
        from airflow_creative_provider.content import revision_of

        with open_binary(path) as handle:
            revision = revision_of(handle)
            while chunk := handle.read(_READ_BLOCK):
                if not head:
                    head = chunk[:64]
                size += len(chunk)
                sha256_hash.update(chunk)
                if sha1_hash:
                    sha1_hash.update(chunk)
        facts: dict[str, Any] = {
            "path": path,
            "key": key,
            "size": size,
            "sha256": sha256_hash.hexdigest(),
            "sha1": sha1_hash.hexdigest() if sha1_hash else None,
            "mimetype": sniff_mimetype(head),
            "revision": revision,
        }
        if size == 0:
            facts["error"] = "the file is empty"
        elif facts["mimetype"] and facts["mimetype"].startswith("image/"):
            facts.update(_image_facts(path))
        elif facts["mimetype"] and facts["mimetype"].startswith("video/"):
            facts.update(_video_facts(path))
        return cls(**facts)


def ascii_slug(text: str, fallback: str, limit: int = 80) -> str:
    """ASCII letters and digits of ``text`` joined by ``_`` (``rentrée — 30% off`` -> ``rentree_30_off``),
    for upload names a platform restricts; ``fallback`` when nothing is left."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", plain).strip("_")[:limit] or fallback


def open_binary(path: str) -> IO[bytes]:
    """Open a local path, ``file://`` or an object-storage URI for binary reading (``content.open_content``)."""
    from airflow_creative_provider.content import open_content  # imports Airflow: only when a file is read

    return open_content(path)


def _probe_failure(what: str, exc: BaseException) -> str:
    """The reason a probe failed, for the file's refusal: the failure's kind and its own words."""
    detail = str(exc).strip() or "no detail"
    return f"{what} ({type(exc).__name__}: {detail})"


def _image_facts(path: str) -> dict[str, Any]:
    """Width and height, decoding every pixel so a truncated file is caught.

    Any failure is this file's fault and becomes its ``error``: Pillow's
    ``DecompressionBombError`` (an image declaring more pixels than it decodes safely), a
    corrupt chunk, an unknown format, a bug in a decoder. Nothing raised here stops a run.
    """
    from PIL import Image

    try:
        with open_binary(path) as handle, Image.open(handle) as image:
            width, height = image.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit and width * height > limit:  # Pillow only warns up to twice its limit, then decodes it all
                return {
                    "error": f"the image declares more pixels than can be decoded safely ({width}x{height} "
                    f"pixels; Pillow's limit is {limit})"
                }
            image.load()  # decodes every byte: a truncated file raises here
    except Image.DecompressionBombError as exc:
        return {"error": _probe_failure("the image declares more pixels than can be decoded safely", exc)}
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this one file's refusal
        return {"error": _probe_failure("the image cannot be decoded", exc)}
    return {"width": width, "height": height}


def _video_facts(path: str) -> dict[str, Any]:
    """Size, duration and codec of the first video stream (PyAV); any failure becomes the file's ``error``."""
    import av

    try:
        with open_binary(path) as handle, av.open(handle, mode="r") as container:
            streams = container.streams.video
            if not streams:
                return {"error": "the video has no video stream"}
            stream = streams[0]
            duration = None
            if container.duration is not None:
                duration = container.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height:
                return {"error": "the video stream declares no frame size"}
            return {
                "width": width,
                "height": height,
                "duration": round(duration, 3) if duration is not None else None,
                "video_codec": stream.codec_context.name,
            }
    except Exception as exc:  # noqa: BLE001 - any demuxer failure is this one file's refusal
        return {"error": _probe_failure("the video cannot be read", exc)}


@dataclass(frozen=True)
class Refusal:
    """A local rule that refused a file: which file, which rule, and why."""

    file: str
    platform: str
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


#: The project's size guard for platforms that document no file size limit (Topsort, the
#: Amazon Ads asset library, MediaPocket): 500 MB, the largest limit any documented program of
#: the five takes (Amazon Sponsored TV video). Not a platform's limit: its refusals say so, and
#: the connection extra ``max_file_bytes`` raises (or lowers) it.
SIZE_GUARD_BYTES = 500_000_000
SIZE_GUARD_HINT = "Raise it with the connection extra max_file_bytes."


@dataclass(frozen=True)
class PlatformRules:
    """What one platform accepts, checked locally before any byte is sent.

    A rule left at None is not checked. The content's type (magic bytes) decides, never the
    extension: a file whose extension disagrees with its content is accepted with a warning
    (``warnings``) and sent with its real type; ``extensions`` only names, in messages, the
    extensions of the accepted types. Names are never refused by the platforms' default rules
    (each hook derives a name that fits); ``max_name_length``/``forbidden_name_chars`` stay for
    callers who want them. ``own_limits`` names the limits that are this project's guards, not
    documented by the platform: their refusals say so, and ``guard_hint`` how to raise them.
    ``with_(...)`` derives a named variant (e.g. a program's minimums).
    """

    platform: str
    mimetypes: frozenset[str]
    extensions: frozenset[str] | None = None
    max_bytes: int | None = None
    min_width: int | None = None
    min_height: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    max_name_length: int | None = None
    forbidden_name_chars: str = ""
    type_hint: str = ""
    name: str = "default"
    own_limits: frozenset[str] = frozenset()
    guard_hint: str = ""

    def with_(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    @property
    def accepted_extensions(self) -> frozenset[str]:
        if self.extensions is not None:
            return self.extensions
        return frozenset(ext for ext, mime in MIMETYPE_BY_EXTENSION.items() if mime in self.mimetypes)

    def check(self, creative: Creative) -> list[Refusal]:
        """Every rule the file breaks, empty when it is accepted."""
        return list(self._refusals(creative))

    def warnings(self, creative: Creative) -> list[str]:
        """What is sent differently from how it is named (never a reason to refuse)."""
        warning = creative.content_warning
        return [warning] if warning and not self.check(creative) else []

    def guard_note(self, limit: str) -> str:
        """The suffix of a refusal by ``limit``: empty for a documented limit."""
        if limit not in self.own_limits:
            return ""
        hint = f" {self.guard_hint}" if self.guard_hint else ""
        return f" (a guard of this project, not a limit {self.platform} documents.{hint})"

    def _refusals(self, c: Creative) -> Iterable[Refusal]:
        def refuse(rule: str, why: str, *limits: str) -> Refusal:
            note = next((self.guard_note(limit) for limit in limits if self.guard_note(limit)), "")
            return Refusal(c.key, self.platform, rule, f"{c.key}: refused for {self.platform} ({rule}): {why}{note}")

        if c.size == 0:
            yield refuse("empty", "the file is empty")
            return
        if c.error:
            yield refuse("corrupt", c.error)
            return
        accepted = ", ".join(sorted(self.accepted_extensions))
        hint = f" {self.type_hint}" if self.type_hint else ""
        if c.mimetype is None:
            yield refuse(
                "type",
                f"the content is not a file type this project recognises (named {c.extension or 'without extension'}, "
                f"magic bytes of none of {accepted}).{hint}",
            )
            return
        if c.mimetype not in self.mimetypes:
            yield refuse("type", f"{c.mimetype} is not accepted; use one of {accepted}.{hint}")
            return
        if self.max_bytes is not None and c.size > self.max_bytes:
            yield refuse("size", f"{c.size} bytes is over the limit of {self.max_bytes} bytes", "max_bytes")
        if c.width is not None and c.height is not None:
            too_small = (self.min_width and c.width < self.min_width) or (
                self.min_height and c.height < self.min_height
            )
            too_large = (self.max_width and c.width > self.max_width) or (
                self.max_height and c.height > self.max_height
            )
            if too_small or too_large:
                bounds = (
                    f"at least {self.min_width or 0}x{self.min_height or 0}"
                    f"{f', at most {self.max_width}x{self.max_height}' if self.max_width or self.max_height else ''}"
                )
                yield refuse(
                    "dimensions",
                    f"{c.width}x{c.height} pixels; {self.name} rules need {bounds}",
                    "min_width",
                    "min_height",
                    "max_width",
                    "max_height",
                )
        if c.duration is not None:
            if self.min_duration is not None and c.duration < self.min_duration:
                yield refuse("duration", f"{c.duration:g} s is shorter than {self.min_duration:g} s", "min_duration")
            if self.max_duration is not None and c.duration > self.max_duration:
                yield refuse("duration", f"{c.duration:g} s is longer than {self.max_duration:g} s", "max_duration")
        if self.max_name_length is not None and len(c.name) > self.max_name_length:
            yield refuse("name", f"the name has {len(c.name)} characters, the limit is {self.max_name_length}")
        bad = sorted({ch for ch in c.name if ch in self.forbidden_name_chars})
        if bad:
            yield refuse("name", f"the name contains forbidden characters {' '.join(bad)}")
