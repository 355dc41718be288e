"""The API key never shows: not in logs (at DEBUG), errors, reprs, outcomes or pickled errors."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import pprint
import traceback
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import requests_mock
from structlog.testing import capture_logs

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks import AutoSendHook, BirdHook, MigmaHook, WooxyHook, get_removal_hook
from airflow_contact_removal.hooks.base import ContactRemovalHook
from tests.conftest import set_connection

KEY = "sk-live-DO-NOT-LEAK-123456789"
WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
LIST_ID = "123e4567-e89b-12d3-a456-426614174000"


@dataclass(frozen=True)
class Vendor:
    hook_class: type[ContactRemovalHook]
    method: str
    url: str
    success: Any
    operation: str
    batch: dict
    list_id: str | None
    extra: dict
    #: a 401 answer in the vendor's error shape that echoes the key back, as Wooxy documents it does
    unauthorized: Any
    #: a batch the hook refuses before sending
    refused_batch: dict


VENDORS = {
    "autosend": Vendor(
        AutoSendHook,
        "POST",
        "https://api.autosend.com/v1/contacts/remove",
        {"success": True},
        "remove_contacts",
        {"emails": ["a@example.com"]},
        None,
        {},
        {"success": False, "error": {"code": "UNAUTHORIZED", "message": f"Invalid API key: Bearer {KEY}"}},
        {"emails": []},
    ),
    "wooxy": Vendor(
        WooxyHook,
        "POST",
        "https://api.wooxy.com/v3/contacts/remove",
        {"result": True, "requestId": "r-1"},
        "remove_from_list",
        {"emails": ["a@example.com"]},
        "LIST-1",
        {},
        {"result": False, "errors": [f"no matches found for access token {KEY}"]},
        {"emails": [f"u{i}@example.com" for i in range(101)]},
    ),
    "bird": Vendor(
        BirdHook,
        "DELETE",
        f"https://api.bird.com/workspaces/{WORKSPACE}/lists/{LIST_ID}/contacts",
        {"itemsProcessed": 1},
        "remove_from_list",
        {"emails": ["a@example.com"]},
        LIST_ID,
        {"workspace_id": WORKSPACE},
        {"code": "Unauthorized", "message": f"access key {KEY} is not valid"},
        {"contact_ids": ["not-a-uuid"]},
    ),
    "migma": Vendor(
        MigmaHook,
        "POST",
        "https://api.migma.ai/v1/contacts/bulk-delete",
        {"success": True, "data": {"deleted": 1, "notFound": []}},
        "remove_contacts",
        {"emails": ["a@example.com"]},
        None,
        {"project_id": "P1"},
        {"success": False, "error": f"Invalid API key {KEY}", "code": "UNAUTHORIZED"},
        {"emails": [f"u{i}@example.com" for i in range(1001)]},
    ),
}
all_vendors = pytest.mark.parametrize("vendor", list(VENDORS.values()), ids=list(VENDORS))


@pytest.fixture
def m(requests_mock):
    return requests_mock


@pytest.fixture
def debug_logs(monkeypatch, caplog):
    """Every logger at DEBUG: stdlib records through caplog, the hooks' structlog events captured raw."""
    from airflow._shared.logging import structlog as core_structlog
    from airflow.sdk._shared.logging import structlog as sdk_structlog

    for module in (core_structlog, sdk_structlog):
        monkeypatch.setitem(module.PER_LOGGER_LEVELS, "", logging.DEBUG)
    for name in ("", "airflow", "airflow.task", "airflow_contact_removal", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    # Captured before any processor runs, so Airflow's own secret masking cannot hide a leak here.
    with capture_logs() as events:
        yield events


class Evidence:
    """Everything a key could leak into, rendered as text."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        self.texts.append((where, text if isinstance(text, str) else repr(text)))

    def add_exception(self, where: str, exc: BaseException) -> None:
        self.add(f"{where} str", str(exc))
        self.add(f"{where} repr", repr(exc))
        self.add(f"{where} args", exc.args)
        self.add(f"{where} vars", vars(exc))
        self.add(f"{where} traceback", "".join(traceback.format_exception(exc)))
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is type(exc)
        assert str(copy) == str(exc)
        self.add(f"{where} unpickled", (str(copy), repr(copy), vars(copy)))

    def add_hook(self, where: str, hook: ContactRemovalHook) -> None:
        self.add(f"{where} repr(hook)", repr(hook))
        self.add(f"{where} str(hook)", str(hook))
        self.add(f"{where} vars(hook)", pprint.pformat(vars(hook)))
        self.add(f"{where} vars(hook) values", [repr(value) for value in vars(hook).values()])
        try:
            self.add(f"{where} settings", repr(hook.settings))
        except ContactRemovalConfigError as exc:
            self.add_exception(f"{where} settings", exc)

    def add_logs(self, events, caplog, capfd) -> None:
        for event in events:
            self.add("structlog event", event)
        for record in caplog.records:
            self.add(f"log record {record.name}", (record.getMessage(), record.args, record.exc_text))
        out, err = capfd.readouterr()
        self.add("stdout", out)
        self.add("stderr", err)

    def assert_no_key(self) -> None:
        leaks = [where for where, text in self.texts if KEY in text]
        assert leaks == [], f"the API key leaked into: {leaks}"
        assert self.texts  # something was actually inspected


def connect(monkeypatch, vendor: Vendor, conn_id: str, **fields) -> None:
    fields.setdefault("password", KEY)
    extra = {**vendor.extra, "max_attempts": 2, **fields.pop("extra", {})}
    set_connection(monkeypatch, conn_id, conn_type=vendor.hook_class.conn_type, extra=extra, **fields)


def send(hook: ContactRemovalHook, vendor: Vendor, batch: dict | None = None):
    return hook.remove_batch(vendor.operation, batch or vendor.batch, list_id=vendor.list_id)


@all_vendors
def test_key_never_leaks_through_success_errors_retries_timeouts_or_config_errors(
    m, monkeypatch, no_sleep, debug_logs, caplog, capfd, vendor
):
    evidence = Evidence()
    connect(monkeypatch, vendor, "secret_conn")
    hook = vendor.hook_class("secret_conn", sleep=no_sleep)

    # Success.
    m.register_uri(vendor.method, vendor.url, json=vendor.success)
    outcome = send(hook, vendor)
    evidence.add("BatchOutcome", outcome)
    evidence.add("BatchOutcome asdict", dataclasses.asdict(outcome))
    assert m.last_request.headers  # the key was really sent, in the header
    assert KEY in str(m.last_request.headers)

    # 401 whose message echoes the key back.
    m.register_uri(vendor.method, vendor.url, status_code=401, json=vendor.unauthorized)
    with pytest.raises(VendorAPIError) as unauthorized:
        send(hook, vendor)
    assert unauthorized.value.status_code == 401
    evidence.add_exception("401", unauthorized.value)

    # 503 until retries run out.
    m.register_uri(vendor.method, vendor.url, status_code=503, json=vendor.unauthorized)
    with pytest.raises(VendorAPIError) as unavailable:
        send(hook, vendor)
    assert (unavailable.value.status_code, unavailable.value.attempts) == (503, 2)
    evidence.add_exception("503", unavailable.value)

    # Timeouts until retries run out.
    m.register_uri(
        vendor.method, vendor.url, exc=requests.exceptions.ReadTimeout(f"timed out, headers {KEY}")
    )
    with pytest.raises(VendorAPIError) as timed_out:
        send(hook, vendor)
    assert timed_out.value.status_code is None
    evidence.add_exception("timeout", timed_out.value)

    # A batch refused before sending.
    with pytest.raises(ContactRemovalConfigError) as refused:
        send(hook, vendor, vendor.refused_batch)
    evidence.add_exception("refused batch", refused.value)

    # The connection test, whatever it does.
    m.register_uri(requests_mock.ANY, requests_mock.ANY, status_code=401, json=vendor.unauthorized)
    evidence.add("test_connection", hook.test_connection())

    evidence.add_hook("after use", hook)
    evidence.add_logs(debug_logs, caplog, capfd)
    evidence.assert_no_key()
    assert any("HTTP 503" in str(event) for event in debug_logs)  # DEBUG/WARNING hook logs were seen


@all_vendors
@pytest.mark.parametrize(
    "fields",
    [
        {"host": "http://api.example.com"},
        {"host": f"https://user:{KEY}@api.example.com"},
        {"extra": {"max_attempts": "lots"}},
        {"conn_type": "http"},
        {"password": f"{KEY}\nsecond-line"},
        {"password": f"{KEY} {KEY}"},
    ],
    ids=["http-host", "credentials-in-host", "bad-extra", "wrong-type", "key-with-newline", "key-with-space"],
)
def test_key_never_leaks_from_config_errors(
    m, monkeypatch, no_sleep, debug_logs, caplog, capfd, vendor, fields
):
    evidence = Evidence()
    fields = dict(fields)
    conn_type = fields.pop("conn_type", vendor.hook_class.conn_type)
    fields.setdefault("password", KEY)
    set_connection(
        monkeypatch,
        "secret_config",
        conn_type=conn_type,
        extra={**vendor.extra, **fields.pop("extra", {})},
        **fields,
    )
    hook = vendor.hook_class("secret_config", sleep=no_sleep)
    m.register_uri(requests_mock.ANY, requests_mock.ANY, json=vendor.success)

    with pytest.raises(ContactRemovalConfigError) as refused:
        send(hook, vendor)
    evidence.add_exception("config error", refused.value)
    ok, message = hook.test_connection()
    assert ok is False
    evidence.add("test_connection", message)

    assert m.call_count == 0
    evidence.add_hook("after config error", hook)
    evidence.add_logs(debug_logs, caplog, capfd)
    evidence.assert_no_key()


def test_key_never_leaks_through_get_removal_hook_errors(m, monkeypatch, debug_logs, caplog, capfd):
    evidence = Evidence()
    set_connection(monkeypatch, "secret_unknown", conn_type="sendgrid", password=KEY)

    with pytest.raises(ContactRemovalConfigError) as refused:
        get_removal_hook("secret_unknown")

    evidence.add_exception("unknown type", refused.value)
    evidence.add_logs(debug_logs, caplog, capfd)
    evidence.assert_no_key()


@all_vendors
def test_key_is_never_sent_to_a_host_a_redirect_points_at(m, monkeypatch, no_sleep, vendor):
    connect(monkeypatch, vendor, "secret_redirect")
    hook = vendor.hook_class("secret_redirect", sleep=no_sleep)
    m.register_uri(
        vendor.method, vendor.url, status_code=307, headers={"Location": "http://collector.example.net/steal"}
    )
    m.register_uri(requests_mock.ANY, "http://collector.example.net/steal", json=vendor.success)

    with pytest.raises(VendorAPIError):
        send(hook, vendor)

    assert not any(request.hostname == "collector.example.net" for request in m.request_history)


@all_vendors
def test_hook_and_settings_reprs_hide_the_key_even_before_use(monkeypatch, no_sleep, vendor):
    connect(monkeypatch, vendor, "secret_repr")
    hook = vendor.hook_class("secret_repr", sleep=no_sleep)
    hook.settings  # noqa: B018 - load the connection and settings
    hook.auth_headers  # noqa: B018

    evidence = Evidence()
    evidence.add_hook("loaded", hook)
    evidence.assert_no_key()
    assert repr(hook) == f"{vendor.hook_class.__name__}(conn_id='secret_repr')"
