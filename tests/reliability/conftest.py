"""Fixtures of the reliability tests.

* ``vendor_connections`` and ``context``: the four vendors' default connections and a fake task
  context, shared with ``tests/operators``; ``broken_connections`` (autouse) adds the broken
  connections the bad-input table needs;
* ``recording_sleep`` / ``no_real_sleep``: a thread-safe sleep that records waits, injected into the hook
  the operators build, so no test ever really waits for a back-off or ``Retry-After``;
* ``sandbox`` / ``connect``: one local vendor sandbox for the module-level integration tests, each test
  getting it empty, with connections built from :meth:`SandboxServer.connection_uri`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import set_connection
from tests.integration.helpers import DEFAULT_EXTRAS, wait_until_idle
from tests.operators.conftest import KEY, WORKSPACE, context, vendor_connections

__all__ = ["context", "vendor_connections"]  # fixtures shared with tests/operators

BUCKETS = ("removed", "not_found", "accepted", "invalid", "duplicates", "failed", "planned")
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_conn_ids = itertools.count(1)


def assert_accounted(summary) -> None:
    """``requested == removed + not_found + accepted + invalid + duplicates + failed + planned``."""
    values = summary if isinstance(summary, dict) else summary.to_dict()
    assert values["requested"] == sum(values[bucket] for bucket in BUCKETS), values


class RecordingSleep:
    """A sleep that waits for nothing and records what it was asked for (safe across sender threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(float(seconds))


@pytest.fixture
def recording_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def no_real_sleep(monkeypatch: pytest.MonkeyPatch, recording_sleep: RecordingSleep) -> RecordingSleep:
    """Make the operators build their hook with :class:`RecordingSleep` (they take no ``sleep`` argument)."""
    from airflow_contact_removal.hooks import get_removal_hook
    from airflow_contact_removal.operators import remove

    monkeypatch.setattr(
        remove, "get_removal_hook", lambda conn_id: get_removal_hook(conn_id, sleep=recording_sleep)
    )
    return recording_sleep


@pytest.fixture(autouse=True)
def broken_connections(vendor_connections, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default connections (from ``tests/operators``), plus the broken ones of the bad-input table."""
    # Broken connections of the bad-input table.
    set_connection(monkeypatch, "http_default", conn_type="http", host="example.com", password=KEY)
    set_connection(monkeypatch, "migma_no_key", conn_type="migma", extra={"project_id": "P1"})
    set_connection(
        monkeypatch, "migma_blank_key", conn_type="migma", password="   ", extra={"project_id": "P1"}
    )
    set_connection(
        monkeypatch,
        "migma_plain_http",
        conn_type="migma",
        password=KEY,
        host="http://api.migma.example",
        extra={"project_id": "P1"},
    )
    for name, workspace in {
        "bird_ws_slash": f"{WORKSPACE}/../other",
        "bird_ws_dotdot": "..",
        "bird_ws_query": f"{WORKSPACE}?x=1",
        "bird_ws_space": "my workspace",
    }.items():
        set_connection(monkeypatch, name, conn_type="bird", password=KEY, extra={"workspace_id": workspace})


# The sandbox, for the integration tests ---------------------------------------------------------------
@pytest.fixture(scope="session")
def reliability_sandbox_server():
    from airflow_contact_removal.sandbox import SandboxServer

    with SandboxServer(autosend_rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(reliability_sandbox_server, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The session's sandbox, empty and faults off; drained of late (abandoned) requests after the test."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reliability_sandbox_server.reset()
    yield reliability_sandbox_server
    wait_until_idle(reliability_sandbox_server)


@pytest.fixture
def connect(sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``connect("bird", read_timeout=0.3)``: a fresh connection id to the sandbox's Bird, with extras."""

    def connect(vendor: str, **extras) -> str:
        conn_id = f"rel_{vendor}_{next(_conn_ids)}"
        connection = json.loads(sandbox.connection_uri(vendor, **{**DEFAULT_EXTRAS[vendor], **extras}))
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return connect
