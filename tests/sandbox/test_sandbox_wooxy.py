"""Wooxy in the sandbox: validation texts, asynchronous processing, request/find and the in-flight cap."""

from __future__ import annotations

import json
import re
import threading

import pytest
import requests

from .helpers import auth_headers

MEMBERS = [
    {"email": "a@x.com", "phone": "+31600000001", "userId": "u1"},
    {"email": "b@x.com", "phone": "+31600000002", "userId": "u2"},
    {"email": "c@x.com"},
    {"phone": "+31600000004"},
    {"userId": "u5"},
]


@pytest.fixture
def members(sandbox):
    return sandbox.seed({"wooxy": {"lists": {"L1": MEMBERS}}})["wooxy"]["lists"]["L1"]


def remove(sandbox, http, body, headers=None):
    url = sandbox.base_url("wooxy") + "/contacts/remove"
    return http.post(url, json=body, headers=auth_headers(sandbox, "wooxy") if headers is None else headers)


def find(sandbox, http, ids, headers=None):
    url = sandbox.base_url("wooxy") + "/request/find"
    return http.post(
        url, json={"ids": ids}, headers=auth_headers(sandbox, "wooxy") if headers is None else headers
    )


def test_seed_returns_member_ids(members):
    assert [m["email"] for m in members] == ["a@x.com", "b@x.com", "c@x.com", None, None]
    assert all(re.fullmatch(r"[0-9a-f]{24}", m["id"]) for m in members)


def test_removal_is_queued_then_completed_with_documented_shapes(sandbox, http, members):
    body = {
        "contactListId": "L1",
        "webHookUri": "https://hooks.example.com/wooxy",
        "emails": ["A@x.com", "nobody@x.com"],
        "phoneNumbers": ["+31600000004"],
        "userIds": ["u5"],
    }
    response = remove(sandbox, http, body)
    assert response.status_code == 200
    accepted = response.json()
    assert accepted["result"] is True and set(accepted) == {"result", "requestId"}
    request_id = accepted["requestId"]
    assert re.fullmatch(r"[0-9a-f]{24}", request_id)

    found = find(sandbox, http, [request_id]).json()
    assert found["result"] is True and found["errors"] == []
    request = found["requests"][request_id]
    assert set(request) == {"id", "source", "status", "webHookUri", "createdAt", "updatedAt", "results"}
    assert request["id"] == request_id and request["source"] == "api"
    assert request["status"] == "completed"
    assert request["webHookUri"] == "https://hooks.example.com/wooxy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", request["createdAt"])
    success = request["results"]["success"]
    assert success == [
        {"id": members[0]["id"], "email": "a@x.com", "phone": "+31600000001", "userId": "u1"},
        {"id": members[3]["id"], "email": None, "phone": "+31600000004", "userId": None},
        {"id": members[4]["id"], "email": None, "phone": None, "userId": "u5"},
    ]
    assert request["results"]["errors"] == [
        {
            "error": "contact not found",
            "contact": {"id": None, "email": "nobody@x.com", "phone": None, "userId": None},
            "humanError": "Contact not found in list",
        }
    ]
    assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": 2}


def test_second_removal_reports_not_found(sandbox, http, members):
    body = {"contactListId": "L1", "emails": ["c@x.com"]}
    remove(sandbox, http, body)
    second = remove(sandbox, http, body).json()["requestId"]
    errors = find(sandbox, http, [second]).json()["requests"][second]["results"]["errors"]
    assert [e["error"] for e in errors] == ["contact not found"]


def test_processing_waits_for_the_delay_on_the_server_clock(sandbox, http, members):
    sandbox.set_options(wooxy_processing_delay=3600)
    request_id = remove(sandbox, http, {"contactListId": "L1", "userIds": ["u1"]}).json()["requestId"]
    queued = find(sandbox, http, [request_id]).json()["requests"][request_id]
    assert queued["status"] == "queued"
    assert queued["results"] == {"errors": [], "success": []}
    assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": 5}
    assert sandbox.state("wooxy")["wooxy"]["requests"] == {"queued": 1}
    sandbox.advance_clock(3601)
    assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": 4}
    done = find(sandbox, http, [request_id]).json()["requests"][request_id]
    assert done["status"] == "completed" and len(done["results"]["success"]) == 1
    assert done["updatedAt"] > done["createdAt"]


def test_requests_are_forgotten_after_seven_days(sandbox, http, members):
    request_id = remove(sandbox, http, {"contactListId": "L1", "emails": ["a@x.com"]}).json()["requestId"]
    assert request_id in find(sandbox, http, [request_id]).json()["requests"]
    sandbox.advance_clock(7 * 24 * 3600 + 1)
    answer = find(sandbox, http, [request_id, "0" * 24]).json()
    assert answer == {
        "result": True,
        "requests": {},
        "errors": [f"Request {request_id} not found", f"Request {'0' * 24} not found"],
    }


def test_error_rate_is_seeded_and_failed_contacts_stay(sandbox, http):
    emails = [f"user{i}@x.com" for i in range(40)]

    def run() -> list[str]:
        sandbox.reset()
        sandbox.set_options(wooxy_error_rate=0.5, wooxy_error_seed=7)
        sandbox.seed({"wooxy": {"lists": {"L1": emails}}})
        request_id = remove(sandbox, http, {"contactListId": "L1", "emails": emails}).json()["requestId"]
        results = find(sandbox, http, [request_id]).json()["requests"][request_id]["results"]
        failed = [e for e in results["errors"] if e["error"] == "processing_failed"]
        assert all(e["humanError"] == "Contact could not be removed, try again later" for e in failed)
        assert all(e["contact"]["id"] for e in failed)
        assert len(failed) + len(results["success"]) == 40
        assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": len(failed)}
        return [e["contact"]["email"] for e in failed]

    first = run()
    assert 5 < len(first) < 35
    assert run() == first


def test_a_request_is_processed_as_its_identifiers_one_by_one(sandbox, http):
    """Processing looks a request's identifiers up per kind in one go: same results as one by one."""
    seeded = [{"email": "Both@X.com", "phone": "+31611111111", "userId": "both"}, {"phone": "+31622222222"}]
    body = {
        "emails": [
            "user1@example.com",
            "USER2@example.com",
            "user02@example.com",
            "both@x.com",
            "user1@example.com",
        ],
        "phoneNumbers": ["+31600000003", "+31611111111", "+31600000002", "+31622222222", "+31600000004"],
        "userIds": ["u4", "u5", "both", "u05", "u99", "u5"],
    }

    def results(lists: list[list[tuple[str, str]]]) -> list[dict]:
        sandbox.reset()
        sandbox.set_options(wooxy_error_rate=0.3, wooxy_error_seed=3)
        sandbox.seed({"wooxy": {"lists": {"L1": seeded}}})
        sandbox.generate(
            vendor="wooxy",
            list="L1",
            count=10,
            pattern="user{i}@example.com",
            phone_pattern="+3160{i:07d}",
            user_id_pattern="u{i}",
        )
        outcome = []
        for identifiers in lists:
            request = {"contactListId": "L1"}
            for body_field, value in identifiers:
                request.setdefault(body_field, []).append(value)
            request_id = remove(sandbox, http, request).json()["requestId"]
            outcome.append(find(sandbox, http, [request_id]).json()["requests"][request_id]["results"])
        left = sandbox.state("wooxy", detail=True)["wooxy"]["detail"]["lists"]["L1"]
        merged = {
            "errors": [e for o in outcome for e in o["errors"]],
            "success": [s for o in outcome for s in o["success"]],
        }
        return [merged, left]

    def same_ids(outcome: list) -> str:
        """Generated and seeded ids are new in every run: name them in order of appearance."""
        names: dict[str, str] = {}
        return re.sub(
            r"[0-9a-f]{24}", lambda m: names.setdefault(m[0], f"id{len(names)}"), json.dumps(outcome)
        )

    pairs = [(field, value) for field, values in body.items() for value in values]
    assert same_ids(results([pairs])) == same_ids(results([[pair] for pair in pairs]))


def test_more_than_100_records_counts_all_identifier_kinds(sandbox, http, members):
    body = {
        "contactListId": "L1",
        "emails": [f"u{i}@x.com" for i in range(60)],
        "userIds": [f"id{i}" for i in range(41)],
    }
    response = remove(sandbox, http, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["result"] is False and re.fullmatch(r"[0-9a-f]{24}", answer["requestId"])
    assert answer["errors"] == ["Maximum count of records per transaction is 100, current 101"]
    assert sandbox.stats()["wooxy"]["limit_violations"] == {"batch_over_limit": 1}
    body["userIds"].pop()
    assert remove(sandbox, http, body).json()["result"] is True


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"emails": ["a@x.com"]}, "Argument contactListId required"),
        ({"contactListId": "", "emails": ["a@x.com"]}, "Argument contactListId must be a non-empty string"),
        ({"contactListId": 5, "emails": ["a@x.com"]}, "Argument contactListId must be a non-empty string"),
        ({"contactListId": "L1", "emails": "a@x.com"}, "Argument emails must be a list of emails"),
        ({"contactListId": "L1", "emails": ["no-at-sign"]}, "Argument emails must be a list of emails"),
        ({"contactListId": "L1", "emails": [1]}, "Each email must be a string"),
        (
            {"contactListId": "L1", "phoneNumbers": ["0612345678"]},
            "Argument phoneNumbers must be a list of phoneNumbers",
        ),
        ({"contactListId": "L1", "phoneNumbers": [31612345678]}, "Each phoneNumber must be a string"),
        ({"contactListId": "L1", "userIds": "u1"}, "Argument userIds must be a list of userIds"),
        ({"contactListId": "L1", "userIds": [7]}, "Each userId must be a string"),
        ({"contactListId": "L1", "emails": [], "userIds": None}, "add at least one contact to remove"),
        (
            {"contactListId": "L1", "webHookUri": "not a uri", "emails": ["a@x.com"]},
            "Argument webHookUri must be a valid URI",
        ),
    ],
)
def test_validation_errors_use_the_page_texts(sandbox, http, members, body, error):
    response = remove(sandbox, http, body)
    assert response.status_code == 400
    assert response.json()["result"] is False
    assert response.json()["errors"] == [error]


def test_unknown_list_is_result_false_with_http_200(sandbox, http, members):
    response = remove(sandbox, http, {"contactListId": "NOPE", "emails": ["a@x.com"]})
    assert response.status_code == 200
    assert response.json()["result"] is False
    assert response.json()["errors"] == ["List with id NOPE not found!"]


@pytest.mark.parametrize("headers", [{}, {"Access-Token": "wrong-token-123"}], ids=["missing", "wrong"])
def test_auth_errors_never_echo_the_token(sandbox, http, members, headers):
    for response in (
        remove(sandbox, http, {"contactListId": "L1", "emails": ["a@x.com"]}, headers=headers),
        find(sandbox, http, ["0" * 24], headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["result"] is False
        assert response.json()["errors"] == ["Invalid authorization token!"]
        assert "wrong-token-123" not in response.text


def test_find_limits(sandbox, http, members):
    too_many = find(sandbox, http, [f"{i:024x}" for i in range(101)])
    assert too_many.status_code == 400 and too_many.json()["result"] is False
    assert find(sandbox, http, []).status_code == 400
    assert find(sandbox, http, [f"{i:024x}" for i in range(100)]).json()["result"] is True


def test_more_than_ten_in_flight_get_429(sandbox, members):
    sandbox.set_faults(latency_ms=400, vendors=["wooxy"])
    results: list[requests.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(14)

    def call(i: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait()
            if i % 2:
                response = find(sandbox, session, ["0" * 24])
            else:
                response = remove(sandbox, session, {"contactListId": "L1", "emails": ["nobody@x.com"]})
            with lock:
                results.append(response)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limited = [r for r in results if r.status_code == 429]
    assert len(limited) == 4
    assert sorted(r.status_code for r in results if r.status_code != 429) == [200] * 10
    for response in limited:
        assert response.headers["Retry-After"] == "1"
        assert response.json() == {"result": False, "errors": ["Too many concurrent requests"]}
    stats = sandbox.stats()["wooxy"]
    assert stats["max_in_flight"] >= 10
    assert stats["limit_violations"] == {"too_many_in_flight": 4}
