"""20,000 identifiers per vendor through ``run_removal``, over real HTTP, against a sandbox that misbehaves.

Faults (seeded, so the sequence of fates is the same every run): 20 % 429 with ``Retry-After``, 10 % 5xx,
2 % dropped connections, and a few answers slower than the client's read timeout (the client gives up
and retries while the server still processes the first attempt). The hook's sleep is a recording no-op,
so back-offs and ``Retry-After`` waits cost nothing but are checked.

What must hold at the end: no identifier failed, every one is in exactly one bucket, the vendor's state
agrees with the summary, and the client never broke a vendor limit (batch size, Wooxy's 10 in flight).
"""

from __future__ import annotations

import pytest

from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.removal import RemovalRequest, run_removal
from airflow_contact_removal.sandbox.faults import FaultConfig, FaultInjector
from tests.integration.helpers import BIRD_LIST, PROJECT, WORKSPACE, generated_id, wait_until_idle
from tests.reliability.conftest import assert_accounted

pytestmark = pytest.mark.integration

N = 20_000
RETRY_AFTER = 2
#: the slow answers take longer than the read timeout: the client abandons them and retries.
READ_TIMEOUT = 0.3
SLOW_MS = 450
FAULTS = {
    "latency_ms": 1,
    "latency_jitter_ms": 2,
    "rate_429": 0.2,
    "retry_after": RETRY_AFTER,
    "rate_5xx": 0.1,
    "rate_drop": 0.02,
    "rate_slow": 0.02,
    "slow_ms": SLOW_MS,
}
HOOK_EXTRAS = {"read_timeout": READ_TIMEOUT, "connect_timeout": 5, "max_attempts": 30, "max_retry_time": 600}
SCOPE = "reliability/run-1/remove/-1"


def seed_with_every_fault(vendor: str, draws: int, **settings) -> int:
    """
    A seed whose first ``draws`` fates (one per request, in arrival order) hold every kind of fault.

    A run sends at least one request per batch, so with ``draws`` = the number of batches every kind
    of fault is certain to happen, whatever order the sender threads arrive in. Computed with the
    sandbox's own :class:`FaultInjector`.
    """
    kinds = {"429", "5xx", "drop_after_processing" if settings.get("drop_after_processing") else "drop"}
    if settings.get("rate_slow"):
        kinds.add("slow")
    for seed in range(1, 10_000):
        injector = FaultInjector(FaultConfig(seed=seed, vendors=[vendor], **settings))
        seen = {injector.decide(vendor).fault for _ in range(draws)}
        if kinds <= seen:
            return seed
    raise AssertionError("no seed gives every fault")


def check_traffic(stats: dict, hook, report, sleep) -> None:
    """The sandbox's own statistics: within limits, every fault happened, every attempt accounted for."""
    summary = report.summary
    assert stats["limit_violations"] == {}, stats
    assert 0 < stats["max_batch_size"] <= summary.batch_size <= hook.max_batch_size
    assert {"429", "5xx", "slow"} <= set(stats["faults"]), stats["faults"]
    assert {"drop", "drop_after_processing"} & set(stats["faults"]), stats["faults"]
    # Every attempt the client counted reached the server, and the faults made it retry.
    assert sum(result.attempts for result in report.batch_results) == stats["requests"] > summary.batches
    # Retry-After was honoured (not replaced by a back-off of the client's own), and no wait is absurd.
    assert float(RETRY_AFTER) in sleep.waits
    assert all(0 <= wait <= 30 for wait in sleep.waits)


def check_no_failures(report) -> None:
    summary = report.summary
    assert_accounted(summary)
    assert summary.failed == 0 and summary.batches_failed == 0, [
        (r.index, r.status, r.error) for r in report.batch_results if r.status != "ok"
    ][:5]
    assert {result.status for result in report.batch_results} == {"ok"}
    assert (summary.requested, summary.invalid, summary.duplicates) == (N, 0, 0)


def test_migma_20000_account_removals_under_faults(sandbox, connect, recording_sleep):
    batch_size = 200
    settings = {**FAULTS, "drop_after_processing": True}  # the drop loses an answer the server acted on
    sandbox.generate(vendor="migma", project=PROJECT, count=N, pattern="user{i}@example.com")
    sandbox.set_faults(seed=seed_with_every_fault("migma", N // batch_size, **settings), **settings)
    hook = get_removal_hook(connect("migma", **HOOK_EXTRAS), sleep=recording_sleep)

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_contacts",
            {"emails": [f"User{i}@Example.com" for i in range(N)]},
            batch_size=batch_size,
            max_concurrency=8,
            idempotency_scope=SCOPE,
        ),
    )

    check_no_failures(report)
    summary = report.summary
    wait_until_idle(sandbox)  # abandoned (slow) attempts finish on the server
    stats = sandbox.stats()["migma"]
    check_traffic(stats, hook, report, recording_sleep)
    left = sandbox.state("migma")["migma"]["projects"][PROJECT]
    assert left == 0
    # Exact, even though some attempts were processed and their answer lost (dropped after processing,
    # or abandoned past the read timeout): the retry carried the same Idempotency-Key, so Migma replayed
    # the first answer instead of reporting the contacts as not found.
    assert (summary.removed, summary.not_found) == (N - left, 0)
    assert stats["faults"].get("drop_after_processing")
    assert any(result.note and "replayed" in result.note for result in report.batch_results)


def run_wooxy(sandbox, connect, sleep, faults: dict):
    batch_size = 100
    sandbox.generate(vendor="wooxy", list="L1", count=N, pattern="user{i}@example.com")
    sandbox.set_faults(seed=seed_with_every_fault("wooxy", N // batch_size, **faults), **faults)
    hook = get_removal_hook(connect("wooxy", **HOOK_EXTRAS), sleep=sleep)
    report = run_removal(
        hook,
        RemovalRequest(
            "remove_from_list",
            {"emails": [f"user{i}@example.com" for i in range(N)]},
            list_id="L1",
            max_concurrency=50,  # Wooxy allows 10 in flight: clamped
            idempotency_scope=SCOPE,
        ),
    )
    wait_until_idle(sandbox)
    return hook, report


def test_wooxy_20000_list_removals_under_faults(sandbox, connect, recording_sleep):
    hook, report = run_wooxy(sandbox, connect, recording_sleep, FAULTS)

    check_no_failures(report)
    summary = report.summary
    assert summary.max_concurrency == 10
    assert (summary.accepted, summary.removed, summary.not_found) == (N, 0, 0)
    assert summary.confirmation == "asynchronous"
    assert len({result.request_id for result in report.batch_results}) == summary.batches == N // 100
    stats = sandbox.stats()["wooxy"]
    assert stats["max_in_flight"] <= 10, stats  # slow answers included: abandoned attempts hold their slot
    check_traffic(stats, hook, report, recording_sleep)
    # Accepted is queued, not done: once Wooxy processed the queue, the list is empty.
    sandbox.set_faults(rate_429=0, rate_5xx=0, rate_drop=0, rate_slow=0)
    assert sandbox.state("wooxy")["wooxy"]["lists"]["L1"] == 0


def test_wooxy_never_more_than_10_in_flight_with_max_concurrency_50(sandbox, connect, recording_sleep):
    """429, 5xx and dropped connections: every answer ends the request on the server too."""
    _, report = run_wooxy(sandbox, connect, recording_sleep, {**FAULTS, "rate_slow": 0})

    check_no_failures(report)
    assert report.summary.max_concurrency == 10
    stats = sandbox.stats()["wooxy"]
    assert 1 < stats["max_in_flight"] <= 10, stats  # the sandbox's own count
    assert stats["limit_violations"] == {}, stats
    assert sandbox.state("wooxy")["wooxy"]["lists"]["L1"] == 0


def test_wooxy_abandoned_attempts_still_count_against_its_10_in_flight(sandbox, connect, recording_sleep):
    _, report = run_wooxy(sandbox, connect, recording_sleep, {**FAULTS, "rate_slow": 0.1})

    stats = sandbox.stats()["wooxy"]
    assert stats["faults"].get("slow")
    assert stats["max_in_flight"] <= 10, stats
    assert stats["limit_violations"] == {}, stats
    check_no_failures(report)
    assert sandbox.state("wooxy")["wooxy"]["lists"]["L1"] == 0


def test_bird_20000_list_removals_under_faults(sandbox, connect, recording_sleep):
    batch_size = 100
    generated = sandbox.generate(
        vendor="bird", workspace=WORKSPACE, list=BIRD_LIST, count=N, pattern="user{i}@example.com"
    )
    sandbox.set_faults(seed=seed_with_every_fault("bird", N // batch_size, **FAULTS), **FAULTS)
    hook = get_removal_hook(connect("bird", **HOOK_EXTRAS), sleep=recording_sleep)
    half = N // 2

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_from_list",
            {
                "contact_ids": [generated_id(generated, i) for i in range(half)],
                "emails": [f"user{i}@example.com" for i in range(half, N)],
            },
            list_id=BIRD_LIST,
            max_concurrency=50,  # Bird's ceiling here is 5
            idempotency_scope=SCOPE,
        ),
    )

    check_no_failures(report)
    summary = report.summary
    assert summary.max_concurrency == hook.max_in_flight
    wait_until_idle(sandbox)  # abandoned (slow) attempts finish on the server
    check_traffic(sandbox.stats()["bird"], hook, report, recording_sleep)
    workspace = sandbox.state("bird")["bird"]["workspaces"][WORKSPACE]
    left = workspace["lists"][BIRD_LIST]
    assert left == 0 and workspace["contacts"] == N  # a list removal keeps the contacts
    assert summary.removed + summary.not_found == N - left
    # Bird has no idempotency key: when an abandoned (slow) attempt is processed before its retry, the
    # retry finds the contacts already gone and Bird reports them unprocessed ("not found"). That can
    # only happen to a batch that was sent more than once, and never counts a removal twice.
    for result in report.batch_results:
        if result.not_found:
            assert result.attempts > 1 and "did not process" in result.note
    assert summary.removed <= N - left
    assert {entry["method"] for entry in sandbox.requests_log("bird")} == {"DELETE"}
