"""MediaPocketHook against the sandbox over real HTTP (S3 staging through the sandbox S3)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformAuthError,
    PlatformConfigError,
    PlatformRequestError,
    PlatformUnavailable,
)
from airflow_creative_provider.hooks import mediapocket as mp_hook_module
from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.hooks.mediapocket import (
    MediaPocketExternalIdTaken,
    MediaPocketHook,
    MediaPocketNotFound,
    MediaPocketPartialFailure,
)
from airflow_creative_provider.sandbox import mediapocket as mp_sandbox
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

PLATFORM = "mediapocket"


@pytest.fixture
def sandbox(creative_sandbox_env: Any) -> Any:
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def hook(sandbox: Any) -> MediaPocketHook:
    hook = MediaPocketHook()
    hook.backoff_initial = 0.05
    hook.backoff_max = 0.2
    return hook


def set_conn(monkeypatch: pytest.MonkeyPatch, sandbox: Any, **changes: Any) -> dict[str, Any]:
    """Re-point ``mediapocket_default`` with some fields or extras changed."""
    conn = json.loads(json.dumps(sandbox.connections()["mediapocket_default"]))
    for key in ("host", "password"):
        if key in changes:
            conn[key] = changes.pop(key)
    conn["extra"].update(changes)
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAPOCKET_DEFAULT", json.dumps(conn))
    return conn


def make_image(tmp_path: Path, name: str = "banner.png", color: str = "red", size: tuple[int, int] = (64, 48)) -> Path:
    path = tmp_path / name
    Image.new("RGB", size, color).save(path)
    return path


def wait_ready(hook: MediaPocketHook, remote_id: str) -> AssetStatus:
    """The status once the asset's media fetches ended (joined, never slept for): one read, which
    ends a successful processing (the fixture's speed is one read)."""
    mp_sandbox.join_fetches()
    return hook.get_status([remote_id])[remote_id]


def creates(sandbox: Any) -> list[dict[str, Any]]:
    return sandbox.journal(platform=PLATFORM, method="POST", path=r"^/api/v2/(projects/[^/]+/)?assets$")


def assets_with(hook: MediaPocketHook, external_id: str) -> list[dict[str, Any]]:
    return [e for e in hook.list_external_ids() if e["external_id"] == external_id]


# ------------------------------------------------------------------ happy path
def test_submit_stages_creates_and_becomes_ready(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    creative = Creative.inspect(make_image(tmp_path))
    remote = hook.submit(creative)
    assert remote.state == AssetStatus.PROCESSING
    external_id = hook.external_id_for(creative)
    key = hook.staging_key(external_id, creative.name)
    # staged in the sandbox S3 with the file's bytes
    staged = [e for e in sandbox.journal(platform="staging", method="PUT") if e["path"].endswith(key)]
    assert staged and staged[0]["sha256"] == creative.sha256
    status = wait_ready(hook, remote.remote_id)
    assert status.state == AssetStatus.READY
    assert status.raw_state == "image"
    # MediaPocket fetched exactly these bytes through the presigned URL
    fetches = [e for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"]
    assert [f["sha256"] for f in fetches] == [creative.sha256]
    md5 = hashlib.md5(Path(creative.path).read_bytes(), usedforsecurity=False).hexdigest()
    assert status.details["md5_sum"] == md5
    asset = hook.get_asset(remote.remote_id)
    assert asset["external_id"] == external_id and asset["project_id"] == mp_sandbox.PROJECT_ID
    # staged object deleted once the asset finished processing
    assert sandbox.state.s3.get("staging", key) is None


def test_staged_object_kept_when_delete_staged_is_false(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, sandbox, delete_staged=False)
    hook = MediaPocketHook()
    creative = Creative.inspect(make_image(tmp_path))
    remote = hook.submit(creative)
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY
    key = hook.staging_key(hook.external_id_for(creative), creative.name)
    assert sandbox.state.s3.get("staging", key) == Path(creative.path).read_bytes()


def test_video_becomes_video(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_image(Image.new("RGB", (32, 32), "green"))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    remote = hook.submit(Creative.inspect(path))
    assert wait_ready(hook, remote.remote_id).raw_state == "video"


def test_external_id_is_stable_per_content_and_project(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    one = Creative.inspect(make_image(tmp_path, "a.png"))
    same = Creative.inspect(make_image(tmp_path, "copy.png"))
    other = Creative.inspect(make_image(tmp_path, "b.png", color="blue"))
    assert hook.external_id_for(one) == hook.external_id_for(same)
    assert hook.external_id_for(one) != hook.external_id_for(other)
    assert hook.external_id_for(one) != hook.external_id_for(one, project_id=mp_sandbox.OTHER_PROJECT_ID)
    assert one.sha256[:32] in hook.external_id_for(one)


# ------------------------------------------------------------------ idempotency
def test_retried_submit_after_create_makes_no_second_asset(sandbox: Any, tmp_path: Path) -> None:
    creative = Creative.inspect(make_image(tmp_path))
    first = MediaPocketHook().submit(creative)
    again = MediaPocketHook().submit(creative)  # a retried task: a fresh hook
    assert again.remote_id == first.remote_id
    assert len(creates(sandbox)) == 1
    assert len(assets_with(MediaPocketHook(), MediaPocketHook().external_id_for(creative))) == 1
    found = MediaPocketHook().find_asset(creative)
    assert found is not None and found.remote_id == first.remote_id


def test_external_id_taken_is_treated_as_found(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    creative = Creative.inspect(make_image(tmp_path))
    first = hook.submit(creative)
    external_id = hook.external_id_for(creative)
    source = hook.stage_file(creative.path, external_id=external_id)
    # the lookup is skipped (as if it raced with another task): the create answers 400 taken
    asset = hook.create_asset_with_media(
        title="x", source=source, filename=creative.name, external_id=external_id, existing=None, looked_up=True
    )
    assert asset["id"] == first.remote_id
    answers = [e["status"] for e in creates(sandbox)]
    assert answers == [200, 400]
    assert len(assets_with(hook, external_id)) == 1


def test_partial_failure_400_recovered_without_second_asset(
    hook: MediaPocketHook, sandbox: Any, tmp_path: Path
) -> None:
    creative = Creative.inspect(make_image(tmp_path, "partial.png"))
    sandbox.state.outcomes.append(Outcome(PLATFORM, "partial.png", "create_media_failed", "download timed out"))
    remote = hook.submit(creative)
    assert [e["status"] for e in creates(sandbox)] == [400]
    created_id = creates(sandbox)[0]["remote_id"]
    assert remote.remote_id == created_id
    media_adds = sandbox.journal(platform=PLATFORM, method="POST", path=rf"^/api/v2/assets/{created_id}/media$")
    assert [e["status"] for e in media_adds] == [200]
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY
    assert len(assets_with(hook, hook.external_id_for(creative))) == 1


def test_partial_failure_parsed_and_retry_adds_media_to_the_orphan(
    hook: MediaPocketHook, sandbox: Any, tmp_path: Path
) -> None:
    creative = Creative.inspect(make_image(tmp_path))
    external_id = hook.external_id_for(creative)
    with pytest.raises(MediaPocketPartialFailure) as err:
        hook.create_asset("banner", external_id=external_id, file_url="/local/downloads/banner.png", filename="b.png")
    orphan = err.value.asset_id
    assert len(orphan) == 20 and orphan in str(err.value)
    assert hook.get_asset(orphan)["media_type"] == "placeholder"
    assert hook.get_status([orphan])[orphan].state == AssetStatus.PENDING
    # the retried task finds the placeholder by external id and adds the media to it
    remote = MediaPocketHook().submit(creative)
    assert remote.remote_id == orphan
    assert wait_ready(hook, orphan).state == AssetStatus.READY
    assert len(creates(sandbox)) == 1


def test_partial_failure_whose_media_cannot_be_added_names_the_asset(hook: MediaPocketHook, sandbox: Any) -> None:
    with pytest.raises(PlatformRequestError) as err:
        hook.create_asset_with_media(
            title="t", source="https://", filename="x.png", external_id="manual-ext-1", looked_up=True
        )
    asset_id = creates(sandbox)[0]["remote_id"]
    assert asset_id in str(err.value) and "manual-ext-1" in str(err.value)


def test_create_answer_lost_is_looked_up_not_repeated(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST", path=r"/projects/.*/assets$")
    creative = Creative.inspect(make_image(tmp_path))
    remote = hook.submit(creative)
    assert [e["status"] for e in creates(sandbox)] == ["dropped_after"]
    assert len(assets_with(hook, hook.external_id_for(creative))) == 1
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY


def test_create_500_looked_up_then_created_once(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    sandbox.state.faults.add("status", platform=PLATFORM, method="POST", path=r"/assets$", status=500)
    creative = Creative.inspect(make_image(tmp_path))
    remote = hook.submit(creative)
    assert [e["status"] for e in creates(sandbox)] == [500, 200]
    assert len(assets_with(hook, hook.external_id_for(creative))) == 1
    assert remote.remote_id == hook.find_asset(creative).remote_id


# ------------------------------------------------------------------ staging variants
def test_s3_source_is_presigned_in_place_without_copy(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    data = make_image(tmp_path).read_bytes()
    sandbox.state.s3.client.put_object(Bucket="sandbox-staging", Key="incoming/banner.png", Body=data)
    assert hook.stage_file("s3://sandbox-staging/incoming/banner.png", external_id="x") == (
        "s3://sandbox-staging/incoming/banner.png"
    )
    asset = hook.create_asset_with_media(
        title="in place", source="s3://sandbox-staging/incoming/banner.png", filename="banner.png",
        external_id="in-place-1",
    )  # fmt: skip
    assert wait_ready(hook, asset["id"]).state == AssetStatus.READY
    assert sandbox.journal(platform="staging", method="PUT") == []
    gets = sandbox.journal(platform="staging", method="GET", path="incoming/banner.png")
    assert [g["status"] for g in gets] == [200]  # fetched through the presigned URL


def test_tenant_reads_bucket_uses_the_s3_key_form(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, sandbox, tenant_reads_bucket=True)
    hook = MediaPocketHook()
    creative = Creative.inspect(make_image(tmp_path))
    remote = hook.submit(creative)
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY
    # no presigned GET: the tenant read the key from its bucket
    assert sandbox.journal(platform="staging", method="GET") == []
    fetch = [e for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"][0]
    assert fetch["path"].endswith(hook.staging_key(hook.external_id_for(creative), creative.name))
    assert fetch["sha256"] == creative.sha256


def test_presigned_url_lives_as_configured(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, sandbox, presigned_url_expires=900)
    hook = MediaPocketHook()
    url = hook.presign("s3://sandbox-staging/some/key.png")
    assert "X-Amz-Expires=900" in url and "X-Amz-Signature=" in url


def test_expired_presigned_url_fails_the_fetch_and_times_out_with_asset_id(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, sandbox, processing_timeout=60)
    hook = MediaPocketHook()
    sandbox.state.faults.add("expire_url", path=r"^/s3/sandbox-staging/", method="GET")
    remote = hook.submit(Creative.inspect(make_image(tmp_path)))
    mp_sandbox.join_fetches()
    first = hook.get_status([remote.remote_id])[remote.remote_id]
    assert first.state == AssetStatus.PROCESSING
    fetch = [e for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"][0]
    assert fetch["status"] == 403 and "403" in fetch["note"]
    # the worker's clock moves past the timeout (the hook measures the asset's age with it)
    later = time.time() + 61
    monkeypatch.setattr(mp_hook_module, "time", SimpleNamespace(time=lambda: later))
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert status.state == AssetStatus.FAILED and status.raw_state == "processing_failed"  # not a rejection
    assert remote.remote_id in status.reason and "could not fetch" in status.reason


def test_unreachable_url_stays_processing(hook: MediaPocketHook, sandbox: Any) -> None:
    asset = hook.create_asset_with_media(
        title="gone", source="http://127.0.0.1:9/banner.png", filename="banner.png", external_id="gone-1"
    )
    mp_sandbox.join_fetches()
    for _ in range(3):
        assert hook.get_status([asset["id"]])[asset["id"]].state == AssetStatus.PROCESSING
    fetch = [e for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"][0]
    assert "could not fetch" in fetch["note"]


# ------------------------------------------------------------------ operations
def test_every_operation(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    project = hook.get_project()
    assert project["id"] == mp_sandbox.PROJECT_ID and project["media_type"] == "project"
    assert "reachable" in hook.check_connection()
    assert hook.test_connection()[0] is True
    loose = hook.create_asset_without_project("Loose", external_id="loose-1", category="Sample", tags=["a", "b"])
    assert loose["project_id"] is None and loose["media_type"] == "placeholder" and loose["category"] == "sample"
    assert hook.lookup_external_id("loose-1") == {"external_id": "loose-1", "id": loose["id"], "type": "asset"}
    assert hook.lookup_external_id("nope") is None
    listed = {e["external_id"]: e for e in hook.list_external_ids()}
    assert listed["loose-1"]["id"] == loose["id"] and listed[mp_sandbox.PROJECT_EXTERNAL_ID]["type"] == "project"
    source = hook.stage_file(str(make_image(tmp_path)), external_id="loose-1")
    hook.add_media(loose["id"], hook.fetch_url(source), "banner.png")
    assert wait_ready(hook, loose["id"]).state == AssetStatus.READY
    media = hook.get_media(loose["id"])
    assert media["media"][0]["filename"] == "banner.png"
    assert hook.get_file_metadata(loose["id"])["file_metadata"]["mediainfo"]["mimetype"] == "image/png"
    updated = hook.update_asset(loose["id"], title="Renamed", category="MixedCase")
    assert updated["title"] == "Renamed" and updated["category"] == "mixedcase"
    hook.trash_asset(loose["id"])
    trashed = hook.get_status([loose["id"]])[loose["id"]]
    assert trashed.state == AssetStatus.REJECTED and "trash" in trashed.reason
    hook.restore_asset(loose["id"])
    assert hook.get_status([loose["id"]])[loose["id"]].state == AssetStatus.READY
    events = [e["event_type"] for e in hook.get_history(loose["id"])]  # several pages of two
    assert events == [
        "ASSET_ADDED", "MEDIA_ADDED", "MEDIA_PROCESSED", "METADATA_UPDATED", "ASSET_TRASHED", "ASSET_RESTORED",
    ]  # fmt: skip
    assert len(sandbox.journal(platform=PLATFORM, path=rf"/assets/{loose['id']}/history/")) == 3


def test_archive_trashes_and_purge_after_14_days(hook: MediaPocketHook, sandbox: Any) -> None:
    assert hook.supports_archive
    asset = hook.create_asset_without_project("To purge")
    hook.archive(asset["id"])
    assert hook.get_asset(asset["id"])["deleted"]
    sandbox.state.advance_clock(14 * 24 * 3600 + 1)
    with pytest.raises(MediaPocketNotFound):
        hook.get_asset(asset["id"])


def test_host_with_api_prefix_is_accepted(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, sandbox, host=sandbox.platform_url(PLATFORM) + "/api/v2/")
    assert MediaPocketHook().get_project()["id"] == mp_sandbox.PROJECT_ID


def test_account_is_the_project(hook: MediaPocketHook) -> None:
    assert hook.account == mp_sandbox.PROJECT_ID


# ------------------------------------------------------------------ documented errors
def test_401_is_final_and_says_check_the_key(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, sandbox, password="wrong-key-123")
    with pytest.raises(PlatformAuthError) as err:
        MediaPocketHook().get_project()
    assert "Check the API key" in str(err.value) and "wrong-key-123" not in str(err.value)
    assert len(sandbox.journal(platform=PLATFORM)) == 1  # nothing to refresh, no repeat


def test_401_mid_run_is_final(hook: MediaPocketHook, sandbox: Any) -> None:
    hook.get_project()
    sandbox.state.faults.add("status", platform=PLATFORM, status=401, message="Unauthorized")
    with pytest.raises(PlatformAuthError):
        hook.get_project()
    assert [e["status"] for e in sandbox.journal(platform=PLATFORM)] == [200, 401]


def test_missing_password_is_a_config_error(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = set_conn(monkeypatch, sandbox)
    del conn["password"]
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAPOCKET_DEFAULT", json.dumps(conn))
    with pytest.raises(PlatformConfigError, match="Password"):
        MediaPocketHook().get_project()


def test_project_not_found(hook: MediaPocketHook, sandbox: Any) -> None:
    with pytest.raises(MediaPocketNotFound, match="project not found.*project_id"):
        hook.create_asset("x", project_id="not-found-id")


def test_missing_title_and_bad_media_type_are_422(hook: MediaPocketHook, sandbox: Any) -> None:
    with pytest.raises(PlatformRequestError, match="Missing parameter title") as err:
        hook.request("POST", hook.path("projects", mp_sandbox.PROJECT_ID, "assets"), json={"category": "x"})
    assert err.value.status == 422
    with pytest.raises(PlatformRequestError) as err:
        hook.create_asset("x", media_type="image")
    assert err.value.status == 422 and "Must be one of: article" in str(err.value) and "<code>" not in str(err.value)


def test_duplicate_external_id_of_a_project_is_400(hook: MediaPocketHook, sandbox: Any) -> None:
    with pytest.raises(MediaPocketExternalIdTaken):
        hook.create_asset_without_project("x", external_id=mp_sandbox.PROJECT_EXTERNAL_ID)
    with pytest.raises(PlatformRequestError, match="belongs to a project"):
        hook.find_by_external_id(mp_sandbox.PROJECT_EXTERNAL_ID)


def test_add_media_errors(hook: MediaPocketHook, sandbox: Any) -> None:
    with pytest.raises(MediaPocketNotFound, match="asset not found"):
        hook.add_media("AAAAAAAAAAAAAAAAAAAA", "https://example.com/x.png", "x.png")
    asset = hook.create_asset_without_project("x")
    with pytest.raises(PlatformRequestError, match="not a valid HTTP URL") as err:
        hook.add_media(asset["id"], "ftp://example.com/x.png", "x.png")
    assert err.value.status == 400


def test_bad_history_cursor_is_422(hook: MediaPocketHook, sandbox: Any) -> None:
    asset = hook.create_asset_without_project("x")
    with pytest.raises(PlatformRequestError) as err:
        hook.request("GET", hook.path("assets", asset["id"], "history", "99"))
    assert err.value.status == 422


# ------------------------------------------------------------------ transport
def test_429_with_retry_after_is_honoured(hook: MediaPocketHook, sandbox: Any) -> None:
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after=1)
    started = time.monotonic()
    hook.get_project()
    assert time.monotonic() - started >= 1.0
    assert [e["status"] for e in sandbox.journal(platform=PLATFORM)] == [429, 200]


def test_429_without_retry_after_backs_off(hook: MediaPocketHook, sandbox: Any) -> None:
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, count=2)
    hook.get_project()
    assert [e["status"] for e in sandbox.journal(platform=PLATFORM)] == [429, 429, 200]


def test_5xx_and_dropped_connection_on_reads_are_retried(hook: MediaPocketHook, sandbox: Any) -> None:
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=503)
    sandbox.state.faults.add("drop", platform=PLATFORM, method="GET")
    hook.get_project()
    assert [e["status"] for e in sandbox.journal(platform=PLATFORM)] == [503, "dropped", 200]


def test_persistent_5xx_raises_unavailable(hook: MediaPocketHook, sandbox: Any) -> None:
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=500, count=None)
    with pytest.raises(PlatformUnavailable, match="500"):
        hook.get_project()
    assert len(sandbox.journal(platform=PLATFORM)) == hook.max_attempts


# ------------------------------------------------------------------ local rules
@pytest.mark.parametrize("case", ["wrong_type", "empty", "corrupt", "oversize"])
def test_bad_inputs_are_refused_before_any_request(
    case: str, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case == "wrong_type":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    elif case == "empty":
        path = tmp_path / "empty.png"
        path.write_bytes(b"")
    elif case == "corrupt":
        path = tmp_path / "broken.png"
        path.write_bytes(make_image(tmp_path, "good.png").read_bytes()[:60])
    else:
        set_conn(monkeypatch, sandbox, max_file_bytes=100)
        path = make_image(tmp_path, "big.png", size=(300, 300))
    hook = MediaPocketHook()
    with pytest.raises(CreativeRefused) as err:
        hook.submit(Creative.inspect(path))
    assert path.name in str(err.value)
    assert sandbox.journal() == []  # no API call, no S3 upload


@pytest.mark.parametrize(
    ("name", "sent"),
    [("photo.jpg", "photo.png"), ("bad\\name.png", "bad_name.png"), ("n" * 246 + ".png", None)],
)
def test_names_and_extensions_are_fixed_not_refused(hook: MediaPocketHook, sandbox: Any, tmp_path: Path, name, sent):
    path = tmp_path / name
    path.write_bytes(make_image(tmp_path, "real.png").read_bytes())
    remote = hook.submit(Creative.inspect(path))
    asset = hook.get_asset(remote.remote_id)
    assert asset["title"] == name and len(asset["original_filename"]) <= 255
    assert asset["original_filename"] == (sent or asset["original_filename"]) and asset["original_filename"].endswith(
        ".png"
    )
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY
    assert bool(remote.warnings) == name.endswith(".jpg")


def test_undocumented_media_type_is_unknown_never_ready(hook: MediaPocketHook, sandbox: Any, tmp_path: Path) -> None:
    remote = hook.submit(Creative.inspect(make_image(tmp_path)))
    assert wait_ready(hook, remote.remote_id).state == AssetStatus.READY
    sandbox.state.store(PLATFORM)["assets"][remote.remote_id]["media_type"] = "audio"  # a value no document names
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert status.state != AssetStatus.READY and not status.is_terminal
    assert status.raw_state == "unknown" and "'audio'" in (status.reason or "")


# ------------------------------------------------------------------ secrets
def test_no_secret_in_logs_errors_or_results(
    sandbox: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "botocore", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    hook = MediaPocketHook()
    api_key = hook.connection.password
    presigned: list[str] = []
    real_presign = hook.presign

    def spy(uri: str) -> str:  # records the real presigned URLs to grep for them
        url = real_presign(uri)
        presigned.append(url)
        return url

    hook.presign = spy  # type: ignore[method-assign]
    sandbox.state.outcomes.append(Outcome(PLATFORM, "secret.png", "create_media_failed"))
    remote = hook.submit(Creative.inspect(make_image(tmp_path, "secret.png")))
    wait_ready(hook, remote.remote_id)
    sandbox.state.faults.add("status", platform=PLATFORM, status=401, message=f"bad key {api_key}")
    texts = []
    try:
        hook.get_asset(remote.remote_id)
    except PlatformAuthError as exc:
        texts.append(str(exc))
        texts.append(repr(exc.to_dict()))
    assert texts and presigned
    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), *texts, captured.out,
                            captured.err, json.dumps(remote.to_dict())])  # fmt: skip
    assert api_key not in everything
    for url in presigned:
        signature = url.split("X-Amz-Signature=")[1].split("&")[0]
        assert signature not in everything
        assert url.partition("?")[2] not in everything
