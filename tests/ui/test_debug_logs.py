"""At DEBUG level our own log lines stay secret-free through a whole sync of the five platforms.

Airflow 3.3's in-process supervisor (``airflow dags test``, ``dag.test()``) logs each ``MaskSecret``
request in clear at DEBUG ("Sending request", ``airflow/sdk/execution_time/supervisor.py``); that
is Airflow's line, documented in the README's security notes. This test covers ours: the engine,
hooks and ledger run at DEBUG against the sandbox, and every secret the run used (connection
passwords and secret extras, the tokens and sessions the platforms issued, presigned signatures
and POST policies) is looked for in the captured logs, stderr/stdout and the report.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sandbox import s3 as sandbox_s3
from airflow_creative_provider.sandbox.state import ProcessingSpeed
from airflow_creative_provider.sync.ledger import Ledger

from .conftest import EXAMPLES, sync

SECRET_EXTRAS = ("refresh_token", "client_secret", "api_key", "secret", "token")
SIGNATURE_PARAMS = ("X-Amz-Signature", "Signature", "X-Amz-Security-Token")


def connection_secrets(connections: dict[str, dict[str, Any]]) -> set[str]:
    found = set()
    for conn in connections.values():
        if conn.get("password"):
            found.add(conn["password"])
        for key, value in (conn.get("extra") or {}).items():
            if isinstance(value, str) and any(word in key for word in SECRET_EXTRAS):
                found.add(value)
    return found


def test_a_sync_at_debug_level_logs_no_secret(
    creative_sandbox_env: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = creative_sandbox_env.state
    for platform in PLATFORMS:
        state.speeds[platform] = ProcessingSpeed(polls=1, seconds=None)
    issued: set[str] = set()

    def keep(value: str) -> None:
        if value and len(value) >= 8:
            issued.add(value)

    # every presigned URL and POST policy the sandbox hands out or checks (hook-made presigned GETs too)
    presign_put, presign_post = sandbox_s3.SandboxS3.presign_put, sandbox_s3.SandboxS3.presign_post
    check_signature = sandbox_s3.S3Guard._check_query_signature

    def put(self: Any, *args: Any, **kwargs: Any) -> str:
        url = presign_put(self, *args, **kwargs)
        for name, value in parse_qsl(urlsplit(url).query):
            if name in SIGNATURE_PARAMS:
                keep(value)
        return url

    def post(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        form = presign_post(self, *args, **kwargs)
        for name, value in form["fields"].items():
            if name.lower() in ("policy", "x-amz-signature", "signature", "x-amz-security-token"):
                keep(value)
        return form

    def check(self: Any, environ: Any, method: str, raw_path: str, query: Any, params: Any, *rest: Any) -> Any:
        for name, value in query:
            if name in SIGNATURE_PARAMS:
                keep(value)
        return check_signature(self, environ, method, raw_path, query, params, *rest)

    monkeypatch.setattr(sandbox_s3.SandboxS3, "presign_put", put)
    monkeypatch.setattr(sandbox_s3.SandboxS3, "presign_post", post)
    monkeypatch.setattr(sandbox_s3.S3Guard, "_check_query_signature", check)

    folder = tmp_path / "creatives"
    shutil.copytree(EXAMPLES, folder)
    with caplog.at_level(logging.DEBUG):
        report = sync(folder, Ledger(f"sqlite:///{tmp_path / 'ledger.db'}"), "debug-1")

    tokens = {token for per_platform in state._tokens.values() for token in per_platform}
    secrets = connection_secrets(creative_sandbox_env.connections()) | tokens | issued
    captured = capsys.readouterr()
    exposed = "\n".join([caplog.text, captured.out, captured.err, json.dumps(report, default=str)])

    debug_lines = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name.startswith("airflow_creative")]
    assert len(debug_lines) > 20, "the sync logged no DEBUG line of ours: nothing was checked"
    assert len(tokens) >= 2 and len(issued) >= 3, (tokens, issued)  # tokens/sessions and signatures were used
    assert report["rows"] and not report["failed"]
    leaked = sorted(secret[:6] + "…" for secret in secrets if secret in exposed)
    assert not leaked, f"secrets in the DEBUG logs: {leaked}"
