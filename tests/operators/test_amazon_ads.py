"""Amazon Ads step operators against the sandbox over real HTTP."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from airflow_creative_provider.exceptions import CreativeRefused, PlatformConfigError, UncertainOutcome
from airflow_creative_provider.hooks.amazon_ads import AmazonAdsHook
from airflow_creative_provider.operators.amazon_ads import (
    AmazonAdsRegisterAssetOperator,
    AmazonAdsUploadAssetOperator,
)
from airflow_creative_provider.sandbox import amazon_ads as sandbox_amazon
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

P = "amazon_ads"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[P] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def png(tmp_path: Path, name: str = "logo.png", size: tuple[int, int] = (500, 500), color: str = "red") -> Path:
    path = tmp_path / name
    Image.new("RGB", size, color).save(path)
    return path


def context(try_number: int = 1) -> dict:
    return {"ti": SimpleNamespace(try_number=try_number)}


def upload(path: Path, **kwargs) -> dict:
    return AmazonAdsUploadAssetOperator(task_id="upload", file_path=str(path), **kwargs).execute(context())


def registrations(sandbox) -> list[dict]:
    return sandbox.journal(platform=P, method="POST", path="^/assets/register$")


def test_upload_then_register(sandbox, tmp_path):
    path = png(tmp_path)
    uploaded = upload(path, rule_set="sponsored_brands_logo")
    assert uploaded["asset_type"] == "IMAGE"
    assert uploaded["file_name"].startswith("logo_") and uploaded["file_name"].endswith(".png")
    assert "?" not in uploaded["upload_location"]
    assert [e["status"] for e in sandbox.journal(platform=P, method="PUT")] == [200]
    register = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded, subtypes=["LOGO"], tags=["spring"])
    result = register.execute(context())
    assert result["version_id"] == "version_v1"
    assert result["remote_id"] == f"{result['asset_id']}:version_v1"
    asset = AmazonAdsHook().get_asset(result["asset_id"])
    (version,) = asset["assetVersionList"]
    assert version["name"] == "logo.png"
    assert version["assetSubTypes"] == ["LOGO"]
    assert "spring" in version["tags"] and f"sha256:{uploaded['content_sha256']}" in version["tags"]


def test_nothing_secret_in_xcom(sandbox, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    uploaded = upload(png(tmp_path))
    result = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context())
    creds = sandbox_amazon.credentials(sandbox.state)
    xcom = json.dumps([uploaded, result])
    assert "X-Amz-" not in xcom
    for secret in (creds["client_secret"], creds["refresh_token"], "Atza|"):
        assert secret not in xcom
        assert secret not in caplog.text + "".join(capsys.readouterr())


def test_upload_refused_locally_sends_nothing(sandbox, tmp_path):
    with pytest.raises(CreativeRefused) as err:
        upload(png(tmp_path, size=(200, 200)), rule_set="sponsored_brands_logo")
    assert err.value.rule == "dimensions"
    assert sandbox.journal(platform=P) == []


def test_missing_file_is_refused(sandbox, tmp_path):
    with pytest.raises(CreativeRefused, match="no such file"):
        upload(tmp_path / "nope.png")
    assert sandbox.journal(platform=P) == []


def test_retried_register_finds_the_asset(sandbox, tmp_path):
    uploaded = upload(png(tmp_path))
    first = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context())
    again = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context(try_number=2))
    assert again["asset_id"] == first["asset_id"]
    assert len(registrations(sandbox)) == 1


def test_register_answer_lost_then_task_retry_registers_once(sandbox, tmp_path):
    uploaded = upload(png(tmp_path))
    sandbox.state.faults.add("drop", platform=P, path="^/assets/register$")
    with pytest.raises(UncertainOutcome):
        AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context())
    result = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context(try_number=2))
    assert result["version_id"] == "version_v1"
    assert len(AmazonAdsHook().search_assets()) == 1


def test_new_version_with_linked_asset(sandbox, tmp_path):
    path = png(tmp_path)
    first = AmazonAdsRegisterAssetOperator(task_id="r1", upload=upload(path)).execute(context())
    Image.new("RGB", (500, 500), "blue").save(path)
    second = AmazonAdsRegisterAssetOperator(
        task_id="r2", upload=upload(path), linked_asset_id=first["asset_id"], version_notes="blue"
    ).execute(context())
    assert (second["asset_id"], second["version_id"]) == (first["asset_id"], "version_v2")


def test_failed_spec_checks_returned_as_warnings(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(P, "promo.png", "FAILED_SPEC", "Aspect ratio is not 9:16."))
    uploaded = upload(png(tmp_path, "promo.png"))
    result = AmazonAdsRegisterAssetOperator(task_id="register", upload=uploaded).execute(context())
    assert result["warnings"] and "Aspect ratio" in result["warnings"][0]


def test_upload_rendered_as_a_string_is_a_clear_error(sandbox, tmp_path):
    # a Jinja-templated ``upload`` without native rendering arrives as the dict's text
    uploaded = upload(png(tmp_path))
    register = AmazonAdsRegisterAssetOperator(task_id="register", upload=str(uploaded))
    with pytest.raises(PlatformConfigError, match=r"`upload` as the upload task's XCom \(a dict\), got str"):
        register.execute(context())
    assert registrations(sandbox) == []


def test_templated_fields():
    assert {"file_path", "rule_set"} <= set(AmazonAdsUploadAssetOperator.template_fields)
    assert {"upload", "name", "subtypes", "linked_asset_id"} <= set(AmazonAdsRegisterAssetOperator.template_fields)
