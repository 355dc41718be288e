"""DAGs for the in-process tests of WooxyRequestSensor: remove in one task, wait in another."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, XComArg, task

from airflow_contact_removal.operators import RemoveFromListOperator
from airflow_contact_removal.sensors import WooxyRequestSensor

START = pendulum.datetime(2025, 1, 1, tz="UTC")
SEEN: dict[str, object] = {}


def _wait_dag(dag_id: str, templated: bool) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        remove = RemoveFromListOperator(
            task_id="remove",
            conn_id="wooxy_default",
            list_id="L1",
            emails=[f"user{i}@example.com" for i in range(150)],
        )
        if templated:  # rendered as a string (no native rendering): the sensor reads it back
            request_ids = "{{ ti.xcom_pull(task_ids='remove', key='batch_results') }}"
        else:
            request_ids = XComArg(remove, key="batch_results")
        wait = WooxyRequestSensor(
            task_id="wait",
            conn_id="wooxy_default",
            request_ids=request_ids,
            summary=remove.output,
            fail_on_error=False,
            poke_interval=0.1,
            timeout=60,
        )
        remove >> wait

        @task
        def audit(summary, ti=None):
            SEEN[dag_id] = {
                "summary": summary,
                "batch_results": ti.xcom_pull(task_ids="wait", key="batch_results"),
            }

        audit(wait.output)
    return dag


xcom_arg_dag = _wait_dag("acr_test_wooxy_sensor_xcomarg", templated=False)
templated_dag = _wait_dag("acr_test_wooxy_sensor_jinja", templated=True)
