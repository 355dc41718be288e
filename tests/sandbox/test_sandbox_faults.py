"""Fault and latency injection: repeatable from a seed, before processing, vendor-shaped, real drops."""

from __future__ import annotations

import time

import pytest
import requests

from .helpers import BIRD_LIST, BIRD_WS, auth_headers


@pytest.fixture
def project(sandbox):
    sandbox.seed({"migma": {"projects": {"P1": ["a@x.com"]}}})


def migma_delete(sandbox, http, emails=("a@x.com",)):
    url = sandbox.base_url("migma") + "/v1/contacts/bulk-delete"
    return http.post(
        url, json={"emails": list(emails), "projectId": "P1"}, headers=auth_headers(sandbox, "migma")
    )


def outcomes(sandbox, http, count):
    result = []
    for _ in range(count):
        try:
            result.append(migma_delete(sandbox, http, ["nobody@x.com"]).status_code)
        except requests.ConnectionError:
            result.append("drop")
    return result


def test_seeded_faults_repeat(sandbox, http, project):
    settings = {"rate_429": 0.2, "rate_5xx": 0.2, "rate_drop": 0.2, "seed": 42}
    sandbox.set_faults(**settings)
    first = outcomes(sandbox, http, 40)
    sandbox.set_faults(**settings)  # setting the faults again restarts the generator
    assert outcomes(sandbox, http, 40) == first
    assert {429, 200, "drop"} <= set(first)
    assert {s for s in first if isinstance(s, int) and s >= 500} <= {500, 502, 503, 504}
    sandbox.set_faults(seed=43)
    assert outcomes(sandbox, http, 40) != first


def test_faults_happen_before_processing(sandbox, http, project):
    sandbox.set_faults(rate_5xx=1.0)
    response = migma_delete(sandbox, http)
    assert response.status_code in (500, 502, 503, 504)
    assert response.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 1}
    assert sandbox.requests_log()[-1]["fault"] == "5xx"


def test_injected_answers_are_vendor_shaped(sandbox, http):
    sandbox.set_faults(rate_429=1.0, retry_after=7)
    autosend = http.post(
        sandbox.base_url("autosend") + "/contacts/remove",
        json={"emails": ["a@x.com"]},
        headers=auth_headers(sandbox, "autosend"),
    )
    assert autosend.status_code == 429 and autosend.headers["Retry-After"] == "7"
    assert autosend.json() == {
        "success": False,
        "error": {"message": "Too many requests", "code": "RATE_LIMITED"},
        "retryAfter": 7,
    }
    sandbox.set_faults(rate_429=0.0, rate_5xx=1.0)
    bird = http.delete(
        f"{sandbox.base_url('bird')}/workspaces/{BIRD_WS}/lists/{BIRD_LIST}/contacts",
        json={"contacts": [BIRD_LIST]},
        headers=auth_headers(sandbox, "bird"),
    )
    assert bird.status_code >= 500 and bird.json()["code"] == "InternalServerError"
    wooxy = http.post(
        sandbox.base_url("wooxy") + "/contacts/remove",
        json={"contactListId": "L1", "emails": ["a@x.com"]},
        headers=auth_headers(sandbox, "wooxy"),
    )
    assert wooxy.status_code >= 500 and wooxy.json() == {"result": False, "errors": ["Internal server error"]}


def test_drop_is_a_client_side_connection_error(sandbox, http, project):
    sandbox.set_faults(rate_drop=1.0)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        migma_delete(sandbox, http)
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 1}
    entry = sandbox.requests_log()[-1]
    assert entry["status"] is None and entry["fault"] == "drop"
    assert sandbox.stats()["migma"]["by_status"] == {"dropped": 1}
    sandbox.set_faults(rate_drop=0.0)
    assert migma_delete(sandbox, http).status_code == 200  # the same session reconnects


def test_drop_after_processing_changes_state(sandbox, http, project):
    sandbox.set_faults(rate_drop=1.0, drop_after_processing=True)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        migma_delete(sandbox, http)
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 0}
    assert sandbox.requests_log()[-1]["fault"] == "drop_after_processing"


def test_latency_and_slow_answers(sandbox, http, project):
    sandbox.set_faults(latency_ms=60)
    started = time.perf_counter()
    assert migma_delete(sandbox, http).status_code == 200
    assert time.perf_counter() - started >= 0.06
    sandbox.set_faults(latency_ms=0, rate_slow=1.0, slow_ms=60)
    started = time.perf_counter()
    migma_delete(sandbox, http)
    assert time.perf_counter() - started >= 0.06
    entry = sandbox.requests_log()[-1]
    assert entry["fault"] == "slow" and entry["duration_ms"] >= 60


def test_a_request_delayed_on_its_way_is_counted_when_it_arrives(sandbox, http, project):
    """arrival_jitter_ms: the request log, the second counted and the limits see the arrival."""
    sandbox.set_faults(arrival_jitter_ms=400, seed=7)
    sent = []
    for _ in range(5):
        sent.append(time.time())
        assert migma_delete(sandbox, http, ["nobody@x.com"]).status_code == 200

    lateness = [entry["started"] - at for entry, at in zip(sandbox.requests_log(), sent, strict=True)]
    assert all(-0.01 <= late <= 0.45 for late in lateness), lateness
    assert max(lateness) > 0.1  # seed 7 delays some by more than the client's 0.1 s margin
    with pytest.raises(ValueError, match="400"):
        sandbox.set_faults(arrival_jitter_ms=-1)


def test_faults_can_target_some_vendors(sandbox, http, project):
    sandbox.set_faults(rate_5xx=1.0, vendors=["bird"])
    assert migma_delete(sandbox, http).status_code == 200


def test_fault_settings_are_validated_and_readable(sandbox):
    with pytest.raises(ValueError, match="400"):
        sandbox.set_faults(rate_429=0.7, rate_5xx=0.7)
    with pytest.raises(ValueError, match="400"):
        sandbox.set_faults(unknown_setting=1)
    with pytest.raises(ValueError, match="400"):
        sandbox.set_faults(vendors=["mailchimp"])
    config = sandbox.set_faults(latency_ms=5)
    assert config == sandbox.faults()
    assert config["latency_ms"] == 5 and config["rate_429"] == 0.0 and config["vendors"] is None
    sandbox.reset()
    assert sandbox.faults()["latency_ms"] == 0


# Hostile answers (issue 12) ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {"trickle_ms": -1},
        {"hang_ms": "long"},
        {"retry_after_header": 5},
        {"retry_after_header": "1\r\nX-Injected: 1"},
        {"echo_identifiers": "yes"},
    ],
)
def test_hostile_settings_are_validated(sandbox, settings):
    with pytest.raises(ValueError, match="400"):
        sandbox.set_faults(**settings)


def test_trickle_sends_the_processed_answer_one_byte_at_a_time(sandbox, http, project):
    sandbox.set_faults(trickle_ms=20)
    started = time.perf_counter()
    response = migma_delete(sandbox, http)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["data"]["deleted"] == 1
    assert elapsed >= 0.02 * (len(response.content) - 1)
    assert sandbox.requests_log()[-1]["fault"] == "trickle"


def test_hang_answers_nothing_and_processes_nothing(sandbox, http, project):
    sandbox.set_faults(hang_ms=300)
    with pytest.raises(requests.ConnectionError):
        migma_delete(sandbox, http)
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 1}
    assert sandbox.requests_log()[-1]["fault"] == "hang"


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2015 07:28:00 GMT", "0", "100000"])
def test_raw_retry_after_header_on_injected_429_and_5xx(sandbox, http, project, value):
    sandbox.set_faults(rate_429=1.0, retry_after_header=value)
    assert migma_delete(sandbox, http).headers["Retry-After"] == value
    sandbox.set_faults(rate_429=0.0, rate_5xx=1.0)
    assert migma_delete(sandbox, http).headers["Retry-After"] == value


def test_echo_refuses_with_the_vendors_error_text_quoting_an_identifier(sandbox, http, project):
    sandbox.set_faults(echo_identifiers=True)
    response = migma_delete(sandbox, http)
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Invalid email: a@x.com",
        "code": "VALIDATION_FAILED",
    }
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 1}
    url = sandbox.base_url("wooxy") + "/contacts/remove"
    body = {"contactListId": "L1", "userIds": ["user-1"]}
    answer = http.post(url, json=body, headers=auth_headers(sandbox, "wooxy")).json()
    assert answer["result"] is False and answer["errors"] == ["no data found for key user-1"]
