"""WooxyHook against its API page: asynchronous removal, request/find, the 100-record limit."""

from __future__ import annotations

import pytest

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.wooxy import (
    WooxyContactError,
    WooxyHook,
    WooxyRemoveResult,
    WooxyRequestStatus,
    WooxyStatusResult,
)
from airflow_contact_removal.results import BatchOutcome
from tests.conftest import set_connection

KEY = "wx-token-123456789"
BASE = "https://api.wooxy.com/v3"
REMOVE_URL = f"{BASE}/contacts/remove"
FIND_URL = f"{BASE}/request/find"
ACCEPTED = {"result": True, "requestId": "5d915c22d132d5f45a4e38b8"}


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def hook(monkeypatch, no_sleep):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY)
    return WooxyHook(sleep=no_sleep)


def only_request(m):
    assert m.call_count == 1
    return m.request_history[0]


def emails(n, prefix="user"):
    return [f"{prefix}-{i}@example.com" for i in range(n)]


# remove_from_list ----------------------------------------------------------------------------------
def test_remove_from_list_posts_every_kind_with_access_token_header(m, hook):
    m.post(REMOVE_URL, json=ACCEPTED)

    result = hook.remove_from_list(
        "LIST-1",
        emails=["user-1@example.com", "user-2@example.com"],
        phone_numbers=["+15555555555"],
        user_ids=["myUserId-1"],
        webhook_uri="https://hooks.example.com/wooxy",
    )

    request = only_request(m)
    assert request.method == "POST"
    assert request.url == REMOVE_URL
    assert request.headers["Access-Token"] == KEY
    assert "Authorization" not in request.headers
    assert request.json() == {
        "contactListId": "LIST-1",
        "webHookUri": "https://hooks.example.com/wooxy",
        "emails": ["user-1@example.com", "user-2@example.com"],
        "phoneNumbers": ["+15555555555"],
        "userIds": ["myUserId-1"],
    }
    assert result == WooxyRemoveResult(request_id="5d915c22d132d5f45a4e38b8", records=4, attempts=1)


def test_remove_from_list_sends_only_the_kinds_given_and_no_webhook_unless_set(m, hook):
    m.post(REMOVE_URL, json=ACCEPTED)

    hook.remove_from_list("LIST-1", phone_numbers=["+15555555555"], emails=[])

    assert only_request(m).json() == {"contactListId": "LIST-1", "phoneNumbers": ["+15555555555"]}


def test_result_false_with_http_200_is_an_error_and_not_retried(m, hook):
    m.post(
        REMOVE_URL,
        status_code=200,
        json={
            "result": False,
            "requestId": "5bc0a73d19b6051f963023c3",
            "errors": ["List with id LIST-1 not found!"],
        },
    )

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("LIST-1", emails=["a@example.com"])

    error = caught.value
    assert (error.vendor, error.status_code, error.vendor_message, error.attempts) == (
        "wooxy",
        200,
        "List with id LIST-1 not found!",
        1,
    )
    assert error.retryable is False
    assert "List with id LIST-1 not found!" in str(error)
    assert m.call_count == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "Argument contactListId must be a non-empty string"), (401, "Invalid authorization token!")],
)
def test_documented_error_shape_on_http_error_becomes_vendor_api_error(m, hook, status, message):
    m.post(REMOVE_URL, status_code=status, json={"result": False, "requestId": "r", "errors": [message]})

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("LIST-1", emails=["a@example.com"])

    error = caught.value
    assert (error.status_code, error.vendor_code, error.vendor_message, error.attempts) == (
        status,
        None,
        message,
        1,
    )
    assert m.call_count == 1


def test_several_errors_are_joined_into_the_vendor_message(m, hook):
    m.post(REMOVE_URL, json={"result": False, "errors": ["Each email must be a string", "Bad Request"]})

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("LIST-1", emails=["a@example.com"])

    assert caught.value.vendor_message == "Each email must be a string; Bad Request"


@pytest.mark.parametrize(
    "body",
    [{"result": True}, {"result": True, "requestId": ""}, {"requestId": "r"}, {"result": "true"}, []],
    ids=["no-request-id", "empty-request-id", "no-result", "result-string", "list"],
)
def test_undocumented_answer_is_an_error(m, hook, body):
    m.post(REMOVE_URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer") as caught:
        hook.remove_from_list("LIST-1", emails=["a@example.com"])

    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    ("counts", "allowed"),
    [
        ((100, 0, 0), True),
        ((50, 30, 20), True),
        ((101, 0, 0), False),
        ((0, 0, 101), False),
        ((34, 34, 33), False),
        ((1, 99, 1), False),
    ],
    ids=["100-emails", "100-combined", "101-emails", "101-user-ids", "101-combined", "101-combined-phones"],
)
def test_combined_limit_of_100_records_counts_every_kind(m, hook, counts, allowed):
    n_emails, n_phones, n_users = counts
    m.post(REMOVE_URL, json=ACCEPTED)
    kwargs = {
        "emails": emails(n_emails),
        "phone_numbers": [f"+1555000{i:04d}" for i in range(n_phones)],
        "user_ids": [f"user-{i}" for i in range(n_users)],
    }

    if allowed:
        result = hook.remove_from_list("LIST-1", **kwargs)
        assert result.records == sum(counts)
        assert m.call_count == 1
    else:
        with pytest.raises(
            ContactRemovalConfigError, match=f"at most 100 records per request, got {sum(counts)}"
        ):
            hook.remove_from_list("LIST-1", **kwargs)
        assert m.call_count == 0


@pytest.mark.parametrize(
    ("list_id", "kwargs", "match"),
    [
        ("LIST-1", {}, "at least one"),
        ("LIST-1", {"emails": [], "phone_numbers": [], "user_ids": []}, "at least one"),
        ("LIST-1", {"emails": "a@example.com"}, "must be a list"),
        ("", {"emails": ["a@example.com"]}, "non-empty list_id"),
        (None, {"emails": ["a@example.com"]}, "non-empty list_id"),
    ],
    ids=["no-records", "empty-lists", "string-not-list", "empty-list-id", "no-list-id"],
)
def test_refusals_are_made_before_sending(m, hook, list_id, kwargs, match):
    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.remove_from_list(list_id, **kwargs)
    assert m.call_count == 0


# request_status ------------------------------------------------------------------------------------
FOUND = {
    "result": True,
    "requests": {
        "5d915c22d132d5f45a4e38b8": {
            "id": "5d915c22d132d5f45a4e38b8",
            "source": "api",
            "status": "done",
            "webHookUri": "https://hooks.example.com/wooxy",
            "createdAt": "2024-05-01T10:00:00Z",
            "updatedAt": "2024-05-01T10:00:05Z",
            "results": {
                "errors": [
                    {
                        "error": "contact_not_found",
                        "contact": {"id": None, "email": "gone@example.com", "phone": None, "userId": None},
                        "humanError": "Contact not found in list",
                    }
                ],
                "success": [{"id": "c1", "email": "user-1@example.com", "phone": None, "userId": None}],
            },
        }
    },
    "errors": [],
}


def test_request_status_posts_ids_to_request_find_and_parses_the_documented_shape(m, hook):
    m.post(FIND_URL, json=FOUND)

    result = hook.request_status(["5d915c22d132d5f45a4e38b8", "ffffffffffffffffffffffff"])

    request = only_request(m)
    assert request.method == "POST"
    assert request.url == FIND_URL
    assert request.headers["Access-Token"] == KEY
    assert request.json() == {"ids": ["5d915c22d132d5f45a4e38b8", "ffffffffffffffffffffffff"]}
    assert result == WooxyStatusResult(
        requests={
            "5d915c22d132d5f45a4e38b8": WooxyRequestStatus(
                request_id="5d915c22d132d5f45a4e38b8",
                status="done",
                created_at="2024-05-01T10:00:00Z",
                updated_at="2024-05-01T10:00:05Z",
                successes=[{"id": "c1", "email": "user-1@example.com", "phone": None, "userId": None}],
                errors=[
                    WooxyContactError(
                        error="contact_not_found",
                        human_error="Contact not found in list",
                        contact={"id": None, "email": "gone@example.com", "phone": None, "userId": None},
                    )
                ],
            )
        },
        unknown_ids=["ffffffffffffffffffffffff"],
        errors=[],
        attempts=1,
    )


def test_request_status_reports_every_id_unknown_when_none_is_found(m, hook):
    m.post(FIND_URL, json={"result": True, "requests": {}, "errors": []})

    result = hook.request_status(["a", "b"])

    assert result.requests == {}
    assert result.unknown_ids == ["a", "b"]


def test_request_status_result_false_is_an_error(m, hook):
    m.post(FIND_URL, json={"result": False, "errors": ["Invalid authorization token!"]})

    with pytest.raises(VendorAPIError, match="Invalid authorization token!") as caught:
        hook.request_status(["a"])

    assert caught.value.status_code == 200


def test_request_status_accepts_an_empty_list_for_no_requests(m, hook):
    # Wooxy's examples are PHP, whose json_encode writes an empty map as [].
    m.post(FIND_URL, json={"result": True, "requests": [], "errors": []})

    assert hook.request_status(["a"]).unknown_ids == ["a"]


@pytest.mark.parametrize(
    "body",
    [{"result": True, "requests": ["a"]}, {"result": True, "requests": {"a": "done"}}, {"ok": 1}],
    ids=["requests-list", "entry-not-object", "no-result"],
)
def test_request_status_undocumented_answer_is_an_error(m, hook, body):
    m.post(FIND_URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer"):
        hook.request_status(["a"])


def test_request_status_accepts_100_ids(m, hook):
    m.post(FIND_URL, json={"result": True, "requests": {}, "errors": []})

    hook.request_status([f"id-{i}" for i in range(100)])

    assert len(only_request(m).json()["ids"]) == 100


@pytest.mark.parametrize(
    ("ids", "match"), [([f"id-{i}" for i in range(101)], "at most 100"), ([], "at least one")]
)
def test_request_status_refuses_more_than_100_ids_or_none(m, hook, ids, match):
    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.request_status(ids)
    assert m.call_count == 0


# remove_batch --------------------------------------------------------------------------------------
def test_remove_batch_reports_records_accepted_not_removed(m, hook):
    m.post(REMOVE_URL, json=ACCEPTED)

    outcome = hook.remove_batch(
        "remove_from_list",
        {"emails": ["a@example.com"], "phone_numbers": ["+15555555555"], "user_ids": ["u-1"]},
        list_id="LIST-1",
        webhook_uri="https://hooks.example.com/wooxy",
    )

    assert only_request(m).json() == {
        "contactListId": "LIST-1",
        "webHookUri": "https://hooks.example.com/wooxy",
        "emails": ["a@example.com"],
        "phoneNumbers": ["+15555555555"],
        "userIds": ["u-1"],
    }
    assert outcome == BatchOutcome(
        accepted=3, request_id="5d915c22d132d5f45a4e38b8", attempts=1, vendor_counts={"result": True}
    )
    assert outcome.removed == 0


def test_hook_is_asynchronous_and_allows_ten_in_flight():
    assert WooxyHook.confirmation == "asynchronous"
    assert WooxyHook.max_in_flight == 10
    assert WooxyHook.max_batch_size == 100


# test_connection -----------------------------------------------------------------------------------
def test_connection_uses_read_only_request_find(m, hook):
    m.post(FIND_URL, json={"result": True, "requests": {}, "errors": []})

    ok, message = hook.test_connection()

    assert ok is True
    assert "request/find" in message
    assert "access token accepted" in message
    request = only_request(m)
    assert request.url == FIND_URL
    assert request.headers["Access-Token"] == KEY
    assert not any(r.url == REMOVE_URL for r in m.request_history)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"result": False, "errors": ["Invalid authorization token!"]}),
        (403, {"result": False, "errors": ["user 7 not enabled"]}),
        (200, {"result": False, "errors": ["no matches found for access token"]}),
    ],
    ids=["401", "403", "200-token-refused"],
)
def test_connection_reports_a_refused_token(m, hook, status, body):
    m.post(FIND_URL, status_code=status, json=body)

    ok, message = hook.test_connection()

    assert ok is False
    assert body["errors"][0] in message
    assert m.call_count == 1


@pytest.mark.parametrize(
    "response",
    [{"status_code": 503, "json": {}}, {"exc": __import__("requests").exceptions.ConnectTimeout}],
    ids=["503", "timeout"],
)
def test_connection_does_not_claim_the_token_works_when_wooxy_never_answered(
    monkeypatch, m, no_sleep, response
):
    set_connection(monkeypatch, "wooxy_down", conn_type="wooxy", password=KEY, extra={"max_attempts": 2})
    m.post(FIND_URL, [response, response])

    ok, message = WooxyHook("wooxy_down", sleep=no_sleep).test_connection()

    assert ok is False
    assert "accepted" not in message
    assert m.call_count == 2


def test_connection_config_problem_is_reported_without_a_request(monkeypatch, m, no_sleep):
    set_connection(monkeypatch, "wooxy_nokey", conn_type="wooxy")

    ok, message = WooxyHook("wooxy_nokey", sleep=no_sleep).test_connection()

    assert ok is False
    assert "no API key" in message
    assert m.call_count == 0
