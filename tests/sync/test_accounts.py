"""Several accounts per platform in the engine (plan -> submit -> report, and the check), against
the sandbox: each account is its own target; a connection reaching an account another
connection of the run already reaches is refused, and the rest of the run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_creative_provider.exceptions import PlatformConfigError
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sync.check import build_check_report, check_platform
from airflow_creative_provider.sync.engine import build_report, plan_run, report_rows, submit_batch
from airflow_creative_provider.sync.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
LOGOS = REPO / "examples" / "creatives" / "logos"
COPY = "amazon_ads_copy"


@pytest.fixture
def two_amazon_accounts(creative_sandbox_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The logos, a fresh ledger, and ``amazon_ads_copy``: another connection id for the default profile."""
    source = tmp_path / "logos"
    shutil.copytree(LOGOS, source)
    copy = creative_sandbox_env.connections()["amazon_ads_default"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{COPY.upper()}", json.dumps(copy))
    return source, Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")


def test_a_second_connection_to_the_same_account_is_refused_and_the_others_sync(two_amazon_accounts) -> None:
    source, ledger = two_amazon_accounts
    params = {
        "source": str(source),
        "platforms": ["amazon_ads"],
        "connections": {"amazon_ads": ["amazon_ads_default", COPY, "amazon_ads_second"]},
        "wait_for_ready": False,
    }
    plan = plan_run(params, run_id="accounts-1", ledger=ledger)
    assert list(plan.platforms) == [
        "amazon_ads:amazon_ads_default",
        f"amazon_ads:{COPY}",
        "amazon_ads:amazon_ads_second",
    ]
    refused = plan.platforms[f"amazon_ads:{COPY}"]
    assert refused.error and "'amazon_ads_copy' reaches the same amazon_ads account" in refused.error
    assert "as connection 'amazon_ads_default'" in refused.error
    by_target = {b.target_name: b for b in plan.batches}
    assert by_target[f"amazon_ads:{COPY}"].error == refused.error
    uploads = plan.platforms["amazon_ads:amazon_ads_default"].counts["upload"]
    assert uploads and plan.platforms["amazon_ads:amazon_ads_second"].counts["upload"] == uploads

    results = []
    for batch in plan.batches:
        if batch.error:
            with pytest.raises(PlatformConfigError, match="amazon_ads_copy"):
                submit_batch(batch, ledger=ledger)
            continue
        results.append(submit_batch(batch, ledger=ledger))
    # each usable account got every upload once, in its own ledger records
    default = str(hook_class("amazon_ads")("amazon_ads_default").account)
    second = str(hook_class("amazon_ads")("amazon_ads_second").account)
    for account in (default, second):
        records = ledger.records("amazon_ads", account)
        assert len(records) == uploads and all(r.remote_id for r in records)
    assert not {r.remote_id for r in ledger.records("amazon_ads", default)} & {
        r.remote_id for r in ledger.records("amazon_ads", second)
    }
    assert {r.account for r in results} == {default, second}

    report = build_report(plan, ledger=ledger)
    assert report.failed and any("amazon_ads_copy" in p for p in report.problems)
    assert set(report.counts) == set(plan.platforms)
    assert report.counts["amazon_ads:amazon_ads_second"] == report.counts["amazon_ads:amazon_ads_default"]
    rows = report_rows("accounts-1", ledger=ledger)
    assert {r.platform for r in rows} == {"amazon_ads:amazon_ads_default", "amazon_ads:amazon_ads_second"}
    assert f"amazon_ads:amazon_ads_second (account {second})" in report.table


def test_the_check_refuses_the_same_duplicate_and_checks_each_other_account(two_amazon_accounts) -> None:
    source, ledger = two_amazon_accounts
    params = {
        "source": str(source),
        "platforms": ["amazon_ads"],
        "connections": {"amazon_ads": ["amazon_ads_default", COPY, "amazon_ads_second"]},
    }
    results = [
        check_platform(params, name, run_id="check-1", ledger=ledger).to_json()
        for name in ("amazon_ads:amazon_ads_default", f"amazon_ads:{COPY}", "amazon_ads:amazon_ads_second")
    ]
    assert [r["target"] for r in results] == [
        "amazon_ads:amazon_ads_default",
        f"amazon_ads:{COPY}",
        "amazon_ads:amazon_ads_second",
    ]
    assert results[0]["error"] is None and results[2]["error"] is None
    assert "reaches the same amazon_ads account" in results[1]["error"]
    report = build_check_report("check-1", params, results)
    assert set(report["counts"]) == {"amazon_ads:amazon_ads_default", "amazon_ads:amazon_ads_second"}
    assert list(report["errors"]) == [f"amazon_ads:{COPY}"]
