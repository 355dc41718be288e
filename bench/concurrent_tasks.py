"""Benchmark: 2 and 4 removal tasks at once on one Wooxy account, through a real Airflow deployment.

The deployment is the one the deployment tests use (``tests/deployment/harness.py``: api-server,
LocalExecutor scheduler with parallelism 8, dag-processor, triggerer, the sandbox in its own
process). The tasks split the account's pool of 10 slots (2 tasks: 5 + 5; 4 tasks: 3 + 3 + 2 + 2),
each removing its part of the identifiers from a file. The sandbox adds ``BENCH_LATENCY_MS`` (50 ms)
per request and counts per key, so its counters say whether the account's limit held.

Printed per case: combined identifiers per second as a ratio to the account's limit C x B / L
(C = 10 in flight, B = 100; L = the added latency, and L = the measured round trip of one request
sent alone, as in ``bench/run.py``), and the limit breaches the sandbox saw (must be 0). The
combined rate is taken over the steady part of the run, the middle 80% of the requests by start
time, so it measures the account's throughput while the tasks share it and not the seconds Airflow
takes to start a task process; the rate over the whole span, first request to last answer, is shown
beside it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.deployment_dags.concurrent_budget import shares  # noqa: E402
from tests.deployment.harness import AirflowDeployment  # noqa: E402

LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
IDS = int(os.environ.get("BENCH_CONCURRENT_IDS", "400000"))  # per case, split over the tasks
C, B = 10, 100
CASES = (2, 4)


def write_inputs(folder: Path, tasks: int) -> None:
    """Each task's part of the identifiers, in proportion to its slots, so all finish together."""
    start = 0
    for i, slots in enumerate(shares(tasks)):
        count = IDS * slots // C
        with open(folder / f"tasks-{tasks}-part-{i}.txt", "w") as out:
            out.writelines(f"user{n}@bench.example\n" for n in range(start, start + count))
        start += count


def round_trip(airflow: AirflowDeployment) -> float:
    """Median seconds of one Wooxy request of B identifiers sent alone."""
    sandbox = airflow.sandbox
    url = sandbox.base_url("wooxy") + "/contacts/remove"
    headers = {"Access-Token": sandbox.api_key("wooxy")}
    body = {"contactListId": "warmup", "emails": [f"w{i}@warmup.example" for i in range(B)]}
    times = []
    with requests.Session() as session:
        session.trust_env = False
        for _ in range(7):
            started = time.perf_counter()
            session.post(url, json=body, headers=headers).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def steady_rate(log: list[dict]) -> tuple[float, float]:
    """(identifiers/s over the middle 80% of requests, identifiers/s over the whole span)."""
    entries = sorted(log, key=lambda entry: entry["started"])
    ends = [entry["started"] + entry["duration_ms"] / 1000 for entry in entries]
    whole = sum(entry["batch_size"] or 0 for entry in entries) / (max(ends) - entries[0]["started"])
    low, high = len(entries) // 10, len(entries) - len(entries) // 10
    middle = entries[low:high]
    span = middle[-1]["started"] - middle[0]["started"]
    steady = sum(entry["batch_size"] or 0 for entry in middle[:-1]) / span
    return steady, whole


def run_case(airflow: AirflowDeployment, tasks: int) -> dict:
    sandbox = airflow.sandbox
    sandbox.reset()
    sandbox.generate(vendor="wooxy", list="bench-list", count=IDS, pattern="user{i}@bench.example")
    sandbox.set_faults(latency_ms=LATENCY_MS)
    dag_id = f"bench_concurrent_{tasks}"
    airflow.wait_for_dags(dag_id)
    run_id = airflow.trigger(dag_id)
    state = airflow.wait_for_run(dag_id, run_id, timeout=900)
    log = [e for e in sandbox.requests_log("wooxy") if e["path"].endswith("/contacts/remove")]
    limits = sandbox.key_limits("wooxy")
    summaries = [airflow.xcom(dag_id, run_id, f"remove_{i}") for i in range(tasks)]
    steady, whole = steady_rate(log)
    return {
        "tasks": tasks,
        "state": state,
        "ids": sum(s["accepted"] for s in summaries),
        "steady": steady,
        "whole": whole,
        "max_in_flight": limits["max_in_flight"],
        "breaches": sum(limits["breaches"].values()),
        "left": sandbox.state("wooxy")["wooxy"]["lists"]["bench-list"],
    }


def main() -> int:
    inputs = Path(tempfile.mkdtemp(prefix="acr-bench-concurrent-"))
    for tasks in CASES:
        write_inputs(inputs, tasks)
    airflow = AirflowDeployment(
        REPO / "bench" / "deployment_dags",
        parallelism=8,
        connections={"wooxy_bench": ("wooxy", {})},
        env={"BENCH_INPUT_DIR": str(inputs)},
    )
    rows = []
    with airflow:
        airflow.create_pools("wooxy_bench")
        airflow.sandbox.set_faults(latency_ms=LATENCY_MS)
        measured = round_trip(airflow)
        for tasks in CASES:
            print(f"concurrent tasks: {tasks} ...", file=sys.stderr, flush=True)
            rows.append(run_case(airflow, tasks))
    airflow.cleanup()
    limit_added, limit_measured = C * B / (LATENCY_MS / 1000), C * B / measured
    print(f"\nConcurrent tasks on one Wooxy account (pool of {C} slots), {IDS:,} identifiers per case,")
    print(
        f"{LATENCY_MS} ms added per request; measured round trip of one request alone: {measured * 1000:.1f} ms."
    )
    print(
        f"Account limit C x B / L: {limit_measured:,.0f}/s (L = measured), {limit_added:,.0f}/s (L = {LATENCY_MS} ms).\n"
    )
    header = [
        "tasks",
        "slots",
        "ids",
        "combined ids/s (steady)",
        "% of limit, L = measured",
        "% of limit, L = 50 ms",
        "whole span, % of L = measured",
        "max in flight (sandbox)",
        "breaches",
        "left",
        "run",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print(
            f"| {row['tasks']} | {'+'.join(map(str, shares(row['tasks'])))} | {row['ids']:,} | {row['steady']:,.0f} "
            f"| {row['steady'] / limit_measured:.0%} | {row['steady'] / limit_added:.0%} "
            f"| {row['whole'] / limit_measured:.0%} | {row['max_in_flight']} | {row['breaches']} "
            f"| {row['left']} | {row['state']} |"
        )
    return 0 if all(row["breaches"] == 0 and row["state"] == "success" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
