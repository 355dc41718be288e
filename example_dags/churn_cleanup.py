"""
Churn cleanup: churned customers removed from a Wooxy list and a Bird list.

A DRY RUN until you opt in: both removals clean and plan their batches, report them as ``planned``
and send nothing until the Airflow Variable ``contact_removal_examples_live`` is ``true``:
``airflow variables set contact_removal_examples_live true``. It is read when each task runs, so
unpausing this ``@weekly`` DAG (which runs the latest interval at once) removes nothing by itself; a
dry run does not wait for Wooxy either.

Churned customers come from the warehouse with an email, a phone number, a user id and, for Bird,
the contact id Bird gave them, not all of them known for everyone. Each customer is removed by one
identifier, the best its vendor takes: Wooxy by email, else phone number, else user id (100 records
per request, all kinds together, 10 requests in flight); Bird by contact id, else email (100
combined).

Wooxy answers "accepted": its removal is asynchronous. With ``wait_for_completion=True`` the task
defers (no worker slot held) until Wooxy has processed every request, then reports what Wooxy did
per contact: removed, or failed with Wooxy's reason.

Connections: ``contact_removal_db`` (sqlite), ``wooxy_default``, ``bird_default``. Variables:
``wooxy_churn_list_id`` and ``bird_churn_list_id`` (the lists to clean), ``wooxy_poll_interval``
(seconds between status checks, default 30).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_contact_removal.operators import RemoveFromListOperator

SOURCE_CONN_ID = "contact_removal_db"
#: Dry run unless the Variable contact_removal_examples_live is "true"; rendered when the task runs,
#: so the DAG file never reads a Variable while it is parsed.
DRY_RUN = "{{ var.value.get('contact_removal_examples_live', 'false') | trim | lower != 'true' }}"

with DAG(
    dag_id="contact_removal_churn_cleanup",
    schedule="@weekly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["contact-removal", "example"],
) as dag:
    # Identifiers are personal data: keep Airflow from printing the returned lists in the task log.
    @task(show_return_value_in_logs=False)
    def churned_customers() -> dict[str, list[str]]:
        """One identifier per churned customer and vendor, in lists by kind."""
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        rows = SqliteHook(sqlite_conn_id=SOURCE_CONN_ID).get_records(
            "SELECT email, phone, user_id, bird_contact_id FROM churned_customers"
        )
        return {
            "wooxy_emails": [email for email, _, _, _ in rows if email],
            "wooxy_phones": [phone for email, phone, _, _ in rows if not email and phone],
            "wooxy_user_ids": [user for email, phone, user, _ in rows if not email and not phone and user],
            "bird_contact_ids": [contact for _, _, _, contact in rows if contact],
            "bird_emails": [email for email, _, _, contact in rows if not contact and email],
        }

    churned = churned_customers()

    RemoveFromListOperator(
        task_id="remove_from_wooxy_list",
        conn_id="wooxy_default",
        list_id="{{ var.value.get('wooxy_churn_list_id', 'churn-list') }}",
        emails=churned["wooxy_emails"],
        phone_numbers=churned["wooxy_phones"],
        user_ids=churned["wooxy_user_ids"],
        max_contacts=100_000,
        wait_for_completion=True,
        deferrable=True,
        poll_interval="{{ var.value.get('wooxy_poll_interval', 30) }}",
        completion_timeout=6 * 3600,
        dry_run=DRY_RUN,
    )

    RemoveFromListOperator(
        task_id="remove_from_bird_list",
        conn_id="bird_default",
        list_id="{{ var.value.get('bird_churn_list_id', '123e4567-e89b-12d3-a456-426614174000') }}",
        contact_ids=churned["bird_contact_ids"],
        emails=churned["bird_emails"],
        max_contacts=100_000,
        dry_run=DRY_RUN,
    )
