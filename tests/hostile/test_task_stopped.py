"""Airflow stops the task (execution_timeout, on_kill): no new request starts, and the run is accounted.

Against a vendor that never answers: a local HTTP server that reads each request and keeps the
connection open without a word, counting what it received.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.dags import hostile_dags as dags
from tests.reliability.conftest import assert_accounted

pytestmark = pytest.mark.usefixtures("airflow_db")


class HangingServer:
    """Accepts connections on loopback, counts the requests sent on them, never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._lock = threading.Lock()
        self.requests = 0
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._open.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        while True:
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.requests += data.count(b"POST /")

    def close(self) -> None:
        self._stopped.set()
        self._socket.close()
        for connection in self._open:
            connection.close()


@pytest.fixture
def hanging(monkeypatch):
    server = HangingServer()
    connection = {
        "conn_type": "migma",
        "host": f"http://127.0.0.1:{server.port}",
        "password": "sk-hanging-test-key-0123456789",
        # A short read timeout: a sender thread left running would retry within the observation time.
        "extra": {"project_id": "P1", "read_timeout": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HANGING_MIGMA", json.dumps(connection))
    yield server
    server.close()


def test_execution_timeout_against_a_hanging_vendor_ends_in_time_with_the_summary_pushed(hanging):
    dags.SEEN.clear()
    run = dags.timeout_dag.test()

    ti = run.get_task_instance("remove")
    assert ti.state == "failed"
    elapsed = (ti.end_date - ti.start_date).total_seconds()
    assert elapsed < 15, f"the task took {elapsed:.1f} s"  # the bound the issue asks for
    summary = dags.SEEN["summary"]
    assert summary is not None, "no summary in XCom"
    assert_accounted(summary)
    assert summary["removed"] == 0 and summary["failed"] == summary["requested"] > 0
    assert "AirflowTaskTimeout" in summary["stopped"]
    records = dags.SEEN["batch_results"]
    assert any("abandoned in flight" in record["error"] for record in records)
    assert all(record["identifiers"] for record in records)  # every batch ready to re-queue

    # The senders stop: no attempt after the task ended, although their read timeout (2 s) and a
    # retry would have come round several times in the window below.
    sent_at_end = hanging.requests
    time.sleep(6)
    assert hanging.requests == sent_at_end


def test_sigterm_stops_the_task_in_seconds_with_the_run_accounted(tmp_path):
    server = HangingServer()
    try:
        connection = {
            "conn_type": "migma",
            "host": f"http://127.0.0.1:{server.port}",
            "password": "sk-hanging-test-key-0123456789",
            "extra": {"project_id": "P1", "read_timeout": 2},
        }
        script = Path(__file__).with_name("run_until_sigterm.py")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        process = subprocess.Popen(
            [sys.executable, str(script), json.dumps(connection), str(tmp_path / "checkpoints")],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while server.requests < 1:  # sending has begun (importing Airflow may take a while)
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, _ = process.communicate(timeout=30)
        ended_after = time.monotonic() - signalled

        assert ended_after < 10, f"the task took {ended_after:.1f} s to end after SIGTERM"
        result = json.loads(out.strip().splitlines()[-1])
        assert result["error"] == "RunStopped"
        summary = result["summary"]
        assert_accounted(summary)
        assert summary["failed"] == summary["requested"] > 0
        assert "on_kill" in summary["stopped"]
        sent_at_end = server.requests
        time.sleep(3)
        assert server.requests == sent_at_end
    finally:
        server.close()
