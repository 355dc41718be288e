"""AutoSendHook against its API pages: requests sent, answers read, refusals made before sending."""

from __future__ import annotations

import pytest
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.autosend import (
    AutoSendHook,
    AutoSendListRemoveResult,
    AutoSendRemoveResult,
)
from airflow_contact_removal.hooks.rate_limit import RateLimiter
from airflow_contact_removal.results import BatchOutcome
from tests.conftest import set_connection

KEY = "as-key-123456789"
BASE = "https://api.autosend.com/v1"
LIST_ID = "60d5ec49f1b2c72d9c8b4567"
REMOVE_URL = f"{BASE}/contacts/remove"
LIST_URL = f"{BASE}/contact-lists/{LIST_ID}/contacts/remove"


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def hook(monkeypatch, no_sleep):
    set_connection(monkeypatch, "autosend_default", conn_type="autosend", password=KEY)
    return AutoSendHook(sleep=no_sleep)


def only_request(m):
    assert m.call_count == 1
    return m.request_history[0]


# remove_contacts -----------------------------------------------------------------------------------
def test_remove_contacts_posts_emails_with_bearer_key(m, hook):
    m.post(REMOVE_URL, json={"success": True})

    result = hook.remove_contacts(["jane@example.com", "john@example.com"])

    request = only_request(m)
    assert request.method == "POST"
    assert request.url == REMOVE_URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"emails": ["jane@example.com", "john@example.com"]}
    assert result == AutoSendRemoveResult(requested=2, removed_ids=None, attempts=1, request_id=None)


@pytest.mark.parametrize(
    ("body", "removed_ids"),
    [
        pytest.param({"success": True}, None, id="documented-example-without-ids"),
        pytest.param({"success": True, "data": {"removedIds": ["c1", "c2"]}}, ["c1", "c2"], id="removedIds"),
        pytest.param({"success": True, "data": {"contactIds": ["c1"]}}, ["c1"], id="contactIds"),
        pytest.param({"success": True, "data": ["c1", "c2"]}, ["c1", "c2"], id="data-is-the-id-list"),
        pytest.param({"success": True, "data": {"unrelated": 1}}, None, id="data-without-ids"),
    ],
)
def test_remove_contacts_reads_removed_ids_when_present_and_never_requires_them(m, hook, body, removed_ids):
    m.post(REMOVE_URL, json=body, headers={"X-Request-Id": "req-7"})

    result = hook.remove_contacts(["jane@example.com", "john@example.com"])

    assert result.removed_ids == removed_ids
    assert result.requested == 2
    assert result.request_id == "req-7"


@pytest.mark.parametrize(
    "body",
    [{"success": False}, {"ok": True}, [], {"success": "true"}],
    ids=["success-false", "no-success", "a-list", "success-as-string"],
)
def test_remove_contacts_undocumented_answer_is_an_error(m, hook, body):
    m.post(REMOVE_URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer") as caught:
        hook.remove_contacts(["jane@example.com"])

    assert caught.value.status_code == 200
    assert caught.value.attempts == 1
    assert m.call_count == 1


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "VALIDATION_FAILED", "emails must contain at least 1 item"),
        (401, "UNAUTHORIZED", "Invalid API key"),
        (402, "PLAN_LIMIT", "Upgrade your plan"),
        (403, "FORBIDDEN", "API key lacks permission"),
    ],
)
def test_documented_error_shape_becomes_vendor_api_error(m, hook, status, code, message):
    m.post(
        REMOVE_URL,
        status_code=status,
        json={
            "success": False,
            "error": {"message": message, "code": code, "details": [{"field": "emails", "message": "x"}]},
        },
    )

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_contacts(["jane@example.com"])

    error = caught.value
    assert (error.vendor, error.status_code, error.vendor_code, error.vendor_message) == (
        "autosend",
        status,
        code,
        message,
    )
    assert error.attempts == 1
    assert error.retryable is False
    assert m.call_count == 1  # a refusal is never retried
    assert f"HTTP {status}" in str(error)
    assert code in str(error)


@pytest.mark.parametrize("emails", [[], None, "jane@example.com"], ids=["empty", "none", "a-string"])
def test_remove_contacts_refuses_no_emails_before_sending(m, hook, emails):
    with pytest.raises(ContactRemovalConfigError, match="emails must be a non-empty list"):
        hook.remove_contacts(emails)
    assert m.call_count == 0


# remove_from_list ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        (
            {"emails": ["jane@example.com", "john@example.com"]},
            {"emails": ["jane@example.com", "john@example.com"]},
        ),
        ({"contact_ids": ["60d5ec49f1b2c72d9c8b1111"]}, {"contactIds": ["60d5ec49f1b2c72d9c8b1111"]}),
        ({"emails": [], "contact_ids": ["c1"]}, {"contactIds": ["c1"]}),
    ],
    ids=["emails", "contact-ids", "empty-emails-with-contact-ids"],
)
def test_remove_from_list_posts_one_identifier_kind(m, hook, kwargs, body):
    m.post(LIST_URL, json={"success": True, "data": {"removed": 2, "notInList": 0, "errors": []}})

    result = hook.remove_from_list(LIST_ID, **kwargs)

    request = only_request(m)
    assert request.method == "POST"
    assert request.url == LIST_URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.json() == body
    assert result == AutoSendListRemoveResult(removed=2, not_in_list=0, errors=[], attempts=1)


def test_remove_from_list_reads_removed_not_in_list_and_errors(m, hook):
    errors = [{"email": "bad@example.com", "message": "contact is locked"}]
    m.post(
        LIST_URL,
        json={"success": True, "data": {"removed": 1, "notInList": 1, "errors": errors}},
        headers={"X-Request-Id": "r-1"},
    )

    result = hook.remove_from_list(LIST_ID, emails=["a@example.com", "b@example.com", "bad@example.com"])

    assert result == AutoSendListRemoveResult(
        removed=1, not_in_list=1, errors=errors, attempts=1, request_id="r-1"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"success": True},
        {"success": True, "data": {"removed": 1}},
        {"success": True, "data": {"removed": -1, "notInList": 0}},
        {"success": True, "data": {"removed": True, "notInList": 0}},
        {"success": True, "data": {"removed": "2", "notInList": 0}},
        {"success": True, "data": {"removed": 1, "notInList": 0, "errors": "boom"}},
        {"success": False, "data": {"removed": 1, "notInList": 0}},
    ],
    ids=["no-data", "no-notInList", "negative", "bool", "string-count", "errors-not-list", "success-false"],
)
def test_remove_from_list_undocumented_answer_is_an_error(m, hook, body):
    m.post(LIST_URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer") as caught:
        hook.remove_from_list(LIST_ID, emails=["a@example.com"])

    assert caught.value.status_code == 200
    assert m.call_count == 1


@pytest.mark.parametrize("list_id", ["GLOBAL_CONTACT_LIST", " GLOBAL_CONTACT_LIST "])
def test_remove_from_list_refuses_the_global_list(m, hook, list_id):
    with pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        hook.remove_from_list(list_id, emails=["a@example.com"])
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"emails": ["a@example.com"], "contact_ids": ["c1"]}, "not both"),
        ({}, "needs emails or contact_ids"),
        ({"emails": [], "contact_ids": []}, "needs emails or contact_ids"),
        ({"emails": "a@example.com"}, "non-empty list"),
    ],
    ids=["both-kinds", "neither", "both-empty", "emails-as-string"],
)
def test_remove_from_list_refuses_bad_identifier_arguments(m, hook, kwargs, match):
    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.remove_from_list(LIST_ID, **kwargs)
    assert m.call_count == 0


@pytest.mark.parametrize("list_id", [".", "..", "", "   ", None])
def test_remove_from_list_refuses_list_ids_that_are_not_a_path_segment(m, hook, list_id):
    with pytest.raises(ContactRemovalConfigError, match="list_id"):
        hook.remove_from_list(list_id, emails=["a@example.com"])
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("list_id", "encoded"),
    [
        ("100%", "100%25"),
        ("%2e%2e", "%252e%252e"),
        ("my list", "my%20list"),
        ("liste-été", "liste-%C3%A9t%C3%A9"),
    ],
)
def test_list_id_is_percent_encoded_so_the_path_and_query_never_change(m, hook, list_id, encoded):
    m.post(requests_mock.ANY, json={"success": True, "data": {"removed": 1, "notInList": 0}})

    hook.remove_from_list(list_id, emails=["a@example.com"])

    request = only_request(m)
    assert request.url == f"{BASE}/contact-lists/{encoded}/contacts/remove"
    assert request.query == ""


@pytest.mark.parametrize(
    "list_id", ["a/b", "../admin", "list?delete=all", "list#fragment", "a/b?c#d%e f", "a\\b", "x\x00"]
)
def test_list_id_that_would_change_the_path_is_refused_before_any_request(m, hook, list_id):
    """Issue 12: these were percent-encoded and sent; no AutoSend list id has them."""
    with pytest.raises(ContactRemovalConfigError, match="list_id must not contain"):
        hook.remove_from_list(list_id, emails=["a@example.com"])
    assert m.call_count == 0


@pytest.mark.parametrize("list_id", ["GLOBAL_CONTACT_LIST", "global_contact_list", " Global_Contact_List "])
def test_global_list_is_refused_in_any_case(m, hook, list_id):
    with pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        hook.remove_from_list(list_id, emails=["a@example.com"])
    assert m.call_count == 0


# remove_batch --------------------------------------------------------------------------------------
def test_remove_batch_remove_contacts_without_ids_counts_every_email_removed(m, hook):
    m.post(REMOVE_URL, json={"success": True}, headers={"X-Request-Id": "r-9"})

    outcome = hook.remove_batch("remove_contacts", {"emails": ["a@example.com", "b@example.com"]})

    assert only_request(m).json() == {"emails": ["a@example.com", "b@example.com"]}
    assert outcome == BatchOutcome(
        removed=2, not_found=0, attempts=1, request_id="r-9", vendor_counts={"removed_ids": None}
    )


def test_remove_batch_remove_contacts_with_ids_counts_the_rest_not_found(m, hook):
    m.post(REMOVE_URL, json={"success": True, "data": {"removedIds": ["c1"]}})

    outcome = hook.remove_batch("remove_contacts", {"emails": ["a@example.com", "b@example.com"]})

    assert (outcome.removed, outcome.not_found, outcome.failed) == (1, 1, 0)
    assert outcome.vendor_counts == {"removed_ids": 1}


def test_remove_batch_remove_from_list_maps_counts_and_errors(m, hook):
    m.post(
        LIST_URL,
        json={
            "success": True,
            "data": {"removed": 1, "notInList": 1, "errors": [{"message": "contact is locked"}]},
        },
    )

    outcome = hook.remove_batch("remove_from_list", {"contact_ids": ["c1", "c2", "c3"]}, list_id=LIST_ID)

    assert only_request(m).json() == {"contactIds": ["c1", "c2", "c3"]}
    assert outcome == BatchOutcome(
        removed=1,
        not_found=1,
        failed=1,
        errors=["contact is locked"],
        attempts=1,
        vendor_counts={"removed": 1, "notInList": 1, "errors": 1},
    )


def test_remove_batch_remove_from_list_refuses_global_list(m, hook):
    with pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        hook.remove_batch("remove_from_list", {"emails": ["a@example.com"]}, list_id="GLOBAL_CONTACT_LIST")
    assert m.call_count == 0


# Settings ------------------------------------------------------------------------------------------
def test_default_rate_is_two_requests_per_second(hook):
    assert hook.settings.requests_per_second == 2.0
    assert hook.rate_limiter.requests_per_second == 2.0


def test_requests_per_second_extra_may_lower_the_documented_rate(monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "autosend_slow", conn_type="autosend", password=KEY, extra={"requests_per_second": 0.5}
    )
    hook = AutoSendHook("autosend_slow", sleep=no_sleep)

    assert hook.settings.requests_per_second == 0.5
    assert hook.rate_limiter.requests_per_second == 0.5


@pytest.mark.parametrize("value", [0, -1, 2.5, 10])
def test_requests_per_second_extra_never_lifts_the_documented_rate(monkeypatch, no_sleep, value):
    """Issue 12: 0 used to switch the 2/s off, and 10 to lift it (it was this test's accepted value)."""
    set_connection(
        monkeypatch, "autosend_fast", conn_type="autosend", password=KEY, extra={"requests_per_second": value}
    )
    hook = AutoSendHook("autosend_fast", sleep=no_sleep)

    with pytest.raises(ContactRemovalConfigError, match="requests_per_second"):
        hook.settings  # noqa: B018


def test_host_override_replaces_the_default_base_url(m, monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "autosend_local", conn_type="autosend", password=KEY, host="http://127.0.0.1:8787/v1"
    )
    m.post("http://127.0.0.1:8787/v1/contacts/remove", json={"success": True})

    AutoSendHook("autosend_local", sleep=no_sleep).remove_contacts(["a@example.com"])

    assert only_request(m).url == "http://127.0.0.1:8787/v1/contacts/remove"


# the vendor's rate window ------------------------------------------------------------------------
def window_headers(remaining: int, reset: str) -> dict[str, str]:
    return {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}


@pytest.mark.parametrize(
    ("remaining", "wait"),
    [
        pytest.param(0, 0.8, id="none-left-waits-for-the-window-to-end"),
        pytest.param(1, 0.55, id="one-left-keeps-the-spacing"),
    ],
)
def test_the_answers_rate_window_holds_the_next_request(m, hook, no_sleep, remaining, wait):
    """
    AutoSend says on every answer what the key has left of its one-second window, for every client
    of the key: with none left the next request waits for the window's end, not only its spacing.
    """
    hook.rate_limiter = RateLimiter(2, clock=lambda: sum(no_sleep.waits), sleep=no_sleep)
    m.post(REMOVE_URL, [{"json": {"success": True}, "headers": window_headers(remaining, "0.8")}])

    hook.remove_contacts(["jane@example.com"])
    hook.remove_contacts(["john@example.com"])

    assert no_sleep.waits == [pytest.approx(wait)]
