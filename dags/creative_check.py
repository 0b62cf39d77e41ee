"""``creative_check``: does each platform still hold what the ledger says? (like ``rclone check``)."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.exceptions import PlatformConfigError
from airflow_creative_provider.sync.check import build_check_report, check_platform, format_check_table
from airflow_creative_provider.sync.params import ParamsError, SyncParams, target_params

PLATFORM_NAMES = list(PLATFORMS)

DOC = """
### Creative check

Compares what the ledger says was sent from the **source** with each platform's own listing
(read-only: only listings and status reads are sent) and reports, per platform account:

* **missing**: the platform no longer lists an asset the ledger holds (deleted there);
* **state changed**: a ready or rejected asset is now something else (rejected after approval,
  archived or trashed by someone);
* **content differs**: the platform's checksum is not the file's (Delta Projects' SHA-1);
* **unknown**: an asset carrying this provider's idempotency mark that the ledger does not know.

The ledger keeps the platform's state and the differences (the Creatives page shows a drift
badge). With **repair**, missing assets are marked so that the next `creative_sync` run sends
them again; nothing is ever deleted or changed on a platform.

The **report** task's log holds the table; its XCom `report` the counts and the first differences.
"""


with DAG(
    dag_id="creative_check",
    description="Check that every platform still holds what the creative ledger says (like rclone check)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["creatives", "ads"],
    params={
        **target_params(
            source_help="The source `creative_sync` syncs (a folder path, `file://…` or `s3://bucket/prefix`): "
            "the ledger's records of this source are checked.",
            platforms_help="Which platforms to check. **Pick at least one**.",
        ),
        "repair": Param(
            False,
            type="boolean",
            title="Repair",
            description="Mark missing assets so that the next creative_sync run sends them again "
            "(nothing is deleted or changed on a platform).",
        ),
    },
) as dag:

    @task
    def targets(params: dict[str, Any] | None = None) -> list[str]:
        """Check the params once; one mapped check per platform account (``platform:conn_id`` for one of several)."""
        try:
            return [target.name for target in SyncParams.parse(params or {}).targets]
        except ParamsError as exc:
            raise PlatformConfigError(f"creative_check cannot start: {exc}") from None

    @task(map_index_template="{{ platform_label }}")
    def check(platform: str, params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        """List one platform account, compare it with the ledger, store what differs."""
        get_current_context()["platform_label"] = platform  # type: ignore[typeddict-unknown-key]
        params = params or {}
        return check_platform(params, platform, run_id=str(run_id), repair=bool(params.get("repair"))).to_json()

    @task(trigger_rule="all_done")
    def report(results: Any, params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, int]:
        """Log the table; XCom ``report``; fail when a platform could not be checked. Returns the drift counts."""
        result = build_check_report(str(run_id), params or {}, [r for r in results or [] if r])
        print(format_check_table(result))
        get_current_context()["ti"].xcom_push(key="report", value=result)
        if result["errors"]:
            raise PlatformConfigError("creative_check: " + "; ".join(result["errors"].values()))
        return result["drift"]

    report(check.expand(platform=targets()))
