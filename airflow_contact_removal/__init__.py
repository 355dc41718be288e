"""Apache Airflow provider: remove contacts in bulk from AutoSend, Wooxy, Bird and Migma."""

from __future__ import annotations

from airflow_contact_removal.connection_form import FORMS, conn_fields, field_behaviour

__version__ = "0.1.0"

REPOSITORY_URL = "https://github.com/airflow-provider-contact-removal/airflow-provider-contact-removal"


def _connection_type(conn_type: str, hook: str) -> dict:
    form = FORMS[conn_type]
    return {
        "connection-type": conn_type,
        "hook-class-name": f"airflow_contact_removal.hooks.{hook}",
        "hook-name": form.hook_name,
        "ui-field-behaviour": field_behaviour(conn_type),
        "conn-fields": conn_fields(conn_type),
    }


def get_provider_info() -> dict:
    """Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-provider-contact-removal",
        "name": "Contact Removal",
        "description": "Remove contacts in bulk from AutoSend, Wooxy, Bird and Migma.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Contact Removal",
                "external-doc-url": REPOSITORY_URL,
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Contact Removal",
                "python-modules": [
                    "airflow_contact_removal.hooks.autosend",
                    "airflow_contact_removal.hooks.wooxy",
                    "airflow_contact_removal.hooks.bird",
                    "airflow_contact_removal.hooks.migma",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Contact Removal",
                "python-modules": ["airflow_contact_removal.operators.remove"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Contact Removal",
                "python-modules": [
                    "airflow_contact_removal.sensors.completion",
                    "airflow_contact_removal.sensors.wooxy",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Contact Removal",
                "python-modules": [
                    "airflow_contact_removal.triggers.completion",
                    "airflow_contact_removal.triggers.wooxy",
                ],
            }
        ],
        "connection-types": [
            _connection_type("autosend", "autosend.AutoSendHook"),
            _connection_type("wooxy", "wooxy.WooxyHook"),
            _connection_type("bird", "bird.BirdHook"),
            _connection_type("migma", "migma.MigmaHook"),
        ],
    }
