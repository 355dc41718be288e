"""Constants and helpers shared by the integration tests."""

from __future__ import annotations

import time

from airflow_contact_removal.sandbox import SandboxServer
from airflow_contact_removal.sandbox.faults import FaultConfig, FaultInjector

WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
BIRD_LIST = "123e4567-e89b-12d3-a456-426614174000"
PROJECT = "P1"

#: Extras every connection of a vendor needs: Bird its workspace, Migma its project. (AutoSend's
#: documented 2 requests/second can no longer be switched off by an extra: the integration ``make_hook``
#: replaces its limiter for the tests that count waits.)
DEFAULT_EXTRAS = {
    "autosend": {},
    "wooxy": {},
    "bird": {"workspace_id": WORKSPACE},
    "migma": {"project_id": PROJECT},
}


def wait_until_idle(sandbox: SandboxServer, timeout: float = 10.0) -> None:
    """Wait (polling, briefly) until the sandbox has no vendor request in flight."""
    deadline = time.monotonic() + timeout
    while any(sandbox.stats()["in_flight"].values()):
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox still has requests in flight")
        time.sleep(0.02)


def fault_seed(vendor: str, fault: str, leading: int, **settings) -> int:
    """
    A fault seed whose first ``leading`` requests to ``vendor`` get ``fault`` and the next none.

    Computed with the sandbox's own :class:`FaultInjector`, so the tests stay exact if its generator
    changes.
    """
    for seed in range(100_000):
        injector = FaultInjector(FaultConfig(seed=seed, **settings))
        decisions = [injector.decide(vendor) for _ in range(leading + 1)]
        if all(d.fault == fault for d in decisions[:leading]) and decisions[leading].fault is None:
            return seed
    raise AssertionError(f"no seed gives {leading} leading {fault} faults")


def generated_id(answer: dict, i: int) -> str:
    """
    The id of generated contact ``i`` of a ``sandbox.generate(...)`` answer.

    The sandbox computes generated ids from the range's tag and the index (24 hex characters, or a
    UUID for Bird) and shows the first and last; this rebuilds the others the same way.
    """
    first = answer["first"]["id"]
    tag = first[:8]
    if "-" in first:
        return f"{tag}-0000-4000-8000-{i:012x}"
    return f"{tag}{i:016x}"
