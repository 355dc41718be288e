"""Fixtures for the Wooxy completion tests: a sandbox whose clock the tests move, and a fake task instance."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from airflow_contact_removal.sandbox import SandboxServer
from tests.conftest import set_connection
from tests.operators.conftest import FakeTaskInstance

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_conn_ids = itertools.count(1)


@pytest.fixture
def context():
    ti = FakeTaskInstance(task_id="wait")
    return {"ti": ti, "run_id": ti.run_id}


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    # Removals are processed after an hour of the sandbox's clock: the tests move the clock.
    with SandboxServer(wooxy_processing_delay=3600) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def sandbox_conn(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``wooxy`` connection to the sandbox, under a fresh id (no connection cache can interfere)."""
    conn_id = f"wx_sandbox_{next(_conn_ids)}"
    set_connection(
        monkeypatch,
        conn_id,
        conn_type="wooxy",
        host=sandbox.base_url("wooxy"),
        password=sandbox.api_key("wooxy"),
        extra={"max_attempts": 2},
    )
    return conn_id
