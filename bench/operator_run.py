"""One operator run, measured, in its own process (so peak RSS is this run's alone).

Prints one JSON line: wall and CPU seconds, peak RSS in MB, XCom bytes written, and the summary.
Used by ``bench/run.py``; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


class FakeTaskInstance:
    """What the operator touches of a task instance; records the XCom it pushes."""

    dag_id, run_id, task_id = "bench", "bench-run", "remove"

    def __init__(self, map_index: int = -1) -> None:
        self.map_index = map_index
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connection", required=True, help="Airflow connection JSON")
    parser.add_argument("--input", required=True)
    parser.add_argument("--results")
    parser.add_argument("--list-id")
    parser.add_argument("--max-concurrency", type=int)
    parser.add_argument("--shards", type=int, help="run one shard of a sharded removal (with --shard)")
    parser.add_argument("--shard", type=int)
    args = parser.parse_args()
    os.environ["AIRFLOW_CONN_BENCH"] = args.connection
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="acr-bench-"))

    # A worker's task process is forked from Airflow's supervisor, so this module is loaded before
    # execute() runs; here it would be imported inside the timed call by the first connection
    # lookup (~20 ms), which is Airflow's start-up, not the operator's work.
    import airflow.sdk.execution_time.supervisor  # noqa: F401

    from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator

    common = {
        "task_id": "remove",
        "conn_id": "bench",
        "input_path": args.input,
        "results_path": args.results,
        "max_concurrency": args.max_concurrency,
    }
    if args.shards is not None:
        common.update(shards=args.shards, shard=args.shard)
    if args.list_id:
        operator = RemoveFromListOperator(list_id=args.list_id, **common)
    else:
        operator = RemoveContactsOperator(**common)
    ti = FakeTaskInstance(-1 if args.shard is None else args.shard)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = operator.execute({"ti": ti, "run_id": ti.run_id})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "xcom_bytes": sum(len(json.dumps(value)) for value in ti.xcom.values()),
                "summary": summary,
            }
        ),
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
