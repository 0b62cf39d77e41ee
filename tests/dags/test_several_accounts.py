"""End to end: several accounts per platform (issue 16 §2) through ``creative_sync`` and
``creative_check`` (``dag.test()``) against the sandbox, whose ``<platform>_second``
connections reach a second account of each platform."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sync.source import list_source
from tests.support.dags import run_dag as _run
from tests.support.dags import sample_source

#: two Amazon Ads profiles and two MediaMath advertisers (the new list form), one Topsort vendor (the old form).
CONNECTIONS = {
    "amazon_ads": ["amazon_ads_default", "amazon_ads_second"],
    "mediamath": ["mediamath_default", "mediamath_second"],
    "topsort": "topsort_default",
}
TARGETS = {
    "amazon_ads:amazon_ads_default": ("amazon_ads", "amazon_ads_default"),
    "amazon_ads:amazon_ads_second": ("amazon_ads", "amazon_ads_second"),
    "mediamath:mediamath_default": ("mediamath", "mediamath_default"),
    "mediamath:mediamath_second": ("mediamath", "mediamath_second"),
    "topsort": ("topsort", "topsort_default"),
}


@pytest.fixture
def accounts_env(airflow_db, creative_sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = sample_source(creative_sandbox_env, tmp_path, monkeypatch)
    return creative_sandbox_env, source, f"sqlite:///{tmp_path / 'ledger.db'}"


def _accepted(source: Path, platform: str) -> dict[str, str]:
    """``{file key: sha256}`` of the files the platform's own rules accept (each content is sent to
    each account once; a second name of the same content is an alias, reported ready too)."""
    listing = list_source(str(source), include="**/*")
    rules = hook_class(platform).rules
    return {c.key: str(c.sha256) for c in listing.files if not rules.check(c)}


def _marks_on_platform(platform: str, conn_id: str) -> Counter[str]:
    """How many assets of the account carry each content's mark (the platform's own listing)."""
    listed = hook_class(platform)(conn_id).list_account_assets()
    return Counter((a.content_mark or "").lower() for a in listed if a.content_mark)


def _sends(sandbox, since: int) -> list[dict[str, Any]]:
    return [e for e in sandbox.journal() if e["seq"] > since and e["method"] in ("POST", "PUT")]


def _last_seq(sandbox) -> int:
    entries = sandbox.journal()
    return entries[-1]["seq"] if entries else 0


def _auth_headers() -> dict[str, str]:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="analyst", role="VIEWER"))
    return {"Authorization": f"Bearer {token}"}


def test_two_accounts_on_two_platforms_each_get_every_creative_once(accounts_env) -> None:
    sandbox, source, ledger_url = accounts_env
    conf = {"source": str(source), "platforms": ["amazon_ads", "mediamath", "topsort"], "connections": CONNECTIONS}
    accounts = {name: str(hook_class(p)(c).account) for name, (p, c) in TARGETS.items()}
    assert len(set(accounts.values())) == len(accounts), "the sandbox's second connections reach other accounts"

    run, report = _run("creative_sync", conf)
    assert run.state == "success", report
    # one mapped submit and wait per account, labelled with the account's connection
    assert "amazon_ads:amazon_ads_second #0" in run.mapped_labels, run.mapped_labels
    assert "mediamath:mediamath_default #0" in run.mapped_labels

    # Each account holds every accepted creative exactly once (its platform's own listing).
    for name, (platform, conn_id) in TARGETS.items():
        accepted = _accepted(source, platform)
        marks = _marks_on_platform(platform, conn_id)
        for sha256 in set(accepted.values()):
            found = [n for mark, n in marks.items() if sha256.startswith(mark)]
            assert found == [1], (name, sha256, marks)
        # and the report has a row of counts per account, all ready or refused by the rules
        counts = report["counts"][name]
        assert counts.get("ready") == len(accepted), (name, counts)
        assert set(counts) <= {"ready", "refused"}, counts
    assert set(report["counts"]) == set(TARGETS)
    assert report["accounts"] == accounts
    table = report["table"]
    for name in TARGETS:
        if ":" in name:
            assert f"{name} (account {accounts[name]})" in table, table
    # Ready creatives update the platform's Airflow Asset once per account, the account in the extra.
    events = {(e["uri"], e["extra"]["account"]) for e in report["asset_events"]}
    assert events == {(f"creative://{platform}", accounts[name]) for name, (platform, _) in TARGETS.items()}

    # A rerun sends nothing: each account is up to date.
    before = _last_seq(sandbox)
    rerun, again = _run("creative_sync", conf)
    assert rerun.state == "success", again
    assert _sends(sandbox, before) == []
    assert again["reused_plan_of"] == run.run_id
    assert {name: c.get("ready") for name, c in again["counts"].items()} == {
        name: c.get("ready") for name, c in report["counts"].items()
    }

    # The Creatives page's API: one column per account, each cell the account's own remote id.
    from fastapi.testclient import TestClient

    from airflow_creative_provider.ui.app import create_app

    client = TestClient(create_app(ledger_url), headers=_auth_headers(), root_path="/creative-sync")
    page = client.get("/api/assets", params={"limit": 500})
    assert page.status_code == 200, page.text
    body = page.json()
    columns = {(c["platform"], c["account"]): c["key"] for c in body["columns"]}
    assert set(columns) == {(p, accounts[name]) for name, (p, _) in TARGETS.items()}
    logo = next(r for r in body["items"] if r["key"] == "logos/sunline_logo_600x600.png")
    for platform in ("amazon_ads", "mediamath"):
        ids = {logo["cells"][key]["remote_id"] for (p, _), key in columns.items() if p == platform}
        assert len(ids) == 2 and None not in ids, logo["cells"]  # two accounts, two assets
    runs = client.get("/runs")
    assert runs.status_code == 200
    assert "Amazon Ads · amazon_ads_second" in runs.text and "MediaMath · mediamath_default" in runs.text

    # creative_check takes the same connections and checks each account: drift in one shows there only.
    second = hook_class("amazon_ads")("amazon_ads_second")
    from airflow_creative_provider.sync.ledger import Ledger

    records = Ledger(ledger_url).records("amazon_ads", accounts["amazon_ads:amazon_ads_second"])
    record = next(r for r in records if r.state == "ready" and r.remote_id)
    response = requests.post(
        f"{sandbox.url}/_sandbox/drift",
        json={"platform": "amazon_ads", "remote_id": record.remote_id, "action": "state", "state": "ARCHIVED"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    check, checked = _run("creative_check", conf)
    assert check.state == "success", checked
    assert set(checked["counts"]) == set(TARGETS), checked
    assert checked["counts"]["amazon_ads:amazon_ads_second"]["state_changed"] == 1, checked
    for name in set(TARGETS) - {"amazon_ads:amazon_ads_second"}:
        assert checked["counts"][name]["state_changed"] == 0 and checked["counts"][name]["missing"] == 0, name
        platform = TARGETS[name][0]
        assert checked["counts"][name]["checked"] == len(set(_accepted(source, platform).values())), name
    assert [d["account"] for d in checked["differences"]] == [str(second.account)]
