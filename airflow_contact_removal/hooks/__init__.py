"""One hook per vendor, and the table that picks one from a connection's type."""

from __future__ import annotations

from airflow.sdk import BaseHook

from airflow_contact_removal._compat import AirflowNotFoundException
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.autosend import AutoSendHook
from airflow_contact_removal.hooks.base import ContactRemovalHook
from airflow_contact_removal.hooks.bird import BirdHook
from airflow_contact_removal.hooks.migma import MigmaHook
from airflow_contact_removal.hooks.wooxy import WooxyHook

#: The hook class of each connection type this provider defines.
HOOKS_BY_CONN_TYPE: dict[str, type[ContactRemovalHook]] = {
    hook.conn_type: hook for hook in (AutoSendHook, WooxyHook, BirdHook, MigmaHook)
}


def register_hook(hook_class: type[ContactRemovalHook]) -> type[ContactRemovalHook]:
    """
    Make a hook reachable from its connection type (e.g. a vendor defined outside this package).

    :param hook_class: a :class:`ContactRemovalHook` subclass with its ``conn_type``.
    :return: the class, so this can decorate it.
    """
    HOOKS_BY_CONN_TYPE[hook_class.conn_type] = hook_class
    return hook_class


def get_removal_hook(conn_id: str, **hook_kwargs) -> ContactRemovalHook:
    """
    The hook for a connection, chosen by the connection's type.

    :param conn_id: an Airflow connection of type ``autosend``, ``wooxy``, ``bird`` or ``migma``.
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


__all__ = [
    "HOOKS_BY_CONN_TYPE",
    "AutoSendHook",
    "BirdHook",
    "ContactRemovalHook",
    "MigmaHook",
    "WooxyHook",
    "get_removal_hook",
    "register_hook",
]
