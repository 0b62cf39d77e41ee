"""What every hook shares from ``hooks/base.py``: the idempotent create (``create_or_find``),
the start of every ``error_for`` (``error_context``) and the content warning of ``submit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_creative_provider.creative import Creative, PlatformRules
from airflow_creative_provider.exceptions import UncertainOutcome
from airflow_creative_provider.hooks.base import (
    ApiCall,
    CreativePlatformHook,
    RemoteAsset,
    Response,
    content_warnings,
)


class Hook(CreativePlatformHook):
    conn_name_attr = "demo_conn_id"
    default_conn_name = "demo_default"
    conn_type = "demo"
    hook_name = "Demo"
    platform = "demo"
    rules = PlatformRules(platform="demo", mimetypes=frozenset({"image/png", "image/jpeg"}))

    @content_warnings
    def submit(self, creative: Creative, *, resume: bool = False, previous_id: str | None = None) -> RemoteAsset:
        return RemoteAsset(remote_id="1", warnings=("from the platform",))


def lost() -> Any:
    raise UncertainOutcome("Demo: POST /things lost the connection.", platform="demo")


def test_a_lost_create_that_was_made_is_found_not_repeated() -> None:
    calls: list[str] = []

    def create() -> str:
        calls.append("create")
        return lost()

    assert Hook().create_or_find(create, lambda: "found", what="thing") == "found"
    assert calls == ["create"]


def test_a_lost_create_that_was_not_made_is_repeated_within_attempts_then_raises() -> None:
    outcomes = iter([lost, lambda: "made"])
    assert Hook().create_or_find(lambda: next(outcomes)(), lambda: None, what="thing", attempts=2) == "made"
    finds: list[int] = []
    with pytest.raises(UncertainOutcome):
        Hook().create_or_find(lost, lambda: finds.append(1), what="thing", attempts=2)
    assert finds == [1, 1]


def test_error_context_redacts_and_names_the_call() -> None:
    hook = Hook()
    hook.register_secret("s3cr3t-value")
    call = ApiCall("POST", "/things", params={"apikey": "x"})
    ctx = hook.error_context(call, Response(400, {}, b'{"message": "bad s3cr3t-value", "code": "E1"}', "u"))
    assert (ctx.code, ctx.status, ctx.where) == ("E1", 400, "POST /things")
    assert "s3cr3t-value" not in ctx.said and ctx.said.startswith(": bad")
    assert ctx.common["vendor_code"] == "E1" and ctx.common["path"] == "/things"


def test_submit_carries_the_content_warning(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (4, 4)).save(path, "JPEG")
    remote = Hook().submit(Creative.inspect(path))
    assert remote.warnings[0] == "from the platform"
    assert remote.warnings[1].startswith("photo.png: the content is image/jpeg but the name says image/png")
    ok = tmp_path / "ok.png"
    Image.new("RGB", (4, 4)).save(ok, "PNG")
    assert Hook().submit(Creative.inspect(ok)).warnings == ("from the platform",)
