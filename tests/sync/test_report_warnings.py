"""The report's listing warnings: skipped links pointing outside the source, named and capped."""

from __future__ import annotations

from typing import Any

from airflow_creative_provider.sync.payloads import PlanSummary
from airflow_creative_provider.sync.report import listing_warnings, outside_link_warnings
from airflow_creative_provider.sync.source import LINK_OUTSIDE


def plan(listing: dict[str, Any]) -> PlanSummary:
    return PlanSummary(
        run_id="r", source="/data", dry_run=False, wait_for_ready=False, strict=True, listing=listing,
        platforms={}, counts={},
    )  # fmt: skip


def test_links_outside_are_named_and_the_rest_counted() -> None:
    listing = {"files": 3, "skipped": {LINK_OUTSIDE: 12}, "links_outside": ["a.png", "b/c.png"]}
    assert outside_link_warnings(plan(listing)) == [
        "skipped 12 links pointing outside the source: a.png, b/c.png, ... and 10 more "
        "(param follow_outside_links sends them)"
    ]
    # not among the listing warnings a strict run fails for
    assert listing_warnings(plan(listing)) == []


def test_no_warning_without_skipped_links() -> None:
    # followed links (follow_outside_links on) are not counted as skipped: nothing to say
    assert outside_link_warnings(plan({"files": 3, "skipped": {}})) == []
    one = {"files": 1, "skipped": {LINK_OUTSIDE: 1}, "links_outside": ["x.png"]}
    assert outside_link_warnings(plan(one)) == [
        "skipped 1 link pointing outside the source: x.png (param follow_outside_links sends them)"
    ]
