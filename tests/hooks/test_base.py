"""CreativePlatformHook against a small test-only HTTP app: retries, Retry-After, 401 refresh,
no blind repeat of a create, typed errors and redaction."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import threading
import time
from collections import Counter
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from airflow_creative_provider.creative import PlatformRules
from airflow_creative_provider.exceptions import (
    PlatformAuthError,
    PlatformConfigError,
    PlatformRateLimited,
    PlatformRequestError,
    PlatformUnavailable,
    UncertainOutcome,
)
from airflow_creative_provider.hooks.base import CreativePlatformHook, RateLimiter, parse_retry_after, strip_query
from airflow_creative_provider.sync.engine import upload_concurrency
from tests.support.servers import serve

API_KEY = "sk-live-DEMO-7f1c2b9e4d"
TOKEN_PREFIX = "tok-"


def _make_app(hits: Counter, plan: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/retry-after")
    def retry_after(request: Request) -> Response:
        hits["retry-after"] += 1
        if hits["retry-after"] <= plan.get("fail", 1):
            header = plan.get("header", "1")
            if header == "date":
                header = email.utils.formatdate(time.time() + 2, usegmt=True)
            return JSONResponse({"message": "slow down"}, 429, headers={"Retry-After": header})
        return JSONResponse({"ok": True})

    @app.get("/flaky")
    def flaky() -> Response:
        hits["flaky"] += 1
        if hits["flaky"] <= plan.get("fail", 2):
            return JSONResponse({"message": "try again"}, 503)
        return JSONResponse({"ok": True})

    @app.get("/always-503")
    def always_503() -> Response:
        hits["always-503"] += 1
        return JSONResponse({"message": "down"}, 503)

    @app.post("/create-slow")
    async def create_slow() -> Response:
        hits["create-slow"] += 1
        plan.setdefault("arrived", threading.Event()).set()
        # the answer waits until the test releases it: always past the client's read timeout
        await asyncio.to_thread(plan.setdefault("release", threading.Event()).wait, 10)
        return JSONResponse({"id": "created"}, 201)

    @app.post("/create-500")
    def create_500() -> Response:
        hits["create-500"] += 1
        return JSONResponse({"message": "boom"}, 500)

    @app.post("/create-429")
    def create_429() -> Response:
        hits["create-429"] += 1
        if hits["create-429"] == 1:
            return JSONResponse({"message": "rate"}, 429, headers={"Retry-After": "0"})
        return JSONResponse({"id": "c1"}, 201)

    @app.get("/protected")
    def protected(request: Request) -> Response:
        hits["protected"] += 1
        valid = plan.get("valid_token")
        if request.headers.get("Authorization") != f"Bearer {valid}":
            return JSONResponse({"message": "expired token"}, 401)
        return JSONResponse({"ok": True})

    @app.get("/echo-secret")
    def echo_secret(request: Request) -> Response:
        # A careless vendor echoing the credentials it received in its error text.
        return JSONResponse({"message": f"bad key {request.query_params.get('apikey')}"}, 400)

    @app.get("/missing")
    def missing() -> Response:
        return JSONResponse({"message": "no such asset"}, 404)

    return app


class DemoHook(CreativePlatformHook):
    conn_name_attr = "demo_conn_id"
    default_conn_name = "demo_default"
    conn_type = "demo"
    hook_name = "Demo"
    platform = "demo"
    supports_auth_refresh = True
    backoff_initial = 0.01
    backoff_max = 0.05
    max_attempts = 4
    rules = PlatformRules(platform="demo", mimetypes=frozenset({"image/png"}))
    tokens_issued: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: str | None = None
        self.refreshes = 0

    def auth_headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = f"{TOKEN_PREFIX}{len(self.tokens_issued)}-{API_KEY[-6:]}"
            self.tokens_issued.append(self._token)
            self.register_secret(self._token)
        return {"Authorization": f"Bearer {self._token}"}

    def auth_params(self) -> dict[str, str]:
        return {"apikey": self.require_password()}

    def refresh_auth(self) -> None:
        self.refreshes += 1
        self._token = None


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    hits: Counter = Counter()
    plan: dict[str, Any] = {}
    with serve(_make_app(hits, plan)) as url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_DEMO_DEFAULT",
            json.dumps({"conn_type": "demo", "host": url, "password": API_KEY, "extra": {"timeout": [2, 0.5]}}),
        )
        DemoHook.tokens_issued.clear()
        yield hits, plan


def test_retry_after_seconds_is_honoured(server) -> None:
    hits, plan = server
    plan.update(fail=1, header="1")
    started = time.monotonic()
    DemoHook().request("GET", "/retry-after")
    assert hits["retry-after"] == 2
    assert time.monotonic() - started >= 0.95


def test_retry_after_http_date_is_honoured(server) -> None:
    hits, plan = server
    plan.update(fail=1, header="date")
    started = time.monotonic()
    DemoHook().request("GET", "/retry-after")
    assert hits["retry-after"] == 2
    assert time.monotonic() - started >= 0.9


def test_5xx_on_get_is_retried_with_backoff(server) -> None:
    hits, plan = server
    plan.update(fail=2)
    assert DemoHook().request_json("GET", "/flaky") == {"ok": True}
    assert hits["flaky"] == 3


def test_5xx_gives_up_after_max_attempts(server) -> None:
    hits, _ = server
    with pytest.raises(PlatformUnavailable) as err:
        DemoHook().request("GET", "/always-503")
    assert hits["always-503"] == DemoHook.max_attempts
    assert err.value.status == 503 and err.value.vendor_message == "down"
    assert err.value.method == "GET" and err.value.path == "/always-503"


def test_post_is_not_repeated_after_read_timeout(server) -> None:
    hits, plan = server
    plan["arrived"], plan["release"] = threading.Event(), threading.Event()
    with pytest.raises(UncertainOutcome) as err:
        DemoHook().request("POST", "/create-slow", json={"name": "x"})
    assert plan["arrived"].wait(10)  # the server has the request (it is not answered yet)...
    plan["release"].set()
    assert hits["create-slow"] == 1  # ...and got it once: the client gave up without repeating it
    assert "not repeated blindly" in str(err.value)


def test_post_5xx_is_uncertain_and_not_repeated(server) -> None:
    hits, _ = server
    with pytest.raises(UncertainOutcome):
        DemoHook().request("POST", "/create-500", json={})
    assert hits["create-500"] == 1


def test_post_429_is_retried_because_nothing_was_processed(server) -> None:
    hits, _ = server
    assert DemoHook().request_json("POST", "/create-429", json={}) == {"id": "c1"}
    assert hits["create-429"] == 2


def test_idempotent_post_is_retried_on_5xx(server) -> None:
    hits, _ = server
    with pytest.raises(PlatformUnavailable) as err:
        DemoHook().request("POST", "/create-500", json={}, idempotent=True)
    assert not isinstance(err.value, UncertainOutcome)
    assert hits["create-500"] == DemoHook.max_attempts


def test_401_refreshes_auth_once_and_repeats(server) -> None:
    hits, plan = server
    plan["valid_token"] = f"{TOKEN_PREFIX}1-{API_KEY[-6:]}"  # the second token issued
    hook = DemoHook()
    assert hook.request_json("GET", "/protected") == {"ok": True}
    assert hook.refreshes == 1
    assert hits["protected"] == 2


def test_second_401_is_auth_error_naming_connection_and_field(server) -> None:
    hits, plan = server
    plan["valid_token"] = "never"
    hook = DemoHook()
    with pytest.raises(PlatformAuthError) as err:
        hook.request("GET", "/protected")
    assert hook.refreshes == 1
    assert hits["protected"] == 2
    assert "demo_default" in str(err.value) and "password" in str(err.value)


def test_4xx_is_a_request_error_with_vendor_text(server) -> None:
    with pytest.raises(PlatformRequestError) as err:
        DemoHook().request("GET", "/missing")
    assert err.value.status == 404
    assert "no such asset" in str(err.value)


def test_connection_refused_is_unavailable_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DEMO_DEFAULT",
        json.dumps({"conn_type": "demo", "host": "http://127.0.0.1:9", "password": API_KEY}),
    )
    with pytest.raises(PlatformUnavailable) as err:
        DemoHook().request("POST", "/create", json={})
    assert not isinstance(err.value, UncertainOutcome)  # never sent: safe to retry
    assert "could not connect" in str(err.value)


def test_missing_connection_says_what_to_create(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_DEMO_DEFAULT", raising=False)
    with pytest.raises(PlatformConfigError) as err:
        DemoHook("nope_conn").request("GET", "/x")
    assert "nope_conn" in str(err.value) and "AIRFLOW_CONN_NOPE_CONN" in str(err.value)


def test_missing_required_extra_is_named(server) -> None:
    with pytest.raises(PlatformConfigError) as err:
        DemoHook().extra_field("vendor_id", required=True)
    assert "vendor_id" in str(err.value) and "demo_default" in str(err.value)


def test_failing_run_leaks_no_secret_in_logs_or_errors(server, caplog: pytest.LogCaptureFixture, capsys) -> None:
    _, plan = server
    plan["valid_token"] = "never"
    caplog.set_level(logging.DEBUG)
    hook = DemoHook()
    texts = []
    for path in ("/echo-secret", "/protected", "/always-503"):
        try:
            hook.request("GET", path)
        except Exception as exc:  # noqa: BLE001 - we inspect every error text
            texts.append(str(exc))
            texts.append(json.dumps(getattr(exc, "to_dict", dict)()))
    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, captured.out, captured.err, *texts])
    assert "bad key ***" in everything  # the vendor's echo was redacted, not dropped
    assert API_KEY not in everything
    for token in DemoHook.tokens_issued:
        assert token not in everything
    assert "apikey=" not in everything.replace("apikey=***", "")


async def test_async_client_shares_rules(server) -> None:
    hits, plan = server
    plan.update(fail=2)
    hook = DemoHook()
    response = await hook.asend(hook.call("GET", "/flaky"))
    assert response.json() == {"ok": True}
    assert hits["flaky"] == 3
    with pytest.raises(PlatformRequestError):
        await hook.asend(hook.call("GET", "/missing"))


def test_rate_limited_beyond_cap_is_not_slept(server) -> None:
    hits, plan = server
    plan.update(fail=5, header="3600")
    with pytest.raises(PlatformRequestError) as err:
        DemoHook().request("GET", "/retry-after")
    assert hits["retry-after"] == 1
    assert "3600" in str(err.value)


def test_rate_limited_error_type_carries_retry_after(server) -> None:
    hits, plan = server
    plan.update(fail=10, header="0")
    with pytest.raises(PlatformRateLimited) as err:
        DemoHook().request("GET", "/retry-after")
    assert err.value.retry_after == 0.0
    assert hits["retry-after"] == DemoHook.max_attempts


def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(5, 0.5)
    started = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    # 11 calls at 5 per 0.5 s need at least two full windows.
    assert time.monotonic() - started >= 0.95


def _with_extra(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    conn = {"conn_type": "demo", "host": url, "password": API_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DEMO_DEFAULT", json.dumps(conn))


def test_max_calls_per_second_extra_is_the_connections_budget(server, monkeypatch: pytest.MonkeyPatch) -> None:
    hits, plan = server
    plan.update(fail=0)
    url = DemoHook().base_url
    assert DemoHook().call_limit is None and DemoHook().limiter is None  # DemoHook has no rate_limit
    _with_extra(monkeypatch, url, max_calls_per_second="10")
    hook = DemoHook()
    assert hook.call_limit == (10, 1.0) and upload_concurrency(hook) == 8 and upload_concurrency(hook, 30) == 10
    started = time.monotonic()
    for _ in range(21):
        hook.request("GET", "/flaky")
    assert hits["flaky"] == 21 and time.monotonic() - started >= 1.95  # 21 calls at 10/s span two windows
    _with_extra(monkeypatch, url, max_calls_per_second=0.5)
    assert DemoHook().call_limit == (1, 2.0) and upload_concurrency(DemoHook()) == 1
    assert DemoHook().limiter is not hook.limiter  # another budget, another limiter
    for bad in ("fast", "0", -3, "inf"):
        _with_extra(monkeypatch, url, max_calls_per_second=bad)
        with pytest.raises(PlatformConfigError) as err:
            DemoHook().request("GET", "/flaky")
        assert "max_calls_per_second" in str(err.value) and "demo_default" in str(err.value)
    assert hits["flaky"] == 21  # a bad value sends nothing


def test_parse_retry_after_and_strip_query() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert 0 < parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 31
    assert parse_retry_after("soon") is None
    text = "PUT https://bucket.s3.amazonaws.com/a.png?X-Amz-Signature=abc&X-Amz-Security-Token=t failed"
    assert strip_query(text) == "PUT https://bucket.s3.amazonaws.com/a.png?*** failed"
