"""The sandbox over TLS: the hooks verify it against its own CA, and refuse it without that CA."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from airflow_contact_removal.exceptions import VendorAPIError
from airflow_contact_removal.hooks import MigmaHook, WooxyHook
from airflow_contact_removal.operators import RemoveContactsOperator
from airflow_contact_removal.sandbox import SandboxClient, SandboxServer
from tests.operators.conftest import FakeTaskInstance

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_sandbox():
    with SandboxServer(tls=True) as sandbox:
        yield sandbox


def test_tls_sandbox_serves_https_and_the_hook_verifies_it_with_the_verify_extra(tls_sandbox, monkeypatch):
    tls_sandbox.reset()
    tls_sandbox.seed({"migma": {"projects": {"P1": ["a@x.com", "b@x.com"]}}})
    assert tls_sandbox.url.startswith("https://127.0.0.1:")
    uri = tls_sandbox.connection_uri("migma", project_id="P1")
    assert json.loads(uri)["extra"]["verify"] == tls_sandbox.tls.ca_path
    monkeypatch.setenv("AIRFLOW_CONN_MIGMA_TLS", uri)
    ti = FakeTaskInstance()
    summary = RemoveContactsOperator(
        task_id="remove", conn_id="migma_tls", emails=["A@x.com", "b@x.com", "c@x.com"], checkpoint=False
    ).execute({"ti": ti, "run_id": ti.run_id})
    assert (summary["removed"], summary["not_found"], summary["failed"]) == (2, 1, 0)
    assert tls_sandbox.state("migma")["migma"]["projects"]["P1"] == 0  # the control API over TLS too


def test_without_the_sandbox_ca_the_hook_refuses_the_certificate_at_once(tls_sandbox, monkeypatch):
    tls_sandbox.reset()
    tls_sandbox.seed({"migma": {"projects": {"P1": ["a@x.com"]}}})
    connection = json.loads(tls_sandbox.connection_uri("migma", project_id="P1"))
    del connection["extra"]["verify"]  # the system's CA bundle: it has never heard of this CA
    monkeypatch.setenv("AIRFLOW_CONN_MIGMA_NO_CA", json.dumps(connection))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(VendorAPIError, match="certificate verification failed") as raised:
        MigmaHook("migma_no_ca").bulk_delete(["a@x.com"])
    assert raised.value.attempts == 1 and not raised.value.retryable  # no retry can cure it
    assert tls_sandbox.state("migma")["migma"]["projects"]["P1"] == 1  # nothing was removed
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_sandbox.url + "/_sandbox/health", timeout=10)


def test_a_ca_of_another_sandbox_is_refused_too(tls_sandbox, monkeypatch, tmp_path):
    with SandboxServer(tls=True, tls_dir=tmp_path / "other") as other:
        connection = json.loads(tls_sandbox.connection_uri("wooxy"))
        connection["extra"]["verify"] = other.tls.ca_path
        monkeypatch.setenv("AIRFLOW_CONN_WOOXY_WRONG_CA", json.dumps(connection))
        with pytest.raises(VendorAPIError, match="certificate verification failed"):
            WooxyHook("wooxy_wrong_ca").remove_from_list("L1", emails=["a@x.com"])


def test_cli_tls_prints_the_ca_and_serves_https(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_contact_removal.sandbox", "--port", "0", "--tls-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    try:
        assert lines, "the sandbox CLI printed nothing within 30 s"
        match = re.fullmatch(
            r"sandbox listening on (https://127\.0\.0\.1:\d+) \(CA certificate: (.+)\)\n", lines[0]
        )
        assert match, lines[0]
        url, ca_path = match.groups()
        assert ca_path == str(tmp_path / "ca.pem")
        client = SandboxClient(url, ca_path=ca_path)
        assert client.faults()["latency_ms"] == 0
        assert requests.get(url + "/_sandbox/health", verify=ca_path, timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url + "/_sandbox/health", timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert process.returncode == 0
