"""The report task: the run's outcome from the ledger, its decision, and the log's table.

``report_rows`` reads the run's rows (plan decisions with their outcomes) from the ledger;
``build_report`` turns them into a ``Report``: counts per platform and state, the problems
that fail the run (the first ``MAX_PROBLEMS``, with their total), the warnings a green run
must still say (no file matched the source and include, files that cannot be read; problems
with ``strict``), Airflow Asset events (``creative://<platform>``) and where to see every
row. ``format_table`` is the log's table, at most ``LINE_WIDTH`` characters a line: the
per-platform summary, then what changed, what failed and what the rules refused (reasons
wrapped, never cut); files with nothing to do appear as counts.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from airflow_creative_provider.exceptions import PlatformError
from airflow_creative_provider.sync.executor import human_bytes
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.params import platform_of
from airflow_creative_provider.sync.payloads import AssetEvent, PlanSummary, Report, WaitResult
from airflow_creative_provider.sync.source import LINK_OUTSIDE
from airflow_creative_provider.sync.states import WORK_ACTIONS, Action, State, would

log = logging.getLogger(__name__)

#: problems kept in the report's XCom (all are counted; the log and the ledger hold every row).
MAX_PROBLEMS = 50
#: rows of the log's table, at most (the Creatives page shows every creative).
MAX_TABLE_ROWS = 5000
#: characters of one problem in the report's XCom (the log has it whole).
MAX_PROBLEM_CHARS = 300
#: remote ids named in one Asset event.
MAX_EVENT_IDS = 100
#: where the Creatives page lists runs (the plugin's ``URL_PREFIX`` + ``/runs``).
RUNS_PAGE = "/creative-sync/runs"


class SyncFailed(PlatformError):
    """The run finished, but some asset failed to send or was rejected by its platform."""


@dataclass(frozen=True)
class ReportRow:
    """One file (or removed content) on one platform, as the run left it."""

    key: str
    platform: str
    action: str
    state: str | None
    remote_id: str | None = None
    version: str | None = None
    reason: str | None = None
    sha256: str | None = None
    #: the submit or wait task of this run touched it.
    done: bool = False
    #: the platform rejected it in this run (not an earlier rejection still standing).
    this_run: bool = False
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = {
            "key": self.key,
            "platform": self.platform,
            "action": self.action,
            "state": self.state,
            "remote_id": self.remote_id,
            "version": self.version,
            "reason": self.reason,
        }
        return {k: v for k, v in data.items() if v is not None}


def report_rows(run_id: str, *, ledger: Ledger | None = None, dry_run: bool = False) -> list[ReportRow]:
    """Every stored row of a run with its final state: work done (or not), aliases, refusals, removals.

    Files with nothing to do are not stored per run (the plan counted them); the Creatives
    page shows them all.
    """
    ledger = ledger or Ledger()
    items = ledger.run_items(run_id)
    primaries = {
        (i["platform"], i["sha256"]): i for i in items if i["action"] in (Action.UPLOAD, Action.POLL) and i.get("done")
    }
    rows = []
    for item in items:
        action = item["action"]
        state, remote_id, version, reason = (
            item.get("state"),
            item.get("remote_id"),
            item.get("version"),
            item.get("reason"),
        )
        done = bool(item.get("done"))
        if action == Action.ALIAS and (primary := primaries.get((item["platform"], item["sha256"]))) is not None:
            state = primary.get("state") or state
            remote_id = primary.get("remote_id") or remote_id
            version = primary.get("version") or version
        if action in WORK_ACTIONS and not done:
            if dry_run:
                state = would(action)
            else:
                state = State.NOT_SENT
                reason = f"the {item['platform']} submit task did not finish; see its log"
        if action == Action.REFUSED:
            state = State.REFUSED
        rows.append(
            ReportRow(
                key=item["file_key"],
                platform=item["platform"],
                action=action,
                state=state,
                remote_id=remote_id,
                version=version,
                reason=reason,
                sha256=item.get("sha256"),
                done=done,
                this_run=bool(item.get("this_run")),
                bytes=int(item.get("bytes") or 0),
            )
        )
    return rows


def _problems(rows: Iterable[ReportRow], strict: bool, dry_run: bool) -> tuple[list[str], dict[str, int]]:
    """What fails the run, row by row; rows not sent are counted per platform instead."""
    problems: list[str] = []
    not_sent: dict[str, int] = {}
    for row in rows:
        if row.action == Action.REFUSED or (row.state == State.REFUSED and row.done):
            if strict:
                problems.append(f"{row.platform}: {row.reason}")
            continue
        if dry_run or row.action == Action.ALIAS:
            continue
        if row.state == State.NOT_SENT:
            not_sent[row.platform] = not_sent.get(row.platform, 0) + 1
        elif row.state == State.FAILED:
            problems.append(f"{row.platform}: {row.key}: {row.reason}")
        elif row.state == State.REJECTED and row.this_run:
            problems.append(f"{row.platform}: {row.key} rejected: {row.reason}")
    return problems, not_sent


def build_report(
    plan: PlanSummary | Mapping[str, Any],
    wait_results: Iterable[WaitResult | Mapping[str, Any] | None] = (),
    *,
    strict: bool | None = None,
    dry_run: bool | None = None,
    approval: str | None = None,
    ledger: Ledger | None = None,
    rows: Sequence[ReportRow] | None = None,
) -> Report:
    """The run's outcome: counts per platform and state, the problems, Asset events, links.

    :param plan: what ``plan_run`` returned.
    :param wait_results: every wait task's result that exists (a poll error is a problem).
    :param strict: fail the run for files refused by the rules too (default: the plan's).
    :param dry_run: report the work as ``would_...`` (default: the plan's); an approval
        that was rejected reports its plan so.
    :param approval: the approver's decision, if one was asked.
    :param ledger: the ledger; ``Ledger()`` by default.
    :param rows: ``report_rows`` of the run when the caller already read them.
    """
    plan = PlanSummary.from_json(plan)
    ledger = ledger or Ledger()
    strict = plan.strict if strict is None else strict
    dry_run = plan.dry_run if dry_run is None else dry_run
    rows = list(rows) if rows is not None else report_rows(plan.run_id, ledger=ledger, dry_run=dry_run)
    problems, not_sent = _problems(rows, strict, dry_run)
    for platform, n in sorted(not_sent.items()):
        problems.append(f"{platform}: {n} item(s) not sent: a submit task did not finish; see its log")
    for result in wait_results:
        if result is None:
            continue
        wait = WaitResult.from_json(result)
        if wait.error:
            problems.append(f"{wait.platform}: waiting for batch {wait.index} failed: {wait.error}")
    files = int(plan.listing.get("files") or 0)
    warnings = listing_warnings(plan)
    if strict:
        problems.extend(f"strict: {w}" for w in warnings)
    # Not a strict failure: skipping links out of the source is the safe default the user chose
    # (follow_outside_links off); nothing went wrong, but a person should see what was left out.
    warnings.extend(outside_link_warnings(plan))
    warnings.extend(metadata_warnings(rows))
    counts: dict[str, dict[str, int]] = {platform: {} for platform in plan.platforms}
    for platform, info in plan.platforms.items():
        if info.error:
            problems.append(f"{platform}: {info.error}")
            counts[platform] = {State.ERROR: files} if files else {}
    for platform, per in plan.unchanged.items():
        mine = counts.setdefault(platform, {})
        for state, n in per.items():
            mine[state] = mine.get(state, 0) + n
    ready_now: dict[str, list[str]] = {}
    for row in rows:
        mine = counts.setdefault(row.platform, {})
        state = str(row.state or row.action)
        mine[state] = mine.get(state, 0) + 1
        if (
            not dry_run
            and row.done
            and row.state == State.READY
            and row.remote_id
            and row.action in (Action.UPLOAD, Action.POLL)
        ):
            ready_now.setdefault(row.platform, []).append(str(row.remote_id))
    events = tuple(
        AssetEvent(
            uri=asset_uri(plan.platforms[platform].platform),  # keyed by target: one event per account
            extra={
                "account": plan.platforms[platform].account,
                "ready": len(ids),
                "remote_ids": ids[:MAX_EVENT_IDS],
                "run_id": plan.run_id,
            },
        )
        for platform, ids in sorted(ready_now.items())
        if platform in plan.platforms and plan.platforms[platform].account
    )
    report = Report(
        run_id=plan.run_id,
        source=plan.source,
        dry_run=dry_run,
        strict=strict,
        counts=counts,
        bytes_sent=0 if dry_run else sum(r.bytes for r in rows),
        failed=bool(problems),
        problems=tuple(_clip(p) for p in problems[:MAX_PROBLEMS]),
        problems_total=len(problems),
        asset_events=events,
        listing=plan.listing,
        archive_blocked=plan.archive_blocked,
        reused_plan_of=plan.reused_plan_of,
        approval=approval,
        see={"ledger_run_id": plan.run_id, "creatives_page": RUNS_PAGE},
        warnings=tuple(warnings[:MAX_PROBLEMS]),
        accounts={name: info.account for name, info in plan.platforms.items() if info.account},
    )
    report = _with_table(report)
    stored = ledger.run(plan.run_id) or {}
    if not plan.dry_run or stored:
        ledger.finish_run(
            plan.run_id,
            outcome="dry_run" if dry_run else ("failed" if problems else "success"),
            summary={
                **(stored.get("summary") or {}),
                "counts": counts,
                "failures": problems[:MAX_PROBLEMS],
                "warnings": warnings[:MAX_PROBLEMS],
            },
        )
    return report


def _clip(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM_CHARS else problem[: MAX_PROBLEM_CHARS - 1] + "…"


def asset_uri(platform: str) -> str:
    """The Airflow Asset a platform's ready creatives update (the account is in each event's extra)."""
    return f"creative://{platform}"


def listing_warnings(plan: PlanSummary) -> list[str]:
    """What the listing must say loudly: no file matched, files or folders that could not be read."""
    listing = plan.listing
    warnings: list[str] = []
    files = int(listing.get("files") or 0)
    skipped = listing.get("skipped") or {}
    if files == 0:
        excluded = int(skipped.get("excluded", 0)) + int(skipped.get("recent", 0))
        include = (plan.include or "").strip()
        if include and include not in ("**/*", "**", "*"):
            warnings.append(f"0 of {excluded} files match include {include!r}: nothing was synced")
        else:
            warnings.append(f"the source {plan.source!r} holds no file to sync: nothing was synced")
    errors = list(listing.get("errors") or [])
    total = int(listing.get("errors_total") or len(errors))
    warnings.extend(f"skipped, cannot be read: {error}" for error in errors)
    if total > len(errors):
        warnings.append(f"... and {total - len(errors)} more unreadable files or folders: see the plan task's log")
    return warnings


def outside_link_warnings(plan: PlanSummary) -> list[str]:
    """Symbolic links pointing outside the source, skipped (``follow_outside_links`` off): how
    many and the first few keys (the plan task's log names every one)."""
    listing = plan.listing
    total = int((listing.get("skipped") or {}).get(LINK_OUTSIDE, 0))
    if not total:
        return []
    named = [str(key) for key in listing.get("links_outside") or []]
    shown = ", ".join(named) + (f", ... and {total - len(named)} more" if total > len(named) else "")
    return [
        f"skipped {total} link{'s' if total != 1 else ''} pointing outside the source: {shown} "
        "(param follow_outside_links sends them)"
    ]


def metadata_warnings(rows: Iterable[ReportRow]) -> list[str]:
    """Files whose metadata (``creatives.yaml``) changed on a platform that documents no update:
    how many per platform, the first few keys, and what happens instead (``sync.metadata.NO_UPDATE``)."""
    kept: dict[str, list[ReportRow]] = {}
    for row in rows:
        if row.action == Action.KEEP and str(row.reason or "").startswith("metadata changed;"):
            kept.setdefault(row.platform, []).append(row)
    warnings = []
    for platform, found in sorted(kept.items()):
        keys = sorted(r.key for r in found)
        shown = ", ".join(keys[:5]) + (f", ... and {len(keys) - 5} more" if len(keys) > 5 else "")
        why = str(found[0].reason).removeprefix("metadata changed; ")
        warnings.append(f"{platform}: metadata of {len(keys)} file(s) changed, not updated ({shown}): {why}")
    return warnings


def _with_table(report: Report) -> Report:
    return replace(report, table=summary_text(report))


#: the widest line of the log's table.
LINE_WIDTH = 160
#: the states in the per-platform summary, in this order (any other state follows).
SUMMARY_STATES = (
    State.READY,
    State.PROCESSING,
    State.PENDING,
    State.REJECTED,
    State.NOT_SUBMITTED,
    State.REFUSED,
    State.FAILED,
    State.NOT_SENT,
    State.ERROR,
)


def _platform_summary(counts: Mapping[str, Mapping[str, int]], accounts: Mapping[str, str] | None = None) -> list[str]:
    """One line per platform account: its count of each state, in columns.

    A platform synced to several accounts has a line per account, ``platform:conn_id (account …)``.
    """
    present = {state for per in counts.values() for state, n in per.items() if n}
    states = [s for s in SUMMARY_STATES if s in present] + sorted(present - set(SUMMARY_STATES))
    if not states:
        return []
    labels = {p: _target_label(p, (accounts or {}).get(p)) for p in counts}
    width = max(len("platform"), *(len(label) for label in labels.values()))
    header = "platform".ljust(width) + "".join(f"  {s:>{max(len(s), 5)}}" for s in states)
    lines = [header]
    for platform, per in sorted(counts.items()):
        cells = "".join(f"  {per.get(s, 0) or '-':>{max(len(s), 5)}}" for s in states)
        lines.append(labels[platform].ljust(width) + cells)
    return lines


def _target_label(name: str, account: str | None) -> str:
    """A platform's only account is the platform; one of several is ``platform:conn_id (account …)``."""
    return f"{name} (account {account})" if account and platform_of(name) != name else name


def _wrapped(text: str, indent: str = "    ") -> list[str]:
    return textwrap.wrap(text, LINE_WIDTH, subsequent_indent=indent, break_long_words=True) or [""]


def summary_text(report: Report) -> str:
    """The run at a glance: title, warnings, per-platform summary, bytes sent, problems, where to see more."""
    title = f"creative sync {report.run_id}{' (dry run: nothing sent)' if report.dry_run else ''}"
    if report.approval == "rejected":
        title = "The plan was rejected at the approval step: nothing was sent.\n" + title
    lines = [title]
    for warning in report.warnings:
        lines.extend(_wrapped(f"WARNING: {warning}"))
    lines.extend(_platform_summary(report.counts, report.accounts) or ["no file x platform to report"])
    lines.append(f"bytes sent: {human_bytes(report.bytes_sent)}")
    if report.reused_plan_of:
        lines.append(f"plan: nothing changed since the plan of run {report.reused_plan_of}; reused")
    if report.archive_blocked:
        lines.extend(_wrapped(f"archive: {report.archive_blocked}"))
    if report.problems_total:
        lines.append(f"FAILED: {report.problems_total} problem(s)")
        for problem in report.problems[:20]:
            lines.extend(_wrapped(f"  - {problem}"))
        if report.problems_total > 20:
            lines.append(f"  ... and {report.problems_total - 20} more")
    lines.append(
        f"every row: ledger run {report.run_id}; the Creatives page ({report.see.get('creatives_page', RUNS_PAGE)})"
    )
    return "\n".join(lines)


def _own_reason(row: ReportRow) -> str:
    """The reason without the file and platform the line already names ("key: refused for platform ")."""
    reason = str(row.reason or "")
    for prefix in (f"{row.key}: refused for {platform_of(row.platform)} ", f"{row.key}: "):
        if reason.startswith(prefix):
            return reason[len(prefix) :]
    return reason


def _is_failure(row: ReportRow) -> bool:
    return row.state in (State.FAILED, State.NOT_SENT, State.ERROR) or (row.state == State.REJECTED and row.this_run)


def format_table(report: Report, rows: Sequence[ReportRow], *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The log's table, at most ``LINE_WIDTH`` characters a line: the summary first, then what changed
    (one line each), what failed and what the rules refused (reason wrapped), and the rest as counts.

    A run without work or failures (an unchanged rerun) shows its summary only.
    """
    changed = [r for r in rows if r.action in WORK_ACTIONS and not _is_failure(r)]
    failed = [r for r in rows if _is_failure(r)]
    refused = [r for r in rows if r.state == State.REFUSED]
    listed = {id(r) for r in (*changed, *failed, *refused)}
    rest: dict[str, dict[str, int]] = {}
    for row in rows:
        if id(row) not in listed:
            per = rest.setdefault(row.platform, {})
            per[str(row.state or row.action)] = per.get(str(row.state or row.action), 0) + 1
    lines = [summary_text(report)]
    quiet = not changed and not failed
    if quiet and not report.strict:
        return lines[0]  # an unchanged rerun: its summary (refusals are counted there) says it all
    if changed:
        lines += ["", f"changed ({len(changed)}):"]
        for r in sorted(changed, key=lambda r: (r.key, r.platform))[:max_rows]:
            ident = f" {r.remote_id}" if r.remote_id else ""
            ident += f" v{r.version}" if r.version else ""
            lines.extend(_wrapped(f"  {r.key}  {r.platform}: {r.action} -> {r.state}{ident}"))
        if len(changed) > max_rows:
            lines.append(f"  ... and {len(changed) - max_rows} more: see the Creatives page")
    if failed:
        lines += ["", f"failed ({len(failed)}):"]
        for r in sorted(failed, key=lambda r: (r.key, r.platform))[:max_rows]:
            lines.extend(_wrapped(f"  {r.key}  {r.platform}: {r.state}: {_own_reason(r) or 'no reason given'}"))
    if refused:
        by_file: dict[tuple[str, str], list[str]] = {}
        for r in refused:
            by_file.setdefault((r.key, _own_reason(r)), []).append(r.platform)
        lines += ["", f"refused by the platforms' rules ({len(refused)}), never sent:"]
        for (key, reason), platforms in sorted(by_file.items())[:max_rows]:
            lines.extend(_wrapped(f"  {key}  {', '.join(sorted(platforms))}: {reason}"))
    if rest:
        counted = "; ".join(
            f"{p}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())) for p, c in sorted(rest.items())
        )
        lines += ["", *_wrapped(f"also, as counts: {counted}")]
    return "\n".join(lines)


def raise_for_report(report: Report | Mapping[str, Any]) -> None:
    """Fail the run (after every asset was handled) when any send failed or an asset was rejected."""
    report = Report.from_json(report) if isinstance(report, Mapping) else report
    if report.failed:
        shown = report.problems[:10]
        more = f" (and {report.problems_total - len(shown)} more)" if report.problems_total > len(shown) else ""
        raise SyncFailed(f"creative sync finished with {report.problems_total} problem(s): " + "; ".join(shown) + more)


def log_report(report: Report, rows: Sequence[ReportRow]) -> str:
    """Print the table to the task log (Airflow captures stdout) and return it."""
    text = format_table(report, rows)
    print(text)
    return text
