"""Security on a real run: ``airflow dags test`` at DEBUG, then every log line and the metadata DB is searched.

Airflow's in-process test supervisor (used only by ``dag.test()`` / ``airflow dags test``, not by a
deployed worker) logs every message a task sends it at DEBUG, unredacted: the ``MaskSecret`` message
by which the Task SDK registers a connection's password with the secrets masker, ``SetXCom``
messages with their values, and ``SetRenderedFields`` with the rendered template fields (both when sending and when receiving). Those lines are Airflow's own;
this test checks that they are the *only*
lines carrying a key or an identifier, so any leak of ours fails it.
"""

from __future__ import annotations

import re
import shutil
import sqlite3

import pytest

from airflow_contact_removal.sandbox import SandboxServer
from scripts import demo, demo_data

pytestmark = pytest.mark.e2e

KEYS = [f"sandbox-{vendor}-key" for vendor in ("autosend", "wooxy", "bird", "migma")]
IDENTIFIER = re.compile(
    r"[\w.+-]+@example\.com|\+3161000\d{4}|user-\d+|[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-"
)
AIRFLOW_TEST_COMMS = re.compile(
    r"(Sending request|Received message from task runner) .*loc=supervisor\.py:\d+ "
    r"msg=(MaskSecret|SetXCom|SetRenderedFields)\("
)


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("debug")
    (workdir / "logs").mkdir()
    demo_data.write_source_db(workdir / "source.db")
    with SandboxServer(port=0, autosend_return_ids=True, wooxy_processing_delay=1.0) as sandbox:
        sandbox.seed(demo_data.sandbox_seed())
        env = demo.airflow_env(workdir, sandbox)
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "DEBUG"
        assert demo.airflow(env, "db", "migrate", log=workdir / "logs" / "migrate.log") == 0
        codes = {
            dag_id: demo.airflow(env, "dags", "test", dag_id, log=workdir / "logs" / f"{dag_id}.log")
            for dag_id in demo.DAG_IDS[:2]
        }
    yield workdir, codes
    shutil.rmtree(workdir, ignore_errors=True)


def _log_lines(workdir):
    paths = [*(workdir / "logs").glob("*.log"), *(workdir / "airflow-home" / "logs").rglob("*")]
    for path in paths:
        if path.is_file():
            yield from path.read_text(errors="replace").splitlines()


def test_the_runs_succeeded_at_debug(debug_run):
    workdir, codes = debug_run
    assert codes == dict.fromkeys(demo.DAG_IDS[:2], 0)
    lines = list(_log_lines(workdir))
    assert sum("[debug" in line for line in lines) > 100  # DEBUG really was on
    assert any("Done: batches" in line for line in lines)


def test_no_key_in_any_log_line_but_airflows_own_test_comms(debug_run):
    workdir, _ = debug_run
    leaking = [line for line in _log_lines(workdir) if any(key in line for key in KEYS)]
    assert [line for line in leaking if not AIRFLOW_TEST_COMMS.search(line)] == []


def test_no_identifier_in_any_log_line_but_airflows_own_test_comms(debug_run):
    workdir, _ = debug_run
    leaking = [line for line in _log_lines(workdir) if IDENTIFIER.search(line)]
    assert [line[:300] for line in leaking if not AIRFLOW_TEST_COMMS.search(line)] == []


def test_no_key_in_xcom_rendered_templates_or_any_other_table(debug_run):
    workdir, _ = debug_run
    with sqlite3.connect(workdir / "airflow-home" / "airflow.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"xcom", "rendered_task_instance_fields"} <= set(tables)
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                text = str(row)
                assert not any(key in text for key in KEYS), table
