"""Load a DAG of the repository's ``dags/`` folder, failing on any import error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parents[2] / "dags"


def load_dag(dag_id: str) -> Any:
    """Parse ``dags/<dag_id>.py`` as Airflow does and return the DAG ``dag_id``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]
