"""The sandbox core: faults, journal, reset, processing speed, the strict S3 guard, the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import pytest
import requests

from airflow_creative_provider.sandbox.state import ProcessingSpeed


@pytest.fixture
def sandbox(creative_sandbox):
    creative_sandbox.reset()
    yield creative_sandbox
    creative_sandbox.reset()


def _control(sandbox, method: str, path: str, **kwargs):
    response = requests.request(method, f"{sandbox.url}/_sandbox/{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def test_status_fault_with_retry_after_then_normal(sandbox) -> None:
    _control(
        sandbox,
        "POST",
        "faults",
        json={"kind": "status", "platform": "demo", "status": 429, "retry_after": 3, "count": 2},
    )
    first = requests.get(f"{sandbox.url}/demo/things", timeout=5)
    second = requests.get(f"{sandbox.url}/demo/things", timeout=5)
    third = requests.get(f"{sandbox.url}/demo/things", timeout=5)
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 404]
    assert first.headers["Retry-After"] == "3"
    statuses = [e["status"] for e in sandbox.journal(platform="demo")]
    assert statuses == [429, 429, 404]


def test_fault_matches_method_and_path_pattern(sandbox) -> None:
    sandbox.state.faults.add("status", platform="demo", method="POST", path=r"^/assets$", status=500, count=None)
    assert requests.get(f"{sandbox.url}/demo/assets", timeout=5).status_code == 404
    assert requests.post(f"{sandbox.url}/demo/assets/1", timeout=5).status_code == 404
    assert requests.post(f"{sandbox.url}/demo/assets", timeout=5).status_code == 500
    assert requests.post(f"{sandbox.url}/demo/assets", timeout=5).status_code == 500


def test_probability_is_seeded_and_reproducible(sandbox) -> None:
    def run() -> list[int]:
        sandbox.state.faults.clear()
        sandbox.state.faults.seed(42)
        sandbox.state.faults.add("status", platform="demo", status=503, count=None, probability=0.5)
        return [requests.get(f"{sandbox.url}/demo/x", timeout=5).status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert 503 in first and 404 in first


def test_delay_fault(sandbox) -> None:
    sandbox.state.faults.add("delay", platform="demo", delay=0.6)
    started = time.monotonic()
    requests.get(f"{sandbox.url}/demo/x", timeout=5)
    assert time.monotonic() - started >= 0.55


def test_drop_closes_the_connection_without_answer(sandbox) -> None:
    sandbox.state.faults.add("drop", platform="demo")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sandbox.url}/demo/x", timeout=5)
    assert sandbox.journal(platform="demo")[0]["status"] == "dropped"
    assert requests.get(f"{sandbox.url}/demo/x", timeout=5).status_code == 404


def test_drop_after_processes_then_drops(sandbox) -> None:
    sandbox.state.faults.add("drop_after", platform="demo", method="POST")
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sandbox.url}/demo/x", timeout=5)
    assert sandbox.journal(platform="demo")[0]["status"] == "dropped_after"


def test_expire_token_fault_expires_issued_tokens(sandbox) -> None:
    token = sandbox.state.issue_token("demo", ttl=3600)
    assert sandbox.state.token_valid("demo", token)
    sandbox.state.faults.add("expire_token", platform="demo")
    requests.get(f"{sandbox.url}/demo/x", timeout=5)
    assert not sandbox.state.token_valid("demo", token)


def test_tokens_expire_on_the_sandbox_clock(sandbox) -> None:
    token = sandbox.state.issue_token("demo", ttl=60)
    _control(sandbox, "POST", "clock", params={"advance": 61})
    assert not sandbox.state.token_valid("demo", token)


def test_processing_finishes_after_polls_or_seconds(sandbox) -> None:
    state = sandbox.state
    _control(sandbox, "PUT", "processing", json={"platform": "demo", "polls": 3})
    state.start_job("demo", "a")
    assert [state.poll_job("demo", "a") for _ in range(3)] == [False, False, True]
    state.speeds["demo"] = ProcessingSpeed(polls=None, seconds=30)
    state.start_job("demo", "b")
    assert state.poll_job("demo", "b") is False
    state.advance_clock(31)
    assert state.poll_job("demo", "b") is True


def test_reset_clears_faults_journal_and_objects(sandbox) -> None:
    sandbox.state.faults.add("status", platform="demo", path="^/api/", count=None)
    url = sandbox.state.s3.presign_put("demo", "k.bin", expires=60)
    requests.put(url, data=b"abc", timeout=5)
    assert sandbox.state.s3.get("demo", "k.bin") == b"abc"
    _control(sandbox, "POST", "reset")
    assert sandbox.state.faults.list() == [] and sandbox.journal() == []
    assert sandbox.state.s3.get("demo", "k.bin") is None


def test_s3_put_checks_signed_content_type_and_records_sha256(sandbox) -> None:
    s3 = sandbox.state.s3
    url = s3.presign_put("demo", "a/logo.png", expires=900, content_type="image/png")
    wrong = requests.put(url, data=b"png-bytes", headers={"Content-Type": "image/jpeg"}, timeout=5)
    assert wrong.status_code == 403 and "SignatureDoesNotMatch" in wrong.text
    ok = requests.put(url, data=b"png-bytes", headers={"Content-Type": "image/png"}, timeout=5)
    assert ok.status_code == 200
    assert s3.get("demo", "a/logo.png") == b"png-bytes"
    puts = [e for e in sandbox.journal(platform="demo") if e["method"] == "PUT"]
    assert puts[-1]["sha256"] == hashlib.sha256(b"png-bytes").hexdigest()


def test_s3_tampered_url_and_unsigned_requests_are_refused(sandbox) -> None:
    s3 = sandbox.state.s3
    url = s3.presign_put("demo", "a.bin", expires=900)
    assert requests.put(url.replace("a.bin", "b.bin"), data=b"x", timeout=5).status_code == 403
    assert requests.put(f"{s3.endpoint}/sandbox-demo/c.bin", data=b"x", timeout=5).status_code == 403
    assert s3.get("demo", "b.bin") is None and s3.get("demo", "c.bin") is None


def test_s3_presigned_put_expires(sandbox) -> None:
    s3 = sandbox.state.s3
    url = s3.presign_put("demo", "late.bin", expires=60)
    sandbox.state.advance_clock(61)
    response = requests.put(url, data=b"x", timeout=5)
    assert response.status_code == 403 and "Request has expired" in response.text


def test_s3_expire_url_fault(sandbox) -> None:
    s3 = sandbox.state.s3
    url = s3.presign_put("demo", "f.bin", expires=900)
    sandbox.state.faults.add("expire_url", platform="demo", path="/s3/")
    assert "Request has expired" in requests.put(url, data=b"x", timeout=5).text
    assert requests.put(url, data=b"x", timeout=5).status_code == 200


def test_s3_post_policy_is_enforced(sandbox) -> None:
    s3 = sandbox.state.s3
    post = s3.presign_post("demo", "p/1.png", expires=1800, fields={"Content-Type": "image/png"})
    files = {"file": ("1.png", b"data")}
    extra = requests.post(post["url"], data={**post["fields"], "x-extra": "1"}, files=files, timeout=5)
    assert extra.status_code == 403 and "Extra input fields" in extra.text
    changed = requests.post(post["url"], data={**post["fields"], "key": "p/2.png"}, files=files, timeout=5)
    assert changed.status_code == 403 and "Condition failed" in changed.text
    missing = {k: v for k, v in post["fields"].items() if k != "Content-Type"}
    assert requests.post(post["url"], data=missing, files=files, timeout=5).status_code == 403
    ok = requests.post(post["url"], data=post["fields"], files=files, timeout=5)
    assert ok.status_code == 204 and s3.get("demo", "p/1.png") == b"data"
    sandbox.state.advance_clock(1801)
    late = requests.post(post["url"], data=post["fields"], files=files, timeout=5)
    assert late.status_code == 403 and "Policy expired" in late.text


def test_s3_post_file_must_be_last(sandbox) -> None:
    s3 = sandbox.state.s3
    post = s3.presign_post("demo", "order.png", expires=1800)
    boundary = "b0undary"
    parts = [("file", b"data", True), *((k, v.encode(), False) for k, v in post["fields"].items())]
    body = b""
    for name, value, is_file in parts:
        disposition = f'form-data; name="{name}"' + ('; filename="x"' if is_file else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    response = requests.post(
        post["url"], data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=5
    )
    assert response.status_code == 400 and "last field" in response.text


def test_control_api_rejects_unknown_fault_kind(sandbox) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "meteor"}, timeout=5)
    assert response.status_code == 400 and "meteor" in response.text


def test_connections_are_served_for_airflow(sandbox) -> None:
    conns = _control(sandbox, "GET", "connections")
    assert conns["creative_sandbox_s3"]["extra"]["endpoint_url"] == sandbox.state.s3.endpoint
    env = sandbox.connection_env()
    assert json.loads(env["AIRFLOW_CONN_CREATIVE_SANDBOX_S3"])["conn_type"] == "aws"


def test_cli_prints_urls_and_connections() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_creative_provider.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if '"ready": true' in line:
                break
        output = "".join(lines)
        assert "creative sandbox on http://127.0.0.1:" in output
        assert "export AIRFLOW_CONN_CREATIVE_SANDBOX_S3=" in output
        base = output.split("creative sandbox on ")[1].split()[0]
        assert requests.get(f"{base}/_sandbox/health", timeout=5).json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(10)


def test_delay_after_processes_first_then_holds_the_answer(sandbox) -> None:
    sandbox.state.faults.add("delay_after", platform="demo", delay=0.6)
    started = time.monotonic()
    assert requests.get(f"{sandbox.url}/demo/x", timeout=5).status_code == 404
    assert time.monotonic() - started >= 0.55
    entry = sandbox.journal(platform="demo")[0]
    assert entry["status"] == 404
    assert time.time() - entry["time"] >= 0.5  # journaled before the answer was held


def test_public_urls_and_fixed_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose's set-up: clients reach the sandbox by service name, with fixed credentials."""
    import socket

    from airflow_creative_provider.sandbox.server import SandboxServer

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    s3_port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("CREATIVE_SANDBOX_PUBLIC_URL", "http://sandbox:8900")
    monkeypatch.setenv("CREATIVE_SANDBOX_S3_PORT", str(s3_port))
    monkeypatch.setenv("CREATIVE_SANDBOX_S3_PUBLIC_URL", f"http://localhost:{s3_port}")
    monkeypatch.setenv("CREATIVE_SANDBOX_CREDENTIALS", json.dumps({"delta_projects": {"apikey": "fixed-key-123"}}))
    server = SandboxServer.from_env("127.0.0.1", 0)
    try:
        conns = server.connections()
        assert conns["delta_projects_default"]["host"] == "http://sandbox:8900/delta_projects"
        assert conns["delta_projects_default"]["password"] == "fixed-key-123"
        assert conns["creative_sandbox_s3"]["extra"]["endpoint_url"] == f"http://localhost:{s3_port}"
        url = server.state.s3.presign_put("demo", "k.bin", expires=60)
        assert url.startswith(f"http://localhost:{s3_port}/")
        assert requests.put(url, data=b"x", timeout=5).status_code == 200  # signed for the public host
    finally:
        server.state.s3.stop()
