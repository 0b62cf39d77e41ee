"""Thumbnails of creatives: made with Pillow on first view, cached by content under AIRFLOW_HOME.

The cache key is the content's sha256, so a thumbnail is made once per content whatever
its names, and a changed file gets a new one. A video gets a poster frame decoded with
PyAV (the first key frame after about a second: one seek, one frame, cheap); a file that
cannot be decoded gets a type icon (an SVG) instead, and nothing is cached for it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_creative_provider.creative import open_binary

log = logging.getLogger(__name__)

#: longest side of a thumbnail, in pixels (shown at half size: sharp on high-DPI screens).
THUMBNAIL_SIZE = 144
#: a poster frame is taken this far into a video (or at its middle when shorter).
POSTER_AT_SECONDS = 1.0
#: images larger than this are not decoded for a thumbnail (a decompression bomb guard).
MAX_IMAGE_PIXELS = 80_000_000


def cache_dir() -> Path:
    """``$AIRFLOW_HOME/creative_thumbnails``."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "creative_thumbnails"


def cached_path(sha256: str) -> Path:
    return cache_dir() / sha256[:2] / f"{sha256}.webp"


def thumbnail(sha256: str, path: str, kind: str) -> Path | None:
    """The cached thumbnail of ``sha256`` (made from ``path`` when missing); None when it cannot be made.

    :param sha256: the content's hash (the cache key; validated by the caller).
    :param path: where the content is read from (local path or object-storage URI).
    :param kind: ``image`` or ``video``.
    """
    target = cached_path(sha256)
    if target.exists():
        return target
    try:
        image = _poster(path) if kind == "video" else _image(path)
    except Exception as exc:  # noqa: BLE001 - any decoding problem means "show the type icon"
        log.info("No thumbnail for %s: %s", sha256[:12], exc)
        return None
    if image is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    # write then rename: two concurrent first views never leave a half-written file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            image.save(out, "WEBP", quality=82, method=4)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _fit(image: Any) -> Any:
    from PIL import Image

    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return image


def _image(path: str) -> Any:
    from PIL import Image, ImageOps

    with open_binary(path) as handle, Image.open(handle) as image:
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"{image.width}x{image.height} is too large to preview")
        image.draft("RGB", (THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2))  # JPEG: decode at a reduced scale
        image.seek(0)  # the first frame of an animation
        return _fit(ImageOps.exif_transpose(image.copy()))


def _poster(path: str) -> Any:
    import av

    with open_binary(path) as handle, av.open(handle, mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = container.duration / 1_000_000 if container.duration else None
        at = POSTER_AT_SECONDS if duration is None or duration > 2 * POSTER_AT_SECONDS else (duration or 0) / 2
        if at > 0:
            container.seek(int(at * 1_000_000), any_frame=False, backward=True)
        for frame in container.decode(stream):
            return _fit(frame.to_image())
    return None


#: type icons (24x24 outline glyphs in a rounded tile), by kind.
_GLYPHS = {
    "image": '<rect x="5" y="6" width="14" height="12" rx="1.5"/><circle cx="9.5" cy="10" r="1.4"/>'
    '<path d="M6 16.5l4-4 3 3 2-2 3 3"/>',
    "video": '<rect x="4.5" y="6.5" width="11" height="11" rx="1.5"/><path d="M15.5 10.5l4-2.5v8l-4-2.5z"/>',
    "broken": '<path d="M7 4.5h7l4 4v11H7z"/><path d="M14 4.5v4h4"/><path d="M9.5 12l5 5M14.5 12l-5 5"/>',
    "other": '<path d="M7 4.5h7l4 4v11H7z"/><path d="M14 4.5v4h4"/><path d="M9.5 13h6M9.5 16h6"/>',
}
_COLORS = {"image": "#2563eb", "video": "#7c3aed", "broken": "#dc2626", "other": "#64748b"}


def icon_svg(kind: str) -> str:
    """A small SVG icon for a kind of file (``image``, ``video``, ``broken``, ``other``)."""
    kind = kind if kind in _GLYPHS else "other"
    color = _COLORS[kind]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="72" height="72">'
        f'<rect width="24" height="24" rx="4" fill="{color}" fill-opacity="0.08"/>'
        f'<g fill="none" stroke="{color}" stroke-width="1.2" stroke-linecap="round" stroke-linejoin="round">'
        f"{_GLYPHS[kind]}</g></svg>"
    )
