"""Fixtures of the hostile tests: one vendor sandbox, connections to it, a fake task context.

Every test gets the sandbox empty (``reset()``, faults off) and drained of abandoned requests
afterwards; hooks and the operators' hooks are built with a sleep that records waits instead of
waiting.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

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
    """The session's sandbox, empty and faults off; drained of abandoned requests after the test."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    hostile_sandbox_server.reset()
    yield hostile_sandbox_server
    hostile_sandbox_server.set_faults(trickle_ms=0, hang_ms=0, latency_ms=0)
    wait_until_idle(hostile_sandbox_server, timeout=30)


@pytest.fixture
def connect(sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """
    ``connect("wooxy", read_timeout=1)``: a fresh connection id to the sandbox's vendor, with extras.

    ``password=`` sets the key; ``fields=`` replaces connection fields after the fact
    (``{"extra": "{not json"}``, ``{"port": 1}``, ``{"host": ...}``).
    """

    def connect(
        vendor: str, fields: dict[str, Any] | None = None, *, password: str | None = None, **extras
    ) -> str:
        conn_id = f"hostile_{vendor}_{next(_conn_ids)}"
        connection = json.loads(sandbox.connection_uri(vendor, **{**DEFAULT_EXTRAS[vendor], **extras}))
        if password is not None:
            connection["password"] = password
        connection.update(fields or {})
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return connect


@pytest.fixture
def recording_sleep(monkeypatch: pytest.MonkeyPatch) -> RecordingSleep:
    """Hooks wait for nothing (back-off, Retry-After) and record what they were asked; the operators'
    hooks too."""
    from airflow_contact_removal.hooks import get_removal_hook
    from airflow_contact_removal.operators import remove

    sleep = RecordingSleep()
    monkeypatch.setattr(remove, "get_removal_hook", lambda conn_id: get_removal_hook(conn_id, sleep=sleep))
    return sleep


@pytest.fixture
def ti() -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="hostile", run_id="manual__hostile", task_id="remove")
