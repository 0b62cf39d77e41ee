"""The sandbox serves a second account of every platform (``<platform>_second`` connections), so
that syncing several accounts of one platform runs against it, within each platform's contract."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.hooks import hook_class


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_the_second_connection_reaches_another_account_of_the_platform(
    creative_sandbox_env: Any, platform: str
) -> None:
    served = requests.get(f"{creative_sandbox_env.url}/_sandbox/connections", timeout=10).json()
    assert f"{platform}_default" in served and f"{platform}_second" in served
    first, second = hook_class(platform)(f"{platform}_default"), hook_class(platform)(f"{platform}_second")
    assert str(first.account) != str(second.account)
    # each account answers its own listing (what creative_check reads) and the connection test
    assert first.test_connection()[0] and second.test_connection()[0], second.test_connection()
    assert isinstance(second.list_account_assets(), list)


def test_amazon_still_refuses_a_profile_the_grant_does_not_reach(
    creative_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = creative_sandbox_env.connections()["amazon_ads_default"]
    conn["extra"] = {**conn["extra"], "profile_id": "1234567890"}
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_ADS_UNKNOWN", json.dumps(conn))
    ok, message = hook_class("amazon_ads")("amazon_ads_unknown").test_connection()
    assert not ok and "profile_id" in message
