"""Local simulators of the five ad-platform APIs plus an S3 endpoint (the ``sandbox`` extra).

A test and demo tool: production code never imports it. Start it with the
``creative-sandbox`` command or the ``creative_sandbox`` pytest fixture.
"""

from __future__ import annotations

from airflow_creative_provider.sandbox.app import create_app
from airflow_creative_provider.sandbox.server import SandboxServer
from airflow_creative_provider.sandbox.state import SandboxState

__all__ = ["SandboxServer", "SandboxState", "create_app"]
