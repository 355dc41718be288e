"""
Suppression pipeline: unsubscribes and hard bounces removed account-wide at AutoSend and Migma.

A DRY RUN until you opt in: both removals clean and plan their batches, report them as ``planned``
and send nothing until the Airflow Variable ``contact_removal_examples_live`` is ``true``:
``airflow variables set contact_removal_examples_live true``. It is read when each task runs, so
unpausing this ``@daily`` DAG (which runs the latest interval at once) removes nothing by itself. A
dry run's audit rows have the status ``planned``.

1. Read the day's unsubscribes and hard bounces from a SQL table (SQLite here, through the
   common-sql provider; any SQL connection works the same way).
2. Remove them from the whole account at AutoSend and at Migma. ``max_contacts`` guards against an
   upstream query that suddenly returns the whole customer base.
3. Write every batch result of both removals to an audit table, even when a removal failed.

Connections: ``contact_removal_db`` (sqlite), ``autosend_default``, ``migma_default``.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

from airflow_contact_removal.operators import RemoveContactsOperator

SOURCE_CONN_ID = "contact_removal_db"
REMOVAL_TASKS = ("remove_at_autosend", "remove_at_migma")
#: Dry run unless the Variable contact_removal_examples_live is "true"; rendered when the task runs,
#: so the DAG file never reads a Variable while it is parsed.
DRY_RUN = "{{ var.value.get('contact_removal_examples_live', 'false') | trim | lower != 'true' }}"

with DAG(
    dag_id="contact_removal_suppression_pipeline",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["contact-removal", "example"],
) as dag:
    suppressed = SQLExecuteQueryOperator(
        task_id="read_suppressions",
        conn_id=SOURCE_CONN_ID,
        sql="SELECT email FROM suppressions WHERE reason IN ('unsubscribe', 'hard_bounce')",
    )

    remove_at_autosend = RemoveContactsOperator(
        task_id="remove_at_autosend",
        conn_id="autosend_default",
        emails=suppressed.output,  # 1-column rows are accepted as they come
        max_contacts=50_000,
        dry_run=DRY_RUN,
    )
    remove_at_migma = RemoveContactsOperator(
        task_id="remove_at_migma",
        conn_id="migma_default",
        emails=suppressed.output,
        max_contacts=50_000,
        dry_run=DRY_RUN,
    )

    @task(trigger_rule="all_done")
    def write_audit(ti=None, run_id=None):
        """One audit row per batch of each removal; failed batches keep their identifiers for re-queueing."""
        import json

        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        rows = []
        for task_id in REMOVAL_TASKS:
            for result in ti.xcom_pull(task_ids=task_id, key="batch_results") or []:
                rows.append(
                    (
                        run_id,
                        task_id,
                        result["index"],
                        result["status"],
                        result["size"],
                        result["removed"],
                        result["not_found"],
                        result["failed"],
                        result["request_id"],
                        result["error"],
                        json.dumps(result["identifiers"]) if result["identifiers"] else None,
                    )
                )
        hook = SqliteHook(sqlite_conn_id=SOURCE_CONN_ID)
        hook.run(
            "CREATE TABLE IF NOT EXISTS removal_audit (run_id TEXT, task_id TEXT, batch INTEGER, "
            "status TEXT, size INTEGER, removed INTEGER, not_found INTEGER, failed INTEGER, "
            "request_id TEXT, error TEXT, requeue TEXT)"
        )
        if rows:
            hook.insert_rows(
                "removal_audit",
                rows,
                target_fields=[
                    "run_id",
                    "task_id",
                    "batch",
                    "status",
                    "size",
                    "removed",
                    "not_found",
                    "failed",
                    "request_id",
                    "error",
                    "requeue",
                ],
            )
        return len(rows)

    [remove_at_autosend, remove_at_migma] >> write_audit()
