"""Fixtures of the engine's tests (``tests/sync``): a fake platform reset per test, a ledger of its own.

``tests/sync/conftest.py`` hands them to every test there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_creative_provider.sync.ledger import Ledger
from tests.support.fakes import FakeHook, reset


@pytest.fixture
def fake() -> type[FakeHook]:
    """``FakeHook`` with no asset, call or scripted failure left from another test."""
    return reset()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """An empty SQLite ledger in the test's ``tmp_path``."""
    return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
