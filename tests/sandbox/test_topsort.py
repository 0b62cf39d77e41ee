"""The Topsort simulator enforces its contract ("What a faithful simulator must enforce"),
tested with plain HTTP requests, independent of our hook."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import shutil
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from airflow_creative_provider.sandbox import topsort as sandbox_ts
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

PLATFORM = "topsort"
REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / "examples" / "creatives" / "video" / "product_teaser_640x360.mp4"
AUTH = {"Authorization": f"Bearer {sandbox_ts.API_KEY}"}


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def base(sandbox) -> str:
    return sandbox.platform_url(PLATFORM)


def png_bytes(size: tuple[int, int] = (20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "green").save(out, "PNG")
    return out.getvalue()


def create(base: str, body: dict | None = None, vendor: str | None = "v1", headers: dict | None = None):
    params = {"vendor_id": vendor} if vendor else {}
    payload = {"name": "banner", "mimetype": "image/png", **(body or {})}
    return requests.post(f"{base}/public/v1/assets/asset", params=params, json=payload, headers=headers or AUTH)


def get(base: str, asset_id: str, headers: dict | None = None):
    return requests.get(f"{base}/public/v1/assets/asset/{asset_id}", headers=headers or AUTH)


def post_form(created: dict, fields: list[tuple[str, str]] | None = None, data: bytes | None = None, file_last=True):
    """The upload as the seed does it: fields, then the file (requests puts files after data)."""
    fields = list(created["fields"].items()) if fields is None else fields
    content = png_bytes() if data is None else data
    if file_last:
        return requests.post(created["uploadUrl"], data=fields, files={"file": (created["id"], content)})
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'.encode() + content]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}'.encode() for k, v in fields]
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return requests.post(
        created["uploadUrl"], data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )


def errors(response) -> list[dict]:
    body = response.json()
    assert isinstance(body, list) and all({"errCode", "docUrl", "message"} <= set(e) for e in body)
    return body


# ------------------------------------------------------------------ auth
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": sandbox_ts.API_KEY}])
def test_bearer_key_required(base, headers):
    response = requests.get(f"{base}/public/v1/assets/assets", headers=headers)
    assert response.status_code == 401 and errors(response)[0]["errCode"] == "invalid_api_key"


def test_auth_error_shape_and_status_are_configurable(base, sandbox):
    cfg = sandbox_ts.config(sandbox.state)
    cfg.error_shape, cfg.auth_status = "object", 403
    response = requests.get(f"{base}/public/v1/assets/assets")
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "message": "Invalid or missing API key"}


def test_wrong_key_kind_is_403(base):
    response = create(base, headers={"Authorization": f"Bearer {sandbox_ts.MARKETPLACE_KEY}"})
    assert response.status_code == 403 and errors(response)


# ------------------------------------------------------------------ create
def test_create_answers_201_with_a_30_minute_presigned_post(base, sandbox):
    before = sandbox.state.now()
    response = create(base, {"collectionIds": ["c1"], "metadata": {"k": "v"}})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending_upload" and body["url"] is None and body["isExternal"] is False
    assert "collections" not in body and body["productIds"] == [] and body["metadata"] == {"k": "v"}
    assert {"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} <= set(
        body["fields"]
    )
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    expires = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
    assert 29 * 60 < expires - before <= 30 * 60 + 2
    assert get(base, body["id"]).json()["collections"] == ["c1"]


@pytest.mark.parametrize(
    ("body", "vendor", "field"),
    [
        ({}, None, "vendor_id"),
        ({"name": "x" * 65}, "v1", "name"),
        ({"name": None}, "v1", "name"),
        ({"mimetype": "image/bmp"}, "v1", "mimetype"),
        ({"productIds": [str(i) for i in range(11)]}, "v1", "productIds"),
        ({"brands": [str(i) for i in range(11)]}, "v1", "brands"),
        ({"collectionIds": [str(i) for i in range(11)]}, "v1", "collectionIds"),
        ({"metadata": {"k" * 33: "v"}}, "v1", "metadata"),
        ({"metadata": {"k": "v" * 65}}, "v1", "metadata"),
        ({"externalUrl": ""}, "v1", "externalUrl"),
        ({"externalUrl": "https://x.example/" + "a" * 2083}, "v1", "externalUrl"),
        ({"collections": ["c1"]}, "v1", "collections"),
    ],
)
def test_create_validation_is_422_with_the_error_array(base, sandbox, body, vendor, field):
    response = create(base, body, vendor=vendor)
    assert response.status_code == 422 and field in errors(response)[0]["message"]
    assert not sandbox.state.store(PLATFORM).get("assets")


def test_create_limits_are_inclusive(base):
    body = {
        "name": "x" * 64,
        "productIds": [str(i) for i in range(10)],
        "metadata": {"k" * 32: "v" * 64},
        "externalUrl": None,
    }
    assert create(base, body).status_code == 201


@pytest.mark.parametrize(("data", "code"), [(b"", "empty_request"), (b"{", "invalid_json")])
def test_malformed_bodies_are_400(base, data, code):
    response = requests.post(f"{base}/public/v1/assets/asset", params={"vendor_id": "v"}, data=data, headers=AUTH)
    assert response.status_code == 400 and errors(response)[0]["errCode"] == code


def test_external_asset_has_no_upload(base):
    body = create(base, {"externalUrl": "https://cdn.example.com/a.png"}).json()
    assert body["isExternal"] is True and body["fields"] == {} and "uploadUrl" not in body


# ------------------------------------------------------------------ upload
def test_upload_succeeds_with_fields_unchanged_and_file_last(base):
    created = create(base).json()
    response = post_form(created)
    assert response.status_code == 204


def test_upload_success_201_is_configurable(base, sandbox):
    sandbox_ts.config(sandbox.state).upload_success_status = 201
    assert post_form(create(base).json()).status_code == 201


def test_upload_refuses_a_changed_or_missing_field(base):
    created = create(base).json()
    changed = [(k, v + "x" if k == "key" else v) for k, v in created["fields"].items()]
    assert post_form(created, changed).status_code == 403
    missing = [(k, v) for k, v in created["fields"].items() if k != "x-amz-date"]
    assert post_form(created, missing).status_code == 403


def test_upload_requires_the_file_last(base):
    created = create(base).json()
    response = post_form(created, file_last=False)
    assert response.status_code == 400 and b"last" in response.content


def test_upload_requires_multipart_and_a_file(base):
    created = create(base).json()
    assert requests.post(created["uploadUrl"], data=created["fields"]).status_code in (400, 403)
    assert requests.post(created["uploadUrl"], json=created["fields"]).status_code in (400, 403)


def test_expired_upload_is_403_xml_and_a_second_try_fails_too(base, sandbox):
    created = create(base).json()
    sandbox.state.advance_clock(31 * 60)
    for _ in range(2):
        response = post_form(created)
        assert response.status_code == 403
        assert b"<Code>AccessDenied</Code>" in response.content and b"expired" in response.content
    assert get(base, created["id"]).json()["status"] == "pending_upload"


def test_video_takes_only_the_bare_file_part(base, sandbox):
    created = create(base, {"mimetype": "video/mp4"}).json()
    assert created["fields"] == {}
    data = VIDEO.read_bytes()
    with_field = requests.post(created["uploadUrl"], data={"key": "x"}, files={"file": (created["id"], data)})
    assert with_field.status_code == 400
    assert requests.post(created["uploadUrl"], files={"other": ("x", data)}).status_code == 400
    assert requests.post(created["uploadUrl"], files={"file": (created["id"], data)}).status_code == 204
    assert get(base, created["id"]).json()["status"] == "pending_approval"
    assert get(base, created["id"]).json()["status"] == "approved"


def test_video_upload_expires_and_checks_its_token(base, sandbox):
    created = create(base, {"mimetype": "video/quicktime"}).json()
    forged = created["uploadUrl"].split("?")[0] + "?token=forged"
    assert requests.post(forged, files={"file": ("x", b"data")}).status_code == 403
    sandbox.state.advance_clock(31 * 60)
    response = requests.post(created["uploadUrl"], files={"file": ("x", b"data")})
    assert response.status_code == 403 and b"expired" in response.content


def test_video_upload_expire_url_fault(base, sandbox):
    created = create(base, {"mimetype": "video/mp4"}).json()
    sandbox.state.faults.add("expire_url", platform=PLATFORM, path="^/s3/")
    assert requests.post(created["uploadUrl"], files={"file": ("x", VIDEO.read_bytes())}).status_code == 403


# ------------------------------------------------------------------ states
def test_states_and_url_only_when_approved(base, sandbox):
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)
    created = create(base).json()
    for _ in range(3):
        assert get(base, created["id"]).json()["status"] == "pending_upload"  # never uploaded: stays
    post_form(created)
    seen = [get(base, created["id"]).json() for _ in range(3)]
    assert [a["status"] for a in seen] == ["pending_approval", "pending_approval", "approved"]
    assert [a["url"] is None for a in seen] == [True, True, False]
    assert requests.get(seen[-1]["url"]).content == png_bytes()


@pytest.mark.parametrize(
    ("mimetype", "data"),
    [("image/jpeg", png_bytes()), ("image/png", png_bytes((200, 200))[:300]), ("image/gif", b"not an image")],
)
def test_content_unlike_the_mimetype_or_unreadable_is_upload_error(base, mimetype, data):
    created = create(base, {"mimetype": mimetype}).json()
    assert post_form(created, data=data).status_code == 204
    states = [get(base, created["id"]).json()["status"] for _ in range(2)]
    assert states == ["pending_approval", "upload_error"]


def test_rejected_can_be_injected(base, sandbox):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad*", "rejected"))
    created = create(base, {"name": "bad banner"}).json()
    post_form(created)
    assert [get(base, created["id"]).json()["status"] for _ in range(2)] == ["pending_approval", "rejected"]


def test_video_speed_is_configurable_apart(base, sandbox, tmp_path):
    sandbox.state.speeds[f"{PLATFORM}:video"] = ProcessingSpeed(polls=3, seconds=None)
    created = create(base, {"mimetype": "video/mp4"}).json()
    shutil.copy(VIDEO, tmp_path / "v.mp4")
    requests.post(created["uploadUrl"], files={"file": ("v", (tmp_path / "v.mp4").read_bytes())})
    states = [get(base, created["id"]).json()["status"] for _ in range(4)]
    assert states == ["pending_approval"] * 3 + ["approved"]


# ------------------------------------------------------------------ get and list
def test_get_unknown_or_other_marketplace_is_404(base):
    created = create(base).json()
    assert get(base, "no-such-id").status_code == 404
    other = {"Authorization": f"Bearer {sandbox_ts.OTHER_MARKETPLACE_KEY}"}
    response = get(base, created["id"], headers=other)
    assert response.status_code == 404 and errors(response)
    assert requests.get(f"{base}/public/v1/assets/assets", headers=other).json()["assets"] == []


def test_list_filters_cursor_and_limit(base):
    ids = [
        create(base, {"name": f"a{i}", "brands": ["B" if i % 2 else "A"]}, vendor="v2" if i == 4 else "v1").json()["id"]
        for i in range(5)
    ]
    url = f"{base}/public/v1/assets/assets"
    seen, params = [], {"vendor_id": "v1", "limit": 3}
    while True:
        page = requests.get(url, params=params, headers=AUTH).json()
        seen += [a["id"] for a in page["assets"]]
        if not page["hasMore"]:
            assert "nextPage" not in page
            break
        params["next_page"] = page["nextPage"]
    assert seen == ids[:4]
    assert [a["id"] for a in requests.get(url, params={"brand": "B"}, headers=AUTH).json()["assets"]] == ids[1:4:2]
    by_ids = requests.get(url, params={"asset_ids": f"{ids[0]},{ids[2]}"}, headers=AUTH).json()["assets"]
    assert [a["id"] for a in by_ids] == [ids[0], ids[2]]
    repeated = requests.get(url, params=[("asset_ids", ids[0]), ("asset_ids", ids[4])], headers=AUTH).json()
    assert [a["id"] for a in repeated["assets"]] == [ids[0], ids[4]]
    assert len(requests.get(url, params={"status": "pending_upload"}, headers=AUTH).json()["assets"]) == 5
    assert requests.get(url, params={"mimetype": "video/mp4"}, headers=AUTH).json()["assets"] == []
    assert requests.get(url, params={"next_page": "forged"}, headers=AUTH).status_code == 400


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"status": "ready"}])
def test_list_bad_query_is_422(base, params):
    response = requests.get(f"{base}/public/v1/assets/assets", params=params, headers=AUTH)
    assert response.status_code == 422 and errors(response)


# ------------------------------------------------------------------ rate limit, routes, faults
def test_rate_limit_headers_on_every_response_and_429(base, sandbox):
    sandbox_ts.config(sandbox.state).rate_limit = sandbox_ts.SANDBOX_PROFILE
    answers = [
        requests.get(f"{base}/public/v1/assets/assets", headers=AUTH),
        requests.get(f"{base}/public/v1/assets/assets"),  # 401
        requests.get(f"{base}/public/v1/assets/assets/", headers=AUTH),  # 404
        create(base, {"name": "x" * 70}),  # 422
        create(base),
        requests.get(f"{base}/public/v1/assets/assets", headers=AUTH),  # 6th: over 5 / 2 s
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 422, 201, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "5" and float(a.headers["X-RateLimit-Reset"]) > 0 for a in answers)
    assert errors(answers[-1])[0]["errCode"] == "too_many_requests"


def test_default_limit_is_45_per_2_seconds(base):
    session = requests.Session()
    started = time.monotonic()
    answers = [session.get(f"{base}/public/v1/assets/assets", headers=AUTH) for _ in range(46)]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"45"}
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["44", "43", "42"]
    if time.monotonic() - started < 1.9:  # all 46 inside one window (a loaded machine may be slower)
        assert [a.status_code for a in answers].count(200) == 45 and answers[-1].status_code == 429


@pytest.mark.parametrize(
    "path", ["/public/v1/assets/asset/", "/public/v1/assets/assets/", "/public/v1/assets/asset/abc/", "/v2/assets"]
)
def test_trailing_slash_and_unknown_paths_are_404_without_redirect(base, path):
    response = requests.get(base + path, headers=AUTH, allow_redirects=False)
    assert response.status_code == 404 and errors(response)


def test_injected_5xx_uses_the_error_array(base, sandbox):
    sandbox.state.faults.add("status", platform=PLATFORM, status=503, message="maintenance")
    response = requests.get(f"{base}/public/v1/assets/assets", headers=AUTH)
    assert response.status_code == 503 and errors(response)[0]["errCode"] == "internal_server_error"


def test_injected_drop_and_delay(base, sandbox):
    sandbox.state.faults.add("drop", platform=PLATFORM)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/public/v1/assets/assets", headers=AUTH)
    sandbox.state.faults.add("delay", platform=PLATFORM, delay=0.3)
    with pytest.raises(requests.Timeout):
        requests.get(f"{base}/public/v1/assets/assets", headers=AUTH, timeout=0.1)
