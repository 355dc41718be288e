"""A real deployment: many removals on one vendor account at once, a killed task, a deferred wait.

Airflow's scheduler (LocalExecutor, parallelism 8), dag-processor, triggerer and api-server run as
separate processes with the vendor sandbox (``harness.py``); DAGs are triggered through the REST API.
The sandbox counts per API key, as the vendor would, so its counters are the judge.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import psutil
import pytest

from tests.deployment.dags.budget_dags import (
    AUTOSEND_PER_TASK,
    DEFERRED_COUNT,
    FANOUT_AUTOSEND,
    FANOUT_WOOXY,
    KILL_COUNT,
    WOOXY_PER_TASK,
    WOOXY_SLOTS,
)
from tests.deployment.harness import AirflowDeployment, wait_until

pytestmark = pytest.mark.deployment

BUCKETS = ("removed", "not_found", "accepted", "invalid", "duplicates", "failed", "planned")
SCENARIO = ("daily", "weekly", "fanout")


def seed_scenario(airflow: AirflowDeployment, prefix: str) -> None:
    sandbox = airflow.sandbox
    for kind in ("daily", "weekly"):
        sandbox.generate(
            vendor="wooxy",
            list=f"{prefix}_{kind}",
            count=WOOXY_PER_TASK,
            pattern=f"user{{i}}@{prefix}-{kind}.example",
        )
        sandbox.generate(
            vendor="autosend", count=AUTOSEND_PER_TASK, pattern=f"user{{i}}@{prefix}-{kind}-as.example"
        )
    sandbox.generate(
        vendor="wooxy",
        list=f"{prefix}_fanout",
        count=FANOUT_WOOXY * WOOXY_PER_TASK,
        pattern=f"user{{i}}@{prefix}-fanout.example",
    )
    sandbox.generate(
        vendor="autosend",
        count=FANOUT_AUTOSEND * AUTOSEND_PER_TASK,
        pattern=f"user{{i}}@{prefix}-fanout-as.example",
    )


def run_scenario(
    airflow: AirflowDeployment, prefix: str, *, must_succeed: bool = True
) -> dict[str, list[dict]]:
    """Seed, trigger the three DAGs at once, wait; the summaries of every task, by vendor."""
    seed_scenario(airflow, prefix)
    # Requests take 1 s at Wooxy, so the tasks' requests overlap however the processes start.
    airflow.sandbox.set_faults(latency_ms=1000, vendors=["wooxy"])
    dag_ids = [f"{prefix}_{kind}" for kind in SCENARIO]
    airflow.wait_for_dags(*dag_ids)
    runs = {dag_id: airflow.trigger(dag_id) for dag_id in dag_ids}
    states = {dag_id: airflow.wait_for_run(dag_id, run_id, timeout=240) for dag_id, run_id in runs.items()}
    if not must_succeed:
        return {}
    assert states == dict.fromkeys(dag_ids, "success"), [
        airflow.task_instances(d, r) for d, r in runs.items()
    ]
    summaries: dict[str, list[dict]] = {"wooxy": [], "autosend": []}
    for dag_id, run_id in runs.items():
        for ti in airflow.task_instances(dag_id, run_id):
            summary = airflow.xcom(dag_id, run_id, ti["task_id"], map_index=ti["map_index"])
            assert summary["requested"] == sum(summary[bucket] for bucket in BUCKETS), summary
            summaries[ti["task_id"]].append(summary)
    return summaries


def limit_breaches(airflow: AirflowDeployment) -> list[str]:
    """What the vendor would have refused: the sandbox's per-key counters against the documented limits."""
    wooxy = airflow.sandbox.key_limits("wooxy")
    autosend = airflow.sandbox.key_limits("autosend")
    problems = []
    if wooxy["max_in_flight"] > 10:
        problems.append(f"wooxy: {wooxy['max_in_flight']} requests in flight on one key")
    if autosend["max_per_second"] > 2:
        problems.append(f"autosend: {autosend['max_per_second']} requests in one second on one key")
    for vendor, counters in (("wooxy", wooxy), ("autosend", autosend)):
        if counters["breaches"]:
            problems.append(f"{vendor}: breaches {counters['breaches']}")
    return problems


def autosend_timeline(airflow: AirflowDeployment) -> list[str]:
    """AutoSend's arrivals (server clock, status), to read a breach by: which second, how far apart."""
    entries = sorted(airflow.sandbox.requests_log("autosend"), key=lambda entry: entry["started"])
    return [f"{entry['started']:.3f} {entry['status']}" for entry in entries]


def test_two_dags_and_a_fanout_on_one_account_stay_within_the_vendors_limits(airflow):
    summaries = run_scenario(airflow, "budget")

    assert limit_breaches(airflow) == [], autosend_timeline(airflow)
    wooxy, autosend = airflow.sandbox.key_limits("wooxy"), airflow.sandbox.key_limits("autosend")
    # The tasks did overlap (one task alone keeps at most its 5 slots in flight, 1 AutoSend request/s).
    assert wooxy["max_in_flight"] > WOOXY_SLOTS, wooxy
    assert autosend["max_per_second"] == 2, autosend
    # Totals add up: every identifier accepted (Wooxy) or removed (AutoSend), once.
    assert len(summaries["wooxy"]) == 2 + FANOUT_WOOXY and len(summaries["autosend"]) == 2 + FANOUT_AUTOSEND
    assert sum(s["accepted"] for s in summaries["wooxy"]) == (2 + FANOUT_WOOXY) * WOOXY_PER_TASK
    assert sum(s["removed"] for s in summaries["autosend"]) == (2 + FANOUT_AUTOSEND) * AUTOSEND_PER_TASK
    assert all(s["max_concurrency"] == WOOXY_SLOTS for s in summaries["wooxy"])
    assert wooxy["requests"] == (2 + FANOUT_WOOXY) * WOOXY_PER_TASK // 100
    assert autosend["requests"] == (2 + FANOUT_AUTOSEND) * AUTOSEND_PER_TASK // 100
    state = airflow.sandbox.state()
    assert state["autosend"]["contacts"] == 0
    assert all(count == 0 for count in state["wooxy"]["lists"].values()), state["wooxy"]


def test_without_the_budget_the_sandbox_sees_the_limits_broken(airflow):
    """The same DAGs with every task in the default pool, each with the vendor's whole cap."""
    run_scenario(airflow, "nobudget", must_succeed=False)  # tasks may fail: 429s past the retries

    assert limit_breaches(airflow) != []  # what the budget prevents, caught by the same check


def _removals(airflow: AirflowDeployment) -> list[dict]:
    return [
        entry
        for entry in airflow.sandbox.requests_log("wooxy")
        if entry["path"].endswith("/contacts/remove") and entry["status"] == 200
    ]


def test_a_task_killed_mid_run_is_retried_and_resumes_from_its_checkpoint(airflow):
    airflow.sandbox.generate(
        vendor="wooxy", list="budget_kill", count=KILL_COUNT, pattern="user{i}@kill.example"
    )
    airflow.sandbox.set_faults(latency_ms=300, vendors=["wooxy"])
    airflow.wait_for_dags("budget_kill")
    run_id = airflow.trigger("budget_kill")

    wait_until(lambda: len(_removals(airflow)) >= 15, 120, "15 batches to finish before the kill")
    (ti,) = airflow.task_instances("budget_kill", run_id)
    pid = ti["pid"]
    assert pid and ti["try_number"] == 1
    scheduler = airflow.processes["scheduler"].pid
    # A task process of this deployment's scheduler (LocalExecutor worker -> supervisor -> task), nothing else.
    assert scheduler in {parent.pid for parent in psutil.Process(pid).parents()}
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)

    assert airflow.wait_for_run("budget_kill", run_id, timeout=180) == "success"
    (ti,) = airflow.task_instances("budget_kill", run_id)
    assert ti["try_number"] == 2
    summary = airflow.xcom("budget_kill", run_id, "wooxy")
    batches = KILL_COUNT // 100
    assert summary["accepted"] == KILL_COUNT and summary["failed"] == 0
    assert summary["batches"] == batches and summary["resumed_batches"] >= 15
    removals = _removals(airflow)
    sent_by_retry = [entry for entry in removals if entry["started"] > killed_at]
    # The retry sent exactly the batches not finished in the first try: none of the finished again.
    assert len(sent_by_retry) == batches - summary["resumed_batches"]
    # At most the batches in flight at the kill (2 slots) reached Wooxy twice.
    assert len(removals) <= batches + 2
    assert airflow.sandbox.state("wooxy")["wooxy"]["lists"]["budget_kill"] == 0


def test_a_deferred_wooxy_wait_runs_in_the_triggerer_and_resumes_to_removed_and_failed(airflow):
    airflow.sandbox.generate(
        vendor="wooxy", list="budget_deferred", count=DEFERRED_COUNT, pattern="user{i}@deferred.example"
    )
    airflow.sandbox.set_options(wooxy_processing_delay=6, wooxy_error_rate=0.1)
    airflow.wait_for_dags("budget_deferred")
    run_id = airflow.trigger("budget_deferred")

    def deferred():
        (ti,) = airflow.task_instances("budget_deferred", run_id)
        return ti["state"] == "deferred" and ti

    wait_until(deferred, 120, "the task to defer")
    # The account's pool counts the deferred task: its 5 slots stay taken while the trigger polls.
    pool = airflow.pool("contact_removal_wooxy_main")
    assert pool["deferred_slots"] == WOOXY_SLOTS and pool["include_deferred"] is True

    assert airflow.wait_for_run("budget_deferred", run_id, timeout=180) == "success"
    summary = airflow.xcom("budget_deferred", run_id, "wooxy")
    assert summary["accepted"] == 0
    assert summary["removed"] + summary["failed"] == DEFERRED_COUNT
    assert summary["removed"] > 0 and summary["failed"] > 0  # Wooxy's per-contact errors folded in
    finds = [e for e in airflow.sandbox.requests_log("wooxy") if e["path"].endswith("/request/find")]
    assert finds, "the triggerer polled request/find"
    assert (
        "Triggerer" in airflow.tail("triggerer", 400) or "trigger" in airflow.tail("triggerer", 400).lower()
    )
    assert airflow.sandbox.key_limits("wooxy")["max_in_flight"] <= WOOXY_SLOTS


def test_the_ui_shows_identifier_arguments_as_a_count_and_a_digest(airflow):
    """Issue 15: the Rendered Templates tab (the REST API the UI reads) never shows the identifiers."""
    seed_scenario(airflow, "budget")
    airflow.wait_for_dags("budget_daily")
    run_id = airflow.trigger("budget_daily")
    assert airflow.wait_for_run("budget_daily", run_id, timeout=180) == "success"

    rendered = airflow.rendered_fields("budget_daily", run_id, "wooxy")
    assert re.fullmatch(rf"<{WOOXY_PER_TASK} identifier\(s\), sha256:[0-9a-f]{{12}}>", rendered["emails"])
    assert "@" not in json.dumps(rendered)  # no address in any field
    # The removal itself used the real values.
    assert airflow.xcom("budget_daily", run_id, "wooxy")["accepted"] == WOOXY_PER_TASK
