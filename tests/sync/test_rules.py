"""Platform rules applied to a listing: accepted, or refused naming the file and the rule."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import PlatformRules
from airflow_creative_provider.sync.rules import check, check_all, rules_for
from airflow_creative_provider.sync.source import list_source

RULES = PlatformRules(
    platform="topsort",
    mimetypes=frozenset({"image/png", "image/jpeg"}),
    max_bytes=5_000,
    min_width=10,
    min_height=10,
    max_name_length=20,
)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def listing(tmp_path: Path):
    good = image_bytes()
    files = {
        "good.png": good,
        "photo.jpg": image_bytes("JPEG"),
        "empty.png": b"",
        "truncated.png": good[: len(good) // 2],
        "png-named.jpg": good,
        "text.png": b"hello, not an image at all",
        "tiny.png": image_bytes(size=(4, 4)),
        "huge.png": image_bytes(size=(300, 300)),
        "a-very-long-file-name-indeed.png": good,
        "anim.gif": image_bytes("GIF"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return list_source(str(tmp_path))


def test_each_file_accepted_or_refused_with_file_and_rule(listing) -> None:
    verdicts = check_all(listing.files, {"topsort": RULES})
    by_key = {key: v for (key, _platform), v in verdicts.items()}
    assert by_key["good.png"].accepted and by_key["photo.jpg"].accepted
    # Content decides, not the name: a PNG named .jpg is accepted, with a warning the report shows.
    mismatch = by_key["png-named.jpg"]
    assert mismatch.accepted and mismatch.to_dict()["warnings"] == [
        "png-named.jpg: the content is image/png but the name says image/jpeg; sent as image/png named 'png-named.png'"
    ]
    assert by_key["good.png"].warnings == ()
    expected = {
        "empty.png": "empty",
        "truncated.png": "corrupt",
        "text.png": "type",
        "tiny.png": "dimensions",
        "huge.png": "size",
        "a-very-long-file-name-indeed.png": "name",
        "anim.gif": "type",
    }
    for key, rule in expected.items():
        verdict = by_key[key]
        assert not verdict.accepted and verdict.rule == rule, (key, verdict)
        assert verdict.reason and verdict.reason.startswith(f"{key}: refused for topsort ({rule})")
        assert verdict.to_dict()["accepted"] is False


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_platform_refuses_corrupt_files(platform: str, listing) -> None:
    rules = rules_for(platform)
    by_key = {c.key: c for c in listing.files}
    for key in ("empty.png", "truncated.png", "text.png"):
        verdict = check(by_key[key], platform, rules)
        assert not verdict.accepted, (platform, key)
        assert key in (verdict.reason or "")


def test_rules_for_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        rules_for("myspace")
