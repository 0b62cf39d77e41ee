"""Schema migrations of the sync ledger (Alembic).

Every ledger database carries its schema revision in the table ``creative_ledger_version``
(not Alembic's default ``alembic_version``, so a ledger may share a database with Airflow's
own metadata). ``Ledger`` calls ``migrate`` on first use in each process:

* a fresh database is brought to the head revision;
* a ledger created before migrations existed (tables, no version table) is completed with
  the indexes it may lack, stamped as the first revision, then upgraded;
* a ledger at a revision this code does not know (written by a newer provider) is refused
  with ``LedgerSchemaError``: upgrade the provider on every worker first.

Several workers starting at once are serialised by a PostgreSQL advisory lock; on SQLite a
losing racer's transaction fails, and it reads the revision again. Alembic's command API is
not thread-safe: ``Ledger`` migrates under its engines lock.

Changing ``ledger.metadata`` needs a new revision in ``versions/`` (``tests/sync/
test_migrations.py`` compares the metadata with the head revision): ``uv run --no-sync alembic
-c airflow_creative_provider/sync/migrations/alembic.ini revision --autogenerate -m "..."``
against a scratch database, or write it by hand.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

VERSION_TABLE = "creative_ledger_version"
#: the revision whose schema is the one the ledger had before migrations existed.
BASELINE = "0001"
_HERE = Path(__file__).resolve().parent
_ADVISORY_LOCK_KEY = 0x43524541  # "CREA": serialises concurrent migrations on PostgreSQL


class LedgerSchemaError(RuntimeError):
    """The ledger database's schema cannot be used by this version of the provider."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def migrate(engine: Engine, safe_url: str) -> str:
    """Bring the ledger at ``engine`` to the head revision; return it.

    :raises LedgerSchemaError: the database is at a revision newer than this code knows.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:  # the usual case: nothing to do, one query
            return head
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                _upgrade(conn, head, safe_url)
            break
        except LedgerSchemaError:
            raise
        except Exception:
            # Another process migrating the same SQLite file at the same moment (its tables
            # appeared under ours): its transaction is done or nearly; read again and retry.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return head


def _upgrade(conn: Connection, head: str, safe_url: str) -> None:
    from alembic import command

    current = current_revision(conn)
    if current == head:
        return
    known = {rev.revision for rev in script_directory().walk_revisions()}
    if current is not None and current not in known:
        raise LedgerSchemaError(
            f"The creative ledger at {safe_url} has schema revision {current!r}, which this version of "
            f"airflow-creative-provider does not know (it knows up to {head!r}): a newer provider wrote it. "
            "Install the same or a newer provider version on every scheduler, worker and triggerer; "
            "the ledger is left untouched."
        )
    config = alembic_config(conn)
    if current is None and inspect(conn).has_table("creative_assets"):
        _complete_legacy(conn)
        log.info("Ledger at %s predates migrations: stamped as revision %s", safe_url, BASELINE)
        command.stamp(config, BASELINE)
    log.info("Upgrading the ledger at %s from revision %s to %s", safe_url, current_revision(conn) or "(empty)", head)
    command.upgrade(config, head)


def _complete_legacy(conn: Connection) -> None:
    """Give a ledger made before migrations every table and index of the baseline revision.

    Such a ledger was made by ``metadata.create_all`` and grew tables and indexes as the code
    added them (never columns), so creating what is missing brings it to the baseline.
    """
    from airflow_creative_provider.sync.migrations.baseline import create_missing

    create_missing(conn)
