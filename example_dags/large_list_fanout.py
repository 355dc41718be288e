"""
Large-list fan-out: a big purge split upstream into chunks, one mapped removal task per chunk.

A DRY RUN until you opt in: the mapped removals clean and plan their batches, report them as
``planned`` and send nothing until the Airflow Variable ``contact_removal_examples_live`` is ``true``:
``airflow variables set contact_removal_examples_live true``. It is read when each task runs, so
a run triggered by hand removes nothing either until then.

Each mapped task cleans and batches its own chunk. Together they stay within the account's limits
through its pool: each chunk holds 4 of the pool's 8 slots (Migma's cap), so the scheduler runs two
chunks at a time, on any workers, each with 4 requests in flight. Create the pool once with
``python -m airflow_contact_removal.pools create migma_default``. Every mapped task gets its own
Migma idempotency keys (the map index is part of them), so retrying one chunk never replays another's.

``totals`` merges the chunks' summaries into one answer that adds up
(``MergeRemovalSummariesOperator``), naming any chunk that failed.

Connection: ``migma_default``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, XComArg, task

from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.operators import MergeRemovalSummariesOperator, RemoveContactsOperator

CHUNK_SIZE = 2_000
#: Dry run unless the Variable contact_removal_examples_live is "true"; rendered when the task runs,
#: so the DAG file never reads a Variable while it is parsed.
DRY_RUN = "{{ var.value.get('contact_removal_examples_live', 'false') | trim | lower != 'true' }}"

with DAG(
    dag_id="contact_removal_large_list_fanout",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["contact-removal", "example"],
) as dag:
    # Identifiers are personal data: keep Airflow from printing the returned lists in the task log.
    @task(show_return_value_in_logs=False)
    def purge_chunks() -> list[list[str]]:
        """The addresses to purge, in chunks. Here: a synthetic list the demo seeded."""
        emails = [f"purge{i}@example.com" for i in range(9_000)]
        return [emails[start : start + CHUNK_SIZE] for start in range(0, len(emails), CHUNK_SIZE)]

    removed = RemoveContactsOperator.partial(
        task_id="purge",
        conn_id="migma_default",
        dry_run=DRY_RUN,
        # pool="contact_removal_migma_default", pool_slots=4: half of the account's budget per chunk.
        **account_pool_args("migma_default", slots=4),
    ).expand(emails=purge_chunks())

    # Every bucket added up (accepted and planned included), and a chunk that failed named with its
    # counts. The summary XCom is pushed by every chunk, also one that failed.
    MergeRemovalSummariesOperator(task_id="totals", summaries=XComArg(removed, key="summary"))
