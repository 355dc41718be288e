"""RemoveFromListOperator(wait_for_completion=True): deferred or in the worker, never re-sending a removal."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_contact_removal._compat import TaskDeferred
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError
from airflow_contact_removal.operators import RemoveFromListOperator
from airflow_contact_removal.triggers.completion import RequestCompletionTrigger
from tests.operators.conftest import FakeTaskInstance

pytestmark = pytest.mark.integration

LIST = "churn"


def seed(sandbox, members: int) -> list[str]:
    emails = [f"user{i}@example.com" for i in range(members)]
    sandbox.seed({"wooxy": {"lists": {LIST: emails}}})
    return emails


def removals_sent(sandbox) -> int:
    return sum(1 for entry in sandbox.requests_log("wooxy") if entry["path"].endswith("/contacts/remove"))


def operator(conn_id, emails, **kwargs):
    return RemoveFromListOperator(
        task_id="remove",
        conn_id=conn_id,
        list_id=LIST,
        emails=emails,
        wait_for_completion=True,
        poll_interval=0.05,
        **kwargs,
    )


def test_waiting_in_the_worker_turns_accepted_into_removed(sandbox, sandbox_conn):
    emails = seed(sandbox, 250)
    sandbox.set_options(wooxy_processing_delay=0.3)
    ti = FakeTaskInstance()
    summary = operator(
        sandbox_conn, [*emails, "stranger@example.com"], deferrable=False, fail_on_error=False
    ).execute({"ti": ti, "run_id": ti.run_id})
    assert (summary["removed"], summary["accepted"], summary["failed"]) == (250, 0, 1)
    assert summary["requested"] == 251
    failed = [record for record in ti.xcom["batch_results"] if record["failed"]]
    assert failed and "Contact not found in list" in str(failed[0])
    assert sandbox.state("wooxy")["wooxy"]["lists"][LIST] == 0
    assert removals_sent(sandbox) == 3


def test_deferring_then_resuming_folds_the_outcome_and_sends_nothing_again(sandbox, sandbox_conn):
    emails = seed(sandbox, 150)
    ti = FakeTaskInstance()
    context = {"ti": ti, "run_id": ti.run_id}
    task = operator(sandbox_conn, emails, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RequestCompletionTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert len(trigger.request_ids) == 2
    assert sandbox.api_key("wooxy") not in repr(trigger.serialize())
    sent_before = removals_sent(sandbox)

    sandbox.advance_clock(7200)  # Wooxy processes the queued removals

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    summary = task.execute_complete(context, event)
    assert (summary["removed"], summary["accepted"], summary["failed"]) == (150, 0, 0)
    assert removals_sent(sandbox) == sent_before == 2


def test_the_log_before_deferring_and_the_outcome_count_failed_batches_in_the_same_words(
    sandbox, sandbox_conn, caplog, capsys
):
    """One vocabulary: "batches with failures" are the summary's batches_failed, partial ones included."""
    emails = seed(sandbox, 10)
    ti = FakeTaskInstance()
    context = {"ti": ti, "run_id": ti.run_id}
    task = operator(sandbox_conn, [*emails, "stranger@example.com"], deferrable=True, fail_on_error=False)
    with caplog.at_level("INFO"), pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    sandbox.advance_clock(7200)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload

    with caplog.at_level("INFO"):
        summary = task.execute_complete(context, asyncio.run(first_event()))
    logged = capsys.readouterr().out + caplog.text  # the task logger writes through structlog
    assert "then counting batches with failures (failed or partial)" in logged
    assert (summary["removed"], summary["failed"], summary["batches_failed"]) == (10, 1, 1)  # one partial
    assert "1 batch(es) with failures (failed or partial)" in logged


def test_a_wait_that_times_out_is_a_failure_never_a_success(sandbox, sandbox_conn):
    emails = seed(sandbox, 20)
    ti = FakeTaskInstance()
    started = time.monotonic()
    with pytest.raises(ContactRemovalError, match="20 of 20 identifier"):
        operator(sandbox_conn, emails, deferrable=False, completion_timeout=0.3).execute(
            {"ti": ti, "run_id": ti.run_id}
        )
    assert time.monotonic() - started < 10
    assert ti.xcom["summary"]["failed"] == 20 and ti.xcom["summary"]["removed"] == 0
    assert "timed out" in ti.xcom["batch_results"][0]["error"]


def test_wait_for_completion_and_results_path_are_refused_before_any_request(sandbox, sandbox_conn, tmp_path):
    ti = FakeTaskInstance()
    with pytest.raises(ContactRemovalConfigError, match="results_path"):
        operator(sandbox_conn, ["a@example.com"], results_path=str(tmp_path / "r.jsonl")).execute(
            {"ti": ti, "run_id": ti.run_id}
        )
    assert removals_sent(sandbox) == 0
