"""Every hook method over real HTTP against the sandbox: the typed result and the vendor's state after."""

from __future__ import annotations

import itertools
import json
import math
import socket
import time

import pytest

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks import AutoSendHook, BirdHook, MigmaHook, WooxyHook, get_removal_hook
from airflow_contact_removal.hooks.autosend import (
    GLOBAL_CONTACT_LIST,
    AutoSendListRemoveResult,
    AutoSendRemoveResult,
)
from airflow_contact_removal.hooks.bird import BirdRemoveResult
from airflow_contact_removal.hooks.migma import MigmaBulkDeleteResult
from airflow_contact_removal.hooks.rate_limit import RATE_WINDOW_MARGIN
from airflow_contact_removal.hooks.wooxy import WooxyRemoveResult, WooxyStatusResult
from airflow_contact_removal.removal import RemovalRequest, run_removal
from tests.integration.helpers import BIRD_LIST, PROJECT, WORKSPACE

pytestmark = pytest.mark.integration

A, B, C, D = "ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"
MISSING = "nobody@example.com"
P1, P2, P3 = "+31600000001", "+31600000002", "+31600000003"
C1 = "6f1c1c2e-1111-4a2b-8c3d-000000000001"
C2 = "6f1c1c2e-1111-4a2b-8c3d-000000000002"
C3 = "6f1c1c2e-1111-4a2b-8c3d-000000000003"
C4 = "6f1c1c2e-1111-4a2b-8c3d-000000000004"
NOT_A_MEMBER = "6f1c1c2e-1111-4a2b-8c3d-0000000000ff"
OTHER_LIST = "0b0d7e8c-8d5f-4f38-9d3a-3d3c7f0e9a11"
WRONG_KEY = "wrong-key-0123456789"

WOOXY_MEMBERS = [
    {"email": A, "phone": P1, "userId": "u1"},
    {"email": B, "phone": P2, "userId": "u2"},
    {"email": C, "phone": P3, "userId": "u3"},
    {"email": D},
]
BIRD_SEED = {
    "workspaces": {
        WORKSPACE: {
            "contacts": [
                {"id": C1, "emailaddress": A, "phonenumber": P1},
                {"id": C2, "emailaddress": B},
                {"id": C3, "phonenumber": P3},
                {"id": C4, "emailaddress": D},
            ],
            "lists": {BIRD_LIST: [C1, C2, C3, C4]},
        }
    }
}


def autosend_state(sandbox) -> dict:
    return sandbox.state("autosend")["autosend"]


def wooxy_list_size(sandbox, list_id: str = "L1") -> int:
    return sandbox.state("wooxy")["wooxy"]["lists"][list_id]


def bird_state(sandbox) -> dict:
    return sandbox.state("bird")["bird"]["workspaces"][WORKSPACE]


def migma_size(sandbox) -> int:
    return sandbox.state("migma")["migma"]["projects"][PROJECT]


def calls(sandbox, vendor: str) -> list[tuple]:
    """(method, path, status, batch size) of each request the vendor received, oldest first."""
    return [(e["method"], e["path"], e["status"], e["batch_size"]) for e in sandbox.requests_log(vendor)]


# AutoSend -------------------------------------------------------------------------------------------
def test_autosend_remove_contacts_without_ids_in_the_answer(sandbox, make_hook):
    sandbox.seed({"autosend": {"contacts": [A, B, C], "lists": {"L1": [A, C]}}})
    hook = make_hook("autosend")
    assert isinstance(hook, AutoSendHook)

    result = hook.remove_contacts([A, "Bob@Example.com", MISSING])

    assert isinstance(result, AutoSendRemoveResult)
    assert (result.requested, result.removed_ids, result.attempts) == (3, None, 1)
    # Removed from the account, and so from its lists; the unknown address changed nothing.
    assert autosend_state(sandbox) == {"contacts": 1, "lists": {"L1": 1}}

    again = hook.remove_contacts([A, B])

    # The documented answer is only {"success": true}: a repeat succeeds and cannot say more.
    assert (again.requested, again.removed_ids, again.attempts) == (2, None, 1)
    assert autosend_state(sandbox) == {"contacts": 1, "lists": {"L1": 1}}
    assert calls(sandbox, "autosend") == [
        ("POST", "/autosend/v1/contacts/remove", 200, 3),
        ("POST", "/autosend/v1/contacts/remove", 200, 2),
    ]


def test_autosend_remove_contacts_with_ids_in_the_answer(sandbox, make_hook):
    sandbox.set_options(autosend_return_ids=True)
    ids = sandbox.seed({"autosend": {"contacts": [A, B, C]}})["autosend"]["contacts"]
    hook = make_hook("autosend")

    result = hook.remove_contacts([A, B, MISSING])

    assert result.requested == 3
    assert sorted(result.removed_ids) == sorted([ids[A], ids[B]])
    assert autosend_state(sandbox)["contacts"] == 1

    assert hook.remove_contacts([A, B]).removed_ids == []

    # What the operators see: ids in the answer tell removed from not found.
    outcome = hook.remove_batch("remove_contacts", {"emails": [C, MISSING]})
    assert (outcome.removed, outcome.not_found, outcome.failed) == (1, 1, 0)
    assert autosend_state(sandbox)["contacts"] == 0


def test_autosend_remove_from_list_by_email_and_by_contact_id(sandbox, make_hook):
    ids = sandbox.seed({"autosend": {"lists": {"L1": [A, B, C], "L2": [A]}}})["autosend"]["contacts"]
    hook = make_hook("autosend")

    by_email = hook.remove_from_list("L1", emails=[A, MISSING])

    assert isinstance(by_email, AutoSendListRemoveResult)
    assert (by_email.removed, by_email.not_in_list, by_email.errors, by_email.attempts) == (1, 1, [], 1)

    by_id = hook.remove_from_list("L1", contact_ids=[ids[B], ids[C]])

    assert (by_id.removed, by_id.not_in_list, by_id.errors) == (2, 0, [])
    # Only list memberships go: the contacts stay in the account and in the other list.
    assert autosend_state(sandbox) == {"contacts": 3, "lists": {"L1": 0, "L2": 1}}

    again_email = hook.remove_from_list("L1", emails=[A])
    again_id = hook.remove_from_list("L1", contact_ids=[ids[B]])

    assert (again_email.removed, again_email.not_in_list) == (0, 1)
    assert (again_id.removed, again_id.not_in_list) == (0, 1)
    assert autosend_state(sandbox) == {"contacts": 3, "lists": {"L1": 0, "L2": 1}}
    assert [call[3] for call in calls(sandbox, "autosend")] == [2, 2, 1, 1]


def test_autosend_global_contact_list_is_refused_before_any_request(sandbox, make_hook):
    sandbox.seed({"autosend": {"contacts": [A]}})
    hook = make_hook("autosend")

    with pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        hook.remove_from_list(GLOBAL_CONTACT_LIST, emails=[A])
    with pytest.raises(ContactRemovalConfigError, match="GLOBAL_CONTACT_LIST"):
        run_removal(hook, RemovalRequest("remove_from_list", {"emails": [A]}, list_id=GLOBAL_CONTACT_LIST))

    assert sandbox.requests_log() == []
    assert autosend_state(sandbox)["contacts"] == 1


def test_autosend_unknown_list_is_a_404_sent_once(sandbox, make_hook):
    hook = make_hook("autosend")

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("NO-SUCH-LIST", emails=[A])

    error = caught.value
    assert (error.status_code, error.vendor_code, error.attempts, error.retryable) == (
        404,
        "NOT_FOUND",
        1,
        False,
    )
    assert len(sandbox.requests_log("autosend")) == 1


def test_autosend_default_rate_matches_the_vendors_default_limit(sandbox, connect):
    """Both at 2 requests/second (the vendor's default): the hook spaces its requests, nothing is refused."""
    sandbox.set_options(autosend_rate_limit=2)
    sandbox.seed({"autosend": {"contacts": [A, B, C, D]}})
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # a real, recorded wait: the sandbox counts real seconds
        waits.append(seconds)
        time.sleep(seconds)

    hook = get_removal_hook(connect("autosend", drop=("requests_per_second",)), sleep=sleep)
    assert hook.settings.requests_per_second == 2.0

    for email in (A, B, C, D):
        assert hook.remove_contacts([email]).attempts == 1

    log = sandbox.requests_log("autosend")
    assert [entry["status"] for entry in log] == [200, 200, 200, 200]
    starts = [entry["started"] for entry in log]
    assert all(later - earlier >= 0.45 for earlier, later in itertools.pairwise(starts))
    # 0.5 s plus the margin kept against jitter at the vendor's one-second window.
    assert len(waits) == 3 and all(0 < wait <= (1 + RATE_WINDOW_MARGIN) / 2 for wait in waits)
    assert autosend_state(sandbox)["contacts"] == 0


def test_autosend_answers_say_when_another_client_used_the_keys_second(sandbox, connect):
    """
    Another client of the key (a task outside this run's pool) sent a request in this second; the
    answer to ours says none is left in it, so the next waits for the second to end instead of
    going at its spacing (0.55 s later, inside the same second: a 429).
    """
    sandbox.set_options(autosend_rate_limit=2)
    sandbox.seed({"autosend": {"contacts": [A, B, C]}})
    other = get_removal_hook(connect("autosend", drop=("requests_per_second",)))
    hook = get_removal_hook(connect("autosend", drop=("requests_per_second",)))
    time.sleep(1.05 - time.time() % 1)  # just after a second of the server's clock begins

    other.remove_contacts([A])
    hook.remove_contacts([B])
    hook.remove_contacts([C])

    log = sandbox.requests_log("autosend")
    assert [entry["status"] for entry in log] == [200, 200, 200]
    assert math.floor(log[2]["started"]) > math.floor(log[0]["started"])
    assert sandbox.key_limits("autosend")["breaches"] == {}
    assert autosend_state(sandbox)["contacts"] == 0


def test_a_request_delayed_on_its_way_does_not_share_a_second_with_the_next(sandbox, connect):
    """
    A key allowed one request a second (a task's share of AutoSend's two) and a network that delays
    requests up to 0.9 s on their way in. Spacing alone (1.1 s) is not enough: with this seed the
    fifth request arrives 0.3 s into a second and the sixth, sent 1.1 s after it but not delayed,
    0.7 s into the same one (a 429). The fifth's answer says which second counted it, so the sixth
    waits for that second to end.
    """
    sandbox.set_options(autosend_rate_limit=1)
    emails = [f"late{i}@example.com" for i in range(6)]
    sandbox.seed({"autosend": {"contacts": [{"email": email} for email in emails]}})
    sandbox.set_faults(arrival_jitter_ms=900, seed=88, vendors=["autosend"])
    hook = get_removal_hook(connect("autosend", requests_per_second=1))
    time.sleep(1.05 - time.time() % 1)  # the schedule above starts 0.05 s into a second

    for email in emails:
        hook.remove_contacts([email])

    log = sandbox.requests_log("autosend")
    assert [entry["status"] for entry in log] == [200] * 6
    seconds = [math.floor(entry["started"]) for entry in log]
    assert len(set(seconds)) == 6, seconds
    assert sandbox.key_limits("autosend")["breaches"] == {}


# Wooxy ----------------------------------------------------------------------------------------------
def test_wooxy_removal_is_queued_then_completed(sandbox, make_hook):
    sandbox.set_options(wooxy_processing_delay=60)
    members = sandbox.seed({"wooxy": {"lists": {"L1": WOOXY_MEMBERS}}})["wooxy"]["lists"]["L1"]
    member_id = {member["email"]: member["id"] for member in members}
    hook = make_hook("wooxy")
    assert isinstance(hook, WooxyHook)

    accepted = hook.remove_from_list("L1", emails=[A, MISSING], phone_numbers=[P2], user_ids=["u3"])

    assert isinstance(accepted, WooxyRemoveResult)
    assert (accepted.records, accepted.attempts) == (4, 1)
    request_id = accepted.request_id
    queued = hook.request_status([request_id])
    assert isinstance(queued, WooxyStatusResult)
    assert queued.unknown_ids == []
    entry = queued.requests[request_id]
    assert (entry.status, entry.successes, entry.errors) == ("queued", [], [])
    assert wooxy_list_size(sandbox) == 4  # accepted is not removed

    sandbox.advance_clock(61)
    done = hook.request_status([request_id]).requests[request_id]

    assert done.status == "completed"
    assert sorted(item["id"] for item in done.successes) == sorted(member_id[e] for e in (A, B, C))
    assert [(e.error, e.human_error, e.contact["email"]) for e in done.errors] == [
        ("contact not found", "Contact not found in list", MISSING)
    ]
    assert wooxy_list_size(sandbox) == 1

    again = hook.remove_from_list("L1", emails=[A], user_ids=["u3"])
    sandbox.advance_clock(61)
    repeat = hook.request_status([again.request_id]).requests[again.request_id]

    assert repeat.status == "completed"
    assert repeat.successes == []
    assert [(e.error, e.human_error) for e in repeat.errors] == [
        ("contact not found", "Contact not found in list")
    ] * 2
    assert wooxy_list_size(sandbox) == 1


def test_wooxy_request_status_reports_unknown_ids(sandbox, make_hook):
    sandbox.seed({"wooxy": {"lists": {"L1": [A]}}})
    hook = make_hook("wooxy")
    known = hook.remove_from_list("L1", emails=[A]).request_id
    unknown = "0123456789abcdef01234567"

    status = hook.request_status([known, unknown])

    assert set(status.requests) == {known}
    assert status.requests[known].status == "completed"  # no processing delay: done on the next request
    assert status.unknown_ids == [unknown]
    assert status.errors and unknown in status.errors[0]

    sandbox.advance_clock(8 * 24 * 3600)  # Wooxy keeps a request's outcome for 7 days

    assert hook.request_status([known]).unknown_ids == [known]


def test_wooxy_contacts_that_fail_carry_a_human_error_and_stay_in_the_list(sandbox, make_hook):
    sandbox.set_options(wooxy_error_rate=0.5, wooxy_error_seed=7)
    sandbox.generate(vendor="wooxy", list="L1", count=100, pattern="user{i}@example.com")
    hook = make_hook("wooxy")
    emails = [f"user{i}@example.com" for i in range(100)]

    request_id = hook.remove_from_list("L1", emails=emails).request_id
    entry = hook.request_status([request_id]).requests[request_id]

    assert entry.status == "completed"
    assert 0 < len(entry.errors) < 100
    assert len(entry.successes) + len(entry.errors) == 100
    assert {(e.error, e.human_error) for e in entry.errors} == {
        ("processing_failed", "Contact could not be removed, try again later")
    }
    assert wooxy_list_size(sandbox) == len(entry.errors)

    sandbox.set_options(wooxy_error_rate=0.0)
    retry_id = hook.remove_from_list("L1", emails=[e.contact["email"] for e in entry.errors]).request_id
    retried = hook.request_status([retry_id]).requests[retry_id]

    assert (len(retried.successes), retried.errors) == (len(entry.errors), [])
    assert wooxy_list_size(sandbox) == 0


def test_wooxy_result_false_with_http_200_is_an_error(sandbox, make_hook):
    hook = make_hook("wooxy")

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("NO-SUCH-LIST", emails=[A])

    error = caught.value
    assert (error.status_code, error.attempts, error.retryable) == (200, 1, False)
    assert "not found" in str(error)
    assert len(sandbox.requests_log("wooxy")) == 1


# Bird -----------------------------------------------------------------------------------------------
def test_bird_remove_from_list_by_contact_id_and_identifier(sandbox, make_hook):
    sandbox.seed({"bird": BIRD_SEED})
    hook = make_hook("bird")
    assert isinstance(hook, BirdHook)

    result = hook.remove_from_list(
        BIRD_LIST,
        contact_ids=[C1],
        identifiers=[
            {"key": "emailaddress", "value": B},
            {"key": "phonenumber", "value": P3},
            {"key": "emailaddress", "value": MISSING},
        ],
    )

    assert isinstance(result, BirdRemoveResult)
    assert (result.items_sent, result.items_processed, result.shortfall, result.attempts) == (4, 3, 1, 1)
    # Memberships go, the workspace keeps its contacts.
    assert bird_state(sandbox) == {"contacts": 4, "lists": {BIRD_LIST: 1}}

    again = hook.remove_from_list(BIRD_LIST, contact_ids=[C1, C2])

    assert (again.items_sent, again.items_processed, again.shortfall) == (2, 0, 2)

    # What the operators see: the shortfall counts as not found, with a note.
    outcome = hook.remove_batch(
        "remove_from_list", {"contact_ids": [C4, NOT_A_MEMBER], "emails": [MISSING]}, list_id=BIRD_LIST
    )
    assert (outcome.removed, outcome.not_found, outcome.failed) == (1, 2, 0)
    assert "2" in outcome.note
    assert bird_state(sandbox) == {"contacts": 4, "lists": {BIRD_LIST: 0}}

    log = sandbox.requests_log("bird")
    path = f"/bird/workspaces/{WORKSPACE}/lists/{BIRD_LIST}/contacts"
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("DELETE", path, 200)] * 3
    stats = sandbox.stats()["bird"]
    assert stats["limit_violations"] == {}  # in particular no POST, which would ADD contacts
    assert "POST" not in {e["method"] for e in log}


def test_bird_unknown_list_is_a_404_sent_once(sandbox, make_hook):
    sandbox.seed({"bird": BIRD_SEED})
    hook = make_hook("bird")

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list(OTHER_LIST, contact_ids=[C1])

    assert (caught.value.status_code, caught.value.attempts) == (404, 1)
    assert bird_state(sandbox)["lists"] == {BIRD_LIST: 4}


# Migma ----------------------------------------------------------------------------------------------
def test_migma_bulk_delete_reports_deleted_and_not_found(sandbox, make_hook):
    sandbox.seed({"migma": {"projects": {PROJECT: [A, B, C]}}})
    hook = make_hook("migma")
    assert isinstance(hook, MigmaHook)

    result = hook.bulk_delete([A, "Bob@Example.com", MISSING])

    assert isinstance(result, MigmaBulkDeleteResult)
    assert (result.deleted, result.not_found, result.replayed, result.attempts) == (2, [MISSING], False, 1)
    assert migma_size(sandbox) == 1

    again = hook.bulk_delete([A, B])

    assert (again.deleted, again.not_found) == (0, [A, B])
    assert migma_size(sandbox) == 1


def test_migma_idempotency_key_replays_without_deleting_again(sandbox, make_hook):
    sandbox.seed({"migma": {"projects": {PROJECT: [A, B, C]}}})
    hook = make_hook("migma")

    first = hook.bulk_delete([A, B], idempotency_key="run-1-batch-0")

    assert (first.deleted, first.not_found, first.replayed) == (2, [], False)
    assert migma_size(sandbox) == 1

    # Put them back: a second deletion would now remove them again.
    sandbox.seed({"migma": {"projects": {PROJECT: [A, B]}}})
    replay = hook.bulk_delete([A, B], idempotency_key="run-1-batch-0")

    assert (replay.deleted, replay.not_found, replay.replayed, replay.attempts) == (2, [], True, 1)
    assert migma_size(sandbox) == 3
    assert [call[2] for call in calls(sandbox, "migma")] == [200, 200]


def test_migma_idempotency_key_with_another_body_is_a_409_sent_once(sandbox, make_hook):
    sandbox.seed({"migma": {"projects": {PROJECT: [A, B]}}})
    hook = make_hook("migma")
    hook.bulk_delete([A], idempotency_key="run-1-batch-0")

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete([B], idempotency_key="run-1-batch-0")

    error = caught.value
    assert (error.status_code, error.vendor_code, error.attempts, error.retryable) == (
        409,
        "IDEMPOTENCY_CONFLICT",
        1,
        False,
    )
    assert migma_size(sandbox) == 1  # B was not deleted
    assert [call[2] for call in calls(sandbox, "migma")] == [200, 409]


def test_migma_idempotency_key_expires_after_24_hours(sandbox, make_hook):
    sandbox.seed({"migma": {"projects": {PROJECT: [A, B]}}})
    hook = make_hook("migma")
    hook.bulk_delete([A], idempotency_key="run-1-batch-0")
    sandbox.advance_clock(24 * 3600 + 1)

    later = hook.bulk_delete([B], idempotency_key="run-1-batch-0")

    assert (later.deleted, later.replayed) == (1, False)
    assert migma_size(sandbox) == 0


def test_migma_unknown_project_is_a_403_sent_once(sandbox, make_hook):
    hook = make_hook("migma")

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete([A], project_id="NO-SUCH-PROJECT")

    assert (caught.value.status_code, caught.value.vendor_code, caught.value.attempts) == (
        403,
        "FORBIDDEN",
        1,
    )


# A wrong key ----------------------------------------------------------------------------------------
REMOVALS = {
    "autosend-remove-contacts": ("autosend", lambda hook: hook.remove_contacts([A])),
    "autosend-remove-from-list": ("autosend", lambda hook: hook.remove_from_list("L1", emails=[A])),
    "wooxy-remove-from-list": ("wooxy", lambda hook: hook.remove_from_list("L1", emails=[A])),
    "wooxy-request-status": ("wooxy", lambda hook: hook.request_status(["0123456789abcdef01234567"])),
    "bird-remove-from-list": ("bird", lambda hook: hook.remove_from_list(BIRD_LIST, contact_ids=[C1])),
    "migma-bulk-delete": ("migma", lambda hook: hook.bulk_delete([A])),
}


def seed_every_vendor(sandbox) -> None:
    sandbox.seed(
        {
            "autosend": {"lists": {"L1": [A]}},
            "wooxy": {"lists": {"L1": [A]}},
            "bird": BIRD_SEED,
            "migma": {"projects": {PROJECT: [A]}},
        }
    )


@pytest.mark.parametrize("case", sorted(REMOVALS))
def test_a_wrong_key_is_a_401_sent_once_and_changes_nothing(sandbox, make_hook, case):
    vendor, call = REMOVALS[case]
    seed_every_vendor(sandbox)
    before = sandbox.state()
    hook = make_hook(vendor, password=WRONG_KEY)

    with pytest.raises(VendorAPIError) as caught:
        call(hook)

    error = caught.value
    assert (error.vendor, error.status_code, error.attempts, error.retryable) == (vendor, 401, 1, False)
    assert WRONG_KEY not in str(error)
    assert [entry["status"] for entry in sandbox.requests_log()] == [401]
    assert sandbox.state() == before


# test_connection ------------------------------------------------------------------------------------
def test_wooxy_test_connection_checks_the_token(sandbox, make_hook):
    ok, message = make_hook("wooxy").test_connection()

    assert ok is True
    assert "request/find" in message

    ok, message = make_hook("wooxy", password=WRONG_KEY).test_connection()

    assert ok is False
    assert "401" in message and "token" in message.lower()
    assert WRONG_KEY not in message
    assert {entry["path"] for entry in sandbox.requests_log()} == {"/wooxy/v3/request/find"}


@pytest.mark.parametrize("vendor", ["autosend", "bird", "migma"])
def test_test_connection_of_vendors_without_a_read_only_call(sandbox, make_hook, vendor):
    """
    AutoSend, Bird and Migma document no read-only call: the hook proves the host answers and says the
    key was not verified. A wrong key cannot be told from a right one without a removal, which
    test_connection never sends.
    """
    seed_every_vendor(sandbox)
    before = sandbox.state()

    ok, message = make_hook(vendor).test_connection()
    assert ok is True
    assert sandbox.base_url(vendor) in message
    assert "key not verified" in message

    ok, message = make_hook(vendor, password=WRONG_KEY).test_connection()
    assert ok is True
    assert "key not verified" in message

    assert {entry["method"] for entry in sandbox.requests_log()} == {"HEAD"}
    assert sandbox.state() == before


@pytest.mark.parametrize(
    ("vendor", "settings", "expected"),
    [
        ("autosend", {"password": ""}, "no API key"),
        ("bird", {"drop": ("workspace_id",)}, "workspace_id"),
        ("migma", {"drop": ("project_id",)}, "project_id"),
        ("wooxy", {"password": ""}, "no API key"),
    ],
)
def test_test_connection_fails_clearly_on_a_missing_setting(sandbox, make_hook, vendor, settings, expected):
    ok, message = make_hook(vendor, **settings).test_connection()

    assert ok is False
    assert expected in message
    assert sandbox.requests_log() == []


@pytest.mark.parametrize("vendor", ["autosend", "wooxy", "bird", "migma"])
def test_test_connection_fails_clearly_when_the_host_does_not_answer(sandbox, monkeypatch, vendor):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = json.loads(sandbox.connection_uri(vendor, workspace_id=WORKSPACE, project_id=PROJECT))
    connection["host"] = f"http://127.0.0.1:{port}"
    monkeypatch.setenv(f"AIRFLOW_CONN_IT_DOWN_{vendor.upper()}", json.dumps(connection))
    hook = get_removal_hook(f"it_down_{vendor}", sleep=lambda seconds: None)

    ok, message = hook.test_connection()

    assert ok is False
    assert f"127.0.0.1:{port}" in message or "no answer" in message
