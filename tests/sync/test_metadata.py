"""Metadata from the folder (``creatives.yaml``): parsing, per-platform validation, the plan's comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.sync import metadata as meta
from airflow_creative_provider.sync.ledger import READY, AssetRecord, Ledger
from airflow_creative_provider.sync.plan import Target, build_plan
from airflow_creative_provider.sync.planner import load_manifest
from airflow_creative_provider.sync.source import MANIFEST_NAME, scan_source
from airflow_creative_provider.sync.states import Action, Change

MANIFEST = """
name_template: "{folder}-{stem}"
defaults:
  tags: [spring-2026]
files:
  "banners/*.png":
    name: "Spring banner {stem}"
    description: Homepage banner
    category: Banners
    tags: [spring-2026, homepage]
    amazon_ads:
      asinList: [B000000001]
      assetSubTypeList: [lifestyle_image]
      brandEntityIds: [ENTITY1]
    mediamath:
      start_date: "2026-03-01T00:00:00"
      end_date: "2026-05-31T00:00:00"
    topsort:
      metadata: {campaign: spring}
  banners/hero.png:
    description: The hero
"""


def creative(key: str, mimetype: str = "image/png", sha: str = "a") -> Creative:
    return Creative(path=f"/src/{key}", key=key, size=10, mimetype=mimetype, sha256=sha * 64)


@pytest.fixture
def manifest() -> meta.Manifest:
    return meta.Manifest.parse(MANIFEST)


def test_each_platform_gets_the_common_fields_under_its_own_names(manifest: meta.Manifest) -> None:
    hero = creative("banners/hero.png")
    assert meta.resolve(manifest, hero, "amazon_ads") == {
        "name": "Spring banner hero",
        "tags": ["spring-2026", "homepage"],
        "asinList": ["B000000001"],
        "assetSubTypeList": ["LIFESTYLE_IMAGE"],
        "brandEntityIds": ["ENTITY1"],
    }
    assert meta.resolve(manifest, hero, "mediapocket") == {
        "title": "Spring banner hero",
        "description": "The hero",  # the later entry overrides the glob's
        "category": "banners",  # MediaPocket stores categories lower-cased
        "tags": ["spring-2026", "homepage"],
    }
    assert meta.resolve(manifest, hero, "mediamath") == {
        "creative_name": "Spring banner hero",
        "start_date": "2026-03-01T00:00:00",
        "end_date": "2026-05-31T00:00:00",
    }
    assert meta.resolve(manifest, hero, "topsort") == {"name": "Spring banner hero", "metadata": {"campaign": "spring"}}
    # Delta stores a file name: the content's extension is kept
    assert meta.resolve(manifest, hero, "delta_projects") == {"name": "Spring banner hero.png"}


def test_a_file_without_an_entry_gets_the_name_template_and_the_defaults(manifest: meta.Manifest) -> None:
    logo = creative("logos/brand/logo.jpg", "image/jpeg")
    assert meta.resolve(manifest, logo, "mediapocket") == {"title": "logos-brand-logo", "tags": ["spring-2026"]}
    assert meta.resolve(manifest, logo, "delta_projects") == {"name": "logos-brand-logo.jpg"}


def test_without_a_manifest_each_platform_gets_the_name_its_hook_sends_by_default() -> None:
    photo = creative("names/photo.jpeg", "image/jpeg")
    assert meta.resolve(None, photo, "amazon_ads") == {"name": "photo.jpeg"}
    assert meta.resolve(None, photo, "mediapocket") == {"title": "photo.jpeg"}
    assert meta.resolve(None, photo, "mediamath") == {"creative_name": "photo.jpeg"}
    assert meta.resolve(None, photo, "delta_projects") == {"name": "photo.jpg"}  # Delta's typed name
    assert meta.resolve(None, photo, "topsort") == {"name": "photo.jpeg"}


def test_a_name_too_long_for_topsort_is_shortened_never_refused() -> None:
    manifest = meta.Manifest.parse('files: {"*.png": {name: "' + "x" * 100 + '"}}')
    fields = meta.resolve(manifest, creative("a.png"), "topsort")
    assert isinstance(fields, dict) and len(fields["name"]) == 64
    empty = meta.Manifest.parse('files: {"*.png": {name: ""}}')
    assert meta.resolve(empty, creative("a.png"), "mediamath") == {"creative_name": "a.png"}


@pytest.mark.parametrize(
    ("platform", "section", "field", "words"),
    [
        ("amazon_ads", "amazon_ads: {assetSubTypeList: [BACKGROUND_VIDEO]}", "assetSubTypeList", "do not fit an image"),
        ("amazon_ads", "amazon_ads: {asinList: []}", "asinList", "1 to 100"),
        ("amazon_ads", "amazon_ads: {tags: banner}", "tags", "list of texts"),
        ("mediamath", 'mediamath: {start_date: "2026-03-01T00:00:00"}', "end_date", "go together"),
        ("mediamath", 'mediamath: {start_date: "1 March", end_date: "2 March"}', "start_date", "2026-03-01T00:00:00"),
        (
            "mediamath",
            'mediamath: {start_date: "2026-03-02T00:00:00", end_date: "2026-03-01T00:00:00"}',
            "end_date",
            "before start_date",
        ),
        ("topsort", "topsort: {metadata: {campaign: " + "v" * 65 + "}}", "metadata", "the limit is 64"),
        ("topsort", "topsort: {metadata: {sha256: mine}}", "metadata", "content mark"),
        ("mediapocket", "mediapocket: {tags: [[nested]]}", "tags", "list of texts"),
    ],
)
def test_a_bad_value_names_the_file_the_field_and_the_rule(platform: str, section: str, field: str, words: str) -> None:
    manifest = meta.Manifest.parse(f'files: {{"banners/*.png": {{{section}}}}}')
    refused = meta.resolve(manifest, creative("banners/a.png"), platform)
    assert isinstance(refused, meta.MetadataRefused)
    assert refused.field == field and refused.rule == f"metadata:{field}"
    assert "banners/a.png" in refused.reason and repr(field) in refused.reason and words in refused.reason
    # another file, or another platform, is not affected
    assert isinstance(meta.resolve(manifest, creative("logos/b.png"), platform), dict)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("files: [a, b]", "files must map"),
        ("nmae_template: x", "unknown top-level key"),
        ('files: {"*.png": {titel: x}}', "unknown field 'titel'"),
        ('files: {"*.png": {amazon_ads: {title: x}}}', "amazon_ads takes name, tags"),
        ('files: {"*.png": {name: "{nope}"}}', "unknown placeholder"),
        ("files: {a: [", "not valid YAML"),
    ],
)
def test_a_manifest_this_project_cannot_read_says_where(text: str, words: str) -> None:
    with pytest.raises(meta.ManifestError, match="creatives.yaml") as caught:
        meta.Manifest.parse(text)
    assert words in str(caught.value)


def test_the_manifest_is_read_from_the_source_and_never_listed_as_a_creative(tmp_path: Path) -> None:
    (tmp_path / "banners").mkdir()
    (tmp_path / "banners" / "a.png").write_bytes(b"x")
    (tmp_path / MANIFEST_NAME).write_text(MANIFEST)
    (tmp_path / "banners" / MANIFEST_NAME).write_text("not the root one")  # only the root one is the manifest
    for source in (str(tmp_path), f"file://{tmp_path}"):
        scan = scan_source(source)
        assert [e.key for e in scan.entries] == ["banners/a.png", f"banners/{MANIFEST_NAME}"]
        manifest = load_manifest(scan)
        assert manifest is not None and manifest.digest == meta.Manifest.parse(MANIFEST).digest
    # a subfolder as the source has its own root manifest: this one is not YAML of the right shape
    with pytest.raises(meta.ManifestError, match=r"banners/creatives\.yaml: must be a mapping"):
        load_manifest(scan_source(str(tmp_path / "banners")))


def test_a_metadata_change_is_an_update_where_the_platform_has_one_else_kept_with_why() -> None:
    mediamath = Target("mediamath", "adv", supports_metadata_update=True)
    delta = Target("delta_projects", "client")
    file = creative("banners/hero.png")
    records = {
        t.platform: [
            AssetRecord(
                file.sha256 or "", t.platform, t.account, READY, remote_id="r1", source="/src", file_key=file.key
            )
        ]
        for t in (mediamath, delta)
    }
    unchanged = build_plan([file], {}, records, [mediamath, delta], source="/src", unchanged_rows=False)
    assert not unchanged.rows
    changed = build_plan(
        [file],
        {},
        records,
        [mediamath, delta],
        source="/src",
        unchanged_rows=False,
        metadata_changed=lambda c, platform: True,
        no_update_reason=lambda platform: meta.NO_UPDATE[platform],
    )
    by_platform = {r.platform: r for r in changed.rows}
    assert by_platform["mediamath"].action == Action.UPDATE and by_platform["mediamath"].is_work
    assert by_platform["mediamath"].remote_id == "r1" and by_platform["mediamath"].change == Change.METADATA
    assert by_platform["delta_projects"].action == Action.KEEP and not by_platform["delta_projects"].is_work
    assert "Delta Projects documents no rename" in (by_platform["delta_projects"].reason or "")


def test_the_ledger_keeps_the_metadata_sent(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    sha = "b" * 64
    ledger.record_metadata(
        sha, "topsort", "v1", fields={"name": "n1"}, digest=meta.digest({"name": "n1"}), run_id="r", remote_id="x"
    )
    ledger.record_metadata(
        sha, "topsort", "v1", fields={"name": "n2"}, digest=meta.digest({"name": "n2"}), run_id="r2", remote_id="x"
    )
    assert ledger.metadata_digests("topsort", "v1") == {sha: meta.digest({"name": "n2"})}
    assert ledger.asset_metadata(sha)[("topsort", "v1")]["fields"] == {"name": "n2"}
    assert meta.digest({"a": 1, "b": 2}) == meta.digest({"b": 2, "a": 1})
