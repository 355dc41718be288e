"""Bench DAGs: n removal tasks on one Wooxy account at once, sharing its 10 slots (see bench/concurrent_tasks.py)."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.operators import RemoveFromListOperator

INPUT_DIR = os.environ.get("BENCH_INPUT_DIR", "/nonexistent")
BUDGET = 10  # Wooxy's requests in flight for the whole account


def shares(tasks: int) -> list[int]:
    """The account's slots split over ``tasks``: 10 -> [5, 5], [3, 3, 2, 2]; they add up to 10."""
    return [BUDGET // tasks + (1 if i < BUDGET % tasks else 0) for i in range(tasks)]


for tasks in (2, 4):
    with DAG(f"bench_concurrent_{tasks}", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
        for i, slots in enumerate(shares(tasks)):
            RemoveFromListOperator(
                task_id=f"remove_{i}",
                conn_id="wooxy_bench",
                list_id="bench-list",
                input_path=f"{INPUT_DIR}/tasks-{tasks}-part-{i}.txt",
                results_path=f"{INPUT_DIR}/results-{tasks}-{i}-{{{{ run_id | replace(':', '_') }}}}.jsonl",
                checkpoint=False,
                **account_pool_args("wooxy_bench", slots),
            )
