"""What is retried, how long each wait is, and when the hooks give up. No test sleeps for real."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import tenacity.wait

from airflow_contact_removal.exceptions import VendorAPIError
from airflow_contact_removal.hooks import AutoSendHook, BirdHook, MigmaHook, WooxyHook
from airflow_contact_removal.hooks.base import ContactRemovalHook
from airflow_contact_removal.hooks.rate_limit import RATE_WINDOW_MARGIN, RateLimiter, RateWindow
from airflow_contact_removal.hooks.retry import (
    RETRYABLE_STATUSES,
    parse_retry_after,
    rate_window_from_headers,
    retry_after_from_headers,
)
from tests.conftest import set_connection

KEY = "retry-key-123456789"
WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
LIST_ID = "123e4567-e89b-12d3-a456-426614174000"


@dataclass(frozen=True)
class Vendor:
    hook_class: type[ContactRemovalHook]
    method: str
    url: str
    success: Any
    call: Any
    extra: dict

    def connect(self, monkeypatch, conn_id: str, **extra) -> None:
        set_connection(
            monkeypatch,
            conn_id,
            conn_type=self.hook_class.conn_type,
            password=KEY,
            extra={**self.extra, **extra},
        )


VENDORS = {
    "autosend": Vendor(
        AutoSendHook,
        "POST",
        "https://api.autosend.com/v1/contacts/remove",
        {"success": True},
        lambda hook: hook.remove_contacts(["a@example.com"]),
        {},
    ),
    "wooxy": Vendor(
        WooxyHook,
        "POST",
        "https://api.wooxy.com/v3/contacts/remove",
        {"result": True, "requestId": "r-1"},
        lambda hook: hook.remove_from_list("LIST-1", emails=["a@example.com"]),
        {},
    ),
    "bird": Vendor(
        BirdHook,
        "DELETE",
        f"https://api.bird.com/workspaces/{WORKSPACE}/lists/{LIST_ID}/contacts",
        {"itemsProcessed": 1},
        lambda hook: hook.remove_from_list(
            LIST_ID, identifiers=[{"key": "emailaddress", "value": "a@example.com"}]
        ),
        {"workspace_id": WORKSPACE},
    ),
    "migma": Vendor(
        MigmaHook,
        "POST",
        "https://api.migma.ai/v1/contacts/bulk-delete",
        {"success": True, "data": {"deleted": 1, "notFound": []}},
        lambda hook: hook.bulk_delete(["a@example.com"]),
        {"project_id": "P1"},
    ),
}
all_vendors = pytest.mark.parametrize("vendor", list(VENDORS.values()), ids=list(VENDORS))


def on_fake_time(hook: ContactRemovalHook, sleep) -> ContactRemovalHook:
    """
    Give the hook a rate limiter whose clock is the recorded sleeps: waiting moves time, exactly as
    much as was waited, so the limiter and the retry waits agree on what time it is. Its spacing is
    exactly 1/rate (no jitter margin, see test_rate_limit.py), so the retry waits read plainly.
    """
    hook.rate_limiter = RateLimiter(
        hook.settings.requests_per_second, clock=lambda: sum(sleep.waits), sleep=sleep, window_margin=0
    )
    return hook


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def top_of_backoff(monkeypatch):
    """Make the jittered back-off deterministic: always the top of its window."""
    monkeypatch.setattr(tenacity.wait.random, "uniform", lambda low, high: high)


def make_hook(monkeypatch, no_sleep, vendor: Vendor, **extra) -> ContactRemovalHook:
    vendor.connect(monkeypatch, "retry_conn", **extra)
    return on_fake_time(vendor.hook_class("retry_conn", sleep=no_sleep), no_sleep)


def register(m, vendor: Vendor, responses):
    m.register_uri(vendor.method, vendor.url, responses)


# parse_retry_after ---------------------------------------------------------------------------------
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        (7, 7.0),
        (2.5, 2.5),
        (-1, 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        (True, None),
        ("Wed, 21 Oct 2015 07:28:00", None),
    ],
    ids=[
        "seconds",
        "padded",
        "fraction",
        "zero",
        "negative",
        "int",
        "float",
        "negative-int",
        "http-date-ahead",
        "http-date-past",
        "missing",
        "empty",
        "garbage",
        "nan",
        "inf",
        "bool",
        "date-without-zone",
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


def test_retry_after_from_headers_reads_the_header():
    headers = requests.structures.CaseInsensitiveDict({"retry-after": "12"})
    assert retry_after_from_headers(headers) == 12.0
    assert retry_after_from_headers({}) is None


@pytest.mark.parametrize(
    ("headers", "window"),
    [
        pytest.param(
            {"X-RateLimit-Reset": "1700000001", "X-RateLimit-Remaining": "1"},
            RateWindow("1700000001", 0.75, 1),
            id="unix-time",
        ),
        pytest.param(
            {"x-ratelimit-reset": "0.5", "x-ratelimit-remaining": "0"},
            RateWindow("1700000001", 0.5, 0),
            id="delay-lowercase-named-by-its-end",
        ),
        pytest.param({"X-RateLimit-Reset": "1700000000"}, RateWindow("1700000000", 0.0, None), id="past"),
        pytest.param(
            {"X-RateLimit-Reset": "1700003600", "X-RateLimit-Remaining": "x"},
            RateWindow("1700003600", 1.0, None),
            id="another-clock-capped-at-the-window",
        ),
        pytest.param({"X-RateLimit-Reset": "7"}, RateWindow("1700000007", 1.0, None), id="long-delay-capped"),
        pytest.param({"X-RateLimit-Remaining": "0"}, None, id="no-reset"),
        pytest.param({"X-RateLimit-Reset": "soon"}, None, id="garbage"),
        pytest.param({"X-RateLimit-Reset": "nan"}, None, id="nan"),
        pytest.param({"X-RateLimit-Reset": "-1"}, None, id="negative"),
    ],
)
def test_rate_window_from_headers(headers, window):
    headers = requests.structures.CaseInsensitiveDict(headers)
    assert rate_window_from_headers(headers, window=1.0, now=NOW + 0.25) == window


def test_retryable_statuses_are_429_and_server_faults():
    assert frozenset({429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


# 429 and Retry-After -------------------------------------------------------------------------------
@all_vendors
def test_429_with_retry_after_then_success_waits_exactly_that(m, monkeypatch, no_sleep, vendor):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    pauses = []
    real_pause = hook.rate_limiter.pause
    monkeypatch.setattr(hook.rate_limiter, "pause", lambda s: (pauses.append(s), real_pause(s)))
    register(m, vendor, [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"json": vendor.success}])

    vendor.call(hook)

    assert m.call_count == 2
    assert no_sleep.waits == [3.0]
    assert pauses == [3.0]  # every sender of this hook is held, not only this one


def test_429_attempts_are_reported_on_the_result(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": "1"}}, {"json": VENDORS["migma"].success}],
    )

    assert hook.bulk_delete(["a@example.com"]).attempts == 2


def test_429_pause_holds_another_sender_of_the_same_hook(m, monkeypatch, no_sleep):
    other_sender_waits = []

    def sleep_while_another_sender_starts(seconds):
        # While this request waits out its Retry-After, another thread of the same hook tries to send.
        other_sender_waits.append(hook.rate_limiter.acquire())
        no_sleep(seconds)

    VENDORS["migma"].connect(monkeypatch, "migma_shared")
    hook = MigmaHook("migma_shared", sleep=sleep_while_another_sender_starts)
    hook.rate_limiter = RateLimiter(None, clock=lambda: sum(no_sleep.waits), sleep=lambda seconds: None)
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"json": VENDORS["migma"].success}],
    )

    hook.bulk_delete(["a@example.com"])

    assert other_sender_waits == [3.0]
    assert no_sleep.waits == [3.0]


def test_retry_after_as_http_date(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": when}}, {"json": VENDORS["migma"].success}],
    )

    hook.bulk_delete(["a@example.com"])

    assert len(no_sleep.waits) == 1
    assert 28.0 < no_sleep.waits[0] <= 30.0


def test_autosend_429_with_retry_after_in_the_body_and_no_header(m, monkeypatch, no_sleep):
    vendor = VENDORS["autosend"]
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(
        m,
        vendor,
        [
            {
                "status_code": 429,
                "json": {"success": False, "retryAfter": 4, "error": {"code": "RATE_LIMITED"}},
            },
            {"json": vendor.success},
        ],
    )

    hook.remove_contacts(["a@example.com"])

    assert m.call_count == 2
    assert no_sleep.waits == [4.0]


def test_autosend_retry_after_header_wins_over_the_body(m, monkeypatch, no_sleep):
    vendor = VENDORS["autosend"]
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(
        m,
        vendor,
        [
            {"status_code": 429, "headers": {"Retry-After": "2"}, "json": {"retryAfter": 9}},
            {"json": vendor.success},
        ],
    )

    hook.remove_contacts(["a@example.com"])

    assert no_sleep.waits == [2.0]


@pytest.mark.parametrize(
    "value", ["-5", "0", "Wed, 21 Oct 2015 07:28:00 GMT"], ids=["negative", "zero", "past-date"]
)
def test_zero_negative_or_past_retry_after_still_backs_off(m, monkeypatch, no_sleep, value):
    """Issue 12: a past or zero Retry-After used to retry at once (6 attempts in 0.18 s)."""
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": value}}, {"json": VENDORS["migma"].success}],
    )

    hook.bulk_delete(["a@example.com"])

    assert m.call_count == 2
    assert 0.25 <= no_sleep.waits[0] <= 0.5  # the back-off's first window, never 0
    assert sum(no_sleep.waits) == pytest.approx(1.0)  # and the 429 still holds every sender 1 s


@pytest.mark.usefixtures("top_of_backoff")
def test_garbage_retry_after_falls_back_to_backoff(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 503, "headers": {"Retry-After": "in a while"}}, {"json": VENDORS["migma"].success}],
    )

    hook.bulk_delete(["a@example.com"])

    assert no_sleep.waits == [0.5]  # the first back-off window is 0.5 s


def test_garbage_retry_after_on_a_429_still_holds_every_sender_for_a_second(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    pauses = []
    real_pause = hook.rate_limiter.pause
    monkeypatch.setattr(hook.rate_limiter, "pause", lambda s: (pauses.append(s), real_pause(s)))
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": "soon"}}, {"json": VENDORS["migma"].success}],
    )

    hook.bulk_delete(["a@example.com"])

    assert pauses == [1.0]
    assert sum(no_sleep.waits) == pytest.approx(1.0)  # back-off, then the rest of the pause


@pytest.mark.parametrize(
    ("extra", "limit"),
    [({"max_retry_after": 5}, "max_retry_after"), ({}, "what is left of max_retry_time")],
    ids=["above-max-retry-after", "above-max-retry-time"],
)
def test_huge_retry_after_fails_the_request_at_once(m, monkeypatch, no_sleep, extra, limit):
    """
    Issue 12: a Retry-After longer than the hook may wait fails at once, and stops the run (the
    vendor holds the key, not this batch). It used to be waited in capped steps past max_retry_time.
    """
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"], **{"max_retry_after": 86400, **extra})
    register(
        m,
        VENDORS["migma"],
        [{"status_code": 429, "headers": {"Retry-After": "1000"}}, {"json": VENDORS["migma"].success}],
    )

    with pytest.raises(VendorAPIError, match=limit) as caught:
        hook.bulk_delete(["a@example.com"])

    assert m.call_count == 1
    assert no_sleep.waits == []
    assert caught.value.retryable is True and caught.value.stops_run is True


# Giving up -----------------------------------------------------------------------------------------
@all_vendors
@pytest.mark.usefixtures("top_of_backoff")
def test_503_past_max_attempts_gives_up_with_a_retryable_error(m, monkeypatch, no_sleep, vendor):
    hook = make_hook(monkeypatch, no_sleep, vendor, max_attempts=4)
    register(m, vendor, [{"status_code": 503, "json": {"error": "maintenance"}}])

    with pytest.raises(VendorAPIError) as caught:
        vendor.call(hook)

    error = caught.value
    assert error.status_code == 503
    assert error.retryable is True
    assert error.attempts == 4
    assert error.vendor == vendor.hook_class.vendor
    assert "gave up after transient failures" in str(error)
    assert m.call_count == 4
    assert no_sleep.waits == [0.5, 1.0, 2.0]  # jittered exponential back-off, top of each window


def test_max_attempts_in_the_ui_prefixed_extra_is_honoured(m, monkeypatch, no_sleep):
    set_connection(
        monkeypatch,
        "migma_ui",
        conn_type="migma",
        password=KEY,
        extra={"project_id": "P1", "extra__migma__max_attempts": "2"},
    )
    hook = on_fake_time(MigmaHook("migma_ui", sleep=no_sleep), no_sleep)
    register(m, VENDORS["migma"], [{"status_code": 503}])

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete(["a@example.com"])

    assert caught.value.attempts == 2
    assert m.call_count == 2


def test_retries_stop_at_max_retry_time(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"], max_retry_time=0)
    register(m, VENDORS["migma"], [{"status_code": 503}])

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete(["a@example.com"])

    assert caught.value.retryable is True
    assert m.call_count == 1


def test_giving_up_keeps_the_vendor_code_of_the_last_answer(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["autosend"], max_attempts=2)
    register(
        m,
        VENDORS["autosend"],
        [
            {
                "status_code": 429,
                "json": {"success": False, "error": {"code": "RATE_LIMITED", "message": "slow down"}},
            }
        ],
    )

    with pytest.raises(VendorAPIError) as caught:
        hook.remove_contacts(["a@example.com"])

    error = caught.value
    assert (error.status_code, error.vendor_code, error.vendor_message, error.attempts) == (
        429,
        "RATE_LIMITED",
        "slow down",
        2,
    )


@all_vendors
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_tried_exactly_once(m, monkeypatch, no_sleep, vendor, status):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"status_code": status, "json": {"error": "no"}}])

    with pytest.raises(VendorAPIError) as caught:
        vendor.call(hook)

    assert caught.value.status_code == status
    assert caught.value.attempts == 1
    assert caught.value.retryable is False
    assert m.call_count == 1
    assert no_sleep.waits == []


# Transient faults then success ---------------------------------------------------------------------
@all_vendors
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.usefixtures("top_of_backoff")
def test_server_faults_are_retried(m, monkeypatch, no_sleep, vendor, status):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"status_code": status, "text": "<html>oops</html>"}, {"json": vendor.success}])

    vendor.call(hook)

    assert m.call_count == 2
    assert no_sleep.waits == [0.5]


@all_vendors
@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout,
        requests.exceptions.ConnectTimeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_timeouts_and_connection_errors_are_retried(m, monkeypatch, no_sleep, vendor, exc):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"exc": exc}, {"json": vendor.success}])

    vendor.call(hook)

    assert m.call_count == 2


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (requests.exceptions.ReadTimeout, "timed out (ReadTimeout)"),
        (requests.exceptions.ConnectTimeout, "timed out (ConnectTimeout)"),
        (
            requests.exceptions.ConnectionError("Connection refused by peer"),
            "connection failed (Connection refused)",
        ),
    ],
    ids=["read-timeout", "connect-timeout", "refused"],
)
def test_no_answer_past_max_attempts_has_no_status(m, monkeypatch, no_sleep, exc, reason):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["bird"], max_attempts=3)
    register(m, VENDORS["bird"], [{"exc": exc}])

    with pytest.raises(VendorAPIError) as caught:
        VENDORS["bird"].call(hook)

    error = caught.value
    assert error.status_code is None
    assert error.retryable is True
    assert error.attempts == 3
    assert reason in str(error)
    assert "HTTP no answer" in str(error)


def test_request_uses_the_configured_timeouts(m, monkeypatch, no_sleep):
    """
    The connect timeout goes to the socket; the read timeout bounds the whole answer (the sender's
    deadline), while the I/O thread waits longer between bytes so that an abandoned request keeps
    its in-flight slot until the vendor has answered (issue 12: was ``(2.0, 7.0)`` on the socket).
    """
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"], connect_timeout=2, read_timeout=7)
    register(m, VENDORS["migma"], [{"json": VENDORS["migma"].success}])

    hook.bulk_delete(["a@example.com"])

    assert m.last_request.timeout == (2.0, 17.0)


# Answers that are not JSON -------------------------------------------------------------------------
@all_vendors
@pytest.mark.parametrize(
    ("response", "described"),
    [
        (
            {
                "status_code": 200,
                "text": "<html>maintenance</html>",
                "headers": {"Content-Type": "text/html"},
            },
            "text/html",
        ),
        ({"status_code": 200, "text": ""}, "empty body"),
        ({"status_code": 204}, "empty body"),
    ],
    ids=["html", "empty-200", "204"],
)
def test_2xx_that_is_not_json_is_an_error_and_not_retried(
    m, monkeypatch, no_sleep, vendor, response, described
):
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [response])

    with pytest.raises(VendorAPIError, match="not JSON") as caught:
        vendor.call(hook)

    error = caught.value
    assert described in str(error)
    assert error.status_code == response["status_code"]
    assert error.retryable is False
    assert error.attempts == 1
    assert m.call_count == 1


def test_an_error_status_with_an_html_body_says_so_without_quoting_it(m, monkeypatch, no_sleep):
    hook = make_hook(monkeypatch, no_sleep, VENDORS["migma"])
    register(
        m,
        VENDORS["migma"],
        [
            {
                "status_code": 400,
                "text": "<html>a@example.com</html>",
                "headers": {"Content-Type": "text/html"},
            }
        ],
    )

    with pytest.raises(VendorAPIError) as caught:
        hook.bulk_delete(["a@example.com"])

    assert "request refused (26 bytes of text/html)" in str(caught.value)
    assert "a@example.com" not in str(caught.value)


# Pacing --------------------------------------------------------------------------------------------
def test_autosend_paces_requests_at_two_per_second(m, monkeypatch, no_sleep):
    vendor = VENDORS["autosend"]
    hook = make_hook(monkeypatch, no_sleep, vendor)
    register(m, vendor, [{"json": vendor.success}])

    for _ in range(3):
        hook.remove_contacts(["a@example.com"])

    assert no_sleep.waits == [0.5, 0.5]  # on_fake_time: no jitter margin


def test_requests_per_second_extra_changes_the_pace(m, monkeypatch, no_sleep):
    """The extra may lower AutoSend's documented 2/s (issue 12: it was raised to 4 here before)."""
    vendor = VENDORS["autosend"]
    hook = make_hook(monkeypatch, no_sleep, vendor, requests_per_second=1)
    register(m, vendor, [{"json": vendor.success}])

    for _ in range(3):
        hook.remove_contacts(["a@example.com"])

    assert no_sleep.waits == [1.0, 1.0]


def test_hook_rate_limiter_waits_through_the_injected_sleep(m, monkeypatch, no_sleep):
    VENDORS["autosend"].connect(monkeypatch, "autosend_paced")
    hook = AutoSendHook("autosend_paced", sleep=no_sleep)  # its own limiter, real clock
    register(m, VENDORS["autosend"], [{"json": VENDORS["autosend"].success}])

    started = time.monotonic()
    for _ in range(3):
        hook.remove_contacts(["a@example.com"])

    assert time.monotonic() - started < 0.5  # nothing slept for real
    # No time passed, so the 2nd and 3rd requests got the slots one and two intervals after the first.
    interval = (1 + RATE_WINDOW_MARGIN) / 2
    assert len(no_sleep.waits) == 2
    assert interval - 0.1 < no_sleep.waits[0] <= interval
    assert 2 * interval - 0.1 < no_sleep.waits[1] <= 2 * interval
