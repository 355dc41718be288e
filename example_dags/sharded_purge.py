"""
Sharded purge: one large file of emails removed by several mapped task instances, counted once.

A DRY RUN until you opt in: the shards clean and plan their batches, report them as ``planned``
and send nothing until the Airflow Variable ``contact_removal_examples_live`` is ``true``:
``airflow variables set contact_removal_examples_live true``. It is read when each task runs, so
a run triggered by hand removes nothing either until then; a dry run writes the results files
(``planned`` batches) but no checkpoint.

An erasure backlog or a yearly re-sync is millions of identifiers in one file. Instead of one task
holding them all, ``RemoveContactsOperator.sharded(..., shards=N)`` gives N mapped instances (spread
over the executor's workers; it is ``.partial(shards=N).expand(shard=list(range(N)))``). Each streams the whole file and removes only the emails whose normalised
value hashes to its shard, so ``Jane@X.com`` and ``jane@x.com `` always meet in one shard and
de-duplication stays exact; every shard keeps only its share of the de-duplication set in memory.

Each shard writes its own ``results_path`` (``{shard}`` in the path) and keeps its own checkpoint:
if one fails, clear that one mapped instance and it resumes where it stopped. ``totals`` merges the
shards' summaries into one answer that adds up, and names any shard that failed with its counts.

Vendor limits hold for the sum of the shards: here 4 shards x 2 requests in flight = Migma's cap
of 8. (Where the account's limits are kept by an Airflow pool, give the mapped task that pool and
its share in ``pool_slots`` instead.)

Connection: ``migma_default``. Variables: ``sharded_purge_input`` (the file, any
``ObjectStoragePath`` URL or local path; one email per line) and ``sharded_purge_results`` (a folder
for the results files).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, XComArg

from airflow_contact_removal.operators import MergeRemovalSummariesOperator, RemoveContactsOperator

SHARDS = 4
#: Dry run unless the Variable contact_removal_examples_live is "true"; rendered when the task runs,
#: so the DAG file never reads a Variable while it is parsed.
DRY_RUN = "{{ var.value.get('contact_removal_examples_live', 'false') | trim | lower != 'true' }}"

with DAG(
    dag_id="contact_removal_sharded_purge",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["contact-removal", "example"],
) as dag:
    purge = RemoveContactsOperator.sharded(
        task_id="purge",
        conn_id="migma_default",
        input_path="{{ var.value.sharded_purge_input }}",
        results_path="{{ var.value.sharded_purge_results }}/{{ run_id }}/purge-{shard}-of-{shards}.jsonl",
        shards=SHARDS,
        max_concurrency=2,  # per shard: 4 x 2 = Migma's cap of 8 requests in flight
        dry_run=DRY_RUN,
    )

    # The summary XCom is pushed by every shard, also one that failed: the answer can name it.
    MergeRemovalSummariesOperator(
        task_id="totals",
        summaries=XComArg(purge, key="summary"),
        shards=SHARDS,
    )
