"""
Large-list fan-out: a big purge split upstream into chunks, one mapped removal task per chunk.

Each mapped task cleans and batches its own chunk. Together they stay within the account's limits
through its pool: each chunk holds 4 of the pool's 8 slots (Migma's cap), so the scheduler runs two
chunks at a time, on any workers, each with 4 requests in flight. Create the pool once with
``python -m airflow_contact_removal.pools create migma_default``. Every mapped task gets its own
Migma idempotency keys (the map index is part of them), so retrying one chunk never replays another's.

Connection: ``migma_default``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.operators import RemoveContactsOperator

CHUNK_SIZE = 2_000

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
        # pool="contact_removal_migma_default", pool_slots=4: half of the account's budget per chunk.
        **account_pool_args("migma_default", slots=4),
    ).expand(emails=purge_chunks())

    @task
    def totals(summaries) -> dict[str, int]:
        """Add up the mapped tasks' summaries."""
        keys = ("requested", "removed", "not_found", "invalid", "duplicates", "failed")
        summaries = list(summaries)
        return {key: sum(summary[key] for summary in summaries) for key in keys} | {"chunks": len(summaries)}

    totals(removed.output)
