"""The MediaPocket simulator follows the contract (raw HTTP, no hook): its checklist, line by line."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from fastapi.responses import Response
from PIL import Image

from airflow_creative_provider.sandbox import mediapocket as mp
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from tests.support.servers import serve

PLATFORM = "mediapocket"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


class Api:
    """Raw calls to the simulated tenant."""

    def __init__(self, sandbox: Any) -> None:
        self.base = sandbox.platform_url(PLATFORM) + "/api/v2"
        self.key = mp.api_key(sandbox.state)
        self.session = requests.Session()

    def __call__(self, method: str, path: str, *, key: str | None = "default", **kwargs: Any) -> requests.Response:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        if key is not None:
            headers["X-API-KEY"] = self.key if key == "default" else key
        return self.session.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def create(self, body: dict[str, Any], project: str = mp.PROJECT_ID) -> requests.Response:
        return self("POST", f"/projects/{project}/assets", json=body)

    def poll(self, asset_id: str) -> dict[str, Any]:
        """The asset once its media fetches ended (joined, never slept for): one status read,
        which ends a successful processing (the fixture's speed is one read)."""
        mp.join_fetches()
        return self("GET", f"/assets/{asset_id}").json()["asset"]


@pytest.fixture
def sandbox(creative_sandbox_env: Any) -> Any:
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def api(sandbox: Any) -> Api:
    return Api(sandbox)


@pytest.fixture
def files() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A plain HTTP file server (what 'any http URL' means)."""
    content = {"/banner.png": png_bytes(), "/clip.mp4": MP4_HEAD, "/notes.txt": b"just text"}
    app = FastAPI()

    @app.get("/{name}")
    def get(name: str) -> Response:
        body = content.get("/" + name)
        return Response(body, media_type="application/octet-stream") if body else Response(status_code=404)

    with serve(app) as url:
        yield url, content


# ---------------------------------------------------------------- auth
def test_401_without_or_with_a_wrong_key(api: Api) -> None:
    for key in (None, "wrong"):
        answer = api("GET", f"/projects/{mp.PROJECT_ID}", key=key)
        assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized"}
    assert api("GET", f"/projects/{mp.PROJECT_ID}").status_code == 200


def test_body_without_json_content_type_is_not_read(api: Api) -> None:
    answer = api(
        "POST", f"/projects/{mp.PROJECT_ID}/assets", data=b'{"title": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 422 and answer.json() == {"error": "Missing parameter title"}


# ---------------------------------------------------------------- create validation
def test_project_not_found_missing_title_and_bad_media_type(api: Api) -> None:
    answer = api.create({"title": "x"}, project="not-found-id")
    assert (answer.status_code, answer.json()) == (404, {"error": "project not found"})
    answer = api.create({"description": "Sample", "category": "Sample", "tags": ["a"]})
    assert (answer.status_code, answer.json()) == (422, {"error": "Missing parameter title"})
    answer = api.create({"title": "x", "media_type": "image"})
    assert answer.status_code == 422
    assert answer.json()["error"] == (
        "Invalid parameter 'media_type' value \"image\": Must be one of: <code>article</code>."
    )
    assert api.create({"title": "x", "tags": "a,b"}).status_code == 422
    assert api.create({"title": 5}).status_code == 422
    assert api.create({"title": "x", "url": "http://x"}).json()["error"].endswith("Must be a Hash.")
    assert api.create({"title": "x", "url": {"file_url": "http://x/a.png"}}).json() == {
        "error": "Missing parameter url[filename]"
    }


def test_asset_without_media_is_placeholder_with_contract_fields(api: Api) -> None:
    answer = api.create({"title": "Sample Asset", "category": "Sample", "tags": ["sample", "test"]})
    assert answer.status_code == 200
    asset = answer.json()["asset"]
    assert list(asset) == list(mp.ASSET_FIELDS)
    assert asset["media_type"] == "placeholder" and asset["category"] == "sample" and asset["status"] == "open"
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", asset["id"])
    assert ISO_MS.match(asset["created_date"]) and ISO_MS.match(asset["modification_date"])
    assert asset["project_id"] == mp.PROJECT_ID and asset["md5_sum"] is None
    article = api.create({"title": "Text", "media_type": "article"}).json()["asset"]
    assert article["media_type"] == "article"


def test_create_outside_project(api: Api) -> None:
    asset = api("POST", "/assets", json={"title": "Loose", "category": "MiXed"}).json()["asset"]
    assert asset["project_id"] is None and asset["category"] == "mixed" and asset["media_type"] == "placeholder"


# ---------------------------------------------------------------- external ids
def test_external_id_unique_across_assets_and_projects(api: Api) -> None:
    first = api.create({"title": "a", "external_id": "ext-1"})
    assert first.status_code == 200
    for answer in (
        api.create({"title": "b", "external_id": "ext-1"}),
        api("POST", "/assets", json={"title": "c", "external_id": "ext-1"}),
        api("POST", "/assets", json={"title": "d", "external_id": mp.PROJECT_EXTERNAL_ID}),
    ):
        assert (answer.status_code, answer.json()) == (400, {"error": "External id has already been taken"})
    asset_id = first.json()["asset"]["id"]
    assert api("GET", "/external_ids/ext-1").json() == {"external_id": "ext-1", "id": asset_id, "type": "asset"}
    project = api("GET", f"/external_ids/{mp.PROJECT_EXTERNAL_ID}").json()
    assert project == {"external_id": mp.PROJECT_EXTERNAL_ID, "id": mp.PROJECT_ID, "type": "project"}
    missing = api("GET", "/external_ids/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "external id nope not found"})
    listed = api("GET", "/external_ids").json()
    assert {e["external_id"] for e in listed} == {"ext-1", mp.PROJECT_EXTERNAL_ID}


# ---------------------------------------------------------------- media by URL
def test_non_http_url_creates_the_asset_then_fails_400(api: Api) -> None:
    answer = api.create({"title": "x", "external_id": "e", "url": {"file_url": "/local/x.jpg", "filename": "x.jpg"}})
    assert answer.status_code == 400
    match = re.fullmatch(
        r"Asset ([A-Za-z0-9_-]{20}) created, adding media to asset failed: not a valid HTTP URL", answer.json()["error"]
    )
    assert match
    asset = api("GET", f"/assets/{match[1]}").json()["asset"]  # persisted
    assert asset["media_type"] == "placeholder" and asset["external_id"] == "e"


def test_url_media_is_fetched_and_typed_by_content(api: Api, sandbox: Any, files: Any) -> None:
    base, content = files
    kinds = {}
    for name in ("banner.png", "clip.mp4", "notes.txt"):
        answer = api.create({"title": name, "url": {"file_url": f"{base}/{name}", "filename": name}})
        asset = answer.json()["asset"]
        assert asset["media_type"] == "processing" and asset["original_filename"] == name
        done = api.poll(asset["id"])
        kinds[name] = done["media_type"]
        assert done["md5_sum"] == hashlib.md5(content["/" + name], usedforsecurity=False).hexdigest()
    assert kinds == {"banner.png": "image", "clip.mp4": "video", "notes.txt": "document"}
    fetched = [e["sha256"] for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"]
    assert fetched == [hashlib.sha256(content["/" + n]).hexdigest() for n in kinds]


def test_processing_delay_is_configurable(api: Api, sandbox: Any, files: Any) -> None:
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=3, seconds=None)
    base, _ = files
    asset = api.create({"title": "x", "url": {"file_url": f"{base}/banner.png", "filename": "b.png"}}).json()["asset"]
    mp.join_fetches()  # the fetch is done; only the delay holds it
    states = [api("GET", f"/assets/{asset['id']}").json()["asset"]["media_type"] for _ in range(3)]
    assert states == ["processing", "processing", "image"]


def test_unreachable_url_and_injected_failure_stay_processing(api: Api, sandbox: Any, files: Any) -> None:
    base, _ = files
    sandbox.state.outcomes.append(Outcome(PLATFORM, "fails.png", "fetch_failed"))
    missing = api.create({"title": "m", "url": {"file_url": f"{base}/missing.png", "filename": "m.png"}})
    closed = api.create({"title": "c", "url": {"file_url": "http://127.0.0.1:9/x.png", "filename": "c.png"}})
    forced = api.create({"title": "f", "url": {"file_url": f"{base}/banner.png", "filename": "fails.png"}})
    mp.join_fetches()
    for answer in (missing, closed, forced):
        asset_id = answer.json()["asset"]["id"]
        for _ in range(3):
            assert api("GET", f"/assets/{asset_id}").json()["asset"]["media_type"] == "processing"
    notes = sorted(str(e["note"]) for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch")
    assert any("HTTP 404" in n for n in notes) and any("could not fetch" in n for n in notes)
    assert any("injected" in n for n in notes)


def test_expired_presigned_url_fails_the_fetch(api: Api, sandbox: Any) -> None:
    sandbox.state.s3.client.put_object(Bucket=mp.STAGING_BUCKET, Key="x/banner.png", Body=png_bytes())
    url = sandbox.state.s3.presign_get("staging", "x/banner.png", expires=60)
    sandbox.state.advance_clock(120)
    asset = api.create({"title": "x", "url": {"file_url": url, "filename": "banner.png"}}).json()["asset"]
    assert api.poll(asset["id"])["media_type"] == "processing"
    fetch = [e for e in sandbox.journal(platform=PLATFORM) if e.get("kind") == "fetch"][0]
    assert fetch["status"] == 403 and "?" not in fetch["path"]


def test_valid_presigned_url_from_the_sandbox_s3(api: Api, sandbox: Any) -> None:
    sandbox.state.s3.client.put_object(Bucket=mp.STAGING_BUCKET, Key="x/banner.png", Body=png_bytes())
    url = sandbox.state.s3.presign_get("staging", "x/banner.png", expires=60)
    asset = api.create({"title": "x", "url": {"file_url": url, "filename": "banner.png"}}).json()["asset"]
    assert api.poll(asset["id"])["media_type"] == "image"


def test_s3_key_form_reads_the_tenant_bucket(api: Api, sandbox: Any) -> None:
    sandbox.state.s3.client.put_object(Bucket=mp.STAGING_BUCKET, Key="k/banner.png", Body=png_bytes())
    good = api.create({"title": "x", "s3": {"s3_key": "k/banner.png", "filename": "banner.png"}}).json()["asset"]
    bad = api.create({"title": "y", "s3": {"s3_key": "k/none.png", "filename": "none.png"}}).json()["asset"]
    assert api.poll(good["id"])["media_type"] == "image"
    assert api.poll(bad["id"])["media_type"] == "processing"


def test_add_media(api: Api, files: Any) -> None:
    base, _ = files
    asset = api("POST", "/assets", json={"title": "x"}).json()["asset"]
    assert api("POST", f"/assets/{asset['id']}/media", json={"file_url": "nope", "filename": "a"}).json() == {
        "error": "not a valid HTTP URL"
    }
    assert api("POST", f"/assets/{asset['id']}/media", json={"filename": "a"}).status_code == 422
    assert api("POST", "/assets/AAAAAAAAAAAAAAAAAAAA/media", json={"file_url": "http://x", "filename": "a"}).json() == {
        "error": "asset not found"
    }
    answer = api("POST", f"/assets/{asset['id']}/media", json={"file_url": f"{base}/banner.png", "filename": "b.png"})
    assert answer.json() == {"ok": "ok"}
    done = api.poll(asset["id"])
    assert done["media_type"] == "image" and done["original_filename"] == "b.png"
    assert api("GET", f"/assets/{asset['id']}/media").json()["media"][0]["md5_sum"] == done["md5_sum"]
    assert api("GET", f"/assets/{asset['id']}/file_metadata").json()["file_metadata"]["mediainfo"]["size"] > 0


# ---------------------------------------------------------------- history, update, trash
def test_history_pages_and_bad_cursor(api: Api) -> None:
    asset = api("POST", "/assets", json={"title": "x"}).json()["asset"]
    for title in ("a", "b"):
        api("PUT", f"/assets/{asset['id']}", json={"title": title})
    first = api("GET", f"/assets/{asset['id']}/history/0").json()["history"]
    assert [e["event_type"] for e in first["results"]] == ["ASSET_ADDED", "METADATA_UPDATED"]
    second = api("GET", f"/assets/{asset['id']}/history/{first['next_cursor']}").json()["history"]
    assert len(second["results"]) == 1 and second["next_cursor"] is None
    assert api("GET", f"/assets/{asset['id']}/history/abc").status_code == 422
    assert api("GET", f"/assets/{asset['id']}/history/50").status_code == 422


def test_update_metadata(api: Api) -> None:
    asset = api("POST", "/assets", json={"title": "x", "external_id": "u1"}).json()["asset"]
    updated = api("PUT", f"/assets/{asset['id']}", json={"title": "y", "category": "ABC", "tags": ["t"]}).json()
    assert updated["asset"]["title"] == "y" and updated["asset"]["category"] == "abc"
    assert api("PUT", f"/assets/{asset['id']}", json={"external_id": mp.PROJECT_EXTERNAL_ID}).status_code == 400
    assert api("PUT", f"/assets/{asset['id']}", json={"tags": "t"}).status_code == 422


def test_trash_restore_and_purge_after_14_days(api: Api, sandbox: Any) -> None:
    keep = api("POST", "/assets", json={"title": "keep", "external_id": "keep"}).json()["asset"]
    gone = api("POST", "/assets", json={"title": "gone", "external_id": "gone"}).json()["asset"]
    for asset in (keep, gone):
        assert api("POST", f"/assets/{asset['id']}/trash_bin").json() == {"ok": "ok"}
        assert ISO_MS.match(api("GET", f"/assets/{asset['id']}").json()["asset"]["deleted"])
    sandbox.state.advance_clock(13 * 24 * 3600)
    assert api("POST", f"/assets/{keep['id']}/restore").json() == {"ok": "ok"}
    assert api("GET", f"/assets/{keep['id']}").json()["asset"]["deleted"] is None
    assert api("GET", f"/assets/{gone['id']}").status_code == 200  # 13 days: still in the trash
    sandbox.state.advance_clock(24 * 3600)
    assert api("GET", f"/assets/{gone['id']}").json() == {"error": "asset not found"}
    assert api("POST", f"/assets/{gone['id']}/restore").status_code == 404
    assert api("GET", "/external_ids/gone").status_code == 404  # the purged asset's id is free again
    assert api("GET", f"/assets/{keep['id']}").status_code == 200


def test_project_get_and_fault_shape(api: Api, sandbox: Any) -> None:
    project = api("GET", f"/projects/{mp.PROJECT_ID}").json()["project"]
    assert project["media_type"] == "project" and project["id"] == mp.PROJECT_ID
    assert api("GET", "/projects/nope").json() == {"error": "project not found"}
    sandbox.state.faults.add("status", platform=PLATFORM, status=500, message="boom")
    answer = api("GET", f"/projects/{mp.PROJECT_ID}")
    assert (answer.status_code, answer.json()) == (500, {"error": "boom"})


def test_connection_points_at_sandbox_project_and_s3(sandbox: Any) -> None:
    conn = sandbox.connections()["mediapocket_default"]
    assert conn["conn_type"] == PLATFORM and conn["host"] == sandbox.platform_url(PLATFORM)
    assert conn["extra"] == {
        "project_id": mp.PROJECT_ID,
        "aws_conn_id": "creative_sandbox_s3",
        "staging_bucket": "sandbox-staging",
    }
    assert "creative_sandbox_s3" in sandbox.connections()
