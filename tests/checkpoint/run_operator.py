"""Run one RemoveContactsOperator as a task instance would, for the kill-and-retry test.

Usage: python run_operator.py CONNECTION_JSON INPUT_FILE CHECKPOINT_FOLDER [MAX_CONCURRENCY]
Prints the summary as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["AIRFLOW_CONN_KILL_TEST"] = sys.argv[1]

from airflow_contact_removal.operators import RemoveContactsOperator


class TaskInstance:
    dag_id, run_id, task_id, map_index = "kill_dag", "manual__kill", "remove", -1

    def xcom_push(self, key, value):
        pass


operator = RemoveContactsOperator(
    task_id="remove",
    conn_id="kill_test",
    input_path=sys.argv[2],
    checkpoint_path=sys.argv[3],
    batch_size=100,
    max_concurrency=int(sys.argv[4]) if len(sys.argv) > 4 else 2,
)
print(json.dumps(operator.execute({"ti": TaskInstance(), "run_id": TaskInstance.run_id})))
