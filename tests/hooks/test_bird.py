"""BirdHook against its API page: always DELETE with a JSON body, UUIDs, the combined 100 limit."""

from __future__ import annotations

import uuid

import pytest
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.bird import BirdHook, BirdRemoveResult
from airflow_contact_removal.results import BatchOutcome
from tests.conftest import set_connection

KEY = "bird-key-123456789"
WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
LIST_ID = "123e4567-e89b-12d3-a456-426614174000"
CONTACT = "12bd0e40-9361-4e32-8b26-99b4ab7eae09"
URL = f"https://api.bird.com/workspaces/{WORKSPACE}/lists/{LIST_ID}/contacts"


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def hook(monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "bird_default", conn_type="bird", password=KEY, extra={"workspace_id": WORKSPACE}
    )
    return BirdHook(sleep=no_sleep)


def only_request(m):
    assert m.call_count == 1
    request = m.request_history[0]
    assert request.method == "DELETE"
    return request


def uuids(n):
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


def identifiers(n):
    return [{"key": "emailaddress", "value": f"user-{i}@example.com"} for i in range(n)]


def assert_never_posted(m):
    assert all(request.method == "DELETE" for request in m.request_history)


# remove_from_list ----------------------------------------------------------------------------------
def test_remove_from_list_sends_delete_with_json_body_and_access_key(m, hook):
    m.delete(URL, json={"itemsProcessed": 3})
    m.post(requests_mock.ANY, status_code=500)  # a POST would *add* contacts: it must never happen

    result = hook.remove_from_list(
        LIST_ID,
        contact_ids=[CONTACT],
        identifiers=[
            {"key": "emailaddress", "value": "jane@example.com"},
            {"key": "phonenumber", "value": "+31600000000"},
        ],
    )

    request = only_request(m)
    assert request.url == URL
    assert request.headers["Authorization"] == f"AccessKey {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "contacts": [CONTACT],
        "identifiers": [
            {"key": "emailaddress", "value": "jane@example.com"},
            {"key": "phonenumber", "value": "+31600000000"},
        ],
    }
    assert result == BirdRemoveResult(items_sent=3, items_processed=3, attempts=1)
    assert result.shortfall == 0
    assert_never_posted(m)


def test_body_carries_only_the_parts_given(m, hook):
    m.delete(URL, json={"itemsProcessed": 1})

    hook.remove_from_list(LIST_ID, contact_ids=[CONTACT])

    assert only_request(m).json() == {"contacts": [CONTACT]}


def test_uppercase_uuids_are_normalised_in_path_and_body(m, monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "bird_upper", conn_type="bird", password=KEY, extra={"workspace_id": WORKSPACE.upper()}
    )
    m.delete(URL, json={"itemsProcessed": 1})

    BirdHook("bird_upper", sleep=no_sleep).remove_from_list(LIST_ID.upper(), contact_ids=[CONTACT.upper()])

    request = only_request(m)
    assert request.url == URL
    assert request.json() == {"contacts": [CONTACT]}


def test_workspace_id_is_read_from_the_ui_prefixed_extra_too(m, monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "bird_ui", conn_type="bird", password=KEY, extra={"extra__bird__workspace_id": WORKSPACE}
    )
    m.delete(URL, json={"itemsProcessed": 1})

    BirdHook("bird_ui", sleep=no_sleep).remove_from_list(LIST_ID, contact_ids=[CONTACT])

    assert only_request(m).url == URL


def test_items_processed_shortfall_is_reported(m, hook):
    m.delete(URL, json={"itemsProcessed": 1}, headers={"X-Request-Id": "bird-req-1"})

    result = hook.remove_from_list(LIST_ID, contact_ids=uuids(3))

    assert result == BirdRemoveResult(items_sent=3, items_processed=1, attempts=1, request_id="bird-req-1")
    assert result.shortfall == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"itemsProcessed": -1}, {"itemsProcessed": True}, {"itemsProcessed": "3"}, [3]],
    ids=["missing", "negative", "bool", "string", "list"],
)
def test_undocumented_answer_is_an_error(m, hook, body):
    m.delete(URL, json=body)

    with pytest.raises(VendorAPIError, match="undocumented answer") as caught:
        hook.remove_from_list(LIST_ID, contact_ids=[CONTACT])

    assert caught.value.status_code == 200
    assert m.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            401,
            {"code": "Unauthorized", "message": "invalid access key"},
            "Unauthorized",
            "invalid access key",
        ),
        (404, {"code": "NotFound", "message": "list not found"}, "NotFound", "list not found"),
        (
            422,
            {"code": "InvalidPayload", "message": "contacts must be uuids"},
            "InvalidPayload",
            "contacts must be uuids",
        ),
    ],
)
def test_error_answers_become_vendor_api_errors_tried_once(m, hook, status, body, code, message):
    m.delete(URL, status_code=status, json=body)

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list(LIST_ID, contact_ids=[CONTACT])

    error = caught.value
    assert (error.vendor, error.status_code, error.vendor_code, error.vendor_message, error.attempts) == (
        "bird",
        status,
        code,
        message,
        1,
    )
    assert error.retryable is False
    assert m.call_count == 1


@pytest.mark.parametrize(
    ("n_contacts", "n_identifiers", "allowed"),
    [(100, 0, True), (0, 100, True), (60, 40, True), (101, 0, False), (0, 101, False), (60, 41, False)],
)
def test_combined_limit_of_100_contacts_and_identifiers(m, hook, n_contacts, n_identifiers, allowed):
    m.delete(URL, json={"itemsProcessed": n_contacts + n_identifiers})
    call = lambda: hook.remove_from_list(  # noqa: E731
        LIST_ID, contact_ids=uuids(n_contacts), identifiers=identifiers(n_identifiers)
    )

    if allowed:
        assert call().items_sent == n_contacts + n_identifiers
        assert m.call_count == 1
    else:
        with pytest.raises(ContactRemovalConfigError, match="at most 100 contacts and identifiers combined"):
            call()
        assert m.call_count == 0


@pytest.mark.parametrize(
    ("list_id", "kwargs", "match"),
    [
        ("not-a-uuid", {"contact_ids": [CONTACT]}, "list_id must be a UUID"),
        (f"../{LIST_ID}", {"contact_ids": [CONTACT]}, "list_id must be a UUID"),
        (f"{LIST_ID}/contacts?x=1", {"contact_ids": [CONTACT]}, "list_id must be a UUID"),
        (None, {"contact_ids": [CONTACT]}, "list_id must be a UUID"),
        (LIST_ID, {"contact_ids": ["12345"]}, "contact id must be a UUID"),
        (LIST_ID, {"contact_ids": [CONTACT, "../x"]}, "contact id must be a UUID"),
        (LIST_ID, {}, "needs contact ids or identifiers"),
        (LIST_ID, {"contact_ids": [], "identifiers": []}, "needs contact ids or identifiers"),
        (LIST_ID, {"identifiers": [{"key": "emailaddress"}]}, "identifiers must be"),
        (LIST_ID, {"identifiers": ["jane@example.com"]}, "identifiers must be"),
    ],
    ids=[
        "list-not-uuid",
        "list-traversal",
        "list-with-path-and-query",
        "list-none",
        "contact-not-uuid",
        "contact-traversal",
        "nothing",
        "empty-lists",
        "identifier-without-value",
        "identifier-not-dict",
    ],
)
def test_refusals_are_made_before_sending(m, hook, list_id, kwargs, match):
    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.remove_from_list(list_id, **kwargs)
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({}, "needs the extra 'workspace_id'"),
        ({"workspace_id": ""}, "needs the extra 'workspace_id'"),
        ({"workspace_id": "my-workspace"}, "workspace_id must be a UUID"),
        ({"workspace_id": f"{WORKSPACE}/lists"}, "workspace_id must be a UUID"),
    ],
    ids=["missing", "empty", "not-uuid", "with-path"],
)
def test_workspace_id_must_be_a_uuid_extra(m, monkeypatch, no_sleep, extra, match):
    set_connection(monkeypatch, "bird_ws", conn_type="bird", password=KEY, extra=extra)

    with pytest.raises(ContactRemovalConfigError, match=match):
        BirdHook("bird_ws", sleep=no_sleep).remove_from_list(LIST_ID, contact_ids=[CONTACT])
    assert m.call_count == 0


# remove_batch --------------------------------------------------------------------------------------
def test_remove_batch_maps_kinds_to_contacts_and_identifier_keys(m, hook):
    m.delete(URL, json={"itemsProcessed": 4})

    outcome = hook.remove_batch(
        "remove_from_list",
        {
            "contact_ids": [CONTACT],
            "emails": ["jane@example.com", "john@example.com"],
            "phone_numbers": ["+31600000000"],
        },
        list_id=LIST_ID,
    )

    assert only_request(m).json() == {
        "contacts": [CONTACT],
        "identifiers": [
            {"key": "emailaddress", "value": "jane@example.com"},
            {"key": "emailaddress", "value": "john@example.com"},
            {"key": "phonenumber", "value": "+31600000000"},
        ],
    }
    assert outcome == BatchOutcome(
        removed=4, not_found=0, attempts=1, vendor_counts={"itemsProcessed": 4, "sent": 4}, note=None
    )
    assert_never_posted(m)


def test_remove_batch_counts_a_shortfall_as_not_found_and_flags_it(m, hook):
    m.delete(URL, json={"itemsProcessed": 1})

    outcome = hook.remove_batch(
        "remove_from_list", {"emails": ["a@example.com", "b@example.com", "c@example.com"]}, list_id=LIST_ID
    )

    assert (outcome.removed, outcome.not_found, outcome.failed) == (1, 2, 0)
    assert outcome.vendor_counts == {"itemsProcessed": 1, "sent": 3}
    assert outcome.note == "Bird did not process 2 item(s)"


def test_remove_batch_never_reports_more_removed_than_sent(m, hook):
    m.delete(URL, json={"itemsProcessed": 5})

    outcome = hook.remove_batch("remove_from_list", {"emails": ["a@example.com"]}, list_id=LIST_ID)

    assert (outcome.removed, outcome.not_found) == (1, 0)


def test_remove_batch_refuses_a_missing_list_id(m, hook):
    with pytest.raises(ContactRemovalConfigError, match="list_id"):
        hook.remove_batch("remove_from_list", {"emails": ["a@example.com"]}, list_id=None)
    assert m.call_count == 0


# test_connection -----------------------------------------------------------------------------------
def test_connection_heads_the_base_url_without_the_key_and_says_the_key_was_not_checked(m, hook):
    m.head("https://api.bird.com", status_code=404)

    ok, message = hook.test_connection()

    assert ok is True
    assert "key not verified" in message
    assert "https://api.bird.com" in message
    assert [request.method for request in m.request_history] == ["HEAD"]
    assert "Authorization" not in m.request_history[0].headers


def test_connection_without_workspace_fails_without_a_request(m, monkeypatch, no_sleep):
    set_connection(monkeypatch, "bird_nows", conn_type="bird", password=KEY)

    ok, message = BirdHook("bird_nows", sleep=no_sleep).test_connection()

    assert ok is False
    assert "workspace_id" in message
    assert m.call_count == 0
