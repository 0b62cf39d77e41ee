"""The provider registers itself correctly: a bad provider info breaks discovery of every provider."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_creative_provider import PACKAGE_NAME, PLATFORMS, get_provider_info


def test_provider_info_matches_airflow_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name() -> None:
    assert get_provider_info()["package-name"] == PACKAGE_NAME
    assert importlib.metadata.distribution(PACKAGE_NAME).metadata["Name"] == PACKAGE_NAME


def test_entry_points_are_registered() -> None:
    groups = importlib.metadata.distribution(PACKAGE_NAME).entry_points
    by_group = {ep.group: ep for ep in groups}
    assert by_group["apache_airflow_provider"].load() is get_provider_info
    assert by_group["console_scripts"].name == "creative-sandbox"


def test_every_connection_type_has_a_form() -> None:
    types = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    assert set(types) == set(PLATFORMS)
    for conn in types.values():
        behaviour = conn["ui-field-behaviour"]
        assert behaviour["relabeling"] and behaviour["placeholders"]
        for field in conn["conn-fields"].values():
            assert field["label"] and field["description"]


@pytest.mark.parametrize("module", ["hooks.base", "transfer", "creative", "exceptions", "links"])
def test_production_code_never_imports_the_sandbox(module: str) -> None:
    code = (
        f"import sys, airflow_creative_provider.{module}; "
        "print(any(n.startswith('airflow_creative_provider.sandbox') or n == 'moto' for n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_airflow_lists_the_provider(airflow_home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [p["package_name"] for p in json.loads(out.stdout)]
    assert PACKAGE_NAME in names


def test_extra_links_and_connection_hooks_import() -> None:
    import importlib

    info = get_provider_info()
    for path in [*info["extra-links"], *(c["hook-class-name"] for c in info["connection-types"])]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_airflow_lists_every_hook_with_its_form(airflow_home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = {h["connection_type"]: h for h in json.loads(out.stdout)}
    for platform, (prefix, _, _) in PLATFORMS.items():
        assert listed[platform]["class"] == f"airflow_creative_provider.hooks.{platform}.{prefix}Hook"
        assert listed[platform]["package_name"] == PACKAGE_NAME
