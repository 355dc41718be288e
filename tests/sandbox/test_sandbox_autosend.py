"""AutoSend in the sandbox: account removal, list removal, errors and the rate limit."""

from __future__ import annotations

import pytest

from .helpers import auth_headers


@pytest.fixture
def seeded(sandbox):
    report = sandbox.seed(
        {"autosend": {"contacts": ["a@x.com", "b@x.com", "c@x.com"], "lists": {"L1": ["a@x.com", "b@x.com"]}}}
    )
    return report["autosend"]["contacts"]


def remove(sandbox, http, emails, headers=None):
    url = sandbox.base_url("autosend") + "/contacts/remove"
    return http.post(
        url,
        json={"emails": emails},
        headers=auth_headers(sandbox, "autosend") if headers is None else headers,
    )


def remove_from_list(sandbox, http, list_id, body, headers=None):
    url = f"{sandbox.base_url('autosend')}/contact-lists/{list_id}/contacts/remove"
    return http.post(
        url, json=body, headers=auth_headers(sandbox, "autosend") if headers is None else headers
    )


def test_seed_returns_24_hex_ids(seeded):
    assert set(seeded) == {"a@x.com", "b@x.com", "c@x.com"}
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in seeded.values())


def test_account_removal_answers_documented_shape_and_drops_list_memberships(sandbox, http, seeded):
    response = remove(sandbox, http, ["A@X.com", "nobody@x.com"])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    state = sandbox.state("autosend")["autosend"]
    assert state == {"contacts": 2, "lists": {"L1": 1}}


def test_account_removal_can_return_ids(sandbox, http, seeded):
    sandbox.set_options(autosend_return_ids=True)
    response = remove(sandbox, http, ["a@x.com", "nobody@x.com"])
    assert response.json() == {"success": True, "data": {"removedIds": [seeded["a@x.com"]]}}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Token sandbox-autosend-key"}],
    ids=["missing", "wrong-key", "wrong-scheme"],
)
def test_auth_errors(sandbox, http, seeded, headers):
    response = remove(sandbox, http, ["a@x.com"], headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": {"message": "Invalid or missing API key", "code": "UNAUTHORIZED"},
    }
    assert sandbox.state("autosend")["autosend"]["contacts"] == 3


@pytest.mark.parametrize(
    "body",
    [{}, {"emails": []}, {"emails": "a@x.com"}, {"emails": [1]}, {"emails": ["not-an-email"]}],
    ids=["missing", "empty", "not-a-list", "not-a-string", "not-an-email"],
)
def test_account_removal_validation(sandbox, http, seeded, body):
    url = sandbox.base_url("autosend") + "/contacts/remove"
    response = http.post(url, json=body, headers=auth_headers(sandbox, "autosend"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert response.json()["success"] is False
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"] and all(set(d) == {"field", "message"} for d in error["details"])
    assert "not-an-email" not in response.text  # values are never echoed


def test_batch_cap_is_configurable(sandbox, http, seeded):
    sandbox.set_options(autosend_max_batch=2)
    assert remove(sandbox, http, ["a@x.com", "b@x.com", "c@x.com"]).status_code == 400
    assert remove(sandbox, http, ["a@x.com", "b@x.com"]).status_code == 200
    stats = sandbox.stats()["autosend"]
    assert stats["limit_violations"] == {"batch_over_limit": 1}
    assert stats["max_batch_size"] == 3


def test_list_removal_by_email_then_again(sandbox, http, seeded):
    body = {"emails": ["a@x.com", "B@x.com", "c@x.com", "nobody@x.com"]}
    first = remove_from_list(sandbox, http, "L1", body)
    assert first.status_code == 200
    assert first.json() == {"success": True, "data": {"removed": 2, "notInList": 2, "errors": []}}
    second = remove_from_list(sandbox, http, "L1", body)
    assert second.json() == {"success": True, "data": {"removed": 0, "notInList": 4, "errors": []}}
    # list removal keeps the contacts in the account
    assert sandbox.state("autosend")["autosend"] == {"contacts": 3, "lists": {"L1": 0}}


def test_list_removal_by_contact_id(sandbox, http, seeded):
    body = {"contactIds": [seeded["a@x.com"], seeded["c@x.com"], "0" * 24]}
    response = remove_from_list(sandbox, http, "L1", body)
    assert response.json()["data"] == {"removed": 1, "notInList": 2, "errors": []}


@pytest.mark.parametrize(
    "body",
    [
        {"emails": ["a@x.com"], "contactIds": ["0" * 24]},
        {},
        {"emails": []},
        {"contactIds": ["not-hex"]},
        {"emails": [None]},
    ],
    ids=["both", "neither", "empty", "bad-id", "non-string"],
)
def test_list_removal_validation(sandbox, http, seeded, body):
    response = remove_from_list(sandbox, http, "L1", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


def test_global_list_is_refused(sandbox, http, seeded):
    response = remove_from_list(sandbox, http, "GLOBAL_CONTACT_LIST", {"emails": ["a@x.com"]})
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "GLOBAL_CONTACT_LIST" in response.json()["error"]["message"]


def test_unknown_list_is_404(sandbox, http, seeded):
    response = remove_from_list(sandbox, http, "60d5ec49f1b2c72d9c8b4567", {"emails": ["a@x.com"]})
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"message": "Contact list not found", "code": "NOT_FOUND"},
    }


def test_rate_limit_two_per_second(sandbox, http, seeded):
    sandbox.set_options(autosend_rate_limit=2)
    responses = [remove(sandbox, http, ["nobody@x.com"]) for _ in range(6)]
    statuses = [r.status_code for r in responses]
    # six requests within a few milliseconds span at most two one-second windows: at most 4 pass
    assert statuses.count(200) <= 4 and statuses.count(429) >= 2
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert int(response.headers["X-RateLimit-Remaining"]) in (0, 1)
        assert int(response.headers["X-RateLimit-Reset"]) > 0
    limited = next(r for r in responses if r.status_code == 429)
    body = limited.json()
    assert body["success"] is False and body["error"]["code"] == "RATE_LIMITED"
    assert body["retryAfter"] >= 1
    assert limited.headers["Retry-After"] == str(body["retryAfter"])
    assert sandbox.stats()["autosend"]["limit_violations"]["rate_limited"] == statuses.count(429)
