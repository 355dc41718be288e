"""``python -m airflow_contact_removal.sandbox``: starts, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

CLI = [sys.executable, "-m", "airflow_contact_removal.sandbox"]
REPO = Path(__file__).resolve().parents[2]


def start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not lines:
        process.kill()
        pytest.fail("the sandbox CLI printed nothing within 30 s")
    match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)\n", lines[0])
    assert match, lines[0]
    return process, match.group(1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_and_exits_cleanly(tmp_path, signum):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"migma": {"projects": {"P1": ["a@x.com"]}}}))
    process, url = start("--port", "0", "--seed", str(seed), "--latency-ms", "1", "--wooxy-error-rate", "0.5")
    try:
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                url + "/migma/v1/contacts/bulk-delete",
                json={"emails": ["a@x.com"], "projectId": "P1"},
                headers={"Authorization": "Bearer sandbox-migma-key"},
            )
            assert response.json()["data"] == {"deleted": 1, "notFound": []}
            assert http.get(url + "/_sandbox/faults").json()["latency_ms"] == 1
            assert http.get(url + "/_sandbox/options").json()["wooxy_error_rate"] == 0.5
    finally:
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "a@x.com" not in stderr and "sandbox-migma-key" not in stderr


def test_cli_refuses_non_loopback_host():
    result = subprocess.run(
        [*CLI, "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "loopback only" in result.stderr
