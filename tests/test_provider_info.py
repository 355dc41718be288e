"""The provider as Airflow itself sees it: entry point, connection types, hooks.

The connection form is tested through the API server in ``test_connection_form.py``.
"""

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
