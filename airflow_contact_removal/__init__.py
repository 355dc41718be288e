"""Apache Airflow provider: remove contacts in bulk from AutoSend, Wooxy, Bird and Migma."""

from __future__ import annotations

__version__ = "0.1.0"


def _connection_type(conn_type: str, hook: str, name: str, key_label: str, host_example: str, fields: dict):
    common_fields = {
        "requests_per_second": {
            "label": "Requests per second",
            "description": (
                "Client-side request rate for this key, above 0. It may lower a rate the vendor "
                "documents, never lift it. Empty: the vendor default."
            ),
            "schema": {"type": ["number", "null"]},
        },
        "read_timeout": {
            "label": "Read timeout (s)",
            "description": "Bounds the whole answer of one attempt, above 0.",
            "schema": {"type": ["number", "null"], "default": 60},
        },
        "max_attempts": {
            "label": "Attempts per request",
            "description": "Including the first; only transient faults (429, 5xx, timeouts) are retried.",
            "schema": {"type": ["integer", "null"], "default": 6},
        },
    }
    return {
        "connection-type": conn_type,
        "hook-class-name": f"airflow_contact_removal.hooks.{hook}",
        "hook-name": name,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL (optional)", "password": key_label},
            "placeholders": {"host": host_example, "password": f"your {name} {key_label.lower()}"},
        },
        "conn-fields": {**fields, **common_fields},
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
                "external-doc-url": "https://github.com/airflow-provider-contact-removal",
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
            _connection_type(
                "autosend",
                "autosend.AutoSendHook",
                "AutoSend",
                "API key",
                "https://api.autosend.com/v1",
                {},
            ),
            _connection_type(
                "wooxy",
                "wooxy.WooxyHook",
                "Wooxy",
                "Access token",
                "https://api.wooxy.com/v3",
                {},
            ),
            _connection_type(
                "bird",
                "bird.BirdHook",
                "Bird",
                "Access key",
                "https://api.bird.com",
                {
                    "workspace_id": {
                        "label": "Workspace ID",
                        "description": "Your Bird workspace UUID (required).",
                        "schema": {"type": ["string", "null"], "format": "uuid"},
                    }
                },
            ),
            _connection_type(
                "migma",
                "migma.MigmaHook",
                "Migma",
                "API key",
                "https://api.migma.ai",
                {
                    "project_id": {
                        "label": "Project ID",
                        "description": "Default project whose contacts are deleted.",
                        "schema": {"type": ["string", "null"]},
                    }
                },
            ),
        ],
    }
