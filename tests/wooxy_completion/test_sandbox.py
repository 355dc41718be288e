"""The whole wait over real HTTP against the sandbox: removals queued, the clock moved, outcomes folded."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_contact_removal.hooks.wooxy import WooxyHook
from airflow_contact_removal.triggers import WooxyRequestTrigger
from airflow_contact_removal.wooxy_completion import REASON_TIMEOUT, REASON_UNKNOWN, folded_summary
from airflow_contact_removal.wooxy_wait import finish_from_event, wait_for_requests
from tests.wooxy_completion.helpers import identity_holds, send_batches

pytestmark = pytest.mark.integration

MEMBERS = [f"member{i}@example.com" for i in range(230)]
USERS = [{"userId": f"user-{i}"} for i in range(10)]


@pytest.fixture
def seeded(sandbox):
    sandbox.seed({"wooxy": {"lists": {"L1": [*MEMBERS, *USERS]}}})
    return sandbox


def three_batches() -> list[dict[str, list[str]]]:
    # 250 identifiers: 230 members, 10 user ids, 10 emails that are not in the list.
    emails = [*MEMBERS, *(f"absent{i}@example.com" for i in range(10))]
    return [
        {"emails": emails[:100]},
        {"emails": emails[100:200]},
        {"emails": emails[200:], "user_ids": [f"user-{i}" for i in range(10)]},
    ]


def finds(sandbox) -> int:
    return sum(1 for entry in sandbox.requests_log("wooxy") if entry["path"].endswith("/request/find"))


def removals(sandbox) -> int:
    return sum(1 for entry in sandbox.requests_log("wooxy") if entry["path"].endswith("/contacts/remove"))


def run_trigger(trigger: WooxyRequestTrigger, sandbox) -> dict:
    async def advance_the_sandbox_clock(seconds: float) -> None:
        await asyncio.to_thread(sandbox.advance_clock, seconds)

    trigger._sleep = advance_the_sandbox_clock

    async def collect():
        return [event async for event in trigger.run()]

    [event] = asyncio.run(collect())
    return event.payload


def test_the_trigger_waits_for_the_sandbox_then_the_outcome_is_folded(seeded, sandbox_conn):
    sandbox = seeded
    sandbox.set_options(wooxy_error_rate=0.1)
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches())
    sent = removals(sandbox)
    request_ids = [record["request_id"] for record in records]

    trigger = WooxyRequestTrigger(
        sandbox_conn, request_ids, poll_interval=1200, timeout_at=time.time() + 86400
    )
    event = run_trigger(trigger, sandbox)

    assert event["outcome"] == "complete" and event["final_ids"] == request_ids
    assert set(event["statuses"].values()) == {"completed"}
    assert finds(sandbox) == 4  # queued, queued, queued, completed: one call each (3 ids)

    completion = finish_from_event(hook, records, None, event)

    assert removals(sandbox) == sent  # resuming never sends a removal again
    left = sandbox.state("wooxy")["wooxy"]["lists"]["L1"]
    totals = completion.totals
    assert totals.removed == len(MEMBERS) + len(USERS) - left  # exactly what the sandbox removed
    assert totals.accepted == 250 and totals.removed + totals.failed == 250
    assert totals.failed >= 10 and totals.contact_errors == totals.failed
    assert all(identity_holds(record) and record["accepted"] == 0 for record in completion.records())
    summary = completion.summary
    assert (summary["requested"], summary["accepted"], summary["removed"]) == (250, 0, totals.removed)
    reasons = {item["reason"] for record in completion.records() for item in record["contact_errors"]}
    assert "Contact not found in list" in reasons
    absent = {f"absent{i}@example.com" for i in range(10)}
    assert absent <= set(completion.records()[2]["identifiers"]["emails"])


def test_the_trigger_reports_unknown_ids_and_ids_past_seven_days(seeded, sandbox_conn):
    sandbox = seeded
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches()[:1])
    sandbox.advance_clock(8 * 24 * 3600)  # processed, then forgotten after 7 days
    request_ids = [records[0]["request_id"], "f" * 24]

    trigger = WooxyRequestTrigger(sandbox_conn, request_ids, poll_interval=60, timeout_at=time.time() + 600)
    event = run_trigger(trigger, sandbox)

    assert event["outcome"] == "complete" and event["unknown_ids"] == request_ids
    completion = finish_from_event(hook, records, None, event)
    assert completion.records()[0]["error"] == REASON_UNKNOWN
    assert completion.summary["removed"] == 0 and completion.summary["failed"] == 100


@pytest.mark.usefixtures("seeded")
def test_the_trigger_times_out_on_requests_never_processed(sandbox_conn):
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches()[:1])

    trigger = WooxyRequestTrigger(
        sandbox_conn, [records[0]["request_id"]], poll_interval=0.05, timeout_at=time.time() + 0.3
    )
    trigger._sleep = asyncio.sleep

    async def collect():
        return [event async for event in trigger.run()]

    [event] = [event.payload for event in asyncio.run(collect())]

    assert event["outcome"] == "timeout" and event["statuses"] == {records[0]["request_id"]: "queued"}
    completion = finish_from_event(hook, records, None, event)
    assert completion.records()[0]["error"] == f"{REASON_TIMEOUT} (last status: queued)"
    assert completion.summary["removed"] == 0 and completion.timed_out


def test_waiting_in_the_worker_polls_until_final(seeded, sandbox_conn):
    sandbox = seeded
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches())
    summary = folded_summary(None, records)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        sandbox.advance_clock(seconds)

    completion = wait_for_requests(hook, records, summary, poll_interval=1800, timeout=7200, sleep=sleep)

    assert waits == [1800, 1800]
    assert completion.totals.completed == 3 and completion.totals.removed == 240
    assert completion.totals.failed == 10  # the 10 absent emails
    assert completion.summary["removed"] == 240 and completion.summary["accepted"] == 0


def test_waiting_in_the_worker_stops_at_its_timeout(seeded, sandbox_conn):
    sandbox = seeded
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches()[:2])
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    completion = wait_for_requests(
        hook, records, None, poll_interval=30, timeout=100, sleep=sleep, clock=lambda: clock[0]
    )

    assert completion.timed_out and completion.totals.timed_out == 2
    assert completion.summary["failed"] == 200 and completion.summary["removed"] == 0
    assert finds(sandbox) == 5  # at 0, 30, 60, 90 and 100 s


@pytest.mark.usefixtures("seeded")
def test_a_final_request_that_can_no_longer_be_read_is_failed_not_removed(sandbox_conn, monkeypatch):
    hook = WooxyHook(sandbox_conn)
    records = send_batches(hook, "L1", three_batches()[:1])
    event = {"request_ids": [records[0]["request_id"]], "statuses": {records[0]["request_id"]: "completed"}}
    monkeypatch.setattr(hook, "_api_key", type(hook._api_key)("wrong-key-0000000000"))

    completion = finish_from_event(hook, records, None, event)

    assert completion.summary["removed"] == 0 and completion.summary["failed"] == 100
    assert completion.records()[0]["error"].startswith("could not read Wooxy's status: wooxy:")
