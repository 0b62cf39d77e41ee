"""The sample creatives shipped in ``examples/creatives/`` (used by ``scripts/demo``).

Good files must decode to the sizes their names promise, bad files must be flagged by
``Creative.inspect`` or by the type rules, files meant to be skipped must be there, and the
generator must reproduce the committed files (videos by their decoded facts: libx264 is not bit-exact).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative, PlatformRules
from airflow_creative_provider.sync.rules import rules_for

REPO = Path(__file__).resolve().parent.parent
CREATIVES = REPO / "examples" / "creatives"

# key -> (mimetype, width, height, duration in seconds or None, video codec or None)
GOOD = {
    "banners/summer_sale_1200x628.jpg": ("image/jpeg", 1200, 628, None, None),
    "banners/medium_rectangle_300x250.gif": ("image/gif", 300, 250, None, None),
    "social/new_arrivals_1080x1080.png": ("image/png", 1080, 1080, None, None),
    "logos/sunline_logo_600x600.png": ("image/png", 600, 600, None, None),
    "logos/app_icon_100x100.png": ("image/png", 100, 100, None, None),
    "video/product_teaser_640x360.mp4": ("video/mp4", 640, 360, 4.0, "h264"),
    "video/story_360x640.mov": ("video/quicktime", 360, 640, 2.0, "h264"),
    "archive/new_arrivals_copy.png": ("image/png", 1080, 1080, None, None),
}

# key -> the rule a platform accepting every image and video type refuses it under
BAD = {
    "bad/empty.png": "empty",
    "bad/truncated_banner.jpg": "corrupt",
    "bad/truncated_teaser.mp4": "corrupt",
    "bad/text_named_as.jpg": "type",
    "bad/campaign_brief.txt": "type",
    "bad/media_kit.pdf": "type",
    "bad/summer#sale.png": "name",
}

# awkward names (issue 12 §2): every platform's own rules accept them (the hooks derive names)
AWKWARD = {
    "names/rentrée — 30% off.png": "image/png",
    "names/Q3 #launch [final].jpg": "image/jpeg",
    f"names/{'back_to_school_campaign_' * 11}"[:252] + ".png": "image/png",
    "names/photo.jpeg": "image/jpeg",
}

# accepted with a warning: sent with the content's real type under a matching name
WARNED = {"bad/jpeg_named_as.png": "image/jpeg"}

# hidden files, Office lock files and partial downloads a source listing must skip
SKIPPED = (
    ".DS_Store",
    "banners/._summer_sale_1200x628.jpg",
    "~$campaign_plan.docx",
    "video/product_teaser_640x360.mp4.part",
)

ANY_MEDIA = PlatformRules(
    platform="any",
    mimetypes=frozenset({"image/jpeg", "image/png", "image/gif", "video/mp4", "video/quicktime"}),
    forbidden_name_chars="{}^/\\[]~<>|#%'\"`",  # MediaMath's forbidden upload-name characters
)


#: the metadata manifest (``sync.metadata``): read by the plan, never a creative
METADATA = ("creatives.yaml",)


def committed_files() -> dict[str, Path]:
    return {p.relative_to(CREATIVES).as_posix(): p for p in CREATIVES.rglob("*") if p.is_file()}


def test_folder_holds_exactly_the_expected_files_and_stays_small():
    files = committed_files()
    assert set(files) == set(GOOD) | set(BAD) | set(SKIPPED) | set(AWKWARD) | set(WARNED) | set(METADATA)
    assert sum(p.stat().st_size for p in files.values()) < 3 * 1024 * 1024


@pytest.mark.parametrize("key", sorted(GOOD))
def test_good_creatives_decode_with_expected_facts(key):
    mimetype, width, height, duration, codec = GOOD[key]
    creative = Creative.inspect(CREATIVES / key, key=key)
    assert creative.error is None
    assert creative.mimetype == mimetype
    assert (creative.width, creative.height) == (width, height)
    assert creative.video_codec == codec
    if duration is None:
        assert creative.duration is None
    else:
        assert creative.duration == pytest.approx(duration, abs=0.1)
    assert ANY_MEDIA.check(creative) == []


def test_the_alias_has_the_same_content_as_its_original():
    copy = Creative.inspect(CREATIVES / "archive/new_arrivals_copy.png")
    original = Creative.inspect(CREATIVES / "social/new_arrivals_1080x1080.png")
    assert copy.sha256 == original.sha256
    others = [Creative.inspect(CREATIVES / key).sha256 for key in GOOD if "new_arrivals" not in key]
    assert len(set(others)) == len(others)  # every other good file is distinct content


@pytest.mark.parametrize("key", sorted(BAD))
def test_bad_files_are_refused(key):
    creative = Creative.inspect(CREATIVES / key, key=key)
    refusals = ANY_MEDIA.check(creative)
    assert [r.rule for r in refusals] == [BAD[key]]
    assert refusals[0].file == key and key in refusals[0].message


@pytest.mark.parametrize("key", sorted(AWKWARD))
@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_awkward_names_pass_every_platforms_rules(key, platform):
    creative = Creative.inspect(CREATIVES / key, key=key)
    assert creative.mimetype == AWKWARD[key] and creative.error is None
    assert rules_for(platform).check(creative) == [], (platform, key)
    assert len(creative.name) <= 250


def test_content_unlike_its_name_is_accepted_with_a_warning():
    for key, mimetype in WARNED.items():
        creative = Creative.inspect(CREATIVES / key, key=key)
        assert ANY_MEDIA.check(creative) == [] and creative.mimetype == mimetype
        assert ANY_MEDIA.warnings(creative) == [creative.content_warning]
        assert creative.upload_name == "jpeg_named_as.jpg"


def test_bad_files_are_flagged_by_inspect_itself():
    assert Creative.inspect(CREATIVES / "bad/empty.png").error == "the file is empty"
    assert "cannot be decoded" in Creative.inspect(CREATIVES / "bad/truncated_banner.jpg").error
    assert "cannot be read" in Creative.inspect(CREATIVES / "bad/truncated_teaser.mp4").error
    mislabelled = Creative.inspect(CREATIVES / "bad/jpeg_named_as.png")
    assert (mislabelled.mimetype, mislabelled.extension_mimetype) == ("image/jpeg", "image/png")
    assert Creative.inspect(CREATIVES / "bad/text_named_as.jpg").mimetype is None


def test_the_example_manifest_gives_every_platform_valid_metadata():
    from airflow_creative_provider.sync import metadata

    manifest = metadata.Manifest.parse((CREATIVES / "creatives.yaml").read_bytes())
    for key in sorted(GOOD):
        creative = Creative.inspect(CREATIVES / key, key=key)
        for platform in PLATFORMS:
            assert isinstance(metadata.resolve(manifest, creative, platform), dict), (key, platform)
    banner = Creative.inspect(CREATIVES / "banners/summer_sale_1200x628.jpg", key="banners/summer_sale_1200x628.jpg")
    assert metadata.resolve(manifest, banner, "mediapocket")["category"] == "banners"


def test_files_to_skip_look_hidden_or_temporary():
    for key in SKIPPED:
        name = key.rsplit("/", 1)[-1]
        assert name.startswith((".", "~$")) or name.endswith(".part"), key


#: encoded by libx264, whose output is not bit-exact across builds, CPUs and runs: compared by decoded facts.
VIDEOS = ("video/product_teaser_640x360.mp4", "video/story_360x640.mov")
#: cut from the teaser's bytes: compared as the same cut of the teaser.
TEASER_CUTS = {"bad/truncated_teaser.mp4": 2, "video/product_teaser_640x360.mp4.part": 4}


def decoded_facts(data: bytes) -> dict[str, object]:
    """What a video is, as a player sees it: container, codec, frame size, pixel format, duration, frames."""
    import io

    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "pix_fmt": stream.codec_context.pix_fmt,
            "duration": round(float(stream.duration * stream.time_base), 2),
            "frames": frames,
        }


def test_generator_reproduces_the_committed_files():
    """Images and other files bit for bit; videos by their decoded facts (the encoder is not bit-exact)."""
    spec = importlib.util.spec_from_file_location("make_creatives", REPO / "examples" / "make_creatives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.build()
    committed = {key: path.read_bytes() for key, path in committed_files().items()}
    assert set(generated) == set(committed)
    for key in VIDEOS:
        assert decoded_facts(generated[key]) == decoded_facts(committed[key]), (
            f"{key}: rerun examples/make_creatives.py"
        )
    teaser = "video/product_teaser_640x360.mp4"
    for key, part in TEASER_CUTS.items():
        for files in (generated, committed):
            assert files[key] == files[teaser][: len(files[teaser]) // part], key
    for key in set(generated) - set(VIDEOS) - set(TEASER_CUTS):
        expected = hashlib.sha256(committed[key]).hexdigest()
        assert hashlib.sha256(generated[key]).hexdigest() == expected, (
            f"{key} differs: rerun examples/make_creatives.py"
        )


def test_decoded_facts_tell_videos_apart():
    """The comparison can fail: another length, frame size or container is a different video."""
    spec = importlib.util.spec_from_file_location("make_creatives", REPO / "examples" / "make_creatives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    story = decoded_facts((CREATIVES / "video/story_360x640.mov").read_bytes())
    assert story == {
        "format": "mov,mp4,m4a,3gp,3g2,mj2",
        "codec": "h264",
        "size": (360, 640),
        "pix_fmt": "yuv420p",
        "duration": 2.0,
        "frames": 48,
    }
    assert decoded_facts(module.video(360, 640, 1.5, 24, "mov"))["frames"] == 36
    assert decoded_facts(module.video(320, 640, 2.0, 24, "mov"))["size"] == (320, 640)
