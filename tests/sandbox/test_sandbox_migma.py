"""Migma in the sandbox: bulk delete, limits, errors and idempotency."""

from __future__ import annotations

import itertools
import json

import pytest

from airflow_contact_removal.sandbox.common import INVALID_JSON
from airflow_contact_removal.sandbox.migma import _fingerprint

from .helpers import auth_headers


@pytest.fixture
def project(sandbox):
    sandbox.seed({"migma": {"projects": {"P1": ["a@x.com", "b@x.com", "c@x.com"]}}})
    return "P1"


def delete(sandbox, http, body, key=None, headers=None):
    all_headers = auth_headers(sandbox, "migma") if headers is None else dict(headers)
    if key is not None:
        all_headers["Idempotency-Key"] = key
    return http.post(sandbox.base_url("migma") + "/v1/contacts/bulk-delete", json=body, headers=all_headers)


def contacts(sandbox):
    return sandbox.state("migma")["migma"]["projects"]["P1"]


def test_delete_then_again(sandbox, http, project):
    body = {"emails": ["A@x.com", "b@x.com", "nobody@x.com"], "projectId": project}
    first = delete(sandbox, http, body)
    assert first.status_code == 200
    assert first.json() == {
        "success": True,
        "data": {"deleted": 2, "notFound": ["nobody@x.com"]},
        "error": None,
    }
    second = delete(sandbox, http, body).json()
    assert second["data"] == {"deleted": 0, "notFound": ["A@x.com", "b@x.com", "nobody@x.com"]}
    assert contacts(sandbox) == 1


def test_thousand_emails_is_the_limit(sandbox, http, project):
    emails = [f"u{i}@x.com" for i in range(1001)]
    response = delete(sandbox, http, {"emails": emails, "projectId": project})
    assert response.status_code == 400
    assert response.json()["success"] is False and response.json()["code"] == "VALIDATION_ERROR"
    assert sandbox.stats()["migma"]["limit_violations"] == {"batch_over_limit": 1}
    assert delete(sandbox, http, {"emails": emails[:1000], "projectId": project}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"emails": ["a@x.com"]}, {"emails": [], "projectId": "P1"}, {"emails": ["nope"], "projectId": "P1"}, []],
    ids=["no-project", "no-emails", "bad-email", "not-object"],
)
def test_validation_errors(sandbox, http, project, body):
    response = delete(sandbox, http, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["success"] is False and answer["code"] == "VALIDATION_ERROR" and answer["error"]
    assert contacts(sandbox) == 3


def test_unknown_project_is_403(sandbox, http, project):
    response = delete(sandbox, http, {"emails": ["a@x.com"], "projectId": "OTHER"})
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "error": "Project not found or access denied",
        "code": "FORBIDDEN",
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["missing", "wrong"])
def test_auth_errors(sandbox, http, project, headers):
    response = delete(sandbox, http, {"emails": ["a@x.com"], "projectId": "P1"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["success"] is False and response.json()["code"] == "UNAUTHORIZED"


def test_idempotent_replay_changes_nothing(sandbox, http, project):
    body = {"emails": ["a@x.com", "nobody@x.com"], "projectId": project}
    first = delete(sandbox, http, body, key="batch-1")
    assert "Idempotent-Replayed" not in first.headers
    sandbox.seed({"migma": {"projects": {"P1": ["a@x.com"]}}})  # would be deleted again if processed
    replay = delete(
        sandbox, http, {"projectId": project, "emails": ["a@x.com", "nobody@x.com"]}, key="batch-1"
    )
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert contacts(sandbox) == 3


def test_idempotent_replay_of_an_error_answer(sandbox, http, project):
    body = {"emails": ["a@x.com"], "projectId": "OTHER"}
    assert delete(sandbox, http, body, key="k").status_code == 403
    sandbox.seed({"migma": {"projects": {"OTHER": ["a@x.com"]}}})
    replay = delete(sandbox, http, body, key="k")
    assert replay.status_code == 403 and replay.headers["Idempotent-Replayed"] == "true"


def test_same_key_other_body_is_409(sandbox, http, project):
    delete(sandbox, http, {"emails": ["a@x.com"], "projectId": project}, key="batch-1")
    conflict = delete(sandbox, http, {"emails": ["b@x.com"], "projectId": project}, key="batch-1")
    assert conflict.status_code == 409
    assert conflict.json()["success"] is False and conflict.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert contacts(sandbox) == 2


def test_idempotency_keys_expire_after_24_hours(sandbox, http, project):
    delete(sandbox, http, {"emails": ["a@x.com"], "projectId": project}, key="batch-1")
    sandbox.advance_clock(24 * 3600 + 1)
    again = delete(sandbox, http, {"emails": ["b@x.com"], "projectId": project}, key="batch-1")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers


def test_idempotency_is_scoped_per_api_key(sandbox, http, project):
    delete(sandbox, http, {"emails": ["a@x.com"], "projectId": project}, key="batch-1")
    sandbox.seed({"keys": {"migma": "another-key"}})
    other = delete(sandbox, http, {"emails": ["b@x.com"], "projectId": project}, key="batch-1")
    assert other.status_code == 200 and other.json()["data"]["deleted"] == 1


def test_idempotency_key_longer_than_100_is_400(sandbox, http, project):
    response = delete(sandbox, http, {"emails": ["a@x.com"], "projectId": project}, key="k" * 101)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert (
        delete(sandbox, http, {"emails": ["a@x.com"], "projectId": project}, key="k" * 100).status_code == 200
    )


@pytest.mark.parametrize("fault", [{"rate_429": 1.0}, {"rate_5xx": 1.0}], ids=["429", "5xx"])
def test_429_and_5xx_are_never_stored(sandbox, http, project, fault):
    body = {"emails": ["a@x.com"], "projectId": project}
    sandbox.set_faults(vendors=["migma"], retry_after=3, **fault)
    failed = delete(sandbox, http, body, key="batch-1")
    assert failed.status_code == 429 or failed.status_code >= 500
    assert failed.json()["success"] is False
    if failed.status_code == 429:
        assert failed.headers["Retry-After"] == "3"
    sandbox.set_faults(rate_429=0.0, rate_5xx=0.0)
    retried = delete(sandbox, http, body, key="batch-1")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert retried.json()["data"]["deleted"] == 1


TRICKY = [
    "user1@example.com",
    "USER2@Example.COM",  # case
    "  user3@example.com\t",  # surrounding whitespace
    "user007@example.com",  # a leading zero is not user7
    "user7@example.com",
    "user7@example.com",  # twice in one batch: the second is not found
    "user0@example.com",
    "user00@example.com",
    "user150@example.com",  # past the generated range
    "user\u0663@example.com",  # a digit, but not an ASCII one
    "seeded@x.com",
    "MIXED@x.com",  # a seeded contact, other case
    "user5@other.com",  # seeded, and it looks generated
    "nobody@x.com",
]


def _project_detail(sandbox, project_id):
    return sandbox.state("migma", detail=True)["migma"]["detail"]["projects"][project_id]


def test_a_batch_answers_as_the_same_emails_one_by_one(sandbox, http):
    """Batches take shortcuts (one check for all emails, one pass over the generated range): same answers."""
    seeded = ["seeded@x.com", "Mixed@X.com", "user5@other.com"]
    sandbox.seed({"migma": {"projects": {"BATCH": seeded, "SINGLE": seeded}}})
    for project_id in ("BATCH", "SINGLE"):
        sandbox.generate(vendor="migma", project=project_id, count=100, pattern="user{i}@example.com")
    delete(sandbox, http, {"emails": ["user1@example.com"], "projectId": "BATCH"})  # already gone
    delete(sandbox, http, {"emails": ["user1@example.com"], "projectId": "SINGLE"})
    for batch in (TRICKY, [f"user{i}@example.com" for i in range(10, 99)], TRICKY):
        answer = delete(sandbox, http, {"emails": batch, "projectId": "BATCH"}).json()
        not_found = []
        for email in batch:
            single = delete(sandbox, http, {"emails": [email], "projectId": "SINGLE"}).json()
            not_found += single["data"]["notFound"]
        assert answer["data"] == {"deleted": len(batch) - len(not_found), "notFound": not_found}
        assert _project_detail(sandbox, "BATCH") == _project_detail(sandbox, "SINGLE")
    assert answer["data"]["deleted"] == 0  # the same batch again


@pytest.mark.parametrize(
    ("bad", "index"),
    [("nope", 2), (5, 2), (None, 2), ("a@b", 2), ("a@b.co\nc@d.ef", 2), ("a b@c.de", 2), ("\u00a0", 2)],
)
def test_the_first_bad_email_is_named(sandbox, http, project, bad, index):
    emails = ["a@x.com", " B@X.COM ", bad, "nope-too"]
    response = delete(sandbox, http, {"emails": emails, "projectId": project})
    assert response.status_code == 400
    assert response.json()["error"] == f"emails[{index}] is not a valid email address"
    assert contacts(sandbox) == 3


FINGERPRINT_BODIES = [
    {"emails": ["a@x.com", "b@x.com"], "projectId": "P1"},
    {"projectId": "P1", "emails": ["a@x.com", "b@x.com"]},  # the same value
    {"emails": ["b@x.com", "a@x.com"], "projectId": "P1"},
    {"emails": ["a@x.com\nb@x.com"], "projectId": "P1"},  # one email that reads like two lines
    {"emails": ["a@x.com\nb@x.com", "c@x.com"], "projectId": "P1"},
    {"emails": ["a@x.com", "b@x.com\nc@x.com"], "projectId": "P1"},
    {"emails": ["a@x.com", "b@x.com", ""], "projectId": "P1"},
    {"emails": [""], "projectId": "P1"},
    {"emails": [], "projectId": "P1"},
    {"emails": ["a@x.com"], "projectId": "P1\na@x.com"},
    {"emails": ["P1", "a@x.com"], "projectId": ""},
    {"emails": ["a@x.com"], "projectId": "P1:1"},
    {"emails": ["1:a@x.com"], "projectId": "P1"},
    {"emails": ["a@x.com", "b@x.com"], "projectId": "P1", "extra": None},
    {"emails": ["a@x.com", 1], "projectId": "P1"},
    {"emails": ["a@x.com", 1.0], "projectId": "P1"},
    {"emails": ["a@x.com", True], "projectId": "P1"},
    {"emails": "a@x.com", "projectId": "P1"},
    {"emails": ["a@x.com"], "projectId": 1},
    {"emails": ["a@x.com"]},
    ["a@x.com", "b@x.com"],
    "batch:2:2:P1\na@x.com\nb@x.com",
    None,
]


def test_fingerprints_match_exactly_when_the_json_values_do():
    """The usual body has a cheaper fingerprint than canonical JSON; the answer to "same body?" is unchanged."""

    def canonical(body):
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    for first, second in itertools.product(FINGERPRINT_BODIES, repeat=2):
        same_value = canonical(first) == canonical(second)
        assert (_fingerprint(first, b"") == _fingerprint(second, b"")) == same_value, (first, second)
    assert _fingerprint(INVALID_JSON, b"{x") != _fingerprint("{x", b"")


@pytest.mark.parametrize(
    "body",
    [{"emails": ["\ud800@x.com"], "projectId": "P1"}, {"emails": ["a@x.com"], "projectId": "\udfff"}],
)
def test_a_lone_surrogate_fails_the_fingerprint_as_before(body):
    with pytest.raises(UnicodeEncodeError):
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with pytest.raises(UnicodeEncodeError):
        _fingerprint(body, b"")


def test_an_email_with_a_line_break_is_not_two_emails_for_idempotency(sandbox, http, project):
    first = delete(sandbox, http, {"emails": ["a@x.com\nb@x.com"], "projectId": project}, key="k")
    assert first.status_code == 400
    second = delete(sandbox, http, {"emails": ["a@x.com", "b@x.com"], "projectId": project}, key="k")
    assert second.status_code == 409
    replay = delete(sandbox, http, {"projectId": project, "emails": ["a@x.com\nb@x.com"]}, key="k")
    assert replay.status_code == 400 and replay.headers["Idempotent-Replayed"] == "true"
