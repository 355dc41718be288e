"""Whatever a DAG hands the operators, the outcome is clear: one table, one row per input.

A row expects either a clear error raised before any HTTP request (its type and a fragment of its
message), or a run whose summary and ``invalid`` XCom put every input in a named bucket with a reason.
Never a crash of another type, never a request that should not have been sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from tests.operators.conftest import BIRD_LIST, WORKSPACE
from tests.reliability.conftest import assert_accounted

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
CONTACT = "12bd0e40-9361-4e32-8b26-99b4ab7eae09"
LONG_LOCAL = "a" * 65 + "@x.com"
LONG_EMAIL = "a@" + ".".join(["b" * 60] * 5) + ".com"  # 300+ characters, every label legal


@dataclass(frozen=True)
class Row:
    """One input and its expected outcome: ``error`` (raised, nothing sent) or ``summary`` (a run)."""

    operator: type
    kwargs: dict[str, Any]
    error: str | None = None
    error_type: type[BaseException] | tuple[type[BaseException], ...] = ContactRemovalConfigError
    #: summary fields expected (a run).
    summary: dict[str, Any] = field(default_factory=dict)
    #: the ``invalid`` XCom, as (kind, reason) pairs, in input order.
    invalid: list[tuple[str, str]] = field(default_factory=list)
    #: every identifier the vendor received, sorted (None: not checked).
    sent: list[str] | None = None
    #: extra answers registered over the documented ones, e.g. a 429 first.
    mock: Callable[[requests_mock.Mocker], None] | None = None
    #: extra checks: ``check(mocker, sleep_waits, caplog_text, batch_results)``.
    check: Callable[..., None] | None = None


def migma(emails: Any, **kwargs) -> Row:
    """A Migma account removal of ``emails``; ``kwargs`` are Row fields, or operator arguments."""
    row_fields = {name: kwargs.pop(name) for name in list(kwargs) if name in Row.__dataclass_fields__}
    return Row(RemoveContactsOperator, {"conn_id": "migma_default", "emails": emails, **kwargs}, **row_fields)


def to_list(conn_id: str, list_id: Any, **kwargs) -> Row:
    row_fields = {name: kwargs.pop(name) for name in list(kwargs) if name in Row.__dataclass_fields__}
    return Row(RemoveFromListOperator, {"conn_id": conn_id, "list_id": list_id, **kwargs}, **row_fields)


def removed(n: int, **extra) -> dict[str, Any]:
    return {"removed": n, "failed": 0, **extra}


# Retry-After ------------------------------------------------------------------------------------------
def first_answer_429(retry_after: str) -> Callable[[requests_mock.Mocker], None]:
    def register(m: requests_mock.Mocker) -> None:
        m.post(
            MIGMA_URL,
            [
                {
                    "status_code": 429,
                    "headers": {"Retry-After": retry_after},
                    "json": {"success": False, "error": "Too many requests", "code": "RATE_LIMITED"},
                },
                {"json": _documented_answer},
            ],
        )

    return register


def waits(check: Callable[[list[float]], bool]) -> Callable[..., None]:
    """The run completed after one retry, and the recorded waits pass ``check``."""

    def run_check(m, sleep_waits, log, batch_results) -> None:
        assert m.call_count == 2
        assert [record["attempts"] for record in batch_results] == [2]
        assert check(sleep_waits), sleep_waits

    return run_check


def retry_after_row(value: str, check: Callable[[list[float]], bool]) -> Row:
    return migma(["a@x.com"], summary=removed(1), mock=first_answer_429(value), check=waits(check))


# Paths ------------------------------------------------------------------------------------------------
def exact_path(expected: str) -> Callable[..., None]:
    def check(m, sleep_waits, log, batch_results) -> None:
        (request,) = m.request_history
        url = urlsplit(request.url)
        assert url.path == expected
        assert url.query == "" and url.fragment == ""

    return check


def warned(text: str) -> Callable[..., None]:
    def check(m, sleep_waits, log, batch_results) -> None:
        assert text in log

    return check


NO_KEY = (
    "bug: the API key and base URL are first read when a batch is sent, so a connection without a key "
    "(or with http:// to a remote host) fails every batch, then the task with a retryable "
    "ContactRemovalError, instead of a ContactRemovalConfigError before any batch"
)

ROWS: dict[str, Row] = {
    # The input as a whole ------------------------------------------------------------------------------
    "none": migma(None, summary={"requested": 0, "batches": 0}, sent=[]),
    "empty-string": migma("", summary={"requested": 0, "batches": 0}, sent=[]),
    "whitespace-string": migma("  \n ", summary={"requested": 0, "batches": 0}, sent=[]),
    "empty-json-array-string": migma("[]", summary={"requested": 0, "batches": 0}, sent=[]),
    "json-array-string": migma('["A@x.com", "b@x.com"]', summary=removed(2), sent=["a@x.com", "b@x.com"]),
    "python-repr-string": migma("['a@x.com', 'b@x.com']", summary=removed(2), sent=["a@x.com", "b@x.com"]),
    "single-email-string": migma("a@x.com", error="got a single string"),
    "comma-separated-string": migma("a@x.com,b@x.com", error="got a single string"),
    "broken-json-string": migma('["a@x.com", ', error="got a single string"),
    "int": migma(42, error="expected a list of identifiers, got int"),
    "float": migma(4.2, error="expected a list of identifiers, got float"),
    "bool": migma(True, error="expected a list of identifiers, got bool"),
    "bytes": migma(b'["a@x.com"]', error="got bytes; decode them to text first"),
    "bytearray": migma(bytearray(b"a@x.com"), error="got bytes"),
    "mapping": migma({"emails": ["a@x.com"]}, error="got a mapping"),
    # Items -----------------------------------------------------------------------------------------------
    "rows-of-several-columns": migma(
        [["a@x.com", "Ann"], ("b@x.com", "Bob", 3)],
        summary={"requested": 2, "invalid": 2, "removed": 0, "batches": 0},
        invalid=[
            ("emails", "row has 2 columns; select exactly one"),
            ("emails", "row has 3 columns; select exactly one"),
        ],
        sent=[],
    ),
    "rows-of-one-column": migma(
        [["A@x.com"], ("b@x.com",)], summary=removed(2, invalid=0), sent=["a@x.com", "b@x.com"]
    ),
    "numbers-none-and-bools-in-the-list": migma(
        ["a@x.com", 7, 3.5, None, True],
        summary=removed(1, invalid=4, requested=5),
        invalid=[
            ("emails", "expected a string, got int"),
            ("emails", "expected a string, got float"),
            ("emails", "null value"),
            ("emails", "expected a string, got bool"),
        ],
        sent=["a@x.com"],
    ),
    "bytes-items": migma(
        [b"a@x.com", bytearray(b"b@x.com"), "c@x.com"],
        summary=removed(1, invalid=2),
        invalid=[("emails", "bytes, not text")] * 2,
        sent=["c@x.com"],
    ),
    "whitespace-only-items": migma(
        ["  ", "\t\n", "", "a@x.com"],
        summary=removed(1, invalid=3),
        invalid=[("emails", "empty")] * 3,
        sent=["a@x.com"],
    ),
    "two-emails-in-one-item": migma(
        ["a@x.com,b@x.com", "a@x.com b@x.com", "a@x.com\nb@x.com"],
        summary=removed(0, invalid=3),
        invalid=[("emails", "not an email address")] * 3,
        sent=[],
    ),
    "mixed-case-duplicates": migma(
        ["Ann@Example.com", "ann@example.COM", " ANN@EXAMPLE.COM ", "bob@example.com"],
        summary=removed(2, duplicates=2, invalid=0, requested=4),
        sent=["ann@example.com", "bob@example.com"],
    ),
    "unicode-and-idn-emails": migma(
        ["José@Exämple.com", "用户@例子.广告", "user@xn--bcher-kva.example", "Δοκιμή@Παράδειγμα.δοκιμή"],
        summary=removed(4, invalid=0),
        sent=sorted(
            ["josé@exämple.com", "用户@例子.广告", "user@xn--bcher-kva.example", "δοκιμή@παράδειγμα.δοκιμή"]
        ),
    ),
    "over-long-emails": migma(
        [LONG_LOCAL, LONG_EMAIL, "a@x.com"],
        summary=removed(1, invalid=2),
        invalid=[
            ("emails", "local part longer than 64 characters"),
            ("emails", "longer than 254 characters"),
        ],
        sent=["a@x.com"],
    ),
    "wooxy-phone-numbers-not-e164": to_list(
        "wooxy_default",
        "LIST-1",
        phone_numbers=["0612345678", "+31 6 1234 5678", "+0123456789", "call me", "+3161234567890123"],
        summary={"accepted": 1, "invalid": 4, "failed": 0},
        invalid=[("phone_numbers", "not an E.164 phone number (expected + country code and 7-15 digits)")]
        * 4,
        sent=["+31612345678"],
    ),
    "bird-contact-ids-not-uuids": to_list(
        "bird_default",
        BIRD_LIST,
        contact_ids=["not-a-uuid", CONTACT.replace("-", ""), "{" + CONTACT + "}", "12345", CONTACT.upper()],
        summary=removed(1, invalid=4),
        invalid=[("contact_ids", "not a UUID")] * 4,
        sent=[CONTACT],
    ),
    # List and workspace ids ----------------------------------------------------------------------------
    # Issue 12: "/", "?", "#" and ".." were percent-encoded and sent; no list id has them: refused.
    "autosend-list-id-path-characters": to_list(
        "autosend_default", "a/b?c=1#d%2e e", emails=["a@x.com"], error="list_id must not contain"
    ),
    "autosend-list-id-dotdot-inside": to_list(
        "autosend_default", "../admin", emails=["a@x.com"], error="list_id must not contain"
    ),
    "autosend-list-id-percent-and-space-encoded": to_list(
        "autosend_default",
        "d%2e e",
        emails=["a@x.com"],
        summary=removed(1),
        check=exact_path("/v1/contact-lists/d%252e%20e/contacts/remove"),
    ),
    "autosend-list-id-dot": to_list(
        "autosend_default", ".", emails=["a@x.com"], error="list_id must not contain"
    ),
    "autosend-list-id-dotdot": to_list(
        "autosend_default", "..", emails=["a@x.com"], error="list_id must not contain"
    ),
    "autosend-list-id-blank": to_list("autosend_default", "   ", emails=["a@x.com"], error="needs a list_id"),
    "wooxy-list-id-none": to_list("wooxy_default", None, emails=["a@x.com"], error="needs a list_id"),
    "wooxy-list-id-not-a-string": to_list("wooxy_default", 12, emails=["a@x.com"], error="needs a list_id"),
    **{
        f"bird-list-id-{name}": to_list(
            "bird_default", list_id, emails=["a@x.com"], error="Bird list_id must be a UUID"
        )
        for name, list_id in {
            "slash": f"{BIRD_LIST}/../{BIRD_LIST}",
            "dotdot": "..",
            "dot": ".",
            "query": f"{BIRD_LIST}?x=1",
            "fragment": f"{BIRD_LIST}#x",
            "percent": f"{BIRD_LIST}%2F",
            "inner-space": f"{BIRD_LIST[:8]} {BIRD_LIST[9:]}",
        }.items()
    },
    "bird-list-id-surrounding-spaces-trimmed": to_list(
        "bird_default",
        f"  {BIRD_LIST.upper()} ",
        emails=["a@x.com"],
        summary=removed(1),
        check=exact_path(f"/workspaces/{WORKSPACE}/lists/{BIRD_LIST}/contacts"),
    ),
    **{
        f"bird-workspace-id-{name}": to_list(
            f"bird_ws_{name}", BIRD_LIST, emails=["a@x.com"], error="workspace_id must be a UUID"
        )
        for name in ("slash", "dotdot", "query", "space")
    },
    # Connections ----------------------------------------------------------------------------------------
    "missing-connection": Row(
        RemoveContactsOperator,
        {"conn_id": "no_such_connection", "emails": ["a@x.com"]},
        error="no_such_connection",
        error_type=ContactRemovalConfigError,
    ),
    "connection-of-another-type": migma(["a@x.com"], conn_id="http_default", error="has type 'http'"),
    "connection-without-key": migma(["a@x.com"], conn_id="migma_no_key", error="has no API key"),
    "connection-with-blank-key": migma(["a@x.com"], conn_id="migma_blank_key", error="has no API key"),
    "connection-plain-http-to-remote-host": migma(
        ["a@x.com"], conn_id="migma_plain_http", error="plain http:// is only allowed to a loopback host"
    ),
    # Retry-After ----------------------------------------------------------------------------------------
    # Issue 12: a negative value or a past date still backs off (the first window, 0.25-0.5 s), where
    # it used to retry at once; a huge one fails the request at once (tests/hostile, with the request
    # count), where it used to be waited in capped steps ...
    "retry-after-negative": retry_after_row("-5", lambda w: 0.25 <= w[0] <= 0.5),
    "retry-after-past-date": retry_after_row("Wed, 21 Oct 2015 07:28:00 GMT", lambda w: 0.25 <= w[0] <= 0.5),
    # ... and its own jittered back-off (0.25-0.5 s for a first retry) for one it cannot read, holding
    # the other senders about 1 s.
    **{
        f"retry-after-{name}": retry_after_row(value, lambda w: 0.25 <= w[0] <= 0.5 and max(w) <= 1.0)
        for name, value in {
            "garbage": "soon",
            "nan": "NaN",
            "infinite": "inf",
            "empty": "",
            "date-without-zone": "2015-10-21 07:28:00",
        }.items()
    },
    # Batch size and concurrency ------------------------------------------------------------------------
    "batch-size-zero": migma(["a@x.com"], batch_size=0, error="batch_size must be at least 1"),
    "batch-size-negative": migma(["a@x.com"], batch_size=-5, error="batch_size must be at least 1"),
    "batch-size-not-a-number": migma(
        ["a@x.com"], batch_size="ten", error="batch_size must be a whole number"
    ),
    "batch-size-fraction": migma(["a@x.com"], batch_size=2.5, error="batch_size must be a whole number"),
    "batch-size-above-the-vendor-limit": migma(
        [f"u{i}@x.com" for i in range(2500)],
        batch_size=5000,
        summary=removed(2500, batch_size=1000, batches=3),
        check=warned("batch_size=5000 is above Migma's limit of 1000"),
    ),
    "max-concurrency-zero": migma(["a@x.com"], max_concurrency=0, error="max_concurrency must be at least 1"),
    "max-concurrency-negative": migma(
        ["a@x.com"], max_concurrency=-1, error="max_concurrency must be at least 1"
    ),
    "max-concurrency-above-wooxy-cap": to_list(
        "wooxy_default",
        "LIST-1",
        emails=[f"u{i}@x.com" for i in range(300)],
        max_concurrency=50,
        summary={"accepted": 300, "max_concurrency": 10, "batches": 3},
        check=warned("max_concurrency=50 is above Wooxy's limit of 10; using 10"),
    ),
    "max-concurrency-above-migma-cap": migma(
        ["a@x.com"],
        max_concurrency=1000,
        summary=removed(1, max_concurrency=8),
        check=warned("max_concurrency=1000 is above Migma's limit of 8; using 8"),
    ),
}


def _documented_answer(request, context) -> dict:
    """Every vendor's documented success for whatever the request carried."""
    body = request.json()
    if request.hostname == "api.migma.ai":
        return {"success": True, "data": {"deleted": len(body["emails"]), "notFound": []}}
    if request.hostname == "api.autosend.com":
        sent = len(body.get("emails") or body.get("contactIds") or [])
        return {"success": True, "data": {"removed": sent, "notInList": 0, "errors": []}}
    if request.hostname == "api.wooxy.com":
        return {"result": True, "requestId": "5d915c22d132d5f45a4e38b8"}
    if request.hostname == "api.bird.com":
        return {"itemsProcessed": len(body.get("contacts", [])) + len(body.get("identifiers", []))}
    raise AssertionError(f"unexpected request to {request.hostname}")


def _sent(request) -> list[str]:
    body = request.json()
    values = []
    for name in ("emails", "contactIds", "phoneNumbers", "userIds", "contacts"):
        values += body.get(name) or []
    return values + [item["value"] for item in body.get("identifiers") or []]


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_bad_input_has_a_clear_outcome(row: Row, context, no_real_sleep, caplog):
    operator = row.operator(task_id="remove", **row.kwargs)
    with requests_mock.Mocker() as m, caplog.at_level(logging.WARNING):
        m.register_uri(requests_mock.ANY, requests_mock.ANY, json=_documented_answer)
        if row.mock is not None:
            row.mock(m)
        if row.error is not None:
            with pytest.raises(row.error_type, match=re.escape(row.error)):
                operator.execute(context)
        else:
            result = operator.execute(context)

    if row.error is not None:
        assert m.call_count == 0, "a request was sent before the refusal"
        return
    xcom = context["ti"].xcom
    summary = xcom["summary"]
    assert result == summary
    assert_accounted(summary)
    for name, expected in row.summary.items():
        assert summary[name] == expected, (name, summary)
    assert [(record["kind"], record["reason"]) for record in xcom["invalid"]] == row.invalid
    if row.sent is not None:
        assert sorted(value for request in m.request_history for value in _sent(request)) == row.sent
    if row.check is not None:
        row.check(m, no_real_sleep.waits, caplog.text, xcom["batch_results"])
