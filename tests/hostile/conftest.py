"""Fixtures of the hostile-input tests: one vendor sandbox, connections to it, a fake task context.

Every test gets the sandbox empty (``reset()``) and drained of abandoned requests afterwards; the
operators build their hooks with a sleep that records waits instead of waiting.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import pytest

from tests.integration.helpers import DEFAULT_EXTRAS, wait_until_idle
from tests.operators.conftest import FakeTaskInstance
from tests.reliability.conftest import RecordingSleep

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_conn_ids = itertools.count(1)


@pytest.fixture(scope="session")
def hostile_sandbox_server():
    from airflow_contact_removal.sandbox import SandboxServer

    with SandboxServer(autosend_rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(hostile_sandbox_server, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    hostile_sandbox_server.reset()
    yield hostile_sandbox_server
    wait_until_idle(hostile_sandbox_server, timeout=30)


@pytest.fixture
def connect(sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``connect("migma", password="wrong", read_timeout=1)``: a fresh connection id to the sandbox."""

    def connect(vendor: str, *, password: str | None = None, **extras) -> str:
        conn_id = f"hostile_{vendor}_{next(_conn_ids)}"
        connection = json.loads(sandbox.connection_uri(vendor, **{**DEFAULT_EXTRAS[vendor], **extras}))
        if password is not None:
            connection["password"] = password
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return connect


@pytest.fixture
def recording_sleep(monkeypatch: pytest.MonkeyPatch) -> RecordingSleep:
    """The operators' hooks wait for nothing (back-off, Retry-After) and record what they were asked."""
    from airflow_contact_removal.hooks import get_removal_hook
    from airflow_contact_removal.operators import remove

    sleep = RecordingSleep()
    monkeypatch.setattr(remove, "get_removal_hook", lambda conn_id: get_removal_hook(conn_id, sleep=sleep))
    return sleep


@pytest.fixture
def ti() -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="hostile", run_id="manual__hostile", task_id="remove")
