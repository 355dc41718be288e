"""Inputs too large for XCom (input_path), results written to files (results_path), and the XCom guard."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests_mock

from airflow_contact_removal import results
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.files import FileIdentifiers
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from airflow_contact_removal.results import fit_for_xcom

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
WOOXY_URL = "https://api.wooxy.com/v3/contacts/remove"


def migma_answer(request, context):
    emails = request.json()["emails"]
    return {"success": True, "data": {"deleted": len(emails), "notFound": []}}


def sent_emails(m):
    return sorted(email for request in m.request_history for email in request.json()["emails"])


@pytest.mark.parametrize(
    ("name", "content", "column"),
    [
        ("list.txt", "A@x.com\n\n b@x.com \nbad\na@x.com\n", None),
        ("list.csv", "id,email,name\n1,A@x.com,Ann\n2,b@x.com,Bob\n3,bad,\n4,a@x.com,Ann\n", "email"),
        ("list.jsonl", '"A@x.com"\n{"email": "b@x.com"}\n"bad"\n\n"a@x.com"\n', "email"),
    ],
)
def test_input_path_formats(tmp_path, context, name, content, column):
    path = tmp_path / name
    path.write_text(content)
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(path), column=column
        ).execute(context)
    assert sent_emails(m) == ["a@x.com", "b@x.com"]
    assert (summary["requested"], summary["removed"], summary["invalid"], summary["duplicates"]) == (
        4,
        2,
        1,
        1,
    )


def test_input_path_as_an_object_storage_url_and_input_kind(tmp_path, context):
    path = tmp_path / "phones.txt"
    path.write_text("+31600000001\n+31 6 0000 0002\n0612345678\n")
    with requests_mock.Mocker() as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "r1"})
        summary = RemoveFromListOperator(
            task_id="remove",
            conn_id="wooxy_default",
            list_id="L1",
            input_path=f"file://{path}",
            input_kind="phone_numbers",
        ).execute(context)
    assert m.request_history[0].json()["phoneNumbers"] == ["+31600000001", "+31600000002"]
    assert summary["accepted"] == 2 and summary["invalid"] == 1


def test_jsonl_line_that_is_not_json_is_an_invalid_input(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('"a@x.com"\n{not json\n')
    assert [repr(item) for item in FileIdentifiers(path)][1] == "<unreadable: line 2 is not JSON>"


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("list.csv", "email\na@x.com\n", {}, "needs column="),
        ("list.csv", "mail\na@x.com\n", {"column": "email"}, "has no column 'email'"),
        ("list.jsonl", '{"mail": "a@x.com"}\n', {}, "need column="),
        ("list.txt", "a@x.com\n", {"input_format": "xml"}, "input_format must be"),
    ],
)
def test_file_mistakes_are_clear_errors_before_any_request(tmp_path, context, name, content, kwargs, message):
    path = tmp_path / name
    path.write_text(content)
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match=message):
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(path), **kwargs
        ).execute(context)
    assert m.call_count == 0


def test_missing_input_file_is_a_clear_error(tmp_path, context):
    with pytest.raises(ContactRemovalConfigError, match="does not exist"):
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(tmp_path / "nope.txt")
        ).execute(context)


def test_input_path_and_a_list_of_the_same_kind_are_refused(tmp_path, context):
    path = tmp_path / "list.txt"
    path.write_text("a@x.com\n")
    with pytest.raises(ContactRemovalConfigError, match="not both"):
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(path), emails=["b@x.com"]
        ).execute(context)


def test_max_contacts_counts_a_streamed_file_before_any_request(tmp_path, context):
    path = tmp_path / "list.txt"
    path.write_text("".join(f"u{i}@x.com\n" for i in range(50)))
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match="refusing to remove 50"):
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(path), max_contacts=49
        ).execute(context)
    assert m.call_count == 0


@pytest.mark.parametrize("as_url", [True, False], ids=["file-url", "plain-path"])
def test_results_path_gets_every_record_and_xcom_only_the_summary(tmp_path, context, as_url):
    source = tmp_path / "list.txt"
    source.write_text("".join(f"u{i}@x.com\n" for i in range(2500)) + "bad\n")
    out = tmp_path / "out" / "results.jsonl"
    results_path = f"file://{out}" if as_url else str(out)
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summary = RemoveContactsOperator(
            task_id="remove",
            conn_id="migma_default",
            input_path=str(source),
            results_path=results_path,
        ).execute(context)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    batches = [line for line in lines if line["record"] == "batch"]
    invalid = [line for line in lines if line["record"] == "invalid"]
    assert sorted(batch["size"] for batch in batches) == [500, 1000, 1000]
    assert invalid == [
        {"record": "invalid", "kind": "emails", "value": "bad", "reason": "not an email address"}
    ]
    assert summary["results_path"] == results_path and summary["removed"] == 2500
    assert set(context["ti"].xcom) == {"summary"}
    assert len(json.dumps(context["ti"].xcom["summary"])) < 10_000


def test_fit_for_xcom_keeps_failed_batches_when_the_records_are_too_large():
    records = [{"index": i, "status": "ok", "padding": "x" * 100} for i in range(100)]
    records[7] = {"index": 7, "status": "failed", "identifiers": {"emails": ["a@x.com"]}}
    kept, note = fit_for_xcom(records, limit=2_000)
    assert kept == [records[7]]
    assert "kept the 1 failed or partial" in note
    assert fit_for_xcom(records[:3], limit=2_000) == (records[:3], None)


def test_fit_for_xcom_drops_identifiers_when_even_failed_batches_are_too_large():
    records = [
        {"index": i, "status": "failed", "identifiers": {"emails": [f"u{j}@x.com" for j in range(100)]}}
        for i in range(10)
    ]
    kept, note = fit_for_xcom(records, limit=5_000)
    assert len(kept) == 10  # every failed batch is still reported
    assert kept[0]["identifiers"] is not None
    assert kept[-1]["identifiers"] is None and kept[-1]["identifiers_dropped"] is True
    assert len(json.dumps(kept, separators=(",", ":"))) <= 5_000
    assert "without their identifiers" in note


def test_operator_applies_the_xcom_guard_and_says_so(context, monkeypatch, capsys):
    monkeypatch.setattr(results, "XCOM_LIMIT_BYTES", 1_500)

    def answer(request, context_):
        if "bad0@x.com" in request.json()["emails"]:
            context_.status_code = 400
            return {"success": False, "error": "refused", "code": "VALIDATION_ERROR"}
        return migma_answer(request, context_)

    emails = [f"ok{i}@x.com" for i in range(5000)] + ["bad0@x.com"]
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=answer)
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=emails, batch_size=100, fail_on_error=False
        ).execute(context)
    kept = context["ti"].xcom["batch_results"]
    assert [record["status"] for record in kept] == ["failed"]
    assert "kept the 1 failed or partial" in summary["xcom_note"]
    assert "XCom kept small" in capsys.readouterr().out


def test_a_429_holds_every_sender_not_only_the_one_refused(context):
    """Shared back-off: after a 429 with Retry-After: 1, no new request starts for about a second."""
    lock = threading.Lock()
    calls: list[float] = []
    refused_at: list[float] = []

    def answer(request, context_):
        time.sleep(0.02)  # some latency, so other senders are mid-request when the 429 lands
        with lock:
            calls.append(time.monotonic())
            if len(calls) == 5:
                refused_at.append(time.monotonic())
                context_.status_code = 429
                context_.headers["Retry-After"] = "1"
                return {"result": False, "errors": ["Too many requests"]}
        return {"result": True, "requestId": "r"}

    with requests_mock.Mocker() as m:
        m.post(WOOXY_URL, json=answer)
        summary = RemoveFromListOperator(
            task_id="remove",
            conn_id="wooxy_default",
            list_id="L1",
            emails=[f"u{i}@x.com" for i in range(4000)],
            max_concurrency=10,
        ).execute(context)
    assert summary["accepted"] == 4000 and summary["failed"] == 0
    after = [t - refused_at[0] for t in calls if t > refused_at[0]]
    # Senders already past the limiter when the 429 landed may finish; nobody starts a new request early.
    early = [t for t in after if t < 0.95]
    assert len(after) >= 30
    assert len(early) <= 9


def test_fit_for_xcom_never_exceeds_the_limit_even_with_countless_failed_batches():
    records = [{"index": i, "status": "failed", "identifiers": {"emails": ["a@x.com"]}} for i in range(1000)]
    kept, note = fit_for_xcom(records, limit=3_000)
    assert len(json.dumps(kept, separators=(",", ":"))) <= 3_000
    assert 0 < len(kept) < 1000 and all(record["identifiers"] is None for record in kept)
    assert f"only the first {len(kept)}" in note


def test_file_input_progress_has_a_total_and_an_eta(tmp_path, context, capsys, monkeypatch):
    import functools

    from airflow_contact_removal import batching, removal

    # A progress line after every batch instead of every 10 s.
    monkeypatch.setattr(removal, "ProgressLog", functools.partial(batching.ProgressLog, interval=0))
    path = tmp_path / "emails.txt"
    path.write_text("".join(f"user{i}@example.com\n" for i in range(2500)))
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", input_path=str(path), max_concurrency=1
        ).execute(context)
    logged = capsys.readouterr().out
    progress = [line for line in logged.splitlines() if "Progress:" in line]
    assert progress and "batches 1/~3, contacts 1000/~2500" in progress[0]
    assert "ETA" in progress[0] and "estimated from the input file's lines" in progress[0]
    assert "user" not in " ".join(progress)
