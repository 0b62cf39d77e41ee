"""The sandbox's S3: moto's server in process, behind a guard that behaves like S3 does.

moto stores objects but neither checks presigned signatures nor expiry nor POST policies.
The guard (a WSGI middleware in front of moto's app, same host and port) does: SigV4 query
signatures are verified (so a ``Content-Type`` that differs from the signed one fails with
``SignatureDoesNotMatch``), expiry is enforced against the sandbox clock (``AccessDenied``
"Request has expired"), POST policies are verified (signature, expiration, every condition,
every field covered, the file last), and injected faults apply. Each upload is journaled
with the sha256 of the bytes received.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.formparser import parse_form_data
from werkzeug.serving import make_server

INTERNAL_AGENT = "creative-sandbox-internal"


class _QuietHandler(MotoRequestHandler):
    """No access log: presigned URLs carry signatures in their query string."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class _S3Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher for an endpoint that serves only S3.

    moto finds the service of each request by listing its package folder and matching every
    service's URL patterns (several ms per request); here every request is S3, so its app is
    resolved once. moto's own ``/moto-api`` paths still go through moto's lookup.
    """

    def get_application(self, environ: dict[str, Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return super().get_application(environ)
        with self.lock:
            app = self.app_instances.get("s3")
            if app is None:
                app = self.app_instances["s3"] = self.create_app("s3")
            return app


if TYPE_CHECKING:
    from airflow_creative_provider.sandbox.state import SandboxState

ACCESS_KEY = "sandbox"
SECRET_KEY = "sandbox-secret"
REGION = "us-east-1"


def bucket_for(platform: str) -> str:
    return f"sandbox-{platform.replace('_', '-')}"


def platform_for(bucket: str) -> str:
    return bucket.removeprefix("sandbox-").replace("-", "_")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _s3_error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>sandbox</RequestId></Error>"
    ).encode()
    return status, body


class S3Guard:
    """WSGI middleware that enforces presigned-URL and POST-policy rules in front of moto."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ["REQUEST_METHOD"]
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        raw_path, _, raw_query = raw_uri.partition("?")
        path = unquote(raw_path)
        bucket = path.lstrip("/").split("/", 1)[0]
        platform = platform_for(bucket) if bucket.startswith("sandbox-") else "s3"
        fault_path = "/s3" + path
        if INTERNAL_AGENT in environ.get("HTTP_USER_AGENT", ""):
            return self.app(environ, start_response)
        entry: dict[str, Any] = {"platform": platform, "method": method, "path": fault_path, "kind": "s3"}

        def finish(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
            entry["status"] = status
            self.state.journal.record(**entry)
            reason = {200: "OK", 204: "No Content", 403: "Forbidden", 400: "Bad Request"}.get(status, "Error")
            start_response(
                f"{status} {reason}",
                headers or [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]

        fault = self.state.faults.take(platform, method, fault_path, kinds=("status", "delay", "expire_url"))
        if fault and fault.kind == "delay":
            time.sleep(fault.delay)
        elif fault and fault.kind == "status":
            return finish(*_s3_error(fault.status, "ServiceUnavailable", fault.message))
        query = parse_qsl(raw_query, keep_blank_values=True)
        params = dict(query)
        if "X-Amz-Signature" in params:
            problem = self._check_query_signature(environ, method, raw_path, query, params, fault is not None)
            if problem:
                return finish(*problem)
        elif method == "POST" and "multipart/form-data" in environ.get("CONTENT_TYPE", ""):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            problem, sha = self._check_post_policy(environ, body, bucket, fault is not None)
            if problem:
                return finish(*problem)
            entry["sha256"] = sha
            environ["wsgi.input"] = io.BytesIO(body)
        elif not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256 Credential=" + ACCESS_KEY):
            return finish(*_s3_error(403, "AccessDenied", "Access Denied"))

        hasher = hashlib.sha256()
        if method == "PUT":
            environ["wsgi.input"] = _HashingReader(environ["wsgi.input"], hasher)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        body_parts = list(result)
        entry["status"] = captured.get("status")
        if method == "PUT" and "sha256" not in entry:
            entry["sha256"] = hasher.hexdigest()
        self.state.journal.record(**entry)
        return body_parts

    def _check_query_signature(
        self,
        environ: dict[str, Any],
        method: str,
        raw_path: str,
        query: list[tuple[str, str]],
        params: dict[str, str],
        force_expired: bool,
    ) -> tuple[int, bytes] | None:
        try:
            access, date, region, service, _ = params["X-Amz-Credential"].split("/")
            amz_date = params["X-Amz-Date"]
            expires = int(params["X-Amz-Expires"])
            signed_headers = params["X-Amz-SignedHeaders"]
        except (KeyError, ValueError):
            return _s3_error(400, "AuthorizationQueryParametersError", "Query-string authentication is malformed")
        if access != ACCESS_KEY:
            return _s3_error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist")
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query) if k != "X-Amz-Signature"
        )
        headers = []
        for name in signed_headers.split(";"):
            key = "HTTP_HOST" if name == "host" else "HTTP_" + name.upper().replace("-", "_")
            if name == "content-type":
                key = "CONTENT_TYPE"
            value = environ.get(key, "")
            headers.append(f"{name}:{' '.join(value.split())}\n")
        canonical = "\n".join([method, raw_path, canonical_query, "".join(headers), signed_headers, "UNSIGNED-PAYLOAD"])
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        expected = hmac.new(_signing_key(SECRET_KEY, date, region, service), to_sign.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), params["X-Amz-Signature"]):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
        if force_expired or self.state.now() > signed_at + expires:
            return _s3_error(403, "AccessDenied", "Request has expired")
        return None

    def _check_post_policy(
        self, environ: dict[str, Any], body: bytes, bucket: str, force_expired: bool
    ) -> tuple[tuple[int, bytes] | None, str | None]:
        parse_env = dict(environ)
        parse_env["wsgi.input"] = io.BytesIO(body)
        _, form, files = parse_form_data(parse_env)
        if list(files.keys()) != ["file"]:
            return _s3_error(400, "InvalidArgument", "POST requires exactly one file field named 'file'"), None
        if not body.rstrip().endswith(b"--") or body.rfind(b'name="file"') < max(
            body.rfind(f'name="{k}"'.encode()) for k in [*form.keys(), "file"]
        ):
            return _s3_error(400, "InvalidArgument", "The file must be the last field of the form"), None
        fields = {k.lower(): v for k, v in form.items()}
        try:
            policy_b64 = form["policy"]
            access, date, region, service, _ = fields["x-amz-credential"].split("/")
            signature = fields["x-amz-signature"]
            policy = json.loads(base64.b64decode(policy_b64))
        except (KeyError, ValueError):
            return _s3_error(403, "AccessDenied", "Invalid according to Policy: missing policy fields"), None
        expected = hmac.new(_signing_key(SECRET_KEY, date, region, service), policy_b64.encode(), hashlib.sha256)
        if access != ACCESS_KEY or not hmac.compare_digest(expected.hexdigest(), signature):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match"), None
        expiration = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
        if force_expired or self.state.now() > expiration:
            return _s3_error(403, "AccessDenied", "Invalid according to Policy: Policy expired."), None
        file_bytes = files["file"].read()
        covered = {"x-amz-signature", "file", "policy"}
        values = {**fields, "bucket": bucket}
        for condition in policy.get("conditions", []):
            if isinstance(condition, dict):
                ((name, value),) = condition.items()
                op, name = "eq", name.lower()
            elif condition[0] == "content-length-range":
                if not condition[1] <= len(file_bytes) <= condition[2]:
                    return _s3_error(
                        400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                    ), None
                continue
            else:
                op, name, value = condition[0], condition[1].lstrip("$").lower(), condition[2]
            covered.add(name)
            actual = values.get(name)
            ok = actual == value if op == "eq" else (actual or "").startswith(value)
            if not ok:
                return _s3_error(
                    403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: [{op}, ${name}]"
                ), None
        extra = [k for k in fields if k not in covered and not k.startswith("x-ignore-")]
        if extra:
            return _s3_error(
                403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
            ), None
        return None, hashlib.sha256(file_bytes).hexdigest()


@contextlib.contextmanager
def _reading(found: Any) -> Iterator[IO[bytes]]:
    """A stream over a moto object's bytes, without copying them all (moto's ``value`` does)."""
    buffer = getattr(found, "_value_buffer", None)
    if buffer is None:  # another moto layout: the copy it hands out
        yield io.BytesIO(found.value)
        return
    with found.lock:
        buffer.seek(0)
        yield buffer


class _HashingReader:
    def __init__(self, stream: Any, hasher: Any) -> None:
        self.stream = stream
        self.hasher = hasher

    def read(self, *args: Any) -> bytes:
        data = self.stream.read(*args)
        self.hasher.update(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data = self.stream.readline(*args)
        self.hasher.update(data)
        return data


class SandboxS3:
    """An S3 endpoint on 127.0.0.1 (moto in a thread, behind ``S3Guard``), one bucket per platform."""

    def __init__(
        self, state: SandboxState, host: str = "127.0.0.1", port: int = 0, public_endpoint: str | None = None
    ) -> None:
        self.state = state
        app = S3Guard(_S3Dispatcher(create_backend_app), state)
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        # Presigned URLs carry this endpoint: clients elsewhere (compose) must reach it by name.
        self.endpoint = (public_endpoint or f"http://{host}:{self._server.server_address[1]}").rstrip("/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sandbox-s3")
        self._thread.start()
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, user_agent_extra=INTERNAL_AGENT),
        )
        self._buckets: set[str] = set()
        self.ensure_bucket("staging")

    def stop(self) -> None:
        self._server.shutdown()

    def ensure_bucket(self, platform_or_bucket: str) -> str:
        bucket = bucket_for(platform_or_bucket)
        if bucket not in self._buckets:
            try:
                self.client.create_bucket(Bucket=bucket)
            except self.client.exceptions.BucketAlreadyOwnedByYou:
                pass
            self._buckets.add(bucket)
        return bucket

    def reset(self) -> None:
        for bucket in list(self._buckets):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    self.client.delete_object(Bucket=bucket, Key=obj["Key"])

    def presign_put(self, platform: str, key: str, *, expires: int, content_type: str | None = None) -> str:
        params = {"Bucket": self.ensure_bucket(platform), "Key": key}
        if content_type:
            params["ContentType"] = content_type
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)

    def presign_get(self, platform: str, key: str, *, expires: int = 3600) -> str:
        params = {"Bucket": self.ensure_bucket(platform), "Key": key}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def presign_post(
        self, platform: str, key: str, *, expires: int, fields: dict[str, str] | None = None
    ) -> dict[str, Any]:
        conditions = [{k: v} for k, v in (fields or {}).items()]
        return self.client.generate_presigned_post(
            self.ensure_bucket(platform), key, Fields=fields, Conditions=conditions, ExpiresIn=expires
        )

    def object_url(self, platform: str, key: str) -> str:
        return f"{self.endpoint}/{bucket_for(platform)}/{quote(key)}"

    # -- the sandbox's own reads and writes: straight to moto's store, the way the internal
    # client's requests would have gone (no guard, no fault, no journal), without HTTP
    def _backend(self) -> Any:
        from moto.iam.models import get_account_id_from
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(ACCESS_KEY)
        return s3_backends[account][get_partition(REGION)]

    def _key(self, bucket: str, key: str) -> Any:
        """moto's object, or None when nothing was uploaded there (or no such bucket)."""
        from moto.s3.exceptions import HeadOnDeleteMarker, MissingBucket

        try:
            return self._backend().head_object(bucket, key)
        except (MissingBucket, HeadOnDeleteMarker):
            return None

    def get(self, platform: str, key: str) -> bytes | None:
        """The stored object, or None when nothing was uploaded there."""
        found = self._key(bucket_for(platform), key)
        return None if found is None else found.value

    def read_head(self, platform: str, key: str, size: int = 64) -> bytes | None:
        """The first ``size`` bytes of the stored object (a ranged read), None when absent."""
        found = self._key(bucket_for(platform), key)
        if found is None:
            return None
        with _reading(found) as stream:
            return stream.read(size)

    def download(self, platform: str, key: str, path: str) -> bool:
        """Copy the stored object to ``path`` (streamed); False when nothing was uploaded there."""
        found = self._key(bucket_for(platform), key)
        if found is None:
            return False
        with _reading(found) as stream, open(path, "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        return True

    def put(self, platform: str, key: str, body: bytes) -> None:
        """Store ``body`` (as the internal client's ``put_object`` without a Content-Type did)."""
        self._backend().put_object(self.ensure_bucket(platform), key, bytes(body))

    def head(self, platform: str, key: str) -> dict[str, Any] | None:
        """``ContentType`` and ``ContentLength`` of the stored object, None when absent."""
        found = self._key(bucket_for(platform), key)
        if found is None:
            return None
        return {"ContentType": found.metadata.get("Content-Type"), "ContentLength": found.size}

    def aws_connection(self) -> dict[str, Any]:
        """Airflow ``aws`` connection (JSON form) that reaches this endpoint."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
        }
