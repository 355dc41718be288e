"""``run_removal`` over real HTTP: thousands of identifiers per vendor and operation, checked against the
sandbox's state and statistics, with and without injected faults."""

from __future__ import annotations

import pytest

from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.removal import RemovalRequest, run_removal
from airflow_contact_removal.results import RemovalSummary
from tests.integration.helpers import BIRD_LIST, PROJECT, WORKSPACE, generated_id

pytestmark = pytest.mark.integration

N = 3000
INVALID_EMAILS = ["not-an-email", "two@@example.com"]
#: the same addresses as generated contacts 1 and 2, differently written: duplicates once cleaned.
DUPLICATE_EMAILS = ["USER1@example.com", " user2@example.com "]


def emails(start: int, stop: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(start, stop)]


def phones(start: int, stop: int) -> list[str]:
    return [f"+3160{i:07d}" for i in range(start, stop)]


def formatted(numbers: list[str]) -> list[str]:
    """E.164 numbers with spaces, dashes and brackets, e.g. ``+31 (60) 000-0001``."""
    return [f"{n[:3]} ({n[3:5]}) {n[5:8]}-{n[8:]}" for n in numbers]


def assert_accounted(summary: RemovalSummary) -> None:
    """The accounting identity, spelt out."""
    assert summary.requested == (
        summary.removed
        + summary.not_found
        + summary.accepted
        + summary.invalid
        + summary.duplicates
        + summary.failed
    )


def assert_within_batch_limit(sandbox, vendor: str, hook, summary: RemovalSummary) -> None:
    stats = sandbox.stats()[vendor]
    assert 0 < stats["max_batch_size"] <= summary.batch_size <= hook.max_batch_size
    assert stats["requests"] == summary.batches
    assert stats["limit_violations"] == {}


def assert_all_ok(report) -> None:
    assert report.summary.failed == 0
    assert report.summary.batches_failed == 0
    assert {result.status for result in report.batch_results} == {"ok"}


# One run per vendor and operation -------------------------------------------------------------------
def test_autosend_remove_contacts_without_ids_in_the_answer(sandbox, make_hook):
    sandbox.generate(vendor="autosend", count=N, pattern="user{i}@example.com")
    hook = make_hook("autosend")

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_contacts",
            {"emails": [*emails(0, N), *INVALID_EMAILS, *DUPLICATE_EMAILS]},
            batch_size=10_000,  # above AutoSend's cap of 500: clamped
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    assert (summary.requested, summary.invalid, summary.duplicates) == (N + 4, 2, 2)
    assert summary.batch_size == 500
    left = sandbox.state("autosend")["autosend"]["contacts"]
    # Without ids in the answer every address sent counts as removed: all of them were contacts here.
    assert summary.removed == N - left == N
    assert_within_batch_limit(sandbox, "autosend", hook, summary)


def test_autosend_remove_contacts_with_ids_in_the_answer(sandbox, make_hook):
    sandbox.set_options(autosend_return_ids=True)
    sandbox.generate(vendor="autosend", count=N, pattern="user{i}@example.com")
    hook = make_hook("autosend")
    unknown = emails(N, N + 500)

    report = run_removal(hook, RemovalRequest("remove_contacts", {"emails": [*emails(0, N), *unknown]}))

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    left = sandbox.state("autosend")["autosend"]["contacts"]
    assert summary.removed == N - left == N
    assert summary.not_found == len(unknown)
    assert_within_batch_limit(sandbox, "autosend", hook, summary)


def test_autosend_remove_from_list_by_email_and_contact_id(sandbox, make_hook):
    generated = sandbox.generate(vendor="autosend", count=N, pattern="user{i}@example.com", list="L1")
    assert generated_id(generated, N - 1) == generated["last"]["id"]
    hook = make_hook("autosend")
    half = N // 2
    not_in_list = emails(N, N + 200)

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_from_list",
            {
                "emails": [*emails(0, half), *not_in_list],
                "contact_ids": [generated_id(generated, i) for i in range(half, N)],
            },
            list_id="L1",
            batch_size=500,
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    state = sandbox.state("autosend")["autosend"]
    assert summary.removed == N - state["lists"]["L1"] == N
    assert summary.not_found == len(not_in_list)
    assert state["contacts"] == N  # a list removal keeps the contacts
    # One kind per request (the sandbox refuses both in one): every batch is emails or contact ids.
    assert all(len(result.kinds) == 1 for result in report.batch_results)
    assert_within_batch_limit(sandbox, "autosend", hook, summary)


def test_wooxy_remove_from_list_keeps_at_most_10_in_flight(sandbox, make_hook):
    sandbox.generate(
        vendor="wooxy",
        list="L1",
        count=N,
        pattern="user{i}@example.com",
        phone_pattern="+3160{i:07d}",
        user_id_pattern="u{i}",
    )
    sandbox.set_faults(latency_ms=20, vendors=["wooxy"])
    hook = make_hook("wooxy")
    third = N // 3

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_from_list",
            {
                "emails": emails(0, third),
                # written as people write them: normalised to E.164 before sending
                "phone_numbers": [
                    *formatted(phones(third, third + 50)),
                    *phones(third + 50, 2 * third),
                    "12345",
                ],
                "user_ids": [f"u{i}" for i in range(2 * third, N)],
            },
            list_id="L1",
            max_concurrency=50,
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    assert (summary.accepted, summary.removed, summary.invalid) == (N, 0, 1)
    assert summary.max_concurrency == 10
    stats = sandbox.stats()["wooxy"]
    assert 1 < stats["max_in_flight"] <= 10
    assert_within_batch_limit(sandbox, "wooxy", hook, summary)

    # Accepted is not removed: read every request's outcome back.
    sandbox.set_faults(latency_ms=0)
    request_ids = [result.request_id for result in report.batch_results]
    assert len(set(request_ids)) == summary.batches
    successes = 0
    for start in range(0, len(request_ids), 100):
        status = hook.request_status(request_ids[start : start + 100])
        assert status.unknown_ids == []
        for entry in status.requests.values():
            assert (entry.status, entry.errors) == ("completed", [])
            successes += len(entry.successes)
    left = sandbox.state("wooxy")["wooxy"]["lists"]["L1"]
    assert successes == N - left == summary.accepted


def test_bird_remove_from_list_by_contact_id_email_and_phone(sandbox, make_hook):
    generated = sandbox.generate(
        vendor="bird",
        workspace=WORKSPACE,
        list=BIRD_LIST,
        count=N,
        pattern="user{i}@example.com",
        phone_pattern="+3160{i:07d}",
    )
    assert generated_id(generated, N - 1) == generated["last"]["id"]
    hook = make_hook("bird")
    third = N // 3
    unknown = emails(N, N + 100)

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_from_list",
            {
                "contact_ids": [generated_id(generated, i).upper() for i in range(third)],
                "emails": [*emails(third, 2 * third), *unknown],
                "phone_numbers": phones(2 * third, N),
            },
            list_id=BIRD_LIST,
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    workspace = sandbox.state("bird")["bird"]["workspaces"][WORKSPACE]
    assert summary.removed == N - workspace["lists"][BIRD_LIST] == N
    assert summary.not_found == len(unknown)  # Bird's itemsProcessed shortfall
    assert workspace["contacts"] == N
    assert_within_batch_limit(sandbox, "bird", hook, summary)
    assert {entry["method"] for entry in sandbox.requests_log("bird")} == {"DELETE"}


def test_migma_remove_contacts(sandbox, make_hook):
    sandbox.generate(vendor="migma", project=PROJECT, count=N, pattern="user{i}@example.com")
    hook = make_hook("migma")
    unknown = emails(N, N + 300)

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_contacts",
            {"emails": [*emails(0, N), *unknown, *INVALID_EMAILS, *DUPLICATE_EMAILS]},
            idempotency_scope="dag/run-1/remove/-1",
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    left = sandbox.state("migma")["migma"]["projects"][PROJECT]
    assert summary.removed == N - left == N
    assert summary.not_found == len(unknown)
    assert sorted(i for r in report.batch_results for i in r.not_found_identifiers) == sorted(unknown)
    assert summary.batch_size == 1000
    assert_within_batch_limit(sandbox, "migma", hook, summary)


def test_max_contacts_refuses_the_run_before_any_request(sandbox, make_hook):
    sandbox.generate(vendor="migma", project=PROJECT, count=100, pattern="user{i}@example.com")
    hook = make_hook("migma")

    with pytest.raises(ContactRemovalConfigError, match="max_contacts"):
        run_removal(hook, RemovalRequest("remove_contacts", {"emails": emails(0, 100)}, max_contacts=99))

    assert sandbox.requests_log() == []
    assert sandbox.state("migma")["migma"]["projects"][PROJECT] == 100


# Under faults -------------------------------------------------------------------------------------
FAULTS = {"rate_429": 0.2, "rate_5xx": 0.1, "rate_drop": 0.02, "seed": 20240501}


def test_migma_run_under_faults_removes_everything(sandbox, make_hook, no_sleep):
    sandbox.generate(vendor="migma", project=PROJECT, count=N, pattern="user{i}@example.com")
    sandbox.set_faults(**FAULTS)
    hook = make_hook("migma", max_attempts=20)

    report = run_removal(
        hook,
        RemovalRequest(
            "remove_contacts",
            {"emails": emails(0, N)},
            batch_size=100,
            idempotency_scope="dag/run-1/remove/-1",
        ),
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    assert (summary.removed, summary.not_found) == (N, 0)
    assert sandbox.state("migma")["migma"]["projects"][PROJECT] == 0
    stats = sandbox.stats()["migma"]
    assert stats["faults"].get("429") and stats["faults"].get("5xx")  # the faults did happen
    assert sum(result.attempts for result in report.batch_results) == stats["requests"] > summary.batches


def test_wooxy_run_under_faults_accepts_everything(sandbox, make_hook, no_sleep):
    sandbox.generate(vendor="wooxy", list="L1", count=N, pattern="user{i}@example.com")
    sandbox.set_faults(**FAULTS)
    hook = make_hook("wooxy", max_attempts=20)

    report = run_removal(
        hook, RemovalRequest("remove_from_list", {"emails": emails(0, N)}, list_id="L1", max_concurrency=50)
    )

    summary = report.summary
    assert_accounted(summary)
    assert_all_ok(report)
    assert summary.accepted == N
    stats = sandbox.stats()["wooxy"]
    assert stats["faults"].get("429") and stats["faults"].get("5xx")
    assert stats["max_in_flight"] <= 10
    assert sum(result.attempts for result in report.batch_results) == stats["requests"] > summary.batches
    sandbox.set_faults(rate_429=0, rate_5xx=0, rate_drop=0)
    assert sandbox.state("wooxy")["wooxy"]["lists"]["L1"] == 0  # every accepted removal was carried out
