"""Structural checks of ``docker-compose.yaml``, ``Dockerfile`` and ``.dockerignore``.

No Docker engine runs here: the files are parsed and checked against the official Airflow
stack, the Airflow version locked in ``uv.lock``, the package's own metadata and the
sandbox's connection specs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from airflow_creative_provider.sandbox.app import connection_specs, create_app
from airflow_creative_provider.sandbox.state import PLATFORMS, SandboxState

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"

# The services of the official Airflow 3 docker-compose.yaml (CeleryExecutor) and the command
# each Airflow service runs.
# https://airflow.apache.org/docs/apache-airflow/stable/howto/docker-compose/index.html
OFFICIAL_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
    "flower": "celery flower",
}
OFFICIAL_SERVICES = {*OFFICIAL_COMMANDS, "airflow-init", "airflow-cli", "postgres", "redis"}
AIRFLOW_SERVICES = {*OFFICIAL_COMMANDS, "airflow-init", "airflow-cli"}
ONE_SHOT = {"airflow-init", "airflow-cli"}
CONN_TYPES = {platform: platform for platform in PLATFORMS}  # DESIGN.md: conn_type = platform name

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def locked_airflow_version() -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    versions = [p["version"] for p in lock["package"] if p["name"] == "apache-airflow"]
    assert len(versions) == 1, versions
    return versions[0]


def interpolations(value: Any) -> Iterator[tuple[str, str | None]]:
    """(variable, default-or-operator) for every ``${VAR...}`` / ``$VAR`` in parsed YAML values."""
    if isinstance(value, dict):
        for item in value.values():
            yield from interpolations(item)
    elif isinstance(value, list):
        for item in value:
            yield from interpolations(item)
    elif isinstance(value, str):
        for match in _INTERPOLATION.finditer(value.replace("$$", "")):
            yield (match.group(1) or match.group(3)), match.group(2)


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {key: str(value) for key, value in environment.items()}


def default_of(value: str) -> str:
    """A compose value with every ``${VAR:-default}`` replaced by its default."""

    def default(match: re.Match[str]) -> str:
        operator = match.group(2) or ""
        return operator.lstrip(":")[1:] if operator.lstrip(":").startswith("-") else ""

    return _INTERPOLATION.sub(default, value)


def command_line(service: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        parts += value.split() if isinstance(value, str) else list(value or [])
    return parts


def dockerfile_lines() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# -- the official stack ---------------------------------------------------------------------


def test_every_official_service_is_present_with_its_command(services):
    assert OFFICIAL_SERVICES <= set(services)
    for name, command in OFFICIAL_COMMANDS.items():
        assert " ".join(command_line(services[name])) == command, name
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert services["flower"]["profiles"] == ["flower"]


def test_celery_executor_on_postgres_and_redis(services):
    for name in AIRFLOW_SERVICES:
        variables = env(services[name])
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert urlsplit(variables["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
        assert urlsplit(variables["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
        api = urlsplit(variables["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert api.hostname == "airflow-apiserver"
        assert f"{api.port}:{api.port}" in services["airflow-apiserver"]["ports"]


def test_image_is_built_from_the_locked_airflow_version(services, locked_airflow_version):
    from_lines = [line for line in dockerfile_lines() if line.upper().startswith("FROM ")]
    assert from_lines == [f"FROM apache/airflow:{locked_airflow_version}"]
    images = {name: services[name]["image"] for name in AIRFLOW_SERVICES | {"sandbox"}}
    assert len(set(images.values())) == 1, images  # one image for Airflow and the sandbox
    assert default_of(next(iter(images.values()))).endswith(f":{locked_airflow_version}")
    for name in AIRFLOW_SERVICES | {"sandbox"}:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (REPO / context / "Dockerfile").is_file(), name


def test_dockerfile_installs_this_package_with_the_sandbox_extra_and_pinned_airflow():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "sandbox" in project["optional-dependencies"]
    lines = dockerfile_lines()
    copies = [line.split()[1:] for line in lines if line.upper().startswith("COPY ")]
    copied = {src: args[-1].rstrip("/") for args in copies for src in args[:-1] if not src.startswith("--")}
    target = copied["pyproject.toml"]
    assert copied["README.md"] == target  # hatchling reads the readme named in pyproject
    package = project["name"].replace("-", "_")
    assert copied[package] == f"{target}/{package}"
    installs = [line for line in lines if line.upper().startswith("RUN ") and "pip install" in line]
    assert len(installs) == 1
    install = installs[0]
    assert f'"{target}[sandbox]"' in install
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install
    assert re.search(
        r"--constraint \S*constraints-\$\{AIRFLOW_VERSION\}/constraints-\$\{PYTHON_VERSION\}\.txt", install
    )


def dockerignore_keeps(path: str) -> bool:
    """Docker's rule: the last pattern matching a path (or one of its parents) decides."""
    keep = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates)
        if hit:
            keep = negate
    return keep


def test_dockerignore_sends_the_sources_and_nothing_heavy():
    for path in (
        "pyproject.toml",
        "README.md",
        "airflow_creative_provider/__init__.py",
        "airflow_creative_provider/sandbox/app.py",
    ):
        assert dockerignore_keeps(path), path
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "examples/creatives/bad/empty.png",
        "logs/x.log",
    ):
        assert not dockerignore_keeps(path), path
    assert not dockerignore_keeps("airflow_creative_provider/__pycache__/x.pyc")


def test_long_running_services_have_health_checks_and_restart(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name
        assert service.get("restart") == "always", name


def test_dependencies_exist_and_wait_for_the_right_condition(services):
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), name
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            if spec["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} health it lacks"
            else:
                assert spec["condition"] == "service_completed_successfully" and target in ONE_SHOT


def test_every_variable_has_a_default_and_is_documented(compose):
    header = COMPOSE_FILE.read_text().split("\n---", 1)[0]
    found = dict(interpolations(compose))
    assert "AIRFLOW_UID" in found and "AIRFLOW__API_AUTH__JWT_SECRET" in found
    for variable, operator in found.items():
        assert operator is not None and operator.lstrip(":").startswith("-"), f"${{{variable}}} has no default"
        assert variable in header, f"{variable} is not described in the header comment"


def test_named_volumes_are_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert used == declared


def test_every_airflow_service_shares_jwt_secret_connections_and_source(services):
    shared = None
    for name in AIRFLOW_SERVICES:
        variables = env(services[name])
        assert variables.get("AIRFLOW__API_AUTH__JWT_SECRET"), name
        view = {
            key: value
            for key, value in variables.items()
            if key.startswith("AIRFLOW_CONN_") or key in ("AIRFLOW__API_AUTH__JWT_SECRET", "CREATIVE_SYNC_SOURCE")
        }
        shared = shared or view
        assert view == shared, name
    assert default_of(shared["AIRFLOW__API_AUTH__JWT_SECRET"])  # a usable default


def test_creatives_folder_is_mounted_as_the_sync_source(services):
    for name in AIRFLOW_SERVICES:
        mounts = dict(volume.rsplit(":", 1)[::-1] for volume in services[name]["volumes"])
        source = env(services[name])["CREATIVE_SYNC_SOURCE"]
        assert default_of(mounts[source]) == "./creatives", name


# -- sandbox and ledger ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_sandbox(services):
    """The sandbox app configured the way the compose file configures the `sandbox` service."""
    variables = env(services["sandbox"])
    state = SandboxState(seed=0)
    app = create_app(state)
    state.base_url = variables["CREATIVE_SANDBOX_PUBLIC_URL"]
    state.credentials.update(json.loads(variables["CREATIVE_SANDBOX_CREDENTIALS"]))
    yield app
    state.s3.stop()


def test_sandbox_service_runs_creative_sandbox_with_a_health_check(services):
    sandbox = services["sandbox"]
    line = command_line(sandbox)
    assert "creative-sandbox" in line
    assert line[line.index("--host") + 1] == "0.0.0.0"
    port = line[line.index("--port") + 1]
    assert any(str(p).endswith(f":{port}") for p in sandbox["ports"])
    assert f"localhost:{port}/_sandbox/health" in " ".join(sandbox["healthcheck"]["test"])
    routes = {route.path for route in create_app(SandboxState(), with_s3=False).routes}
    assert "/_sandbox/health" in routes
    public = urlsplit(env(sandbox)["CREATIVE_SANDBOX_PUBLIC_URL"])
    assert (public.hostname, str(public.port)) == ("sandbox", port)
    s3 = urlsplit(env(sandbox)["CREATIVE_SANDBOX_S3_PUBLIC_URL"])
    assert (s3.hostname, str(s3.port)) == ("sandbox", env(sandbox)["CREATIVE_SANDBOX_S3_PORT"])
    assert int(s3.port) in [int(p) for p in sandbox["expose"]]
    for name in ("airflow-worker", "airflow-triggerer"):  # who calls the platforms
        assert services[name]["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_preseeded_sandbox_credentials_have_the_fields_the_sandbox_uses(services):
    state = SandboxState(seed=0)
    app = create_app(state, with_s3=False)
    for module in app.modules.values():
        module.connection(state)  # makes each platform draw its own credentials
    preseeded = json.loads(env(services["sandbox"])["CREATIVE_SANDBOX_CREDENTIALS"])
    assert set(preseeded) == set(state.credentials)
    for platform, fields in state.credentials.items():
        assert set(preseeded[platform]) == set(fields), platform


def test_platform_connections_point_at_the_sandbox(services, compose_sandbox):
    variables = env(services["airflow-worker"])
    specs = {spec.conn_id: spec.to_json() for spec in connection_specs(compose_sandbox)}
    s3_endpoint = compose_sandbox.sandbox.s3.endpoint
    public_s3 = env(services["sandbox"])["CREATIVE_SANDBOX_S3_PUBLIC_URL"]
    for platform in PLATFORMS:
        conn_id = f"{platform}_default"
        conn = json.loads(variables[f"AIRFLOW_CONN_{conn_id.upper()}"])
        assert conn["conn_type"] == CONN_TYPES[platform]
        assert conn["host"] == f"http://sandbox:8900/{platform}"
        if conn_id in specs:  # the platform's sandbox router exists: match it exactly
            expected = json.loads(json.dumps(specs[conn_id]).replace(s3_endpoint, public_s3))
            assert conn == expected, f"{conn_id} should be {json.dumps(expected)}"
    s3 = json.loads(variables["AIRFLOW_CONN_CREATIVE_SANDBOX_S3"])
    expected_s3 = json.loads(json.dumps(specs["creative_sandbox_s3"]).replace(s3_endpoint, public_s3))
    assert s3 == expected_s3


def test_ledger_connection_reaches_the_ledger_database(services, monkeypatch):
    from sqlalchemy.engine import make_url

    from airflow_creative_provider.sync import ledger

    value = env(services["airflow-worker"])["AIRFLOW_CONN_CREATIVE_LEDGER"]
    monkeypatch.setenv("AIRFLOW_CONN_CREATIVE_LEDGER", value)
    url = make_url(ledger.default_url())
    assert url.get_backend_name() == "postgresql"
    database = services[url.host]
    assert database["image"].startswith("postgres:")
    db_env = env(database)
    assert (url.username, url.password, url.database) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )
    assert db_env["POSTGRES_DB"] in " ".join(database["healthcheck"]["test"])
    for name in AIRFLOW_SERVICES - {"airflow-cli"}:
        assert services[name]["depends_on"][url.host]["condition"] == "service_healthy", name
