"""PostgreSQL and Redis for the tests on real services: one fresh database per test.

``scripts/test`` (``ensure_services`` in ``scripts/_setup.sh``) exports ``CREATIVE_POSTGRES_URL``
and ``CREATIVE_REDIS_URL``: the machine's servers (127.0.0.1:5432 with trust auth, 127.0.0.1:6379)
or throwaway ones it started. Run directly with pytest, the same defaults apply. A server that
does not answer fails the test with what to do; it never skips it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: databases this suite creates start with this, so a crashed session's leftovers are recognisable.
DATABASE_PREFIX = "creative_test_"


def postgres_admin_url() -> URL:
    """The server's maintenance database, where test databases are created and dropped."""
    return make_url(os.environ.get("CREATIVE_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


def redis_url() -> str:
    return os.environ.get("CREATIVE_REDIS_URL") or DEFAULT_REDIS_URL


class ServiceMissing(RuntimeError):
    """A server the tests need does not answer."""


def check_postgres() -> None:
    url = postgres_admin_url()
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        raise ServiceMissing(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} does not answer ({type(exc).__name__}: "
            f"{exc}). Run the suite with scripts/test (it starts one when none runs) or set CREATIVE_POSTGRES_URL."
        ) from None
    finally:
        engine.dispose()


def check_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(redis_url(), socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise ServiceMissing(
            f"Redis at {redis_url()} does not answer ({exc}). Run the suite with scripts/test (it starts one "
            "when none runs) or set CREATIVE_REDIS_URL."
        ) from None


def create_database(label: str = "db") -> str:
    """Create a uniquely named, empty database; return its SQLAlchemy URL."""
    label = re.sub(r"\W+", "_", label)[:30]
    name = f"{DATABASE_PREFIX}{label}_{uuid.uuid4().hex[:10]}".lower()
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return postgres_admin_url().set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database``, closing whatever still uses it."""
    name = make_url(url).database
    assert name and name.startswith(DATABASE_PREFIX), name
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(label: str = "db") -> Iterator[str]:
    """A new database for the duration of the block, dropped afterwards."""
    url = create_database(label)
    try:
        yield url
    finally:
        drop_database(url)
