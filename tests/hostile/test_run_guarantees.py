"""The run layer's guarantees under hostile vendor answers, with requests-mock (exact request counts).

* an answer that says no batch can succeed (``VendorAPIError.stops_run``) stops the run: no more
  requests than were already in flight, the rest failed as "not sent", ready to re-queue;
* a refusal of the request itself is not split into a storm, and a run of them stops the run;
* vendor text that echoes identifiers reaches the log only with them taken out;
* the log tells things in the order they happened; checkpoint folders left empty are removed.
"""

from __future__ import annotations

import logging
import threading

import pytest
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalError, VendorAPIError
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator, remove
from tests.operators.conftest import context, vendor_connections
from tests.reliability.conftest import assert_accounted

__all__ = ["context", "vendor_connections"]  # fixtures shared with tests/operators

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
WOOXY_URL = "https://api.wooxy.com/v3/contacts/remove"


@pytest.fixture(autouse=True)
def _connections(vendor_connections):
    """The four vendors' default connections of tests/operators."""


@pytest.fixture
def run_fatal_401(monkeypatch):
    """Hooks that mark a refused key as run-fatal, as the hook layer's contract says they do."""

    def hook_for(conn_id):
        hook = get_removal_hook(conn_id, sleep=lambda seconds: None)
        send = hook.remove_batch

        def remove_batch(*args, **kwargs):
            try:
                return send(*args, **kwargs)
            except VendorAPIError as exc:
                exc.stops_run = exc.status_code == 401
                raise

        hook.remove_batch = remove_batch
        return hook

    monkeypatch.setattr(remove, "get_removal_hook", hook_for)


def migma_answer(request, context):
    emails = request.json()["emails"]
    return {"success": True, "data": {"deleted": len(emails), "notFound": []}}


def refused(status: int, message: str, code: str = "VALIDATION_ERROR"):
    def answer(request, context):
        context.status_code = status
        return {"success": False, "error": message, "code": code}

    return answer


def test_401_on_the_first_batch_sends_no_more_than_the_requests_already_in_flight(run_fatal_401, context):
    emails = [f"u{i}@x.com" for i in range(10_000)]
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def unauthorized(request, answer_context):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            answer_context.status_code = 401
            return {"success": False, "error": "Invalid or missing API key", "code": "UNAUTHORIZED"}
        finally:
            with lock:
                in_flight -= 1

    operator = RemoveContactsOperator(
        task_id="remove", conn_id="migma_default", emails=emails, batch_size=100, max_concurrency=4
    )
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalError, match="10000 of 10000"):
        m.post(MIGMA_URL, json=unauthorized)
        operator.execute(context)

    assert m.call_count <= 4  # the four senders' first requests, none after the refusal
    summary = context["ti"].xcom["summary"]
    assert_accounted(summary)
    assert summary["failed"] == 10_000 and summary["batches"] == 100
    assert summary["not_sent"] == 10_000 - 100 * m.call_count
    assert "Invalid or missing API key" in summary["stopped"]
    unsent = [record for record in context["ti"].xcom["batch_results"] if record["not_sent"]]
    assert len(unsent) == 100 - m.call_count
    assert all(record["error"].startswith("not sent: ") for record in unsent)
    assert sum(len(record["identifiers"]["emails"]) for record in unsent) == summary["not_sent"]


def test_a_400_to_every_request_is_not_split_into_a_storm(context):
    emails = [f"u{i}@x.com" for i in range(1000)]
    operator = RemoveContactsOperator(
        task_id="remove", conn_id="migma_default", emails=emails, batch_size=100, max_concurrency=4
    )
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalError):
        m.post(MIGMA_URL, json=refused(400, "Request malformed"))
        operator.execute(context)

    # Before: each of the 10 batches split into 33 requests (330). Now a batch costs at most 7
    # (itself, halves, quarters all refused alike), and two such batches stop the run: the 4 in
    # flight, plus the first request of up to 3 batches a sender took between the first refusal and
    # the second.
    assert m.call_count <= 4 * 7 + 3
    summary = context["ti"].xcom["summary"]
    assert_accounted(summary)
    assert summary["failed"] == 1000 and summary["invalid"] == 0
    assert "refused the same way" in summary["stopped"]


def test_splitting_stops_when_the_halves_and_quarters_fail_as_the_whole(context):
    emails = [f"u{i}@x.com" for i in range(100)]
    operator = RemoveContactsOperator(
        task_id="remove", conn_id="migma_default", emails=emails, fail_on_error=False
    )
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=refused(400, "Request malformed"))
        summary = operator.execute(context)
    assert m.call_count == 1 + 2 + 4
    assert summary["failed"] == 100 and summary["invalid"] == 0
    (record,) = context["ti"].xcom["batch_results"]
    assert record["status"] == "failed" and "Request malformed" in record["error"]


def test_vendor_text_echoing_identifiers_is_redacted_in_the_log(context, caplog):
    with requests_mock.Mocker() as m, caplog.at_level(logging.INFO):
        m.post(
            WOOXY_URL,
            status_code=409,
            json={"result": False, "errors": ["no data found for key secret-user-17"]},
        )
        m.post(MIGMA_URL, json=refused(409, "Invalid email: ann@secret.example, +31612345678", "CONFLICT"))
        RemoveFromListOperator(
            task_id="remove",
            conn_id="wooxy_default",
            list_id="L1",
            user_ids=["secret-user-17"],
            fail_on_error=False,
        ).execute(context)
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=["ann@secret.example"], fail_on_error=False
        ).execute(context)

    assert "Batch 0 (1 identifiers) failed" in caplog.text
    assert "no data found for key <id>" in caplog.text
    assert "secret" not in caplog.text and "31612345678" not in caplog.text
    # The hook already scrubs the vendor's text (an exception may be logged by Airflow itself); the
    # failed identifiers are handed over for re-queueing in the record, not in its error text.
    (record,) = context["ti"].xcom["batch_results"]
    assert record["error"].startswith("migma: Invalid email: <email>, <phone>")
    assert record["identifiers"] == {"emails": ["ann@secret.example"]}


def test_the_cleaning_summary_is_logged_before_the_done_line(context, caplog, capsys):
    with requests_mock.Mocker() as m, caplog.at_level(logging.INFO):
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=["a@x.com", "A@x.com", "bad"]
        ).execute(context)
    logged = capsys.readouterr().out + caplog.text  # the task logger writes through structlog
    cleaning = logged.index("3 identifier(s) in, 1 valid, 1 invalid, 1 duplicate(s)")
    done = logged.index("Done: batches 1/1")
    summary = logged.index("requested 3, removed 1")
    assert cleaning < done < summary


def test_a_finished_run_leaves_no_empty_checkpoint_folders(context, checkpoint_folder):
    other = checkpoint_folder / "other_dag" / "run" / "task" / "-1.jsonl"  # another task's checkpoint
    other.parent.mkdir(parents=True)
    other.write_text("{}\n")
    sibling = checkpoint_folder / "dag" / "run-1" / "other_task" / "0.jsonl"  # same run, other task
    sibling.parent.mkdir(parents=True)
    sibling.write_text("{}\n")
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=["a@x.com"]).execute(context)
    assert not (checkpoint_folder / "dag" / "run-1" / "remove").exists()
    assert sibling.exists() and other.exists()  # only ours, only empty ones

    sibling.unlink()
    sibling.parent.rmdir()
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=["a@x.com"]).execute(context)
    assert sorted(path.name for path in checkpoint_folder.iterdir()) == ["other_dag"]
    assert checkpoint_folder.is_dir()
