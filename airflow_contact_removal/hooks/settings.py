"""Connection settings: the API key holder, the transport settings, and how extras are read and checked.

Everything here refuses a value that would make every request fail, before the first request, with
a :class:`~airflow_contact_removal.exceptions.ContactRemovalConfigError` that names the setting and
never quotes a secret.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.breaker import DEFAULT_BREAKER_FAILURES


class _Secret:
    """Holds the API key so that no repr, ``vars()`` dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@dataclass(frozen=True)
class HookSettings:
    """Transport settings, from the connection's extras with the hook's defaults."""

    base_url: str
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    max_retry_time: float
    max_retry_after: float
    requests_per_second: float | None
    verify: bool | str
    breaker_failures: int = DEFAULT_BREAKER_FAILURES


def is_loopback(hostname: str | None) -> bool:
    """Whether a host name is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


#: Characters no list, workspace or project id has: they would change the request's path or query.
_PATH_BREAKERS = ("/", "\\", "?", "#", "..")


def check_id_value(value: object, name: str) -> str:
    """
    Refuse an id (list, workspace...) that is empty, or holds ``/``, ``\\``, ``?``, ``#``, ``..`` or
    control characters: no vendor id has them, and sent as is they would reach another path. The
    refusal names the argument, never quotes the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise ContactRemovalConfigError(f"{name} must be a non-empty string")
    if value == "." or any(part in value for part in _PATH_BREAKERS) or not value.isprintable():
        raise ContactRemovalConfigError(
            f"{name} must not contain '/', '\\', '?', '#', '..' or control characters"
        )
    return value


def path_segment(value: object, name: str) -> str:
    """
    Make ``value`` safe to put in a URL path as one segment.

    Values with ``/``, ``?``, ``#``, ``..`` (which would end the segment, start a query or climb a
    level) are refused (:func:`check_id_value`); any other special character (``%``, spaces...) is
    percent-encoded.
    """
    return quote(check_id_value(value, name), safe="")


def read_extras(connection: Any, conn_type: str, conn_id: str) -> dict[str, Any]:
    """A connection's extras; UI-prefixed keys (``extra__<type>__name``) are accepted too."""
    text = connection.extra
    if isinstance(text, str) and text.strip():
        # extra_dejson logs and returns {} for text that is not JSON: the hook would then run with
        # its defaults, silently, without the settings the user wrote.
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ContactRemovalConfigError(
                f"connection {conn_id!r}: the extra is not a JSON object; fix its syntax"
            )
    raw = connection.extra_dejson or {}
    prefix = f"extra__{conn_type}__"
    extras = {key.removeprefix(prefix): value for key, value in raw.items() if key.startswith(prefix)}
    extras.update({key: value for key, value in raw.items() if not key.startswith("extra__")})
    return {key: value for key, value in extras.items() if value not in (None, "")}


def base_url_of(connection: Any, conn_id: str, default_base_url: str) -> str:
    """
    The base URL from the connection's host (and port), or ``default_base_url`` when it has none.

    Plain ``http://`` is refused unless the host is loopback, so a key never travels in clear text.
    """
    host = (connection.host or "").strip()
    if not host:
        return default_base_url
    port = connection.port
    with_scheme = "://" in host
    if not with_scheme:
        host = f"https://{host}"
        if port:
            host = f"{host}:{port}"
    parts = urlsplit(host)
    try:
        url_port = parts.port
    except ValueError:
        url_port = -1
    if parts.scheme not in ("https", "http") or not parts.hostname or url_port == -1:
        raise ContactRemovalConfigError(
            f"connection {conn_id!r}: host must be a base URL such as {default_base_url}"
        )
    if with_scheme and port and url_port != port:
        # The connection's port field is not applied to a host that is already a URL: say so
        # rather than send to the scheme's default port.
        raise ContactRemovalConfigError(
            f"connection {conn_id!r}: the port field ({port}) is ignored when the host is a URL "
            "with a scheme; put the port in the host URL (https://host:port/...)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ContactRemovalConfigError(
            f"connection {conn_id!r}: the base URL must not carry credentials, a query or a fragment"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ContactRemovalConfigError(
            f"connection {conn_id!r}: plain http:// is only allowed to a loopback host; use "
            "https:// so the API key is never sent in clear text"
        )
    return host.rstrip("/")


def verify_of(value: object, conn_id: str, log: logging.Logger | Any) -> bool | str:
    """The ``verify`` extra: ``True``, ``False`` (honoured with a warning) or a CA bundle that exists."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if value is False:
        log.warning(
            "Connection %r turns TLS certificate verification OFF (extra verify=false). "
            "Point 'verify' at a CA bundle instead.",
            conn_id,
        )
        return False
    if value is True:
        return True
    if isinstance(value, str) and value.strip():
        path = os.path.expanduser(value.strip())
        if not os.path.exists(path):
            raise ContactRemovalConfigError(
                f"connection {conn_id!r}: extra 'verify' names a CA bundle that does not exist"
            )
        return path
    raise ContactRemovalConfigError(
        f"connection {conn_id!r}: extra 'verify' must be true, false or a CA bundle path"
    )


def extra_number(
    extras: Mapping[str, Any], name: str, default: Any, *, minimum: float = 0.0, positive: bool = False
) -> Any:
    """The extra ``name`` as a finite number (at least ``minimum``, above 0 when ``positive``), or ``default``."""
    if name not in extras:
        return default
    try:
        value = float(extras[name])
    except (TypeError, ValueError):
        raise ContactRemovalConfigError(f"connection extra {name!r} must be a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ContactRemovalConfigError(f"connection extra {name!r} must be a finite number")
    if positive and value <= 0:
        raise ContactRemovalConfigError(f"connection extra {name!r} must be more than 0")
    if value < minimum:
        raise ContactRemovalConfigError(f"connection extra {name!r} must be at least {minimum:g}")
    return value


#: The read timeout the connection form of release 0.1 showed pre-filled. The UI saved it with every
#: connection created there, typed or not, so in an extra it does not tell a choice from a default.
EARLIER_FORM_READ_TIMEOUT = 60.0


def timeouts_of(
    extras: Mapping[str, Any],
    default_connect: float,
    default_read: float,
    conn_id: str,
    log: logging.Logger | Any,
) -> tuple[float, float]:
    """
    The connect and read timeouts: ``connect_timeout`` / ``read_timeout``, else ``timeout``, else
    the defaults.

    The more specific key wins, with one exception: next to a ``timeout``, a ``read_timeout`` of
    exactly 60 (:data:`EARLIER_FORM_READ_TIMEOUT`) is read as the value the earlier connection form
    saved without the user typing it, and ``timeout`` applies to reads. A default the user never
    typed must not win over a setting they did; the cost is that ``timeout`` plus a deliberate
    60 s read timeout needs ``read_timeout`` written as another value (59 or 61), or ``timeout``
    left out and ``connect_timeout`` set instead.
    """
    timeout = extra_number(extras, "timeout", None, positive=True)
    connect = extra_number(extras, "connect_timeout", timeout or default_connect, positive=True)
    read = extra_number(extras, "read_timeout", timeout or default_read, positive=True)
    if timeout is not None and "read_timeout" in extras and read == EARLIER_FORM_READ_TIMEOUT != timeout:
        log.info(
            "Connection %r: read_timeout 60 is the value the earlier connection form saved by itself; "
            "timeout (%g s) applies to reads. Write read_timeout as another value to override timeout.",
            conn_id,
            timeout,
        )
        read = timeout
    return connect, read
