"""What the executor may send at all (issue 17 item 9): size limits and links out of the source.

Amazon's asset library, Topsort and MediaPocket document no file size limit: the project's
guard (500 MB) refuses larger files and says it is the project's own; the connection extra
``max_file_bytes`` raises it, and can only lower a limit a platform documents. A symbolic
link whose target lies outside the source folder is skipped by default (counted and named);
the ``follow_outside_links`` param sends its file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider.creative import SIZE_GUARD_BYTES, Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.hooks.amazon_ads import AMAZON_ADS_RULE_SETS
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.planner import plan_run
from airflow_creative_provider.sync.source import LINK_OUTSIDE, scan_source
from tests.support.images import png

UNDOCUMENTED = ("amazon_ads", "topsort", "mediapocket")
THREE_GB = 3 * 1024**3


@pytest.fixture
def image(tmp_path: Path) -> Creative:
    return Creative.inspect(png(tmp_path / "big.png", width=300, height=250))


@pytest.mark.parametrize("platform", UNDOCUMENTED)
def test_a_3_gb_file_is_refused_by_the_projects_guard_where_no_limit_is_documented(
    platform: str, image: Creative
) -> None:
    refusals = hook_class(platform).rules.check(image.replace(size=THREE_GB))
    assert [r.rule for r in refusals] == ["size"], refusals
    message = refusals[0].message
    assert "big.png" in message and str(SIZE_GUARD_BYTES) in message
    assert "a guard of this project" in message and "max_file_bytes" in message
    assert hook_class(platform).rules.check(image.replace(size=SIZE_GUARD_BYTES)) == []


@pytest.mark.parametrize("platform", UNDOCUMENTED)
def test_the_connection_extra_raises_the_guard(
    platform: str, image: Creative, creative_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = f"AIRFLOW_CONN_{platform.upper()}_DEFAULT"
    conn = json.loads(os.environ[env])
    conn.setdefault("extra", {})
    if isinstance(conn["extra"], str):
        conn["extra"] = json.loads(conn["extra"])
    conn["extra"]["max_file_bytes"] = str(4 * 1024**3)
    monkeypatch.setenv(env, json.dumps(conn))
    hook = hook_class(platform)(f"{platform}_default")
    assert hook.connection_rules.check(image.replace(size=THREE_GB)) == []


def test_the_extra_cannot_raise_a_limit_the_platform_documents(image: Creative) -> None:
    logo = AMAZON_ADS_RULE_SETS["sponsored_brands_logo"]
    refusals = logo.check(image.replace(size=2_000_000, width=500, height=500))
    assert [r.rule for r in refusals] == ["size"] and "a guard of this project" not in refusals[0].message

    class Logo(hook_class("amazon_ads")):  # type: ignore[misc, valid-type]
        rules = logo

        @property
        def extras(self) -> dict[str, Any]:
            return {"max_file_bytes": "9000000000"}

    hook = Logo.__new__(Logo)
    assert hook.connection_rules.max_bytes == logo.max_bytes


def test_the_plan_applies_the_connections_size_limit(
    tmp_path: Path, creative_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the planner checked the class's rules, so a connection's max_file_bytes never reached the plan."""
    folder = tmp_path / "creatives"
    png(folder / "banner.png", width=300, height=250)
    conn = json.loads(os.environ["AIRFLOW_CONN_TOPSORT_DEFAULT"])
    extra = conn.get("extra") or {}
    conn["extra"] = {**(json.loads(extra) if isinstance(extra, str) else extra), "max_file_bytes": "10"}
    monkeypatch.setenv("AIRFLOW_CONN_TOPSORT_DEFAULT", json.dumps(conn))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    plan_run({"source": str(folder), "platforms": ["topsort"], "dry_run": True}, run_id="r", ledger=ledger)
    row = next(r for r in ledger.run_items("r") if r["file_key"] == "banner.png")
    assert row["action"] == "refused" and row["rule"] == "size" and "over the limit of 10 bytes" in row["reason"]


# ---------------------------------------------------------------- links
@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A source folder with a link inside it, a link to a file elsewhere, and a linked folder."""
    elsewhere = tmp_path / "elsewhere"
    png(elsewhere / "secret.png", color="black")
    folder = tmp_path / "creatives"
    png(folder / "a.png")
    (folder / "same-as-a.png").symlink_to(folder / "a.png")
    (folder / "outside.png").symlink_to(elsewhere / "secret.png")
    (folder / "relative.png").symlink_to(Path("..") / "elsewhere" / "secret.png")
    (folder / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    return folder


def test_links_outside_the_source_are_skipped_and_named_by_default(linked: Path) -> None:
    scan = scan_source(str(linked))
    assert [e.key for e in scan.entries] == ["a.png", "same-as-a.png"]
    assert scan.skipped.get(LINK_OUTSIDE) == 2
    assert scan.links_outside == ["outside.png", "relative.png"]


def test_the_param_follows_links_outside_the_source(linked: Path, tmp_path: Path) -> None:
    scan = scan_source(f"file://{linked}", follow_outside_links=True)
    assert [e.key for e in scan.entries] == ["a.png", "outside.png", "relative.png", "same-as-a.png"]
    assert LINK_OUTSIDE not in scan.skipped and scan.links_outside == ["outside.png", "relative.png"]


def test_a_plan_never_sends_a_file_a_link_brings_from_elsewhere(linked: Path, tmp_path: Path, caplog) -> None:
    from tests.support.fakes import registry, reset

    reset()
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    plan_run({"source": str(linked), "platforms": ["topsort"]}, run_id="r", ledger=ledger, hooks=registry)
    keys = {r["file_key"] for r in ledger.run_items("r")}
    assert not keys & {"outside.png", "relative.png"}
    assert "outside.png: a link to" in caplog.text and "follow_outside_links" in caplog.text
    plan_run(
        {"source": str(linked), "platforms": ["topsort"], "follow_outside_links": True},
        run_id="r2",
        ledger=ledger,
        hooks=registry,
    )
    assert {"outside.png", "relative.png"} <= {r["file_key"] for r in ledger.run_items("r2")}
