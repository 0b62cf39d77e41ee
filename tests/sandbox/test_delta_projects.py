"""The Delta Projects sandbox router, spoken to directly over HTTP: the contract's checklist."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
import uuid

import httpx
import pytest
from PIL import Image

from airflow_creative_provider.sandbox import delta_projects as dp
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds["delta_projects"] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def client(sandbox):
    with httpx.Client(base_url=sandbox.platform_url("delta_projects"), timeout=10) as c:
        yield c


@pytest.fixture
def key(sandbox) -> str:
    return dp.api_key(sandbox.state)


FILES = f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{dp.CLIENT_ID}/file"


def png(color: str = "red", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, fmt)
    return buffer.getvalue()


def upload(client, key, name: str, data: bytes, path: str = FILES) -> httpx.Response:
    return client.post(path, params={"apikey": key}, json={"name": name, "payload": base64.b64encode(data).decode()})


def test_connection_spec_points_at_the_router(sandbox, key):
    spec = dp.connection(sandbox.state)
    assert spec.conn_id == "delta_projects_default" and spec.conn_type == "delta_projects"
    assert spec.host == sandbox.platform_url("delta_projects") and spec.password == key
    assert spec.extra == {"media_agency_id": dp.AGENCY_ID, "client_id": dp.CLIENT_ID}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/media_agency/{dp.AGENCY_ID}/client"),
        ("GET", f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{dp.CLIENT_ID}"),
        ("GET", f"/api/v1/client/{dp.CLIENT_ID}"),
        ("GET", FILES),
        ("GET", f"{FILES}/{uuid.uuid4()}"),
        ("POST", FILES),
    ],
)
@pytest.mark.parametrize("apikey", [None, "wrong", "apikey-in-header"])
def test_401_unless_apikey_query_parameter_is_valid(client, key, method, path, apikey):
    params = {"apikey": apikey} if apikey not in (None, "apikey-in-header") else None
    headers = {"apikey": key, "Authorization": f"Bearer {key}"} if apikey == "apikey-in-header" else None
    response = client.request(method, path, params=params, headers=headers, json={"name": "a.png", "payload": ""})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/media_agency/{uuid.uuid4()}/client/{dp.CLIENT_ID}/file",
        f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{uuid.uuid4()}/file",
        f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{dp.OTHER_CLIENT_ID}/file",  # client of another agency
        f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{dp.OTHER_CLIENT_ID}",
        f"/api/v1/media_agency/{uuid.uuid4()}/client",
    ],
)
def test_404_for_unknown_agency_or_client_or_client_elsewhere(client, key, path):
    assert client.get(path, params={"apikey": key}).status_code == 404
    if path.endswith("/file"):
        assert upload(client, key, "a.png", png(), path=path).status_code == 404


def test_clients(client, key):
    listed = client.get(f"/api/v1/media_agency/{dp.AGENCY_ID}/client", params={"apikey": key}).json()
    assert listed == [{"id": dp.CLIENT_ID, "name": "Sandbox Soap Co"}]
    one = client.get(f"/api/v1/media_agency/{dp.AGENCY_ID}/client/{dp.CLIENT_ID}", params={"apikey": key}).json()
    assert set(one) == {"id", "name", "country", "currency"}
    assert client.get(f"/api/v1/client/{dp.CLIENT_ID}", params={"apikey": key}).json() == one


@pytest.mark.parametrize(
    "body",
    [
        {"payload": "aGVsbG8="},
        {"name": 7, "payload": "aGVsbG8="},
        {"name": "", "payload": "aGVsbG8="},
        {"name": "a.png"},
        {"name": "a.png", "payload": 12},
        {"name": "a.png", "payload": "not base64!"},
        {"name": "a.png", "payload": "aGVsbG8"},  # bad padding
        ["a.png", "aGVsbG8="],
    ],
)
def test_upload_validation_400(client, key, sandbox, body):
    response = client.post(FILES, params={"apikey": key}, json=body)
    assert response.status_code == 400
    assert sandbox.state.store("delta_projects")["files"] == {}


def test_upload_needs_json(client, key):
    response = client.post(FILES, params={"apikey": key}, content=b"name=a.png", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    response = client.post(
        FILES, params={"apikey": key}, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_upload_202_empty_body_bare_location_and_journal_sha256(client, key, sandbox):
    data = png()
    response = upload(client, key, "banner.png", data)
    assert response.status_code == 202 and response.content == b""
    location = response.headers["Location"]
    assert UUID.match(location), location
    entry = sandbox.journal(platform="delta_projects", method="POST")[-1]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["remote_id"] == location


def test_processing_then_processed_with_uppercase_sha1_and_url_served_only_once_processed(client, key, sandbox):
    sandbox.state.speeds["delta_projects"] = ProcessingSpeed(polls=2, seconds=None)
    data = png()
    file_id = upload(client, key, "banner.png", data).headers["Location"]
    first = client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()
    assert first["state"] == "PROCESSING" and first["checksum"] is None
    assert httpx.get(first["url"]).status_code == 404  # not yet processed
    second = client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()
    assert set(second) == {"id", "name", "state", "url", "checksum"}
    assert second["state"] == "PROCESSED"
    assert second["checksum"] == hashlib.sha1(data).hexdigest().upper()
    served = httpx.get(second["url"])
    assert served.status_code == 200 and served.content == data


def test_processing_after_a_delay_in_seconds(client, key, sandbox):
    sandbox.state.speeds["delta_projects"] = ProcessingSpeed(polls=None, seconds=60)
    file_id = upload(client, key, "banner.png", png()).headers["Location"]
    assert client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()["state"] == "PROCESSING"
    sandbox.state.advance_clock(61)  # the sandbox's clock, not the machine's: no race with the load
    assert client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()["state"] == "PROCESSED"


@pytest.mark.parametrize(
    ("name", "data", "state"),
    [
        ("a.jpg", png(fmt="JPEG"), "PROCESSED"),
        ("a.gif", png(fmt="GIF"), "PROCESSED"),
        ("a.png", png(fmt="PNG"), "PROCESSED"),
        ("a.jpg", png(fmt="PNG"), "UNPROCESSABLE"),  # extension does not match the magic number
        ("a.png", b"plain text, not an image", "UNPROCESSABLE"),
        ("a.webp", png(fmt="WEBP"), "UNPROCESSABLE"),
        ("a.bmp", png(fmt="BMP"), "UNPROCESSABLE"),
        ("noextension", png(), "UNPROCESSABLE"),
        ("a.png", b"", "UNPROCESSABLE"),
    ],
)
def test_outcome_by_magic_number_and_extension(client, key, name, data, state):
    file_id = upload(client, key, name, data).headers["Location"]
    info = client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()
    assert info["state"] == state
    assert (info["checksum"] is None) == (state != "PROCESSED")
    assert (httpx.get(info["url"]).status_code == 200) == (state == "PROCESSED")


def test_failure_is_injectable(client, key, sandbox):
    sandbox.state.outcomes.append(Outcome("delta_projects", "doomed*", "UNPROCESSABLE"))
    file_id = upload(client, key, "doomed.png", png()).headers["Location"]
    assert client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()["state"] == "UNPROCESSABLE"


def test_corrupt_outcome_stores_other_bytes(client, key, sandbox):
    sandbox.state.outcomes.append(Outcome("delta_projects", "mangled.png", "corrupt"))
    data = png()
    file_id = upload(client, key, "mangled.png", data).headers["Location"]
    info = client.get(f"{FILES}/{file_id}", params={"apikey": key}).json()
    assert info["state"] == "PROCESSED" and info["checksum"] != hashlib.sha1(data).hexdigest().upper()


def test_list_returns_only_id_and_name_of_that_client(client, key, sandbox):
    mine = upload(client, key, "mine.png", png()).headers["Location"]
    other_path = f"/api/v1/media_agency/{dp.OTHER_AGENCY_ID}/client/{dp.OTHER_CLIENT_ID}/file"
    assert upload(client, key, "theirs.png", png(), path=other_path).status_code == 202
    listed = client.get(FILES, params={"apikey": key}).json()
    assert listed == [{"id": mine, "name": "mine.png"}]
    assert client.get(f"{FILES}/{mine}", params={"apikey": key}).status_code == 200
    theirs = client.get(other_path, params={"apikey": key}).json()[0]["id"]
    assert client.get(f"{FILES}/{theirs}", params={"apikey": key}).status_code == 404


def test_5xx_and_slow_responses_on_demand(client, key, sandbox):
    sandbox.state.faults.add("status", platform="delta_projects", method="GET", status=503, message="maintenance")
    response = client.get(FILES, params={"apikey": key})
    assert response.status_code == 503 and response.text == "maintenance"
    sandbox.state.faults.add("delay", platform="delta_projects", method="GET", delay=0.3)
    started = time.monotonic()
    assert client.get(FILES, params={"apikey": key}).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_413_above_configured_payload_size(client, key, sandbox):
    data = png()
    dp.configure(sandbox.state, max_payload_bytes=len(data))  # the base64 body is larger than the file
    assert upload(client, key, "big.png", data).status_code == 413
    assert sandbox.state.store("delta_projects")["files"] == {}
    sandbox.reset()
    assert upload(client, key, "big.png", data).status_code == 202  # reset clears the limit
