"""``POST /_sandbox/drift``: delete an asset or change its state behind the client, seen through
each hook's own listing (``list_account_assets``), for every platform."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from tests.support.images import png

#: a state someone sets in the platform's own UI -> the normalised state a hook reads.
REJECT_THERE = {
    "topsort": "rejected",
    "amazon_ads": "ARCHIVED",
    "mediamath": "REJECTED",
    "mediapocket": "trashed",
    "delta_projects": "UNPROCESSABLE",
}


def _drift(sandbox, **body) -> requests.Response:
    return requests.post(f"{sandbox.url}/_sandbox/drift", json=body, timeout=10)


def _ready(hook, creative: Creative) -> str:
    """Submit and poll until ready; the remote id."""
    remote = hook.submit(creative)
    if hook.platform == "mediapocket":  # its media fetch runs in a thread: wait for it, never race it
        from airflow_creative_provider.sandbox.mediapocket import join_fetches

        join_fetches()
    for _ in range(20):
        status = hook.get_status([remote.remote_id])[remote.remote_id]
        if status.state == "ready":
            return remote.remote_id
    raise AssertionError(f"{hook.platform} never got ready: {status}")


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_delete_and_state_change_show_in_the_listing(creative_sandbox_env, tmp_path: Path, platform: str) -> None:
    sandbox = creative_sandbox_env
    sandbox.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    hook = hook_class(platform)(f"{platform}_default")
    kept = _ready(hook, Creative.inspect(png(tmp_path / "kept_banner.png", 300, 250, "blue"), "kept_banner.png"))
    gone = _ready(hook, Creative.inspect(png(tmp_path / "gone_banner.png", 300, 250, "red"), "gone_banner.png"))
    listed = {a.remote_id: a for a in hook.list_account_assets()}
    assert {kept, gone} <= set(listed)
    assert listed[kept].status.state == "ready"
    journal = len(sandbox.journal())

    assert _drift(sandbox, platform=platform, remote_id=gone, action="delete").json()["ok"]
    answer = _drift(sandbox, platform=platform, remote_id=kept, action="state", state=REJECT_THERE[platform])
    assert answer.status_code == 200, answer.text

    listed = {a.remote_id: a for a in hook.list_account_assets()}
    assert gone not in listed
    assert listed[kept].status.state == "rejected", listed[kept].status
    assert len(sandbox.journal()) > journal  # the listing was served; the drift calls are not journalled
    assert not [e for e in sandbox.journal() if e["path"].startswith("/_sandbox")]


def test_content_drift_changes_delta_checksum_only(creative_sandbox_env, tmp_path: Path) -> None:
    sandbox = creative_sandbox_env
    sandbox.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    hook = hook_class("delta_projects")("delta_projects_default")
    path = png(tmp_path / "banner.png", 300, 250, "green")
    file_id = _ready(hook, Creative.inspect(path, "banner.png"))
    sha1 = hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()
    before = {a.remote_id: a for a in hook.list_account_assets()}[file_id]
    assert before.checksum_sha1 == sha1

    assert _drift(sandbox, platform="delta_projects", remote_id=file_id, action="content").status_code == 200
    fresh = hook_class("delta_projects")("delta_projects_default")  # knows no expected checksum
    after = {a.remote_id: a for a in fresh.list_account_assets()}[file_id]
    assert after.checksum_sha1 and after.checksum_sha1 != sha1
    assert after.status.state == "ready"  # the file is fine to Delta: only the checksum tells


def test_drift_refuses_what_it_cannot_do(creative_sandbox_env) -> None:
    sandbox = creative_sandbox_env
    unknown_platform = _drift(sandbox, platform="nowhere", remote_id="1", action="delete")
    assert unknown_platform.status_code == 400 and "unknown platform" in unknown_platform.json()["detail"]
    unknown_asset = _drift(sandbox, platform="topsort", remote_id="no-such-id", action="delete")
    assert unknown_asset.status_code == 404 and "no-such-id" in unknown_asset.json()["detail"]
    sandbox.state.store("topsort").setdefault("assets", {})["a1"] = {"id": "a1", "status": "approved"}
    no_checksum = _drift(sandbox, platform="topsort", remote_id="a1", action="content")
    assert no_checksum.status_code == 400 and "checksum" in no_checksum.json()["detail"]
    bad_action = _drift(sandbox, platform="topsort", remote_id="a1", action="explode")
    assert bad_action.status_code == 400 and "unknown drift action" in bad_action.json()["detail"]
    no_state = _drift(sandbox, platform="topsort", remote_id="a1", action="state")
    assert no_state.status_code == 400
    assert sandbox.state.store("topsort")["assets"]["a1"]["status"] == "approved"


#: one field per platform someone edits in the platform's UI (its API name) -> the value set.
EDIT_THERE = {
    "topsort": {"name": "Renamed in Topsort", "metadata": {"campaign": "autumn"}},
    "amazon_ads": {"name": "Renamed in Amazon", "tags": ["edited"]},
    "mediamath": {"creative_name": "Renamed in T1", "start_date": "2026-09-01T00:00:00"},
    "mediapocket": {"title": "Renamed in MediaPocket", "category": "Brand"},
    "delta_projects": {"name": "renamed_in_delta.png"},
}


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_metadata_edited_there_shows_in_the_listing(creative_sandbox_env, tmp_path: Path, platform: str) -> None:
    sandbox = creative_sandbox_env
    sandbox.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    hook = hook_class(platform)(f"{platform}_default")
    remote_id = _ready(hook, Creative.inspect(png(tmp_path / "banner.png", 300, 250, "blue"), "banner.png"))
    before = {a.remote_id: a for a in hook.list_account_assets()}[remote_id]
    assert before.metadata is not None

    fields = EDIT_THERE[platform]
    answer = _drift(sandbox, platform=platform, remote_id=remote_id, action="metadata", fields=fields)
    assert answer.status_code == 200, answer.text

    after = {a.remote_id: a for a in hook.list_account_assets()}[remote_id]
    seen = dict(after.metadata or {})
    if platform == "mediapocket":
        assert seen["title"] == "Renamed in MediaPocket" and seen["category"] == "brand"  # stored lower-cased
    else:
        assert {name: seen[name] for name in fields} == fields, seen
    assert after.status.state == "ready"  # an edit is not a state change


def test_metadata_drift_refuses_a_field_the_platform_does_not_have(creative_sandbox_env) -> None:
    sandbox = creative_sandbox_env
    sandbox.state.store("topsort").setdefault("assets", {})["a1"] = {"id": "a1", "status": "approved", "name": "n"}
    unknown = _drift(sandbox, platform="topsort", remote_id="a1", action="metadata", fields={"title": "x"})
    assert unknown.status_code == 400 and "'title'" in unknown.json()["detail"] and "name" in unknown.json()["detail"]
    wrong_type = _drift(sandbox, platform="topsort", remote_id="a1", action="metadata", fields={"name": 3})
    assert wrong_type.status_code == 400
    empty = _drift(sandbox, platform="topsort", remote_id="a1", action="metadata")
    assert empty.status_code == 400 and "fields" in empty.json()["detail"]
    assert sandbox.state.store("topsort")["assets"]["a1"]["name"] == "n"
