"""``scripts/demo --ui``: the DAG starts paused and the user is told where to go and how to log in."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import REJECTED_NAME, REPO, SyncedLedger


def demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("creative_demo", REPO / "scripts" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ui_demo_starts_the_dag_paused_and_prints_url_and_login(tmp_path: Path) -> None:
    demo = demo_module()
    env = demo.ui_environment({"AIRFLOW_HOME": str(tmp_path)}, 8093)
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    # Airflow itself reads it so: a DAG the dag-processor sees for the first time is paused
    value = subprocess.run(
        [sys.executable, "-m", "airflow", "config", "get-value", "core", "dags_are_paused_at_creation"],
        env=env | {"PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert value == "True"
    banner = "\n".join(demo.ui_banner("http://localhost:8093", "http://127.0.0.1:9", tmp_path / "creatives"))
    assert "http://localhost:8093 " in banner and "login: admin / admin" in banner
    assert "PAUSED" in banner and "nothing is sent until you trigger it" in banner
    assert "http://localhost:8093/plugin/creatives" in banner


def test_the_readme_says_what_the_ui_demo_does() -> None:
    readme = (REPO / "README.md").read_text()
    assert "scripts/demo --ui" in readme
    assert "http://localhost:8080" in readme and "admin / admin" in readme and "**paused**" in readme


def test_the_demo_prints_each_run_table_once_and_the_unchanged_rerun_its_summary(
    synced_ledger: SyncedLedger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = demo_module()
    with (
        sqlite3.connect(synced_ledger.url.removeprefix("sqlite:///")) as src,
        sqlite3.connect(tmp_path / "creative_ledger.db") as dst,
    ):
        src.backup(dst)
    first = {k: v for k, v in synced_ledger.reports["ui-1"].items() if k != "rows"}
    demo.print_report(first, tmp_path)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 160
    assert lines[1].startswith("platform") and "ready" in lines[1]  # the per-platform summary leads
    assert out.count("changed (") == 1 and out.count("FAILED:") == 1
    # the rejection once as the run's problem and once as its row under "failed", the reason whole
    reason = next(
        r["reason"]
        for r in synced_ledger.reports["ui-1"]["rows"]
        if r["platform"] == "topsort" and r["state"] == "rejected"
    )
    assert " ".join(out.split()).count(" ".join(reason.split())) == 2
    assert f"banners/{REJECTED_NAME}  topsort: rejected" in out
    second = {k: v for k, v in synced_ledger.reports["ui-2"].items() if k != "rows"}
    demo.print_report(second, tmp_path)
    out = capsys.readouterr().out
    assert "changed (" not in out and "failed (" not in out and out.startswith(second["table"])
