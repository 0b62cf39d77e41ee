"""Test session set-up: a private AIRFLOW_HOME (SQLite) so tests never touch a user's Airflow.

The environment is set before Airflow is imported. The database is migrated once, lazily,
by the ``airflow_db`` fixture, only for tests that need it (``dag.test()``); hook, trigger and
sandbox tests run without one (``AIRFLOW_CONN_*`` variables suffice).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="creative-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_HOME / "logs")
os.environ.setdefault("CREATIVE_SYNC_SOURCE", str(_HOME / "creatives"))
for _name in list(os.environ):
    if _name.startswith("AIRFLOW_CONN_"):
        del os.environ[_name]


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """Migrate the session's SQLite metadata database once (about 13 s)."""
    marker = airflow_home / ".migrated"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            env=os.environ.copy(),
            capture_output=True,
        )
        marker.touch()
    return airflow_home / "airflow.db"
