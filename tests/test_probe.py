"""The probe (``Creative.inspect``) never raises for a file's content: any failure is that file's refusal.

Fuzzed with Hypothesis: malformed images and videos (mutated samples, random bytes behind a
real signature, absurd declared sizes). Examples are bounded and derandomized, so the suite
stays fast and deterministic.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sync.source import list_source

SAMPLES = Path(__file__).resolve().parents[1] / "examples" / "creatives"
SAMPLE_FILES = {
    "png": SAMPLES / "logos" / "app_icon_100x100.png",
    "jpg": SAMPLES / "banners" / "summer_sale_1200x628.jpg",
    "gif": SAMPLES / "banners" / "medium_rectangle_300x250.gif",
    "mp4": SAMPLES / "video" / "product_teaser_640x360.mp4",
    "mov": SAMPLES / "video" / "story_360x640.mov",
}
SIGNATURES = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff\xe0",
    "gif": b"GIF89a",
    "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "mp4": b"\x00\x00\x00\x18ftypisom",
    "mov": b"\x00\x00\x00\x14ftypqt  ",
}
FUZZ = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return SIGNATURES["png"] + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _probe(path: Path) -> Creative:
    """Inspect and check against every platform's rules: neither may raise."""
    creative = Creative.inspect(path)
    for platform in PLATFORMS:
        refusals = hook_class(platform).rules.check(creative)
        if creative.error or creative.size == 0:
            assert refusals and all(path.name in r.message for r in refusals)
    if creative.error is None and creative.kind in ("image", "video"):
        assert isinstance(creative.width, int) and creative.width > 0
        assert isinstance(creative.height, int) and creative.height > 0
    return creative


def test_a_png_declaring_20000_by_10000_pixels_is_refused_naming_the_file_and_reason(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(20000, 10000))
    assert bomb.stat().st_size < 1024
    creative = _probe(bomb)
    assert creative.error and "more pixels than can be decoded safely" in creative.error
    assert "200000000 pixels" in creative.error  # Pillow's DecompressionBombError, with its own words
    (refusal,) = hook_class("topsort").rules.check(creative)
    assert refusal.message.startswith("bomb.png: refused for topsort (corrupt): the image declares more pixels")


def test_one_file_failing_the_probe_never_stops_the_listing(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_declaring(20000, 10000))
    (tmp_path / "good.png").write_bytes(SAMPLE_FILES["png"].read_bytes())
    (tmp_path / "garbage.mp4").write_bytes(SIGNATURES["mp4"] + b"\xff" * 500)
    listing = list_source(str(tmp_path))
    assert listing.ok, listing.errors
    facts = {c.key: c for c in listing.files}
    assert facts["good.png"].error is None and facts["good.png"].width == 100
    assert "more pixels than can be decoded safely" in str(facts["bomb.png"].error)
    assert facts["garbage.mp4"].error and facts["garbage.mp4"].error.startswith("the video cannot be read")


@FUZZ
@given(
    sample=st.sampled_from(sorted(SAMPLE_FILES)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_fuzz_mutated_samples(tmp_path_factory: pytest.TempPathFactory, sample: str, edits, cut) -> None:
    """Byte flips and truncations of real images and videos: a refusal or sound facts, never an exception."""
    data = bytearray(SAMPLE_FILES[sample].read_bytes())
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path_factory.mktemp("fuzz") / f"mutated.{sample}"
    path.write_bytes(bytes(data))
    _probe(path)


@FUZZ
@given(kind=st.sampled_from(sorted(SIGNATURES)), tail=st.binary(min_size=0, max_size=2048))
def test_fuzz_random_bytes_behind_a_real_signature(tmp_path_factory: pytest.TempPathFactory, kind: str, tail) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"random.{kind}"
    path.write_bytes(SIGNATURES[kind] + tail)
    _probe(path)


def test_an_image_just_over_pillows_limit_is_refused_without_decoding_it(tmp_path: Path) -> None:
    """Pillow only warns between its limit and twice it, then allocates the whole image: refused first."""
    path = tmp_path / "large.png"
    path.write_bytes(png_declaring(10000, 9000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        creative = _probe(path)
    assert creative.error == (
        "the image declares more pixels than can be decoded safely (10000x9000 pixels; Pillow's limit is 89478485)"
    )


@FUZZ
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1))
def test_fuzz_declared_image_sizes(tmp_path_factory: pytest.TempPathFactory, width: int, height: int) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "declared.png"
    path.write_bytes(png_declaring(width, height))
    creative = _probe(path)
    if width * height > 89_478_485:  # Pillow's MAX_IMAGE_PIXELS: refused before any pixel is decoded
        assert creative.error and "more pixels than can be decoded safely" in creative.error
