"""The hook's transport under hostile answers, with requests-mock: stops_run, TLS, the breaker, scrubbing."""

from __future__ import annotations

import threading

import pytest
import requests

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.base import scrub_identifiers
from tests.conftest import set_connection
from tests.hooks.test_retry import KEY, VENDORS, all_vendors, make_hook, register


@pytest.fixture
def m(requests_mock):
    return requests_mock


@all_vendors
@pytest.mark.parametrize(
    ("status", "stops"),
    [(401, True), (403, True), (404, True), (301, True), (400, False), (409, False), (422, False)],
)
def test_answers_that_no_batch_can_get_past_stop_the_run(m, monkeypatch, no_sleep, vendor, status, stops):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"status_code": status, "json": {"error": "no"}}])

    with pytest.raises(VendorAPIError) as caught:
        vendor.call(hook)

    assert caught.value.stops_run is stops
    assert m.call_count == 1


def test_autosend_402_plan_limit_stops_the_run(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["autosend"])
    register(m, VENDORS["autosend"], [{"status_code": 402, "json": {"success": False}}])

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_contacts(["a@example.com"])

    assert caught.value.stops_run is True


@all_vendors
def test_a_tls_failure_is_permanent_and_stops_the_run(m, monkeypatch, no_sleep, vendor):
    """Issue 12: a certificate that does not verify was retried 6 times as transient."""
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"exc": requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED")}])

    with pytest.raises(VendorAPIError, match="TLS failed") as caught:
        vendor.call(hook)

    assert (caught.value.stops_run, caught.value.retryable, m.call_count, no_sleep.waits) == (
        True,
        False,
        1,
        [],
    )


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        ("List with id L1 not found!", True),
        ("Invalid authorization token!", True),
        ("no matches found for access token abc", True),
        ("user 42 not enabled", True),
        ("Argument webHookUri must be a valid URI", False),
        ("Request saving error. Please, contact us or try again later", False),
    ],
)
def test_wooxy_documented_errors_with_http_200(m, monkeypatch, no_sleep, error, stops):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["wooxy"])
    register(m, VENDORS["wooxy"], [{"json": {"result": False, "requestId": "r", "errors": [error]}}])

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("L1", emails=["a@example.com"])

    assert caught.value.stops_run is stops


def test_wooxy_no_data_for_key_names_no_identifier(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["wooxy"])
    errors = ["no data found for key customer-981", "no data found for key jane@example.com"]
    register(m, VENDORS["wooxy"], [{"status_code": 400, "json": {"result": False, "errors": errors}}])

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_from_list("L1", emails=["jane@example.com"], user_ids=["customer-981"])

    text = str(caught.value)
    assert "customer-981" not in text and "jane@example.com" not in text
    assert "no data found for key <id>; no data found for key <email>" in text
    assert caught.value.stops_run is False


def test_breaker_counts_attempts_across_concurrent_senders(m, monkeypatch, no_sleep):
    """8 senders against an endless 503: the breaker (20) stops them all, not 8 x 6 attempts."""
    vendor = VENDORS["migma"]
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"status_code": 503}])
    errors: list[VendorAPIError] = []

    def sender() -> None:
        for _ in range(5):
            try:
                vendor.call(hook)
            except VendorAPIError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert hook.breaker.is_open
    assert 20 <= m.call_count <= 20 + hook.max_in_flight
    assert len(errors) == 40 and all(error.retryable for error in errors)
    assert sum(error.stops_run for error in errors) >= 40 - 8  # only requests that gave up before it opened


def test_an_answer_between_transient_failures_keeps_the_breaker_closed(m, monkeypatch, no_sleep):
    vendor = VENDORS["migma"]
    hook = make_hook(monkeypatch, no_sleep, vendor, breaker_failures=3, max_attempts=3)
    register(m, vendor, [{"status_code": 503}, {"status_code": 503}, {"json": vendor.success}] * 3)

    for _ in range(3):
        assert vendor.call(hook).deleted == 1

    assert m.call_count == 9 and not hook.breaker.is_open


def test_the_breaker_opens_on_its_threshold_and_nothing_more_is_sent(m, monkeypatch, no_sleep):
    vendor = VENDORS["bird"]
    hook = make_hook(monkeypatch, no_sleep, vendor, breaker_failures=4)
    register(m, vendor, [{"exc": requests.exceptions.ConnectTimeout("slow")}])

    with pytest.raises(VendorAPIError, match="circuit breaker open after 4 transient failures") as first:
        vendor.call(hook)
    with pytest.raises(VendorAPIError, match="not sent: circuit breaker open") as second:
        vendor.call(hook)

    assert m.call_count == 4
    assert (first.value.attempts, first.value.stops_run, first.value.retryable) == (4, True, True)
    assert (second.value.attempts, second.value.stops_run) == (0, True)


def test_scrub_identifiers_takes_out_emails_phones_and_the_batch_ids():
    sent = {
        "contacts": ["6f1c1c2e-1111-4a2b-8c3d-000000000001"],
        "identifiers": [{"key": "emailaddress", "value": "x@y.io"}, {"key": "phonenumber", "value": "0612"}],
        "userIds": ["u-77"],
    }
    text = (
        "contact 6f1c1c2e-1111-4a2b-8c3d-000000000001 unknown; bad x@y.io, Jane.Doe+tag@Example.COM; "
        "phone +31612345678; user u-77; phone 0612; kept: u-778, user-77"
    )

    scrubbed = scrub_identifiers(text, sent)

    assert scrubbed == (
        "contact <id> unknown; bad <email>, <email>; phone <phone>; user <id>; phone <id>; "
        "kept: u-778, user-77"
    )


def test_scrub_cuts_after_taking_identifiers_out():
    text = "x" * 295 + " jane@example.com"
    assert scrub_identifiers(text) == "x" * 295 + " <ema..."
    assert "jane" not in scrub_identifiers(text)


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("api.example.com", 8443, "https://api.example.com:8443"),
        ("https://api.example.com:8443/v1", 8443, "https://api.example.com:8443/v1"),
    ],
)
def test_port_field_is_applied_or_must_agree_with_the_host_url(monkeypatch, no_sleep, host, port, base_url):
    set_connection(monkeypatch, "port_conn", conn_type="migma", password=KEY, host=host, port=port)
    from airflow_contact_removal.hooks import MigmaHook

    assert MigmaHook("port_conn", sleep=no_sleep).settings.base_url == base_url


def test_port_field_beside_a_host_url_without_it_is_refused(monkeypatch, no_sleep):
    set_connection(
        monkeypatch, "port_conn", conn_type="migma", password=KEY, host="https://api.example.com", port=8443
    )
    from airflow_contact_removal.hooks import MigmaHook

    with pytest.raises(ContactRemovalConfigError, match="port field"):
        MigmaHook("port_conn", sleep=no_sleep).settings  # noqa: B018


def test_io_threads_of_an_unused_hook_end(monkeypatch):
    """A long-lived process (a worker, the triggerer) must not keep every old hook's threads."""
    import time

    from airflow_contact_removal.hooks import transport

    monkeypatch.setattr(transport, "IDLE_EXIT", 0.05)
    workers = transport.IOWorkers("idle-test")
    released = []
    attempts = [transport.Attempt(lambda: "answer", lambda: released.append(1)) for _ in range(3)]
    for attempt in attempts:
        workers.submit(attempt)
    assert all(attempt.done.wait(5) for attempt in attempts)
    assert [attempt.response for attempt in attempts] == ["answer"] * 3 and len(released) == 3

    deadline = time.monotonic() + 5
    while (
        any(t.name.startswith("idle-test-io") for t in threading.enumerate()) and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert not any(t.name.startswith("idle-test-io") for t in threading.enumerate())
    # And the pool starts again when there is work.
    again = transport.Attempt(lambda: "again", lambda: None)
    workers.submit(again)
    assert again.done.wait(5) and again.response == "again"


def test_no_retries_still_lets_requests_wait_for_their_turn_at_the_rate(m, monkeypatch, no_sleep):
    """max_retry_time 0 means no retries, not that AutoSend's spacing of 2/s fails the second request."""
    vendor = VENDORS["autosend"]
    hook = make_hook(monkeypatch, no_sleep, vendor, max_retry_time=0)
    register(m, vendor, [{"json": vendor.success}])

    for _ in range(3):
        hook.remove_contacts(["a@example.com"])

    assert m.call_count == 3 and no_sleep.waits == [0.5, 0.5]
