"""One hook per vendor, and the lookup that picks one from a connection's type.

Both come from the vendor registry (:mod:`airflow_contact_removal.vendors`): a vendor registered there,
here or outside this package, is found by :func:`get_removal_hook` like a built-in one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow.sdk import BaseHook

from airflow_contact_removal._compat import AirflowNotFoundException
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.base import ContactRemovalHook
from airflow_contact_removal.vendors import (
    BUILTIN_VENDORS,
    Vendor,
    get_vendor,
    register_vendor,
    registered_vendors,
)


class _HooksByConnType(Mapping[str, type[ContactRemovalHook]]):
    """The hook class of every registered vendor, by connection type, read from the registry each time."""

    def __getitem__(self, conn_type: str) -> type[ContactRemovalHook]:
        vendor = get_vendor(conn_type)
        if vendor is None:
            raise KeyError(conn_type)
        return vendor.hook_class()

    def __iter__(self) -> Iterator[str]:
        return iter([vendor.conn_type for vendor in registered_vendors()])

    def __len__(self) -> int:
        return len(registered_vendors())


#: The hook class of each connection type contact removal serves (a read-only view of the registry).
HOOKS_BY_CONN_TYPE: Mapping[str, type[ContactRemovalHook]] = _HooksByConnType()


def register_hook(
    hook_class: type[ContactRemovalHook], sandbox_module: str | None = None
) -> type[ContactRemovalHook]:
    """
    Make a hook reachable from its connection type (e.g. a vendor defined outside this package).

    :param hook_class: a :class:`ContactRemovalHook` subclass with its ``conn_type``, defined at the top
        level of an importable module (the registry names it by dotted path, as it names the built-in ones).
    :param sandbox_module: dotted path of the module whose ``SANDBOX`` plugs the vendor into the sandbox
        (:class:`~airflow_contact_removal.sandbox.vendor.SandboxVendor`); None: the sandbox does not serve it.
    :return: the class, so this can decorate it.
    """
    register_vendor(
        Vendor(hook_class.conn_type, f"{hook_class.__module__}.{hook_class.__qualname__}", sandbox_module)
    )
    return hook_class


def get_removal_hook(conn_id: str, **hook_kwargs) -> ContactRemovalHook:
    """
    The hook for a connection, chosen by the connection's type.

    :param conn_id: an Airflow connection of a registered vendor's type (this provider's: ``autosend``,
        ``wooxy``, ``bird`` or ``migma``).
    :param hook_kwargs: passed to the hook's constructor.
    """
    try:
        conn_type = BaseHook.get_connection(conn_id).conn_type
    except AirflowNotFoundException:
        raise ContactRemovalConfigError(f"connection {conn_id!r} is not defined") from None
    hook_class = HOOKS_BY_CONN_TYPE.get(conn_type or "")
    if hook_class is None:
        raise ContactRemovalConfigError(
            f"connection {conn_id!r} has type {conn_type!r}; contact removal needs one of "
            f"{', '.join(sorted(HOOKS_BY_CONN_TYPE))}"
        )
    return hook_class(conn_id, **hook_kwargs)


def __getattr__(name: str) -> Any:
    # This provider's hook classes by name (``from airflow_contact_removal.hooks import BirdHook``),
    # taken from the registry so that the vendors are listed there only; imported on first use.
    for vendor in BUILTIN_VENDORS:
        if vendor.hook_class_short_name == name:
            return vendor.hook_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HOOKS_BY_CONN_TYPE",
    "ContactRemovalHook",
    "get_removal_hook",
    "register_hook",
    *(vendor.hook_class_short_name for vendor in BUILTIN_VENDORS),
]
