"""Listing a source: local folders, file:// and the sandbox's S3; skipping, ageing, the index."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.sync.source import (
    IndexEntry,
    SourceError,
    index_entries,
    list_source,
    matches_include,
    scan_source,
    skip_reason,
)


def png_bytes(width: int = 20, height: int = 10, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "creatives"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.png").write_bytes(png_bytes(20, 10))
    (root / "sub" / "b.png").write_bytes(png_bytes(30, 40, "blue"))
    (root / "sub" / "deeper" / "c.jpg").write_bytes(png_bytes())  # PNG bytes under a .jpg name
    (root / "empty.png").write_bytes(b"")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / ".git" / "config").write_bytes(b"junk")
    (root / "~$deck.pptx").write_bytes(b"lock")
    (root / "video.mp4.part").write_bytes(b"partial")
    (root / "movie.crdownload").write_bytes(b"partial")
    (root / "x.tmp").write_bytes(b"partial")
    return root


def test_lists_local_folder_with_facts_and_skips(folder: Path) -> None:
    listing = list_source(str(folder))
    keys = [c.key for c in listing.files]
    assert keys == ["a.png", "empty.png", "sub/b.png", "sub/deeper/c.jpg"]
    assert listing.skipped == {"hidden": 2, "temporary": 4}
    assert listing.ok and listing.hashed == 4
    facts = {c.key: c for c in listing.files}
    a = facts["a.png"]
    assert (a.width, a.height, a.mimetype, a.size) == (20, 10, "image/png", (folder / "a.png").stat().st_size)
    assert a.sha256 and len(a.sha256) == 64 and a.sha1 and a.mtime == (folder / "a.png").stat().st_mtime
    assert facts["sub/b.png"].width == 30
    assert facts["empty.png"].error == "the file is empty"
    assert facts["sub/deeper/c.jpg"].mimetype == "image/png"  # magic bytes, not the extension


def test_file_uri_and_include_glob(folder: Path) -> None:
    listing = list_source(f"file://{folder}", include="sub/**/*.png")
    assert [c.key for c in listing.files] == ["sub/b.png"]
    assert listing.skipped["excluded"] == 3
    by_name = list_source(str(folder), include="*.png")
    assert [c.key for c in by_name.files] == ["a.png", "empty.png", "sub/b.png"]


@pytest.mark.parametrize(
    ("key", "pattern", "expected"),
    [
        ("a.png", "**/*", True),
        ("x/y/a.png", "**/*", True),
        ("x/y/a.png", "*.png", True),
        ("x/y/a.png", "x/*.png", False),
        ("x/y/a.png", "x/**/*.png", True),
        ("x/a.png", "x/**/*.png", True),
        ("a.jpg", "*.png,*.jpg", True),
        ("a.gif", "*.[pj][np]g", False),
        ("a.png", "*.[pj][np]g", True),
    ],
)
def test_include_globs(key: str, pattern: str, expected: bool) -> None:
    assert matches_include(key, pattern) is expected


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (".hidden.png", "hidden"),
        ("dir/.hidden/a.png", "hidden"),
        ("~$lock.docx", "temporary"),
        ("a.png.part", "temporary"),
        ("a.CRDOWNLOAD", "temporary"),
        ("a.tmp", "temporary"),
        ("backup.png~", "temporary"),
        ("ok.png", None),
    ],
)
def test_skip_reason(key: str, reason: str | None) -> None:
    assert skip_reason(key) == reason


def test_min_age_skips_recent_files(folder: Path) -> None:
    old = time.time() - 3600
    os.utime(folder / "a.png", (old, old))
    listing = list_source(str(folder), min_age_seconds=600)
    assert [c.key for c in listing.files] == ["a.png"]
    assert listing.skipped["recent"] == 3


def test_unchanged_files_are_not_read_again(folder: Path) -> None:
    first = list_source(str(folder))
    index = index_entries(first)
    reads: list[str] = []

    def counting_inspect(path: str, key: str) -> Creative:
        reads.append(key)
        return Creative.inspect(path, key, sha1=True)

    second = list_source(str(folder), index=index, inspect=counting_inspect)
    assert reads == [] and second.hashed == 0
    assert [c.to_dict() | {"path": None} for c in second.files] == [c.to_dict() | {"path": None} for c in first.files]

    # a changed file (new size and mtime) is read again; the others are not
    (folder / "a.png").write_bytes(png_bytes(50, 50, "green"))
    third = list_source(str(folder), index=index, inspect=counting_inspect)
    assert reads == ["a.png"]
    assert next(c for c in third.files if c.key == "a.png").width == 50

    # checksum=True re-reads everything
    reads.clear()
    list_source(str(folder), index=index, inspect=counting_inspect, checksum=True)
    assert sorted(reads) == ["a.png", "empty.png", "sub/b.png", "sub/deeper/c.jpg"]


def test_same_size_and_mtime_but_index_without_hash_is_read(folder: Path) -> None:
    stat = (folder / "a.png").stat()
    index = {"a.png": IndexEntry(stat.st_size, stat.st_mtime, None, {})}
    listing = list_source(str(folder), index=index, include="a.png")
    assert listing.hashed == 1 and listing.files[0].sha256


def test_missing_source_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list_source(str(tmp_path / "nope"))


def test_unreadable_folder_is_a_listing_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = folder / "locked"
    locked.mkdir()
    (locked / "z.png").write_bytes(png_bytes())
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:  # root reads every folder: refuse this one here
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = list_source(str(folder))
    monkeypatch.undo()
    assert not listing.ok
    assert any(e.startswith("locked") for e in listing.errors)
    assert "a.png" in [c.key for c in listing.files]


def test_unreadable_file_is_collected_not_raised(folder: Path) -> None:
    def flaky(path: str, key: str) -> Creative:
        if key == "a.png":
            raise OSError("device not ready")
        return Creative.inspect(path, key)

    listing = list_source(str(folder), inspect=flaky)
    assert listing.errors == ["a.png: cannot read (OSError: device not ready)"]
    assert "a.png" not in [c.key for c in listing.files]
    assert "sub/b.png" in [c.key for c in listing.files]


def test_s3_source_through_object_storage(creative_sandbox_env: object) -> None:
    s3 = creative_sandbox_env.state.s3  # type: ignore[attr-defined]
    bucket = "sandbox-staging"
    s3.client.put_object(Bucket=bucket, Key="drop/a.png", Body=png_bytes(20, 10))
    s3.client.put_object(Bucket=bucket, Key="drop/sub/b.png", Body=png_bytes(30, 40))
    s3.client.put_object(Bucket=bucket, Key="drop/.hidden.png", Body=png_bytes())
    s3.client.put_object(Bucket=bucket, Key="drop/c.png.part", Body=b"partial")
    s3.client.put_object(Bucket=bucket, Key="elsewhere/d.png", Body=png_bytes())
    source = "s3://creative_sandbox_s3@sandbox-staging/drop"
    listing = list_source(source)
    assert listing.ok, listing.errors
    assert [c.key for c in listing.files] == ["a.png", "sub/b.png"]
    assert listing.skipped == {"hidden": 1, "temporary": 1}
    b = listing.files[1]
    assert (b.width, b.height, b.mimetype) == (30, 40, "image/png")
    assert b.mtime and abs(b.mtime - time.time()) < 600
    with b.open() as handle:  # the path reopens through the same connection
        assert handle.read() == png_bytes(30, 40)

    # the index spares the reads; a conn_id given separately works too
    again = list_source("s3://sandbox-staging/drop", conn_id="creative_sandbox_s3", index=index_entries(listing))
    assert again.hashed == 0 and [c.sha256 for c in again.files] == [c.sha256 for c in listing.files]


def test_s3_missing_prefix_raises(creative_sandbox_env: object) -> None:
    with pytest.raises(SourceError):
        list_source("s3://creative_sandbox_s3@sandbox-staging/no-such-prefix")


def test_scan_reads_nothing_and_its_fingerprint_follows_size_mtime_and_membership(folder: Path) -> None:
    def fingerprint(**kw: object) -> str:
        return scan_source(str(folder), **kw).fingerprint()  # type: ignore[arg-type]

    scan = scan_source(str(folder))
    assert [e.key for e in scan.entries] == ["a.png", "empty.png", "sub/b.png", "sub/deeper/c.jpg"]
    assert scan.skipped == {"hidden": 2, "temporary": 4} and scan.summary()["hashed"] == 0
    before = fingerprint()
    assert fingerprint() == before
    assert fingerprint(include="sub/**") != before
    stat = (folder / "a.png").stat()
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    touched = fingerprint()
    assert touched != before
    (folder / "a.png").write_bytes(png_bytes() + b"trailing")
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    assert fingerprint() != touched  # same mtime, other size
    (folder / "sub" / "new.png").write_bytes(b"x")
    assert fingerprint() != touched
    (folder / "sub" / "new.png").unlink()
    (folder / ".hidden.png").write_bytes(b"x")
    assert fingerprint() != touched  # the skip counts are part of it


def test_symlinked_folders_are_not_entered_but_symlinked_files_are_listed(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "far.png").write_bytes(png_bytes())
    (folder / "link-to-folder").symlink_to(outside, target_is_directory=True)
    (folder / "link.png").symlink_to(folder / "a.png")
    (folder / "dangling.png").symlink_to(tmp_path / "missing.png")
    scan = scan_source(str(folder))
    keys = [e.key for e in scan.entries]
    assert "link.png" in keys and not any(k.startswith("link-to-folder") for k in keys)
    assert scan.errors == ["dangling.png: cannot stat (No such file or directory)"]
