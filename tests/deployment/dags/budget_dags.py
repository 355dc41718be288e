"""DAGs of the deployment tests: many removals on one Wooxy and one AutoSend account at once.

Each scenario exists twice: ``budget_*`` tasks hold their share of the account's pool
(``account_pool_args``), ``nobudget_*`` tasks run in the default pool with the vendor's full cap each,
to show that the sandbox's per-key counters catch what the budget prevents. Identifiers are generated
here (``user{i}@<dag>.example``) and seeded by the test with the same pattern.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator

WOOXY = "wooxy_main"
AUTOSEND = "autosend_main"
#: Wooxy identifiers per task (100 per batch) and AutoSend emails per task (100 per batch).
WOOXY_PER_TASK = 4000
AUTOSEND_PER_TASK = 500
FANOUT_WOOXY = 3
FANOUT_AUTOSEND = 2
#: Wooxy slots per task: two tasks fill the account's 10; AutoSend: one of 2 slots, so 1 request/s.
WOOXY_SLOTS = 5
AUTOSEND_SLOTS = 1


def emails(domain: str, count: int, start: int = 0) -> list[str]:
    return [f"user{i}@{domain}.example" for i in range(start, start + count)]


def pool_args(conn_id: str, slots: int, budget: bool) -> dict:
    # Without the budget: the default pool, and each task keeps the vendor's whole cap for itself.
    return account_pool_args(conn_id, slots) if budget else {}


def _dag(dag_id: str, **kwargs) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        default_args={"retries": 0},
        **kwargs,
    )


for budget in (True, False):
    prefix = "budget" if budget else "nobudget"
    for kind in ("daily", "weekly"):
        with _dag(f"{prefix}_{kind}"):
            RemoveFromListOperator(
                task_id="wooxy",
                conn_id=WOOXY,
                list_id=f"{prefix}_{kind}",
                emails=emails(f"{prefix}-{kind}", WOOXY_PER_TASK),
                **pool_args(WOOXY, WOOXY_SLOTS, budget),
            )
            RemoveContactsOperator(
                task_id="autosend",
                conn_id=AUTOSEND,
                emails=emails(f"{prefix}-{kind}-as", AUTOSEND_PER_TASK),
                **pool_args(AUTOSEND, AUTOSEND_SLOTS, budget),
            )

    with _dag(f"{prefix}_fanout"):
        RemoveFromListOperator.partial(
            task_id="wooxy",
            conn_id=WOOXY,
            list_id=f"{prefix}_fanout",
            **pool_args(WOOXY, WOOXY_SLOTS, budget),
        ).expand(
            emails=[
                emails(f"{prefix}-fanout", WOOXY_PER_TASK, i * WOOXY_PER_TASK) for i in range(FANOUT_WOOXY)
            ]
        )
        RemoveContactsOperator.partial(
            task_id="autosend",
            conn_id=AUTOSEND,
            **pool_args(AUTOSEND, AUTOSEND_SLOTS, budget),
        ).expand(
            emails=[
                emails(f"{prefix}-fanout-as", AUTOSEND_PER_TASK, i * AUTOSEND_PER_TASK)
                for i in range(FANOUT_AUTOSEND)
            ]
        )

#: Killed mid-run by the test: 60 batches at 2 in flight, retried once.
KILL_COUNT = 6000
with _dag("budget_kill"):
    RemoveFromListOperator(
        task_id="wooxy",
        conn_id=WOOXY,
        list_id="budget_kill",
        emails=emails("kill", KILL_COUNT),
        retries=1,
        retry_delay=timedelta(seconds=1),
        **account_pool_args(WOOXY, 2),
    )

#: Waits in the triggerer for Wooxy's outcome, holding its 5 slots (the pool counts deferred tasks).
DEFERRED_COUNT = 500
with _dag("budget_deferred"):
    RemoveFromListOperator(
        task_id="wooxy",
        conn_id=WOOXY,
        list_id="budget_deferred",
        emails=emails("deferred", DEFERRED_COUNT),
        wait_for_completion=True,
        deferrable=True,
        poll_interval=2,
        completion_timeout=120,
        fail_on_error=False,
        **account_pool_args(WOOXY, WOOXY_SLOTS),
    )
