"""
The connection form of a connection type, declared once for every supported Airflow.

Airflow 3.2 and later read the declarative ``conn-fields`` and ``ui-field-behaviour`` of the provider
info (:func:`conn_fields`, :func:`field_behaviour`); Airflow 3.1 asks the hook class instead
(``get_connection_form_widgets`` / ``get_ui_field_behaviour``, built here from the same
declarations by :func:`form_widgets` and :func:`ui_field_behaviour`).

No optional field carries a ``default``: the UI would show it pre-filled and save it with the
connection, and a saved ``read_timeout`` of 60 would then win over a ``timeout`` the user typed.
Each description says what an empty field means instead; the hook applies the default.

Each vendor's form is declared once, in its entry of the vendor registry
(:mod:`airflow_contact_removal.vendors`). This module imports nothing from the hooks, so Airflow can
read the forms without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

#: The transport defaults the descriptions name (``ContactRemovalHook`` applies them; a test
#: checks the two agree).
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_READ_TIMEOUT = 60
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_MAX_RETRY_TIME = 300
DEFAULT_MAX_RETRY_AFTER = 120
DEFAULT_BREAKER_FAILURES = 20


@dataclass(frozen=True)
class FormField:
    """
    One connection extra as the form shows it.

    :param name: the extra's key.
    :param label: the field's title.
    :param description: the help text: what it is, and what an empty field means.
    :param kind: ``string``, ``integer``, ``number`` or ``boolean``.
    :param required: the hook refuses the connection without it; the form marks it required.
    :param format: a JSON-schema format (``uuid``), checked by the form.
    """

    name: str
    label: str
    description: str
    kind: str = "number"
    required: bool = False
    format: str | None = None

    def schema(self) -> dict[str, Any]:
        # Airflow's form marks a field required exactly when its type does not admit null.
        schema: dict[str, Any] = {"type": self.kind if self.required else [self.kind, "null"]}
        if self.format:
            schema["format"] = self.format
        return schema


@dataclass(frozen=True)
class ConnectionForm:
    """
    The form of one connection type.

    :param hook_name: the vendor's name as the UI shows it (the hook's ``hook_name``).
    :param key_label: the title of the password field.
    :param key_noun: what the vendor calls its key, in the password placeholder.
    :param default_base_url: the vendor's API base (the hook's ``default_base_url``).
    :param vendor_fields: the vendor's own extras, shown before the transport fields.
    """

    hook_name: str
    key_label: str
    key_noun: str
    default_base_url: str
    vendor_fields: tuple[FormField, ...] = ()

    @property
    def fields(self) -> tuple[FormField, ...]:
        return self.vendor_fields + TRANSPORT_FIELDS


TRANSPORT_FIELDS: tuple[FormField, ...] = (
    FormField(
        "requests_per_second",
        "Requests per second",
        "Client-side request rate for this key, above 0. It may lower a rate the vendor documents, "
        "never lift it. Empty: the vendor's documented rate.",
    ),
    FormField(
        "timeout",
        "Timeout (s)",
        f"Sets both the connect and the read timeout. Empty: {DEFAULT_CONNECT_TIMEOUT} s to connect, "
        f"{DEFAULT_READ_TIMEOUT} s to read.",
    ),
    FormField(
        "connect_timeout",
        "Connect timeout (s)",
        f"Overrides Timeout for connecting. Empty: Timeout, else {DEFAULT_CONNECT_TIMEOUT} s.",
    ),
    FormField(
        "read_timeout",
        "Read timeout (s)",
        "Overrides Timeout for reading an answer; bounds the whole answer of one attempt, not the gap "
        f"between two bytes. Empty: Timeout, else {DEFAULT_READ_TIMEOUT} s.",
    ),
    FormField(
        "max_attempts",
        "Attempts per request",
        "Including the first; only transient faults (429, 5xx, timeouts) are retried. "
        f"Empty: {DEFAULT_MAX_ATTEMPTS}.",
        kind="integer",
    ),
    FormField(
        "max_retry_time",
        "Retry time per request (s)",
        f"Longest time one request may take with its retries and waits. Empty: {DEFAULT_MAX_RETRY_TIME} s.",
    ),
    FormField(
        "max_retry_after",
        "Longest Retry-After honoured (s)",
        f"A vendor asking to wait longer fails the batch instead. Empty: {DEFAULT_MAX_RETRY_AFTER} s.",
    ),
    FormField(
        "verify",
        "TLS verification",
        "A CA bundle path, or false to turn verification off (logged as a warning). Empty: on.",
        kind="string",
    ),
    FormField(
        "breaker_failures",
        "Circuit breaker (failures in a row)",
        "Transient failures in a row, across every sender of a task, after which the run stops "
        f"sending. Empty: {DEFAULT_BREAKER_FAILURES}.",
        kind="integer",
    ),
    FormField(
        "pool",
        "Account pool",
        "The Airflow pool that holds this account's budget (one slot per request in flight). "
        "Empty: contact_removal_<conn_id>.",
        kind="string",
    ),
    FormField(
        "require_pool",
        "Require the account pool",
        "true: a task outside the account's pool is refused before any request. Empty: a warning.",
        kind="boolean",
    ),
)


def field_behaviour(form: ConnectionForm) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` (Airflow >= 3.2)."""
    behaviour = ui_field_behaviour(form)
    return {
        "hidden-fields": behaviour["hidden_fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }


def conn_fields(form: ConnectionForm) -> dict[str, Any]:
    """The provider info's ``conn-fields`` (Airflow >= 3.2)."""
    return {
        field.name: {"label": field.label, "description": field.description, "schema": field.schema()}
        for field in form.fields
    }


def ui_field_behaviour(form: ConnectionForm) -> dict[str, Any]:
    """What ``get_ui_field_behaviour`` returns (Airflow 3.1 reads it from the hook class)."""
    return {
        "hidden_fields": ["schema", "login", "port"],
        "relabeling": {"host": "Base URL (optional)", "password": form.key_label},
        "placeholders": {"host": form.default_base_url, "password": f"Your {form.hook_name} {form.key_noun}"},
    }


def form_widgets(form: ConnectionForm) -> dict[str, Any]:
    """
    What ``get_connection_form_widgets`` returns (Airflow 3.1 reads it from the hook class).

    Airflow 3.1's API server renders these WTForms fields into the form's JSON schema; it knows
    string, integer, password and boolean fields, so numbers are string fields (the hook reads
    ``"2.5"`` as 2.5) and "required" is said in the label and description.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import Optional

    widgets = {}
    for field in form.fields:
        field_class = IntegerField if field.kind == "integer" else StringField
        label = f"{field.label} (required)" if field.required else field.label
        validators = [] if field.required else [Optional()]
        widgets[field.name] = field_class(
            lazy_gettext(label),
            validators=validators,
            description=field.description,
            widget=BS3TextFieldWidget(),
        )
    return widgets


def form_methods(form: ConnectionForm) -> tuple[staticmethod, staticmethod]:
    """
    ``get_connection_form_widgets`` and ``get_ui_field_behaviour`` for a hook class body.

    Airflow 3.1 calls them only when the hook class itself defines them (not a base class), so each
    hook assigns them: ``get_connection_form_widgets, get_ui_field_behaviour = form_methods(BIRD_FORM)``.
    """
    return staticmethod(partial(form_widgets, form)), staticmethod(partial(ui_field_behaviour, form))
