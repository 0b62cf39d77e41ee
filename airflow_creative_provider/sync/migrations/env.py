"""Alembic environment of the ledger: runs on the connection ``migrate`` hands over.

From the command line (``alembic -c .../alembic.ini``) it connects to ``sqlalchemy.url``
(``-x url=...`` overrides it) instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from airflow_creative_provider.sync.ledger import metadata
from airflow_creative_provider.sync.migrations import VERSION_TABLE

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("No ledger database: pass -x url=<SQLAlchemy URL> or set sqlalchemy.url in alembic.ini.")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
