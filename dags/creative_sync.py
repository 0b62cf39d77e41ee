"""``creative_sync``: keep a shared folder of ad creatives in sync with five ad platforms."""

from __future__ import annotations

import logging
import os
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, AssetAlias, Param, get_current_context, task

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.exceptions import PlatformConfigError
from airflow_creative_provider.operators.sync import CreativeSyncApprovalOperator, CreativeSyncWaitOperator
from airflow_creative_provider.sync.engine import (
    DEFAULT_BATCH_SIZE,
    build_report,
    default_source,
    plan_run,
    prepare_next_plan,
    raise_for_report,
    submit_batch,
    wait_targets,
)

log = logging.getLogger(__name__)

PLATFORM_NAMES = list(PLATFORMS)
#: seconds between status polls while waiting (deployment setting, not a run param).
POLL_SECONDS = float(os.environ.get("CREATIVE_SYNC_POLL_SECONDS", "10"))
READY_CREATIVES = AssetAlias("creative_sync_ready")

DOC = """
### Creative sync

Lists the **source** folder (a local path, `file://…` or `s3://bucket/prefix`), checks every
file against each platform's rules, and sends what is new or changed to every selected
platform: Topsort, Amazon Ads, MediaMath, MediaPocket and Delta Projects.

* Unchanged files cost nothing (size and modification time are compared with the ledger);
  the same content under a second name is sent once.
* Files a platform does not accept are reported with the rule they break and never sent.
* One failing file or platform never stops the others; the run fails at the end if any
  send failed or a platform rejected a creative.
* Ready creatives update the Airflow Assets `creative://<platform>/<account>`.

The **report** task's log holds the table (file × platform → state, remote id, reason);
its XCom `return_value` holds the same as JSON.
"""


def _wait_targets(submitted: dict[str, Any]) -> dict[str, Any]:
    return wait_targets(submitted)


def approval_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """What an approver must see: new creatives to send and assets to archive, per platform."""
    new: set[str] = set()
    archive = 0
    per_platform: dict[str, dict[str, int]] = {}
    for batch in plan.get("batches", []):
        counts = per_platform.setdefault(batch["platform"], {"new": 0, "archive": 0})
        for item in batch.get("items", []):
            if item.get("action") == "upload" and item.get("change") == "new":
                new.add(item.get("sha256") or item["key"])
                counts["new"] += 1
            elif item.get("action") == "archive":
                archive += 1
                counts["archive"] += 1
    lines = [f"| {p} | {c['new']} | {c['archive']} |" for p, c in sorted(per_platform.items())]
    body = "\n".join(
        [
            f"Source `{plan.get('source')}`: **{len(new)} new creatives** to send, **{archive} assets** to archive.",
            "",
            "| platform | new | archive |",
            "|---|---|---|",
            *lines,
            "",
            "Approve to send; reject to end this run without sending anything.",
        ]
    )
    return {"new": len(new), "archive": archive, "body": body}


with DAG(
    dag_id="creative_sync",
    description="Sync a folder of ad creatives to Topsort, Amazon Ads, MediaMath, MediaPocket and Delta Projects",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["creatives", "ads"],
    render_template_as_native_obj=False,
    params={
        "source": Param(
            default_source(),
            type="string",
            minLength=1,
            title="Source",
            description_md="Folder path or URI holding the creatives: `/data/creatives`, `file://…`, "
            "`s3://bucket/prefix` or `s3://conn_id@bucket/prefix`. **Required**: while it is empty the form "
            "cannot be triggered.",
        ),
        "platforms": Param(
            PLATFORM_NAMES,
            type="array",
            items={"type": "string", "enum": PLATFORM_NAMES},
            examples=PLATFORM_NAMES,
            values_display={name: PLATFORMS[name][1] for name in PLATFORM_NAMES},
            uniqueItems=True,
            minItems=1,
            title="Platforms",
            description_md="Where to sync. **Pick at least one**: with none picked the form cannot be triggered.",
        ),
        "include": Param(
            "**/*",
            type="string",
            title="Include",
            description_md="Glob of the files to sync, relative to the source: `**/*` (everything), "
            "`banners/**`, `**/*.png`.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Plan and report; send nothing."),
        "wait_for_ready": Param(
            True,
            type="boolean",
            title="Wait for ready",
            description="Wait until each asset is ready or rejected.",
            section="Advanced",
        ),
        "batch_size": Param(
            DEFAULT_BATCH_SIZE,
            type="integer",
            minimum=1,
            title="Batch size",
            description_md=f"Assets per mapped task (default {DEFAULT_BATCH_SIZE}); give each task tens of seconds "
            "of work. **1 or more**: the form raises a smaller number to 1.",
            section="Advanced",
        ),
        "connections": Param(
            {p: f"{p}_default" for p in PLATFORM_NAMES},
            type="object",
            title="Connections",
            description_md="Airflow connection id per platform (keys: "
            + ", ".join(f"`{p}`" for p in PLATFORM_NAMES)
            + ").",
            section="Advanced",
        ),
        "strict": Param(
            False,
            type="boolean",
            title="Strict",
            description="Fail the run for files refused by local rules too.",
            section="Advanced",
        ),
        "archive_removed": Param(
            False,
            type="boolean",
            title="Archive removed",
            description="Archive the assets of files removed from the source, where the platform can.",
            section="Advanced",
        ),
        "max_archive": Param(
            10,
            type="integer",
            minimum=0,
            title="Max archive",
            description_md="Most assets archived in one run. **0 or more**: the form raises a negative number to 0.",
            section="Advanced",
        ),
        "checksum": Param(
            False,
            type="boolean",
            title="Checksum",
            description="Re-hash every file instead of trusting size and modification time.",
            section="Advanced",
        ),
        "require_approval_above": Param(
            0,
            type="integer",
            minimum=0,
            title="Require approval above",
            description_md="Wait for a person's approval when the plan would archive anything or send more than "
            "this many new creatives. **0: never ask**; the form raises a negative number to 0.",
            section="Advanced",
        ),
        "min_age_seconds": Param(
            0,
            type="integer",
            minimum=0,
            title="Minimum age (s)",
            description_md="Skip files modified more recently than this many seconds (half-written files wait for "
            "the next run). **0: no wait**; the form raises a negative number to 0.",
            section="Advanced",
        ),
    },
) as dag:

    @task
    def plan(params: dict[str, Any] | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """List the source, apply the rules, read the ledger, split the work into batches.

        Returns the batches (what ``submit`` maps over); the whole plan goes to XCom ``plan``.
        """
        try:
            result = plan_run(params or {}, run_id=str(run_id))
        except (ValueError, FileNotFoundError) as exc:
            raise PlatformConfigError(f"creative_sync cannot start: {exc}") from None
        ti = get_current_context()["ti"]
        ti.xcom_push(key="plan", value=result)
        ti.xcom_push(key="approval", value=approval_summary(result))
        return result["batches"]

    @task.branch
    def approval_gate(params: dict[str, Any] | None = None) -> str:
        """Ask a person first when the plan archives anything or sends more than the threshold."""
        threshold = int((params or {}).get("require_approval_above") or 0)
        ti = get_current_context()["ti"]
        summary = ti.xcom_pull(task_ids="plan", key="approval") or {}
        dry_run = bool((params or {}).get("dry_run"))
        if threshold and not dry_run and (summary.get("archive") or summary.get("new", 0) > threshold):
            return "approve"
        return "no_approval_needed"

    approve = CreativeSyncApprovalOperator(
        task_id="approve",
        subject="creative_sync: approve this sync?",
        body="{{ ti.xcom_pull(task_ids='plan', key='approval')['body'] }}",
    )
    no_approval_needed = EmptyOperator(task_id="no_approval_needed")

    @task(map_index_template="{{ batch_label }}", trigger_rule="none_failed_min_one_success")
    def submit(batch: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
        """Send one batch to one platform (bounded concurrency, ledger updated per asset)."""
        get_current_context()["batch_label"] = f"{batch['platform']} #{batch['index']}"  # type: ignore[typeddict-unknown-key]
        if batch.get("error"):
            raise PlatformConfigError(f"{batch['platform']}: {batch['error']}")
        return submit_batch(batch["platform"], batch["conn_id"], batch, str(run_id))

    @task(trigger_rule="all_done", outlets=[READY_CREATIVES])
    def report(submitted: Any, waited: Any, outlet_events: Any = None) -> dict[str, Any]:
        """Print the file x platform table, emit Asset events, fail the run if anything failed."""
        ti = get_current_context()["ti"]
        plan = ti.xcom_pull(task_ids="plan", key="plan")
        if plan is None:
            raise PlatformConfigError("creative_sync: the plan task did not finish; nothing was sent")
        decision = ti.xcom_pull(task_ids="approve", key="decision")
        if decision == "rejected":
            # Nothing was sent: report the plan as it would have run, marked as rejected.
            result = build_report({**plan, "dry_run": True})
            result["approval"] = "rejected"
            result["table"] = "The plan was rejected at the approval step: nothing was sent.\n" + result["table"]
            print(result["table"])
            ti.xcom_push(key="report", value=result)
            return result
        result = build_report(plan, [s for s in submitted or [] if s], [w for w in waited or [] if w])
        if decision:
            result["approval"] = decision
        print(result["table"])
        for event in result.get("asset_events", []):
            outlet_events[READY_CREATIVES].add(Asset(event["uri"]), extra=event.get("extra") or {})
        ti.xcom_push(key="report", value=result)
        if not result["failed"] and not plan.get("dry_run") and any(b.get("items") for b in plan["batches"]):
            try:  # so that the next run of an unchanged folder costs one listing
                prepare_next_plan(plan["run_id"])
            except Exception:  # noqa: BLE001 - an optimisation only: the next run plans afresh
                log.warning("Planning the next run ahead failed; it will plan afresh", exc_info=True)
        raise_for_report(result)
        return result

    batches = plan()
    gate = approval_gate()
    batches >> gate >> [approve, no_approval_needed]
    submitted = submit.expand(batch=batches)
    [approve, no_approval_needed] >> submitted
    waited = CreativeSyncWaitOperator.partial(task_id="wait", deferrable=True, poll_interval=POLL_SECONDS).expand(
        targets=submitted.map(_wait_targets)
    )
    report(submitted, waited.output)
