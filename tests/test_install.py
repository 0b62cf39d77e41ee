"""README's install lines work on a fresh virtual environment.

The lines are read from README's "Install into an existing Airflow" block and run as written,
through ``uv pip install`` (pip's interface) with ``--offline --no-deps`` so the test is fast
and needs no network: the build backend comes from uv's cache, the dependencies from this
project's environment (a ``.pth`` file), never the package itself. Then the fresh environment
must find the provider and the plugin through their entry points, from its own copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECKOUT = "airflow-creative-provider"  # the folder name README's `git clone` line creates

CHECK = """
import importlib.metadata as md, json, airflow_creative_provider
dist = md.distribution("airflow-creative-provider")
points = {ep.group: ep for ep in dist.entry_points}
info = points["apache_airflow_provider"].load()()
plugin = points["airflow.plugins"].load()
print(json.dumps({
    "file": airflow_creative_provider.__file__,
    "package": info["package-name"],
    "connection_types": sorted(c["connection-type"] for c in info["connection-types"]),
    "plugin": plugin.name,
    "sandbox_script": "creative-sandbox" in {ep.name for ep in dist.entry_points if ep.group == "console_scripts"},
}))
"""


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (scripts/test installs it)")
    return found


def _install_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Install into an existing Airflow", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's install section has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.split("#", 1)[0].strip()]


def _fresh_venv(uv: str, where: Path) -> Path:
    """A new venv whose dependencies (not this package) resolve from this project's environment."""
    subprocess.run([uv, "venv", "-q", "--offline", "--python", sys.executable, str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: the project venv's own .pth files (its editable install) are not processed.
    Path(purelib, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _pip_install(uv: str, python: Path, line: str, cwd: Path) -> None:
    args = line.split()[2:]  # "pip install <what>"
    assert args, line
    done = subprocess.run(
        [uv, "pip", "install", "--offline", "--no-deps", "--python", str(python), *[a.strip("\"'") for a in args]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    )
    assert done.returncode == 0, f"README line {line!r} failed:\n{done.stderr}"


def _installed(python: Path, venv: Path) -> dict[str, object]:
    out = subprocess.run([str(python), "-c", CHECK], check=True, capture_output=True, text=True, cwd=venv)
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(str(facts["file"])).is_relative_to(venv), "imported from the fresh venv, not the checkout"
    return facts


EXPECTED = {
    "package": "airflow-creative-provider",
    "connection_types": ["amazon_ads", "delta_projects", "mediamath", "mediapocket", "topsort"],
    "plugin": "creative_sync",
    "sandbox_script": True,
}


def test_readme_names_no_index_install() -> None:
    lines = _install_block()
    assert "pip install airflow-creative-provider" not in lines, "the package is on no index"
    assert any(line.startswith("git clone") for line in lines)


def test_readme_install_from_a_checkout_on_a_fresh_venv(tmp_path: Path) -> None:
    uv = _uv()
    (tmp_path / CHECKOUT).symlink_to(REPO)  # what `git clone ... airflow-creative-provider` leaves
    lines = [line for line in _install_block() if line.startswith("pip install ./") or 'install "./' in line]
    assert len(lines) == 2, lines  # the package, and with the sandbox extra
    for n, line in enumerate(lines):
        venv = tmp_path / f"venv{n}"
        python = _fresh_venv(uv, venv)
        _pip_install(uv, python, line, tmp_path)
        facts = _installed(python, venv)
        assert {k: facts[k] for k in EXPECTED} == EXPECTED


def test_readme_install_from_a_wheel_on_a_fresh_venv(tmp_path: Path) -> None:
    uv = _uv()
    lines = _install_block()
    (build,) = [line for line in lines if "uv build" in line]
    (install,) = [line for line in lines if line.startswith("pip install dist/")]
    dist = tmp_path / "dist"
    built = subprocess.run(
        [uv, *build.split("&&")[-1].split()[1:], "--offline", "-o", str(dist)], cwd=REPO, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    wheel = install.split()[-1]
    assert (tmp_path / wheel).exists(), f"README names {wheel}, the build wrote {sorted(os.listdir(dist))}"
    venv = tmp_path / "venv"
    python = _fresh_venv(uv, venv)
    _pip_install(uv, python, install, tmp_path)
    facts = _installed(python, venv)
    assert {k: facts[k] for k in EXPECTED} == EXPECTED
