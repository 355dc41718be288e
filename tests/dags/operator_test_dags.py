"""DAGs the in-process DAG tests run with ``dag.test()``; tasks record what they saw in ``SEEN``."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator

START = pendulum.datetime(2025, 1, 1, tz="UTC")
SEEN: dict[str, object] = {}

with DAG("acr_test_xcom", schedule=None, start_date=START, catchup=False) as xcom_dag:

    @task
    def extract():
        return [f"User{i}@example.com" for i in range(1200)] + ["missing@example.com", "bad"]

    remove = RemoveContactsOperator(task_id="remove", conn_id="migma_default", emails=extract())

    @task
    def audit(summary, ti=None):
        SEEN["summary"] = summary
        SEEN["batch_results"] = ti.xcom_pull(task_ids="remove", key="batch_results")
        SEEN["invalid"] = ti.xcom_pull(task_ids="remove", key="invalid")

    audit(remove.output)


with DAG("acr_test_mapped", schedule=None, start_date=START, catchup=False) as mapped_dag:

    @task
    def chunks():
        return [[f"c{chunk}-{i}@example.com" for i in range(150)] for chunk in range(3)]

    removed = RemoveFromListOperator.partial(task_id="remove", conn_id="wooxy_default", list_id="L1").expand(
        emails=chunks()
    )

    @task
    def collect(summaries):
        SEEN["summaries"] = list(summaries)

    collect(removed.output)


def _templated_dag(dag_id: str, native: bool) -> DAG:
    with DAG(
        dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=native
    ) as dag:

        @task
        def extract():
            return ["a@example.com", "b@example.com"]

        remove = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails="{{ ti.xcom_pull(task_ids='extract') }}"
        )
        extract() >> remove

        @task
        def audit(summary):
            SEEN[dag_id] = summary

        audit(remove.output)
    return dag


native_dag = _templated_dag("acr_test_native", native=True)
jinja_dag = _templated_dag("acr_test_jinja", native=False)


#: The opt-in pattern of the example DAGs: a dry run unless the Variable says "true".
LIVE_TEMPLATE = "{{ var.value.get('acr_test_live', 'false') != 'true' }}"


def _opt_in_dag(dag_id: str, native: bool) -> DAG:
    with DAG(
        dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=native
    ) as dag:
        remove = RemoveContactsOperator(
            task_id="remove", conn_id="migma_default", emails=["a@example.com"], dry_run=LIVE_TEMPLATE
        )

        @task
        def chunks():
            return [["m0@example.com", "m1@example.com"], ["m2@example.com"]]

        mapped = RemoveFromListOperator.partial(
            task_id="remove_mapped", conn_id="wooxy_default", list_id="L1", dry_run=LIVE_TEMPLATE
        ).expand(emails=chunks())

        @task
        def audit(summary, mapped_summaries):
            SEEN[dag_id] = {"single": summary, "mapped": list(mapped_summaries)}

        audit(remove.output, mapped.output)
    return dag


opt_in_native_dag = _opt_in_dag("acr_test_opt_in_native", native=True)
opt_in_jinja_dag = _opt_in_dag("acr_test_opt_in_jinja", native=False)
