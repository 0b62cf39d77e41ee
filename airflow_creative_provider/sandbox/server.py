"""Run the sandbox on a real port (uvicorn in a thread), for the CLI, tests and the demo."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import uvicorn

from airflow_creative_provider.sandbox.app import SandboxApp, connection_specs, create_app
from airflow_creative_provider.sandbox.state import SandboxState


class SandboxServer:
    """The sandbox listening on ``host:port`` (0 = a free port), started in a daemon thread.

    Use as a context manager, or ``start()``/``stop()``. ``state`` is the live sandbox state
    (faults, journal, processing speed) for in-process tests.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        public_url: str | None = None,
        s3_host: str | None = None,
        s3_port: int = 0,
        s3_public_url: str | None = None,
        credentials: dict[str, dict[str, str]] | None = None,
    ) -> None:
        from airflow_creative_provider.sandbox.s3 import SandboxS3

        self.state = SandboxState(seed=seed)
        # Fixed credentials (e.g. docker-compose's connections) before the routers read them.
        for platform, fields in (credentials or {}).items():
            self.state.credentials.setdefault(platform, {}).update(fields)
        self.state.s3 = SandboxS3(self.state, host=s3_host or host, port=s3_port, public_endpoint=s3_public_url)
        self.app: SandboxApp = create_app(self.state)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        # The URL other machines use (``http://sandbox:8900`` in docker-compose).
        self.state.base_url = (public_url or self.url).rstrip("/")
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True, name="creative-sandbox"
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the creative sandbox did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        if self.state.s3 is not None:
            self.state.s3.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- conveniences for tests and the demo
    @classmethod
    def from_env(cls, host: str, port: int, *, seed: int = 0) -> SandboxServer:
        """Build from ``CREATIVE_SANDBOX_*`` variables (public URL, S3 host/port/URL, credentials)."""
        credentials = os.environ.get("CREATIVE_SANDBOX_CREDENTIALS")
        return cls(
            host,
            port,
            seed=seed,
            public_url=os.environ.get("CREATIVE_SANDBOX_PUBLIC_URL") or None,
            s3_host=os.environ.get("CREATIVE_SANDBOX_S3_HOST") or None,
            s3_port=int(os.environ.get("CREATIVE_SANDBOX_S3_PORT") or 0),
            s3_public_url=os.environ.get("CREATIVE_SANDBOX_S3_PUBLIC_URL") or None,
            credentials=json.loads(credentials) if credentials else None,
        )

    def platform_url(self, platform: str) -> str:
        return self.state.platform_url(platform)

    def connections(self) -> dict[str, dict[str, Any]]:
        """``{conn_id: connection JSON}`` for every platform and the sandbox S3."""
        return {spec.conn_id: spec.to_json() for spec in connection_specs(self.app)}

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` variables that point Airflow at this sandbox."""
        return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in self.connections().items()}

    def reset(self) -> None:
        self.state.reset()

    def journal(
        self, platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        return self.state.journal.entries(platform, method, path)
