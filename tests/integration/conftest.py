"""Fixtures for the integration tests: the hooks over real HTTP against one local vendor sandbox.

One :class:`SandboxServer` serves the whole session; every test gets it empty (``reset()``: state,
faults, options and request log as at start). Connections are ``AIRFLOW_CONN_<ID>`` variables built
from :meth:`SandboxServer.connection_uri`, each under a fresh id so no Airflow connection cache can
hand a test another test's extras.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import pytest

from airflow_contact_removal.hooks import ContactRemovalHook, get_removal_hook
from airflow_contact_removal.hooks.rate_limit import RateLimiter
from airflow_contact_removal.sandbox import SandboxServer
from tests.integration.helpers import DEFAULT_EXTRAS, wait_until_idle

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_conn_ids = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    # AutoSend's rate limit is off here (reset() keeps it off); the test of the default rate turns it on.
    with SandboxServer(autosend_rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox, empty, faults off; drained of late requests after the test."""
    sandbox_server.reset()
    yield sandbox_server
    # A request the client gave up on (slow answer past the read timeout) may still be sleeping in the
    # server: let it finish so it does not land in the next test's state or request log.
    wait_until_idle(sandbox_server)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks' sessions read proxies from the environment: loopback calls must never use one."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def connect(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """
    Define a connection to the sandbox and return its id.

    ``connect("bird", max_attempts=3)`` gives a Bird connection with the right key, the sandbox's base
    URL, the vendor's required extras and ``max_attempts=3``; ``password=`` replaces the key,
    ``drop=("workspace_id",)`` leaves default extras out.
    """

    def connect(vendor: str, *, password: str | None = None, drop: tuple[str, ...] = (), **extras) -> str:
        conn_id = f"it_{vendor}_{next(_conn_ids)}"
        merged = {
            key: value for key, value in {**DEFAULT_EXTRAS[vendor], **extras}.items() if key not in drop
        }
        connection = json.loads(sandbox.connection_uri(vendor, **merged))
        if password is not None:
            connection["password"] = password
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return connect


@pytest.fixture
def make_hook(connect: Callable[..., str], no_sleep) -> Callable[..., ContactRemovalHook]:
    """A vendor's hook on a fresh sandbox connection, through ``get_removal_hook``, waits recorded."""

    def make_hook(vendor: str, *, sleep=None, **connection) -> ContactRemovalHook:
        hook = get_removal_hook(connect(vendor, **connection), sleep=sleep or no_sleep)
        if vendor == "autosend" and "requests_per_second" not in connection:
            # The session's sandbox runs without AutoSend's 2/s, and these tests count the retry waits
            # they record: the client's limiter keeps its 429 hold but spaces nothing (what the extra
            # requests_per_second: 0 did before issue 12 made a setting that lifts the limit an error).
            hook.rate_limiter = RateLimiter(None, sleep=sleep or no_sleep)
        return hook

    return make_hook
