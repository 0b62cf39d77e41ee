"""MediaMath step operators against the sandbox."""

from __future__ import annotations

import json

import pytest

from airflow_creative_provider.exceptions import CreativeRefused
from airflow_creative_provider.hooks.mediamath import MediaMathHook
from airflow_creative_provider.operators.mediamath import (
    MediaMathAddAssetOperator,
    MediaMathCreateCreativeOperator,
    MediaMathUploadVideoAssetOperator,
)
from airflow_creative_provider.sandbox import mediamath as sandbox
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.hooks.test_mediamath import make_mp4, make_png
from tests.support.airflow import RecordingTI


@pytest.fixture
def mm(creative_sandbox_env):
    creative_sandbox_env.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def creatives(mm) -> list[dict]:
    return list(mm.state.store("mediamath").get("creatives", {}).values())


def assert_no_secret(*values: object) -> None:
    text = json.dumps(values, default=str)
    for secret in (sandbox.PASSWORD, sandbox.CLIENT_SECRET, "X-Amz-Signature", "sess_", "tok_"):
        assert secret not in text


def test_template_fields():
    op = MediaMathCreateCreativeOperator(task_id="c", file_path="x.png")
    assert {"file_path", "creative_name", "title", "destination_url", "advertiser_id"} <= set(op.template_fields)
    assert "file_path" in MediaMathUploadVideoAssetOperator(task_id="v", file_path="x.mp4").template_fields
    assert "value" in MediaMathAddAssetOperator(task_id="a", component_id=7, value="t").template_fields
    with pytest.raises(ValueError):
        MediaMathAddAssetOperator(task_id="a", component_id=7)


def test_create_creative_pushes_ids(mm, tmp_path):
    image = make_png(tmp_path / "native.png")
    ti = RecordingTI()
    result = MediaMathCreateCreativeOperator(
        task_id="c", file_path=str(image), creative_name="Summer", title="Hot deals", destination_url="https://x.test"
    ).execute({"ti": ti})
    (stored,) = creatives(mm)
    assert result["atomic_creative_id"] == stored["atomic_creative_id"] == ti.xcom["atomic_creative_id"]
    assert result["advertiser_id"] == sandbox.DEFAULT_ADVERTISER
    assert len(result["asset_ids"]) == 3 and stored["creative_name"] == "Summer"
    assert result["external_identifier"].startswith("acp-")
    assert_no_secret(result, ti.xcom)


def test_retried_task_continues_with_its_creative(mm, tmp_path):
    image = make_png(tmp_path / "native.png")
    op = MediaMathCreateCreativeOperator(task_id="c", file_path=str(image), title="T", destination_url="https://x.test")
    first = op.execute({"ti": RecordingTI(try_number=1)})
    again = MediaMathCreateCreativeOperator(
        task_id="c", file_path=str(image), title="T", destination_url="https://x.test"
    ).execute({"ti": RecordingTI(try_number=2)})
    assert again["atomic_creative_id"] == first["atomic_creative_id"]
    assert sorted(again["asset_ids"]) == sorted(first["asset_ids"])
    assert len(creatives(mm)) == 1


def test_refused_file_sends_nothing(mm, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(CreativeRefused) as info:
        MediaMathCreateCreativeOperator(task_id="c", file_path=str(bad)).execute({"ti": RecordingTI()})
    assert info.value.rule == "type"
    with pytest.raises(CreativeRefused, match="no such file"):
        MediaMathCreateCreativeOperator(task_id="c", file_path=str(tmp_path / "nope.png")).execute(
            {"ti": RecordingTI()}
        )
    assert mm.journal(platform="mediamath") == []


def test_upload_video_asset_fuses_url_and_put(mm, tmp_path):
    video = make_mp4(tmp_path / "spot.mp4")
    holder = MediaMathHook().create_creative("holder")
    mm.state.faults.add("expire_url", platform="mediamath", count=1)
    ti = RecordingTI()
    result = MediaMathUploadVideoAssetOperator(
        task_id="v", file_path=str(video), creative_ids=[holder["atomic_creative_id"]]
    ).execute({"ti": ti})
    assert result["component_id"] == 11 and "?" not in result["video_url"]
    assert ti.xcom["asset_id"] == result["asset_id"]
    (stored,) = creatives(mm)
    assert result["asset_id"] in stored["_asset_ids"]
    assert [e["status"] for e in mm.journal(platform="mediamath", method="PUT")] == [403, 200]
    assert_no_secret(result, ti.xcom)


def test_upload_video_refuses_forbidden_name(mm, tmp_path):
    video = make_mp4(tmp_path / "spot.mp4")
    with pytest.raises(CreativeRefused, match="forbidden"):
        MediaMathUploadVideoAssetOperator(task_id="v", file_path=str(video), filename="spot#1.mp4").execute(
            {"ti": RecordingTI()}
        )
    assert mm.journal(platform="mediamath") == []


def test_add_text_and_image_assets_keep_the_others(mm, tmp_path):
    image = make_png(tmp_path / "native.png")
    made = MediaMathCreateCreativeOperator(task_id="c", file_path=str(image), title="T").execute({"ti": RecordingTI()})
    creative_id = str(made["atomic_creative_id"])  # rendered templates are strings
    text = MediaMathAddAssetOperator(task_id="a", component_id="6", creative_id=creative_id, value="Body").execute(
        {"ti": RecordingTI()}
    )
    logo = make_png(tmp_path / "logo.png", (40, 40), "blue")
    picture = MediaMathAddAssetOperator(
        task_id="a", component_id=21, creative_id=creative_id, file_path=str(logo)
    ).execute({"ti": RecordingTI()})
    assert picture["component_id"] == 21 and text["component_id"] == 6
    current = MediaMathHook().get_creative(creative_id)
    assert {a["asset_id"] for a in current["assets"]} == {*made["asset_ids"], text["asset_id"], picture["asset_id"]}
    loose = MediaMathAddAssetOperator(task_id="a", component_id=7, value="Advertiser-level").execute(
        {"ti": RecordingTI()}
    )
    assert MediaMathHook().get_asset(loose["asset_id"])["advertiser_id"] == sandbox.DEFAULT_ADVERTISER
