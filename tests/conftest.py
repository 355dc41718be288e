"""Test settings shared by the whole suite.

Airflow reads its configuration at import time, so a throwaway AIRFLOW_HOME is set here, before any
test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="acr-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# dag.test() runs DAGs that live in a DAG bundle: the in-process DAG tests keep theirs here.
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "dags"))

import pytest


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields) -> None:
    """Define an Airflow connection for one test through an ``AIRFLOW_CONN_<ID>`` variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@pytest.fixture
def no_sleep():
    """A sleep that records the requested waits instead of waiting."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    sleep.waits = waits
    return sleep


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite in the throwaway AIRFLOW_HOME), migrated once per run."""
    from airflow.utils import db

    db.initdb()
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture(autouse=True)
def checkpoint_folder(tmp_path, monkeypatch):
    """Each test gets its own checkpoint folder, so no test resumes from another's checkpoint."""
    from airflow_contact_removal.operators import remove

    folder = tmp_path / "checkpoints"
    monkeypatch.setattr(remove, "default_checkpoint_folder", lambda: str(folder))
    return folder
