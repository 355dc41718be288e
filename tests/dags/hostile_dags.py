"""DAGs of the hostile tests (``dag.test()``): a removal Airflow stops with its execution_timeout."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_contact_removal.operators import RemoveContactsOperator

START = pendulum.datetime(2025, 1, 1, tz="UTC")
SEEN: dict[str, object] = {}

with DAG("acr_test_execution_timeout", schedule=None, start_date=START, catchup=False) as timeout_dag:
    remove = RemoveContactsOperator(
        task_id="remove",
        conn_id="hanging_migma",  # defined by the test: a vendor that never answers
        emails=[f"user{i}@example.com" for i in range(4000)],
        batch_size=100,
        execution_timeout=timedelta(seconds=5),
        retries=0,
    )

    @task(trigger_rule="all_done")
    def audit(ti=None):
        SEEN["summary"] = ti.xcom_pull(task_ids="remove", key="summary")
        SEEN["batch_results"] = ti.xcom_pull(task_ids="remove", key="batch_results")

    remove >> audit()
