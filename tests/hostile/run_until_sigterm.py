"""Run one RemoveContactsOperator the way Airflow's task runner does about SIGTERM, for the SIGTERM test.

Usage: python run_until_sigterm.py CONNECTION_JSON CHECKPOINT_FOLDER
Prints ``{"error": ..., "summary": ...}`` as JSON on its last line when the task ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys

os.environ["AIRFLOW_CONN_SIGTERM_TEST"] = sys.argv[1]

from airflow_contact_removal.operators import RemoveContactsOperator


class TaskInstance:
    dag_id, run_id, task_id, map_index = "sigterm_dag", "manual__sigterm", "remove", -1

    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


operator = RemoveContactsOperator(
    task_id="remove",
    conn_id="sigterm_test",
    emails=[f"user{i}@example.com" for i in range(4000)],
    checkpoint_path=sys.argv[2],
    batch_size=100,
)
# What airflow.sdk.execution_time.task_runner installs: SIGTERM calls the task's on_kill().
signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
ti = TaskInstance()
print("started", flush=True)
try:
    operator.execute({"ti": ti, "run_id": ti.run_id})
    error = None
except BaseException as exc:
    error = type(exc).__name__
print(json.dumps({"error": error, "summary": ti.xcom.get("summary")}))
