"""Small, valid image files for tests (distinct contents by colour and size)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def png_bytes(width: int = 20, height: int = 10, color: str | tuple[int, int, int] = "red", fmt: str = "PNG") -> bytes:
    """An image of one colour, encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, fmt)
    return buffer.getvalue()


def png(path: Path, width: int = 20, height: int = 10, color: str | tuple[int, int, int] = "red") -> Path:
    """Write a PNG at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(width, height, color))
    return path
