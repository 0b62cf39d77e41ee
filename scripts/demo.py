"""Drive the demo: the sandbox, a throw-away Airflow home, and the ``creative_sync`` DAG.

``scripts/demo`` runs this after installing the locked environment. Steps:

1. start the sandbox of the five platforms (and its S3) on a free local port;
2. create a temporary ``AIRFLOW_HOME`` (SQLite), migrate it, point every platform connection
   at the sandbox (``AIRFLOW_CONN_*`` variables) and copy ``examples/creatives/`` into
   ``$AIRFLOW_HOME/creatives``;
3. run ``airflow dags test creative_sync``, print its report and what the sandbox received;
4. run it again: nothing is re-sent.

With ``--ui`` the same set-up starts ``airflow standalone`` instead and prints the URL and
login (admin / admin). The DAG starts *paused*: nothing is sent until the user triggers it
from its form in the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "creatives"
DAG_ID = "creative_sync"
REPORT_TASK_IDS = ("report",)
REPORT_COLUMNS = ("file", "key", "platform", "state", "remote_id", "reason")
UI_USER, UI_PASSWORD = "admin", "admin"


def say(message: str = "") -> None:
    print(message, flush=True)


# -- set-up ----------------------------------------------------------------------------------


def airflow_environment(home: Path, dags_folder: Path) -> dict[str, str]:
    """The process environment for every Airflow command of the demo (no user connections)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW_CONN_") and key not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "CREATIVE_SYNC_SOURCE": str(home / "creatives"),
            # airflow standalone starts its components as `airflow ...` from PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    return env


def run_logged(command: list[str], env: dict[str, str], log: Path) -> int:
    """Run an Airflow command with its output in ``log``; return its exit status."""
    with log.open("wb") as out:
        return subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


# -- reading the outcome ------------------------------------------------------------------------


def latest_run(db: Path) -> tuple[str, str] | None:
    """(run_id, state) of the newest run of the DAG, from the demo's metadata database."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
    return (row[0], row[1]) if row else None


def task_states(db: Path, run_id: str) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
        ).fetchall()
    return Counter(state or "none" for (state,) in rows)


def report_xcom(db: Path, run_id: str) -> Any:
    """The report the DAG pushed to XCom (task ``report``), else the run's last XCom, else None."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ? ORDER BY timestamp",
            (DAG_ID, run_id),
        ).fetchall()
    if not rows:
        return None
    chosen = [r for r in rows if r[0] in REPORT_TASK_IDS] or rows[-1:]
    values = {}
    for task_id, key, value in chosen:
        try:
            values[(task_id, key)] = json.loads(value) if isinstance(value, str | bytes) else value
        except ValueError:
            values[(task_id, key)] = value
    if len(values) == 1:
        return next(iter(values.values()))
    return {key: value for (_task, key), value in values.items()}


def report_rows(report: Any) -> list[dict[str, Any]] | None:
    """The file x platform rows of a report, whatever container the DAG put them in."""
    if isinstance(report, list) and report and all(isinstance(r, dict) for r in report):
        return report
    if isinstance(report, dict):
        for key in ("rows", "assets", "report", "results", "items"):
            rows = report_rows(report.get(key))
            if rows:
                return rows
    return None


def render_table(rows: list[dict[str, Any]], width: int = 60) -> str:
    columns = [c for c in REPORT_COLUMNS if any(c in r for r in rows)]
    columns += [c for r in rows for c in r if c not in columns and not isinstance(r[c], dict | list)]
    columns = list(dict.fromkeys(columns))

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= width else text[: width - 1] + "…"

    table = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in table)) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in table]
    return "\n".join(out)


def full_table(report: dict[str, Any], home: Path | None) -> str | None:
    """The report task's own table (summary, what changed, what failed), rebuilt from the run's ledger rows."""
    ledger_db = home / "creative_ledger.db" if home else None
    if ledger_db is None or not ledger_db.exists() or not report.get("run_id"):
        return None
    try:
        from airflow_creative_provider.sync.ledger import Ledger
        from airflow_creative_provider.sync.payloads import Report
        from airflow_creative_provider.sync.report import format_table, report_rows

        parsed = Report.from_json(report)
        rows = report_rows(parsed.run_id, ledger=Ledger(f"sqlite:///{ledger_db}"), dry_run=parsed.dry_run)
        return format_table(parsed, rows)
    except Exception:  # noqa: BLE001 - the XCom summary is printed instead
        return None


def print_report(report: Any, home: Path | None = None) -> None:
    """The run's table once: the report task's table when the ledger is at hand, else its summary,
    else a table of its rows, else its JSON. An unchanged rerun's table is its summary."""
    if isinstance(report, dict) and isinstance(report.get("table"), str):
        say(full_table(report, home) or report["table"])
        listing = report.get("listing")
        if isinstance(listing, dict):
            skipped = ", ".join(f"{n} {why}" for why, n in (listing.get("skipped") or {}).items())
            say(f"listing: {listing.get('files')} files" + (f", skipped {skipped}" if skipped else ""))
        return
    rows = report_rows(report)
    if rows:
        say(render_table(rows))
        if isinstance(report, dict):
            rest = {k: v for k, v in report.items() if report_rows(v) is None}
            if rest:
                say(json.dumps(rest, indent=2, default=str))
    else:
        say(json.dumps(report, indent=2, default=str))


def journal_summary(entries: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per platform (S3 buckets apart): requests, uploads (requests carrying file bytes), 4xx/5xx."""
    summary: dict[str, Counter[str]] = {}
    for entry in entries:
        name = str(entry.get("platform"))
        counts = summary.setdefault(f"s3 ({name})" if entry.get("kind") == "s3" else name, Counter())
        counts["requests"] += 1
        if entry.get("sha256"):
            counts["uploads"] += 1
        status = entry.get("status")
        if not isinstance(status, int) or status >= 400:
            counts["errors"] += 1
    return summary


def print_journal(entries: list[dict[str, Any]]) -> int:
    """Print what the sandbox received; return the number of uploads."""
    summary = journal_summary(entries)
    if not summary:
        say("  the sandbox received no request")
        return 0
    for platform, counts in sorted(summary.items()):
        say(
            f"  {platform:<19} {counts['requests']:>4} requests  {counts['uploads']:>3} uploads"
            f"  {counts['errors']:>3} answered 4xx/5xx (lookups, injected faults)"
        )
    return sum(c["uploads"] for c in summary.values())


# -- the two modes ----------------------------------------------------------------------------


def sync_once(number: int, home: Path, env: dict[str, str], server: Any, conf: str | None) -> tuple[bool, int]:
    """One ``airflow dags test`` run; returns (succeeded, uploads the sandbox received)."""
    server.state.journal.clear()
    log = home / f"demo-run-{number}.log"
    command = airflow("dags", "test", DAG_ID) + (["-c", conf] if conf else [])
    say(f"\n== run {number}: airflow dags test {DAG_ID}   (full log: {log})")
    before = latest_run(home / "airflow.db")
    started = time.monotonic()
    status = run_logged(command, env, log)
    elapsed = time.monotonic() - started
    run = latest_run(home / "airflow.db")
    if run is None or run == before:
        output = log.read_text(errors="replace").lower()
        if "not found" in output or "failed to get dag" in output or "import" in output:
            say(f"The DAG {DAG_ID!r} could not be loaded from {env['AIRFLOW__CORE__DAGS_FOLDER']}.")
        say(f"airflow dags test exited with {status} without a run; the end of its log:")
        say(tail(log))
        return False, 0
    run_id, state = run
    states = ", ".join(f"{n} {s}" for s, n in sorted(task_states(home / "airflow.db", run_id).items()))
    say(f"run {run_id}: {state} in {elapsed:.0f} s   (tasks: {states})")
    report = report_xcom(home / "airflow.db", run_id)
    if report is None:
        say("no report in XCom; the end of the log:")
        say(tail(log))
    else:
        print_report(report, home)
    say("\nwhat the sandbox received during this run:")
    uploads = print_journal(server.journal())
    return state == "success", uploads


def run_demo(home: Path, env: dict[str, str], server: Any, conf: str | None) -> int:
    ok_first, uploads_first = sync_once(1, home, env, server, conf)
    if latest_run(home / "airflow.db") is None:
        return 1  # the DAG did not run at all: a second attempt would say the same
    ok_second, uploads_second = sync_once(2, home, env, server, conf)
    say("")
    if uploads_second == 0:
        say(f"The second run sent nothing (the first made {uploads_first} requests carrying file bytes).")
    else:
        say(f"UNEXPECTED: the second run uploaded {uploads_second} files again.")
    return 0 if ok_first and ok_second and uploads_second == 0 else 1


def ui_environment(env: dict[str, str], port: int) -> dict[str, str]:
    """The environment of ``airflow standalone``: demo login, and the DAG paused at creation.

    Paused, so that nothing is uploaded before the user has looked: an unpaused hourly DAG
    would start a scheduled run of the whole folder as soon as the scheduler sees it.
    """
    return {
        **env,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }


def ui_banner(url: str, sandbox_url: str, creatives: Path) -> list[str]:
    """What the demo prints once the UI answers: where to go, how to log in, what will happen."""
    return [
        f"Airflow UI:  {url}   login: {UI_USER} / {UI_PASSWORD}",
        f"DAG:         {url}/dags/{DAG_ID}  (Trigger -> the form with its params)",
        f"Creatives:   {url}/plugin/creatives  (the Creatives page; also {url}/creative-sync/)",
        f"Sandbox:     {sandbox_url}/_sandbox/docs  (journal, faults)",
        f"Source:      {creatives}",
        f"The DAG {DAG_ID} is PAUSED: nothing is sent until you trigger it from its page. The form's",
        f"'Unpause {DAG_ID} on trigger' (ticked by default) also starts its hourly schedule.",
        "Ctrl-C stops everything.",
    ]


def run_ui(home: Path, env: dict[str, str], server: Any, port: int) -> int:
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({UI_USER: UI_PASSWORD}))
    env = ui_environment(env, port)
    log = home / "standalone.log"
    url = f"http://localhost:{port}"
    say(f"\nstarting airflow standalone on {url} (about 40 s; log: {log})")
    say(f"login: {UI_USER} / {UI_PASSWORD}; the {DAG_ID} DAG starts paused (nothing is sent until you trigger it)")
    with log.open("wb") as out:
        process = subprocess.Popen(
            airflow("standalone"), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while not healthy(f"{url}/api/v2/monitor/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                say("airflow standalone did not come up; the end of its log:")
                say(tail(log))
                return 1
            time.sleep(2)
        say("")
        for line in ui_banner(url, server.url, home / "creatives"):
            say(line)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - local http URL
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ui",
        action="store_true",
        help="start the Airflow UI (airflow standalone, login admin/admin) with the DAG paused (not the two test runs)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port of the Airflow UI with --ui (default 8080)")
    parser.add_argument("--home", type=Path, help="Airflow home to use (default: a new temporary folder)")
    parser.add_argument("--clean", action="store_true", help="delete the temporary Airflow home afterwards")
    parser.add_argument("--conf", help='JSON params for the DAG runs, e.g. \'{"platforms": ["topsort"]}\'')
    parser.add_argument("--dags-folder", type=Path, default=REPO / "dags", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    dag_file = args.dags_folder / f"{DAG_ID}.py"
    if not dag_file.exists():
        say(f"The DAG file {dag_file} does not exist yet: the demo needs the {DAG_ID} DAG (dags/{DAG_ID}.py).")
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="creative-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_environment(home, args.dags_folder.resolve())
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW_HOME", "AIRFLOW__"))})

    from airflow_creative_provider.sandbox.server import SandboxServer
    from airflow_creative_provider.sandbox.state import ProcessingSpeed

    status = 1
    with SandboxServer(seed=0) as server:
        server.state.default_speed = ProcessingSpeed(polls=1, seconds=None)  # assets finish at the first poll
        env.update(server.connection_env())
        say(f"sandbox of {', '.join(sorted(server.app.modules))} on {server.url}")
        say(f"Airflow home: {home}")
        shutil.copytree(EXAMPLES, home / "creatives", dirs_exist_ok=True)
        count = sum(1 for p in (home / "creatives").rglob("*") if p.is_file())
        say(f"copied {count} sample files (good, bad and to-be-skipped) to {home / 'creatives'}")
        say("migrating the metadata database (SQLite, about 15 s)")
        migrate_log = home / "db-migrate.log"
        if run_logged(airflow("db", "migrate"), env, migrate_log) != 0:
            say("airflow db migrate failed:")
            say(tail(migrate_log))
            return 1
        try:
            status = run_ui(home, env, server, args.port) if args.ui else run_demo(home, env, server, args.conf)
        except KeyboardInterrupt:
            status = 130
    if args.clean and args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    else:
        say(f"logs and database kept in {home}")
    return status


if __name__ == "__main__":
    sys.exit(main())
