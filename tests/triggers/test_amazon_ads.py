"""AmazonAdsAssetStatusTrigger: serialize round trip and run() against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks.amazon_ads import AmazonAdsHook
from airflow_creative_provider.sandbox import amazon_ads as sandbox_amazon
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from airflow_creative_provider.triggers.amazon_ads import AmazonAdsAssetStatusTrigger

P = "amazon_ads"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[P] = ProcessingSpeed(polls=2, seconds=None)
    return creative_sandbox_env


def submit(tmp_path: Path, name: str = "logo.png", color: str = "red") -> str:
    path = tmp_path / name
    Image.new("RGB", (400, 400), color).save(path)
    remote = AmazonAdsHook().submit(Creative.inspect(path))
    return f"{remote.remote_id}:{remote.version}"


async def first_event(trigger: AmazonAdsAssetStatusTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def test_serialize_round_trip():
    trigger = AmazonAdsAssetStatusTrigger(
        conn_id="amazon_ads_default", remote_ids=["a:version_v1"], poll_interval=0.1, timeout=5, started_at=1.0
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_creative_provider.triggers.amazon_ads.AmazonAdsAssetStatusTrigger"
    assert kwargs == {
        "conn_id": "amazon_ads_default",
        "remote_ids": ["a:version_v1"],
        "poll_interval": 0.1,
        "timeout": 5,
        "started_at": 1.0,
    }
    assert AmazonAdsAssetStatusTrigger(**kwargs).serialize() == (classpath, kwargs)


async def test_run_until_active(sandbox, tmp_path):
    ids = [submit(tmp_path, "a.png", "red"), submit(tmp_path, "b.png", "blue")]
    event = await first_event(AmazonAdsAssetStatusTrigger("amazon_ads_default", ids, poll_interval=0.05))
    assert event["status"] == "done"
    assert {s["raw_state"] for s in event["assets"].values()} == {"ACTIVE"}
    assert len(sandbox.journal(platform=P, method="GET", path="^/assets$")) == 4


async def test_run_reports_inactive_with_reason(sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(P, "bad.png", "INACTIVE", "transcoding failed"))
    remote_id = submit(tmp_path, "bad.png")
    event = await first_event(AmazonAdsAssetStatusTrigger(None, [remote_id], poll_interval=0.05))
    assert event["status"] == "done"
    status = event["assets"][remote_id]
    assert (status["state"], status["raw_state"], status["reason"]) == ("rejected", "INACTIVE", "transcoding failed")


async def test_run_honours_retry_after_and_refreshes_tokens(sandbox, tmp_path):
    remote_id = submit(tmp_path)
    sandbox.state.faults.add("status", platform=P, path="^/assets$", status=429, retry_after="0")
    sandbox.state.faults.add("expire_token", platform=P, path="^/assets$")
    event = await first_event(AmazonAdsAssetStatusTrigger(None, [remote_id], poll_interval=0.05))
    assert event["status"] == "done"
    statuses = [e["status"] for e in sandbox.journal(platform=P, method="GET", path="^/assets$")]
    assert statuses[:2] == [429, 401]


async def test_run_times_out_listing_pending(sandbox, tmp_path):
    sandbox.state.speeds[P] = ProcessingSpeed(polls=100, seconds=None)
    remote_id = submit(tmp_path)
    event = await first_event(AmazonAdsAssetStatusTrigger(None, [remote_id], poll_interval=0.05, timeout=0.2))
    assert event["status"] == "timeout"
    assert event["pending"] == [remote_id]
    assert event["last"][remote_id]["raw_state"] == "PROCESSING"


async def test_run_reports_auth_error_without_secrets(sandbox, tmp_path):
    remote_id = submit(tmp_path)
    sandbox_amazon.revoke_refresh_token(sandbox.state)
    sandbox.state.expire_tokens(P)
    event = await first_event(AmazonAdsAssetStatusTrigger(None, [remote_id], poll_interval=0.05))
    assert event["status"] == "error"
    assert "revoked or is wrong" in event["message"]
    assert sandbox_amazon.credentials(sandbox.state)["refresh_token"] not in str(event)
