"""The provider as Airflow itself sees it: entry point, connection types, hooks, connection form."""

from __future__ import annotations

import json
import warnings
from importlib import resources

import jsonschema
import pytest
from airflow.providers_manager import ProvidersManager

from airflow_contact_removal import __version__, get_provider_info
from airflow_contact_removal.hooks import AutoSendHook, BirdHook, MigmaHook, WooxyHook

PACKAGE = "airflow-provider-contact-removal"

CONNECTION_TYPES = {
    "autosend": ("airflow_contact_removal.hooks.autosend.AutoSendHook", "AutoSend", "API key", AutoSendHook),
    "wooxy": ("airflow_contact_removal.hooks.wooxy.WooxyHook", "Wooxy", "Access token", WooxyHook),
    "bird": ("airflow_contact_removal.hooks.bird.BirdHook", "Bird", "Access key", BirdHook),
    "migma": ("airflow_contact_removal.hooks.migma.MigmaHook", "Migma", "API key", MigmaHook),
}
each_connection_type = pytest.mark.parametrize("conn_type", list(CONNECTION_TYPES))


@pytest.fixture(scope="module")
def manager() -> ProvidersManager:
    return ProvidersManager()


def test_provider_is_discovered_through_its_entry_point(manager):
    provider = manager.providers[PACKAGE]

    assert provider.version == __version__
    assert provider.data["package-name"] == PACKAGE
    assert provider.data["name"] == "Contact Removal"


def test_provider_declares_exactly_the_four_connection_types(manager):
    declared = {item["connection-type"] for item in manager.providers[PACKAGE].data["connection-types"]}

    assert declared == set(CONNECTION_TYPES)


@each_connection_type
def test_connection_type_maps_to_its_hook_class_and_name(manager, conn_type):
    class_name, hook_name, _, hook_class = CONNECTION_TYPES[conn_type]
    metadata = {item.connection_type: item for item in manager.iter_connection_type_hook_ui_metadata()}

    assert metadata[conn_type].hook_class_name == class_name
    assert metadata[conn_type].hook_name == hook_name
    assert f"{hook_class.__module__}.{hook_class.__name__}" == class_name


@each_connection_type
def test_hook_info_is_importable_and_testable(manager, conn_type):
    class_name, hook_name, _, hook_class = CONNECTION_TYPES[conn_type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ProvidersManager.hooks is deprecated in favour of the task SDK's
        info = manager.hooks[conn_type]

    assert info is not None, "Airflow could not import the hook"
    assert info.hook_class_name == class_name
    assert info.package_name == PACKAGE
    assert info.hook_name == hook_name
    assert info.connection_type == conn_type == hook_class.conn_type
    assert info.connection_id_attribute_name == "conn_id"
    assert info.connection_testable is True


@each_connection_type
def test_field_behaviour_hides_unused_fields_and_relabels_the_key(manager, conn_type):
    _, hook_name, key_label, _ = CONNECTION_TYPES[conn_type]
    behaviour = manager.field_behaviours[conn_type]

    assert sorted(behaviour["hidden_fields"]) == ["login", "port", "schema"]
    assert behaviour["relabeling"] == {"host": "Base URL (optional)", "password": key_label}
    assert behaviour["placeholders"]["host"] == CONNECTION_TYPES[conn_type][3].default_base_url
    assert hook_name in behaviour["placeholders"]["password"]


@each_connection_type
def test_common_transport_widgets_are_offered(manager, conn_type):
    widgets = manager.connection_form_widgets
    class_name = CONNECTION_TYPES[conn_type][0]

    for field in ("requests_per_second", "read_timeout", "max_attempts"):
        widget = widgets[f"extra__{conn_type}__{field}"]
        assert widget.hook_class_name == class_name
        assert widget.package_name == PACKAGE
        assert widget.field_name == field
        assert widget.is_sensitive is False
    assert widgets[f"extra__{conn_type}__max_attempts"].field["value"] == 6


@pytest.mark.parametrize(
    ("conn_type", "field", "label", "schema"),
    [
        ("bird", "workspace_id", "Workspace ID", {"type": ["string", "null"], "format": "uuid"}),
        ("migma", "project_id", "Project ID", {"type": ["string", "null"]}),
    ],
)
def test_vendor_specific_form_widgets(manager, conn_type, field, label, schema):
    widget = manager.connection_form_widgets[f"extra__{conn_type}__{field}"]

    assert widget.hook_class_name == CONNECTION_TYPES[conn_type][0]
    assert widget.field_name == field
    assert widget.field["schema"] == {**schema, "title": label}
    assert widget.is_sensitive is False


def test_only_bird_and_migma_have_vendor_specific_widgets(manager):
    ours = {
        name
        for name, widget in manager.connection_form_widgets.items()
        if widget.package_name == PACKAGE
        and widget.field_name not in ("requests_per_second", "read_timeout", "max_attempts")
    }

    assert ours == {"extra__bird__workspace_id", "extra__migma__project_id"}


def test_provider_info_validates_against_airflows_schema():
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()

    jsonschema.validators.validator_for(schema)(schema).validate(info)


def test_provider_info_modules_are_importable():
    import importlib

    info = get_provider_info()
    modules = [
        module
        for group in ("hooks", "operators")
        for item in info[group]
        for module in item["python-modules"]
    ]

    for module in modules:
        importlib.import_module(module)
    assert "airflow_contact_removal.operators.remove" in modules
