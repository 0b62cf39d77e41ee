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
from collections.abc import Iterator
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


# -- real services: PostgreSQL and Redis (see tests/support/services.py) ---------------------


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server's maintenance URL; fails (never skips) when it does not answer."""
    from tests.support import services

    services.check_postgres()
    return services.postgres_admin_url().render_as_string(hide_password=False)


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test (SQLAlchemy URL), dropped after it."""
    from tests.support import services

    with services.fresh_database(request.node.name[:20].strip("_")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The Redis server's URL; fails (never skips) when it does not answer."""
    from tests.support import services

    services.check_redis()
    return services.redis_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty ledger database: SQLite in tmp_path, then a fresh PostgreSQL database."""
    from airflow_creative_provider.sync import ledger

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    yield url
    engine = ledger._ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()
