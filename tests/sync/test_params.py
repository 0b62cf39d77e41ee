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


# ----------------------------------------------------------------------------- several accounts per platform
def test_one_connection_id_per_platform_keeps_its_shape_and_is_one_target(tmp_path: Path) -> None:
    """The trigger form's shape (a string per platform) reads as before: one target per platform, named by it."""
    p = SyncParams.parse({"source": str(tmp_path), "connections": {"topsort": "ts", "mediamath": ["mm"]}})
    assert p.connections["topsort"] == "ts" and p.connections["mediamath"] == "mm"
    assert [(t.name, t.platform, t.conn_id) for t in p.targets][:3] == [
        ("topsort", "topsort", "ts"),
        ("amazon_ads", "amazon_ads", "amazon_ads_default"),
        ("mediamath", "mediamath", "mm"),
    ]
    assert p.to_json()["connections"]["mediamath"] == "mm"


def test_a_list_of_connection_ids_is_one_target_per_account(tmp_path: Path) -> None:
    p = SyncParams.parse(
        {
            "source": str(tmp_path),
            "platforms": ["amazon_ads", "mediamath"],
            "connections": {"amazon_ads": ["amazon_us", " amazon_eu", "amazon_us"], "mediamath": "mm"},
        }
    )
    assert p.connections == {"amazon_ads": ("amazon_us", "amazon_eu"), "mediamath": "mm"}  # a repeat is dropped
    assert [(t.name, t.platform, t.conn_id) for t in p.targets] == [
        ("amazon_ads:amazon_us", "amazon_ads", "amazon_us"),
        ("amazon_ads:amazon_eu", "amazon_ads", "amazon_eu"),
        ("mediamath", "mediamath", "mm"),
    ]
    assert p.to_json()["connections"] == {"amazon_ads": ["amazon_us", "amazon_eu"], "mediamath": "mm"}
    assert SyncParams.parse(p.to_json()) == p  # the ledger's record of the run reads back the same
    assert p.target("amazon_ads:amazon_eu").conn_id == "amazon_eu"
    with pytest.raises(
        ParamsError, match="no platform account 'amazon_ads' in these params; they have amazon_ads:amazon_us"
    ):
        p.target("amazon_ads")


@pytest.mark.parametrize(
    ("connections", "message"),
    [
        ({"amazon_ads": []}, "connections: 'amazon_ads' is an empty list; name at least one Airflow connection id"),
        ({"amazon_ads": ["amazon_us", 7]}, "connections: item 1 of 'amazon_ads' must name an Airflow connection id"),
        ({"amazon_ads": ["amazon_us", " "]}, "item 1 of 'amazon_ads'"),
        (
            {"amazon_ads": {"us": "amazon_us"}},
            "'amazon_ads' must name an Airflow connection id (a non-empty string) or a list",
        ),
        ("amazon_us", "connections must be an object"),
    ],
)
def test_a_wrong_list_of_connections_is_refused_naming_the_platform(
    tmp_path: Path, connections: object, message: str
) -> None:
    with pytest.raises(ParamsError) as refused:
        SyncParams.parse({"source": str(tmp_path), "connections": connections})
    assert message in str(refused.value)


def test_two_connections_reaching_one_account_refuse_the_later_one_naming_both() -> None:
    from airflow_creative_provider.sync.params import SyncTarget, duplicate_accounts

    us, copy, eu = (SyncTarget(f"amazon_ads:{c}", "amazon_ads", c) for c in ("amazon_us", "amazon_copy", "amazon_eu"))
    other = SyncTarget("mediamath", "mediamath", "mm")
    refused = duplicate_accounts([(us, "111"), (copy, "111"), (eu, "222"), (other, "111"), (eu, None)])
    assert list(refused) == ["amazon_ads:amazon_copy"]  # the same id on another platform is another account
    assert "'amazon_copy' reaches the same amazon_ads account '111' as connection 'amazon_us'" in refused[copy.name]
    assert "remove one of them from the connections param" in refused[copy.name]


def test_both_dags_take_source_platforms_and_connections_from_one_builder() -> None:
    """Review D3: creative_check accepts exactly what creative_sync accepts, old shape and new."""
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamValidationError

    from airflow_creative_provider.sync.params import target_params

    shared = target_params(source_help="s", platforms_help="p")
    assert list(shared) == ["source", "platforms", "connections"]
    connections: Param = shared["connections"]
    for value in ({"topsort": "ts"}, {"amazon_ads": ["amazon_us", "amazon_eu"], "topsort": "ts"}):
        assert connections.resolve(value) == value
    for wrong in ({"amazon_ads": []}, {"amazon_ads": ["a", "a"]}, {"amazon_ads": 3}, {"myspace": "x"}):
        with pytest.raises(ParamValidationError):
            connections.resolve(wrong)
    from tests.support.dags import load_dag

    dags = [load_dag("creative_sync"), load_dag("creative_check")]
    for name in ("source", "platforms", "connections"):
        schemas = [{k: v for k, v in d.params.get_param(name).schema.items() if k != "description_md"} for d in dags]
        assert schemas[0] == schemas[1], name  # the same values are valid for both (the help text may differ)
