"""Bird in the sandbox: DELETE removes list memberships, POST adds them, and the 401/404/422 answers."""

from __future__ import annotations

import uuid

import pytest

from .helpers import BIRD_LIST, BIRD_OTHER_LIST, BIRD_WS, auth_headers

CONTACT_A = "12bd0e40-9361-4e32-8b26-99b4ab7eae09"


@pytest.fixture
def contacts(sandbox):
    document = {
        "bird": {
            "workspaces": {
                BIRD_WS: {
                    "contacts": [
                        {"id": CONTACT_A, "emailaddress": "a@x.com", "phonenumber": "+31600000001"},
                        {"emailaddress": "b@x.com"},
                        {"phonenumber": "+31600000003"},
                    ],
                    "lists": {BIRD_LIST: [CONTACT_A, "b@x.com", "+31600000003"], BIRD_OTHER_LIST: []},
                }
            }
        }
    }
    return sandbox.seed(document)["bird"]["workspaces"][BIRD_WS]["contacts"]


def url(sandbox, workspace=BIRD_WS, list_id=BIRD_LIST):
    return f"{sandbox.base_url('bird')}/workspaces/{workspace}/lists/{list_id}/contacts"


def call(sandbox, http, method, body, headers=None, **where):
    headers = auth_headers(sandbox, "bird") if headers is None else headers
    return http.request(method, url(sandbox, **where), json=body, headers=headers)


def list_sizes(sandbox):
    return sandbox.state("bird")["bird"]["workspaces"][BIRD_WS]


def test_seed_returns_contact_ids(contacts):
    assert [c["emailaddress"] for c in contacts] == ["a@x.com", "b@x.com", None]
    assert contacts[0]["id"] == CONTACT_A
    assert all(uuid.UUID(c["id"]) for c in contacts)


def test_delete_by_contact_and_identifiers_then_again(sandbox, http, contacts):
    body = {
        "contacts": [CONTACT_A, str(uuid.uuid4())],
        "identifiers": [
            {"key": "emailaddress", "value": "B@x.com"},
            {"key": "phonenumber", "value": "+31600000003"},
            {"key": "emailaddress", "value": "nobody@x.com"},
        ],
    }
    first = call(sandbox, http, "DELETE", body)
    assert first.status_code == 200
    assert first.json() == {"itemsProcessed": 3}
    assert call(sandbox, http, "DELETE", body).json() == {"itemsProcessed": 0}
    # DELETE removes memberships only: the contacts stay in the workspace
    assert list_sizes(sandbox) == {"contacts": 3, "lists": {BIRD_LIST: 0, BIRD_OTHER_LIST: 0}}


def test_delete_with_null_contacts(sandbox, http, contacts):
    body = {"contacts": None, "identifiers": [{"key": "emailaddress", "value": "a@x.com"}]}
    assert call(sandbox, http, "DELETE", body).json() == {"itemsProcessed": 1}


def test_post_adds_contacts_to_the_list(sandbox, http, contacts):
    body = {
        "contacts": [CONTACT_A],
        "identifiers": [
            {"key": "emailaddress", "value": "new@x.com"},
            {"key": "phonenumber", "value": "+31699999999"},
        ],
    }
    response = call(sandbox, http, "POST", body, list_id=BIRD_OTHER_LIST)
    assert response.status_code == 200
    assert response.json() == {"itemsProcessed": 3}
    assert list_sizes(sandbox) == {"contacts": 5, "lists": {BIRD_LIST: 3, BIRD_OTHER_LIST: 3}}
    assert sandbox.stats()["bird"]["limit_violations"] == {"bird_post_adds_contacts": 1}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contacts": None, "identifiers": None},
        {"contacts": [], "identifiers": []},
        {"contacts": ["not-a-uuid"]},
        {"identifiers": [{"key": "externalid", "value": "x"}]},
        {"identifiers": [{"key": "emailaddress", "value": "not-an-email"}]},
        {"contacts": "12bd0e40-9361-4e32-8b26-99b4ab7eae09"},
        ["12bd0e40-9361-4e32-8b26-99b4ab7eae09"],
    ],
    ids=[
        "empty",
        "both-null",
        "both-empty",
        "not-uuid",
        "unknown-key",
        "bad-email",
        "not-array",
        "not-object",
    ],
)
def test_unprocessable_bodies_are_422(sandbox, http, contacts, body):
    response = call(sandbox, http, "DELETE", body)
    assert response.status_code == 422
    assert response.json()["code"] == "InvalidPayload" and response.json()["message"]
    assert list_sizes(sandbox)["lists"][BIRD_LIST] == 3


def test_more_than_100_items_combined_is_422(sandbox, http, contacts):
    body = {
        "contacts": [str(uuid.uuid4()) for _ in range(50)],
        "identifiers": [{"key": "emailaddress", "value": f"u{i}@x.com"} for i in range(51)],
    }
    response = call(sandbox, http, "DELETE", body)
    assert response.status_code == 422
    assert response.json()["code"] == "InvalidPayload"
    assert sandbox.stats()["bird"]["limit_violations"] == {"batch_over_limit": 1}
    body["identifiers"].pop()
    assert call(sandbox, http, "DELETE", body).status_code == 200


@pytest.mark.parametrize(
    "where",
    [{"workspace": str(uuid.uuid4())}, {"list_id": str(uuid.uuid4())}, {"list_id": "not-a-uuid"}],
    ids=["workspace", "list", "malformed"],
)
def test_unknown_workspace_or_list_is_404(sandbox, http, contacts, where):
    response = call(sandbox, http, "DELETE", {"contacts": [CONTACT_A]}, **where)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sandbox-bird-key"}, {"Authorization": "AccessKey wrong"}],
    ids=["missing", "bearer-scheme", "wrong-key"],
)
def test_auth_errors(sandbox, http, contacts, headers):
    response = call(sandbox, http, "DELETE", {"contacts": [CONTACT_A]}, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized"
    assert list_sizes(sandbox)["lists"][BIRD_LIST] == 3
