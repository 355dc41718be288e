"""A fifth vendor that confirms later, through both operators, the worker wait, the trigger and the sensor."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_contact_removal._compat import AirflowFailException, TaskDeferred
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from airflow_contact_removal.sensors import RequestCompletionSensor
from airflow_contact_removal.triggers import RequestCompletionTrigger
from tests.fifth_vendor.conftest import MEMBERS
from tests.fifth_vendor.fake_api import KEY
from tests.fifth_vendor.hook import ParcelHook
from tests.operators.conftest import FakeTaskInstance

STRANGER = "stranger@example.com"


def context():
    ti = FakeTaskInstance()
    return {"ti": ti, "run_id": ti.run_id}


def from_list(**kwargs):
    return RemoveFromListOperator(
        task_id="remove", conn_id="parcel_default", list_id="churn", poll_interval=0.01, **kwargs
    )


def first_event(trigger: RequestCompletionTrigger) -> dict:
    async def collect():
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    json.dumps(events[0].payload)
    return events[0].payload


def resume_from_the_trigger(task, ctx, kwargs: dict) -> None:
    """
    Run the deferred task's trigger (from its serialised kwargs) to its one event and resume the task
    with it: Parcel's three tickets for MEMBERS and STRANGER end with 7 removed and 1 failed.
    """
    event = first_event(RequestCompletionTrigger(**kwargs))

    assert event["outcome"] == "complete" and sorted(event["final_ids"]) == ["t-1", "t-2", "t-3"]
    with pytest.raises(Exception, match="1 of 8 identifier"):
        task.execute_complete(ctx, event)
    summary = ctx["ti"].xcom["summary"]
    assert (summary["removed"], summary["failed"], summary["accepted"]) == (7, 1, 0)


def test_the_hook_lookup_resolves_the_registered_connection_type():
    assert isinstance(get_removal_hook("parcel_default"), ParcelHook)


def test_remove_contacts_reports_parcels_answer_as_accepted(parcel):
    ctx = context()
    summary = RemoveContactsOperator(
        task_id="remove", conn_id="parcel_default", emails=MEMBERS, fail_on_error=False
    ).execute(ctx)
    assert (summary["accepted"], summary["removed"], summary["batches"]) == (7, 0, 3)
    assert summary["vendor"] == "parcel" and summary["confirmation"] == "asynchronous"
    assert parcel.removals_sent == 3


def test_waiting_in_the_worker_turns_accepted_into_removed_or_failed(parcel):
    ctx = context()
    summary = from_list(emails=[*MEMBERS, STRANGER], wait_for_completion=True, fail_on_error=False).execute(
        ctx
    )
    assert (summary["removed"], summary["failed"], summary["accepted"]) == (7, 1, 0)
    assert summary["requested"] == 8
    assert max(parcel.lookup_sizes) <= 2  # the hook's read size is honoured
    failed = [record for record in ctx["ti"].xcom["batch_results"] if record["failed"]]
    assert failed[0]["identifiers"] == {"emails": [STRANGER]}
    assert failed[0]["contact_errors"][0]["reason"] == "not a member"


def test_deferring_waits_in_the_generic_trigger_then_folds_without_resending(parcel):
    ctx = context()
    task = from_list(emails=[*MEMBERS, STRANGER], wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    trigger = deferred.value.trigger
    assert type(trigger) is RequestCompletionTrigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_contact_removal.triggers.completion.RequestCompletionTrigger"
    assert KEY not in json.dumps(kwargs)
    sent = parcel.removals_sent

    resume_from_the_trigger(task, ctx, kwargs)

    assert parcel.removals_sent == sent


def test_the_trigger_reports_unknown_tickets_and_times_out_on_pending_ones(parcel):
    parcel.lookups_until_done = 10**6
    from_list(emails=MEMBERS[:3], fail_on_error=False).execute(context())  # ticket t-1, never done
    trigger = RequestCompletionTrigger("parcel_default", ["t-1", "nope"], poll_interval=0.01, timeout_at=0)
    event = first_event(trigger)
    assert event["outcome"] == "timeout" and event["timed_out"] is True
    assert event["unknown_ids"] == ["nope"] and event["pending_ids"] == ["t-1"]
    assert event["statuses"] == {"t-1": "queued"}


def test_the_sensor_folds_another_tasks_removals(parcel):
    remove_ctx = context()
    from_list(emails=[*MEMBERS, STRANGER], fail_on_error=False).execute(remove_ctx)
    records = remove_ctx["ti"].xcom["batch_results"]
    sensor = RequestCompletionSensor(
        task_id="wait", conn_id="parcel_default", request_ids=records, poke_interval=0.01, timeout=30
    )
    ctx = context()
    assert sensor.poke(ctx) is False  # queued at the first lookup
    with pytest.raises(AirflowFailException, match="Parcel outcome of 8 accepted identifier"):
        sensor.poke(ctx)
    summary = ctx["ti"].xcom["summary"]
    assert (summary["removed"], summary["failed"], summary["accepted"]) == (7, 1, 0)


def test_the_sensor_reports_an_unknown_ticket_with_parcels_retention(parcel):
    sensor = RequestCompletionSensor(task_id="wait", conn_id="parcel_default", request_ids=["gone"])
    with pytest.raises(AirflowFailException, match="ticket unknown or older than 1 day"):
        sensor.poke(context())


@pytest.mark.parametrize("share", [1, 2])
def test_the_trigger_reads_in_parallel_within_the_tasks_share(parcel, share):
    emails = list(MEMBERS)
    from_list(emails=emails, fail_on_error=False).execute(context())  # tickets t-1..t-3
    parcel.lookups_until_done = 0
    parcel.lookup_delay = 0.05
    trigger = RequestCompletionTrigger(
        "parcel_default", ["t-1", "t-2", "t-3"], poll_interval=0.01, timeout_at=2e9, max_in_flight=share
    )
    event = first_event(trigger)
    assert event["outcome"] == "complete" and len(event["final_ids"]) == 3
    assert parcel.lookup_sizes == [2, 1] and 1 <= parcel.most_in_flight <= share
