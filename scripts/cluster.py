"""A real Airflow 3 deployment on this machine, with the topology of ``docker-compose.yaml``.

``scripts/cluster`` runs this after installing the locked environment (with the ``cluster``
extra) and making sure PostgreSQL and Redis answer (``ensure_services`` in ``_setup.sh``):

* PostgreSQL: Airflow's metadata database and the sync ledger (connection ``creative_ledger``),
  two fresh databases on the server of ``CREATIVE_POSTGRES_URL``;
* ``CeleryExecutor`` with Redis (``CREATIVE_REDIS_URL``) as broker, on a queue of its own, and
  the metadata database as result backend;
* the sandbox of the five platforms (every ``AIRFLOW_CONN_*`` points at it);
* ``airflow db migrate``, then api-server, scheduler, dag-processor, triggerer and **two**
  Celery workers (concurrency 2 each), every one in its own process group;
* the sample creatives (``examples/creatives``) copied to the sync source folder.

It prints the UI's URL and login and runs until Ctrl-C, which stops every process it started
and drops its databases (``--keep`` keeps them and the work folder).

The environment shared by every Airflow component is ``docker-compose.yaml``'s
``x-airflow-common`` one with this machine's hosts and ports (``cluster_environment``;
``tests/test_docker_compose.py`` keeps the two in step). ``tests/cluster/`` drives the same
``Cluster`` class.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "creatives"
UI_USER, UI_PASSWORD = "airflow", "airflow"
WORKERS = 2
WORKER_CONCURRENCY = 2

#: keys of docker-compose.yaml's common environment whose value here differs (hosts, ports,
#: paths, the auth manager); every other key has the same value. Checked by the tests.
HOST_SPECIFIC = frozenset(
    {
        "AIRFLOW__CORE__AUTH_MANAGER",  # FAB in the image; Airflow's SimpleAuthManager here (no FAB in the lock)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW_CONFIG",
        "CREATIVE_SYNC_SOURCE",
        "AIRFLOW_CONN_CREATIVE_LEDGER",
        "AIRFLOW_CONN_TOPSORT_DEFAULT",
        "AIRFLOW_CONN_AMAZON_ADS_DEFAULT",
        "AIRFLOW_CONN_MEDIAMATH_DEFAULT",
        "AIRFLOW_CONN_MEDIAPOCKET_DEFAULT",
        "AIRFLOW_CONN_DELTA_PROJECTS_DEFAULT",
        "AIRFLOW_CONN_CREATIVE_SANDBOX_S3",
        "_PIP_ADDITIONAL_REQUIREMENTS",
    }
)


def say(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_common_environment() -> dict[str, str]:
    """docker-compose.yaml's ``x-airflow-common`` environment, defaults filled in."""
    import re

    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    common = compose["x-airflow-common"]["environment"]
    pattern = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
    return {key: pattern.sub(lambda m: m.group(1), str(value)) for key, value in common.items()}


def cluster_environment(
    *,
    home: Path,
    metadata_url: str,
    ledger_url: str,
    broker_url: str,
    api_port: int,
    source: Path,
    connections: dict[str, str],
    queue: str,
    dags_folder: Path = REPO / "dags",
) -> dict[str, str]:
    """The environment every Airflow component of the cluster shares."""
    from sqlalchemy.engine import make_url

    metadata = make_url(metadata_url)
    env = compose_common_environment()
    env.pop("_PIP_ADDITIONAL_REQUIREMENTS", None)
    env.pop("AIRFLOW_CONFIG", None)  # airflow.cfg in AIRFLOW_HOME
    env.update(
        {
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False
            ),
            # psycopg 3 serves Airflow's async engine too (no asyncpg in the lock)
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata.set(
                drivername="postgresql+psycopg_async"
            ).render_as_string(hide_password=False),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+"
            + metadata.set(drivername="postgresql").render_as_string(hide_password=False),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "CREATIVE_SYNC_SOURCE": str(source),
            "AIRFLOW_CONN_CREATIVE_LEDGER": ledger_url,
            **connections,
            # -- this machine only: paths, ports, a light footprint on a shared machine
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,  # never share a broker's queue with another cluster
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "creative_cluster_hostname.hostname",
            # a dead worker's tasks are found within a minute and retried 10 s later (defaults: 5 min each)
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "10",
            "PYTHONPATH": str(home),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    return env


_HOSTNAME_MODULE = '''"""Each component's name in task instances (two workers share this machine's host name)."""
import os
import socket


def hostname() -> str:
    return os.environ.get("CREATIVE_CLUSTER_COMPONENT") or socket.getfqdn()
'''


class Sandbox:
    """The sandbox of the five platforms in its own process."""

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        self.log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_creative_provider.sandbox", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.url = ""
        self.connections: dict[str, str] = {}
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("creative sandbox on "):
                self.url = line.split()[3]
            elif line.startswith("export "):
                name, _, value = shlex.split(line)[1].partition("=")
                self.connections[name] = value
            elif line.strip() == '{"ready": true}':
                break
        if not self.url:
            raise RuntimeError(f"the sandbox did not start; see {log}")

    def control(self, verb: str, endpoint: str, body: Any = None, **query: Any) -> Any:
        """One call of the sandbox's control API (faults, journal, processing, clock...)."""
        response = requests.request(verb, f"{self.url}/_sandbox/{endpoint}", json=body, params=query, timeout=60)
        response.raise_for_status()
        return response.json()

    def journal(self, platform: str | None = None) -> list[dict[str, Any]]:
        return self.control("GET", "journal", **({"platform": platform} if platform else {}))

    def stop(self) -> None:
        _stop_group(self.process)
        self.log_file.close()


def _stop_group(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM the process's group, then SIGKILL what is left."""
    if process.poll() is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # children it may have left
        except (ProcessLookupError, PermissionError):
            pass
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class Cluster:
    """The deployment: databases, sandbox, Airflow components; ``start``, then ``stop``.

    :param work: folder for AIRFLOW_HOME, logs and the creatives.
    :param postgres_url: the PostgreSQL server (any database; the cluster creates its own two).
    :param redis_url: the Redis broker.
    :param db_prefix: prefix of the two database names.
    :param api_port: the UI/API port (a free one when omitted).
    :param poll_seconds: seconds between the sync's status polls (``CREATIVE_SYNC_POLL_SECONDS``).
    :param dags_folder: this repository's ``dags`` by default.
    """

    def __init__(
        self,
        work: Path,
        *,
        postgres_url: str,
        redis_url: str,
        db_prefix: str = "creative_cluster_",
        api_port: int | None = None,
        poll_seconds: float = 2.0,
        dags_folder: Path = REPO / "dags",
    ) -> None:
        from sqlalchemy.engine import make_url

        self.work = work
        self.home = work / "airflow"
        self.source = work / "creatives"
        self.logs = work / "process-logs"
        self.server = make_url(postgres_url)
        self.redis_url = redis_url
        tag = uuid.uuid4().hex[:8]
        self.metadata_url = self.server.set(database=f"{db_prefix}airflow_{tag}").render_as_string(hide_password=False)
        self.ledger_url = self.server.set(database=f"{db_prefix}ledger_{tag}").render_as_string(hide_password=False)
        self.queue = f"creative-cluster-{tag}"
        self.api_port = api_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.poll_seconds = poll_seconds
        self.dags_folder = dags_folder
        self.processes: dict[str, subprocess.Popen[Any]] = {}
        self.sandbox: Sandbox | None = None
        self.env: dict[str, str] = {}
        self._token: str | None = None
        self._databases_made = False

    # ----------------------------------------------------------------- life cycle
    def start(self, timeout: float = 600) -> Cluster:
        for folder in (self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.source.exists():
            shutil.copytree(EXAMPLES, self.source)
        (self.home / "passwords.json").write_text(json.dumps({UI_USER: UI_PASSWORD}))
        (self.home / "creative_cluster_hostname.py").write_text(_HOSTNAME_MODULE)
        self._create_databases()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        base.pop("AIRFLOW_HOME", None)
        self.sandbox = Sandbox(self.logs / "sandbox.log", {**base, "AIRFLOW_HOME": str(self.home)})
        self.env = {
            **base,
            **cluster_environment(
                home=self.home,
                metadata_url=self.metadata_url,
                ledger_url=self.ledger_url,
                broker_url=self.redis_url,
                api_port=self.api_port,
                source=self.source,
                connections=self.sandbox.connections,
                queue=self.queue,
                dags_folder=self.dags_folder,
            ),
            "CREATIVE_SYNC_POLL_SECONDS": str(self.poll_seconds),
        }
        migrate = subprocess.run(
            ["airflow", "db", "migrate"], env=self.env, capture_output=True, text=True, check=False
        )
        (self.logs / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed; see {self.logs / 'db-migrate.log'}")
        self.start_component("api-server", ["api-server", "--port", str(self.api_port)])
        self.start_component("scheduler", ["scheduler"])
        self.start_component("dag-processor", ["dag-processor"])
        self.start_component("triggerer", ["triggerer"])
        for number in range(1, WORKERS + 1):
            self.start_worker(number)
        self.wait_healthy(timeout)
        return self

    def start_component(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            ["airflow", *args],
            env={**self.env, "CREATIVE_CLUSTER_COMPONENT": name, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped (or killed) with its children
        )
        log.close()

    def start_worker(self, number: int) -> None:
        name = f"worker-{number}"
        self.start_component(
            name,
            ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", self.queue, "--skip-serve-logs"],
        )

    def stop_component(self, name: str, *, kill: bool = False) -> None:
        """Stop one component (SIGTERM, an orderly shutdown), or kill it as its machine dies:
        SIGKILL to it and every process below it, task processes included (Airflow's supervisor
        puts each task in a process group of its own, so killing the group is not enough)."""
        process = self.processes.pop(name)
        if not kill:
            _stop_group(process, timeout=60)
            return
        import psutil

        tree = [psutil.Process(process.pid)]
        tree += tree[0].children(recursive=True)
        for member in tree:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=30)
        process.wait()

    def stop(self, *, keep: bool = False) -> None:
        for process in self.processes.values():  # all at once: each may take seconds to shut down
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        for name in list(self.processes):
            process = self.processes.pop(name)
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _stop_group(process, timeout=1)
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self._databases_made and not keep:
            self._drop_databases()

    def _create_databases(self) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for url in (self.metadata_url, self.ledger_url):
                    conn.execute(text(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"'))
        finally:
            admin.dispose()
        self._databases_made = True

    def _drop_databases(self) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for url in (self.metadata_url, self.ledger_url):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def wait_healthy(self, timeout: float) -> None:
        """Until the API answers, the scheduler and triggerer are healthy and the DAGs are parsed."""
        deadline = time.monotonic() + timeout
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs / (name + '.log')}")
            try:
                health = self.api("GET", "/api/v2/monitor/health")
                parsed = self.api("GET", "/api/v2/dags", limit=100)
                dag_ids = {d["dag_id"] for d in parsed["dags"]}
                ok = all(
                    (health.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                )
                if ok and "creative_sync" in dag_ids:
                    return
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not become healthy in {timeout:.0f} s; see {self.logs}")
            time.sleep(2)

    def wait_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the dag-processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout
        while dag_id not in {d["dag_id"] for d in self.api("GET", "/api/v2/dags", limit=100)["dags"]}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} was not parsed in {timeout:.0f} s; see {self.logs}")
            time.sleep(2)

    # ----------------------------------------------------------------- REST API
    def token(self) -> str:
        """A JWT for the UI's user, as the UI's login gets it."""
        if self._token is None:
            response = requests.post(
                f"{self.api_url}/auth/token", json={"username": UI_USER, "password": UI_PASSWORD}, timeout=30
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One call of Airflow's REST API (v2) as the UI's user."""
        headers = {} if path.startswith("/api/v2/monitor") else {"Authorization": f"Bearer {self.token()}"}
        response = requests.request(
            method, f"{self.api_url}{path}", json=body, params=query, headers=headers, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Trigger a run as the UI's trigger form does; return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {state} after {timeout:.0f} s")
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of every map index of one task (its history plus the current try)."""
        out: list[dict[str, Any]] = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["task_id"] != task_id:
                continue
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{ti['map_index']}/tries"
            out += self.api("GET", path)["task_instances"]
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="UI/API port (default 8080; 0 picks a free one)")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the work folder on exit")
    args = parser.parse_args(argv)
    postgres = os.environ.get("CREATIVE_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis = os.environ.get("CREATIVE_REDIS_URL") or "redis://127.0.0.1:6379/0"
    work = args.work or Path(tempfile.mkdtemp(prefix="creative-cluster-"))
    cluster = Cluster(work, postgres_url=postgres, redis_url=redis, api_port=args.port or None)
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        say(f"starting the cluster in {work} (logs: {cluster.logs})")
        cluster.start()
        say("")
        say(f"Airflow UI:   {cluster.api_url}   login {UI_USER} / {UI_PASSWORD}")
        say("DAG:          creative_sync (paused at creation: unpause it, or trigger it from its form)")
        say(f"source:       {cluster.source}")
        assert cluster.sandbox is not None
        say(f"sandbox:      {cluster.sandbox.url}/_sandbox/docs")
        say(f"databases:    {cluster.metadata_url}  (Airflow)   {cluster.ledger_url}  (ledger)")
        say(f"executor:     CeleryExecutor, broker {redis}, queue {cluster.queue}, {WORKERS} workers")
        say("Ctrl-C stops everything.")
        while True:
            for name, process in cluster.processes.items():
                if process.poll() is not None:
                    say(f"{name} exited with {process.returncode}; see {cluster.logs / (name + '.log')}")
                    return 1
            time.sleep(2)
    except KeyboardInterrupt:
        stopping = True
        return 0
    finally:
        say("stopping every process of the cluster" + (" (Ctrl-C)" if stopping else ""))
        cluster.stop(keep=args.keep)
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
