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
    approval_summary,
    build_report,
    format_table,
    needs_approval,
    plan_run,
    prepare_next_plan,
    raise_for_report,
    report_rows,
    submit_batch,
)
from airflow_creative_provider.sync.params import target_params
from airflow_creative_provider.sync.payloads import BatchRef, PlanSummary
from airflow_creative_provider.sync.report import asset_uri

log = logging.getLogger(__name__)

PLATFORM_NAMES = list(PLATFORMS)
#: seconds between status polls while waiting (deployment setting, not a run param).
POLL_SECONDS = float(os.environ.get("CREATIVE_SYNC_POLL_SECONDS", "10"))
#: longest a run waits for processing (deployment setting); the run's waits also end by its
#: deadline, three quarters of the schedule's interval after it started (45 min of an hour).
WAIT_SECONDS = float(os.environ.get("CREATIVE_SYNC_WAIT_SECONDS", 6 * 3600))
READY_CREATIVES = AssetAlias("creative_sync_ready")
#: one Asset per platform (the account is in each event's extra); declared as the report's
#: inlets so that the dag-processor registers them and the alias's events reach the Assets view.
PLATFORM_ASSETS = [Asset(asset_uri(name)) for name in PLATFORM_NAMES]

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
* Ready creatives update the Airflow Assets `creative://<platform>` (the account in the event's extra).
* Waiting for processing ends by the run's deadline (three quarters of the schedule's interval
  after it started): what is still processing is reported so and polled by the next run.

The **report** task's log holds the table of what changed and what failed (file × platform →
state, remote id, reason); its XCom `report` holds the counts per platform, the problems and
where to see every row (the ledger run, the Creatives page).
"""


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
        **target_params(
            source_help="Folder path or URI holding the creatives: `/data/creatives`, `file://…`, "
            "`s3://bucket/prefix` or `s3://conn_id@bucket/prefix`. **Required**: while it is empty the form "
            "cannot be triggered.",
            platforms_help="Where to sync. **Pick at least one**: with none picked the form cannot be triggered.",
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
        "strict": Param(
            False,
            type="boolean",
            title="Strict",
            description="Fail the run for files refused by local rules too, for files or folders that cannot "
            "be read, and when no file matches the source and include.",
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
        "follow_outside_links": Param(
            False,
            type="boolean",
            title="Follow links outside the source",
            description="Also send the files that symbolic links in the source folder point to elsewhere on the "
            "worker (by default such links are skipped and counted as link_outside).",
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
        """List the source, apply the rules, read the ledger and store the plan there.

        Returns the batch references (what ``submit`` maps over); the summary goes to XCom ``plan``.
        """
        try:
            summary = plan_run(params or {}, run_id=str(run_id))
        except (ValueError, FileNotFoundError) as exc:
            raise PlatformConfigError(f"creative_sync cannot start: {exc}") from None
        ti = get_current_context()["ti"]
        ti.xcom_push(key="plan", value=summary.without_batches().to_json())
        ti.xcom_push(key="approval", value=approval_summary(summary))
        return [batch.to_json() for batch in summary.batches]

    @task.branch
    def approval_gate(params: dict[str, Any] | None = None) -> str:
        """Ask a person first when the plan archives anything or sends more than the threshold."""
        threshold = int((params or {}).get("require_approval_above") or 0)
        plan = PlanSummary.from_json(get_current_context()["ti"].xcom_pull(task_ids="plan", key="plan"))
        return "approve" if needs_approval(plan, threshold) else "no_approval_needed"

    approve = CreativeSyncApprovalOperator(
        task_id="approve",
        subject="creative_sync: approve this sync?",
        body="{{ ti.xcom_pull(task_ids='plan', key='approval')['body'] }}",
    )
    no_approval_needed = EmptyOperator(task_id="no_approval_needed")

    @task(map_index_template="{{ batch_label }}", trigger_rule="none_failed_min_one_success")
    def submit(batch: dict[str, Any]) -> dict[str, Any]:
        """Send one batch to one platform (bounded concurrency, ledger updated per asset)."""
        ref = BatchRef.from_json(batch)
        get_current_context()["batch_label"] = ref.label  # type: ignore[typeddict-unknown-key]
        return submit_batch(ref).to_json()

    @task(trigger_rule="all_done", outlets=[READY_CREATIVES], inlets=PLATFORM_ASSETS)
    def report(waited: Any, outlet_events: Any = None) -> dict[str, Any]:
        """Log the table, emit Asset events, fail the run if anything failed."""
        ti = get_current_context()["ti"]
        stored = ti.xcom_pull(task_ids="plan", key="plan")
        if stored is None:
            raise PlatformConfigError("creative_sync: the plan task did not finish; nothing was sent")
        plan = PlanSummary.from_json(stored)
        decision = ti.xcom_pull(task_ids="approve", key="decision")
        # A rejected plan sent nothing: it is reported as it would have run.
        dry_run = plan.dry_run or decision == "rejected"
        rows = report_rows(plan.run_id, dry_run=dry_run)
        # by index: iterating the mapped results probes one index past the end (an error line in the log)
        results = [waited[i] for i in range(len(waited))] if waited is not None else []
        result = build_report(plan, [w for w in results if w], dry_run=dry_run, approval=decision, rows=rows)
        print(format_table(result, rows))
        ti.xcom_push(key="report", value=result.to_json())
        if decision == "rejected":
            return result.to_json()
        for event in result.asset_events:
            outlet_events[READY_CREATIVES].add(Asset(event.uri), extra=dict(event.extra))
        if not result.failed and not plan.dry_run and plan.work:
            try:  # so that the next run of an unchanged folder costs one listing
                prepare_next_plan(plan.run_id)
            except Exception:  # noqa: BLE001 - an optimisation only: the next run plans afresh
                log.warning("Planning the next run ahead failed; it will plan afresh", exc_info=True)
        raise_for_report(result)
        return result.to_json()

    batches = plan()
    gate = approval_gate()
    batches >> gate >> [approve, no_approval_needed]
    submitted = submit.expand(batch=batches)
    [approve, no_approval_needed] >> submitted
    waited = CreativeSyncWaitOperator.partial(
        task_id="wait", deferrable=True, poll_interval=POLL_SECONDS, timeout=WAIT_SECONDS, fit_schedule=True
    ).expand(targets=submitted)
    report(waited.output)
