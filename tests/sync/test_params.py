"""``SyncParams``: the DAG's params checked before anything is listed or sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.params import DEFAULT_BATCH_SIZE, ParamsError, SyncParams


def test_defaults_fill_every_param(tmp_path: Path) -> None:
    p = SyncParams.parse({"source": f"file://{tmp_path}/"})
    assert p.source == str(tmp_path) and p.platforms == tuple(PLATFORMS)
    assert p.connections == {name: f"{name}_default" for name in PLATFORMS}
    assert (p.batch_size, p.max_archive, p.dry_run, p.wait_for_ready) == (DEFAULT_BATCH_SIZE, 10, False, True)
    assert SyncParams.parse(p.to_json()) == p  # what the ledger keeps reads back the same


def test_connections_name_the_platforms_asked_for(tmp_path: Path) -> None:
    p = SyncParams.parse(
        {"source": str(tmp_path), "platforms": ["topsort", "topsort", "mediamath"], "connections": {"topsort": "ts"}}
    )
    assert p.platforms == ("topsort", "mediamath")
    assert p.connections == {"topsort": "ts", "mediamath": "mediamath_default"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"connections": {"topsort": 5}}, "connections: 'topsort' must name an Airflow connection id"),
        ({"connections": {"topsort": ""}}, "connections: 'topsort' must name"),
        ({"connections": {"amazon-ads": "amazon_ads_default"}}, "connections: unknown platform 'amazon-ads'"),
        ({"connections": ["topsort"]}, "connections must be an object"),
        ({"platforms": ["myspace"]}, "unknown platform(s) myspace"),
        ({"platforms": [3]}, "platforms must be a list of platform names"),
        ({"batch_size": -1}, "batch_size must be at least 1"),
        ({"batch_size": "many"}, "batch_size must be a whole number"),
        ({"max_archive": -1}, "max_archive must be at least 0"),
        ({"dry_run": "yes"}, "dry_run must be true or false"),
        ({"min_age_seconds": -5}, "min_age_seconds must be 0 or more"),
        ({"include": 7}, "include must be a glob"),
    ],
)
def test_a_wrong_param_is_refused_naming_it(tmp_path: Path, params: dict[str, object], message: str) -> None:
    with pytest.raises(ParamsError) as refused:
        SyncParams.parse({"source": str(tmp_path), **params})
    assert message in str(refused.value)


def test_an_unknown_connection_key_is_refused_before_anything_is_listed(tmp_path: Path) -> None:
    from airflow_creative_provider.sync.ledger import Ledger
    from airflow_creative_provider.sync.planner import plan_run

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(ParamsError, match="amazon-ads"):
        plan_run({"source": str(tmp_path / "nowhere"), "connections": {"amazon-ads": "x"}}, run_id="r", ledger=ledger)
    # nothing planned; the run is on the Sync runs tab with its error (issue 15, item 5)
    stored = ledger.run("r")
    assert stored and stored["outcome"] == "failed" and "amazon-ads" in stored["summary"]["error"]
    assert ledger.run_items("r") == []
