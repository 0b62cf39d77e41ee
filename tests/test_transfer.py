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

from airflow_creative_provider.content import ContentChanged, check_unchanged, parse_location, split_revision
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.transfer import (
    PAYLOAD,
    Progress,
    TransferAdapter,
    base64_json_body,
    base64_length,
    form_body,
    put_body,
)
from tests.support.servers import serve

#: how many requests each sink route processed (a broken-off body is never processed).
_RECEIVED: dict[str, int] = {}


def _sink_app() -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        _RECEIVED[request.url.path] = _RECEIVED.get(request.url.path, 0) + 1
        return response

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


class FakeClock:
    """A monotonic clock the test moves: ``tick`` seconds pass at every reading."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now = 1000.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_progress_during_one_file_every_5_percent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _file(tmp_path, 20 * 1024 * 1024)
    caplog.set_level("INFO", logger="airflow_creative_provider.transfer")
    body = put_body(path, read_block=256 * 1024, clock=FakeClock(tick=0.1))  # fast: 5 % comes before 10 s
    while body.read(256 * 1024):
        pass
    lines = [r.getMessage() for r in caplog.records]
    # 80 blocks of 1.25 %: a line every 5 % (4 blocks), then the final one.
    assert len(lines) == 20, lines
    assert lines[0] == f"{path.name}: 1.0 of 21.0 MB sent (5%), 2.6 MB/s, about 8s left"
    assert "21.0 of 21.0 MB sent (100%) in 8s, 2.6 MB/s" in lines[-1]


def test_progress_during_one_slow_file_every_10_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="airflow_creative_provider.transfer")
    clock = FakeClock()
    progress = Progress("video.mp4", 2_000_000_000, clock=clock)
    for step in range(1, 26):  # 1 MB a second: 5 % would take 100 s
        clock.now += 1
        progress.update(step * 1_000_000)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "video.mp4: 10.0 of 2000.0 MB sent (0%), 1.0 MB/s, about 33m10s left",
        "video.mp4: 20.0 of 2000.0 MB sent (1%), 1.0 MB/s, about 33m00s left",
    ]


def test_small_files_log_no_progress(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="airflow_creative_provider.transfer")
    body = put_body(_file(tmp_path, 1024 * 1024), clock=FakeClock(tick=60))
    body.read()
    assert caplog.records == []


def _grow(path: Path, extra: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(extra)


BODIES = {
    "put": put_body,
    "form": lambda c: form_body({"k": "v"}, c),
    "base64": lambda c: base64_json_body({"payload": PAYLOAD}, c),
}


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize("change", ["bigger", "same size", "smaller"])
def test_a_file_changed_since_the_plan_never_completes_a_body(
    sink, session, tmp_path: Path, kind: str, change: str
) -> None:
    """The planned size goes in Content-Length; the body breaks off before its last bytes, so nothing lands."""
    path = _file(tmp_path, 3 * 1024 * 1024 + 5)
    creative = Creative.inspect(path)
    if change == "bigger":
        _grow(path, b"more")
    elif change == "same size":
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(path.read_bytes()[:1000])
    received_before = dict(_RECEIVED)
    with pytest.raises(ContentChanged, match="changed during the run") as caught:
        session.put(f"{sink}/put", data=BODIES[kind](creative))
    assert caught.value.file == creative.key
    assert _RECEIVED == received_before, "the sink processed no request"


def test_an_unchanged_creative_streams_its_planned_bytes(sink, session, tmp_path: Path) -> None:
    path = _file(tmp_path, 2 * 1024 * 1024 + 1)
    creative = Creative.inspect(path)
    got = session.put(f"{sink}/put", data=put_body(creative)).json()
    assert got["sha256"] == creative.sha256 and got["content_length"] == str(creative.size)


@pytest.fixture
def s3_object(creative_sandbox_env: Any) -> str:
    """A 2 MiB object in the sandbox's S3, named with its connection (``s3://conn@bucket/key``)."""
    s3 = creative_sandbox_env.state.s3
    bucket = s3.ensure_bucket("transfer-source")
    s3.client.put_object(Bucket=bucket, Key="drop/clip.bin", Body=os.urandom(2 * 1024 * 1024 + 3))
    return f"s3://creative_sandbox_s3@{bucket}/drop/clip.bin"


def test_a_creative_on_object_storage_streams_from_there(sink, session, s3_object: str) -> None:
    creative = Creative.inspect(s3_object)
    assert creative.revision, "the object's ETag is recorded as the planned version"
    got = session.put(f"{sink}/put", data=put_body(creative)).json()
    assert got["sha256"] == creative.sha256
    got = session.put(f"{sink}/put", data=put_body(s3_object)).json()  # a bare URI streams too
    assert got["sha256"] == creative.sha256


def test_an_object_overwritten_since_the_plan_is_not_sent(
    sink, session, creative_sandbox_env: Any, s3_object: str
) -> None:
    creative = Creative.inspect(s3_object)
    location = parse_location(s3_object)
    creative_sandbox_env.state.s3.client.put_object(Bucket=location.bucket, Key=location.key, Body=b"new content")
    with pytest.raises(ContentChanged, match="changed during the run"):
        check_unchanged(creative)
    with pytest.raises(ContentChanged, match="changed during the run"):
        session.put(f"{sink}/put", data=put_body(creative))


def test_parse_location() -> None:
    assert parse_location("/data/a.png").local_path == "/data/a.png"
    assert parse_location("file:///data/a.png").local_path == "/data/a.png"
    s3 = parse_location("s3://my_conn@bucket/drop/a b.png")
    assert (s3.protocol, s3.conn_id, s3.bucket, s3.key) == ("s3", "my_conn", "bucket", "drop/a b.png")
    assert s3.plain_uri == "s3://bucket/drop/a b.png"
    versioned = parse_location("s3://c@bucket/a.png?versionId=v1")
    assert (versioned.uri, versioned.key, versioned.version_id) == ("s3://c@bucket/a.png", "a.png", "v1")
    plain = parse_location("s3://bucket/a.png")
    assert (plain.conn_id, plain.bucket, plain.key) == (None, "bucket", "a.png")


def test_a_versioned_object_overwritten_since_the_plan_sends_the_planned_version(
    sink, session, creative_sandbox_env: Any
) -> None:
    s3 = creative_sandbox_env.state.s3
    bucket = s3.ensure_bucket("transfer-versioned")
    s3.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    planned = os.urandom(1024 * 1024 + 9)
    s3.client.put_object(Bucket=bucket, Key="drop/clip.bin", Body=planned)
    creative = Creative.inspect(f"s3://creative_sandbox_s3@{bucket}/drop/clip.bin")
    etag, version_id = split_revision(creative.revision)
    assert etag and version_id, creative.revision
    s3.client.put_object(Bucket=bucket, Key="drop/clip.bin", Body=b"overwritten after the plan")

    check_unchanged(creative)  # the planned version is still there
    got = session.put(f"{sink}/put", data=put_body(creative)).json()
    assert got["sha256"] == hashlib.sha256(planned).hexdigest() == creative.sha256

    s3.client.delete_object(Bucket=bucket, Key="drop/clip.bin", VersionId=version_id)
    with pytest.raises(ContentChanged, match=r"changed during the run \(it is gone\)"):
        check_unchanged(creative)
    with pytest.raises(ContentChanged, match="changed during the run"):
        put_body(creative)
