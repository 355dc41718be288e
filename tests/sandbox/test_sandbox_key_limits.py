"""Per-key limits and counters: what the vendor sees of every client sharing one key."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from airflow_contact_removal.sandbox.limits import key_label

from .helpers import BIRD_LIST, BIRD_WS, auth_headers


def _concurrently(count: int, call) -> list[requests.Response]:
    results: list[requests.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait()
            response = call(session, i)
            with lock:
                results.append(response)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _migma_delete(sandbox, session, headers=None):
    return session.post(
        sandbox.base_url("migma") + "/v1/contacts/bulk-delete",
        json={"emails": ["nobody@x.com"], "projectId": "P1"},
        headers=auth_headers(sandbox, "migma") if headers is None else headers,
    )


@pytest.fixture
def project(sandbox):
    sandbox.seed({"migma": {"projects": {"P1": ["a@x.com"]}}})


@pytest.mark.usefixtures("project")
def test_migma_past_its_cap_of_8_in_flight_per_key_gets_429(sandbox):
    sandbox.set_faults(latency_ms=400, vendors=["migma"])

    results = _concurrently(11, lambda session, i: _migma_delete(sandbox, session))

    assert sorted(r.status_code for r in results) == [200] * 8 + [429] * 3
    limited = [r for r in results if r.status_code == 429]
    assert all(r.headers["Retry-After"] == "1" and r.json()["success"] is False for r in limited)
    counters = sandbox.key_limits("migma")
    assert counters["requests"] == 11
    assert counters["max_in_flight"] == 9  # the first refused one arrived while 8 were open
    assert counters["breaches"] == {"too_many_in_flight": 3}


def test_bird_cap_is_5_in_flight_per_key(sandbox):
    sandbox.set_faults(latency_ms=400, vendors=["bird"])
    url = f"{sandbox.base_url('bird')}/workspaces/{BIRD_WS}/lists/{BIRD_LIST}/contacts"

    results = _concurrently(
        7,
        lambda session, i: session.delete(
            url, json={"contacts": [], "identifiers": []}, headers=auth_headers(sandbox, "bird")
        ),
    )

    assert sum(r.status_code == 429 for r in results) == 2
    assert sandbox.key_limits("bird")["breaches"] == {"too_many_in_flight": 2}


@pytest.mark.usefixtures("project")
def test_keys_are_counted_apart_and_named_by_fingerprint_only(sandbox):
    sandbox.set_faults(latency_ms=300, vendors=["migma"])
    other = {"Authorization": "Bearer another-account-key"}

    results = _concurrently(12, lambda session, i: _migma_delete(sandbox, session, other if i % 2 else None))

    # 6 per key: under the cap of 8 for each, though 12 were in flight in all.
    assert all(r.status_code != 429 for r in results)
    limits = sandbox.limits()
    assert set(limits["migma"]) == {key_label(sandbox.api_key("migma")), key_label("another-account-key")}
    assert all(counters["max_in_flight"] == 6 for counters in limits["migma"].values())
    assert "another-account-key" not in str(limits) and sandbox.api_key("migma") not in str(limits)
    assert sandbox.stats()["migma"]["max_in_flight"] == 12


def test_autosend_busiest_second_and_rate_breaches_are_counted(sandbox, http):
    sandbox.set_options(autosend_rate_limit=2)
    url = sandbox.base_url("autosend") + "/contacts/remove"
    # Start just after a second begins, so the five requests fall in one second of the server clock.
    time.sleep(1.05 - time.time() % 1)

    statuses = [
        http.post(url, json={"emails": ["a@x.com"]}, headers=auth_headers(sandbox, "autosend")).status_code
        for _ in range(5)
    ]

    assert statuses == [200, 200, 429, 429, 429]
    counters = sandbox.key_limits("autosend")
    assert counters["max_per_second"] == 5
    assert counters["breaches"] == {"rate_limited": 3}
    assert counters["max_in_flight"] == 1


def test_counters_clear_with_the_request_log(sandbox, http):
    _migma_delete(sandbox, http)
    assert sandbox.key_limits("migma")["requests"] == 1

    sandbox.clear_requests()

    assert sandbox.limits() == {"autosend": {}, "wooxy": {}, "bird": {}, "migma": {}}
    assert sandbox.key_limits("migma") == {
        "requests": 0,
        "max_in_flight": 0,
        "max_per_second": 0,
        "breaches": {},
    }
