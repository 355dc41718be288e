"""The measured bounds of issue 12 for the hook/transport layer, asserted generously (2 shared cores).

Real HTTP against the sandbox. Only the bounds the issue asks for are timed; everything else is
counted: requests the sandbox saw, requests it had in flight at once, the limits it saw broken.
"""

from __future__ import annotations

import time

import pytest

from airflow_contact_removal.exceptions import VendorAPIError
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.hooks.breaker import DEFAULT_BREAKER_FAILURES, CircuitBreaker
from airflow_contact_removal.removal import RemovalRequest, run_removal
from tests.integration.helpers import wait_until_idle
from tests.reliability.conftest import assert_accounted

pytestmark = pytest.mark.integration

EMAILS = ["ann@example.com", "bob@example.com"]


def migma_request(hook):
    return hook.remove_batch("remove_contacts", {"emails": EMAILS})


def test_a_trickled_answer_ends_within_read_timeout_plus_2_s(sandbox, connect, recording_sleep):
    """One byte every 2 s used to hold one attempt for the whole answer (200 s in the issue)."""
    sandbox.seed({"migma": {"projects": {"P1": EMAILS}}})
    sandbox.set_faults(vendors=["migma"], trickle_ms=2000)
    hook = get_removal_hook(connect("migma", read_timeout=3, max_attempts=1), sleep=recording_sleep)

    started = time.monotonic()
    with pytest.raises(VendorAPIError, match="no complete answer within 3 s") as caught:
        migma_request(hook)
    elapsed = time.monotonic() - started

    assert elapsed < 3 + 2, elapsed
    assert caught.value.retryable is True
    assert hook.abandon_in_flight() == 1  # the answer was still trickling in; closed now
    wait_until_idle(sandbox, timeout=10)
    assert sandbox.stats()["migma"]["requests"] == 1


def test_a_vendor_that_never_answers_costs_at_most_max_retry_time(sandbox, connect):
    """Real waits: attempts, back-off and all end within max_retry_time (303 s a batch in the issue)."""
    sandbox.set_faults(vendors=["migma"], hang_ms=4500)
    hook = get_removal_hook(connect("migma", read_timeout=1, max_retry_time=3))

    started = time.monotonic()
    with pytest.raises(VendorAPIError, match="timed out") as caught:
        migma_request(hook)
    elapsed = time.monotonic() - started

    assert elapsed < 3 + 2, elapsed
    assert caught.value.retryable is True and caught.value.attempts >= 2
    assert hook.abandon_in_flight() == caught.value.attempts  # both still waiting; closed now


def test_a_retry_after_longer_than_max_retry_time_fails_at_once(sandbox, connect):
    """Real waits: Retry-After: 100000 was waited in 120 s steps for 360 s."""
    sandbox.set_faults(vendors=["migma"], rate_429=1.0, retry_after=100000)
    hook = get_removal_hook(connect("migma", max_retry_after=1_000_000))

    started = time.monotonic()
    with pytest.raises(VendorAPIError, match="longer than what is left of max_retry_time") as caught:
        migma_request(hook)

    assert time.monotonic() - started < 2
    assert caught.value.stops_run is True
    # The 429 holds every sender of the key: the next batch is not even sent.
    with pytest.raises(VendorAPIError, match="not sent"):
        migma_request(hook)
    assert sandbox.stats()["migma"]["requests"] == 1


def test_100_batches_of_endless_503_send_at_most_100_requests(sandbox, connect, recording_sleep):
    """Default settings, Wooxy's 10 senders each retrying: 600 requests in the issue."""
    sandbox.seed({"wooxy": {"lists": {"L1": []}}})
    sandbox.set_faults(vendors=["wooxy"], rate_5xx=1.0)
    hook = get_removal_hook(connect("wooxy"), sleep=recording_sleep)
    emails = [f"u{i}@example.com" for i in range(100 * 100)]

    report = run_removal(hook, RemovalRequest("remove_from_list", {"emails": emails}, list_id="L1"))

    sent = sandbox.stats()["wooxy"]["requests"]
    assert sent <= 100
    # What the breaker alone guarantees: its threshold, plus what was already in flight when it opened.
    assert sent <= DEFAULT_BREAKER_FAILURES + hook.max_in_flight, sent
    assert report.summary.batches == 100 and report.summary.failed == len(emails)
    assert_accounted(report.summary)
    assert hook.breaker.is_open
    with pytest.raises(VendorAPIError, match="circuit breaker open") as caught:
        hook.remove_batch("remove_from_list", {"emails": emails[:1]}, list_id="L1")
    assert (caught.value.stops_run, caught.value.retryable, caught.value.attempts) == (True, True, 0)
    assert sandbox.stats()["wooxy"]["requests"] == sent  # once open, nothing more is sent


def test_in_flight_cap_holds_when_the_vendor_answers_slower_than_the_read_timeout(
    sandbox, connect, recording_sleep
):
    """Wooxy answering in 3 s with read_timeout 1 s saw 20 in flight from one task."""
    sandbox.seed({"wooxy": {"lists": {"L1": []}}})
    sandbox.set_faults(vendors=["wooxy"], latency_ms=3000)
    hook = get_removal_hook(connect("wooxy", read_timeout=1), sleep=recording_sleep)
    emails = [f"u{i}@example.com" for i in range(30 * 100)]

    run_removal(
        hook, RemovalRequest("remove_from_list", {"emails": emails}, list_id="L1", max_concurrency=10)
    )
    wait_until_idle(sandbox, timeout=30)

    stats = sandbox.stats()["wooxy"]
    assert stats["requests"] > 10  # the senders did retry after their timeouts
    assert stats["max_in_flight"] <= 10, stats
    assert stats["limit_violations"] == {}, stats


def test_wooxy_test_connection_on_a_base_url_that_answers_404_says_false(sandbox, connect):
    conn_id = connect("wooxy", fields={"host": sandbox.base_url("wooxy") + "/not-the-api"})

    ok, message = get_removal_hook(conn_id).test_connection()

    assert ok is False
    assert "HTTP 404" in message


def test_breaker_counts_failures_in_a_row_and_a_success_starts_again():
    breaker = CircuitBreaker(3)
    assert not breaker.record_failure("HTTP 503")
    assert not breaker.record_failure("HTTP 503")
    breaker.record_success()
    assert not breaker.record_failure("timed out")
    assert not breaker.record_failure("timed out")
    assert breaker.record_failure("HTTP 502")
    breaker.record_success()  # once open, it stays open for the hook's life
    assert breaker.is_open
    assert "3 transient failures in a row (last: HTTP 502)" in breaker.reason
