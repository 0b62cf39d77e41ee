"""Every source kind on every platform: the bytes each platform received are the file's bytes.

One ``creative_sync`` run per source kind (folder, ``file://``, ``s3://bucket/prefix`` with the
default credentials, ``s3://conn_id@bucket/prefix``) covers the five platforms and both kinds
of content (an image, and a video where the platform takes video). The sandbox journals the
sha256 of every upload it processed (S3 PUT or POST, a base64 body, MediaPocket's fetch of the
media URL): each accepted file's sha256 must be there, and nothing else may be.

And a file changed between the plan and the upload (issue 17, item 1): nothing is recorded as
sent with the wrong sha256, the platform never receives a complete wrong file, and the next
run sends the new content.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.dags import SAMPLES, ledger_rows, run_dag, sync_settings

#: an image every platform takes, a video the video platforms take (Delta Projects refuses it).
FILES = ("logos/sunline_logo_600x600.png", "video/product_teaser_640x360.mp4")
SOURCE_BUCKET = "matrix-source"
SOURCE_KINDS = ("folder", "file_uri", "s3", "s3_conn")


@pytest.fixture
def matrix_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two creatives in a folder and in the sandbox's S3; a fresh ledger; default AWS credentials on the sandbox S3."""
    source = tmp_path / "creatives"
    for key in FILES:
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / key, source / key)
    sync_settings(tmp_path, monkeypatch)
    # ``s3://bucket/prefix`` names no connection: the default AWS credential chain reads it.
    s3_conn = creative_sandbox_env.connections()["creative_sandbox_s3"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_conn["login"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_conn["password"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_conn["extra"]["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_conn["extra"]["region_name"])
    creative_sandbox_env.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    s3 = creative_sandbox_env.state.s3
    bucket = s3.ensure_bucket(SOURCE_BUCKET)
    for key in FILES:
        s3.client.upload_file(str(source / key), bucket, f"campaign/{key}")
    return creative_sandbox_env, source, bucket


def _source_uri(kind: str, folder: Path, bucket: str) -> str:
    return {
        "folder": str(folder),
        "file_uri": f"file://{folder}",
        "s3": f"s3://{bucket}/campaign",
        "s3_conn": f"s3://creative_sandbox_s3@{bucket}/campaign",
    }[kind]


def _received(sandbox: Any, platform: str, since: int = 0) -> set[str]:
    """sha256 of every upload or fetch the platform processed (2xx) after journal entry ``since``."""
    return {
        e["sha256"]
        for e in sandbox.journal(platform=platform)
        if e["seq"] > since and e.get("sha256") and isinstance(e.get("status"), int) and e["status"] < 300
    }


def _accepted(folder: Path) -> dict[str, dict[str, str]]:
    """``{platform: {key: sha256}}`` of the files each platform's rules accept."""
    facts = {key: Creative.inspect(folder / key, key) for key in FILES}
    return {
        platform: {key: c.sha256 for key, c in facts.items() if not hook_class(platform).rules.check(c)}
        for platform in PLATFORMS
    }


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_every_platform_receives_the_files_bytes_from_every_source_kind(matrix_env, kind: str) -> None:
    sandbox, folder, bucket = matrix_env
    accepted = _accepted(folder)
    assert all(FILES[0] in accepted[p] for p in PLATFORMS), "the image fits every platform"
    assert {p for p in PLATFORMS if FILES[1] in accepted[p]} == {"topsort", "amazon_ads", "mediamath", "mediapocket"}

    run, _ = run_dag("creative_sync", {"source": _source_uri(kind, folder, bucket)})

    assert run.state == "success", run.task_states
    rows = ledger_rows(run)
    all_files = {c for by_key in accepted.values() for c in by_key.values()}
    for platform in PLATFORMS:
        received = _received(sandbox, platform)
        for key, sha256 in accepted[platform].items():
            assert rows[(key, platform)]["state"] == "ready", rows[(key, platform)]
            assert sha256 in received, f"{platform} did not receive the bytes of {key} from a {kind} source"
        assert received <= all_files, f"{platform} received bytes that are no file's"
    assert rows[(FILES[1], "delta_projects")]["state"] == "refused"


def _save_tagged(path: Path, tag: str, scale: int = 1) -> str:
    """Save the image again with a text chunk ``version=<tag>`` (same length tags: same size); return its sha256."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    with Image.open(path) as image:
        image = image.convert("RGB")
        if scale != 1:
            image = image.resize((image.width * scale, image.height * scale))
    info = PngInfo()
    info.add_text("version", tag)
    image.save(path, format="PNG", pnginfo=info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plan_all(params: dict[str, Any], run_id: str) -> Any:
    """Plan the run (as the DAG's plan task does); its ``PlanSummary`` has one batch per platform."""
    from airflow_creative_provider.sync.engine import plan_run

    plan = plan_run(params, run_id=run_id)
    assert {b.platform for b in plan.batches} == set(PLATFORMS)
    return plan


def _outcomes(run_id: str) -> dict[str, dict[str, Any]]:
    from airflow_creative_provider.sync.engine import report_rows

    outcomes: dict[str, dict[str, Any]] = {}
    for row in report_rows(run_id):
        assert row.platform not in outcomes, row
        outcomes[row.platform] = {**row.to_dict(), "bytes": row.bytes, "sha256": row.sha256}
    return outcomes


def _wait_for_fetch(sandbox: Any, since: int) -> None:
    """MediaPocket fetches the media in the background: wait (bounded) until its fetch is journaled."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(e["seq"] > since for e in sandbox.journal(platform="mediapocket") if e.get("kind") == "fetch"):
            return
        time.sleep(0.1)
    raise AssertionError("MediaPocket never fetched the media")


@pytest.mark.parametrize(
    ("kind", "change"), [("folder", "bigger"), ("folder", "same size"), ("s3_conn", "bigger")], ids=str
)
def test_a_file_changed_between_plan_and_upload_is_not_sent_and_the_next_run_sends_it(
    matrix_env, kind: str, change: str
) -> None:
    """Checked before the create (size, object ETag) and in the same pass as the upload (sha256)."""
    from airflow_creative_provider.sync.engine import submit_batch
    from airflow_creative_provider.sync.ledger import Ledger

    sandbox, folder, bucket = matrix_env
    image = FILES[0]
    planned_sha = _save_tagged(folder / image, "1")
    if kind == "s3_conn":
        sandbox.state.s3.client.upload_file(str(folder / image), bucket, f"campaign/{image}")
    params = {"source": _source_uri(kind, folder, bucket), "include": image, "platforms": list(PLATFORMS)}
    plan = _plan_all(params, "changed-run")

    planned_size = (folder / image).stat().st_size
    new_sha = _save_tagged(folder / image, "2", scale=2 if change == "bigger" else 1)  # after the plan
    assert ((folder / image).stat().st_size == planned_size) == (change == "same size") and new_sha != planned_sha
    if kind == "s3_conn":
        sandbox.state.s3.client.upload_file(str(folder / image), bucket, f"campaign/{image}")
    for batch in plan.batches:
        submit_batch(batch)
    for platform, outcome in _outcomes("changed-run").items():
        assert outcome["state"] == "failed", (platform, outcome)
        assert "changed during the run" in outcome["reason"] and image in outcome["reason"], outcome["reason"]
        assert outcome["bytes"] == 0
        if change == "same size":  # the stat before the create cannot tell: the hash in the upload's pass does
            assert "its sha256 is not the planned one" in outcome["reason"], outcome["reason"]
    assert set(_outcomes("changed-run")) == set(PLATFORMS)
    ledger = Ledger()
    for platform in PLATFORMS:
        assert _received(sandbox, platform) == set(), f"{platform} received bytes of a changed file"
        hook = hook_class(platform)()
        record = ledger.get(planned_sha, platform, str(hook.account))
        assert record is not None and not record.remote_id and record.state == "failed", (platform, record)
    assert not sandbox.journal(platform="amazon_ads", path="^/assets/register$"), "Amazon's register is skipped"

    before = max((e["seq"] for e in sandbox.journal()), default=0)
    plan = _plan_all(params, "next-run")
    for batch in plan.batches:
        submit_batch(batch)
    for platform, outcome in _outcomes("next-run").items():
        assert outcome["sha256"] == new_sha and outcome["remote_id"], (platform, outcome)
    _wait_for_fetch(sandbox, before)
    for platform in PLATFORMS:
        assert _received(sandbox, platform, before) == {new_sha}, platform


def test_a_versioned_object_overwritten_between_plan_and_upload_sends_the_planned_version(matrix_env) -> None:
    """In a versioned bucket every platform gets the planned version (MediaPocket: a URL of that version)."""
    from airflow_creative_provider.sync.engine import submit_batch

    sandbox, folder, _ = matrix_env
    s3 = sandbox.state.s3
    bucket = s3.ensure_bucket("matrix-versioned")
    s3.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    image = FILES[0]
    planned_sha = _save_tagged(folder / image, "1")
    s3.client.upload_file(str(folder / image), bucket, f"campaign/{image}")
    params = {
        "source": _source_uri("s3_conn", folder, bucket),
        "include": image,
        "platforms": list(PLATFORMS),
    }
    plan = _plan_all(params, "versioned-run")
    _save_tagged(folder / image, "2", scale=2)
    s3.client.upload_file(str(folder / image), bucket, f"campaign/{image}")  # overwritten after the plan

    for batch in plan.batches:
        submit_batch(batch)
    outcomes = _outcomes("versioned-run")
    assert set(outcomes) == set(PLATFORMS)
    for platform, outcome in outcomes.items():
        assert outcome["sha256"] == planned_sha and outcome["remote_id"], (platform, outcome)
    _wait_for_fetch(sandbox, 0)
    for platform in PLATFORMS:
        assert _received(sandbox, platform) == {planned_sha}, platform
