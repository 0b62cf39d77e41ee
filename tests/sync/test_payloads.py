"""Task payloads: one batch's identity travels from payload to payload unchanged."""

from __future__ import annotations

from airflow_creative_provider.sync.executor import WaitTargets
from airflow_creative_provider.sync.payloads import BatchRef, BatchResult, WaitResult


def test_for_batch_copies_what_names_the_batch_and_takes_the_rest() -> None:
    ref = BatchRef("run-1", "topsort", 3, "topsort_eu", "planned-account", 12, 4, True)
    result = BatchResult.for_batch(ref, account="hook-account", counts={"ready": 2}, waiting=1)
    assert (result.run_id, result.platform, result.index, result.conn_id) == ("run-1", "topsort", 3, "topsort_eu")
    assert result.account == "hook-account" and result.counts == {"ready": 2} and result.waiting == 1
    targets = WaitTargets.for_batch(result, remote_ids=("r1",), items=((0, "a.png", "sha", "r1"),))
    assert (targets.conn_id, targets.account, targets.index) == ("topsort_eu", "hook-account", 3)
    waited = WaitResult.for_batch(targets, counts={"ready": 1}, pending=0)
    assert waited == WaitResult("run-1", "topsort", 3, "hook-account", {"ready": 1}, 0, 0, None)
    assert WaitResult.from_json(waited.to_json()) == waited
    assert "conn_id" not in waited.to_json()  # a field WaitResult does not declare is not copied
