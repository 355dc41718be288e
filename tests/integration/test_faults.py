"""Injected faults the hooks ride out (and the ones they give up on), seeded and repeatable.

Each fault is injected on the first attempts only: :func:`fault_seed` picks the seed that gives exactly
that with the sandbox's own fault generator, so ``attempts`` can be asserted exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_contact_removal.exceptions import VendorAPIError
from tests.integration.helpers import BIRD_LIST, PROJECT, WORKSPACE, fault_seed, wait_until_idle

pytestmark = pytest.mark.integration

A, B, C = "ann@example.com", "bob@example.com", "cat@example.com"
C1 = "6f1c1c2e-1111-4a2b-8c3d-000000000001"
C2 = "6f1c1c2e-1111-4a2b-8c3d-000000000002"
C3 = "6f1c1c2e-1111-4a2b-8c3d-000000000003"
VENDORS = ["autosend", "wooxy", "bird", "migma"]
FAULTS_OFF = {"rate_429": 0.0, "rate_5xx": 0.0, "rate_drop": 0.0, "rate_slow": 0.0}


@dataclass(frozen=True)
class Scenario:
    """One removal of two of three seeded contacts, and what must be true once it is done."""

    seed: dict[str, Any]
    call: Callable[[Any], Any]
    check: Callable[[Any, Any, Any], None]


def _check_autosend(result, sandbox, hook) -> None:
    assert (result.removed, result.not_in_list, result.errors) == (2, 0, [])
    assert sandbox.state("autosend")["autosend"]["lists"] == {"L1": 1}


def _check_wooxy(result, sandbox, hook) -> None:
    assert result.records == 2
    status = hook.request_status([result.request_id]).requests[result.request_id]
    assert (status.status, len(status.successes), status.errors) == ("completed", 2, [])
    assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": 1}


def _check_bird(result, sandbox, hook) -> None:
    assert (result.items_sent, result.items_processed) == (2, 2)
    assert sandbox.state("bird")["bird"]["workspaces"][WORKSPACE]["lists"] == {BIRD_LIST: 1}


def _check_migma(result, sandbox, hook) -> None:
    assert (result.deleted, result.not_found) == (2, [])
    assert sandbox.state("migma")["migma"]["projects"] == {PROJECT: 1}


SCENARIOS = {
    "autosend": Scenario(
        {"autosend": {"lists": {"L1": [A, B, C]}}},
        lambda hook: hook.remove_from_list("L1", emails=[A, B]),
        _check_autosend,
    ),
    "wooxy": Scenario(
        {"wooxy": {"lists": {"L1": [A, B, C]}}},
        lambda hook: hook.remove_from_list("L1", emails=[A, B]),
        _check_wooxy,
    ),
    "bird": Scenario(
        {
            "bird": {
                "workspaces": {
                    WORKSPACE: {
                        "contacts": [
                            {"id": C1, "emailaddress": A},
                            {"id": C2, "emailaddress": B},
                            {"id": C3, "emailaddress": C},
                        ],
                        "lists": {BIRD_LIST: [C1, C2, C3]},
                    }
                }
            }
        },
        lambda hook: hook.remove_from_list(
            BIRD_LIST, contact_ids=[C1], identifiers=[{"key": "emailaddress", "value": B}]
        ),
        _check_bird,
    ),
    "migma": Scenario(
        {"migma": {"projects": {PROJECT: [A, B, C]}}},
        lambda hook: hook.bulk_delete([A, B]),
        _check_migma,
    ),
}


def statuses(sandbox, vendor: str) -> list[int | None]:
    return [entry["status"] for entry in sandbox.requests_log(vendor)]


# Faults ridden out ----------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_429_waits_exactly_what_retry_after_says(sandbox, make_hook, no_sleep, vendor):
    settings = {"rate_429": 0.5, "retry_after": 3, "vendors": [vendor]}
    sandbox.seed(SCENARIOS[vendor].seed)
    sandbox.set_faults(seed=fault_seed(vendor, "429", 2, **settings), **settings)
    hook = make_hook(vendor)

    result = SCENARIOS[vendor].call(hook)

    assert result.attempts == 3
    assert statuses(sandbox, vendor) == [429, 429, 200]
    # Per 429: the retry waits the 3 s asked for (not a back-off of its own), and the hook-wide hold
    # that keeps every other sender back until then (what is left of the same 3 s, as this sleep
    # does not really wait).
    assert no_sleep.waits[0::2] == [3.0, 3.0]
    assert all(2.5 < wait <= 3.0 for wait in no_sleep.waits[1::2])
    assert len(no_sleep.waits) == 4
    sandbox.set_faults(**FAULTS_OFF)
    SCENARIOS[vendor].check(result, sandbox, hook)


def test_a_retry_after_above_max_retry_after_fails_at_once(sandbox, make_hook, no_sleep):
    """Issue 12: it used to be waited in max_retry_after steps; the vendor holds the key, so it stops the run."""
    settings = {"rate_429": 0.5, "retry_after": 600, "vendors": ["migma"]}
    sandbox.seed(SCENARIOS["migma"].seed)
    before = sandbox.state()
    sandbox.set_faults(seed=fault_seed("migma", "429", 1, **settings), **settings)
    hook = make_hook("migma", max_retry_after=2)

    with pytest.raises(VendorAPIError, match="asked to wait 600 s") as caught:
        SCENARIOS["migma"].call(hook)

    assert (caught.value.attempts, caught.value.retryable, caught.value.stops_run) == (1, True, True)
    assert statuses(sandbox, "migma") == [429]
    assert no_sleep.waits == []
    assert sandbox.state() == before


@pytest.mark.parametrize("vendor", VENDORS)
def test_5xx_answers_are_retried_with_back_off(sandbox, make_hook, no_sleep, vendor):
    settings = {"rate_5xx": 0.5, "vendors": [vendor]}
    sandbox.seed(SCENARIOS[vendor].seed)
    sandbox.set_faults(seed=fault_seed(vendor, "5xx", 2, **settings), **settings)
    hook = make_hook(vendor)

    result = SCENARIOS[vendor].call(hook)

    assert result.attempts == 3
    first, second, last = statuses(sandbox, vendor)
    assert {first, second} <= {500, 502, 503, 504}
    assert last == 200
    assert len(no_sleep.waits) == 2
    assert all(0 <= wait <= 30 for wait in no_sleep.waits)
    sandbox.set_faults(**FAULTS_OFF)
    SCENARIOS[vendor].check(result, sandbox, hook)


@pytest.mark.parametrize("vendor", VENDORS)
def test_dropped_connections_are_retried(sandbox, make_hook, no_sleep, vendor):
    settings = {"rate_drop": 0.5, "vendors": [vendor]}
    sandbox.seed(SCENARIOS[vendor].seed)
    sandbox.set_faults(seed=fault_seed(vendor, "drop", 2, **settings), **settings)
    hook = make_hook(vendor)

    result = SCENARIOS[vendor].call(hook)

    assert result.attempts == 3
    assert statuses(sandbox, vendor) == [None, None, 200]  # no answer at all, twice
    sandbox.set_faults(**FAULTS_OFF)
    SCENARIOS[vendor].check(result, sandbox, hook)


@pytest.mark.parametrize("vendor", VENDORS)
def test_answers_slower_than_the_read_timeout_are_retried(sandbox, make_hook, vendor):
    settings = {"rate_slow": 0.5, "slow_ms": 600, "vendors": [vendor]}
    sandbox.seed(SCENARIOS[vendor].seed)
    sandbox.set_faults(seed=fault_seed(vendor, "slow", 1, **settings), **settings)
    hook = make_hook(vendor, read_timeout=0.2)

    result = SCENARIOS[vendor].call(hook)

    assert result.attempts == 2
    sandbox.set_faults(**FAULTS_OFF)
    SCENARIOS[vendor].check(result, sandbox, hook)
    # The answer the client gave up on was still processed, late: it must change nothing more.
    wait_until_idle(sandbox)
    faults = [entry["fault"] for entry in sandbox.requests_log(vendor)]
    assert faults.count("slow") == 1
    if vendor != "wooxy":  # Wooxy's check above made one more request
        SCENARIOS[vendor].check(result, sandbox, hook)


def test_migma_drop_after_processing_is_replayed_under_the_idempotency_key(sandbox, make_hook):
    settings = {"rate_drop": 0.5, "drop_after_processing": True, "vendors": ["migma"]}
    sandbox.seed(SCENARIOS["migma"].seed)
    sandbox.set_faults(seed=fault_seed("migma", "drop_after_processing", 1, **settings), **settings)
    hook = make_hook("migma")

    result = hook.bulk_delete([A, B], idempotency_key="run-1-batch-0")

    # The first attempt deleted both but its answer was lost; the retry gets that answer replayed.
    assert (result.deleted, result.not_found, result.replayed, result.attempts) == (2, [], True, 2)
    assert statuses(sandbox, "migma") == [None, 200]
    assert sandbox.state("migma")["migma"]["projects"] == {PROJECT: 1}


def test_migma_drop_after_processing_without_a_key_reports_not_found(sandbox, make_hook):
    """Without an Idempotency-Key the retry can only see that the contacts are gone: the state is
    right, the counts call them not found. Why the operators send a key."""
    settings = {"rate_drop": 0.5, "drop_after_processing": True, "vendors": ["migma"]}
    sandbox.seed(SCENARIOS["migma"].seed)
    sandbox.set_faults(seed=fault_seed("migma", "drop_after_processing", 1, **settings), **settings)

    result = make_hook("migma").bulk_delete([A, B])

    assert (result.deleted, result.not_found, result.replayed, result.attempts) == (0, [A, B], False, 2)
    assert sandbox.state("migma")["migma"]["projects"] == {PROJECT: 1}


# Faults given up on ---------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_retries_exhausted_on_5xx_raise_a_retryable_error(sandbox, make_hook, no_sleep, vendor):
    sandbox.seed(SCENARIOS[vendor].seed)
    before = sandbox.state()
    sandbox.set_faults(rate_5xx=1.0, seed=1)
    hook = make_hook(vendor, max_attempts=4)

    with pytest.raises(VendorAPIError) as caught:
        SCENARIOS[vendor].call(hook)

    error = caught.value
    assert (error.vendor, error.retryable, error.attempts) == (vendor, True, 4)
    assert error.status_code in {500, 502, 503, 504}
    assert len(no_sleep.waits) == 3
    assert all(status in {500, 502, 503, 504} for status in statuses(sandbox, vendor))
    assert len(statuses(sandbox, vendor)) == 4
    assert sandbox.state() == before


def test_retries_exhausted_on_dropped_connections_raise_a_retryable_error(sandbox, make_hook):
    sandbox.seed(SCENARIOS["migma"].seed)
    before = sandbox.state()
    sandbox.set_faults(rate_drop=1.0)
    hook = make_hook("migma", max_attempts=3)

    with pytest.raises(VendorAPIError) as caught:
        SCENARIOS["migma"].call(hook)

    error = caught.value
    assert (error.retryable, error.attempts, error.status_code) == (True, 3, None)
    assert statuses(sandbox, "migma") == [None, None, None]
    assert sandbox.state() == before
