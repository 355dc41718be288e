"""MigmaHook against its API page: bulk delete, project id, Idempotency-Key and replays."""

from __future__ import annotations

import pytest

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.migma import MigmaBulkDeleteResult, MigmaHook
from airflow_contact_removal.results import BatchOutcome
from tests.conftest import set_connection

KEY = "migma-key-123456789"
URL = "https://api.migma.ai/v1/contacts/bulk-delete"
DELETED = {"success": True, "data": {"deleted": 2, "notFound": []}}


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def hook(monkeypatch, no_sleep):
    set_connection(monkeypatch, "migma_default", conn_type="migma", password=KEY, extra={"project_id": "P1"})
    return MigmaHook(sleep=no_sleep)


@pytest.fixture
def hook_without_project(monkeypatch, no_sleep):
    set_connection(monkeypatch, "migma_noproject", conn_type="migma", password=KEY)
    return MigmaHook("migma_noproject", sleep=no_sleep)


def only_request(m):
    assert m.call_count == 1
    return m.request_history[0]


def emails(n):
    return [f"user-{i}@example.com" for i in range(n)]


# bulk_delete ---------------------------------------------------------------------------------------
def test_bulk_delete_posts_emails_and_project_with_bearer_key(m, hook):
    m.post(URL, json=DELETED)

    result = hook.bulk_delete(["john@example.com", "jane@example.com"])

    request = only_request(m)
    assert request.method == "POST"
    assert request.url == URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"emails": ["john@example.com", "jane@example.com"], "projectId": "P1"}
    assert "Idempotency-Key" not in request.headers
    assert result == MigmaBulkDeleteResult(deleted=2, not_found=[], attempts=1, replayed=False)


def test_project_argument_overrides_the_connection_extra(m, hook):
    m.post(URL, json=DELETED)

    hook.bulk_delete(["a@example.com"], project_id="P2")

    assert only_request(m).json()["projectId"] == "P2"


def test_project_argument_is_enough_without_the_extra(m, hook_without_project):
    m.post(URL, json=DELETED)

    hook_without_project.bulk_delete(["a@example.com"], project_id="P9")

    assert only_request(m).json() == {"emails": ["a@example.com"], "projectId": "P9"}


def test_missing_project_is_refused_before_sending(m, hook_without_project):
    with pytest.raises(ContactRemovalConfigError, match="needs a project id"):
        hook_without_project.bulk_delete(["a@example.com"])
    assert m.call_count == 0


def test_not_found_emails_are_returned_and_are_not_errors(m, hook):
    m.post(
        URL,
        json={"success": True, "data": {"deleted": 1, "notFound": ["gone@example.com"]}},
        headers={"X-Request-Id": "mg-1"},
    )

    result = hook.bulk_delete(["a@example.com", "gone@example.com"])

    assert result == MigmaBulkDeleteResult(
        deleted=1, not_found=["gone@example.com"], attempts=1, replayed=False, request_id="mg-1"
    )


@pytest.mark.parametrize("count", [1, 1000])
def test_accepts_1_to_1000_emails(m, hook, count):
    m.post(URL, json=DELETED)

    hook.bulk_delete(emails(count))

    assert len(only_request(m).json()["emails"]) == count


@pytest.mark.parametrize(
    ("value", "match"),
    [([], "got none"), (None, "got none"), ("a@example.com", "got none"), (emails(1001), "at most 1000")],
    ids=["zero", "none", "a-string", "1001"],
)
def test_refuses_zero_or_more_than_1000_emails_before_sending(m, hook, value, match):
    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.bulk_delete(value)
    assert m.call_count == 0


# Idempotency ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["contacts-delete-batch-1", "k" * 100])
def test_idempotency_key_header_is_sent_when_given(m, hook, key):
    m.post(URL, json=DELETED)

    hook.bulk_delete(["a@example.com"], idempotency_key=key)

    assert only_request(m).headers["Idempotency-Key"] == key


@pytest.mark.parametrize("key", ["k" * 101, ""], ids=["101-chars", "empty"])
def test_idempotency_key_too_long_or_empty_is_refused_before_sending(m, hook, key):
    with pytest.raises(ContactRemovalConfigError, match="Idempotency-Key must be 1 to 100 characters"):
        hook.bulk_delete(["a@example.com"], idempotency_key=key)
    assert m.call_count == 0


@pytest.mark.parametrize(("header", "replayed"), [("true", True), ("True", True), ("false", False)])
def test_idempotent_replayed_header_sets_replayed(m, hook, header, replayed):
    m.post(URL, json=DELETED, headers={"Idempotent-Replayed": header})

    result = hook.bulk_delete(["a@example.com"], idempotency_key="batch-1")

    assert result.replayed is replayed


def test_idempotency_conflict_is_a_clear_error_tried_exactly_once(m, hook):
    m.post(
        URL,
        status_code=409,
        json={
            "success": False,
            "error": "Idempotency key reused with a different body",
            "code": "IDEMPOTENCY_CONFLICT",
        },
    )

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete(["a@example.com"], idempotency_key="batch-1")

    error = caught.value
    assert (error.status_code, error.vendor_code, error.attempts, error.retryable) == (
        409,
        "IDEMPOTENCY_CONFLICT",
        1,
        False,
    )
    assert error.vendor_message == "Idempotency key reused with a different body"
    assert "Idempotency-Key reused with a different body" in str(error)
    assert "IDEMPOTENCY_CONFLICT" in str(error)
    assert m.call_count == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"success": False, "error": "emails must be valid", "code": "VALIDATION_ERROR"}),
        (401, {"success": False, "error": "Invalid API key", "code": "UNAUTHORIZED"}),
        (403, {"success": False, "error": "API key lacks audience:write"}),
        (409, {"success": False, "error": "Conflict", "code": "DOMAIN_CLAIMABLE"}),
    ],
)
def test_documented_error_shape_becomes_vendor_api_error_tried_once(m, hook, status, body):
    m.post(URL, status_code=status, json=body)

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete(["a@example.com"])

    error = caught.value
    assert (error.vendor, error.status_code, error.vendor_code, error.vendor_message, error.attempts) == (
        "migma",
        status,
        body.get("code"),
        body["error"],
        1,
    )
    assert error.retryable is False
    assert m.call_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {"success": True},
        {"success": True, "data": None},
        {"success": False, "data": {"deleted": 1}},
        {"success": True, "data": {"deleted": "1"}},
        {"success": True, "data": {"deleted": -1}},
        {"success": True, "data": {"deleted": 1, "notFound": "a@example.com"}},
        {"success": True, "data": {"deleted": 1, "notFound": [1]}},
    ],
    ids=[
        "no-data",
        "null-data",
        "success-false",
        "string-count",
        "negative",
        "notFound-string",
        "notFound-ints",
    ],
)
def test_undocumented_answer_is_an_error(m, hook, body):
    m.post(URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer") as caught:
        hook.bulk_delete(["a@example.com"])

    assert caught.value.status_code == 200


# remove_batch --------------------------------------------------------------------------------------
def test_remove_batch_maps_deleted_and_not_found_and_sends_the_idempotency_key(m, hook):
    m.post(
        URL,
        json={"success": True, "data": {"deleted": 1, "notFound": ["gone@example.com"]}},
        headers={"Idempotent-Replayed": "true"},
    )

    outcome = hook.remove_batch(
        "remove_contacts", {"emails": ["a@example.com", "gone@example.com"]}, idempotency_key="run-1-batch-0"
    )

    request = only_request(m)
    assert request.headers["Idempotency-Key"] == "run-1-batch-0"
    assert request.json() == {"emails": ["a@example.com", "gone@example.com"], "projectId": "P1"}
    assert outcome == BatchOutcome(
        removed=1,
        not_found=1,
        not_found_identifiers=["gone@example.com"],
        attempts=1,
        vendor_counts={"deleted": 1, "notFound": 1},
        note="replayed by Migma (Idempotency-Key)",
    )


def test_remove_batch_without_key_sends_no_header_and_no_note(m, hook):
    m.post(URL, json=DELETED)

    outcome = hook.remove_batch("remove_contacts", {"emails": ["a@example.com", "b@example.com"]})

    assert "Idempotency-Key" not in only_request(m).headers
    assert outcome.note is None
    assert outcome.removed == 2


# test_connection -----------------------------------------------------------------------------------
def test_connection_heads_the_base_url_and_says_the_key_was_not_verified(m, hook):
    m.head("https://api.migma.ai", status_code=200)

    ok, message = hook.test_connection()

    assert ok is True
    assert "key not verified" in message
    assert [request.method for request in m.request_history] == ["HEAD"]
    assert "Authorization" not in m.request_history[0].headers


def test_connection_without_project_extra_is_a_config_failure(m, hook_without_project):
    ok, message = hook_without_project.test_connection()

    assert ok is False
    assert "project_id" in message
    assert m.call_count == 0
