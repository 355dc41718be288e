"""
Churn cleanup: churned customers removed from a Wooxy list and a Bird list.

Churned customers come from the warehouse with an email, a phone number and, for Bird, the contact
id Bird gave them. Each list removal takes the identifier kinds its vendor accepts: Wooxy emails,
phone numbers and user ids (100 records per request, all kinds together, 10 requests in flight);
Bird contact ids, emails and phone numbers (100 combined).

Wooxy answers "accepted": its removal is asynchronous, so the summary counts ``accepted`` rather
than ``removed``.

Connections: ``contact_removal_db`` (sqlite), ``wooxy_default``, ``bird_default``. Variables:
``wooxy_churn_list_id`` and ``bird_churn_list_id`` (the lists to clean).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_contact_removal.operators import RemoveFromListOperator

SOURCE_CONN_ID = "contact_removal_db"

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
        """Identifiers of customers who churned, one list per kind."""
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        rows = SqliteHook(sqlite_conn_id=SOURCE_CONN_ID).get_records(
            "SELECT email, phone, user_id, bird_contact_id FROM churned_customers"
        )
        return {
            "emails": [email for email, _, _, _ in rows if email],
            "phone_numbers": [phone for _, phone, _, _ in rows if phone],
            "user_ids": [user_id for _, _, user_id, _ in rows if user_id],
            "bird_contact_ids": [contact for _, _, _, contact in rows if contact],
        }

    churned = churned_customers()

    RemoveFromListOperator(
        task_id="remove_from_wooxy_list",
        conn_id="wooxy_default",
        list_id="{{ var.value.get('wooxy_churn_list_id', 'churn-list') }}",
        emails=churned["emails"],
        phone_numbers=churned["phone_numbers"],
        user_ids=churned["user_ids"],
        max_contacts=100_000,
    )

    RemoveFromListOperator(
        task_id="remove_from_bird_list",
        conn_id="bird_default",
        list_id="{{ var.value.get('bird_churn_list_id', '123e4567-e89b-12d3-a456-426614174000') }}",
        contact_ids=churned["bird_contact_ids"],
        emails=churned["emails"],
        max_contacts=100_000,
    )
