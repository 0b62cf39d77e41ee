"""Topsort operators against the sandbox: upload in one task, external assets, retried tries,
local refusals, and nothing secret in XCom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from airflow_creative_provider.exceptions import CreativeRefused, PlatformAuthError
from airflow_creative_provider.hooks.topsort import TopsortHook
from airflow_creative_provider.operators.topsort import (
    TopsortCreateExternalAssetOperator,
    TopsortUploadAssetOperator,
)
from airflow_creative_provider.sandbox import topsort as sandbox_ts
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.airflow import RecordingTI

PLATFORM = "topsort"
CREATE = r"^/public/v1/assets/asset$"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


def png(tmp_path: Path, name: str = "banner.png", size: tuple[int, int] = (30, 20)) -> Path:
    path = tmp_path / name
    Image.new("RGB", size, "red").save(path, "PNG")
    return path


def assets(sandbox) -> list[dict]:
    return list(sandbox.state.store(PLATFORM).get("assets", {}).values())


def creates(sandbox) -> list[dict]:
    return sandbox.journal(platform=PLATFORM, method="POST", path=CREATE)


def test_template_fields():
    op = TopsortUploadAssetOperator(task_id="u", file_path="x.png")
    assert {"file_path", "name", "product_ids", "metadata", "conn_id"} <= set(op.template_fields)
    ext = TopsortCreateExternalAssetOperator(task_id="e", name="n", external_url="https://x.example/a.png")
    assert {"name", "external_url", "mimetype", "conn_id"} <= set(ext.template_fields)


def test_upload_pushes_the_id_and_no_secret(sandbox, tmp_path):
    ti = RecordingTI()
    op = TopsortUploadAssetOperator(
        task_id="u", file_path=str(png(tmp_path)), name="", product_ids=["p1"], metadata={"campaign": "spring"}
    )
    asset_id = op.execute({"ti": ti})
    [stored] = assets(sandbox)
    assert asset_id == stored["id"] == ti.xcom["asset"]["remote_id"]
    assert stored["name"] == "banner.png" and stored["productIds"] == ["p1"]
    assert stored["metadata"]["campaign"] == "spring" and len(stored["metadata"]["sha256"]) == 64
    pushed = json.dumps(ti.xcom) + asset_id
    assert sandbox_ts.API_KEY not in pushed and "policy" not in pushed and "uploadUrl" not in pushed
    assert "X-Amz" not in pushed and "signature" not in pushed.lower()


def test_retried_try_finds_the_asset_of_the_first(sandbox, tmp_path):
    path = str(png(tmp_path))
    first = TopsortUploadAssetOperator(task_id="u", file_path=path).execute({"ti": RecordingTI()})
    again = TopsortUploadAssetOperator(task_id="u", file_path=path).execute({"ti": RecordingTI(try_number=2)})
    assert again == first and len(creates(sandbox)) == 1 and len(assets(sandbox)) == 1


def test_first_try_does_not_pay_for_a_lookup(sandbox, tmp_path):
    asset_id = TopsortUploadAssetOperator(task_id="u", file_path=str(png(tmp_path))).execute({"ti": RecordingTI()})
    # No list lookup; only the one read-back of the asset just made, for its real state.
    assert [e["path"] for e in sandbox.journal(platform=PLATFORM, method="GET")] == [
        f"/public/v1/assets/asset/{asset_id}"
    ]


def test_expired_form_pushes_the_abandoned_id(sandbox, tmp_path):
    sandbox.state.faults.add("expire_url", platform=PLATFORM, path="^/s3/")
    ti = RecordingTI()
    asset_id = TopsortUploadAssetOperator(task_id="u", file_path=str(png(tmp_path))).execute({"ti": ti})
    [abandoned] = ti.xcom["asset"]["abandoned_ids"]
    assert {a["id"] for a in assets(sandbox)} == {asset_id, abandoned}


def test_refused_file_sends_nothing(sandbox, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(CreativeRefused, match="empty"):
        TopsortUploadAssetOperator(task_id="u", file_path=str(tmp_path / "empty.png")).execute({"ti": RecordingTI()})
    with pytest.raises(CreativeRefused, match="no such file"):
        TopsortUploadAssetOperator(task_id="u", file_path=str(tmp_path / "nope.png")).execute({"ti": RecordingTI()})
    rules = TopsortHook.rules.with_(name="banner 300x250", min_width=300, min_height=250)
    with pytest.raises(CreativeRefused, match="300x250"):
        TopsortUploadAssetOperator(task_id="u", file_path=str(png(tmp_path)), rules=rules).execute(
            {"ti": RecordingTI()}
        )
    assert sandbox.journal(platform=PLATFORM) == []


def test_bad_key_fails_with_replace_message(sandbox, tmp_path, monkeypatch):
    conn = {**sandbox.connections()["topsort_default"], "password": "ts_adv_wrong_000000000000"}
    monkeypatch.setenv("AIRFLOW_CONN_TOPSORT_BAD", json.dumps(conn))
    with pytest.raises(PlatformAuthError, match="replace") as info:
        TopsortUploadAssetOperator(task_id="u", file_path=str(png(tmp_path)), conn_id="topsort_bad").execute(
            {"ti": RecordingTI()}
        )
    assert "ts_adv_wrong_000000000000" not in str(info.value)


def test_external_asset_and_its_retry(sandbox):
    kwargs = {"task_id": "e", "name": "cdn banner", "external_url": "https://cdn.example.com/b.png"}
    ti = RecordingTI()
    asset_id = TopsortCreateExternalAssetOperator(mimetype="image/png", **kwargs).execute({"ti": ti})
    [stored] = assets(sandbox)
    assert stored["id"] == asset_id and stored["isExternal"]
    # The state comes from Topsort (read back once), not from the create answer or an assumption.
    assert ti.xcom["asset"]["raw_state"] == stored["status"] == "pending_approval"
    assert ti.xcom["asset"]["details"]["isExternal"] is True
    again = TopsortCreateExternalAssetOperator(**kwargs).execute({"ti": RecordingTI(try_number=3)})
    assert again == asset_id and len(creates(sandbox)) == 1
    other = TopsortCreateExternalAssetOperator(**{**kwargs, "external_url": "https://cdn.example.com/c.png"})
    assert other.execute({"ti": RecordingTI(try_number=2)}) != asset_id
    assert not sandbox.journal(platform=PLATFORM, path="^/s3/")
