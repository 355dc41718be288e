"""Seeding, the generator, inspection, the request log's privacy and the SandboxServer API."""

from __future__ import annotations

import json
import logging
import socket
import statistics
import threading
import time

import pytest
import requests

from airflow_contact_removal.sandbox import SandboxServer, create_app
from airflow_contact_removal.sandbox.server import HostError, bind_socket, make_server

from .helpers import BIRD_LIST, BIRD_WS, auth_headers


def test_seed_from_file_and_endpoint(tmp_path, http):
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(
        json.dumps({"keys": {"migma": "file-key"}, "migma": {"projects": {"P1": ["a@x.com"]}}})
    )
    with SandboxServer(seed=seed_file) as server:
        assert server.api_key("migma") == "file-key"
        assert server.state("migma")["migma"]["projects"] == {"P1": 1}
        report = server.seed({"migma": {"projects": {"P1": ["A@x.com", "b@x.com"]}}})
        assert report == {"migma": {"projects": {"P1": 1}}}  # a@x.com existed already (case-insensitive)
        response = http.post(
            server.base_url("migma") + "/v1/contacts/bulk-delete",
            json={"emails": ["a@x.com", "b@x.com"], "projectId": "P1"},
            headers={"Authorization": "Bearer file-key"},
        )
        assert response.json()["data"]["deleted"] == 2


def test_invalid_seed_changes_nothing(sandbox):
    document = {"migma": {"projects": {"P1": ["a@x.com"]}}, "wooxy": {"lists": {"L1": [{"phone": "0612"}]}}}
    with pytest.raises(ValueError, match="400"):
        sandbox.seed(document)
    with pytest.raises(ValueError, match="400"):
        sandbox.seed({"autosend": {"lists": {"L1": ["0" * 24]}}})  # unknown contact id
    with pytest.raises(ValueError, match="400"):
        sandbox.seed({"mailchimp": {}})
    assert sandbox.state("migma")["migma"]["projects"] == {}
    assert sandbox.state("autosend")["autosend"]["lists"] == {}


def test_state_detail(sandbox):
    sandbox.seed(
        {
            "autosend": {"contacts": ["a@x.com"], "lists": {"L1": ["a@x.com"]}},
            "migma": {"projects": {"P1": ["a@x.com"]}},
        }
    )
    autosend = sandbox.state("autosend", detail=True)["autosend"]
    contact = autosend["detail"]["contacts"][0]
    assert contact["email"] == "a@x.com"
    assert autosend["detail"]["lists"] == {"L1": [contact["id"]]}
    assert sandbox.state("migma", detail=True)["migma"]["detail"] == {"projects": {"P1": ["a@x.com"]}}
    assert set(sandbox.state()) == {"autosend", "wooxy", "bird", "migma"}


def test_generate_a_million_migma_contacts(sandbox, http):
    started = time.perf_counter()
    report = sandbox.generate(vendor="migma", project="P1", count=1_000_000, pattern="user{i}@example.com")
    assert time.perf_counter() - started < 3
    assert report["first"] == "user0@example.com" and report["last"] == "user999999@example.com"
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 1_000_000}
    response = http.post(
        sandbox.base_url("migma") + "/v1/contacts/bulk-delete",
        json={
            "emails": ["user0@example.com", "USER999999@example.com", "user1000000@example.com"],
            "projectId": "P1",
        },
        headers=auth_headers(sandbox, "migma"),
    )
    assert response.json()["data"] == {"deleted": 2, "notFound": ["user1000000@example.com"]}
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 999_998}
    # seeding a deleted generated contact again brings it back
    sandbox.seed({"migma": {"projects": {"P1": ["user0@example.com"]}}})
    assert sandbox.state("migma")["migma"]["projects"] == {"P1": 999_999}
    with pytest.raises(ValueError, match="overlaps"):
        sandbox.generate(vendor="migma", project="P1", count=10, start=5, pattern="user{i}@example.com")


def test_generate_for_the_other_vendors(sandbox, http):
    autosend = sandbox.generate(vendor="autosend", count=100_000, pattern="a{i}@x.com", list="L1")
    wooxy = sandbox.generate(
        vendor="wooxy",
        list="L1",
        count=100_000,
        pattern="w{i}@x.com",
        phone_pattern="+3160{i:07d}",
        user_id_pattern="u{i}",
    )
    bird = sandbox.generate(
        vendor="bird",
        workspace=BIRD_WS,
        list=BIRD_LIST,
        count=100_000,
        pattern="b{i}@x.com",
        phone_pattern="+3161{i:07d}",
    )
    assert wooxy["last"]["phone"] == "+31600099999"
    assert bird["first"]["phonenumber"] == "+31610000000"

    as_response = http.post(
        f"{sandbox.base_url('autosend')}/contact-lists/L1/contacts/remove",
        json={"contactIds": [autosend["first"]["id"], autosend["last"]["id"]]},
        headers=auth_headers(sandbox, "autosend"),
    )
    assert as_response.json()["data"] == {"removed": 2, "notInList": 0, "errors": []}
    as_delete = http.post(
        sandbox.base_url("autosend") + "/contacts/remove",
        json={"emails": ["a5@x.com"]},
        headers=auth_headers(sandbox, "autosend"),
    )
    assert as_delete.status_code == 200
    assert sandbox.state("autosend")["autosend"] == {"contacts": 99_999, "lists": {"L1": 99_997}}

    wooxy_response = http.post(
        sandbox.base_url("wooxy") + "/contacts/remove",
        json={
            "contactListId": "L1",
            "phoneNumbers": ["+31600000007"],
            "userIds": ["u8"],
            "emails": ["w9@x.com"],
        },
        headers=auth_headers(sandbox, "wooxy"),
    )
    request_id = wooxy_response.json()["requestId"]
    found = http.post(
        sandbox.base_url("wooxy") + "/request/find",
        json={"ids": [request_id]},
        headers=auth_headers(sandbox, "wooxy"),
    ).json()
    success = found["requests"][request_id]["results"]["success"]
    assert [s["userId"] for s in success] == ["u9", "u7", "u8"]  # emails, then phones, then user ids
    assert sandbox.state("wooxy")["wooxy"]["lists"] == {"L1": 99_997}

    bird_response = http.delete(
        f"{sandbox.base_url('bird')}/workspaces/{BIRD_WS}/lists/{BIRD_LIST}/contacts",
        json={
            "contacts": [bird["first"]["id"]],
            "identifiers": [{"key": "phonenumber", "value": "+31610000001"}],
        },
        headers=auth_headers(sandbox, "bird"),
    )
    assert bird_response.json() == {"itemsProcessed": 2}
    workspace = sandbox.state("bird")["bird"]["workspaces"][BIRD_WS]
    assert workspace == {"contacts": 100_000, "lists": {BIRD_LIST: 99_998}}


def test_generator_validation(sandbox):
    for spec in (
        {"vendor": "migma", "project": "P1", "count": 10, "pattern": "no-placeholder@x.com"},
        {"vendor": "migma", "project": "P1", "count": -1, "pattern": "u{i}@x.com"},
        {"vendor": "bird", "workspace": "nope", "list": BIRD_LIST, "count": 1, "pattern": "u{i}@x.com"},
        {"vendor": "wooxy", "list": "L1", "count": 1},
        {"vendor": "nobody", "count": 1},
    ):
        with pytest.raises(ValueError, match="400"):
            sandbox.generate(**spec)


def run_traffic(sandbox, http):
    """Successful and failing calls to every vendor, with identifiers and keys in the bodies."""
    sandbox.seed(
        {
            "autosend": {"contacts": ["secret.person@x.com"], "lists": {"L1": ["secret.person@x.com"]}},
            "wooxy": {
                "lists": {
                    "L1": [{"email": "secret.person@x.com", "phone": "+31611112222", "userId": "uid-777"}]
                }
            },
            "bird": {
                "workspaces": {
                    BIRD_WS: {"contacts": [{"emailaddress": "secret.person@x.com"}], "lists": {BIRD_LIST: []}}
                }
            },
            "migma": {"projects": {"P1": ["secret.person@x.com"]}},
        }
    )
    email = "secret.person@x.com"
    calls = [
        ("autosend", "POST", "/contacts/remove", {"emails": [email]}),
        ("autosend", "POST", f"/contact-lists/{email}/contacts/remove", {"emails": [email]}),
        (
            "wooxy",
            "POST",
            "/contacts/remove",
            {"contactListId": "L1", "phoneNumbers": ["+31611112222"], "userIds": ["uid-777"]},
        ),
        ("wooxy", "POST", "/contacts/remove", {"contactListId": "L1", "emails": [email] * 101}),
        (
            "bird",
            "DELETE",
            f"/workspaces/{BIRD_WS}/lists/{BIRD_LIST}/contacts",
            {"identifiers": [{"key": "emailaddress", "value": email}]},
        ),
        (
            "bird",
            "POST",
            f"/workspaces/{BIRD_WS}/lists/{BIRD_LIST}/contacts",
            {"identifiers": [{"key": "emailaddress", "value": email}]},
        ),
        ("migma", "POST", "/v1/contacts/bulk-delete", {"emails": [email], "projectId": "P1"}),
    ]
    for vendor, method, path, body in calls:
        for headers in (
            auth_headers(sandbox, vendor),
            {"Authorization": "Bearer not-the-key", "Access-Token": "not-the-key"},
        ):
            http.request(method, sandbox.base_url(vendor) + path, json=body, headers=headers)
    sandbox.set_faults(rate_drop=1.0, vendors=["migma"])
    with pytest.raises(requests.ConnectionError):
        http.post(
            sandbox.base_url("migma") + "/v1/contacts/bulk-delete",
            json={"emails": [email], "projectId": "P1"},
            headers=auth_headers(sandbox, "migma"),
        )


def test_request_log_and_stats_hold_no_key_or_identifier(sandbox, http, caplog):
    caplog.set_level(logging.DEBUG)
    run_traffic(sandbox, http)
    log = sandbox.requests_log()
    assert len(log) == 15
    assert set(log[0]) == {
        "vendor",
        "method",
        "path",
        "batch_size",
        "status",
        "started",
        "duration_ms",
        "in_flight",
        "fault",
    }
    server_logs = [r for r in caplog.records if not r.name.startswith("urllib3")]  # urllib3 is the client
    dumped = json.dumps([log, sandbox.stats(), sandbox.state()]) + "".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in server_logs
    )
    for secret in (
        "secret.person",
        "+31611112222",
        "uid-777",
        "not-the-key",
        "sandbox-",
        "Bearer",
        "AccessKey",
    ):
        assert secret not in dumped
    assert any(entry["path"] == "/autosend/v1/contact-lists/<redacted>/contacts/remove" for entry in log)
    assert max(entry["batch_size"] or 0 for entry in log) == 101


def test_stats_and_clearing(sandbox, http):
    run_traffic(sandbox, http)
    stats = sandbox.stats()
    assert stats["bird"]["limit_violations"] == {"bird_post_adds_contacts": 2}
    assert stats["wooxy"]["limit_violations"] == {"batch_over_limit": 1}
    assert stats["wooxy"]["by_status"] == {"200": 1, "400": 1, "401": 2}
    assert stats["migma"]["by_status"]["dropped"] == 1 and stats["migma"]["faults"] == {"drop": 1}
    assert stats["wooxy"]["max_batch_size"] == 101 and stats["autosend"]["max_in_flight"] == 1
    assert stats["in_flight"] == {"autosend": 0, "wooxy": 0, "bird": 0, "migma": 0}
    sandbox.clear_requests()
    assert sandbox.requests_log() == []
    assert sandbox.stats()["migma"]["requests"] == 0


def test_reset_empties_everything(sandbox, http):
    sandbox.seed({"migma": {"projects": {"P1": ["a@x.com"]}}, "keys": {"bird": "changed"}})
    sandbox.set_faults(latency_ms=1)
    sandbox.set_options(wooxy_processing_delay=5)
    sandbox.advance_clock(100)
    sandbox.reset()
    assert sandbox.state()["migma"] == {"projects": {}, "idempotency_keys": 0}
    assert sandbox.api_key("bird") == "sandbox-bird-key"
    assert sandbox.faults()["latency_ms"] == 0
    assert sandbox._call("GET", "/_sandbox/options")["wooxy_processing_delay"] == 0.0
    assert sandbox._call("GET", "/_sandbox/clock")["offset_seconds"] == 0


def test_server_api(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.base_url("autosend") == sandbox.url + "/autosend/v1"
    assert sandbox.base_url("wooxy") == sandbox.url + "/wooxy/v3"
    assert sandbox.base_url("bird") == sandbox.url + "/bird"
    assert sandbox.base_url("migma") == sandbox.url + "/migma"
    assert sandbox.api_key("wooxy") == "sandbox-wooxy-key"
    assert json.loads(sandbox.connection_uri("migma", project_id="P1")) == {
        "conn_type": "migma",
        "host": sandbox.url + "/migma",
        "password": "sandbox-migma-key",
        "extra": {"project_id": "P1"},
    }
    assert json.loads(sandbox.connection_uri("bird", workspace_id=BIRD_WS))["extra"] == {
        "workspace_id": BIRD_WS
    }
    with pytest.raises(ValueError):
        sandbox.base_url("mailchimp")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", ""])
def test_only_loopback_hosts(host):
    with pytest.raises(HostError, match="loopback"):
        SandboxServer(host=host)


def test_ipv6_loopback_and_stop():
    try:
        server = SandboxServer(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert server.url.startswith("http://[::1]:")
        assert server.state()["migma"]["projects"] == {}
    finally:
        server.stop()


def test_round_trip_is_about_a_millisecond(sandbox, http):
    sandbox.seed({"migma": {"projects": {"P1": []}}})
    url = sandbox.base_url("migma") + "/v1/contacts/bulk-delete"
    headers = auth_headers(sandbox, "migma")
    durations = []
    for _ in range(60):
        started = time.perf_counter()
        http.post(url, json={"emails": ["a@x.com"], "projectId": "P1"}, headers=headers)
        durations.append(time.perf_counter() - started)
    # Nagle + delayed ACK would show up as ~40 ms; loopback should be ~1 ms (loose bound for slow CI)
    assert statistics.median(durations) < 0.015


def test_server_picks_uvloop_and_httptools_and_logs_no_access_lines():
    """Both come with Airflow's uvicorn[standard]; "auto" must pick them: each saves server time per request."""
    uvloop = pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    config = make_server(create_app()).config
    assert config.access_log is False
    loop = config.get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"


def test_listening_socket_disables_nagle_on_the_plain_asyncio_loop(http):
    """Without uvloop, asyncio sets TCP_NODELAY only when the socket's proto is TCP: check both."""
    sock = bind_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    app = create_app(seed={"migma": {"projects": {"P1": []}}})
    server = make_server(app, loop="asyncio")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.005)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/migma/v1/contacts/bulk-delete"
        durations = []
        for _ in range(30):
            started = time.perf_counter()
            http.post(
                url,
                json={"emails": ["a@x.com"], "projectId": "P1"},
                headers={"Authorization": "Bearer sandbox-migma-key"},
            )
            durations.append(time.perf_counter() - started)
        assert statistics.median(durations) < 0.015
    finally:
        server.should_exit = True
        thread.join(10)


def test_handler_crash_answers_vendor_shaped_500_and_logs_no_identifier(sandbox, http, monkeypatch, caplog):
    sandbox.seed({"migma": {"projects": {"P1": ["crash.person@x.com"]}}})

    def crash(roster, emails):
        raise RuntimeError(f"cannot delete {emails[0]}")

    monkeypatch.setattr(sandbox._sandbox.stores["migma"], "delete", crash)
    caplog.set_level(logging.DEBUG, logger="airflow_contact_removal")
    response = http.post(
        sandbox.base_url("migma") + "/v1/contacts/bulk-delete",
        json={"emails": ["crash.person@x.com"], "projectId": "P1"},
        headers=auth_headers(sandbox, "migma"),
    )
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "RuntimeError in a migma handler" in caplog.text
    assert "crash.person" not in caplog.text
