"""Batches a killed or failed try finished are not sent again by the retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests_mock

from airflow_contact_removal.batching import Batch
from airflow_contact_removal.checkpoint import Checkpoint, checkpoint_file
from airflow_contact_removal.operators import RemoveContactsOperator
from airflow_contact_removal.sandbox import SandboxServer
from tests.conftest import set_connection
from tests.integration.helpers import wait_until_idle
from tests.operators.conftest import FakeTaskInstance

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
KEY = "sk-checkpoint-test-0123456789"


@pytest.fixture
def context(monkeypatch):
    set_connection(monkeypatch, "migma_default", conn_type="migma", password=KEY, extra={"project_id": "P1"})
    ti = FakeTaskInstance(dag_id="dag", run_id="run-1", task_id="remove")
    return {"ti": ti, "run_id": ti.run_id}


def answer_failing(bad: set[str]):
    def answer(request, context_):
        emails = request.json()["emails"]
        if bad & set(emails):
            context_.status_code = 503
            return {"success": False, "error": "unavailable"}
        return {"success": True, "data": {"deleted": len(emails), "notFound": []}}

    return answer


def test_a_retry_sends_only_the_batches_that_did_not_finish(context, checkpoint_folder, monkeypatch):
    emails = [f"u{i}@x.com" for i in range(300)]
    operator = RemoveContactsOperator(
        task_id="remove", conn_id="migma_default", emails=emails, batch_size=100
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIGMA_DEFAULT",
        json.dumps({"conn_type": "migma", "password": KEY, "extra": {"project_id": "P1", "max_attempts": 1}}),
    )
    with requests_mock.Mocker() as m, pytest.raises(Exception, match="100 of 300 identifier"):
        m.post(MIGMA_URL, json=answer_failing({"u150@x.com"}))
        operator.execute(context)
    assert m.call_count == 3
    path = Path(checkpoint_file(str(checkpoint_folder), "dag", "run-1", "remove", -1))
    assert len(path.read_text().splitlines()) == 2  # the two batches that finished

    with requests_mock.Mocker() as m:  # the retry: the vendor is healthy again
        m.post(MIGMA_URL, json=answer_failing(set()))
        summary = operator.execute(context)
    assert m.call_count == 1
    assert m.request_history[0].json()["emails"] == emails[100:200]
    assert summary["removed"] == 300 and summary["failed"] == 0 and summary["resumed_batches"] == 2
    assert not path.exists()  # nothing failed: the checkpoint is gone


def test_a_changed_input_is_sent_again(context, checkpoint_folder):
    path = checkpoint_file(str(checkpoint_folder), "dag", "run-1", "remove", -1)
    old = Checkpoint(path)
    old.add(
        Batch(0, {"emails": ["old@x.com"]}),
        {"index": 0, "size": 1, "status": "ok", "kinds": {"emails": 1}, "removed": 1},
    )
    old.close()
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=answer_failing(set()))
        summary = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=["new@x.com"]
        ).execute(context)
    assert m.call_count == 1 and summary["resumed_batches"] == 0 and summary["removed"] == 1


def test_dry_run_and_checkpoint_false_write_no_checkpoint(context, checkpoint_folder):
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=answer_failing({"a@x.com"}))
        RemoveContactsOperator(
            task_id="remove",
            conn_id="migma_default",
            emails=["a@x.com", "b@x.com"],
            batch_size=1,
            checkpoint=False,
            fail_on_error=False,
        ).execute(context)
    assert not checkpoint_folder.exists()


def test_checkpoint_file_names_are_safe_and_distinct(tmp_path):
    first = checkpoint_file(str(tmp_path), "dag", "manual__2025-01-01T00:00:00+00:00", "t", 3)
    second = checkpoint_file(str(tmp_path), "dag", "manual__2025-01-01T00_00_00_00_00", "t", 3)
    assert first != second
    assert first.endswith("/3.jsonl") and ":" not in first and "+" not in first


@pytest.mark.integration
def test_sigkill_mid_run_then_retry_completes_without_resending_finished_batches(tmp_path):
    """The task process is killed (SIGKILL) mid-run; the retry finishes the job, correct totals, no repeats."""
    emails = [f"user{i}@example.com" for i in range(3000)]
    source = tmp_path / "emails.txt"
    source.write_text("\n".join(emails) + "\n")
    folder = tmp_path / "checkpoints"
    checkpoint = Path(checkpoint_file(str(folder), "kill_dag", "manual__kill", "remove", -1))
    script = Path(__file__).with_name("run_operator.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with SandboxServer(faults={"latency_ms": 60}) as sandbox:
        sandbox.generate(vendor="migma", project="P1", count=3000, pattern="user{i}@example.com")
        command = [
            sys.executable,
            str(script),
            sandbox.connection_uri("migma", project_id="P1"),
            str(source),
            str(folder),
        ]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if checkpoint.exists() and len(checkpoint.read_text().splitlines()) >= 8:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        finished = len([line for line in checkpoint.read_text().splitlines() if line.strip()])
        assert 8 <= finished < 30
        wait_until_idle(sandbox)  # requests the killed try left in flight are logged when they end
        sandbox.clear_requests()

        second = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=120)
        summary = json.loads(second.stdout.strip().splitlines()[-1])
        resent = sandbox.requests_log("migma")
        left = sandbox.state("migma")["migma"]["projects"]["P1"]

    assert summary["requested"] == 3000 and summary["failed"] == 0
    assert summary["resumed_batches"] == finished
    assert len(resent) == 30 - finished  # only the batches the killed try had not finished
    # Batches in flight at the kill were processed by Migma; re-sent with the same Idempotency-Key,
    # they are replayed, so they still count as removed, not as "not found".
    assert summary["removed"] == 3000 and summary["not_found"] == 0
    assert left == 0
    assert not checkpoint.exists()
