"""pytest plugin (entry point ``pytest11``): the ``creative_sandbox`` fixture.

``creative_sandbox`` starts the sandbox once per test session on a free port and yields the
``SandboxServer``. ``creative_sandbox_env`` resets it before the test and sets the
``AIRFLOW_CONN_*`` variables of every platform, so hooks and ``dag.test()`` reach it with
their default connection ids. Use them in your own DAG tests too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def creative_sandbox() -> Iterator[object]:
    from airflow_creative_provider.sandbox.server import SandboxServer

    server = SandboxServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def creative_sandbox_env(creative_sandbox: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    creative_sandbox.reset()  # type: ignore[attr-defined]
    for name, value in creative_sandbox.connection_env().items():  # type: ignore[attr-defined]
        monkeypatch.setenv(name, value)
    yield creative_sandbox
    creative_sandbox.reset()  # type: ignore[attr-defined]
