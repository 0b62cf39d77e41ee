"""MediaMathHook against the sandbox over real HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformAuthError,
    PlatformConfigError,
    PlatformRequestError,
    PresignedUrlExpired,
    UncertainOutcome,
)
from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.hooks.mediamath import (
    COMPONENT_DESTINATION_URL,
    COMPONENT_TITLE,
    MediaMathHook,
    bare_url,
    external_identifier_for,
    normalise,
    video_upload_name,
)
from airflow_creative_provider.sandbox import mediamath as sandbox
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

API = "/component_creatives/v1.0"
SANDBOX_SIDE_LOGGERS = ("botocore", "boto3", "moto", "werkzeug", "uvicorn", "s3transfer")


def make_png(path: Path, size: tuple[int, int] = (120, 80), color: str = "red") -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def make_mp4(path: Path, frames: int = 5) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_image(Image.new("RGB", (32, 32), (i * 40, 0, 0)))):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mm(creative_sandbox_env):
    creative_sandbox_env.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def hook(mm) -> MediaMathHook:
    h = MediaMathHook()
    h.backoff_initial = 0.05  # type: ignore[misc]
    return h


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return make_png(tmp_path / "native.png")


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return make_mp4(tmp_path / "clip.mp4")


def api_calls(mm, method: str | None = None, path: str = "") -> list[dict]:
    return [e for e in mm.journal(platform="mediamath", method=method) if e["path"].startswith(API + path)]


# ----------------------------------------------------------------------------- auth
def test_oauth_token_and_session_cookie_are_obtained_once_and_sent(mm, hook):
    hook.list_components()
    hook.get_version()
    assert len(mm.journal(platform="mediamath", method="POST", path="^/oauth/token$")) == 1
    assert len(mm.journal(platform="mediamath", method="GET", path="^/api/v2.0/session$")) == 1
    assert [e["status"] for e in api_calls(mm)] == [200, 200]
    # the cookie is never left in requests' jar (it would reach S3 on the same host)
    assert not hook.session.cookies
    assert hook.auth_cookies()["adama_session"].startswith("sess_")
    assert hook.auth_headers()["Authorization"].startswith("Bearer tok_")


def test_token_and_session_renewed_shortly_before_expiry(mm, hook):
    hook.list_components()
    old_token = hook._token
    hook._clock = lambda: time.time() + 86400 - 200  # inside the renewal margin, not yet expired
    hook.list_components()
    assert hook._token != old_token
    assert len(mm.journal(platform="mediamath", path="^/oauth/token$")) == 2
    assert len(mm.journal(platform="mediamath", path="^/api/v2.0/session$")) == 2
    assert all(e["status"] == 200 for e in api_calls(mm)), "renewed before expiry, never by a 401"


def test_session_expires_mid_run_and_is_renewed_once(mm, hook, image):
    made = hook.create_native_creative(image, texts={COMPONENT_TITLE: "Title"})
    creative_id = made["atomic_creative_id"]
    # the sandbox's sessions now live 100 s; time passes on the platform only
    mm.state.store("mediamath")["session_ttl"] = 100
    hook.refresh_auth()
    hook.get_creative(creative_id)
    mm.state.advance_clock(150)
    statuses = hook.get_status([str(creative_id)])
    assert statuses[str(creative_id)].state == AssetStatus.READY
    approvals = [e["status"] for e in api_calls(mm, "GET", "/approvals")]
    assert approvals == [401, 200]
    assert len(mm.journal(platform="mediamath", path="^/api/v2.0/session$")) == 3


def test_expired_tokens_mid_run_renewed_by_fault(mm, hook, image):
    made = hook.create_native_creative(image)
    mm.state.faults.add("expire_token", platform="mediamath", path="/approvals")
    status = hook.get_status([str(made["atomic_creative_id"])])
    assert status[str(made["atomic_creative_id"])].state == AssetStatus.READY
    assert [e["status"] for e in api_calls(mm, "GET", "/approvals")] == [401, 200]
    assert len(mm.journal(platform="mediamath", path="^/oauth/token$")) == 2


def test_second_401_raises_auth_error(mm, hook):
    mm.state.faults.add("status", platform="mediamath", path="/components", status=401, count=2)
    with pytest.raises(PlatformAuthError, match="Authorization|401"):
        hook.list_components()


def test_wrong_password_is_an_auth_error_without_the_secret(mm, monkeypatch):
    conn = mm.connections()["mediamath_default"]
    conn["password"] = "not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_BAD", json.dumps(conn))
    hook = MediaMathHook("mediamath_bad")
    with pytest.raises(PlatformAuthError) as info:
        hook.list_components()
    assert "Wrong email or password" in str(info.value)
    assert "not-the-password" not in str(info.value)
    assert sandbox.CLIENT_SECRET not in str(info.value)
    assert api_calls(mm) == []


def test_legacy_login_with_api_key(mm, monkeypatch, caplog):
    conn = mm.connections()["mediamath_default"]
    extra = {k: v for k, v in conn["extra"].items() if k not in ("client_id", "client_secret", "auth_url")}
    conn["extra"] = {**extra, "api_key": sandbox.API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_LEGACY", json.dumps(conn))
    caplog.set_level(logging.DEBUG)
    hook = MediaMathHook("mediamath_legacy")
    assert hook.uses_legacy_login
    assert len(hook.list_components()) == len(sandbox.COMPONENTS)
    assert [e["status"] for e in mm.journal(platform="mediamath", method="POST", path="^/api/v2.0/login$")] == [200]
    assert mm.journal(platform="mediamath", path="^/oauth/token$") == []
    assert "Authorization" not in hook.auth_headers()
    assert sandbox.API_KEY not in caplog.text
    assert sandbox.PASSWORD not in caplog.text


def test_missing_advertiser_is_a_config_error(mm, monkeypatch):
    conn = mm.connections()["mediamath_default"]
    conn["extra"].pop("advertiser_id")
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_NOADV", json.dumps(conn))
    hook = MediaMathHook("mediamath_noadv")
    assert hook.account == "mediamath_noadv"
    with pytest.raises(PlatformConfigError, match="advertiser_id"):
        hook.list_creatives()


def test_account_is_the_advertiser(hook):
    assert hook.account == str(sandbox.DEFAULT_ADVERTISER)


def test_api_version_is_configurable(mm, monkeypatch):
    conn = mm.connections()["mediamath_default"]
    conn["extra"]["api_version"] = "v9.9"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_V99", json.dumps(conn))
    hook = MediaMathHook("mediamath_v99")
    with pytest.raises(PlatformRequestError):
        hook.get_version()
    assert mm.journal(platform="mediamath", path="^/component_creatives/v9.9/version$")


def test_check_connection(mm, hook):
    ok, message = hook.test_connection()
    assert ok, message
    assert "sandbox-" in message


# ----------------------------------------------------------------------------- creatives
def test_create_native_creative_streams_base64_image_and_adds_texts(mm, hook, image):
    made = hook.create_native_creative(
        image, texts={COMPONENT_TITLE: "Summer sale", COMPONENT_DESTINATION_URL: "https://example.com/sale"}
    )
    assert made["external_identifier"] == external_identifier_for(Creative.inspect(image))
    assert made["status"] is True
    by_component = {a["component_id"]: a for a in made["assets"]}
    picture = by_component[2]
    assert (picture["image_width"], picture["image_height"]) == (120, 80)
    assert picture["image_file_size"] == image.stat().st_size
    assert by_component[COMPONENT_TITLE]["asset_value"] == "Summer sale"
    assert by_component[COMPONENT_DESTINATION_URL]["asset_value"] == "https://example.com/sale"
    (create,) = api_calls(mm, "POST", "/creatives")
    assert create["sha256"] == sha256(image), "the sandbox decoded exactly the file's bytes"
    key = picture["image_url"].split("/sandbox-mediamath/")[1]
    assert mm.state.s3.get("mediamath", key) == image.read_bytes()


def test_list_creatives_pages_with_offset_to_the_end(mm, hook):
    for i in range(5):
        hook.create_creative(f"creative {i}")
    found = hook.list_creatives(page_limit=2)
    assert [c["creative_name"] for c in found] == [f"creative {i}" for i in range(5)]
    pages = api_calls(mm, "GET", "/creatives")
    assert len(pages) == 3
    assert all(isinstance(c["atomic_creative_id"], int) for c in found)
    with pytest.raises(ValueError):
        hook.list_creatives(page_limit=101)


def test_get_creative_with_previews_and_eligibility(mm, hook, image):
    made = hook.create_native_creative(
        image, texts={COMPONENT_TITLE: "Title", COMPONENT_DESTINATION_URL: "https://example.com"}
    )
    full = hook.get_creative(made["atomic_creative_id"], include_previews=True)
    assert full["previews"]["NATIVE_DESKTOP_0"]["available"] is True
    assert "previews" not in hook.get_creative(made["atomic_creative_id"])
    formats = {f["ad_format"]["external_id"]: f for f in hook.creative_eligibility(made["atomic_creative_id"])}
    assert formats["NATIVE_DESKTOP_0"]["eligible"] is True
    assert formats["INSTREAM_VIDEO_DESKTOP"]["eligible"] is False
    assert all(isinstance(c["id"], int) for c in formats["NATIVE_DESKTOP_0"]["required_components"])


def test_creative_not_found_is_a_request_error(hook):
    with pytest.raises(PlatformRequestError, match="Creative not found") as info:
        hook.get_creative(999)
    assert info.value.status == 404


def test_validation_error_names_the_parameter(hook):
    with pytest.raises(
        PlatformRequestError, match="Validation Error; page_limit: must be an Integer between 1 and 100"
    ):
        hook.request("GET", hook.api_path("creatives"), params={"page_limit": 0, "advertiser_id": 100178})


def test_business_validation_error_is_reported(hook):
    with pytest.raises(PlatformRequestError, match="Concept 123508 not associated with advertiser 100178"):
        hook.create_creative("wrong concept", concept_id=123508)


def test_update_keeps_existing_assets(mm, hook, image, tmp_path):
    made = hook.create_native_creative(image, texts={COMPONENT_TITLE: "Title"})
    creative_id = made["atomic_creative_id"]
    before = {a["asset_id"] for a in made["assets"]}
    assert len(before) == 2
    # a new image: the old image and the title stay
    logo = make_png(tmp_path / "second.png", (64, 64), "blue")
    updated = hook.update_creative(creative_id, image=logo)
    after = {a["asset_id"] for a in updated["assets"]}
    assert before < after and len(after) == 3
    # a field-only update sends no assets at all
    renamed = hook.update_creative(creative_id, fields={"creative_name": "renamed", "status": False})
    assert renamed["creative_name"] == "renamed" and renamed["status"] is False
    assert {a["asset_id"] for a in renamed["assets"]} == after
    # attaching an existing asset keeps the others
    extra = hook.create_text_asset(6, "Body text")
    attached = hook.update_creative(creative_id, add_asset_ids=[extra["asset_id"]])
    assert {a["asset_id"] for a in attached["assets"]} == after | {extra["asset_id"]}
    # only an explicit removal drops an asset
    title_id = next(a["asset_id"] for a in made["assets"] if a["component_id"] == COMPONENT_TITLE)
    removed = hook.update_creative(creative_id, remove_asset_ids=[title_id])
    assert {a["asset_id"] for a in removed["assets"]} == (after | {extra["asset_id"]}) - {title_id}
    with pytest.raises(ValueError, match="no asset"):
        hook.update_creative(creative_id, remove_asset_ids=[title_id])


# ----------------------------------------------------------------------------- assets and components
def test_assets_text_and_image_by_multipart_and_json(mm, hook, image):
    creative = hook.create_creative("holder")
    text = hook.create_text_asset(COMPONENT_TITLE, "A title", creative_ids=[creative["atomic_creative_id"]])
    assert text["asset_value"] == "A title"
    multipart = hook.create_image_asset(image, creative_ids=[str(creative["atomic_creative_id"])])
    as_json = hook.create_image_asset(image, component_id=21, encoding="base64")
    for asset in (multipart, as_json):
        assert (asset["image_width"], asset["image_height"], asset["image_file_size"]) == (
            120,
            80,
            image.stat().st_size,
        )
    assert as_json["component_human_name"] == "Logo"
    assert [e.get("sha256") for e in api_calls(mm, "POST", "/assets")] == [None, sha256(image), sha256(image)]
    current = hook.get_creative(creative["atomic_creative_id"])
    assert {a["asset_id"] for a in current["assets"]} == {text["asset_id"], multipart["asset_id"]}
    assert hook.get_asset(text["asset_id"])["asset_value"] == "A title"
    assert hook.update_asset(text["asset_id"], value="New title")["asset_value"] == "New title"
    bigger = make_png(image.parent / "bigger.png", (200, 100))
    assert hook.update_asset(multipart["asset_id"], file=bigger)["image_width"] == 200


def test_components_and_version(hook):
    components = {c["component_id"]: c for c in hook.list_components()}
    assert components[4]["value_type_name"] == "TEXT"
    assert components[11]["component_human_name"] == "Video"
    assert hook.get_component(7)["component_human_name"] == "Title"
    assert hook.get_version().startswith("sandbox-")


# ----------------------------------------------------------------------------- video
def test_video_upload_put_then_bare_url_as_video_asset(mm, hook, video):
    asset = hook.create_video_asset(video)
    assert asset["component_id"] == 11
    url = asset["video_url"]
    assert "?" not in url and url.endswith(f"_{video_upload_name(Creative.inspect(video))}")
    key = url.split("/sandbox-mediamath/")[1]
    assert mm.state.s3.get("mediamath", key) == video.read_bytes()
    (put,) = mm.journal(platform="mediamath", method="PUT")
    assert put["sha256"] == sha256(video) and put["status"] == 200
    uploads = api_calls(mm, "GET", "/upload/")
    assert len(uploads) == 1 and uploads[0]["seq"] == put["seq"] - 1, "URL requested right before the PUT"


def test_presigned_url_expired_before_put_is_requested_again(mm, hook, video, caplog, capsys):
    mm.state.faults.add("expire_url", platform="mediamath", count=1)
    caplog.set_level(logging.DEBUG)
    url = hook.upload_video(video)
    assert [e["status"] for e in mm.journal(platform="mediamath", method="PUT")] == [403, 200]
    assert len(api_calls(mm, "GET", "/upload/")) == 2
    assert url == bare_url(url)
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(SANDBOX_SIDE_LOGGERS))
    ours += capsys.readouterr().out
    assert "X-Amz-Signature" not in ours and "expired before the PUT" in ours


def test_presigned_url_that_keeps_expiring_raises(mm, hook, video):
    mm.state.faults.add("expire_url", platform="mediamath", count=None)
    with pytest.raises(PresignedUrlExpired, match="expired") as info:
        hook.upload_video(video)
    assert "X-Amz" not in str(info.value)
    assert len(api_calls(mm, "GET", "/upload/")) == 3


def test_video_native_creative(mm, hook, video):
    made = hook.create_native_creative(video, texts={COMPONENT_TITLE: "Watch"})
    assert {a["component_id"] for a in made["assets"]} == {11, COMPONENT_TITLE}


# ----------------------------------------------------------------------------- local refusals
@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("notes.txt", b"hello", "type"),
        ("empty.png", b"", "empty"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
        ("fake.png", b"GIF89a" + b"\x00" * 40, "corrupt"),
    ],
)
def test_bad_files_refused_before_any_request(mm, hook, tmp_path, name, content, rule):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CreativeRefused) as info:
        hook.create_native_creative(path)
    assert info.value.rule in (rule, "type", "corrupt")
    assert name in str(info.value)
    assert mm.journal(platform="mediamath") == []


def test_bad_dimensions_refused_before_any_request(mm, hook, tmp_path):
    path = make_png(tmp_path / "wide.png", (10001, 1))
    with pytest.raises(CreativeRefused) as info:
        hook.create_native_creative(path)
    assert info.value.rule == "dimensions"
    assert mm.journal(platform="mediamath") == []


def test_oversize_image_refused_before_any_request(mm, hook, image, monkeypatch):
    monkeypatch.setattr(MediaMathHook, "image_rules", MediaMathHook.image_rules.with_(max_bytes=100))
    with pytest.raises(CreativeRefused) as info:
        hook.create_creative("big", image=image)
    assert info.value.rule == "size"
    assert mm.journal(platform="mediamath") == []


def test_forbidden_characters_only_matter_for_the_video_upload_path(mm, hook, tmp_path):
    # Images go as base64 in JSON: any image_filename, the original name is the creative's name.
    awkward = make_png(tmp_path / "Q3 #launch [final].png")
    made = hook.create_native_creative(awkward)
    assert made["creative_name"] == "Q3 #launch [final].png"
    assert made["assets"][0]["image_filename"] == "Q3 #launch [final].png"
    # Videos upload under a safe derived name; the creative keeps the original one.
    clip = make_mp4(tmp_path / "rentrée — 30% off {v2}.mp4")
    made = hook.create_native_creative(clip)
    assert made["creative_name"] == "rentrée — 30% off {v2}.mp4"
    [upload] = api_calls(mm, "GET", "/upload/")
    derived = video_upload_name(Creative.inspect(clip))
    assert upload["path"] == f"{API}/upload/{derived}" and upload["status"] == 200
    assert re.fullmatch(r"rentree_30_off_v2_[0-9a-f]{8}\.mp4", derived)
    # The raw call still refuses what the path forbids, before any request.
    for name in ("a{b}.mp4", "back`tick.mp4", "quote'.mp4", "per%cent.mp4", "sl\\ash.mp4"):
        with pytest.raises(CreativeRefused, match="forbidden"):
            hook.get_upload_url(name)
    assert len(api_calls(mm, "GET", "/upload/")) == 1


def test_default_host_is_the_seed_production_base_and_the_session_has_its_own_url(mm, monkeypatch):
    assert MediaMathHook.default_host == "https://t1.mediamath.com/component_creatives/v1.0"
    conn = mm.connections()["mediamath_default"]
    base = conn["host"]
    assert conn["extra"]["session_url"] == f"{base}/api/v2.0"
    # A host shaped like the seed's base (with the API path) and a session service elsewhere.
    conn["host"] = f"{base}{API}"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_SEED", json.dumps(conn))
    hook = MediaMathHook("mediamath_seed")
    assert len(hook.list_components()) == len(sandbox.COMPONENTS)
    assert [e["status"] for e in mm.journal(platform="mediamath", path="^/api/v2.0/session$")] == [200]
    assert [e["path"] for e in api_calls(mm, "GET", "/components")] == [f"{API}/components"]
    conn["extra"].pop("session_url")
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_NOSESSION", json.dumps(conn))
    assert MediaMathHook("mediamath_nosession").session_url == "https://api.mediamath.com/api/v2.0"


def test_not_submitted_ends_after_a_bounded_wait(mm, hook, image):
    mm.state.outcomes.append(Outcome("mediamath", "nobody*", "not_submitted"))
    made = hook.create_native_creative(image, creative_name="nobody submits this")
    remote = str(made["atomic_creative_id"])
    now = [1000.0]
    hook._clock = lambda: now[0]
    first = hook.get_status([remote])[remote]
    assert (first.state, first.raw_state) == (AssetStatus.PENDING, "N/A") and not first.is_terminal
    now[0] += hook.not_submitted_after - 1
    assert hook.get_status([remote])[remote].state == AssetStatus.PENDING
    now[0] += 1
    last = hook.get_status([remote])[remote]
    assert last.state == AssetStatus.NOT_SUBMITTED and last.is_terminal and last.raw_state == "N/A"
    assert last.reason.startswith("not submitted for approval")


def test_ready_net_statuses_are_configurable(mm, monkeypatch, image):
    conn = mm.connections()["mediamath_default"]
    conn["extra"]["ready_net_statuses"] = "APPROVED,PENDING"
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMATH_EAGER", json.dumps(conn))
    mm.state.outcomes.append(Outcome("mediamath", "*", "pending"))
    eager = MediaMathHook("mediamath_eager")
    remote = str(eager.create_native_creative(image)["atomic_creative_id"])
    assert eager.get_status([remote])[remote].state == AssetStatus.READY
    assert MediaMathHook().get_status([remote])[remote].state == AssetStatus.PENDING
    assert MediaMathHook().ready_net_statuses == {"APPROVED"}


def test_project_guards_say_they_are_ours(hook, tmp_path):
    big = make_png(tmp_path / "wide.png", size=(10001, 10))
    with pytest.raises(CreativeRefused, match="a guard of this project, not a limit mediamath documents"):
        hook.submit(Creative.inspect(big))


# ----------------------------------------------------------------------------- approvals / status
def test_approvals_are_split_in_calls_of_fifty(mm, hook, image):
    made = hook.create_native_creative(image)
    ids = [str(made["atomic_creative_id"])] + [str(9_000_000 + i) for i in range(119)]
    statuses = hook.get_status(ids)
    assert len(api_calls(mm, "GET", "/approvals")) == 3
    assert statuses[ids[0]].state == AssetStatus.READY and statuses[ids[0]].raw_state == "APPROVED"
    assert statuses[ids[1]].state == AssetStatus.PENDING and statuses[ids[1]].raw_state == "N/A"


def test_pending_then_rejected_with_source_reasons(mm, hook, image):
    mm.state.speeds["mediamath"] = ProcessingSpeed(polls=2, seconds=None)
    mm.state.outcomes.append(Outcome("mediamath", "bad*", "rejected", "Image text exceeds 20 percent"))
    made = hook.create_native_creative(image, creative_name="bad creative")
    remote = str(made["atomic_creative_id"])
    first = hook.get_status([remote])[remote]
    assert (first.state, first.raw_state) == (AssetStatus.PENDING, "PENDING")
    second = hook.get_status([remote])[remote]
    assert second.state == AssetStatus.REJECTED
    assert "sharethrough: Image text exceeds 20 percent" in second.reason
    assert "triplelift" in second.reason


async def test_async_status_uses_the_same_parsing(mm, hook, image):
    made = hook.create_native_creative(image)
    remote = str(made["atomic_creative_id"])
    statuses = await hook.aget_status([remote, "8888888"])
    assert statuses[remote].state == AssetStatus.READY
    assert statuses["8888888"].raw_state == "N/A"


# ----------------------------------------------------------------------------- reliability
def test_429_with_retry_after_is_honoured(mm, hook):
    hook.list_components()
    mm.state.faults.add("status", platform="mediamath", path="/components", status=429, retry_after=1)
    started = time.monotonic()
    hook.list_components()
    assert time.monotonic() - started >= 0.9
    assert [e["status"] for e in api_calls(mm, "GET", "/components")] == [200, 429, 200]


def test_429_without_retry_after_backs_off_and_a_create_is_repeated_once(mm, hook):
    mm.state.faults.add("status", platform="mediamath", method="POST", path="/creatives$", status=429)
    hook.create_creative("rate limited")
    assert [e["status"] for e in api_calls(mm, "POST", "/creatives")] == [429, 201]
    assert len(hook.list_creatives()) == 1


def test_5xx_and_dropped_connection_on_reads_are_retried(mm, hook):
    mm.state.faults.add("status", platform="mediamath", path="/components$", status=503, count=1)
    mm.state.faults.add("drop", platform="mediamath", path="/version$", count=1)
    assert len(hook.list_components()) == len(sandbox.COMPONENTS)
    assert hook.get_version()
    assert [e["status"] for e in api_calls(mm, "GET", "/components")] == [503, 200]
    assert [e["status"] for e in api_calls(mm, "GET", "/version")] == ["dropped", 200]


def test_create_answer_lost_finds_the_creative_instead_of_a_second_one(mm, hook, image):
    mm.state.faults.add("drop_after", platform="mediamath", method="POST", path="/creatives$")
    made = hook.create_native_creative(image, texts={COMPONENT_TITLE: "Title"})
    mark = external_identifier_for(Creative.inspect(image))
    assert made["external_identifier"] == mark
    assert [c["atomic_creative_id"] for c in hook.list_creatives()] == [made["atomic_creative_id"]]
    assert {a["component_id"] for a in made["assets"]} == {2, COMPONENT_TITLE}


def test_create_answered_503_is_not_repeated_blindly(mm, hook, image):
    mm.state.faults.add("status", platform="mediamath", method="POST", path="/creatives$", status=503)
    with pytest.raises(UncertainOutcome):
        hook.create_native_creative(image)
    assert hook.list_creatives() == [], "the lookup ran and found nothing"
    made = hook.create_native_creative(image, resume=True)
    assert [c["atomic_creative_id"] for c in hook.list_creatives()] == [made["atomic_creative_id"]]


def test_task_retried_after_create_succeeded_makes_no_second_creative(mm, hook, image):
    creative = Creative.inspect(image)
    first = hook.create_native_creative(creative, texts={COMPONENT_TITLE: "Title"})
    again = hook.submit(creative, resume=True)
    assert again.remote_id == str(first["atomic_creative_id"])
    third = hook.create_native_creative(creative, texts={COMPONENT_TITLE: "Title"}, resume=True)
    assert len(third["assets"]) == 2, "text assets are not added twice"
    assert len(hook.list_creatives()) == 1
    assert hook.find_asset(creative).remote_id == again.remote_id
    assert len(api_calls(mm, "POST", "/creatives")) == 1


def test_submit_returns_a_pending_remote_asset(mm, hook, image):
    remote = hook.submit(Creative.inspect(image))
    assert remote.state == AssetStatus.PENDING
    assert remote.details["external_identifier"].startswith("acp-")
    assert hook.asset_url(remote.remote_id) is None


# ----------------------------------------------------------------------------- types and secrets
def test_normalise_mixed_types_in_one_place():
    raw = {
        "atomic_creative_id": "3200795",
        "concept_id": "1432620",
        "advertiser_id": 100178,
        "status": "1",
        "unpublished": "false",
        "assets": json.dumps([{"asset_id": "5", "component_id": "2"}]),
        "external_identifier": "NA",
        "sources": {"sharethrough": {"status": "REJECTED"}},
    }
    out = normalise(raw)
    assert out["atomic_creative_id"] == 3200795 and out["concept_id"] == 1432620
    assert out["status"] is True and out["unpublished"] is False
    assert out["assets"] == [{"asset_id": 5, "component_id": 2}]
    assert out["sources"]["sharethrough"]["status"] == "REJECTED"
    assert normalise({"status": True, "assets": []})["status"] is True
    assert normalise({"status": 0})["status"] is False


def test_no_secret_in_logs_or_errors(mm, hook, image, video, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    made = hook.create_native_creative(image, texts={COMPONENT_TITLE: "Title"})
    hook.create_video_asset(video, creative_ids=[made["atomic_creative_id"]])
    mm.state.faults.add("expire_token", platform="mediamath", path="/approvals")
    hook.get_status([str(made["atomic_creative_id"])])
    upload_url = hook.get_upload_url("probe.mp4")
    errors = []
    for call in (lambda: hook.get_creative(404404), lambda: hook.create_creative("x", concept_id=1)):
        try:
            call()
        except PlatformRequestError as exc:
            errors.append(str(exc))
    secrets = [
        sandbox.PASSWORD,
        sandbox.CLIENT_SECRET,
        hook._token,
        hook._session_id,
        upload_url.split("?", 1)[1],
        upload_url.split("X-Amz-Signature=")[1][:40],
    ]
    captured = capsys.readouterr()
    # the in-process sandbox's own S3 client (botocore, moto) logs its signing: not ours
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(SANDBOX_SIDE_LOGGERS)]
    text = "\n".join(ours) + captured.out + captured.err + "\n".join(errors)
    for secret in secrets:
        assert secret and secret not in text
    assert len(errors) == 2
