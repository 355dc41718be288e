"""The operators through their public interface: execute(), XCom, and the HTTP they cause."""

from __future__ import annotations

import logging

import pytest
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from tests.operators.conftest import BIRD_LIST, WORKSPACE, FakeTaskInstance

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
WOOXY_URL = "https://api.wooxy.com/v3/contacts/remove"
BIRD_URL = f"https://api.bird.com/workspaces/{WORKSPACE}/lists/{BIRD_LIST}/contacts"
AUTOSEND = "https://api.autosend.com/v1"

BUCKETS = ("removed", "not_found", "accepted", "invalid", "duplicates", "failed", "planned")


def assert_accounted(summary):
    assert summary["requested"] == sum(summary[bucket] for bucket in BUCKETS), summary


def migma_answer(request, context):
    emails = request.json()["emails"]
    not_found = [email for email in emails if email.startswith("gone")]
    return {"success": True, "data": {"deleted": len(emails) - len(not_found), "notFound": not_found}}


def test_migma_account_removal_in_batches_of_1000(context):
    emails = [f"User{i}@Example.com" for i in range(2500)] + [
        "gone1@example.com",
        "USER1@example.com",
        "nope",
    ]
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summary = RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(
            context
        )
    sizes = sorted(len(request.json()["emails"]) for request in m.request_history)
    assert sizes == [501, 1000, 1000]
    assert all(request.json()["projectId"] == "P1" for request in m.request_history)
    assert summary["removed"] == 2500 and summary["not_found"] == 1
    assert summary["invalid"] == 1 and summary["duplicates"] == 1 and summary["failed"] == 0
    assert summary["vendor"] == "migma" and summary["operation"] == "remove_contacts"
    assert_accounted(summary)
    results = context["ti"].xcom["batch_results"]
    assert [result["index"] for result in results] == [0, 1, 2]
    assert results[2]["not_found_identifiers"] == ["gone1@example.com"]
    assert context["ti"].xcom["invalid"] == [
        {"kind": "emails", "value": "nope", "reason": "not an email address"}
    ]


def test_migma_idempotency_keys_are_per_batch_and_stable_across_task_retries(context):
    emails = [f"u{i}@example.com" for i in range(1500)]
    keys = []
    for _ in range(2):  # the same task instance run twice, as an Airflow retry would
        with requests_mock.Mocker() as m:
            m.post(MIGMA_URL, json=migma_answer)
            RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(context)
        keys.append({tuple(r.json()["emails"][:1]): r.headers["Idempotency-Key"] for r in m.request_history})
    assert keys[0] == keys[1]
    assert len(set(keys[0].values())) == 2
    assert all(len(key) <= 100 for key in keys[0].values())
    other_run = {"ti": FakeTaskInstance(run_id="run-2"), "run_id": "run-2"}
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(other_run)
    assert not set(keys[0].values()) & {r.headers["Idempotency-Key"] for r in m.request_history}


def test_autosend_account_removal(context):
    with requests_mock.Mocker() as m:
        m.post(f"{AUTOSEND}/contacts/remove", json={"success": True})
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="autosend_default", emails=[f"a{i}@x.com" for i in range(150)]
        ).execute(context)
    assert [len(r.json()["emails"]) for r in m.request_history] == [100, 50]
    assert m.request_history[0].headers["Authorization"].startswith("Bearer ")
    assert summary["removed"] == 150
    assert_accounted(summary)


def test_autosend_list_removal_never_mixes_emails_and_contact_ids(context):
    with requests_mock.Mocker() as m:
        m.post(
            f"{AUTOSEND}/contact-lists/L1/contacts/remove",
            json={"success": True, "data": {"removed": 1, "notInList": 1, "errors": []}},
        )
        summary = RemoveFromListOperator(
            task_id="remove",
            conn_id="autosend_default",
            list_id="L1",
            emails=["a@x.com", "b@x.com"],
            contact_ids=["60d5ec49f1b2c72d9c8b1111", "60d5ec49f1b2c72d9c8b2222"],
        ).execute(context)
    bodies = [r.json() for r in m.request_history]
    assert {"emails": ["a@x.com", "b@x.com"]} in bodies
    assert {"contactIds": ["60d5ec49f1b2c72d9c8b1111", "60d5ec49f1b2c72d9c8b2222"]} in bodies
    assert summary["removed"] == 2 and summary["not_found"] == 2
    assert_accounted(summary)


def test_autosend_refuses_the_global_list_before_any_request(context):
    operator = RemoveFromListOperator(
        task_id="remove", conn_id="autosend_default", list_id="GLOBAL_CONTACT_LIST", emails=["a@x.com"]
    )
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        m.post(requests_mock.ANY, json={})
        operator.execute(context)
    # The refusal happens per batch inside the hook; the operator must not have sent anything.
    assert m.call_count == 0


def test_wooxy_combines_kinds_clamps_batch_size_and_reports_accepted(context, caplog):
    emails = [f"e{i}@x.com" for i in range(120)]
    phones = [f"+3160000{i:04d}" for i in range(50)]
    user_ids = [f"user-{i}" for i in range(30)]
    with requests_mock.Mocker() as m, caplog.at_level(logging.WARNING):
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        summary = RemoveFromListOperator(
            task_id="remove",
            conn_id="wooxy_default",
            list_id="LIST-1",
            emails=emails,
            phone_numbers=phones,
            user_ids=user_ids,
            webhook_uri="https://hooks.example.com/wooxy",
            batch_size=500,
            max_concurrency=50,
        ).execute(context)
    assert "batch_size=500 is above Wooxy's limit of 100" in caplog.text
    assert "max_concurrency=50 is above Wooxy's limit of 10" in caplog.text
    counts = sorted(
        sum(len(r.json().get(name, [])) for name in ("emails", "phoneNumbers", "userIds"))
        for r in m.request_history
    )
    assert counts == [100, 100]
    assert all(r.json()["contactListId"] == "LIST-1" for r in m.request_history)
    assert all(r.json()["webHookUri"] == "https://hooks.example.com/wooxy" for r in m.request_history)
    assert all(r.headers["Access-Token"] for r in m.request_history)
    assert summary["accepted"] == 200 and summary["removed"] == 0
    assert summary["confirmation"] == "asynchronous"
    assert summary["batch_size"] == 100 and summary["max_concurrency"] == 10
    assert {result["request_id"] for result in context["ti"].xcom["batch_results"]} == {
        "5d915c22d132d5f45a4e38b8"
    }
    assert_accounted(summary)


def test_bird_maps_identifier_kinds_and_refuses_non_uuid_contact_ids(context):
    contact = "12bd0e40-9361-4e32-8b26-99b4ab7eae09"
    with requests_mock.Mocker() as m:
        m.delete(BIRD_URL, json={"itemsProcessed": 2})
        summary = RemoveFromListOperator(
            task_id="remove",
            conn_id="bird_default",
            list_id=BIRD_LIST,
            contact_ids=[contact.upper(), "not-a-uuid"],
            emails=["Jane@Example.com"],
            phone_numbers=["+31 600 000 000"],
        ).execute(context)
    assert m.call_count == 1
    assert m.request_history[0].method == "DELETE"
    assert m.request_history[0].json() == {
        "contacts": [contact],
        "identifiers": [
            {"key": "emailaddress", "value": "jane@example.com"},
            {"key": "phonenumber", "value": "+31600000000"},
        ],
    }
    assert summary["removed"] == 2 and summary["not_found"] == 1 and summary["invalid"] == 1
    assert context["ti"].xcom["batch_results"][0]["note"] == "Bird did not process 1 item(s)"
    assert_accounted(summary)


@pytest.mark.parametrize(
    ("operator_class", "kwargs", "message"),
    [
        (
            RemoveFromListOperator,
            {"conn_id": "migma_default", "list_id": "L", "emails": ["a@x.com"]},
            "no 'remove_from_list'",
        ),
        (RemoveContactsOperator, {"conn_id": "wooxy_default", "emails": ["a@x.com"]}, "no 'remove_contacts'"),
        (RemoveContactsOperator, {"conn_id": "bird_default", "emails": ["a@x.com"]}, "no 'remove_contacts'"),
        (
            RemoveFromListOperator,
            {"conn_id": "wooxy_default", "list_id": "L", "contact_ids": ["c"]},
            "does not take contact_ids",
        ),
        (
            RemoveFromListOperator,
            {"conn_id": "bird_default", "list_id": BIRD_LIST, "user_ids": ["u"]},
            "does not take user_ids",
        ),
        (
            RemoveFromListOperator,
            {"conn_id": "autosend_default", "list_id": "L", "phone_numbers": ["+31600000000"]},
            "does not take phone_numbers",
        ),
        (
            RemoveFromListOperator,
            {
                "conn_id": "bird_default",
                "list_id": BIRD_LIST,
                "emails": ["a@x.com"],
                "webhook_uri": "https://h",
            },
            "does not take webhook_uri",
        ),
        (
            RemoveFromListOperator,
            {"conn_id": "wooxy_default", "list_id": " ", "emails": ["a@x.com"]},
            "remove_from_list needs a list_id",
        ),
        (RemoveContactsOperator, {"conn_id": "http_default", "emails": ["a@x.com"]}, "type 'http'"),
        (
            RemoveContactsOperator,
            {"conn_id": "migma_default", "emails": ["a@x.com"], "batch_size": 0},
            "batch_size must be at least 1",
        ),
        (
            RemoveContactsOperator,
            {"conn_id": "migma_default", "emails": ["a@x.com"], "max_concurrency": -2},
            "max_concurrency must be at least 1",
        ),
        (
            RemoveContactsOperator,
            {"conn_id": "migma_default", "emails": ["a@x.com", "b@x.com"], "max_contacts": 1},
            "refusing to remove 2 contacts",
        ),
    ],
)
def test_refusals_happen_before_any_request(context, operator_class, kwargs, message):
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match=message):
        m.register_uri(requests_mock.ANY, requests_mock.ANY, json={})
        operator_class(task_id="remove", **kwargs).execute(context)
    assert m.call_count == 0


def test_dry_run_plans_batches_and_sends_nothing(context):
    with requests_mock.Mocker() as m:
        summary = RemoveContactsOperator(
            task_id="remove",
            conn_id="migma_default",
            emails=[f"u{i}@x.com" for i in range(2001)],
            dry_run=True,
        ).execute(context)
    assert m.call_count == 0
    assert summary["dry_run"] is True and summary["planned"] == 2001 and summary["removed"] == 0
    assert [r["status"] for r in context["ti"].xcom["batch_results"]] == ["planned"] * 3
    assert_accounted(summary)


LIST_TARGET = {"conn_id": "wooxy_default", "list_id": "L1"}


@pytest.mark.parametrize(
    ("dry_run", "planned"),
    [("True", True), ("true", True), ("False", False), ("false", False), (False, False)],
)
def test_dry_run_as_rendered_text_plans_or_removes(context, dry_run, planned):
    """A template renders ``dry_run`` to text: "True" must plan, "False" must remove."""
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=["a@x.com", "b@x.com"], dry_run=dry_run
        ).execute(context)
    assert summary["dry_run"] is planned
    assert (summary["planned"], summary["removed"], m.call_count) == ((2, 0, 0) if planned else (0, 2, 1))


@pytest.mark.parametrize("dry_run", ["yes", "0", "", " true", 1, None])
def test_a_dry_run_that_is_neither_true_nor_false_is_refused_when_the_dag_is_parsed(dry_run):
    with pytest.raises(ContactRemovalConfigError, match="dry_run must be True or False"):
        RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=["a@x.com"], dry_run=dry_run)


@pytest.mark.parametrize("operator_class", [RemoveContactsOperator, RemoveFromListOperator])
def test_a_dry_run_template_rendered_to_anything_else_fails_before_any_request(context, operator_class):
    target = {"conn_id": "migma_default"} if operator_class is RemoveContactsOperator else LIST_TARGET
    task = operator_class(task_id="remove", emails=["a@x.com"], dry_run="{{ var.value.live }}", **target)
    task.is_dry_run = "maybe"  # what Airflow's rendering would set
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match="got 'maybe'"):
        m.register_uri(requests_mock.ANY, requests_mock.ANY, json={})
        task.execute(context)
    assert m.call_count == 0


@pytest.mark.parametrize("operator_class", [RemoveContactsOperator, RemoveFromListOperator])
def test_dry_run_is_templated_and_leaves_base_operator_dry_run_alone(operator_class):
    """The attribute is not ``dry_run``: that would hide BaseOperator.dry_run() (render and log)."""
    from airflow.sdk import BaseOperator

    target = {"conn_id": "migma_default"} if operator_class is RemoveContactsOperator else LIST_TARGET
    task = operator_class(task_id="remove", emails=["a@x.com"], dry_run=True, **target)
    assert "is_dry_run" in operator_class.template_fields
    assert task.is_dry_run is True and task.dry_run_requested() is True
    assert type(task).dry_run is BaseOperator.dry_run
    task.dry_run()  # Airflow's own: renders nothing here, sends nothing, does not raise


@pytest.mark.parametrize("emails", [None, [], "", "[]"])
def test_no_input_removes_nothing_and_succeeds(context, emails):
    with requests_mock.Mocker() as m:
        summary = RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(
            context
        )
    assert m.call_count == 0
    assert summary["requested"] == 0 and summary["batches"] == 0
    assert context["ti"].xcom["batch_results"] == []


def _one_batch_refused(request, context):
    # A refusal of this batch alone (a 403 would now stop the run: no other batch could succeed).
    if "bad0@x.com" in request.json()["emails"]:
        context.status_code = 409
        return {"success": False, "error": "Contacts locked by an import", "code": "CONFLICT"}
    return migma_answer(request, context)


def test_fail_on_error_attempts_every_batch_pushes_results_then_fails(context):
    emails = [f"bad{i}@x.com" for i in range(1000)] + [f"ok{i}@x.com" for i in range(1500)]
    operator = RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails)
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalError) as raised:
        m.post(MIGMA_URL, json=_one_batch_refused)
        operator.execute(context)
    assert m.call_count == 3  # the 409 was not retried, and the other batches still ran
    assert "1000 of 2500 identifier(s) failed in 1 of 3 batch(es)" in str(raised.value)
    summary = context["ti"].xcom["summary"]
    assert summary["failed"] == 1000 and summary["removed"] == 1500
    assert_accounted(summary)
    failed = [r for r in context["ti"].xcom["batch_results"] if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["http_status"] == 409 and failed[0]["vendor_code"] == "CONFLICT"
    assert failed[0]["attempts"] == 1
    assert failed[0]["identifiers"]["emails"] == emails[:1000]
    assert "Contacts locked by an import" in failed[0]["error"]


def test_fail_on_error_false_succeeds_and_leaves_the_decision_downstream(context):
    emails = [f"bad{i}@x.com" for i in range(1000)] + ["ok@x.com"]
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=_one_batch_refused)
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=emails, fail_on_error=False
        ).execute(context)
    assert summary["failed"] == 1000 and summary["removed"] == 1 and summary["batches_failed"] == 1
    assert_accounted(summary)


def test_progress_and_summary_are_logged_without_identifiers(context, caplog, capsys):
    emails = [f"person{i}@secret-domain.example" for i in range(300)]
    with requests_mock.Mocker() as m, caplog.at_level(logging.DEBUG):
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(context)
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "Done: batches 1/1, contacts 300/300" in logged
    assert "requested 300, removed 300" in logged
    assert "secret-domain" not in logged


def test_template_fields_cover_every_identifier_argument():
    assert {"emails", "conn_id"} <= set(RemoveContactsOperator.template_fields)
    assert {"list_id", "emails", "contact_ids", "phone_numbers", "user_ids", "webhook_uri"} <= set(
        RemoveFromListOperator.template_fields
    )


def _refuses(bad: set[str], status: int = 400):
    def answer(request, context):
        emails = request.json()["emails"]
        if bad & set(emails):
            context.status_code = status
            return {"success": False, "error": "Invalid email in request", "code": "VALIDATION_ERROR"}
        return migma_answer(request, context)

    return answer


def test_a_batch_refused_as_invalid_is_split_until_the_bad_records_are_isolated(context):
    emails = [f"u{i}@x.com" for i in range(100)]
    bad = {"u17@x.com", "u80@x.com"}
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=_refuses(bad))
        summary = RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=emails).execute(
            context
        )
    assert summary["removed"] == 98 and summary["invalid"] == 2 and summary["failed"] == 0
    assert_accounted(summary)
    invalid = context["ti"].xcom["invalid"]
    assert sorted(item["value"] for item in invalid) == sorted(bad)
    assert all(item["reason"] == "rejected by Migma: Invalid email in request" for item in invalid)
    record = context["ti"].xcom["batch_results"][0]
    assert record["status"] == "ok" and record["invalid"] == 2
    assert "split" in record["note"]
    assert m.call_count <= 1 + 2 * 2 * 7  # two bad records, log2(100) levels: bounded


def test_a_refusal_about_the_request_itself_is_failed_not_invalid(context):
    emails = [f"u{i}@x.com" for i in range(1000)]
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=_refuses(set(emails)))
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=emails, fail_on_error=False
        ).execute(context)
    assert summary["failed"] == 1000 and summary["invalid"] == 0
    assert_accounted(summary)
    assert m.call_count <= 1 + 32  # the split budget
    assert context["ti"].xcom["batch_results"][0]["identifiers"]["emails"] == emails


@pytest.mark.parametrize("status", [401, 403, 409])
def test_auth_and_conflict_refusals_are_never_split(context, status):
    emails = [f"u{i}@x.com" for i in range(100)]
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=_refuses({"u1@x.com"}, status=status))
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=emails, fail_on_error=False
        ).execute(context)
    assert m.call_count == 1
    assert summary["failed"] == 100 and summary["invalid"] == 0
