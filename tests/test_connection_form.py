"""
The connection form as the UI receives it, and what a connection saved from it means to the hook.

The data is read through the API server's own route function for ``/ui/connections/hook_meta``
(what the UI's connection form is built from), so it is what Airflow serves on every supported
minor: Airflow 3.2 and later build it from the provider info's ``conn-fields``, Airflow 3.1 from
the hook classes' ``get_connection_form_widgets``.
"""

from __future__ import annotations

import airflow
import pytest
from packaging.version import Version

from airflow_contact_removal import connection_form
from airflow_contact_removal.hooks import AutoSendHook, BirdHook, ContactRemovalHook, MigmaHook, WooxyHook
from tests.conftest import set_connection

HOOKS = {"autosend": AutoSendHook, "wooxy": WooxyHook, "bird": BirdHook, "migma": MigmaHook}
PASSWORD_PLACEHOLDERS = {
    "autosend": "Your AutoSend API key",
    "wooxy": "Your Wooxy access token",
    "bird": "Your Bird access key",
    "migma": "Your Migma API key",
}
#: Every extra the README documents for any vendor.
TRANSPORT_EXTRAS = {
    "requests_per_second",
    "timeout",
    "connect_timeout",
    "read_timeout",
    "max_attempts",
    "max_retry_time",
    "max_retry_after",
    "verify",
    "breaker_failures",
    "pool",
    "require_pool",
}
REQUIRED_EXTRAS = {"autosend": set(), "wooxy": set(), "bird": {"workspace_id"}, "migma": {"project_id"}}
#: Airflow 3.2 added declarative conn-fields, whose JSON schema can say "required".
DECLARATIVE_FORM = Version(airflow.__version__) >= Version("3.2")
each_conn_type = pytest.mark.parametrize("conn_type", list(HOOKS))


@pytest.fixture(scope="module")
def hook_meta() -> dict[str, dict]:
    """The JSON the API server answers on ``GET /ui/connections/hook_meta``, by connection type."""
    from airflow.api_fastapi.core_api.routes.ui.connections import hook_meta_data

    return {meta.connection_type: meta.model_dump(mode="json") for meta in hook_meta_data()}


def shown_as_required(field: dict) -> bool:
    """The UI's rule (``isRequired`` in its form): a field whose schema type does not admit null."""
    field_type = field["schema"].get("type")
    return bool(field_type) and (not isinstance(field_type, list) or "null" not in field_type)


@each_conn_type
def test_the_form_belongs_to_the_hook(hook_meta, conn_type):
    meta = hook_meta[conn_type]
    hook = HOOKS[conn_type]

    assert meta["hook_class_name"] == f"{hook.__module__}.{hook.__name__}"
    assert meta["hook_name"] == hook.hook_name


@each_conn_type
def test_standard_fields_hide_what_is_unused_and_name_the_key(hook_meta, conn_type):
    fields = hook_meta[conn_type]["standard_fields"]

    assert fields["login"]["hidden"] and fields["port"]["hidden"] and fields["url_schema"]["hidden"]
    assert fields["host"] == {
        "hidden": False,
        "title": "Base URL (optional)",
        "placeholder": HOOKS[conn_type].default_base_url,
    }
    assert fields["password"]["placeholder"] == PASSWORD_PLACEHOLDERS[conn_type]
    assert fields["password"]["title"] in ("API key", "Access token", "Access key")


@each_conn_type
def test_every_documented_extra_has_a_described_field(hook_meta, conn_type):
    extras = hook_meta[conn_type]["extra_fields"]

    assert set(extras) == TRANSPORT_EXTRAS | REQUIRED_EXTRAS[conn_type]
    for name, field in extras.items():
        assert field["schema"]["title"], name
        assert field["description"], name


@each_conn_type
def test_only_the_extras_the_hook_needs_are_required(hook_meta, conn_type):
    extras = hook_meta[conn_type]["extra_fields"]

    for name, field in extras.items():
        required = name in REQUIRED_EXTRAS[conn_type]
        assert field["description"].startswith("Required") is required, name
        if DECLARATIVE_FORM:
            assert shown_as_required(field) is required, name
        else:  # Airflow 3.1 renders WTForms fields that cannot say it: the label does
            assert field["schema"]["title"].endswith("(required)") is required, name
            assert not shown_as_required(field)


def test_bird_workspace_must_be_a_uuid_where_airflow_can_check_it(hook_meta):
    field = hook_meta["bird"]["extra_fields"]["workspace_id"]

    if DECLARATIVE_FORM:
        assert field["schema"]["format"] == "uuid"
    assert "UUID" in field["description"]


@each_conn_type
def test_no_field_is_pre_filled(hook_meta, conn_type):
    """A pre-filled default would be saved with the connection as if the user had typed it."""
    for name, field in hook_meta[conn_type]["extra_fields"].items():
        assert field["value"] is None, name
        assert "default" not in field["schema"], name


def test_the_descriptions_name_the_hooks_own_defaults(hook_meta):
    extras = hook_meta["migma"]["extra_fields"]

    assert ContactRemovalHook.default_connect_timeout == connection_form.DEFAULT_CONNECT_TIMEOUT
    assert ContactRemovalHook.default_read_timeout == connection_form.DEFAULT_READ_TIMEOUT
    assert ContactRemovalHook.default_max_attempts == connection_form.DEFAULT_MAX_ATTEMPTS
    assert ContactRemovalHook.default_max_retry_time == connection_form.DEFAULT_MAX_RETRY_TIME
    assert ContactRemovalHook.default_max_retry_after == connection_form.DEFAULT_MAX_RETRY_AFTER
    assert "60 s" in extras["read_timeout"]["description"]
    assert "Empty: 6." in extras["max_attempts"]["description"]


def ui_saved_extra(hook_meta: dict, conn_type: str, typed: dict) -> dict:
    """The extra a connection saved from the form stores: every field's shown value, or what was typed."""
    return {
        name: typed.get(name, field["value"]) for name, field in hook_meta[conn_type]["extra_fields"].items()
    }


@pytest.mark.parametrize("typed_timeout", [20, "20"], ids=["number-field", "text-field-of-airflow-3.1"])
def test_a_timeout_typed_in_the_form_applies_to_connect_and_read(hook_meta, monkeypatch, typed_timeout):
    extra = ui_saved_extra(
        hook_meta,
        "bird",
        {"workspace_id": "123e4567-e89b-12d3-a456-426614174000", "timeout": typed_timeout},
    )
    set_connection(monkeypatch, "bird_from_ui", conn_type="bird", password="k", extra=extra)

    settings = BirdHook("bird_from_ui").settings

    assert settings.read_timeout == 20
    assert settings.connect_timeout == 20
    assert settings.max_attempts == ContactRemovalHook.default_max_attempts
    assert settings.max_retry_time == ContactRemovalHook.default_max_retry_time
    assert settings.verify is True


def test_a_form_saved_with_nothing_typed_gives_the_hooks_defaults(hook_meta, monkeypatch):
    extra = ui_saved_extra(hook_meta, "autosend", {})
    set_connection(monkeypatch, "autosend_from_ui", conn_type="autosend", password="k", extra=extra)

    settings = AutoSendHook("autosend_from_ui").settings

    assert settings.connect_timeout == ContactRemovalHook.default_connect_timeout
    assert settings.read_timeout == ContactRemovalHook.default_read_timeout
    assert settings.requests_per_second == AutoSendHook.default_requests_per_second


#: What a connection saved from the earlier form (release 0.1) holds with nothing typed: that form
#: showed read_timeout and max_attempts pre-filled, and the UI saved them (as text on Airflow 3.1).
EARLIER_FORM_SAVED = [{"read_timeout": 60, "max_attempts": 6}, {"read_timeout": "60", "max_attempts": "6"}]


@pytest.mark.parametrize("saved", EARLIER_FORM_SAVED, ids=["number-fields", "text-fields"])
def test_a_timeout_added_to_an_earlier_form_connection_applies_to_reads(monkeypatch, caplog, capsys, saved):
    """The 60 the earlier form saved was never typed: it must not win over a timeout that was."""
    extra = {**saved, "project_id": "P1", "timeout": 20}
    set_connection(monkeypatch, "migma_old_form", conn_type="migma", password="k", extra=extra)

    with caplog.at_level("INFO"):
        settings = MigmaHook("migma_old_form").settings

    assert (settings.connect_timeout, settings.read_timeout) == (20, 20)
    assert settings.max_attempts == 6
    logged = capsys.readouterr().out + caplog.text  # the hook logger writes through structlog
    assert "read_timeout 60 is the value the earlier connection form saved by itself" in logged


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"timeout": 20, "read_timeout": 45}, (20, 45)),  # typed: the specific key wins
        ({"timeout": 20, "read_timeout": 61}, (20, 61)),  # how to keep a long read with a timeout
        ({"read_timeout": 60}, (10, 60)),  # no timeout to yield to: 60 it is
        ({"timeout": 60, "read_timeout": 60}, (60, 60)),
        (
            {"timeout": 20, "connect_timeout": 10, "read_timeout": 30},
            (10, 30),
        ),  # connect was never pre-filled
    ],
    ids=["typed-read", "read-61", "read-60-alone", "both-60", "connect-10"],
)
def test_a_specific_timeout_other_than_the_earlier_forms_default_wins(monkeypatch, extra, expected):
    set_connection(
        monkeypatch, "migma_typed", conn_type="migma", password="k", extra={"project_id": "P1", **extra}
    )

    settings = MigmaHook("migma_typed").settings

    assert (settings.connect_timeout, settings.read_timeout) == expected
