"""The streaming bodies deliver exactly the right bytes, with one exact Content-Length."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request

from airflow_creative_provider.transfer import (
    PAYLOAD,
    TransferAdapter,
    base64_json_body,
    base64_length,
    form_body,
    put_body,
)
from tests.support.servers import serve


def _sink_app() -> FastAPI:
    app = FastAPI()

    @app.put("/put")
    async def put(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {
            "sha256": hashlib.sha256(body).hexdigest(),
            "length": len(body),
            "content_length": request.headers.get("content-length"),
            "transfer_encoding": request.headers.get("transfer-encoding"),
        }

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        raw = await request.body()
        parsed = await request.form()
        fields = {k: v for k, v in parsed.multi_items() if isinstance(v, str)}
        upload = parsed["file"]
        data = await upload.read()
        return {
            "fields": fields,
            "order": [k for k, _ in parsed.multi_items()],
            "filename": upload.filename,
            "file_type": upload.content_type,
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_length": int(request.headers["content-length"]),
            "raw_length": len(raw),
        }

    @app.post("/json")
    async def as_json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        doc = json.loads(raw)
        payload = doc.get("payload") or json.loads(doc["assets"])[0]["encoded_image_file"]
        data = base64.b64decode(payload, validate=True)
        return {
            "doc": {k: v for k, v in doc.items() if k != "payload"},
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_length": int(request.headers["content-length"]),
            "raw_length": len(raw),
            "transfer_encoding": request.headers.get("transfer-encoding"),
        }

    return app


@pytest.fixture(scope="module")
def sink():
    with serve(_sink_app()) as url:
        yield url


@pytest.fixture(scope="module")
def session():
    session = requests.Session()
    session.mount("http://", TransferAdapter())
    return session


SIZES = [1, 2, 3, 4, 5, 1000, 3 * 256 * 1024 + 1, 2 * 1024 * 1024 + 7]


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"f{size}.bin"
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("size", SIZES)
def test_put_body_streams_exact_bytes(sink, session, tmp_path: Path, size: int) -> None:
    path = _file(tmp_path, size)
    body = put_body(path, hashes=("sha256", "sha1"))
    got = session.put(f"{sink}/put", data=body).json()
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert got["sha256"] == expected
    assert got["content_length"] == str(size) and got["transfer_encoding"] is None
    assert body.digests() == {"sha256": expected, "sha1": hashlib.sha1(path.read_bytes()).hexdigest()}


@pytest.mark.parametrize("size", [1, 5, 1024 * 1024 + 3])
def test_form_body_fields_unchanged_and_file_last(sink, session, tmp_path: Path, size: int) -> None:
    path = _file(tmp_path, size)
    fields = {"key": "uploads/a b.png", "policy": "eyJleHAiOiAxfQ==", "x-amz-signature": "abc123", "acl": ""}
    body = form_body(fields, path, filename="asset-1", file_content_type="image/png")
    got = session.post(f"{sink}/form", data=body, headers={"Content-Type": body.content_type}).json()
    assert got["fields"] == fields
    assert got["order"][-1] == "file"
    assert got["filename"] == "asset-1" and got["file_type"] == "image/png"
    assert got["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert got["content_length"] == got["raw_length"] == len(body)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 3 * 256 * 1024, 3 * 256 * 1024 + 2, 2 * 1024 * 1024 + 1])
def test_base64_json_body_decodes_to_the_file(sink, session, tmp_path: Path, size: int) -> None:
    path = _file(tmp_path, size)
    body = base64_json_body({"name": 'logo "x".png', "payload": PAYLOAD}, path, hashes=("sha1",))
    assert len(body) == len(json.dumps({"name": 'logo "x".png', "payload": ""}, separators=(",", ":"))) + base64_length(
        size
    )
    got = session.post(f"{sink}/json", data=body, headers={"Content-Type": body.content_type}).json()
    assert got["doc"] == {"name": 'logo "x".png'}
    assert got["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert got["content_length"] == got["raw_length"] and got["transfer_encoding"] is None
    assert body.digests()["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()


def test_base64_inside_a_nested_json_string(sink, session, tmp_path: Path) -> None:
    path = _file(tmp_path, 100_000)
    assets = json.dumps([{"encoded_image_file": PAYLOAD, "image_filename": "logo.png"}])
    body = base64_json_body({"creative_name": "c", "assets": assets}, path)
    got = session.post(f"{sink}/json", data=body, headers={"Content-Type": "application/json"}).json()
    assert got["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(got["doc"]["assets"])[0]["image_filename"] == "logo.png"


def test_body_reads_in_bounded_blocks(tmp_path: Path) -> None:
    path = _file(tmp_path, 5 * 1024 * 1024)
    body = base64_json_body({"payload": PAYLOAD}, path)
    sizes = []
    while chunk := body.read(1024 * 1024):
        sizes.append(len(chunk))
    assert max(sizes) <= 1024 * 1024
    assert sum(sizes) == len(body)


def test_file_shrinking_mid_send_is_an_error(tmp_path: Path) -> None:
    path = _file(tmp_path, 10)
    with open(path, "rb") as handle:
        body = put_body(handle, 20)
        with pytest.raises(OSError, match="changed while being sent"):
            body.read()


def test_marker_must_appear_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        base64_json_body({"payload": "nothing"}, _file(tmp_path, 3))
    with pytest.raises(ValueError):
        put_body(open(_file(tmp_path, 3), "rb"))  # noqa: SIM115 - size is required for a file object


def test_progress_is_logged_for_large_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _file(tmp_path, 9 * 1024 * 1024)
    caplog.set_level("INFO", logger="airflow_creative_provider.transfer")
    body = put_body(path)
    while body.read(1024 * 1024):
        pass
    lines = [r.getMessage() for r in caplog.records]
    assert any("100% of 9.4 MB sent" in line and "MB/s" in line for line in lines)
    assert 2 <= len(lines) <= 11
