"""TopsortHook against the sandbox over real HTTP: every step, every documented error, rate limits,
faults, expired upload forms, idempotent resume, local rules, and no secret in any log line."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformAuthError,
    PlatformConfigError,
    PlatformRequestError,
    PresignedUrlExpired,
)
from airflow_creative_provider.hooks.base import AssetStatus, Response
from airflow_creative_provider.hooks.topsort import ASSET_PATH, ASSETS_PATH, TopsortHook, fit_asset_name
from airflow_creative_provider.sandbox import topsort as sandbox_ts
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

PLATFORM = "topsort"
REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / "examples" / "creatives" / "video" / "product_teaser_640x360.mp4"
MOV = REPO / "examples" / "creatives" / "video" / "story_360x640.mov"
CREATE = r"^/public/v1/assets/asset$"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def hook(sandbox) -> TopsortHook:
    hook = TopsortHook()
    hook.backoff_initial = 0.05
    hook.backoff_max = 0.5
    return hook


def make_image(tmp_path: Path, name: str = "banner.png", color: str = "red", size: tuple[int, int] = (40, 30)) -> Path:
    path = tmp_path / name
    fmt = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}[name.rsplit(".", 1)[-1]]
    Image.new("RGB", size, color).save(path, fmt)
    return path


def api_calls(sandbox, method: str | None = None, path: str | None = None) -> list[dict]:
    return [e for e in sandbox.journal(platform=PLATFORM, method=method, path=path) if e.get("kind") == "api"]


def uploads(sandbox) -> list[dict]:
    return [
        e for e in sandbox.journal(platform=PLATFORM, method="POST") if "/s3/" in e["path"] or "_upload" in e["path"]
    ]


def assets_on_platform(sandbox) -> list[dict]:
    return list(sandbox.state.store(PLATFORM).get("assets", {}).values())


def set_conn(monkeypatch, sandbox, conn_id: str = "topsort_default", **changes) -> None:
    conn = {**sandbox.connections()["topsort_default"], **changes}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def wait_ready(hook: TopsortHook, remote_id: str, polls: int = 5) -> AssetStatus:
    for _ in range(polls):
        status = hook.get_status([remote_id])[remote_id]
        if status.is_terminal:
            return status
    return status


# ------------------------------------------------------------------ happy paths
def test_submit_image_creates_uploads_and_is_approved(hook, sandbox, tmp_path):
    creative = Creative.inspect(make_image(tmp_path))
    asset = hook.submit(creative, product_ids=["p-1"], brands=["Sunline"], metadata={"campaign": "summer"})
    assert asset.state == AssetStatus.PROCESSING and not asset.abandoned_ids
    # The state is read back from Topsort once after the upload, not assumed.
    [read_back] = api_calls(sandbox, "GET", rf"^{ASSET_PATH}/{asset.remote_id}$")
    assert read_back["seq"] > uploads(sandbox)[0]["seq"]
    assert asset.raw_state == sandbox.state.store(PLATFORM)["assets"][asset.remote_id]["status"] == "pending_approval"
    creates = api_calls(sandbox, "POST", CREATE)
    assert [c["status"] for c in creates] == [201]
    posted = uploads(sandbox)
    assert len(posted) == 1 and posted[0]["status"] == 204 and posted[0]["sha256"] == creative.sha256
    stored = sandbox.state.store(PLATFORM)["assets"][asset.remote_id]
    assert stored["metadata"] == {"campaign": "summer", "sha256": creative.sha256}
    assert stored["productIds"] == ["p-1"] and stored["brands"] == ["Sunline"]
    status = wait_ready(hook, asset.remote_id)
    assert status.state == AssetStatus.READY and status.raw_state == "approved"
    assert status.details["url"].endswith(asset.remote_id)


def test_upload_accepts_201_when_the_form_asks_for_it(hook, sandbox, tmp_path):
    sandbox_ts.config(sandbox.state).upload_success_status = 201
    creative = Creative.inspect(make_image(tmp_path))
    created = hook.create_asset("banner", creative.mimetype)
    assert created["fields"]["success_action_status"] == "201"
    assert hook.upload_file(created, creative) == 201


def test_video_sends_only_the_file_part(hook, sandbox, tmp_path):
    path = tmp_path / VIDEO.name
    shutil.copy(VIDEO, path)
    creative = Creative.inspect(path)
    assert creative.mimetype == "video/mp4"
    asset = hook.submit(creative)
    posted = uploads(sandbox)
    assert len(posted) == 1 and "_upload" in posted[0]["path"] and posted[0]["sha256"] == creative.sha256
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


def test_external_asset_needs_no_upload(hook, sandbox):
    created = hook.create_external_asset("cdn banner", "https://cdn.example.com/b.png", mimetype="image/png")
    assert created["isExternal"] is True and created["fields"] == {} and not created.get("uploadUrl")
    status = wait_ready(hook, created["id"])
    assert status.state == AssetStatus.READY and status.details["url"] == "https://cdn.example.com/b.png"
    assert not uploads(sandbox)


def test_list_follows_cursors_to_the_end_with_filters(hook, sandbox):
    ids = [
        hook.create_external_asset(f"ext {i}", f"https://cdn.example.com/{i}.png", brands=["A" if i % 2 else "B"])["id"]
        for i in range(5)
    ]
    listed = hook.list_assets(limit=2)
    assert [a["id"] for a in listed] == ids
    assert len(api_calls(sandbox, "GET", ASSETS_PATH)) == 3  # 2 + 2 + 1
    assert {a["id"] for a in hook.list_assets(brand="A")} == {ids[1], ids[3]}
    assert [a["id"] for a in hook.list_assets(asset_ids=[ids[0], ids[4]])] == [ids[0], ids[4]]
    assert hook.list_assets(status="rejected") == []
    assert len(hook.list_assets(status="approved")) == 5  # reads advanced them (one poll each)
    assert hook.list_assets(vendor_id="someone-else") == []


def test_check_connection(hook, sandbox):
    ok, message = hook.test_connection()
    assert ok and "vendor-sandbox" in message


def test_account_is_the_vendor_id(hook, sandbox):
    assert hook.account == "vendor-sandbox"


def test_missing_vendor_id_names_the_extra(sandbox, monkeypatch, tmp_path):
    set_conn(monkeypatch, sandbox, extra={})
    with pytest.raises(PlatformConfigError, match="vendor_id"):
        TopsortHook().create_asset("x", "image/png")
    assert not api_calls(sandbox)


# ------------------------------------------------------------------ states and reasons
def test_magic_bytes_unlike_the_mimetype_end_in_upload_error(hook, sandbox, tmp_path):
    creative = Creative.inspect(make_image(tmp_path))
    created = hook.create_asset("png posing as jpeg", "image/jpeg")
    hook.upload_file(created, creative)
    status = wait_ready(hook, created["id"])
    assert status.state == AssetStatus.REJECTED and status.raw_state == "upload_error"
    assert "upload_error" in status.reason


def test_rejected_is_a_terminal_failure_with_reason(hook, sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "refused*", "rejected"))
    asset = hook.submit(Creative.inspect(make_image(tmp_path)), name="refused banner")
    status = wait_ready(hook, asset.remote_id)
    assert status.state == AssetStatus.REJECTED and status.raw_state == "rejected" and "rejected" in status.reason


def test_never_uploaded_asset_stays_pending(hook, sandbox):
    created = hook.create_asset("no file", "image/png")
    for _ in range(3):
        assert hook.get_status([created["id"]])[created["id"]].state == AssetStatus.PENDING


async def test_async_status_matches_sync(hook, sandbox, tmp_path):
    asset = hook.submit(Creative.inspect(make_image(tmp_path)))
    statuses = await hook.aget_status([asset.remote_id])
    assert statuses[asset.remote_id].raw_state in ("pending_approval", "approved")


# ------------------------------------------------------------------ documented errors
@pytest.mark.parametrize("shape", ["array", "object"])
def test_unknown_key_is_final_and_says_to_replace_it(sandbox, monkeypatch, shape, caplog):
    sandbox_ts.config(sandbox.state).error_shape = shape
    set_conn(monkeypatch, sandbox, password="ts_adv_revoked_key_0123456789")
    hook = TopsortHook()
    with caplog.at_level(logging.DEBUG), pytest.raises(PlatformAuthError) as info:
        hook.get_asset("anything")
    assert info.value.status == 401 and "replace" in str(info.value)
    assert info.value.vendor_message == "Invalid or missing API key"
    assert len(api_calls(sandbox)) == 1  # no refresh, no retry
    assert "ts_adv_revoked_key_0123456789" not in str(info.value) + caplog.text


def test_auth_answered_403_is_an_auth_error(sandbox, monkeypatch):
    sandbox_ts.config(sandbox.state).auth_status = 403
    set_conn(monkeypatch, sandbox, password="not-a-key-at-all")
    with pytest.raises(PlatformAuthError, match="replace"):
        TopsortHook().list_assets()


def test_marketplace_key_is_forbidden(sandbox, monkeypatch):
    set_conn(monkeypatch, sandbox, password=sandbox_ts.MARKETPLACE_KEY)
    with pytest.raises(PlatformAuthError, match="Advanced API key") as info:
        TopsortHook().create_asset("x", "image/png")
    assert info.value.status == 403 and sandbox_ts.MARKETPLACE_KEY not in str(info.value)


def test_key_revoked_mid_run_fails_at_once(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    sandbox.state.faults.add("status", platform=PLATFORM, status=401, message="Invalid or missing API key")
    with pytest.raises(PlatformAuthError, match="cannot be refreshed"):
        hook.get_status([created["id"]])
    assert len(api_calls(sandbox, "GET")) == 1


def test_other_vendors_asset_is_not_found(hook, sandbox, monkeypatch):
    created = hook.create_asset("mine", "image/png")
    set_conn(monkeypatch, sandbox, "topsort_other", password=sandbox_ts.OTHER_MARKETPLACE_KEY)
    with pytest.raises(PlatformRequestError, match="404") as info:
        TopsortHook("topsort_other").get_asset(created["id"])
    assert info.value.status == 404


def test_422_shows_the_vendor_message(hook, sandbox):
    with pytest.raises(PlatformRequestError, match="422") as info:
        hook.request("POST", ASSET_PATH, json={"name": "x" * 65, "mimetype": "image/png"})
    assert "vendor_id" in info.value.vendor_message and "64" in info.value.vendor_message
    with pytest.raises(PlatformRequestError, match="limit"):
        hook.request("GET", ASSETS_PATH, params={"limit": 101})


@pytest.mark.parametrize(("body", "code"), [(b"{not json", "invalid_json"), (b"", "empty_request")])
def test_malformed_body_dispatches_on_err_code(hook, sandbox, body, code):
    with pytest.raises(PlatformRequestError) as info:
        hook.request(
            "POST", ASSET_PATH, params={"vendor_id": "v"}, data=body, headers={"Content-Type": "application/json"}
        )
    assert info.value.vendor_code == code and info.value.status == 400
    assert len(api_calls(sandbox, "POST")) == 1  # never repeated


def test_trailing_slash_is_404(hook, sandbox):
    with pytest.raises(PlatformRequestError, match="trailing slash"):
        hook.request("GET", ASSETS_PATH + "/")


# ------------------------------------------------------------------ rate limits
def test_429_with_retry_after_is_waited_out(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after="0.3")
    started = time.monotonic()
    assert hook.get_asset(created["id"])["id"] == created["id"]
    assert time.monotonic() - started >= 0.3
    assert [e["status"] for e in api_calls(sandbox, "GET")] == [429, 200]


def test_429_without_any_header_backs_off(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, count=2)
    assert hook.get_asset(created["id"])["id"] == created["id"]
    assert [e["status"] for e in api_calls(sandbox, "GET")] == [429, 429, 200]


@pytest.mark.parametrize("unit", ["epoch", "seconds"])
def test_429_waits_for_x_ratelimit_reset(sandbox, unit, tmp_path):
    cfg = sandbox_ts.config(sandbox.state)
    cfg.rate_limit = (3, 1.0)
    cfg.reset_header = unit

    class Unthrottled(TopsortHook):
        rate_limit = None

    hook = Unthrottled()
    hook.backoff_initial = 5.0  # would fail the timing below if the reset header were ignored
    started = time.monotonic()
    for _ in range(5):
        hook.list_assets(limit=1)
    statuses = [e["status"] for e in api_calls(sandbox)]
    assert 429 in statuses and statuses.count(200) == 5
    assert time.monotonic() - started < 4.0


def test_create_rate_limited_is_repeated_once_without_a_duplicate(hook, sandbox, tmp_path):
    sandbox.state.faults.add("status", platform=PLATFORM, method="POST", path=CREATE, status=429)
    asset = hook.submit(Creative.inspect(make_image(tmp_path)))
    assert [e["status"] for e in api_calls(sandbox, "POST", CREATE)] == [429, 201]
    assert [a["id"] for a in assets_on_platform(sandbox)] == [asset.remote_id]


def test_client_side_limiter_keeps_under_45_per_2s(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    started = time.monotonic()
    hook.get_status([created["id"]] * 50)
    assert time.monotonic() - started >= 1.0  # the limiter made the last calls wait
    assert all(e["status"] != 429 for e in api_calls(sandbox))


def test_retry_after_reads_rate_limit_headers():
    hook = TopsortHook()
    now = time.time()
    assert hook.retry_after(Response(429, {"X-RateLimit-Reset": f"{now + 3:.3f}"}, b"", "")) == pytest.approx(3, 0.2)
    assert hook.retry_after(Response(429, {"X-RateLimit-Reset": str(int((now + 2) * 1000))}, b"", "")) == (
        pytest.approx(2, 0.2)
    )
    assert hook.retry_after(Response(429, {"X-RateLimit-Reset": "1.5"}, b"", "")) == 1.5
    assert hook.retry_after(Response(429, {"Retry-After": "4", "X-RateLimit-Reset": "1"}, b"", "")) == 4
    assert hook.retry_after(Response(429, {}, b"", "")) is None


# ------------------------------------------------------------------ 5xx and dropped connections
def test_5xx_on_get_is_retried(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=503)
    assert hook.get_asset(created["id"])["id"] == created["id"]


def test_dropped_connection_on_get_is_retried(hook, sandbox):
    created = hook.create_asset("x", "image/png")
    sandbox.state.faults.add("drop", platform=PLATFORM, method="GET")
    assert hook.get_asset(created["id"])["id"] == created["id"]
    assert [e["status"] for e in api_calls(sandbox, "GET")] == ["dropped", 200]


def test_5xx_on_create_is_reconciled_through_list(hook, sandbox, tmp_path):
    sandbox.state.faults.add("status", platform=PLATFORM, method="POST", path=CREATE, status=500)
    asset = hook.submit(Creative.inspect(make_image(tmp_path)))
    assert [e["status"] for e in api_calls(sandbox, "POST", CREATE)] == [500, 201]
    assert api_calls(sandbox, "GET", ASSETS_PATH)  # looked up before creating again
    assert [a["id"] for a in assets_on_platform(sandbox)] == [asset.remote_id]


def test_lost_create_answer_abandons_the_unreachable_asset(hook, sandbox, tmp_path):
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST", path=CREATE)
    asset = hook.submit(Creative.inspect(make_image(tmp_path)))
    first = [a for a in assets_on_platform(sandbox) if a["id"] != asset.remote_id]
    assert len(first) == 1 and asset.abandoned_ids == (first[0]["id"],)
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


def test_5xx_on_the_upload_is_retried_with_a_fresh_stream(hook, sandbox, tmp_path):
    sandbox.state.faults.add("status", platform=PLATFORM, method="POST", path="^/s3/", status=503)
    creative = Creative.inspect(make_image(tmp_path))
    asset = hook.submit(creative)
    assert [e["status"] for e in uploads(sandbox)] == [503, 204]
    assert uploads(sandbox)[-1]["sha256"] == creative.sha256
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


# ------------------------------------------------------------------ expired upload forms
def test_expired_upload_creates_a_fresh_asset_and_records_the_abandoned_one(hook, sandbox, tmp_path):
    sandbox.state.faults.add("expire_url", platform=PLATFORM, path="^/s3/")
    asset = hook.submit(Creative.inspect(make_image(tmp_path)))
    assert [e["status"] for e in uploads(sandbox)] == [403, 204]
    assert len(asset.abandoned_ids) == 1 and asset.abandoned_ids[0] != asset.remote_id
    assert hook.get_asset(asset.abandoned_ids[0])["status"] == "pending_upload"
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


@pytest.mark.parametrize("source", ["image", "video"])
def test_upload_after_30_minutes_is_refused_as_expired(hook, sandbox, tmp_path, source, caplog):
    if source == "video":
        shutil.copy(VIDEO, tmp_path / VIDEO.name)
        creative = Creative.inspect(tmp_path / VIDEO.name)
    else:
        creative = Creative.inspect(make_image(tmp_path))
    created = hook.create_asset("late", creative.mimetype)
    sandbox.state.advance_clock(31 * 60)
    with caplog.at_level(logging.DEBUG), pytest.raises(PresignedUrlExpired, match="30 minutes") as info:
        hook.upload_file(created, creative)
    assert info.value.status == 403
    secrets = [v for k, v in created["fields"].items() if k in ("policy", "x-amz-signature")]
    if source == "video":
        secrets.append(created["uploadUrl"].split("token=")[1])
    for secret in secrets:
        assert secret not in str(info.value) and secret not in caplog.text


@pytest.mark.parametrize("fault", ["lost_create", "expired_form", "earlier_crash"])
def test_leftover_assets_are_listed_for_the_ledger_and_the_report(hook, sandbox, tmp_path, fault):
    """Topsort cannot finish a pending_upload asset (no upload form is re-issued), so no leftover is
    reused: every one is named in the asset's warnings, which the ledger and the report carry."""
    creative = Creative.inspect(make_image(tmp_path))
    if fault == "lost_create":
        sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST", path=CREATE)
    elif fault == "expired_form":
        sandbox.state.faults.add("expire_url", platform=PLATFORM, path="^/s3/")
    else:  # a crash between create and upload, twice
        for _ in range(2):
            hook.create_asset(creative.name, creative.mimetype, metadata=hook.content_metadata(creative.sha256))
    asset = hook.submit(creative, resume=fault == "earlier_crash")
    leftovers = {a["id"] for a in assets_on_platform(sandbox) if a["status"] == "pending_upload"}
    assert leftovers and set(asset.abandoned_ids) == leftovers
    [warning] = [w for w in asset.warnings if "left over" in w]
    assert all(i in warning for i in leftovers) and "delete them in Topsort" in warning
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


# ------------------------------------------------------------------ idempotency
def test_retried_task_after_create_finds_its_asset(hook, sandbox, tmp_path):
    creative = Creative.inspect(make_image(tmp_path))
    first = hook.submit(creative)
    again = TopsortHook().submit(creative, resume=True)
    assert again.remote_id == first.remote_id
    assert len(api_calls(sandbox, "POST", CREATE)) == 1 and len(uploads(sandbox)) == 1


def test_resume_after_create_without_upload_makes_a_fresh_asset(hook, sandbox, tmp_path):
    creative = Creative.inspect(make_image(tmp_path))
    orphan = hook.create_asset(creative.name, creative.mimetype, metadata=hook.content_metadata(creative.sha256))
    asset = hook.submit(creative, resume=True)
    assert asset.remote_id != orphan["id"] and asset.abandoned_ids == (orphan["id"],)
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


def test_find_asset_ignores_other_content(hook, sandbox, tmp_path):
    hook.submit(Creative.inspect(make_image(tmp_path, "a.png", "red")))
    assert hook.find_asset(Creative.inspect(make_image(tmp_path, "b.png", "blue"))) is None


# ------------------------------------------------------------------ local rules
def _refused(hook, sandbox, path: Path, rule: str, **kwargs) -> CreativeRefused:
    with pytest.raises(CreativeRefused) as info:
        hook.submit(Creative.inspect(path), **kwargs)
    assert info.value.rule == rule
    assert path.name in str(info.value) or kwargs
    assert sandbox.journal(platform=PLATFORM) == []  # nothing was sent
    return info.value


def test_rules_refuse_wrong_type(hook, sandbox, tmp_path):
    (tmp_path / "brief.txt").write_text("hello")
    _refused(hook, sandbox, tmp_path / "brief.txt", "type")
    Image.new("RGB", (10, 10)).save(tmp_path / "x.bmp", "BMP")
    _refused(hook, sandbox, tmp_path / "x.bmp", "type")


def test_content_unlike_its_extension_is_sent_with_its_real_type_and_a_warning(hook, sandbox, tmp_path):
    png = make_image(tmp_path)
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(png.read_bytes())
    asset = hook.submit(Creative.inspect(fake))
    stored = sandbox.state.store(PLATFORM)["assets"][asset.remote_id]
    assert stored["mimetype"] == "image/png" and stored["name"] == "photo.png"
    assert any("photo.jpg: the content is image/png but the name says image/jpeg" in w for w in asset.warnings)
    assert wait_ready(hook, asset.remote_id).state == AssetStatus.READY


def test_rules_refuse_empty_and_corrupt_files(hook, sandbox, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _refused(hook, sandbox, tmp_path / "empty.png", "empty")
    data = make_image(tmp_path, "full.png", size=(200, 200)).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _refused(hook, sandbox, tmp_path / "cut.png", "corrupt")


def test_long_names_are_shortened_to_fit_not_refused(hook, sandbox, tmp_path):
    long_file = hook.submit(Creative.inspect(make_image(tmp_path, "n" * 246 + ".png")))
    other_file = hook.submit(Creative.inspect(make_image(tmp_path, "n" * 245 + "m.png", color="blue")))
    given = hook.submit(Creative.inspect(make_image(tmp_path, color="green")), name="x" * 65)
    names = [sandbox.state.store(PLATFORM)["assets"][a.remote_id]["name"] for a in (long_file, other_file, given)]
    assert all(len(n) <= 64 for n in names) and len(set(names)) == 3
    assert names[0].startswith("nnnn") and names[0].endswith(".png") and names[2].startswith("xxxx")
    assert fit_asset_name("short.png") == "short.png"


def test_rules_refuse_bad_fields(hook, sandbox, tmp_path):
    path = make_image(tmp_path)
    _refused(hook, sandbox, path, "metadata", metadata={"k" * 33: "v"})
    _refused(hook, sandbox, path, "metadata", metadata={"note": "v" * 65})
    _refused(hook, sandbox, path, "productIds", product_ids=[str(i) for i in range(11)])
    _refused(hook, sandbox, path, "brands", brands=[str(i) for i in range(11)])


def test_marketplace_rules_refuse_oversize_and_bad_dimensions(sandbox, tmp_path):
    hook = TopsortHook(rules=TopsortHook.rules.with_(name="banner 300x250", min_width=300, min_height=250))
    _refused(hook, sandbox, make_image(tmp_path, size=(100, 100)), "dimensions")
    hook = TopsortHook(rules=TopsortHook.rules.with_(max_bytes=100))
    _refused(hook, sandbox, make_image(tmp_path, "big.png", size=(300, 300)), "size")


# ------------------------------------------------------------------ secrets
def test_no_secret_in_logs_results_or_errors(hook, sandbox, tmp_path, caplog, capsys):
    creative = Creative.inspect(make_image(tmp_path))
    with caplog.at_level(logging.DEBUG):
        created = hook.create_asset("banner", creative.mimetype)
        hook.upload_file(created, creative)
        asset = hook.submit(creative, resume=False)
        statuses = hook.get_status([asset.remote_id, created["id"]])
    secrets = [sandbox_ts.API_KEY, created["fields"]["policy"], created["fields"]["x-amz-signature"]]
    exposed = caplog.text + capsys.readouterr().err + json.dumps(asset.to_dict())
    exposed += json.dumps({k: v.to_dict() for k, v in statuses.items()})
    for secret in secrets:
        assert secret not in exposed
