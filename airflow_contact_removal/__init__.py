"""Apache Airflow provider: remove contacts in bulk from AutoSend, Wooxy, Bird and Migma."""

from __future__ import annotations

from airflow_contact_removal.connection_form import conn_fields, field_behaviour
from airflow_contact_removal.vendors import BUILTIN_VENDORS, COMPATIBILITY_MODULES, Vendor
from airflow_contact_removal.version import PACKAGE_NAME, __version__

REPOSITORY_URL = "https://github.com/airflow-provider-contact-removal/airflow-provider-contact-removal"
INTEGRATION = "Contact Removal"


def _connection_type(vendor: Vendor) -> dict:
    form = vendor.form
    if form is None:  # every vendor of this provider declares its form in the registry
        raise ValueError(f"vendor {vendor.conn_type!r} has no connection form")
    return {
        "connection-type": vendor.conn_type,
        "hook-class-name": vendor.hook_class_name,
        "hook-name": form.hook_name,
        "ui-field-behaviour": field_behaviour(form),
        "conn-fields": conn_fields(form),
    }


def _modules(group: str, *generic: str) -> list[dict]:
    modules = [*generic, *COMPATIBILITY_MODULES.get(group, ())]
    return [{"integration-name": INTEGRATION, "python-modules": modules}]


def get_provider_info() -> dict:
    """
    Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

    Derived from the vendor registry (:mod:`airflow_contact_removal.vendors`), which names the hooks by
    dotted path: nothing here imports a hook, so every Airflow process can call this cheaply.
    """
    connection_types = [_connection_type(vendor) for vendor in BUILTIN_VENDORS]
    hook_names = [connection_type["hook-name"] for connection_type in connection_types]
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION,
        "description": f"Remove contacts in bulk from {', '.join(hook_names[:-1])} and {hook_names[-1]}.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": REPOSITORY_URL,
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [vendor.hook_module for vendor in BUILTIN_VENDORS],
            }
        ],
        "operators": _modules("operators", "airflow_contact_removal.operators.remove"),
        "sensors": _modules("sensors", "airflow_contact_removal.sensors.completion"),
        "triggers": _modules("triggers", "airflow_contact_removal.triggers.completion"),
        "connection-types": connection_types,
    }
