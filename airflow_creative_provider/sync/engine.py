"""The ``creative_sync`` DAG's task functions, in the order its tasks call them.

1. ``plan_run`` (``sync.planner``): list, apply the rules, read the ledger, store the plan's
   rows in the ledger, return a ``PlanSummary`` with one ``BatchRef`` per submit task;
2. ``submit_batch`` (``sync.executor``): one batch's uploads, polls and archives, each
   outcome written to its ledger row; returns a ``BatchResult`` (counts);
3. ``wait_targets`` / ``record_statuses`` (``sync.executor``): what one wait polls, and what
   it saw; returns a ``WaitResult`` (counts);
4. ``build_report`` / ``raise_for_report`` (``sync.report``): the outcome from the ledger.

Each payload is a frozen dataclass (``sync.payloads``), JSON only in XCom.
"""

from __future__ import annotations

from airflow_creative_provider.sync.executor import record_statuses, submit_batch, upload_concurrency, wait_targets
from airflow_creative_provider.sync.params import DEFAULT_BATCH_SIZE, ParamsError, SyncParams, default_source
from airflow_creative_provider.sync.planner import approval_summary, needs_approval, plan_run, prepare_next_plan
from airflow_creative_provider.sync.report import (
    SyncFailed,
    build_report,
    format_table,
    raise_for_report,
    report_rows,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ParamsError",
    "SyncFailed",
    "SyncParams",
    "approval_summary",
    "build_report",
    "default_source",
    "format_table",
    "needs_approval",
    "plan_run",
    "prepare_next_plan",
    "raise_for_report",
    "record_statuses",
    "report_rows",
    "submit_batch",
    "upload_concurrency",
    "wait_targets",
]
