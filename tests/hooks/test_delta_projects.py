"""DeltaProjectsHook against the sandbox over real HTTP: files, clients, errors, recovery of a
lost upload answer, checksum verification, local rules, and no API key in any log line."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import (
    CreativeRefused,
    PlatformAuthError,
    PlatformConfigError,
    PlatformError,
    PlatformRequestError,
    UncertainOutcome,
)
from airflow_creative_provider.hooks.base import AssetStatus
from airflow_creative_provider.hooks.delta_projects import (
    DeltaProjectsHook,
    checksum_mismatch,
    file_id_from_location,
    loads_lenient,
)
from airflow_creative_provider.sandbox import delta_projects as sandbox_dp
from airflow_creative_provider.sandbox.state import Outcome, ProcessingSpeed
from tests.support.servers import serve

PLATFORM = "delta_projects"
FILES = r"/client/[^/]+/file$"


@pytest.fixture
def sandbox(creative_sandbox_env):
    creative_sandbox_env.state.speeds[PLATFORM] = ProcessingSpeed(polls=1, seconds=None)
    return creative_sandbox_env


@pytest.fixture
def hook(sandbox) -> DeltaProjectsHook:
    hook = DeltaProjectsHook()
    hook.backoff_initial = 0.05
    hook.recovery_poll = 0.05
    return hook


@pytest.fixture
def api_key(sandbox) -> str:
    return sandbox_dp.api_key(sandbox.state)


def image(tmp_path: Path, name: str = "banner.png", color: str = "red", size: tuple[int, int] = (40, 30)) -> Path:
    path = tmp_path / name
    fmt = {"png": "PNG", "jpg": "JPEG", "gif": "GIF"}[name.rsplit(".", 1)[-1]]
    Image.new("RGB", size, color).save(path, fmt)
    return path


def creative(path: Path) -> Creative:
    return Creative.inspect(path, sha1=True)


def api_calls(sandbox, method: str | None = None, path: str | None = None) -> list[dict]:
    return sandbox.journal(platform=PLATFORM, method=method, path=path)


def files_on_platform(sandbox) -> list[dict]:
    return list(sandbox.state.store(PLATFORM)["files"].values())


def set_conn(monkeypatch, sandbox, conn_id: str, **changes) -> None:
    conn = sandbox.connections()["delta_projects_default"]
    extra = dict(conn.get("extra", {}))
    extra.update(changes.pop("extra", {}))
    for name in changes.pop("drop_extra", ()):
        extra.pop(name)
    conn = {**conn, **changes, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


# --------------------------------------------------------------------------- happy path
def test_identity_and_account(hook):
    assert hook.conn_type == "delta_projects"
    assert hook.default_conn_name == "delta_projects_default"
    assert hook.account == sandbox_dp.CLIENT_ID
    assert hook.files_path == (f"api/v1/media_agency/{sandbox_dp.AGENCY_ID}/client/{sandbox_dp.CLIENT_ID}/file")


def test_clients_and_check_connection(hook):
    clients = hook.list_clients()
    assert {"id": sandbox_dp.CLIENT_ID, "name": "Sandbox Soap Co"} in clients
    client = hook.get_client()
    assert client["id"] == sandbox_dp.CLIENT_ID and client["currency"]
    ok, message = hook.test_connection()
    assert ok and "Sandbox Soap Co" in message


def test_check_connection_names_the_agencys_clients_when_client_is_elsewhere(sandbox, monkeypatch):
    set_conn(monkeypatch, sandbox, "dp_other", extra={"client_id": sandbox_dp.OTHER_CLIENT_ID})
    ok, message = DeltaProjectsHook("dp_other").test_connection()
    assert not ok
    assert sandbox_dp.OTHER_CLIENT_ID in message and "Sandbox Soap Co" in message and "client_id" in message


def test_upload_streams_exact_body_and_becomes_processed(hook, sandbox, tmp_path):
    path = image(tmp_path)
    c = creative(path)
    asset = hook.submit(c)
    assert asset.state == AssetStatus.PENDING and asset.raw_state == "PROCESSING"
    post = api_calls(sandbox, "POST")
    assert len(post) == 1 and post[0]["status"] == 202
    assert post[0]["sha256"] == c.sha256
    expected_length = len(
        json.dumps({"name": c.name, "payload": base64.b64encode(path.read_bytes()).decode()}, separators=(",", ":"))
    )
    assert post[0]["note"] == f"content-length={expected_length}"
    assert hook.list_files() == [{"id": asset.remote_id, "name": "banner.png"}]
    status = hook.get_status([asset.remote_id])[asset.remote_id]
    assert status.state == AssetStatus.READY and status.raw_state == "PROCESSED"
    assert status.details["checksum"] == hashlib.sha1(path.read_bytes()).hexdigest().upper()
    info = hook.get_file(asset.remote_id)
    assert info["state"] == "PROCESSED"
    assert hook.file_url(asset.remote_id) == info["url"]


def test_fresh_hook_compares_checksum_case_insensitively(hook, sandbox, tmp_path):
    c = creative(image(tmp_path))
    file_id = hook.upload_file(c)
    poller = DeltaProjectsHook()
    poller.expected_checksums[file_id] = c.sha1.lower()
    status = poller.get_status([file_id])[file_id]
    assert status.state == AssetStatus.READY, status.reason


async def test_aget_status_polls_files_concurrently(hook, sandbox, tmp_path):
    ids = [
        hook.upload_file(creative(image(tmp_path, f"f{i}.png", color=c)))
        for i, c in enumerate(["red", "green", "blue", "black"])
    ]
    sandbox.state.faults.add("delay", platform=PLATFORM, method="GET", path=r"/file/", delay=0.4, count=None)
    started = time.monotonic()
    statuses = await DeltaProjectsHook().aget_status(ids)
    elapsed = time.monotonic() - started
    assert set(statuses) == set(ids)
    assert all(s.state == AssetStatus.READY for s in statuses.values())
    assert elapsed < 4 * 0.4, f"status polls ran one after another ({elapsed:.2f} s)"


def test_unprocessable_is_rejected_with_reason(hook, sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "bad*.png", "UNPROCESSABLE"))
    file_id = hook.upload_file(creative(image(tmp_path, "bad.png")))
    status = hook.get_status([file_id])[file_id]
    assert status.state == AssetStatus.REJECTED and status.raw_state == "UNPROCESSABLE"
    assert "UNPROCESSABLE" in status.reason


def test_checksum_mismatch_is_reported(hook, sandbox, tmp_path):
    sandbox.state.outcomes.append(Outcome(PLATFORM, "mangled.png", "corrupt"))
    c = creative(image(tmp_path, "mangled.png"))
    asset = hook.submit(c)
    status = hook.get_status([asset.remote_id])[asset.remote_id]
    assert status.state == AssetStatus.REJECTED and status.raw_state == "PROCESSED"
    assert "checksum mismatch" in status.reason and c.sha1.lower() in status.reason
    assert status.details["checksum"] in status.reason


def test_location_forms():
    assert file_id_from_location("4a2a6200-e1d9-4758-8178-c43f992a391f") == "4a2a6200-e1d9-4758-8178-c43f992a391f"
    assert file_id_from_location("https://api.example/api/v1/media_agency/a/client/c/file/abc-1") == "abc-1"
    assert file_id_from_location("/api/v1/media_agency/a/client/c/file/abc-2/?apikey=x") == "abc-2"
    assert file_id_from_location("") is None and file_id_from_location(None) is None


def test_upload_answered_201_with_entity_url(tmp_path, monkeypatch):
    """The general docs promise 201 + the entity URL for creates: parsed like the bare 202 id."""
    app = FastAPI()
    seen = {}

    @app.post("/api/v1/media_agency/{agency}/client/{client}/file")
    async def create(agency: str, client: str, request: Request) -> Response:
        seen["apikey"] = request.query_params.get("apikey")
        seen["body"] = json.loads(await request.body())
        url = f"{request.base_url}api/v1/media_agency/{agency}/client/{client}/file/f-201"
        return Response(status_code=201, headers={"Location": url})

    @app.get("/api/v1/media_agency/{agency}/client/{client}/file/{file_id}")
    def retrieve(file_id: str) -> Response:
        return JSONResponse({"id": file_id, "name": "x.png", "state": "PROCESSING", "url": None, "checksum": None})

    path = image(tmp_path)
    with serve(app) as url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_DP_201",
            json.dumps(
                {
                    "conn_type": "delta_projects",
                    "host": url,
                    "password": "k-201-secret",
                    "extra": {"media_agency_id": "a", "client_id": "c"},
                }
            ),
        )
        hook = DeltaProjectsHook("dp_201")
        assert hook.upload_file(creative(path)) == "f-201"
    assert seen["apikey"] == "k-201-secret"
    assert base64.b64decode(seen["body"]["payload"]) == path.read_bytes()


def test_lenient_json_of_documented_examples():
    doc_example = b'[{"id": "86b3", "name": "soap_april_2018.jpg",}, {"id": "86b4", "name": "cat.jpg",}]'
    assert loads_lenient(doc_example) == [
        {"id": "86b3", "name": "soap_april_2018.jpg"},
        {"id": "86b4", "name": "cat.jpg"},
    ]
    assert loads_lenient(b'{"state": "PROCESSED", "checksum": "43EF",\n\n}') == {
        "state": "PROCESSED",
        "checksum": "43EF",
    }


def test_checksum_mismatch_helper():
    assert (
        checksum_mismatch("f", "43EFE823A24AF16F8D596F414A695E82414C1D80", "43efe823a24af16f8d596f414a695e82414c1d80")
        is None
    )
    assert "checksum mismatch" in checksum_mismatch("f", "43EF", "0000")
    assert checksum_mismatch("f", "43EF", None) is None


# --------------------------------------------------------------------------- documented errors
def test_wrong_api_key_is_final_401(sandbox, monkeypatch):
    set_conn(monkeypatch, sandbox, "dp_badkey", password="wrong-key-123456")
    hook = DeltaProjectsHook("dp_badkey")
    with pytest.raises(PlatformAuthError) as info:
        hook.list_files()
    assert info.value.status == 401 and "API key" in str(info.value)
    assert "wrong-key-123456" not in str(info.value)
    assert len(api_calls(sandbox)) == 1  # no refresh, no retry


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"media_agency_id": "00000000-0000-0000-0000-000000000000"}, "media_agency_id"),
        ({"client_id": "00000000-0000-0000-0000-000000000001"}, "client_id"),
        ({"client_id": sandbox_dp.OTHER_CLIENT_ID}, "client_id"),
    ],
)
def test_unknown_agency_or_client_is_404_naming_the_extras(sandbox, monkeypatch, extra, named):
    set_conn(monkeypatch, sandbox, "dp_404", extra=extra)
    with pytest.raises(PlatformRequestError) as info:
        DeltaProjectsHook("dp_404").list_files()
    assert info.value.status == 404 and named in str(info.value)
    assert len(api_calls(sandbox)) == 1


def test_unknown_file_is_404(hook):
    with pytest.raises(PlatformRequestError) as info:
        hook.get_file("4a2a6200-e1d9-4758-8178-c43f992a391f")
    assert info.value.status == 404 and "file id" in str(info.value)


def test_malformed_upload_is_400(hook, sandbox):
    with pytest.raises(PlatformRequestError) as info:
        hook.request("POST", hook.files_path, json={"name": "x.png", "payload": "not base64!"}, idempotent=False)
    assert info.value.status == 400 and "base64" in str(info.value)


def test_payload_too_large_is_413_naming_the_size_extra(hook, sandbox, tmp_path):
    path = image(tmp_path, size=(200, 200))
    sandbox_dp.configure(sandbox.state, max_payload_bytes=path.stat().st_size)  # base64 adds a third
    with pytest.raises(PlatformRequestError) as info:
        hook.submit(creative(path))
    assert info.value.status == 413 and "max_file_bytes" in str(info.value)
    assert files_on_platform(sandbox) == []


def test_missing_extra_is_named(sandbox, monkeypatch):
    set_conn(monkeypatch, sandbox, "dp_noclient", drop_extra=["client_id"])
    with pytest.raises(PlatformConfigError) as info:
        DeltaProjectsHook("dp_noclient").list_files()
    assert "'client_id'" in str(info.value) and "dp_noclient" in str(info.value)
    assert api_calls(sandbox) == []


def test_invalid_max_file_bytes_is_a_config_error(sandbox, monkeypatch, tmp_path):
    set_conn(monkeypatch, sandbox, "dp_badmax", extra={"max_file_bytes": "lots"})
    with pytest.raises(PlatformConfigError, match="max_file_bytes"):
        DeltaProjectsHook("dp_badmax").check_creative(creative(image(tmp_path)))


# --------------------------------------------------------------------------- reliability
@pytest.mark.parametrize("retry_after", ["1", None])
def test_429_is_retried_with_and_without_retry_after(hook, sandbox, retry_after):
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=429, retry_after=retry_after)
    started = time.monotonic()
    assert hook.list_files() == []
    elapsed = time.monotonic() - started
    assert [e["status"] for e in api_calls(sandbox)] == [429, 200]
    if retry_after:
        assert elapsed >= 1.0


def test_429_on_upload_is_retried_once_no_second_file(hook, sandbox, tmp_path):
    sandbox.state.faults.add("status", platform=PLATFORM, method="POST", status=429, retry_after="0")
    hook.submit(creative(image(tmp_path)))
    assert [e["status"] for e in api_calls(sandbox, "POST")] == [429, 202]
    assert len(files_on_platform(sandbox)) == 1


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_5xx_and_dropped_connection_on_get_are_retried(hook, sandbox, kind):
    sandbox.state.faults.add(kind, platform=PLATFORM, method="GET", status=503, count=2)
    assert hook.list_clients()
    assert len(api_calls(sandbox)) == 3


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_upload_not_processed_is_looked_up_then_sent_again(hook, sandbox, tmp_path, kind):
    """A 503 or a connection dropped before processing: the lookup finds nothing, one resend."""
    sandbox.state.faults.add(kind, platform=PLATFORM, method="POST", status=503)
    asset = hook.submit(creative(image(tmp_path)))
    posts = api_calls(sandbox, "POST")
    assert len(posts) == 2 and posts[-1]["status"] == 202
    assert len(api_calls(sandbox, "GET", FILES)) == 1  # the lookup listed the files before resending
    assert [f["id"] for f in files_on_platform(sandbox)] == [asset.remote_id]


def test_lost_upload_answer_is_recovered_without_a_second_file(hook, sandbox, tmp_path):
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST")
    c = creative(image(tmp_path))
    asset = hook.submit(c)
    posts = api_calls(sandbox, "POST")
    assert [p["status"] for p in posts] == ["dropped_after"]
    assert [f["id"] for f in files_on_platform(sandbox)] == [asset.remote_id] == [posts[0]["remote_id"]]
    assert hook.get_status([asset.remote_id])[asset.remote_id].state == AssetStatus.READY


def test_lost_answer_picks_the_file_with_matching_sha1_among_same_names(hook, sandbox, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    earlier = hook.upload_file(creative(image(old, "banner.png", color="blue")))
    hook.get_status([earlier])  # processed: its checksum is the blue image's
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=2, seconds=None)  # the new one is still PROCESSING
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST")
    asset = hook.submit(creative(image(tmp_path, "banner.png", color="red")))
    assert asset.remote_id != earlier
    assert asset.remote_id == api_calls(sandbox, "POST")[-1]["remote_id"]
    assert len(api_calls(sandbox, "POST")) == 2 and len(files_on_platform(sandbox)) == 2


def test_lost_answer_undecidable_in_time_is_not_resent(hook, sandbox, tmp_path):
    sandbox.state.speeds[PLATFORM] = ProcessingSpeed(polls=None, seconds=3600)
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST")
    hook.recovery_wait = 0.3
    with pytest.raises(UncertainOutcome, match="still PROCESSING"):
        hook.submit(creative(image(tmp_path)))
    assert len(api_calls(sandbox, "POST")) == 1 and len(files_on_platform(sandbox)) == 1


def test_retried_task_resumes_instead_of_uploading_again(hook, sandbox, tmp_path):
    c = creative(image(tmp_path))
    first = hook.submit(c)
    again = DeltaProjectsHook().submit(c, resume=True)
    assert again.remote_id == first.remote_id
    assert len(api_calls(sandbox, "POST")) == 1 and len(files_on_platform(sandbox)) == 1


def test_resume_with_nothing_uploaded_uploads(hook, sandbox, tmp_path):
    asset = hook.submit(creative(image(tmp_path)), resume=True)
    assert [f["id"] for f in files_on_platform(sandbox)] == [asset.remote_id]


# --------------------------------------------------------------------------- local rules
def _assert_refused(hook, sandbox, path: Path, rule: str, *words: str) -> CreativeRefused:
    with pytest.raises(CreativeRefused) as info:
        hook.submit(Creative.inspect(path, sha1=True))
    assert info.value.rule == rule and path.name in str(info.value)
    for word in words:
        assert word in str(info.value)
    assert api_calls(sandbox) == []
    return info.value


def test_rules_refuse_wrong_type(hook, sandbox, tmp_path):
    path = tmp_path / "banner.webp"
    Image.new("RGB", (10, 10)).save(path, "WEBP")
    _assert_refused(hook, sandbox, path, "type", "jpg, gif and png")


def stored_names(sandbox) -> list[str]:
    return sorted(f["name"] for f in sandbox.state.store(PLATFORM)["files"].values())


def test_jpeg_extension_is_a_jpeg_and_is_sent(hook, sandbox, tmp_path):
    jpeg = tmp_path / "photo.jpeg"
    Image.new("RGB", (10, 10)).save(jpeg, "JPEG")
    remote = hook.submit(Creative.inspect(jpeg, sha1=True))
    assert stored_names(sandbox) == ["photo.jpg"] and remote.warnings == ()
    assert hook.get_status([remote.remote_id])[remote.remote_id].state == AssetStatus.READY


def test_content_unlike_its_extension_is_sent_with_its_real_type_and_a_warning(hook, sandbox, tmp_path):
    fake = tmp_path / "fake.jpg"
    Image.new("RGB", (10, 10)).save(fake, "PNG")
    bare = tmp_path / "banner"
    Image.new("RGB", (10, 10)).save(bare, "PNG")
    warnings = [hook.submit(Creative.inspect(path, sha1=True)).warnings for path in (fake, bare)]
    assert stored_names(sandbox) == ["banner.png", "fake.png"]
    assert "fake.jpg: the content is image/png but the name says image/jpeg" in warnings[0][0]
    assert "banner: the content is image/png" in warnings[1][0]


def test_rules_refuse_video_saying_files_api_takes_no_video(hook, sandbox, tmp_path):
    path = tmp_path / "spot.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    _assert_refused(hook, sandbox, path, "type", "does not take video")


def test_rules_refuse_empty_and_corrupt(hook, sandbox, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _assert_refused(hook, sandbox, empty, "empty")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(image(tmp_path, "whole.png", size=(100, 100)).read_bytes()[:120])
    _assert_refused(hook, sandbox, corrupt, "corrupt")


def test_rules_refuse_oversize_by_connection_limit(sandbox, monkeypatch, tmp_path):
    path = image(tmp_path, size=(100, 100))
    set_conn(monkeypatch, sandbox, "dp_small", extra={"max_file_bytes": str(path.stat().st_size - 1)})
    refusal = _assert_refused(DeltaProjectsHook("dp_small"), sandbox, path, "size", str(path.stat().st_size - 1))
    # Delta documents no size limit: the message says the limit is this project's guard and how to raise it.
    assert "a guard of this project, not a limit delta_projects documents" in str(refusal)
    assert "max_file_bytes" in str(refusal)
    assert DeltaProjectsHook().max_file_bytes == 10 * 1024 * 1024


# --------------------------------------------------------------------------- secrets
async def test_api_key_never_in_logs_or_exception_texts(hook, sandbox, api_key, tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    messages: list[str] = []
    sandbox.state.faults.add("drop_after", platform=PLATFORM, method="POST")
    asset = hook.submit(creative(image(tmp_path)))
    hook.get_status([asset.remote_id])
    await DeltaProjectsHook().aget_status([asset.remote_id])
    sandbox.state.faults.add("status", platform=PLATFORM, method="GET", status=503, count=None)
    with pytest.raises(PlatformError) as unavailable:
        hook.get_file(asset.remote_id)
    messages.append(str(unavailable.value))
    sandbox.state.faults.clear()
    with pytest.raises(PlatformRequestError) as missing:
        hook.get_file("no-such-file")
    messages.append(str(missing.value))
    set_conn(monkeypatch, sandbox, "dp_leak", password=api_key + "-wrong")
    with pytest.raises(PlatformAuthError) as denied:
        DeltaProjectsHook("dp_leak").list_files()
    messages.append(str(denied.value))
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/file" in line for line in urllib3_lines), "urllib3 debug lines were not captured"
    assert any("/file" in line for line in httpx_lines), "httpx request lines were not captured"
    captured = capsys.readouterr()
    everything = "\n".join(
        [caplog.text, *(r.getMessage() for r in caplog.records), *messages, captured.out, captured.err]
    )
    assert api_key not in everything
    assert "apikey=" not in everything


def test_upload_that_timed_out_is_looked_up_before_sending_again(sandbox, monkeypatch, tmp_path):
    set_conn(monkeypatch, sandbox, "dp_fast", extra={"timeout": 0.5})
    sandbox.state.faults.add("delay", platform=PLATFORM, method="POST", delay=1.0)
    hook = DeltaProjectsHook("dp_fast")
    hook.recovery_poll = 0.05
    asset = hook.submit(creative(image(tmp_path)))
    # the delayed first request ends on the server side (journaled, whatever it does): wait for that event
    deadline = time.monotonic() + 30
    while len(api_calls(sandbox, "POST")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    names = [f["name"] for f in files_on_platform(sandbox)]
    assert len(api_calls(sandbox, "GET", FILES)) >= 1  # looked up before deciding
    assert asset.remote_id in {f["id"] for f in files_on_platform(sandbox)}
    assert names == ["banner.png"], "a timed-out upload was repeated although it had created a file"
