"""WooxyRequestSensor: poking, folding, reschedule mode, unknown ids, timeout, deferral."""

from __future__ import annotations

import json
import time

import pytest

from airflow_contact_removal._compat import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    TaskDeferred,
)
from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.wooxy import WooxyHook
from airflow_contact_removal.sensors import WooxyRequestSensor
from airflow_contact_removal.triggers import RequestCompletionTrigger
from airflow_contact_removal.wooxy_completion import REASON_TIMEOUT, REASON_UNKNOWN, folded_summary
from tests.conftest import set_connection
from tests.wooxy_completion.conftest import FakeTaskInstance
from tests.wooxy_completion.helpers import (
    KEY,
    accepted_record,
    contact,
    find_answer,
    find_entry,
    identity_holds,
    send_batches,
)

FIND_URL = "https://api.wooxy.com/v3/request/find"
A, B = "a" * 24, "b" * 24


@pytest.fixture(autouse=True)
def wooxy_connection(monkeypatch):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 1})


def answer_with(entries):
    def answer(request, context):
        return find_answer(entries, request.json()["ids"])

    return answer


def records_ab():
    return [
        accepted_record(0, A, emails=["a1@x.com", "a2@x.com"]),
        accepted_record(1, B, emails=["b1@x.com"], user_ids=["u1"]),
    ]


def sensor(**kwargs) -> WooxyRequestSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("poke_interval", 1)
    return WooxyRequestSensor(**kwargs)


# Poking ------------------------------------------------------------------------------------------------
def test_poke_is_false_while_any_request_is_queued(requests_mock, context):
    requests_mock.post(FIND_URL, json=answer_with({A: find_entry(A), B: find_entry(B, "queued")}))

    assert sensor(request_ids=records_ab()).poke(context) is False
    assert context["ti"].xcom == {}


def test_poke_folds_the_outcome_when_every_request_is_final(requests_mock, context):
    entries = {
        A: find_entry(A, successes=[contact("a1@x.com"), contact("A2@x.com")]),
        B: find_entry(B, successes=[contact("b1@x.com", user_id="u1")]),
    }
    requests_mock.post(FIND_URL, json=answer_with(entries))

    done = sensor(request_ids=records_ab()).poke(context)

    assert done.is_done
    summary = done.xcom_value
    assert (summary["requested"], summary["removed"], summary["accepted"], summary["failed"]) == (4, 4, 0, 0)
    ti = context["ti"]
    assert ti.xcom["summary"] == summary
    assert [record["status"] for record in ti.xcom["batch_results"]] == ["ok", "ok"]
    assert requests_mock.call_count == 1
    assert requests_mock.last_request.json() == {"ids": [A, B]}
    assert requests_mock.last_request.headers["Access-Token"] == KEY


def test_contact_errors_are_pushed_then_fail_the_sensor(requests_mock, context):
    entries = {
        A: find_entry(
            A,
            successes=[contact("a1@x.com")],
            errors=[(contact("a2@x.com"), "x", "Contact not found in list")],
        ),
        B: find_entry(B, successes=[contact("b1@x.com", user_id="u1")]),
    }
    requests_mock.post(FIND_URL, json=answer_with(entries))
    summary = folded_summary(None, records_ab())

    with pytest.raises(AirflowFailException, match="3 removed, 1 failed"):
        sensor(request_ids=records_ab(), summary=summary).poke(context)

    records = context["ti"].xcom["batch_results"]
    assert records[0]["status"] == "partial" and records[0]["identifiers"] == {"emails": ["a2@x.com"]}
    assert records[0]["contact_errors"][0]["reason"] == "Contact not found in list"
    assert context["ti"].xcom["summary"]["failed"] == 1


def test_with_fail_on_error_false_contact_errors_are_reported_and_the_sensor_succeeds(requests_mock, context):
    entries = {
        A: find_entry(A, errors=[(contact("a1@x.com"), "x", "Nope"), (contact("a2@x.com"), "x", "Nope")])
    }
    requests_mock.post(FIND_URL, json=answer_with(entries))

    done = sensor(request_ids=records_ab()[:1], fail_on_error=False).poke(context)

    assert done.xcom_value["failed"] == 2 and done.xcom_value["removed"] == 0


def test_unknown_request_ids_are_reported_and_fail_the_sensor(requests_mock, context):
    requests_mock.post(
        FIND_URL, json=answer_with({A: find_entry(A, successes=[contact("a1@x.com"), contact("a2@x.com")])})
    )

    with pytest.raises(AirflowFailException, match=f"1 Wooxy request id\\(s\\) {REASON_UNKNOWN}"):
        sensor(request_ids=records_ab(), fail_on_error=False).poke(context)

    records = context["ti"].xcom["batch_results"]
    assert records[0]["status"] == "ok"
    assert (records[1]["status"], records[1]["error"], records[1]["failed"]) == ("failed", REASON_UNKNOWN, 2)
    assert context["ti"].xcom["summary"]["removed"] == 2


def test_bare_request_ids_are_folded_from_wooxy_report(requests_mock, context):
    entries = {
        A: find_entry(A, successes=[contact("a1@x.com")], errors=[(contact("a2@x.com"), "x", "Nope")]),
        B: find_entry(B, successes=[contact(user_id="u1")]),
    }
    requests_mock.post(FIND_URL, json=answer_with(entries))

    done = sensor(request_ids=[A, B], fail_on_error=False).poke(context)

    assert (done.xcom_value["requested"], done.xcom_value["removed"], done.xcom_value["failed"]) == (3, 2, 1)
    assert context["ti"].xcom["batch_results"][0]["identifiers"] == {"emails": ["a2@x.com"]}


def test_request_ids_and_records_rendered_by_a_template_as_strings_are_read(requests_mock, context):
    requests_mock.post(
        FIND_URL, json=answer_with({A: find_entry(A, successes=[contact("a1@x.com"), contact("a2@x.com")])})
    )
    records = records_ab()[:1]

    done = sensor(request_ids=json.dumps([A]), batch_results=str(records)).poke(context)

    assert done.xcom_value["removed"] == 2


def test_a_summary_whose_accepted_identifiers_no_record_covers_fails_the_sensor(requests_mock, context):
    # The operator's XCom was cut down to fit: the accepted batches' records are gone.
    summary = folded_summary(None, records_ab())

    with pytest.raises(AirflowFailException, match="4 accepted identifier\\(s\\) were not checked"):
        sensor(batch_results=[], request_ids=[], summary=summary).poke(context)

    assert requests_mock.call_count == 0


def test_a_refused_key_fails_the_poke(requests_mock, context):
    requests_mock.post(
        FIND_URL, status_code=401, json={"result": False, "errors": ["Invalid authorization token!"]}
    )

    with pytest.raises(VendorAPIError, match="401"):
        sensor(request_ids=[A]).poke(context)


def test_a_transient_failure_only_delays_the_answer(requests_mock, context):
    requests_mock.post(FIND_URL, status_code=503, json={"result": False})

    assert sensor(request_ids=[A]).poke(context) is False


def test_more_than_100_ids_are_read_in_calls_of_at_most_100(requests_mock, context):
    request_ids = [f"{i:024x}" for i in range(250)]
    requests_mock.post(FIND_URL, json=answer_with({i: find_entry(i, "queued") for i in request_ids}))

    assert sensor(request_ids=request_ids).poke(context) is False

    assert [len(request.json()["ids"]) for request in requests_mock.request_history] == [100, 100, 50]


def test_the_sensor_needs_something_to_wait_for():
    with pytest.raises(ContactRemovalConfigError):
        sensor()


def test_the_inputs_are_templated():
    assert {"conn_id", "request_ids", "batch_results", "summary"} <= set(WooxyRequestSensor.template_fields)


# Reschedule mode --------------------------------------------------------------------------------------
@pytest.mark.integration
def test_reschedule_mode_a_fresh_sensor_per_poke_gives_the_same_answer(sandbox, sandbox_conn):
    sandbox.seed({"wooxy": {"lists": {"L1": ["a@x.com", "b@x.com", "c@x.com"]}}})
    records = send_batches(
        WooxyHook(sandbox_conn),
        "L1",
        [{"emails": ["a@x.com", "b@x.com"]}, {"emails": ["c@x.com", "z@x.com"]}],
    )

    def execute_once():
        ti = FakeTaskInstance()
        task = sensor(
            conn_id=sandbox_conn, request_ids=records, mode="reschedule", fail_on_error=False, timeout=600
        )
        try:
            return task.execute({"ti": ti}), ti
        except AirflowRescheduleException:
            return None, ti

    first, ti = execute_once()
    assert first is None and ti.xcom == {}

    sandbox.advance_clock(3600)
    results = [execute_once() for _ in range(2)]

    assert results[0][0] == results[1][0]
    assert results[0][1].xcom == results[1][1].xcom
    summary = results[0][0]
    assert (summary["requested"], summary["removed"], summary["failed"], summary["accepted"]) == (4, 3, 1, 0)
    records_out = results[0][1].xcom["batch_results"]
    assert all(identity_holds(record) for record in records_out)
    assert records_out[1]["contact_errors"][0]["identifier"] == "z@x.com"
    assert records_out[1]["contact_errors"][0]["reason"] == "Contact not found in list"


@pytest.mark.integration
def test_the_sensor_timeout_reports_pending_requests_as_timed_out(sandbox, sandbox_conn, context):
    sandbox.seed({"wooxy": {"lists": {"L1": ["a@x.com"]}}})
    records = send_batches(WooxyHook(sandbox_conn), "L1", [{"emails": ["a@x.com"]}])
    task = sensor(conn_id=sandbox_conn, request_ids=records, timeout=0, poke_interval=0)

    with pytest.raises(
        AirflowSensorTimeout, match="1 Wooxy request\\(s\\) still not final after the sensor's timeout of 0 s"
    ):
        task.execute(context)

    [record] = context["ti"].xcom["batch_results"]
    assert (record["status"], record["failed"], record["accepted"]) == ("failed", 1, 0)
    assert record["error"] == f"{REASON_TIMEOUT} (last status: queued)"
    assert context["ti"].xcom["summary"]["removed"] == 0


# Deferral ---------------------------------------------------------------------------------------------
def test_deferrable_checks_once_then_defers_to_the_trigger(requests_mock, context):
    requests_mock.post(FIND_URL, json=answer_with({A: find_entry(A, "queued"), B: find_entry(B)}))
    task = sensor(request_ids=records_ab(), deferrable=True, poke_interval=45, timeout=3600)

    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)

    trigger = deferred.value.trigger
    assert isinstance(trigger, RequestCompletionTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert kwargs["request_ids"] == [A, B] and kwargs["poll_interval"] == 45
    assert started + 3600 <= kwargs["timeout_at"] <= time.time() + 3600
    assert KEY not in json.dumps(kwargs)


def test_deferred_sensor_in_the_accounts_pool_polls_within_its_slots(requests_mock, context):
    requests_mock.post(FIND_URL, json=answer_with({A: find_entry(A, "queued")}))
    pool_args = account_pool_args("wooxy_default", 3)
    task = sensor(request_ids=records_ab()[:1], deferrable=True, **pool_args)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)

    assert deferred.value.trigger.serialize()[1]["max_in_flight"] == 3


def test_deferrable_returns_at_once_when_already_final(requests_mock, context):
    requests_mock.post(
        FIND_URL, json=answer_with({A: find_entry(A, successes=[contact("a1@x.com"), contact("a2@x.com")])})
    )

    summary = sensor(request_ids=records_ab()[:1], deferrable=True).execute(context)

    assert summary["removed"] == 2


def test_execute_complete_reads_the_final_requests_and_folds(requests_mock, context):
    requests_mock.post(
        FIND_URL, json=answer_with({A: find_entry(A, successes=[contact("a1@x.com"), contact("a2@x.com")])})
    )
    event = {
        "request_ids": [A, B],
        "statuses": {A: "completed"},
        "unknown_ids": [B],
        "timed_out": False,
        "error": None,
    }

    with pytest.raises(AirflowFailException, match=REASON_UNKNOWN):
        sensor(request_ids=records_ab(), deferrable=True).execute_complete(context, event)

    assert requests_mock.last_request.json() == {"ids": [A]}  # only the final ones are read again
    summary = context["ti"].xcom["summary"]
    assert (summary["removed"], summary["failed"]) == (2, 2)


def test_execute_complete_after_a_trigger_timeout_raises_a_sensor_timeout(requests_mock, context):
    event = {
        "request_ids": [A],
        "statuses": {A: "queued"},
        "unknown_ids": [],
        "timed_out": True,
        "error": None,
    }

    with pytest.raises(AirflowSensorTimeout, match="still not final"):
        sensor(request_ids=records_ab()[:1], deferrable=True, timeout=60).execute_complete(context, event)

    assert requests_mock.call_count == 0
    assert context["ti"].xcom["batch_results"][0]["error"] == f"{REASON_TIMEOUT} (last status: queued)"


def test_execute_complete_after_a_trigger_error_raises_it(context):
    event = {
        "request_ids": [A],
        "statuses": {},
        "unknown_ids": [],
        "timed_out": False,
        "error": "request/find answered HTTP 401",
    }

    with pytest.raises(
        AirflowException, match="could not read Wooxy's status: request/find answered HTTP 401"
    ):
        sensor(request_ids=records_ab()[:1], deferrable=True).execute_complete(context, event)

    assert context["ti"].xcom["summary"]["failed"] == 2
