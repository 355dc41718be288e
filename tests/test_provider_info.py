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
from airflow_contact_removal.vendors import (
    Vendor,
    VendorRegistryError,
    get_vendor,
    register_vendor,
    registered_vendors,
    unregister_vendor,
)

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


def test_the_version_is_the_one_pyproject_declares():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())

    assert __version__ == pyproject["project"]["version"]
    assert get_provider_info()["versions"] == [__version__]


def test_provider_info_imports_no_hook():
    """ProvidersManager calls get_provider_info in every Airflow process: it must stay cheap."""
    import subprocess
    import sys

    code = (
        "import sys; from airflow_contact_removal import get_provider_info; get_provider_info(); "
        "print(sorted(m for m in sys.modules if m.startswith(('requests', 'airflow.sdk', "
        "'airflow_contact_removal.hooks', 'airflow_contact_removal.sandbox'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


@each_connection_type
def test_each_registry_entry_is_what_its_hook_and_sandbox_module_say(conn_type):
    vendor = get_vendor(conn_type)
    hook_class = CONNECTION_TYPES[conn_type][3]

    assert vendor is not None and vendor.form is not None
    assert vendor.hook_class() is hook_class
    assert hook_class.conn_type == hook_class.vendor == conn_type
    assert (hook_class.hook_name, hook_class.default_base_url) == (
        vendor.form.hook_name,
        vendor.form.default_base_url,
    )
    assert vendor.sandbox().name == conn_type


def test_a_connection_type_is_registered_once():
    with pytest.raises(VendorRegistryError, match="already registered"):
        register_vendor(Vendor("wooxy", "somewhere.else.Hook"))
    with pytest.raises(VendorRegistryError, match="own vendors"):
        unregister_vendor("wooxy")
    assert [vendor.conn_type for vendor in registered_vendors()] == list(CONNECTION_TYPES)
