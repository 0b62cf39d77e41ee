"""AmazonAdsHook against the sandbox over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
from airflow_creative_provider.hooks import amazon_ads as amazon_hook_module
from airflow_creative_provider.hooks.amazon_ads import (
    AMAZON_ADS_RULE_SETS,
    REGION_HOSTS,
    TOKEN_URLS,
    AmazonAdsHook,
    content_tag,
    upload_location,
)
from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.sandbox import amazon_ads as sandbox_amazon
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

P = "amazon_ads"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[P] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def hook(sandbox) -> AmazonAdsHook:
    h = AmazonAdsHook()
    h.backoff_initial = 0.05  # type: ignore[misc]
    h.backoff_max = 0.2  # type: ignore[misc]
    return h


def png(tmp_path: Path, name: str = "logo.png", size: tuple[int, int] = (500, 500), color: str = "red") -> Path:
    path = tmp_path / name
    Image.new("RGB", size, color).save(path)
    return path


def set_connection(monkeypatch, sandbox, conn_id: str = "amazon_ads_default", **changes: Any) -> None:
    conn = sandbox.connections()["amazon_ads_default"]
    extra = dict(conn.get("extra", {}))
    extra.update(changes.pop("extra", {}))
    for key, value in changes.items():
        if value is None:
            conn.pop(key, None)
        else:
            conn[key] = value
    conn["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def api_calls(sandbox, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
    return [e for e in sandbox.journal(platform=P, method=method, path=path) if e.get("kind") == "api"]


def total_assets(hook: AmazonAdsHook) -> int:
    return len(hook.search_assets())


# ---------------------------------------------------------------- happy path
def test_submit_uploads_registers_and_becomes_active(hook, sandbox, tmp_path):
    creative = Creative.inspect(png(tmp_path))
    remote = hook.submit(creative)
    assert remote.remote_id.startswith("amzn1.assetlibrary.asset1.")
    assert remote.version == "version_v1"
    assert remote.state == AssetStatus.PROCESSING
    puts = sandbox.journal(platform=P, method="PUT")
    assert [e["status"] for e in puts] == [200]
    assert puts[0]["sha256"] == creative.sha256
    paths = [e["path"] for e in api_calls(sandbox)]
    assert paths == ["/auth/o2/token", "/assets/upload", "/assets/register"]
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert (status.state, status.raw_state) == (AssetStatus.READY, "ACTIVE")
    asset = hook.get_asset(remote.remote_id)
    (version,) = asset["assetVersionList"]
    assert content_tag(creative.sha256) in version["tags"]
    assert version["name"] == "logo.png"


def test_status_goes_processing_then_active(hook, sandbox, tmp_path):
    sandbox.state.speeds[P] = ProcessingSpeed(polls=2, seconds=None)
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    first = hook.get_status([remote.remote_id])[remote.remote_id]
    second = hook.get_status([remote.remote_id])[remote.remote_id]
    assert (first.state, first.raw_state) == (AssetStatus.PROCESSING, "PROCESSING")
    assert (second.state, second.raw_state) == (AssetStatus.READY, "ACTIVE")


async def test_aget_status_polls_asynchronously(hook, sandbox, tmp_path):
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    statuses = await hook.aget_status([remote.remote_id, f"{remote.remote_id}:version_v1"])
    assert {s.state for s in statuses.values()} == {AssetStatus.READY}


def test_headers_on_every_ads_call_and_vendor_media_types(hook, sandbox, tmp_path):
    # The sandbox answers 401/406/415 when a header or media type is wrong, so every 200 proves them.
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    hook.get_asset(remote.remote_id, "version_v1")
    hook.search_assets(value_filters={"ASSET_TYPE": ["IMAGE"]})
    assert all(e["status"] == 200 for e in api_calls(sandbox))


def test_get_asset_lists_all_versions_and_one_version(hook, sandbox, tmp_path):
    path = png(tmp_path)
    first = hook.submit(Creative.inspect(path))
    Image.new("RGB", (500, 500), "blue").save(path)
    hook.submit(Creative.inspect(path), previous_id=first.remote_id)
    every = hook.get_asset(first.remote_id)
    assert [v["assetIdentifier"]["version"] for v in every["assetVersionList"]] == ["version_v1", "version_v2"]
    one = hook.get_asset(first.remote_id, "version_v1")
    assert [v["assetIdentifier"]["version"] for v in one["assetVersionList"]] == ["version_v1"]


# ---------------------------------------------------------------- versions
def test_changed_file_becomes_new_version_not_second_asset(hook, sandbox, tmp_path):
    path = png(tmp_path)
    first = hook.submit(Creative.inspect(path))
    Image.new("RGB", (500, 500), "blue").save(path)
    second = hook.submit(Creative.inspect(path), previous_id=first.remote_id)
    assert second.remote_id == first.remote_id
    assert second.version == "version_v2"
    # The same content again as a "version" gets the version it already is (same file name).
    again = hook.submit(Creative.inspect(path), previous_id=f"{first.remote_id}:version_v2")
    assert (again.remote_id, again.version) == (first.remote_id, "version_v2")
    assert len({a["assetId"] for a in hook.search_assets()}) == 1
    status = hook.get_status([first.remote_id])[first.remote_id]
    assert status.details["version"] == "version_v2"


def test_unknown_linked_asset_is_404(hook, sandbox, tmp_path):
    with pytest.raises(PlatformRequestError) as err:
        hook.submit(Creative.inspect(png(tmp_path)), previous_id="amzn1.assetlibrary.asset1.nope")
    assert err.value.status == 404


# ---------------------------------------------------------------- states and spec checks
def test_failed_spec_checks_are_warnings_not_eligible(hook, sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(P, "promo*", "FAILED_SPEC", "Aspect ratio is not 9:16."))
    remote = hook.submit(Creative.inspect(png(tmp_path, "promo.png")))
    assert remote.warnings and "Aspect ratio is not 9:16." in remote.warnings[0]
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert status.state == AssetStatus.READY
    assert any("not eligible" in w for w in status.warnings)


@pytest.mark.parametrize("raw", ["INACTIVE", "ARCHIVED"])
def test_inactive_and_archived_are_rejected(hook, sandbox, tmp_path, raw):
    sandbox.state.outcomes.append(Outcome(P, "bad*", raw, f"forced {raw.lower()}"))
    remote = hook.submit(Creative.inspect(png(tmp_path, "bad.png")))
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert (status.state, status.raw_state) == (AssetStatus.REJECTED, raw)
    assert status.reason


def test_corrupt_file_sent_by_hand_turns_inactive(hook, sandbox, tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    url = hook.get_upload_url("clip.mp4")
    hook.upload_file(url, str(bad), "video/mp4")
    result = hook.register_asset(url, name="clip", asset_type="VIDEO", subtypes=["BACKGROUND_VIDEO"])
    status = hook.get_status([result["assetId"]])[result["assetId"]]
    assert status.state == AssetStatus.REJECTED
    assert "Processing failed" in (status.reason or "")


# ---------------------------------------------------------------- auth
def test_token_cached_across_calls(hook, sandbox, tmp_path):
    hook.submit(Creative.inspect(png(tmp_path)))
    hook.search_assets()
    assert len(api_calls(sandbox, path="^/auth/o2/token$")) == 1


def test_token_refreshed_shortly_before_expiry(hook, sandbox, monkeypatch):
    sandbox_amazon.configure(sandbox.state, token_ttl=600)
    hook.search_assets()
    # the worker's clock (the hook's only use of time) moves past expires_in minus the margin
    # (300 s of 600), not past the expiry: no sleep, whatever the load
    later = time.monotonic() + 301
    monkeypatch.setattr(amazon_hook_module, "time", SimpleNamespace(monotonic=lambda: later))
    hook.search_assets()
    assert len(api_calls(sandbox, path="^/auth/o2/token$")) == 2
    assert not [e for e in api_calls(sandbox) if e["status"] == 401]


def test_token_expiring_mid_run_is_refreshed_once(hook, sandbox, tmp_path):
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    sandbox.state.faults.add("expire_token", platform=P, path="^/assets$")
    status = hook.get_status([remote.remote_id])[remote.remote_id]
    assert status.state == AssetStatus.READY
    statuses = [(e["path"], e["status"]) for e in api_calls(sandbox)][-3:]
    assert statuses == [("/assets", 401), ("/auth/o2/token", 200), ("/assets", 200)]


def test_revoked_refresh_token_is_invalid_grant(hook, sandbox):
    sandbox_amazon.revoke_refresh_token(sandbox.state)
    with pytest.raises(PlatformAuthError) as err:
        hook.search_assets()
    assert "revoked or is wrong" in str(err.value)
    assert err.value.vendor_code == "invalid_grant"


def test_wrong_refresh_token_is_invalid_grant(monkeypatch, sandbox):
    set_connection(monkeypatch, sandbox, extra={"refresh_token": "Atzr|wrong"})
    with pytest.raises(PlatformAuthError, match="revoked or is wrong"):
        AmazonAdsHook().search_assets()


def test_wrong_client_secret_is_invalid_client(monkeypatch, sandbox):
    set_connection(monkeypatch, sandbox, password="not-the-secret")
    with pytest.raises(PlatformAuthError, match="client secret"):
        AmazonAdsHook().search_assets()


def test_profile_of_another_region_is_refused(monkeypatch, sandbox):
    eu_profile = sandbox_amazon.credentials(sandbox.state)["eu_profile_id"]
    set_connection(monkeypatch, sandbox, extra={"profile_id": eu_profile})
    with pytest.raises(PlatformAuthError) as err:
        AmazonAdsHook().search_assets()
    assert "No matching advertiser found for scope" in str(err.value)
    assert "profile_id" in str(err.value)


def test_missing_profile_id_named(monkeypatch, sandbox):
    set_connection(monkeypatch, sandbox, extra={"profile_id": ""})
    with pytest.raises(PlatformConfigError, match="profile_id"):
        AmazonAdsHook().search_assets()


def test_region_picks_host_and_token_url(monkeypatch, sandbox):
    set_connection(monkeypatch, sandbox, "amazon_ads_eu", host=None, extra={"region": "EU", "token_url": None})
    eu = AmazonAdsHook("amazon_ads_eu")
    assert eu.base_url == REGION_HOSTS["EU"]
    assert eu.token_url == TOKEN_URLS["EU"]
    set_connection(monkeypatch, sandbox, "amazon_ads_bad", extra={"region": "XX"})
    with pytest.raises(PlatformConfigError, match="NA, EU or FE"):
        _ = AmazonAdsHook("amazon_ads_bad").token_url


def test_test_connection(hook, sandbox):
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.profile_id in message


# ---------------------------------------------------------------- 429, 5xx, drops
def test_429_with_retry_after_is_honoured(hook, sandbox):
    sandbox.state.faults.add("status", platform=P, path="^/assets/search$", status=429, retry_after="1")
    start = time.monotonic()
    hook.search_assets()
    assert time.monotonic() - start >= 1.0
    assert [e["status"] for e in api_calls(sandbox, path="^/assets/search$")] == [429, 200]


def test_429_without_retry_after_backs_off(hook, sandbox):
    hook.backoff_initial = 0.3  # type: ignore[misc]
    hook.backoff_max = 1.0  # type: ignore[misc]
    sandbox.state.faults.add("status", platform=P, path="^/assets/search$", status=429)
    start = time.monotonic()
    hook.search_assets()
    assert time.monotonic() - start >= 0.3
    assert [e["status"] for e in api_calls(sandbox, path="^/assets/search$")] == [429, 200]


def test_own_rate_limit_429_without_retry_after(hook, sandbox):
    sandbox_amazon.configure(sandbox.state, rate_limit=(1, 0.5), retry_after=False)
    hook.search_assets()
    hook.search_assets()
    statuses = [e["status"] for e in api_calls(sandbox, path="^/assets/search$")]
    assert statuses[0] == 200 and 429 in statuses and statuses[-1] == 200


def test_5xx_on_get_is_retried(hook, sandbox, tmp_path):
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    sandbox.state.faults.add("status", platform=P, path="^/assets$", status=503, count=2)
    assert hook.get_status([remote.remote_id])[remote.remote_id].state == AssetStatus.READY


def test_5xx_on_register_is_not_repeated_blindly(hook, sandbox, tmp_path):
    sandbox.state.faults.add("status", platform=P, path="^/assets/register$", status=500)
    with pytest.raises(UncertainOutcome):
        hook.submit(Creative.inspect(png(tmp_path)))
    assert len(api_calls(sandbox, path="^/assets/register$")) == 1


def test_dropped_connection_on_search_is_retried(hook, sandbox):
    sandbox.state.faults.add("drop", platform=P, path="^/assets/search$")
    hook.search_assets()
    assert [e["status"] for e in api_calls(sandbox, path="^/assets/search$")] == ["dropped", 200]


def test_register_answer_lost_is_reconciled_by_search(hook, sandbox, tmp_path):
    sandbox.state.faults.add("drop_after", platform=P, path="^/assets/register$")
    remote = hook.submit(Creative.inspect(png(tmp_path)))
    assert remote.remote_id.startswith("amzn1.assetlibrary.asset1.")
    assert len(api_calls(sandbox, path="^/assets/register$")) == 1
    assert total_assets(hook) == 1


def test_register_dropped_before_it_arrived_then_task_retry(hook, sandbox, tmp_path):
    creative = Creative.inspect(png(tmp_path))
    sandbox.state.faults.add("drop", platform=P, path="^/assets/register$")
    with pytest.raises(UncertainOutcome):
        hook.submit(creative)
    assert total_assets(hook) == 0
    remote = AmazonAdsHook().submit(creative, resume=True)
    assert remote.version == "version_v1"
    assert total_assets(hook) == 1


def test_task_retried_after_register_finds_the_asset(hook, sandbox, tmp_path):
    creative = Creative.inspect(png(tmp_path))
    first = hook.submit(creative)
    uploads_before = len(api_calls(sandbox, path="^/assets/upload$"))
    again = AmazonAdsHook().submit(creative, resume=True)
    assert again.remote_id == first.remote_id
    assert len(api_calls(sandbox, path="^/assets/upload$")) == uploads_before
    assert len(api_calls(sandbox, path="^/assets/register$")) == 1
    assert total_assets(hook) == 1


# ---------------------------------------------------------------- presigned PUT
def test_expired_upload_url_is_renewed_once(hook, sandbox, tmp_path):
    sandbox.state.faults.add("expire_url", platform=P, path="^/s3/")
    hook.submit(Creative.inspect(png(tmp_path)))
    assert len(api_calls(sandbox, path="^/assets/upload$")) == 2
    assert [e["status"] for e in sandbox.journal(platform=P, method="PUT")] == [403, 200]


def test_upload_url_expires_after_15_minutes(hook, sandbox, tmp_path):
    path = png(tmp_path)
    url = hook.get_upload_url("logo.png")
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"] == "900"
    sandbox.state.advance_clock(14 * 60)
    hook.upload_file(url, str(path), "image/png")
    sandbox.state.advance_clock(2 * 60)
    with pytest.raises(PresignedUrlExpired):
        hook.upload_file(url, str(path), "image/png")


def test_wrong_content_type_on_put_is_signature_mismatch(hook, sandbox, tmp_path):
    url = hook.get_upload_url("logo.png")
    with pytest.raises(PlatformRequestError, match="SignatureDoesNotMatch"):
        hook.upload_file(url, str(png(tmp_path)), "image/jpeg")


def test_register_with_upload_location_only(hook, sandbox, tmp_path):
    path = png(tmp_path)
    url = hook.get_upload_url("logo_x.png")
    hook.upload_file(url, str(path), "image/png")
    result = hook.register_asset(upload_location(url), name="logo", asset_type="IMAGE", subtypes=["LOGO"])
    assert result["versionId"] == "version_v1"


def test_register_refuses_subtype_of_other_type_locally(hook, sandbox):
    with pytest.raises(PlatformRequestError, match="do not fit IMAGE"):
        hook.register_asset("https://x/y.png", name="n", asset_type="IMAGE", subtypes=["BACKGROUND_VIDEO"])
    assert api_calls(sandbox) == []


# ---------------------------------------------------------------- search and batch
def test_search_follows_token_to_the_end(hook, sandbox, tmp_path):
    for i, color in enumerate(["red", "green", "blue"]):
        hook.submit(Creative.inspect(png(tmp_path, f"logo{i}.png", color=color)))
    found = hook.search_assets(page_size=2)
    assert len(found) == 3
    assert len(api_calls(sandbox, path="^/assets/search$")) == 2
    by_name = hook.search_assets(text="logo1")
    assert [a["name"] for a in by_name] == ["logo1.png"]


def test_batch_register_and_status(hook, sandbox, tmp_path):
    items = []
    for i, color in enumerate(["red", "green"]):
        path = png(tmp_path, f"b{i}.png", color=color)
        url = hook.get_upload_url(f"b{i}.png")
        hook.upload_file(url, str(path), "image/png")
        items.append(
            {"url": url, "name": f"b{i}", "assetType": "IMAGE", "assetSubTypeList": ["OTHER_IMAGE"], "tagList": ["t"]}
        )
    items.append({"url": "https://nowhere/x.png", "name": "bad", "assetType": "IMAGE", "assetSubTypeList": ["LOGO"]})
    sandbox.state.speeds[P] = ProcessingSpeed(polls=2, seconds=None)
    request_id = hook.batch_register(items)
    first = hook.get_batch_register_status(request_id)
    assert first["registrationStatus"] == "IN_PROGRESS"
    done = hook.get_batch_register_status(request_id)
    assert done["registrationStatus"] == "COMPLETE"
    assert len(done["successfullyRegisteredAssets"]) == 2
    assert [f["name"] for f in done["failedAssetDetails"]] == ["bad"]


# ---------------------------------------------------------------- local rules
def _refused(hook, sandbox, path: Path, rule: str, rule_set: str | None = None) -> None:
    h = AmazonAdsHook(rule_set=rule_set) if rule_set else hook
    with pytest.raises(CreativeRefused) as err:
        h.submit(Creative.inspect(path))
    assert err.value.rule == rule
    assert path.name in str(err.value)
    assert sandbox.journal(platform=P) == []


def test_refuses_wrong_type(hook, sandbox, tmp_path):
    gif = tmp_path / "anim.gif"
    Image.new("RGB", (10, 10)).save(gif)
    _refused(hook, sandbox, gif, "type")


def test_refuses_empty_file(hook, sandbox, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _refused(hook, sandbox, empty, "empty")


def test_refuses_corrupt_image(hook, sandbox, tmp_path):
    path = png(tmp_path)
    path.write_bytes(path.read_bytes()[:60])
    _refused(hook, sandbox, path, "corrupt")


def test_refuses_oversize_for_sponsored_brands_logo(hook, sandbox, tmp_path):
    path = tmp_path / "big.png"
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(path)
    assert path.stat().st_size > 1_000_000
    _refused(hook, sandbox, path, "size", "sponsored_brands_logo")


def test_refuses_small_dimensions_for_sponsored_brands_logo(hook, sandbox, tmp_path):
    _refused(hook, sandbox, png(tmp_path, size=(300, 300)), "dimensions", "sponsored_brands_logo")


def uploaded_names(sandbox) -> list[str]:
    return [u["fileName"] for u in sandbox.state.store(P)["uploads"].values()]


def test_unrecognised_content_is_refused(hook, sandbox, tmp_path):
    wmv = tmp_path / "clip.wmv"
    wmv.write_bytes(b"0&\xb2u" + b"\x00" * 64)
    _refused(hook, sandbox, wmv, "type")


def test_name_without_or_with_a_wrong_extension_is_sent_with_the_content_type(hook, sandbox, tmp_path):
    no_ext = tmp_path / "logo"
    Image.new("RGB", (10, 10)).save(no_ext, format="PNG")
    remote = hook.submit(Creative.inspect(no_ext))
    [name] = uploaded_names(sandbox)
    assert name.startswith("logo_") and name.endswith(".png")
    assert "logo: the content is image/png" in remote.warnings[0]
    assert hook.get_status([remote.remote_id])[remote.remote_id].state == AssetStatus.READY


def test_jpeg_content_uploads_as_jpg_the_documented_pattern(hook, sandbox, tmp_path):
    # The sandbox follows the OpenAPI name pattern (jpg|png|mp4|mov|wmv|avi): a .jpeg upload fails register.
    url = hook.get_upload_url("photo.jpeg")
    hook.upload_file(url, str(png(tmp_path)), "image/jpeg")
    with pytest.raises(PlatformRequestError, match="pattern"):
        hook.register_asset(upload_location(url), name="photo", asset_type="IMAGE", subtypes=["OTHER_IMAGE"])
    path = tmp_path / "rentrée — 30% off.jpeg"
    Image.new("RGB", (20, 20)).save(path, format="JPEG")
    remote = hook.submit(Creative.inspect(path))
    name = uploaded_names(sandbox)[-1]
    assert re.fullmatch(r"rentree_30_off_[0-9a-f]{12}\.jpg", name), name
    version = hook.get_asset(remote.remote_id)["assetVersionList"][0]
    assert version["name"] == "rentrée — 30% off.jpeg" and remote.warnings == ()


def test_upload_field_spelling_falls_back_once_and_is_remembered(hook, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(AmazonAdsHook, "_upload_name_fields", {})
    sandbox_amazon.configure(sandbox.state, upload_name_field="fileName")
    hook.get_upload_url("a.png")
    hook.get_upload_url("b.png")
    assert [e["status"] for e in api_calls(sandbox, "POST", "/assets/upload")] == [400, 200, 200]
    assert AmazonAdsHook().upload_name_field == "fileName"
    sandbox_amazon.configure(sandbox.state, upload_name_field="filename")
    monkeypatch.setattr(AmazonAdsHook, "_upload_name_fields", {})
    AmazonAdsHook().get_upload_url("c.png")  # the seed's spelling is the first one sent
    assert [e["status"] for e in api_calls(sandbox, "POST", "/assets/upload")][-1] == 200


def test_registration_context_from_the_connection_reaches_submit(monkeypatch, sandbox, tmp_path):
    context = {"associatedPrograms": [{"programName": "AMAZON_DSP", "metadata": {"dspAdvertiserId": "42"}}]}
    set_connection(monkeypatch, sandbox, extra={"registration_context": json.dumps(context)})
    remote = AmazonAdsHook().submit(Creative.inspect(png(tmp_path)))
    [version] = sandbox.state.store(P)["assets"][remote.remote_id]["versions"]
    assert version["registrationContext"] == context
    set_connection(monkeypatch, sandbox, extra={"registration_context": "[1]"})
    with pytest.raises(PlatformConfigError, match="registration_context"):
        AmazonAdsHook().submit(Creative.inspect(png(tmp_path, "other.png", color="blue")))


def test_submit_registers_the_upload_location_as_the_operators_do(hook, sandbox, tmp_path, monkeypatch):
    sent: list[str] = []
    real = hook.register_asset

    def spy(url: str, **kwargs: Any) -> dict[str, Any]:
        sent.append(url)
        return real(url, **kwargs)

    monkeypatch.setattr(hook, "register_asset", spy)
    hook.submit(Creative.inspect(png(tmp_path)))
    [url] = sent
    assert urlsplit(url).query == "" and url == upload_location(url)


def test_rule_sets_are_named(hook):
    assert {"sponsored_brands_logo", "sponsored_brands_custom_image", "sponsored_brands_video"} <= set(
        AMAZON_ADS_RULE_SETS
    )
    assert AmazonAdsHook(rule_set="sponsored_brands_custom_image").rules.min_width == 1200
    with pytest.raises(PlatformConfigError, match="unknown rule set"):
        AmazonAdsHook(rule_set="nope")


# ---------------------------------------------------------------- secrets
def test_no_secret_in_logs_or_errors(hook, sandbox, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    # The in-process sandbox presigns with boto (its DEBUG lines are the server's, not the client's).
    for name in ("botocore", "boto3", "moto"):
        caplog.set_level(logging.WARNING, logger=name)
    creds = sandbox_amazon.credentials(sandbox.state)
    sandbox.state.faults.add("expire_url", platform=P, path="^/s3/")
    sandbox.state.faults.add("status", platform=P, path="^/assets/search$", status=429, retry_after="0")
    remote = hook.submit(Creative.inspect(png(tmp_path)), resume=True)
    first_token = hook._token
    sandbox.state.expire_tokens(P)
    hook.get_status([remote.remote_id])
    url = hook.get_upload_url("other.png")
    errors = []
    with pytest.raises(PlatformRequestError) as err:
        hook.upload_file(url, str(png(tmp_path, "o.png")), "image/jpeg")
    errors.append(str(err.value))
    sandbox_amazon.revoke_refresh_token(sandbox.state)
    hook.refresh_auth()
    with pytest.raises(PlatformAuthError) as err:
        hook.search_assets()
    errors.append(str(err.value))
    query = dict(parse_qsl(urlsplit(url).query))
    secrets = [
        creds["client_secret"],
        creds["refresh_token"],
        first_token,
        query["X-Amz-Signature"],
        urlsplit(url).query,
    ]
    text = caplog.text + "".join(errors) + "".join(capsys.readouterr())
    assert "Amazon Ads" in text  # the hook logged (through Airflow's task logger)
    for secret in secrets:
        assert secret and secret not in text
