"""The repository's DAGs in tests: load one, run it with ``dag.test()``, read the sandbox's journal.

Shared by the end-to-end tests of ``creative_sync`` and ``creative_check`` (and the matrices).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
#: the sample creatives every end-to-end run starts from.
SAMPLES = REPO / "examples" / "creatives"

#: the call that creates an asset, per platform (method, path regex on the sandbox journal).
CREATE_CALLS = {
    "topsort": ("POST", r"^/public/v1/assets/asset$"),
    "amazon_ads": ("POST", r"^/assets/register$"),
    "mediamath": ("POST", r"^/component_creatives/v1\.0/creatives$"),
    "mediapocket": ("POST", r"^/api/v2/projects/[^/]+/assets$"),
    "delta_projects": ("POST", r"^/api/v1/media_agency/[^/]+/client/[^/]+/file$"),
}


def load_dag(dag_id: str) -> Any:
    """Parse ``dags/<dag_id>.py`` as Airflow does and return the DAG ``dag_id``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]


def sync_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, poll_seconds: float = 0.5) -> Path:
    """A fresh SQLite ledger in ``tmp_path`` (connection ``creative_ledger``) and short polls.

    :returns: the ledger's file.
    """
    ledger = tmp_path / "ledger.db"
    monkeypatch.setenv("AIRFLOW_CONN_CREATIVE_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(ledger)}))
    monkeypatch.setenv("CREATIVE_SYNC_POLL_SECONDS", str(poll_seconds))
    return ledger


def sample_source(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample creatives, ``sync_settings``, and one poll per processing on every platform.

    :returns: the source folder.
    """
    from airflow_creative_provider.sandbox.state import ProcessingSpeed

    source = tmp_path / "creatives"
    shutil.copytree(SAMPLES, source)
    sync_settings(tmp_path, monkeypatch)
    sandbox.state.default_speed = ProcessingSpeed(polls=1, seconds=None)
    return source


def sample_source_in_s3(sandbox: Any, source: Path, bucket: str = "staging", prefix: str = "campaign") -> str:
    """The source's images copied to the sandbox's S3; returns the ``s3://conn@bucket/prefix`` source."""
    s3 = sandbox.state.s3
    bucket = s3.ensure_bucket(bucket)
    for path in source.rglob("*"):
        if path.is_file() and path.suffix in (".png", ".jpg", ".gif"):
            s3.client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(source).as_posix()}")
    return f"s3://creative_sandbox_s3@{bucket}/{prefix}"


def run_dag(dag_id: str, conf: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Run the DAG once; return the DagRun and its report (XCom ``report`` of the ``report`` task).

    The run's ``task_states`` (``{task_id[map_index]: state}``) are attached for assertion messages,
    and ``mapped_labels``: the mapped tasks' rendered labels (e.g. ``amazon_ads:amazon_eu #0``), sorted.
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = load_dag(dag_id).test(run_conf=conf)
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run.run_id, task_id="report", key="report")
            .one_or_none()
        )
        report = XComModel.deserialize_value(row) if row is not None else None
        instances = run.get_task_instances(session=session)
        run.task_states = {
            ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): ti.state for ti in instances
        }
        run.mapped_labels = sorted(ti.rendered_map_index or "" for ti in instances if ti.map_index >= 0)
    return run, report


def last_seq(sandbox: Any) -> int:
    """The sandbox journal's last entry (0 when empty): what later calls are counted from."""
    entries = sandbox.journal()
    return entries[-1]["seq"] if entries else 0


def creates(sandbox: Any, platform: str, since: int = 0) -> list[dict[str, Any]]:
    """Create calls the platform processed after entry ``since`` (answered 2xx, or processed and then dropped)."""
    method, path = CREATE_CALLS[platform]
    return [
        e
        for e in sandbox.journal(platform=platform, method=method, path=path)
        if e["seq"] > since and (e["status"] == "dropped_after" or (isinstance(e["status"], int) and e["status"] < 300))
    ]


def sends(sandbox: Any, since: int) -> list[dict[str, Any]]:
    """Every create or upload call (POST, PUT) after journal entry ``since``."""
    return [e for e in sandbox.journal() if e["seq"] > since and e["method"] in ("POST", "PUT")]


def ledger_rows(*runs: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows the runs stored in the ledger (the later run's row wins): what changed, was refused or aliased."""
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.sync.report import report_rows

    ledger = Ledger()
    return {(r.key, r.platform): r.to_dict() for run in runs for r in report_rows(run.run_id, ledger=ledger)}


def sandbox_secrets(sandbox: Any) -> list[str]:
    """Every secret of the sandbox's connections (password, secret/token/key extras) and every token it issued."""
    values = []
    for conn in sandbox.connections().values():
        values.append(conn.get("password"))
        for name, value in (conn.get("extra") or {}).items():
            if any(word in name for word in ("secret", "token", "key")) and isinstance(value, str):
                values.append(value)
    with sandbox.state.lock:
        for tokens in sandbox.state._tokens.values():
            values.extend(tokens)
    return [v for v in values if v and len(v) >= 6]


def assert_no_secrets(sandbox: Any, *texts: str) -> None:
    """No secret of ``sandbox_secrets`` appears in ``texts`` (captured logs, stdout, XCom as JSON)."""
    everything = "\n".join(texts)
    leaked = [secret for secret in sandbox_secrets(sandbox) if secret in everything]
    assert not leaked, f"{len(leaked)} secret(s) leaked: {[s[:3] + '...' for s in leaked]}"
