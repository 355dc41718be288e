"""Fixtures for the vendor sandbox tests: one server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from airflow_contact_removal.sandbox import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    # AutoSend's 2 requests/second limit is switched off here; its own test switches it on.
    with SandboxServer(autosend_rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never route loopback calls through a proxy from the environment
    yield session
    session.close()
