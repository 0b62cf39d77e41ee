"""Platform links on the Creatives page when a run synced several accounts of a platform: the
run's connections param names a list, and the link comes from the connection that reaches the
cell's account (never from another account's connection)."""

from __future__ import annotations

import pytest

from airflow_creative_provider.hooks.base import CreativePlatformHook
from airflow_creative_provider.ui.app import AssetLinks

ACCOUNTS = {"amazon_us": "111", "amazon_eu": "222"}


class _LinkedHook(CreativePlatformHook):
    """A hook whose account is its connection's and whose UI URL names that account."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    @property
    def account(self) -> str:
        return ACCOUNTS[self.conn_id]

    def asset_url(self, remote_id: str) -> str | None:
        return f"https://ads.example/{self.account}/{remote_id}"


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> AssetLinks:
    import airflow_creative_provider.hooks as hooks

    monkeypatch.setattr(hooks, "hook_class", lambda platform: _LinkedHook)
    return AssetLinks({"run-1": {"amazon_ads": ["amazon_us", "amazon_eu"]}, "run-0": {"amazon_ads": "amazon_us"}})


def test_the_link_comes_from_the_connection_that_reaches_the_cells_account(links: AssetLinks) -> None:
    cell = {"platform": "amazon_ads", "account": "222", "remote_id": "A1", "last_run_id": "run-1"}
    assert links.url(cell) == "https://ads.example/222/A1"
    assert links.url({**cell, "account": "111"}) == "https://ads.example/111/A1"
    # a run with one connection (the old shape) still links its account, and no other
    assert links.url({**cell, "account": "111", "last_run_id": "run-0"}) == "https://ads.example/111/A1"
    assert links.url({**cell, "account": "222", "last_run_id": "run-0"}) is None
    assert links.url({**cell, "account": "333"}) is None  # no connection of the run reaches it: no link
