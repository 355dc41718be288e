"""
The one list of vendors: provider info, the hook lookup and the sandbox are derived from it.

Each entry names its connection type, its hook class and its sandbox module by dotted path, so reading
the registry imports neither: Airflow's ``ProvidersManager`` calls
:func:`~airflow_contact_removal.get_provider_info` in many processes, and this module imports only the
connection form declarations. The hook and the sandbox descriptor are imported when first asked for.

A vendor defined outside this package (e.g. a test-only one) is added with :func:`register_vendor`;
the hook lookup and a sandbox started afterwards then serve it like a built-in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from airflow_contact_removal.connection_form import ConnectionForm, FormField

AUTOSEND_FORM = ConnectionForm("AutoSend", "API key", "API key", "https://api.autosend.com/v1")
WOOXY_FORM = ConnectionForm("Wooxy", "Access token", "access token", "https://api.wooxy.com/v3")
BIRD_FORM = ConnectionForm(
    "Bird",
    "Access key",
    "access key",
    "https://api.bird.com",
    (
        FormField(
            "workspace_id",
            "Workspace ID",
            "Required: your Bird workspace UUID; every request goes to this workspace.",
            kind="string",
            required=True,
            format="uuid",
        ),
    ),
)
MIGMA_FORM = ConnectionForm(
    "Migma",
    "API key",
    "API key",
    "https://api.migma.ai",
    (
        FormField(
            "project_id",
            "Project ID",
            "Required: the Migma project whose contacts are deleted.",
            kind="string",
            required=True,
        ),
    ),
)


class VendorRegistryError(ValueError):
    """A vendor is registered twice, or asked for without being registered."""


@dataclass(frozen=True)
class Vendor:
    """
    One vendor as the provider knows it.

    :param conn_type: its Airflow connection type; also its name in summaries and in the sandbox.
    :param hook_class_name: dotted path of its
        :class:`~airflow_contact_removal.hooks.base.ContactRemovalHook` subclass.
    :param sandbox_module: dotted path of the module whose ``SANDBOX``
        (a :class:`~airflow_contact_removal.sandbox.vendor.SandboxVendor`) plugs it into the sandbox;
        None: the sandbox does not serve it.
    :param form: its connection form, for the provider info. Only this provider's own vendors have one
        here: a vendor from elsewhere is declared in its own provider's info.
    """

    conn_type: str
    hook_class_name: str
    sandbox_module: str | None = None
    form: ConnectionForm | None = None

    @property
    def hook_module(self) -> str:
        """The dotted path of the module that defines the hook class."""
        return self.hook_class_name.rpartition(".")[0]

    @property
    def hook_class_short_name(self) -> str:
        """The hook class's own name, e.g. ``BirdHook``."""
        return self.hook_class_name.rpartition(".")[2]

    def hook_class(self) -> Any:
        """The hook class (imported on first use)."""
        return getattr(import_module(self.hook_module), self.hook_class_short_name)

    def sandbox(self) -> Any:
        """The sandbox descriptor (imported on first use); None when the sandbox does not serve it."""
        if self.sandbox_module is None:
            return None
        return import_module(self.sandbox_module).SANDBOX


#: This provider's own vendors, in the order every listing shows them.
BUILTIN_VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "autosend",
        "airflow_contact_removal.hooks.autosend.AutoSendHook",
        "airflow_contact_removal.sandbox.autosend",
        AUTOSEND_FORM,
    ),
    Vendor(
        "wooxy",
        "airflow_contact_removal.hooks.wooxy.WooxyHook",
        "airflow_contact_removal.sandbox.wooxy",
        WOOXY_FORM,
    ),
    Vendor(
        "bird",
        "airflow_contact_removal.hooks.bird.BirdHook",
        "airflow_contact_removal.sandbox.bird",
        BIRD_FORM,
    ),
    Vendor(
        "migma",
        "airflow_contact_removal.hooks.migma.MigmaHook",
        "airflow_contact_removal.sandbox.migma",
        MIGMA_FORM,
    ),
)

#: Sensor and trigger modules kept for DAGs written before the generic completion sensor and trigger;
#: the provider info lists them with the generic ones.
COMPATIBILITY_MODULES: dict[str, tuple[str, ...]] = {
    "sensors": ("airflow_contact_removal.sensors.wooxy",),
    "triggers": ("airflow_contact_removal.triggers.wooxy",),
}

_registered: dict[str, Vendor] = {vendor.conn_type: vendor for vendor in BUILTIN_VENDORS}


def register_vendor(vendor: Vendor) -> Vendor:
    """
    Add a vendor defined outside this package; the hook lookup and any sandbox created afterwards serve it.

    :param vendor: its entry; its connection type must be new.
    :return: the entry.
    """
    if vendor.conn_type in _registered:
        raise VendorRegistryError(f"a vendor with connection type {vendor.conn_type!r} is already registered")
    _registered[vendor.conn_type] = vendor
    return vendor


def unregister_vendor(conn_type: str) -> None:
    """
    Remove a vendor added with :func:`register_vendor` (a test's vendor, once the test is done).

    :param conn_type: its connection type; this provider's own vendors cannot be removed.
    """
    if conn_type in {vendor.conn_type for vendor in BUILTIN_VENDORS}:
        raise VendorRegistryError(f"{conn_type!r} is one of this provider's own vendors")
    _registered.pop(conn_type, None)


def registered_vendors() -> tuple[Vendor, ...]:
    """Every vendor: this provider's own first, then the registered ones in the order they came."""
    return tuple(_registered.values())


def get_vendor(conn_type: str) -> Vendor | None:
    """The vendor of a connection type, or None."""
    return _registered.get(conn_type)
