"""The MediaMath sandbox router enforces the contract's checklist (raw HTTP, no hook)."""

from __future__ import annotations

import base64
import io
import json

import pytest
import requests
from PIL import Image

from airflow_creative_provider.sandbox import mediamath as sb
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

API = "/component_creatives/v1.0"


def png_bytes(size: tuple[int, int] = (160, 100)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "green").save(out, "PNG")
    return out.getvalue()


class Client:
    """Raw HTTP against /mediamath: token -> session cookie, nothing else."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def token(self, **changes: str) -> requests.Response:
        body = {
            "grant_type": "password",
            "username": sb.USER,
            "password": sb.PASSWORD,
            "audience": sb.AUDIENCE,
            "client_id": sb.CLIENT_ID,
            "client_secret": sb.CLIENT_SECRET,
            **changes,
        }
        return self.http.post(f"{self.base}/oauth/token", json=body)

    def login(self) -> str:
        token = self.token().json()["access_token"]
        answer = self.http.get(f"{self.base}/api/v2.0/session", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        self.http.cookies.clear()
        self.session = answer.cookies["adama_session"]
        return self.session

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        cookies = kwargs.pop("cookies", {"adama_session": self.session})
        return self.http.request(method, f"{self.base}{API}{path}", cookies=cookies, **kwargs)


@pytest.fixture
def mm(creative_sandbox_env):
    creative_sandbox_env.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def client(mm) -> Client:
    c = Client(mm.platform_url("mediamath"))
    c.login()
    return c


def creative(client: Client, name: str = "c", **body) -> dict:
    answer = client.api("POST", "/creatives", json={"creative_name": name, "advertiser_id": 100178, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def assert_validation(answer: requests.Response, param: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["meta"] == {"code": 400, "status": "error", "message": "Validation Error"}
    assert param in [e["param"] for e in body["errors"]]


# ----------------------------------------------------------------------------- auth
def test_no_cookie_or_a_header_named_adama_session_is_401(client):
    for kwargs in ({"cookies": {}}, {"cookies": {}, "headers": {"adama_session": client.session}}):
        answer = client.api("GET", "/components", **kwargs)
        assert answer.status_code == 401
        assert answer.json()["meta"]["message"] == "Authorization required."
    assert client.api("GET", "/components", cookies={"adama_session": "sess_forged"}).status_code == 401
    assert client.api("GET", "/components").status_code == 200


def test_token_endpoint_checks_every_credential(mm):
    c = Client(mm.platform_url("mediamath"))
    assert c.token(password="wrong").json()["error"] == "invalid_grant"
    assert c.token(client_secret="wrong").status_code == 401
    assert c.token(audience="https://other/").status_code == 403
    assert c.token(grant_type="client_credentials").status_code == 403
    good = c.token().json()
    assert good["token_type"] == "Bearer" and good["expires_in"] == 86400
    assert c.http.get(f"{c.base}/api/v2.0/session").json()["meta"]["status"] == "auth_error"


def test_sessions_and_tokens_expire(mm, client):
    mm.state.store("mediamath")["token_ttl"] = 30
    mm.state.store("mediamath")["session_ttl"] = 60
    c = Client(mm.platform_url("mediamath"))
    token = c.token().json()["access_token"]
    session = c.http.get(f"{c.base}/api/v2.0/session", headers={"Authorization": f"Bearer {token}"})
    body = session.json()["data"]["session"]
    assert body["expires"] - body["current_time"] == 60
    c.session = session.cookies["adama_session"]
    assert c.api("GET", "/components").status_code == 200
    mm.state.advance_clock(31)
    assert c.http.get(f"{c.base}/api/v2.0/session", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert c.api("GET", "/components").status_code == 200
    mm.state.advance_clock(30)
    assert c.api("GET", "/components").status_code == 401


def test_default_session_lives_a_day(mm, client):
    mm.state.advance_clock(86400 - 5)
    assert client.api("GET", "/components").status_code == 200
    mm.state.advance_clock(10)
    assert client.api("GET", "/components").status_code == 401


def test_legacy_login(mm):
    base = mm.platform_url("mediamath")
    form = {"user": sb.USER, "password": sb.PASSWORD}
    assert requests.post(f"{base}/api/v2.0/login", data=form, params={"api_key": "nope"}).status_code == 403
    bad = requests.post(f"{base}/api/v2.0/login", data={**form, "password": "x"}, params={"api_key": sb.API_KEY})
    assert bad.status_code == 401 and bad.json()["errors"][0]["message"]
    good = requests.post(f"{base}/api/v2.0/login", data=form, params={"api_key": sb.API_KEY})
    assert good.json()["meta"]["status"] == "ok"
    assert good.json()["data"]["session"]["sessionid"] == good.cookies["adama_session"]


# ----------------------------------------------------------------------------- creatives
def test_pagination_limits_and_meta(client):
    for i in range(5):
        creative(client, f"c{i}")
    for bad in ("0", "101", "x"):
        assert_validation(client.api("GET", "/creatives", params={"page_limit": bad}), "page_limit")
    assert_validation(client.api("GET", "/creatives", params={"page_offset": "-1"}), "page_offset")
    assert_validation(client.api("GET", "/creatives", params={"sort_by": "nope"}), "sort_by")
    first = client.api("GET", "/creatives", params={"advertiser_id": 100178, "page_limit": 2}).json()
    assert first["meta"]["count"] == 2 and first["meta"]["offset"] == 0 and first["meta"]["total_count"] == 5
    assert "prod.cbe.mediamath.com" in first["meta"]["next_page"]
    last = client.api("GET", "/creatives", params={"page_limit": 2, "page_offset": 4}).json()
    assert last["meta"]["count"] == 1 and last["meta"]["next_page"] is None
    assert client.api("GET", "/creatives").json()["meta"]["count"] == 5  # default limit 20
    assert client.api("GET", "/creatives", params={"advertiser_id": 166476}).json()["data"] == []


def test_create_requires_name_and_integer_advertiser(client):
    assert_validation(client.api("POST", "/creatives", json={"advertiser_id": 100178}), "creative_name")
    assert_validation(client.api("POST", "/creatives", json={"creative_name": "x"}), "advertiser_id")
    assert_validation(
        client.api("POST", "/creatives", json={"creative_name": "x", "advertiser_id": "abc"}), "advertiser_id"
    )
    answer = client.api(
        "POST", "/creatives", json={"creative_name": "x", "advertiser_id": 100178, "concept_id": 123508}
    )
    assert answer.status_code == 400
    assert answer.json()["meta"]["message"].startswith("t1_api: Validation errors: Concept 123508")
    made = creative(client, concept_id=1432620)
    assert made["concept_id"] == "1432620" and made["status"] == "1" and made["external_identifier"] == "NA"


def test_assets_must_be_a_json_string_and_images_are_decoded(mm, client):
    content = png_bytes()
    item = {"encoded_image_file": base64.b64encode(content).decode(), "image_filename": "logo.png"}
    body = {"creative_name": "x", "advertiser_id": 100178}
    assert_validation(client.api("POST", "/creatives", json={**body, "assets": [item]}), "assets")
    bad64 = {**item, "encoded_image_file": "not base64!"}
    assert_validation(
        client.api("POST", "/creatives", json={**body, "assets": json.dumps([bad64])}), "encoded_image_file"
    )
    not_image = {**item, "encoded_image_file": base64.b64encode(b"hello world").decode()}
    assert_validation(client.api("POST", "/creatives", json={**body, "assets": json.dumps([not_image])}), "asset_value")
    # The seed forbids characters in the /upload/{filename} path only: an image_filename takes any.
    odd_name = {**item, "image_filename": "lo#go [v2].png"}
    odd = client.api("POST", "/creatives", json={**body, "assets": json.dumps([odd_name])})
    assert odd.status_code == 201 and odd.json()["data"]["assets"][0]["image_filename"] == "lo#go [v2].png"
    made = client.api("POST", "/creatives", json={**body, "assets": json.dumps([item])}).json()["data"]
    (asset,) = made["assets"]
    assert (asset["image_width"], asset["image_height"], asset["image_file_size"]) == (160, 100, len(content))
    key = asset["image_url"].split("/sandbox-mediamath/")[1]
    assert key.endswith("_logo.png") and mm.state.s3.get("mediamath", key) == content


def test_update_replaces_all_assets_except_listed_ids(client):
    keep = client.api("POST", "/assets", json={"component_id": 7, "asset_value": "T", "advertiser_id": 100178})
    drop = client.api("POST", "/assets", json={"component_id": 6, "asset_value": "B", "advertiser_id": 100178})
    keep_id, drop_id = keep.json()["data"]["asset_id"], drop.json()["data"]["asset_id"]
    made = creative(client, assets=json.dumps([{"asset_id": keep_id}, {"asset_id": drop_id}]))
    assert {a["asset_id"] for a in made["assets"]} == {keep_id, drop_id}
    cid = made["atomic_creative_id"]
    renamed = client.api("POST", f"/creatives/{cid}", json={"creative_name": "renamed"}).json()
    assert renamed["meta"]["status"] == "updated" and len(renamed["data"]["assets"]) == 2
    replaced = client.api("POST", f"/creatives/{cid}", json={"assets": json.dumps([{"asset_id": keep_id}])}).json()
    assert [a["asset_id"] for a in replaced["data"]["assets"]] == [keep_id]
    assert client.api("POST", f"/creatives/{cid}", json={"assets": "[]"}).json()["data"]["assets"] == []


def test_not_found_previews_and_eligibility(client):
    missing = client.api("GET", "/creatives/999")
    assert missing.status_code == 404
    assert missing.json()["meta"] == {"code": 404, "status": "error", "type": "error", "message": "Creative not found"}
    made = creative(client)
    previews = client.api("GET", f"/creatives/{made['atomic_creative_id']}", params={"include": "previews"}).json()
    assert previews["data"]["previews"]["NATIVE_DESKTOP_0"]["available"] is False
    formats = client.api("GET", f"/creatives/{made['atomic_creative_id']}/eligibility").json()
    assert formats["meta"]["type"] == "creative_eligibility"
    assert all(isinstance(c["id"], str) for f in formats["data"] for c in f["required_components"])


# ----------------------------------------------------------------------------- assets
def test_post_assets_needs_an_owner_of_one_advertiser(client):
    assert_validation(client.api("POST", "/assets", json={"component_id": 7, "asset_value": "T"}), "advertiser_id")
    a = creative(client, "a")
    b = client.api("POST", "/creatives", json={"creative_name": "b", "advertiser_id": 166476}).json()["data"]
    mixed = client.api(
        "POST",
        "/assets",
        json={
            "component_id": 7,
            "asset_value": "T",
            "creative_ids": [a["atomic_creative_id"], b["atomic_creative_id"]],
        },
    )
    assert mixed.status_code == 400 and "same advertiser" in mixed.json()["meta"]["message"]
    text = client.api(
        "POST", "/assets", json={"component_id": 7, "asset_value": "T", "creative_ids": [a["atomic_creative_id"]]}
    )
    assert text.status_code == 201 and text.json()["meta"]["type"] == "asset"
    image = client.api(
        "POST",
        "/assets",
        data={"component_id": "2", "creative_ids": json.dumps([a["atomic_creative_id"]]), "advertiser_id": "100178"},
        files={"asset_value": ("pic.png", png_bytes((50, 40)), "image/png")},
    )
    assert image.status_code == 201 and image.json()["data"]["image_width"] == 50
    current = client.api("GET", f"/creatives/{a['atomic_creative_id']}").json()["data"]
    assert len(current["assets"]) == 2
    asset_id = image.json()["data"]["asset_id"]
    updated = client.api(
        "POST", f"/assets/{asset_id}", files={"asset_value": ("pic2.png", png_bytes((70, 40)), "image/png")}
    )
    assert updated.status_code == 201 and updated.json()["data"]["image_width"] == 70
    assert client.api("GET", "/assets/424242").status_code == 404


# ----------------------------------------------------------------------------- upload
def test_upload_refuses_forbidden_characters(client):
    for name in (
        "a{b}.mp4",
        "a^b.mp4",
        "a~b.mp4",
        "a|b.mp4",
        "a'b.mp4",
        "a`b.mp4",
        "a%25b.mp4",
        "a%23b.mp4",
        "a/b.mp4",
    ):
        assert_validation(client.api("GET", f"/upload/{name}"), "filename")


def test_presigned_put_expires_after_60_seconds_and_bare_url_is_the_video_value(mm, client):
    url = client.api("GET", "/upload/clip.mp4").json()["data"]
    assert "X-Amz-Expires=60" in url and "X-Amz-SignedHeaders=host" in url
    assert requests.put(url, data=b"\x00\x00\x00\x18ftypmp42video").status_code == 200
    bare = url.split("?")[0]
    with_query = client.api("POST", "/assets", json={"component_id": 11, "asset_value": url, "advertiser_id": 100178})
    assert_validation(with_query, "asset_value")
    video = client.api("POST", "/assets", json={"component_id": 11, "asset_value": bare, "advertiser_id": 100178})
    assert video.status_code == 201 and video.json()["data"]["video_url"] == bare
    late = client.api("GET", "/upload/late.mp4").json()["data"]
    mm.state.advance_clock(61)
    refused = requests.put(late, data=b"x")
    assert refused.status_code == 403 and b"Request has expired" in refused.content
    never = client.api(
        "POST", "/assets", json={"component_id": 11, "asset_value": late.split("?")[0], "advertiser_id": 100178}
    )
    assert_validation(never, "asset_value")


# ----------------------------------------------------------------------------- approvals
def test_approvals_limits_and_states(mm, client):
    mm.state.speeds["mediamath"] = ProcessingSpeed(polls=2, seconds=None)
    mm.state.outcomes.append(Outcome("mediamath", "reject-*", "rejected", "Landing page broken"))
    good = creative(client, "good")["atomic_creative_id"]
    bad = creative(client, "reject-me")["atomic_creative_id"]
    assert_validation(client.api("GET", "/approvals"), "atomic_creative_ids")
    too_many = ",".join(str(i) for i in range(51))
    assert_validation(client.api("GET", "/approvals", params={"atomic_creative_ids": too_many}), "atomic_creative_ids")
    assert client.api("GET", "/approvals", params={"atomic_creative_ids": ",".join(str(i) for i in range(50))}).ok
    ids = f"{good},{bad},77"
    first = {
        a["atomic_creative_id"]: a
        for a in client.api("GET", "/approvals", params={"atomic_creative_ids": ids}).json()["data"]
    }
    assert first[str(good)]["net_status"] == "PENDING" and first["77"]["net_status"] == "N/A"
    answer = client.api("GET", "/approvals", params={"atomic_creative_ids": ids}).json()
    assert answer["meta"]["type"] == "approvals"
    second = {a["atomic_creative_id"]: a for a in answer["data"]}
    assert second[str(good)]["net_status"] == "APPROVED"
    assert second[str(bad)]["net_status"] == "REJECTED"
    assert second[str(bad)]["sources"]["sharethrough"] == {"status": "REJECTED", "reason": "Landing page broken"}


def test_a_creative_nobody_submits_stays_not_applicable(mm, client):
    mm.state.speeds["mediamath"] = ProcessingSpeed(polls=1, seconds=None)
    mm.state.outcomes.append(Outcome("mediamath", "draft-*", "not_submitted"))
    draft = creative(client, "draft-1")["atomic_creative_id"]
    for _ in range(3):
        [item] = client.api("GET", "/approvals", params={"atomic_creative_ids": str(draft)}).json()["data"]
        assert item["net_status"] == "N/A"


def test_upload_path_alone_refuses_the_forbidden_characters(mm, client):
    refused = client.api("GET", "/upload/a%23b.mp4")
    assert_validation(refused, "filename")
    assert client.api("GET", "/upload/q3_launch_final_1a2b3c4d.mp4").ok


# ----------------------------------------------------------------------------- faults, misc
def test_faults_use_the_meta_error_shape(mm, client):
    mm.state.faults.add("status", platform="mediamath", path="/components", status=429, retry_after=3)
    limited = client.api("GET", "/components")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert limited.json()["meta"]["status"] == "error"
    mm.state.faults.add("status", platform="mediamath", path="/components", status=503)
    assert client.api("GET", "/components").json()["meta"]["code"] == 503
    assert client.api("GET", "/components").json()["meta"]["total_count"] == len(sb.COMPONENTS)


def test_components_version_and_restricted_create(client):
    assert client.api("GET", "/components/4").json()["data"]["value_type_name"] == "TEXT"
    assert client.api("GET", "/components/99").status_code == 404
    restricted = client.api("POST", "/components", json={"component_human_name": "Right Image"})
    assert restricted.status_code == 401 and restricted.json()["meta"]["message"] == "Unauthorized"
    assert "version" in client.api("GET", "/version").json()


def test_connection_spec_points_at_the_sandbox(mm):
    spec = sb.connection(mm.state)
    assert spec.extra["auth_url"] == f"{mm.platform_url('mediamath')}/oauth/token"
    assert spec.host == mm.platform_url("mediamath") and spec.conn_type == "mediamath"
