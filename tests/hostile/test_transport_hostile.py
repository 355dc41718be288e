"""Hostile settings, connections and vendor answers against the hook/transport layer: one table.

Each row is one batch sent the way a run sends it (``check_request`` first, then ``remove_batch``)
through a hook on a connection to the local sandbox, over real HTTP; a few rows that the sandbox
cannot play (a TLS failure, a redirect, an answer naming emails never sent) use requests-mock. A row
expects either a clear error before any request (``ContactRemovalConfigError``, 0 requests) or a
clear outcome: the batch's counts, or a :class:`VendorAPIError` with its ``stops_run`` and
``retryable`` flags. Every row asserts how many requests the vendor saw, and that no identifier of
the batch reaches the error text. Waits are recorded, never slept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import airflow
import pytest
import requests
import requests_mock
from packaging.version import Version

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks import get_removal_hook
from tests.integration.helpers import BIRD_LIST, PROJECT, WORKSPACE, wait_until_idle

pytestmark = pytest.mark.integration

A, B = "ann.secret@example.com", "bob.secret@example.com"
USER = "user-7f3a9c"
PHONE = "+31612345678"
C1 = "6f1c1c2e-1111-4a2b-8c3d-000000000001"
PAST = "Wed, 21 Oct 2015 07:28:00 GMT"

SEED = {
    "autosend": {"lists": {"L1": [A, B]}},
    "wooxy": {"lists": {"L1": [A, B]}},
    "bird": {
        "workspaces": {
            WORKSPACE: {
                "contacts": [{"id": C1, "emailaddress": A}],
                "lists": {BIRD_LIST: [C1]},
            }
        }
    },
    "migma": {"projects": {PROJECT: [A, B]}},
}

#: What a run sends by default for each vendor: operation, list and one batch.
DEFAULT_CALL = {
    "autosend": ("remove_from_list", "L1", {"emails": [A, B]}),
    "wooxy": ("remove_from_list", "L1", {"emails": [A], "user_ids": [USER], "phone_numbers": [PHONE]}),
    "bird": ("remove_from_list", BIRD_LIST, {"emails": [A]}),
    "migma": ("remove_contacts", None, {"emails": [A, B]}),
}
SECRETS = (A, B, USER, PHONE)


@dataclass(frozen=True)
class Row:
    """One hostile case and what must come of it."""

    vendor: str
    #: connection extras (on top of the vendor's required ones).
    extras: dict[str, Any] = field(default_factory=dict)
    #: connection fields replaced after the fact (password, host, port, a raw extra text).
    fields: dict[str, Any] = field(default_factory=dict)
    #: sandbox fault settings for the row.
    faults: dict[str, Any] = field(default_factory=dict)
    list_id: Any = "default"
    batch: dict[str, list[str]] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: a fragment of the error's text; ``None``: the batch succeeds.
    error: str | None = None
    error_type: type[Exception] = VendorAPIError
    stops_run: bool | None = None
    retryable: bool | None = None
    #: requests the vendor saw.
    requests: int = 1
    #: BatchOutcome fields expected when the batch succeeds.
    outcome: dict[str, Any] = field(default_factory=dict)
    #: a check of the recorded waits.
    waits: Any = None


#: Airflow 3.1 cannot read a connection variable whose extra is not a JSON object at all, so the hook
#: is refused as having no connection; from 3.2 on the hook reads it and names the extra. Both are
#: refused before any request.
NOT_JSON_EXTRA = (
    "the extra is not a JSON object" if Version(airflow.__version__) >= Version("3.2") else "is not defined"
)


def refused(vendor: str, error: str, **kwargs) -> Row:
    """Refused before any request."""
    return Row(vendor, error=error, error_type=ContactRemovalConfigError, requests=0, **kwargs)


def stopped(vendor: str, error: str, requests: int = 1, **kwargs) -> Row:
    """Failed with an answer that says no other batch of the run can succeed."""
    return Row(vendor, error=error, stops_run=True, requests=requests, **kwargs)


ROWS: dict[str, Row] = {
    # Settings that would make every request fail: refused up front -------------------------------------
    "read-timeout-zero": refused("migma", "'read_timeout' must be more than 0", extras={"read_timeout": 0}),
    "read-timeout-negative": refused(
        "wooxy", "'read_timeout' must be more than 0", extras={"read_timeout": -1}
    ),
    "connect-timeout-zero": refused(
        "bird", "'connect_timeout' must be more than 0", extras={"connect_timeout": 0}
    ),
    "timeout-zero": refused("autosend", "'timeout' must be more than 0", extras={"timeout": 0}),
    "read-timeout-nan": refused(
        "migma", "'read_timeout' must be a finite number", extras={"read_timeout": "nan"}
    ),
    "max-attempts-zero": refused("migma", "'max_attempts' must be at least 1", extras={"max_attempts": 0}),
    "breaker-zero": refused("wooxy", "'breaker_failures' must be at least 1", extras={"breaker_failures": 0}),
    "verify-missing-bundle": refused(
        "migma", "CA bundle that does not exist", extras={"verify": "/nonexistent/ca-bundle.pem"}
    ),
    "extra-not-json": refused("autosend", NOT_JSON_EXTRA, fields={"extra": "{requests_per_second: 1"}),
    "extra-json-array": refused("migma", NOT_JSON_EXTRA, fields={"extra": "[1, 2]"}),
    "autosend-rate-above-documented": refused(
        "autosend", "documents 2 requests per second", extras={"requests_per_second": 3}
    ),
    "autosend-rate-off": refused(
        "autosend", "'requests_per_second' must be more than 0", extras={"requests_per_second": 0}
    ),
    "autosend-rate-lifted": refused(
        "autosend", "a setting may lower it, never lift it", extras={"requests_per_second": 10}
    ),
    "rate-negative": refused(
        "migma", "'requests_per_second' must be more than 0", extras={"requests_per_second": -1}
    ),
    "port-ignored-with-a-scheme": refused("wooxy", "the port field (8443) is ignored", fields={"port": 8443}),
    "host-port-not-a-number": refused(
        "wooxy", "host must be a base URL", fields={"host": "http://127.0.0.1:notaport/wooxy/v3"}
    ),
    "webhook-not-a-url": refused(
        "wooxy", "webhook_uri must be an absolute", options={"webhook_uri": "not a url"}
    ),
    "webhook-ftp": refused(
        "wooxy", "webhook_uri must be an absolute", options={"webhook_uri": "ftp://hooks.example/x"}
    ),
    "webhook-with-space": refused(
        "wooxy", "webhook_uri must be an absolute", options={"webhook_uri": "https://hooks.example/a b"}
    ),
    # List ids: refused when they would change the path (they used to be percent-encoded and sent) ---
    "autosend-list-slash": refused("autosend", "list_id must not contain", list_id="L1/../L2"),
    "autosend-list-query": refused("autosend", "list_id must not contain", list_id="L1?all=1"),
    "autosend-list-fragment": refused("autosend", "list_id must not contain", list_id="L1#x"),
    "autosend-list-dotdot": refused("autosend", "list_id must not contain", list_id=".."),
    "autosend-global-lower-case": refused("autosend", "GLOBAL_CONTACT_LIST", list_id="global_contact_list"),
    "autosend-global-mixed-case": refused("autosend", "GLOBAL_CONTACT_LIST", list_id=" Global_Contact_List "),
    "wooxy-list-slash": refused("wooxy", "list_id must not contain", list_id="L1/x"),
    "wooxy-list-query": refused("wooxy", "list_id must not contain", list_id="L1?x"),
    "wooxy-list-dotdot": refused("wooxy", "list_id must not contain", list_id="a..b"),
    "wooxy-list-trimmed": Row("wooxy", list_id="  L1 \t", outcome={"accepted": 3}),
    # Answers that say no batch of the run can succeed: stops_run ------------------------------------
    "autosend-key-refused": stopped("autosend", "HTTP 401", fields={"password": "wrong-key"}),
    "wooxy-key-refused": stopped("wooxy", "Invalid authorization token", fields={"password": "wrong-key"}),
    "bird-key-refused": stopped("bird", "HTTP 401", fields={"password": "wrong-key"}),
    "migma-key-refused": stopped("migma", "HTTP 401", fields={"password": "wrong-key"}),
    "autosend-list-not-found": stopped("autosend", "HTTP 404", list_id="NO-SUCH-LIST"),
    "wooxy-list-not-found-with-200": stopped("wooxy", "not found", list_id="NO-SUCH-LIST"),
    "bird-list-not-found": stopped("bird", "HTTP 404", list_id="0b0d7e8c-8d5f-4f38-9d3a-3d3c7f0e9a11"),
    "migma-project-forbidden": stopped("migma", "HTTP 403", extras={"project_id": "NO-SUCH-PROJECT"}),
    "base-url-not-the-api": stopped(
        "migma", "HTTP 404", fields={"host": "http://127.0.0.1:{port}/migma/nope"}
    ),
    # Transient answers: retried within bounds, and the breaker -----------------------------------------
    "endless-5xx": Row(
        "migma",
        faults={"rate_5xx": 1.0},
        error="gave up after transient failures",
        retryable=True,
        stops_run=False,
        requests=6,
    ),
    "endless-5xx-breaker": stopped(
        "bird",
        "circuit breaker open after 3 transient failures",
        requests=3,
        extras={"breaker_failures": 3},
        faults={"rate_5xx": 1.0},
        retryable=True,
    ),
    "5xx-retry-after-past-date": Row(
        "migma",
        faults={"rate_5xx": 1.0, "retry_after_header": PAST},
        error="gave up",
        retryable=True,
        requests=6,
        waits=lambda w: len(w) == 5 and all(wait >= 0.25 for wait in w),
    ),
    "429-retry-after-zero": Row(
        "wooxy",
        faults={"rate_429": 1.0, "retry_after": 0},
        extras={"max_attempts": 3},
        error="gave up",
        retryable=True,
        requests=3,
        waits=lambda w: len(w) >= 2 and all(wait > 0 for wait in w),
    ),
    "429-retry-after-huge": stopped(
        "migma",
        "asked to wait 100000 s",
        faults={"rate_429": 1.0, "retry_after": 100000},
        retryable=True,
        waits=lambda w: w == [],
    ),
    "503-retry-after-beyond-max-retry-time": stopped(
        "autosend",
        "longer than what is left of max_retry_time",
        extras={"max_retry_after": 100000, "max_retry_time": 60},
        faults={"rate_5xx": 1.0, "retry_after_header": "3600"},
        retryable=True,
        waits=lambda w: w == [],
    ),
    "hang-past-read-timeout": Row(
        "migma",
        extras={"read_timeout": 0.3, "max_attempts": 2},
        faults={"hang_ms": 1500},
        error="timed out",
        retryable=True,
        stops_run=False,
        requests=2,
    ),
    # Vendor error texts that quote identifiers: taken out of the error ------------------------------
    "wooxy-echoes-user-id": Row(
        "wooxy",
        faults={"echo_identifiers": True},
        batch={"user_ids": [USER]},
        error="no data found for key <id>",
        stops_run=False,
        retryable=False,
    ),
    "wooxy-echoes-email": Row(
        "wooxy",
        faults={"echo_identifiers": True},
        batch={"emails": [A]},
        error="no data found for key <email>",
        stops_run=False,
    ),
    "migma-echoes-email": Row(
        "migma", faults={"echo_identifiers": True}, error="Invalid email: <email>", stops_run=False
    ),
    "autosend-echoes-email": Row(
        "autosend", faults={"echo_identifiers": True}, error="Invalid value <email>", stops_run=False
    ),
    "bird-echoes-email": Row(
        "bird",
        faults={"echo_identifiers": True},
        error="identifier <email> cannot be processed",
        stops_run=False,
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_hostile_settings_and_answers_have_a_clear_outcome(row: Row, sandbox, connect, recording_sleep):
    sandbox.seed({row.vendor: SEED[row.vendor]})
    if row.faults:
        sandbox.set_faults(vendors=[row.vendor], **row.faults)
    fields = {
        name: value.format(port=sandbox.port) if isinstance(value, str) and "{port}" in value else value
        for name, value in row.fields.items()
    }
    conn_id = connect(row.vendor, fields=fields, **row.extras)
    operation, default_list, default_batch = DEFAULT_CALL[row.vendor]
    list_id = default_list if row.list_id == "default" else row.list_id
    batch = row.batch or default_batch

    def send():
        # The hook is built inside: a connection Airflow itself cannot read is refused right here.
        hook = get_removal_hook(conn_id, sleep=recording_sleep)
        hook.check_request(operation, list(batch), list_id=list_id, options=row.options)
        return hook.remove_batch(operation, batch, list_id=list_id, **row.options)

    if row.error is None:
        outcome = send()
        for name, value in row.outcome.items():
            assert getattr(outcome, name) == value, (name, outcome)
    else:
        with pytest.raises(row.error_type, match=re.escape(row.error)) as caught:
            send()
        error = caught.value
        assert not any(secret in str(error) for secret in SECRETS), str(error)
        if row.stops_run is not None:
            assert error.stops_run is row.stops_run, str(error)
        if row.retryable is not None:
            assert error.retryable is row.retryable, str(error)
    wait_until_idle(sandbox, timeout=30)  # a request is logged when the sandbox is done with it
    assert sandbox.stats().get(row.vendor, {}).get("requests", 0) == row.requests
    if row.waits is not None:
        assert row.waits(recording_sleep.waits), recording_sleep.waits


# Rows the sandbox cannot play: requests-mock -----------------------------------------------------------
MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"


@dataclass(frozen=True)
class MockRow:
    answer: dict[str, Any]
    error: str
    stops_run: bool
    retryable: bool = False
    requests: int = 1


MOCK_ROWS = {
    "tls-certificate-does-not-verify": MockRow(
        {"exc": requests.exceptions.SSLError("certificate verify failed")}, "TLS failed", stops_run=True
    ),
    "tls-protocol-error": MockRow(
        {"exc": requests.exceptions.SSLError("wrong version number")}, "TLS failed", stops_run=True
    ),
    "redirect-to-another-host": MockRow(
        {"status_code": 302, "headers": {"Location": "https://elsewhere.example/"}},
        "HTTP 302",
        stops_run=True,
    ),
    "invalid-header-from-the-stack": MockRow(
        {"exc": requests.exceptions.InvalidHeader("bad header")},
        "request failed (InvalidHeader)",
        stops_run=True,
    ),
    "migma-not-found-names-emails-never-sent": MockRow(
        {"json": {"success": True, "data": {"deleted": 1, "notFound": ["never.sent@example.com"]}}},
        "notFound names emails that were not sent",
        stops_run=False,
    ),
    "migma-invalid-email-echoed-on-400": MockRow(
        {"status_code": 400, "json": {"success": False, "error": f"Invalid email: {A}", "code": "BAD"}},
        "Invalid email: <email>",
        stops_run=False,
    ),
}


@pytest.mark.parametrize("row", list(MOCK_ROWS.values()), ids=list(MOCK_ROWS))
def test_hostile_answers_the_sandbox_cannot_play(row: MockRow, monkeypatch, recording_sleep):
    from tests.conftest import set_connection

    set_connection(
        monkeypatch, "hostile_mock_migma", conn_type="migma", password="k" * 20, extra={"project_id": "P1"}
    )
    hook = get_removal_hook("hostile_mock_migma", sleep=recording_sleep)
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, **row.answer)
        with pytest.raises(VendorAPIError, match=re.escape(row.error)) as caught:
            hook.remove_batch("remove_contacts", {"emails": [A, B]})

    assert m.call_count == row.requests
    assert (caught.value.stops_run, caught.value.retryable) == (row.stops_run, row.retryable)
    assert not any(secret in str(caught.value) for secret in SECRETS)
    assert recording_sleep.waits == []  # nothing was retried
