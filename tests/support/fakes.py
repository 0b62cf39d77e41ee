"""``FakeHook``: a test-only, in-memory platform whose failures are scripted per file name.

A ``CreativePlatformHook`` subclass (assets in a dict, no network), handed to the engine
through its hook registry (``HOOKS.__getitem__``); ``reset()`` clears it between tests.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from airflow_creative_provider.creative import Creative, PlatformRules
from airflow_creative_provider.exceptions import PlatformUnavailable
from airflow_creative_provider.hooks.base import AssetStatus, CreativePlatformHook, RemoteAsset


class Killed(BaseException):
    """Stands for the worker dying between the create call and the ledger write."""


class FakeHook(CreativePlatformHook):
    """Test-only in-memory platform: assets in a dict, failures scripted by file name."""

    conn_name_attr = "fake_conn_id"
    default_conn_name = "fake_default"
    conn_type = "fake"
    hook_name = "Fake"
    platform = "topsort"
    rules: ClassVar[PlatformRules] = PlatformRules(
        platform="topsort", mimetypes=frozenset({"image/png", "image/jpeg"}), max_bytes=50_000
    )
    supports_archive: ClassVar[bool] = True
    supports_versions: ClassVar[bool] = False
    rate_limit: ClassVar[tuple[int, float] | None] = None
    upload_delay: ClassVar[float] = 0.0

    # shared state, reset per test by the ``fake`` fixture
    assets: ClassVar[dict[str, dict[str, Any]]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []
    fail: ClassVar[set[str]] = set()
    reject: ClassVar[set[str]] = set()
    kill_after_create: ClassVar[set[str]] = set()
    active: ClassVar[int] = 0
    peak: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    @property
    def account(self) -> str:
        return f"acct-{self.conn_id}"

    @property
    def call_limit(self) -> tuple[int, float] | None:
        return self.rate_limit  # no connection behind the fake: no extras to read

    @property
    def connection_rules(self) -> PlatformRules:
        return self.rules  # no connection behind the fake: no extras to read

    def find_asset(self, creative: Creative) -> RemoteAsset | None:
        self.calls.append(("find", creative.name))
        for remote_id, asset in self.assets.items():
            if asset["sha256"] == creative.sha256:
                return RemoteAsset(remote_id, state=asset["state"])
        return None

    def submit(self, creative: Creative, *, resume: bool = False, previous_id: str | None = None) -> RemoteAsset:
        with self.lock:
            type(self).active += 1
            type(self).peak = max(self.peak, self.active)
        try:
            time.sleep(self.upload_delay)
            if resume:
                found = self.find_asset(creative)
                if found:
                    return found
            if creative.name in self.fail:
                raise PlatformUnavailable(f"Fake: POST /assets answered 503 for {creative.name}", platform="topsort")
            with creative.open() as handle:
                data = handle.read()
            with self.lock:
                remote_id = f"fake-{len(self.assets) + 1}"
                self.assets[remote_id] = {
                    "sha256": creative.sha256,
                    "name": creative.name,
                    "state": AssetStatus.PROCESSING,
                    "size": len(data),
                    "previous_id": previous_id,
                }
            self.calls.append(("create", creative.name))
            if creative.name in self.kill_after_create:
                self.kill_after_create.discard(creative.name)
                raise Killed()
            return RemoteAsset(remote_id, state=AssetStatus.PROCESSING, raw_state="UPLOADED")
        finally:
            with self.lock:
                type(self).active -= 1

    def get_status(self, remote_ids: Any) -> dict[str, AssetStatus]:
        out = {}
        for remote_id in remote_ids:
            asset = self.assets[remote_id]
            if asset["state"] == AssetStatus.PROCESSING:
                rejected = asset["name"] in self.reject
                asset["state"] = AssetStatus.REJECTED if rejected else AssetStatus.READY
                asset["reason"] = "fails the content policy" if rejected else None
            out[remote_id] = AssetStatus(
                remote_id, asset["state"], raw_state=asset["state"].upper(), reason=asset.get("reason")
            )
        return out

    def archive(self, remote_id: str) -> None:
        self.calls.append(("archive", remote_id))
        self.assets[remote_id]["state"] = "archived"


class FakeNoArchiveHook(FakeHook):
    platform = "mediamath"
    supports_archive: ClassVar[bool] = False
    rules: ClassVar[PlatformRules] = FakeHook.rules.with_(platform="mediamath")


HOOKS: dict[str, type[CreativePlatformHook]] = {"topsort": FakeHook, "mediamath": FakeNoArchiveHook}


def registry(platform: str) -> type[CreativePlatformHook]:
    """The engine's hook registry for tests: ``HOOKS``, read at call time (tests may replace entries)."""
    return HOOKS[platform]


def reset() -> type[FakeHook]:
    FakeHook.assets = {}
    FakeHook.calls = []
    FakeHook.fail = set()
    FakeHook.reject = set()
    FakeHook.kill_after_create = set()
    FakeHook.active = FakeHook.peak = 0
    return FakeHook


def creates(fake: type[FakeHook]) -> list[str]:
    """The file names the fake created an asset for, sorted."""
    return sorted(name for call, name in fake.calls if call == "create")
