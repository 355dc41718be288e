"""The shared base hook: connection checks, base URLs, transport settings, redirects, connection tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests
import requests_mock

from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks import (
    HOOKS_BY_CONN_TYPE,
    AutoSendHook,
    BirdHook,
    MigmaHook,
    WooxyHook,
    get_removal_hook,
)
from airflow_contact_removal.hooks.base import USER_AGENT, ContactRemovalHook, is_loopback, path_segment
from tests.conftest import set_connection

KEY = "base-key-123456789"
WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
LIST_ID = "123e4567-e89b-12d3-a456-426614174000"


@dataclass(frozen=True)
class Vendor:
    hook_class: type[ContactRemovalHook]
    default_base_url: str
    method: str
    path: str
    success: Any
    call: Any
    extra: dict

    def connect(self, monkeypatch, conn_id: str, **fields) -> None:
        fields.setdefault("password", KEY)
        fields.setdefault("extra", self.extra)
        set_connection(monkeypatch, conn_id, conn_type=self.hook_class.conn_type, **fields)


VENDORS = {
    "autosend": Vendor(
        AutoSendHook,
        "https://api.autosend.com/v1",
        "POST",
        "/contacts/remove",
        {"success": True},
        lambda hook: hook.remove_contacts(["a@example.com"]),
        {},
    ),
    "wooxy": Vendor(
        WooxyHook,
        "https://api.wooxy.com/v3",
        "POST",
        "/contacts/remove",
        {"result": True, "requestId": "r-1"},
        lambda hook: hook.remove_from_list("LIST-1", emails=["a@example.com"]),
        {},
    ),
    "bird": Vendor(
        BirdHook,
        "https://api.bird.com",
        "DELETE",
        f"/workspaces/{WORKSPACE}/lists/{LIST_ID}/contacts",
        {"itemsProcessed": 1},
        lambda hook: hook.remove_from_list(
            LIST_ID, identifiers=[{"key": "emailaddress", "value": "a@example.com"}]
        ),
        {"workspace_id": WORKSPACE},
    ),
    "migma": Vendor(
        MigmaHook,
        "https://api.migma.ai",
        "POST",
        "/v1/contacts/bulk-delete",
        {"success": True, "data": {"deleted": 1, "notFound": []}},
        lambda hook: hook.bulk_delete(["a@example.com"]),
        {"project_id": "P1"},
    ),
}
all_vendors = pytest.mark.parametrize("vendor", list(VENDORS.values()), ids=list(VENDORS))
head_probe_vendors = pytest.mark.parametrize(
    "vendor", [VENDORS[name] for name in ("autosend", "bird", "migma")], ids=["autosend", "bird", "migma"]
)


@pytest.fixture
def m(requests_mock):
    return requests_mock


def hook_for(vendor: Vendor, monkeypatch, no_sleep, conn_id="base_conn", **fields) -> ContactRemovalHook:
    vendor.connect(monkeypatch, conn_id, **fields)
    return vendor.hook_class(conn_id, sleep=no_sleep)


# Base URLs -----------------------------------------------------------------------------------------
@all_vendors
def test_default_base_url_and_request_headers(m, monkeypatch, no_sleep, vendor):
    hook = hook_for(vendor, monkeypatch, no_sleep)
    m.register_uri(vendor.method, vendor.default_base_url + vendor.path, json=vendor.success)

    vendor.call(hook)

    request = m.request_history[0]
    assert hook.settings.base_url == vendor.default_base_url
    assert request.method == vendor.method
    assert request.url == vendor.default_base_url + vendor.path
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"


@all_vendors
@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("http://127.0.0.1:8787/v1", "http://127.0.0.1:8787/v1"),
        ("http://127.0.0.1:8787/v1/", "http://127.0.0.1:8787/v1"),
        ("http://localhost:8787", "http://localhost:8787"),
        ("http://[::1]:8787/api", "http://[::1]:8787/api"),
        ("https://eu.api.example.com/v2", "https://eu.api.example.com/v2"),
    ],
    ids=["ipv4-loopback", "trailing-slash", "localhost", "ipv6-loopback", "https-elsewhere"],
)
def test_host_override_replaces_the_base_url(m, monkeypatch, no_sleep, vendor, host, base_url):
    hook = hook_for(vendor, monkeypatch, no_sleep, host=host)
    m.register_uri(vendor.method, base_url + vendor.path, json=vendor.success)

    vendor.call(hook)

    assert hook.settings.base_url == base_url
    assert m.request_history[0].url == base_url + vendor.path


def test_host_without_scheme_gets_https_and_the_port(monkeypatch, no_sleep):
    hook = hook_for(VENDORS["migma"], monkeypatch, no_sleep, host="api.example.com", port=8443)

    assert hook.settings.base_url == "https://api.example.com:8443"


@all_vendors
@pytest.mark.parametrize(
    ("host", "match"),
    [
        ("http://api.example.com", "plain http:// is only allowed to a loopback host"),
        ("http://127.0.0.1.example.com", "plain http:// is only allowed to a loopback host"),
        ("http://localhost.example.com", "plain http:// is only allowed to a loopback host"),
        ("http://10.0.0.5:8080", "plain http:// is only allowed to a loopback host"),
        ("ftp://api.example.com", "host must be a base URL"),
        ("https://user:pw@api.example.com", "must not carry credentials"),
        ("https://api.example.com/v1?token=1", "must not carry credentials, a query or a fragment"),
        ("https://api.example.com/v1#x", "must not carry credentials, a query or a fragment"),
    ],
)
def test_unsafe_base_urls_are_refused_before_any_request(m, monkeypatch, no_sleep, vendor, host, match):
    hook = hook_for(vendor, monkeypatch, no_sleep, host=host)

    with pytest.raises(ContactRemovalConfigError, match=match):
        vendor.call(hook)
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("hostname", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("api.example.com", False),
        ("10.0.0.1", False),
        ("127.0.0.1.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(hostname, loopback):
    assert is_loopback(hostname) is loopback


# Key and connection type ---------------------------------------------------------------------------
@all_vendors
@pytest.mark.parametrize("password", [None, "", "   "], ids=["no-password", "empty", "blank"])
def test_missing_key_is_refused_before_any_request(m, monkeypatch, no_sleep, vendor, password):
    hook = hook_for(vendor, monkeypatch, no_sleep, password=password)

    with pytest.raises(ContactRemovalConfigError, match="has no API key"):
        vendor.call(hook)
    assert m.call_count == 0


@all_vendors
def test_key_surrounding_whitespace_is_trimmed(m, monkeypatch, no_sleep, vendor):
    hook = hook_for(vendor, monkeypatch, no_sleep, password=f"  {KEY}\n")
    m.register_uri(vendor.method, vendor.default_base_url + vendor.path, json=vendor.success)

    vendor.call(hook)

    sent = hook.auth_headers(KEY)
    assert {name: m.request_history[0].headers[name] for name in sent} == sent


@pytest.mark.parametrize(
    ("vendor", "other_type"),
    [
        pytest.param(vendor, other_type, id=f"{name}-given-{other_type}")
        for name, vendor in VENDORS.items()
        for other_type in ("http", "autosend", "wooxy", "bird", "migma")
        if other_type != name
    ],
)
def test_connection_of_another_type_is_refused_before_any_request(
    m, monkeypatch, no_sleep, vendor, other_type
):
    set_connection(monkeypatch, "wrong_type", conn_type=other_type, password=KEY, extra=vendor.extra)
    hook = vendor.hook_class("wrong_type", sleep=no_sleep)

    with pytest.raises(ContactRemovalConfigError, match=f"has type '{other_type}'"):
        vendor.call(hook)
    assert m.call_count == 0


@pytest.mark.parametrize("conn_type", ["autosend", "wooxy", "bird", "migma"])
def test_get_removal_hook_picks_the_hook_by_connection_type(monkeypatch, no_sleep, conn_type):
    set_connection(monkeypatch, "by_type", conn_type=conn_type, password=KEY)

    hook = get_removal_hook("by_type", sleep=no_sleep)

    assert type(hook) is HOOKS_BY_CONN_TYPE[conn_type]
    assert hook.conn_id == "by_type"


def test_hooks_by_conn_type_covers_the_four_vendors():
    expected = {"autosend": AutoSendHook, "wooxy": WooxyHook, "bird": BirdHook, "migma": MigmaHook}
    assert expected == HOOKS_BY_CONN_TYPE


@pytest.mark.parametrize("conn_type", ["http", "sendgrid", "generic"])
def test_get_removal_hook_refuses_an_unknown_connection_type(m, monkeypatch, conn_type):
    set_connection(monkeypatch, "unknown_type", conn_type=conn_type, password=KEY)

    with pytest.raises(
        ContactRemovalConfigError, match=f"has type '{conn_type}'.*autosend, bird, migma, wooxy"
    ):
        get_removal_hook("unknown_type")
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("hook_class", "conn_id"),
    [
        (AutoSendHook, "autosend_default"),
        (WooxyHook, "wooxy_default"),
        (BirdHook, "bird_default"),
        (MigmaHook, "migma_default"),
    ],
)
def test_default_connection_ids(hook_class, conn_id):
    assert hook_class().conn_id == conn_id
    assert hook_class.default_conn_name == conn_id


# Extras --------------------------------------------------------------------------------------------
def test_transport_defaults(monkeypatch, no_sleep):
    settings = hook_for(VENDORS["migma"], monkeypatch, no_sleep).settings

    assert (settings.connect_timeout, settings.read_timeout) == (10.0, 60.0)
    assert (settings.max_attempts, settings.max_retry_time, settings.max_retry_after) == (6, 300.0, 120.0)
    assert settings.requests_per_second is None
    assert settings.verify is True


def test_extras_override_transport_settings_including_ui_prefixed_keys(monkeypatch, no_sleep, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    extra = {
        "project_id": "P1",
        "timeout": 5,
        "read_timeout": "30",
        "extra__migma__max_attempts": "3",
        "max_retry_time": 45,
        "max_retry_after": 9,
        "requests_per_second": 1.5,
        "verify": str(bundle),
        "connect_timeout": "",  # empty UI fields are ignored
    }
    settings = hook_for(VENDORS["migma"], monkeypatch, no_sleep, extra=extra).settings

    assert settings.connect_timeout == 5.0
    assert settings.read_timeout == 30.0
    assert settings.max_attempts == 3
    assert (settings.max_retry_time, settings.max_retry_after) == (45.0, 9.0)
    assert settings.requests_per_second == 1.5
    assert settings.verify == str(bundle)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"max_attempts": "many"}, "'max_attempts' must be a number"),
        ({"max_attempts": 0}, "'max_attempts' must be at least 1"),
        ({"read_timeout": -1}, "'read_timeout' must be more than 0"),
        ({"requests_per_second": [2]}, "'requests_per_second' must be a number"),
        ({"verify": 3}, "'verify' must be true, false or a CA bundle path"),
    ],
)
def test_bad_extras_are_refused_before_any_request(m, monkeypatch, no_sleep, extra, match):
    hook = hook_for(VENDORS["migma"], monkeypatch, no_sleep, extra={"project_id": "P1", **extra})

    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.bulk_delete(["a@example.com"])
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("value", "verify"), [(True, True), ("true", True), (False, False), ("False", False)]
)
def test_verify_extra(monkeypatch, no_sleep, value, verify):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    hook = hook_for(VENDORS["migma"], monkeypatch, no_sleep, extra={"project_id": "P1", "verify": value})

    assert hook.settings.verify is verify
    assert hook.session.verify is verify


def test_ca_bundle_and_proxy_environment_are_still_honoured(m, monkeypatch, no_sleep):
    """The session reads them once instead of per request, but every request uses them."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    vendor = VENDORS["migma"]
    hook = hook_for(vendor, monkeypatch, no_sleep, extra={"project_id": "P1"})
    m.register_uri(vendor.method, vendor.default_base_url + vendor.path, json=vendor.success)

    vendor.call(hook)

    assert m.last_request.verify == "/etc/corp/ca.pem"
    assert m.last_request.proxies["https"] == "http://proxy.corp:3128"
    assert hook.session.trust_env is False


def test_an_explicit_ca_bundle_extra_wins_over_the_environment(monkeypatch, no_sleep, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    hook = hook_for(
        VENDORS["migma"], monkeypatch, no_sleep, extra={"project_id": "P1", "verify": str(bundle)}
    )

    assert hook.session.verify == str(bundle)


def test_session_pool_fits_the_vendor_concurrency(monkeypatch, no_sleep):
    hook = hook_for(VENDORS["wooxy"], monkeypatch, no_sleep)

    adapter = hook.session.get_adapter("https://api.wooxy.com/v3")
    assert adapter._pool_maxsize == WooxyHook.max_in_flight
    assert adapter.max_retries.total == 0  # retries are the hook's, never urllib3's


# Redirects -----------------------------------------------------------------------------------------
@all_vendors
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(m, monkeypatch, no_sleep, vendor, status):
    hook = hook_for(vendor, monkeypatch, no_sleep)
    m.register_uri(
        vendor.method,
        vendor.default_base_url + vendor.path,
        status_code=status,
        headers={"Location": "https://elsewhere.example.com/collect"},
    )
    m.register_uri(requests_mock.ANY, "https://elsewhere.example.com/collect", json=vendor.success)

    with pytest.raises(VendorAPIError) as caught:
        vendor.call(hook)

    assert caught.value.status_code == status
    assert caught.value.retryable is False
    assert [request.hostname for request in m.request_history] == [
        requests.utils.urlparse(vendor.default_base_url).hostname
    ]


# path_segment --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("abc", "abc"),
        ("a%b", "a%25b"),
        ("a b", "a%20b"),
        (".hidden", ".hidden"),
    ],
)
def test_path_segment_encodes_everything_that_could_leave_the_segment(value, segment):
    assert path_segment(value, "list_id") == segment


@pytest.mark.parametrize("value", [".", "..", "...", "a/b", "a?b", "a#b", "a\\b", "a\nb", "", "  ", None, 5])
def test_path_segment_refuses_dot_segments_and_non_strings(value):
    # Issue 12: "/", "?", "#" and ".." inside a value were percent-encoded and sent; now refused.
    with pytest.raises(ContactRemovalConfigError, match="list_id"):
        path_segment(value, "list_id")


# check_request -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vendor", "operation", "kinds", "match"),
    [
        (VENDORS["wooxy"], "remove_contacts", ["emails"], "has no 'remove_contacts' operation"),
        (VENDORS["bird"], "remove_contacts", ["emails"], "has no 'remove_contacts' operation"),
        (VENDORS["migma"], "remove_from_list", ["emails"], "has no 'remove_from_list' operation"),
        (VENDORS["autosend"], "remove_contacts", ["contact_ids"], "does not take contact_ids"),
        (VENDORS["migma"], "remove_contacts", ["phone_numbers"], "does not take phone_numbers"),
    ],
)
def test_check_request_refuses_what_a_vendor_does_not_offer(
    m, monkeypatch, no_sleep, vendor, operation, kinds, match
):
    hook = hook_for(vendor, monkeypatch, no_sleep)

    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.check_request(operation, kinds, list_id=LIST_ID)
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("vendor", "operation", "kinds", "list_id", "options", "extra", "match"),
    [
        (
            VENDORS["autosend"],
            "remove_from_list",
            ["emails"],
            "GLOBAL_CONTACT_LIST",
            None,
            None,
            "GLOBAL_CONTACT_LIST",
        ),
        (VENDORS["autosend"], "remove_from_list", ["emails"], "..", None, None, "must not contain"),
        (VENDORS["autosend"], "remove_from_list", ["emails"], None, None, None, "needs a list_id"),
        (VENDORS["bird"], "remove_from_list", ["emails"], "not-a-uuid", None, None, "list_id must be a UUID"),
        (VENDORS["bird"], "remove_from_list", ["emails"], LIST_ID, None, {}, "workspace_id"),
        (
            VENDORS["bird"],
            "remove_from_list",
            ["emails"],
            LIST_ID,
            {"webhook_uri": "https://x"},
            None,
            "webhook_uri",
        ),
        (VENDORS["wooxy"], "remove_from_list", ["emails"], "", None, None, "needs a list_id"),
        (VENDORS["migma"], "remove_contacts", ["emails"], None, None, {}, "project_id"),
    ],
    ids=[
        "autosend-global-list",
        "autosend-dot-dot",
        "autosend-no-list",
        "bird-list-not-uuid",
        "bird-no-workspace",
        "bird-webhook-option",
        "wooxy-no-list",
        "migma-no-project",
    ],
)
def test_check_request_applies_each_vendors_rules_before_any_request(
    m, monkeypatch, no_sleep, vendor, operation, kinds, list_id, options, extra, match
):
    fields = {} if extra is None else {"extra": extra}
    hook = hook_for(vendor, monkeypatch, no_sleep, **fields)

    with pytest.raises(ContactRemovalConfigError, match=match):
        hook.check_request(operation, kinds, list_id=list_id, options=options)
    assert m.call_count == 0


@pytest.mark.parametrize(
    ("vendor", "operation", "kinds", "list_id", "options"),
    [
        (VENDORS["autosend"], "remove_contacts", ["emails"], None, None),
        (VENDORS["autosend"], "remove_from_list", ["contact_ids"], "list with odd%chars", None),
        (
            VENDORS["wooxy"],
            "remove_from_list",
            ["emails", "phone_numbers", "user_ids"],
            "L1",
            {"webhook_uri": "https://x"},
        ),
        (VENDORS["bird"], "remove_from_list", ["contact_ids", "emails", "phone_numbers"], LIST_ID, None),
        (VENDORS["migma"], "remove_contacts", ["emails"], None, None),
    ],
    ids=["autosend-account", "autosend-list", "wooxy", "bird", "migma"],
)
def test_check_request_accepts_what_each_vendor_offers(
    m, monkeypatch, no_sleep, vendor, operation, kinds, list_id, options
):
    hook = hook_for(vendor, monkeypatch, no_sleep)

    hook.check_request(operation, kinds, list_id=list_id, options=options)

    assert m.call_count == 0


# test_connection -----------------------------------------------------------------------------------
@head_probe_vendors
def test_connection_makes_one_unauthenticated_head_and_says_the_key_was_not_verified(
    m, monkeypatch, no_sleep, vendor
):
    hook = hook_for(vendor, monkeypatch, no_sleep)
    m.head(vendor.default_base_url, status_code=403)

    result = hook.test_connection()

    assert isinstance(result, tuple)
    ok, message = result
    assert ok is True
    assert f"base URL {vendor.default_base_url}" in message
    assert "HTTP 403 to an unauthenticated HEAD" in message
    assert "key not verified" in message
    assert [request.method for request in m.request_history] == ["HEAD"]
    head = m.request_history[0]
    assert head.url.rstrip("/") == vendor.default_base_url
    assert "Authorization" not in head.headers
    assert KEY not in str(head.headers)


@head_probe_vendors
def test_connection_probe_honours_the_host_override(m, monkeypatch, no_sleep, vendor):
    hook = hook_for(vendor, monkeypatch, no_sleep, host="http://127.0.0.1:8787/v1")
    m.head("http://127.0.0.1:8787/v1", status_code=200)

    ok, _ = hook.test_connection()

    assert ok is True
    assert m.request_history[0].url == "http://127.0.0.1:8787/v1"


@head_probe_vendors
def test_connection_reports_an_unreachable_host(m, monkeypatch, no_sleep, vendor):
    hook = hook_for(vendor, monkeypatch, no_sleep)
    m.head(vendor.default_base_url, exc=requests.exceptions.ConnectionError)

    ok, message = hook.test_connection()

    assert ok is False
    assert f"could not reach {vendor.default_base_url}" in message
    assert all(request.method == "HEAD" for request in m.request_history)


@all_vendors
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"password": None}, "no API key"),
        ({"host": "http://api.example.com"}, "plain http://"),
        ({"extra_override": {"max_attempts": "x"}}, "must be a number"),
    ],
    ids=["no-key", "http-host", "bad-extra"],
)
def test_connection_config_problems_return_false_without_a_request(
    m, monkeypatch, no_sleep, vendor, fields, match
):
    fields = dict(fields)
    if "extra_override" in fields:
        fields["extra"] = {**vendor.extra, **fields.pop("extra_override")}
    hook = hook_for(vendor, monkeypatch, no_sleep, **fields)

    ok, message = hook.test_connection()

    assert ok is False
    assert match in message
    assert m.call_count == 0


@all_vendors
def test_connection_never_sends_a_removal(m, monkeypatch, no_sleep, vendor):
    hook = hook_for(vendor, monkeypatch, no_sleep)
    m.register_uri(requests_mock.ANY, requests_mock.ANY, json={"result": True, "requests": {}, "errors": []})

    hook.test_connection()

    assert m.call_count == 1
    for request in m.request_history:
        assert request.method != "DELETE"
        assert not request.path.endswith(("/contacts/remove", "/contacts", "/bulk-delete"))
