"""The sandbox app: one FastAPI app serving every platform under ``/<platform>``.

Each platform module ``airflow_creative_provider.sandbox.<platform>`` provides:

* ``build_router(state) -> APIRouter`` with the vendor's real paths (mounted under
  ``/<platform>``, so a connection whose host is ``<sandbox>/<platform>`` needs no change);
* ``connection(state) -> ConnectionSpec``: the Airflow connection that reaches it;
* optionally ``fault_response(status, message) -> Response`` for injected errors in the
  vendor's own error shape.

Control endpoints live under ``/_sandbox/``: ``faults``, ``journal``, ``reset``,
``processing``, ``outcomes``, ``clock``, ``connections``, ``drift`` (``sandbox.drift``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from airflow_creative_provider.sandbox.drift import DriftError, inject_drift
from airflow_creative_provider.sandbox.state import PLATFORMS, ConnectionSpec, Outcome, ProcessingSpeed, SandboxState

log = logging.getLogger(__name__)


def _platform_module(platform: str) -> Any | None:
    name = f"airflow_creative_provider.sandbox.{platform}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


class SandboxApp(FastAPI):
    """FastAPI app whose outermost layer applies faults and keeps the journal."""

    sandbox: SandboxState
    modules: dict[str, Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await super().__call__(scope, receive, send)
            return
        state = self.sandbox
        platform, _, rest = scope["path"].lstrip("/").partition("/")
        path = "/" + rest
        method = scope["method"]
        entry: dict[str, Any] = {"platform": platform, "method": method, "path": path, "kind": "api"}
        fault = state.faults.take(
            platform, method, path, kinds=("status", "delay", "delay_after", "drop", "drop_after", "expire_token")
        )
        if fault and fault.kind == "expire_token":
            state.expire_tokens(platform)
        if fault and fault.kind == "delay":
            await asyncio.sleep(fault.delay)
        if fault and fault.kind == "drop":
            entry["status"] = "dropped"
            state.journal.record(**entry)
            await _drop(send)
            return
        if fault and fault.kind == "status":
            response = self._fault_response(platform, fault.status, fault.message)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            entry["status"] = fault.status
            entry["fault"] = fault.id
            state.journal.record(**entry)
            await response(scope, receive, send)
            return

        captured: dict[str, Any] = {}
        held: list[Message] = []
        holding = fault is not None and fault.kind in ("drop_after", "delay_after")

        def record() -> None:
            if captured.get("recorded"):
                return
            captured["recorded"] = True
            entry["status"] = "dropped_after" if fault and fault.kind == "drop_after" else captured.get("status")
            for key in ("sha256", "remote_id", "note"):
                if key in scope["state"]:
                    entry[key] = scope["state"][key]
            state.journal.record(**entry)

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            if holding:
                held.append(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # journaled before the client can read the answer: a test that reads the
                # journal once its call returned never races the sandbox (whatever the load)
                record()
            await send(message)

        scope.setdefault("state", {})
        await super().__call__(scope, receive, capture)
        record()
        if fault and fault.kind == "drop_after":
            await _drop(send)
        elif fault and fault.kind == "delay_after":
            # Processed and journaled; the answer waits (a client killed meanwhile never learns it).
            await asyncio.sleep(fault.delay)
            for message in held:
                await send(message)

    def _fault_response(self, platform: str, status: int, message: str) -> Response:
        module = self.modules.get(platform)
        if module is not None and hasattr(module, "fault_response"):
            return module.fault_response(status, message)
        return JSONResponse({"message": message}, status_code=status)


async def _drop(send: Any) -> None:
    """Close the client's connection without an answer (uvicorn's transport)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: connection dropped")
    transport.abort()
    await asyncio.sleep(0)


class FaultIn(BaseModel):
    kind: str
    platform: str | None = None
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    probability: float = 1.0
    status: int = 503
    retry_after: str | float | None = None
    delay: float = 0.0
    message: str = "injected fault"


class SpeedIn(BaseModel):
    platform: str | None = None
    polls: int | None = None
    seconds: float | None = None


class OutcomeIn(BaseModel):
    platform: str
    name: str
    outcome: str
    reason: str = ""


class DriftIn(BaseModel):
    platform: str
    remote_id: str
    action: str
    state: str | None = None
    #: ``action: "metadata"``: the fields to set, in the platform's own names.
    fields: dict[str, Any] | None = None


def _control_router(app: SandboxApp) -> APIRouter:
    state = app.sandbox
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "platforms": sorted(app.modules)}

    @router.post("/faults")
    def add_fault(fault: FaultIn) -> dict[str, Any]:
        try:
            rule = state.faults.add(**fault.model_dump())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"id": rule.id}

    @router.get("/faults")
    def list_faults() -> list[dict[str, Any]]:
        return state.faults.list()

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"ok": True}

    @router.post("/seed")
    def seed(value: int) -> dict[str, Any]:
        state.faults.seed(value)
        return {"ok": True}

    @router.get("/journal")
    def journal(
        platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        return state.journal.entries(platform, method, path)

    @router.delete("/journal")
    def clear_journal() -> dict[str, Any]:
        state.journal.clear()
        return {"ok": True}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        state.reset()
        return {"ok": True}

    @router.put("/processing")
    def processing(speed: SpeedIn) -> dict[str, Any]:
        value = ProcessingSpeed(polls=speed.polls, seconds=speed.seconds)
        if speed.platform:
            state.speeds[speed.platform] = value
        else:
            state.default_speed = value
        return {"ok": True}

    @router.post("/outcomes")
    def outcomes(outcome: OutcomeIn) -> dict[str, Any]:
        state.outcomes.append(Outcome(**outcome.model_dump()))
        return {"ok": True}

    @router.post("/clock")
    def clock(advance: float) -> dict[str, Any]:
        state.advance_clock(advance)
        return {"now": state.now()}

    @router.post("/drift")
    def drift(change: DriftIn) -> dict[str, Any]:
        """Delete an asset, change its state or its metadata behind the client (see ``sandbox.drift``)."""
        try:
            before = inject_drift(state, change.platform, change.remote_id, change.action, change.state, change.fields)
        except DriftError as exc:
            raise HTTPException(404 if "holds no" in str(exc) else 400, str(exc)) from None
        return {"ok": True, "before": before}

    @router.get("/connections")
    def connections() -> dict[str, Any]:
        return {spec.conn_id: spec.to_json() for spec in connection_specs(app)}

    return router


def connection_specs(app: SandboxApp) -> list[ConnectionSpec]:
    """Airflow connections reaching every platform of this sandbox, plus its S3.

    ``<platform>_default`` reaches each platform's first account; ``<platform>_second`` (a
    module's ``extra_connections``) another account of the same platform, to sync several.
    """
    specs = [module.connection(app.sandbox) for module in app.modules.values()]
    for module in app.modules.values():
        if hasattr(module, "extra_connections"):
            specs.extend(module.extra_connections(app.sandbox))
    if app.sandbox.s3 is not None:
        s3 = app.sandbox.s3.aws_connection()
        specs.append(ConnectionSpec(conn_id="creative_sandbox_s3", **s3))
    return specs


def create_app(
    state: SandboxState | None = None, *, with_s3: bool = True, platforms: tuple[str, ...] = PLATFORMS
) -> SandboxApp:
    """Build the sandbox: every available platform router, the S3 emulator, the control API."""
    state = state or SandboxState()
    if with_s3 and state.s3 is None:
        from airflow_creative_provider.sandbox.s3 import SandboxS3

        state.s3 = SandboxS3(state)
    app = SandboxApp(
        title="airflow-creative-provider sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json"
    )
    app.sandbox = state
    app.modules = {}
    for platform in platforms:
        module = _platform_module(platform)
        if module is None:
            continue
        app.modules[platform] = module
        app.include_router(module.build_router(state), prefix=f"/{platform}")
    app.include_router(_control_router(app))
    return app
