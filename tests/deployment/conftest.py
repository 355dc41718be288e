"""One real Airflow deployment (see ``harness.py``) for the whole module, stopped even on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.harness import AirflowDeployment

DAGS = Path(__file__).parent / "dags"
CONNECTIONS = {"wooxy_main": ("wooxy", {}), "autosend_main": ("autosend", {})}


@pytest.fixture(scope="session")
def deployment() -> Iterator[AirflowDeployment]:
    airflow = AirflowDeployment(
        DAGS, parallelism=8, connections=CONNECTIONS, sandbox_args=["--autosend-rate-limit", "2"]
    )
    with airflow:
        airflow.create_pools(*CONNECTIONS)
        yield airflow
    airflow.cleanup()


@pytest.fixture
def airflow(deployment: AirflowDeployment) -> AirflowDeployment:
    """The deployment, with an empty sandbox (state, faults, options, counters as at start)."""
    deployment.sandbox.reset()
    return deployment
