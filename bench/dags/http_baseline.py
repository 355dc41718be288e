"""The baseline: the same removal written without this provider.

The http provider's HttpOperator mapped with ``.expand()`` over batches cut upstream: the way a
user would do it by hand. No cleaning, no de-duplication, no limits, no accounting.
"""

from __future__ import annotations

import json

import pendulum
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, task

BATCH = {"wooxy": 100, "migma": 1000}
ENDPOINT = {"wooxy": "contacts/remove", "migma": "v1/contacts/bulk-delete"}


def _dag(vendor: str) -> DAG:
    with DAG(
        f"bench_http_{vendor}", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False
    ) as dag:

        @task(show_return_value_in_logs=False)
        def cut(dag_run=None) -> list[str]:
            conf = dag_run.conf
            with open(conf["input"]) as handle:
                emails = [line.strip() for line in handle if line.strip()]
            size = BATCH[vendor]
            bodies = []
            for start in range(0, len(emails), size):
                body = {"emails": emails[start : start + size]}
                if vendor == "wooxy":
                    body["contactListId"] = conf["list_id"]
                else:
                    body["projectId"] = conf["project_id"]
                bodies.append(json.dumps(body))
            return bodies

        HttpOperator.partial(
            task_id="remove",
            http_conn_id=f"bench_{vendor}_http",
            endpoint=ENDPOINT[vendor],
            method="POST",
            log_response=False,
        ).expand(data=cut())
    return dag


wooxy = _dag("wooxy")
migma = _dag("migma")
