"""Talk to a running sandbox: addresses, connections for Airflow, and the control endpoints.

:class:`SandboxClient` works with a sandbox in another process (``python -m
airflow_contact_removal.sandbox``); :class:`~airflow_contact_removal.sandbox.server.SandboxServer`
is the same client around a server it runs itself.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from airflow_contact_removal.sandbox.limits import KeyCounters, key_label
from airflow_contact_removal.sandbox.vendor import default_keys, sandbox_vendors


class SandboxClient:
    """
    The control API of a sandbox listening at ``url``.

    :param url: e.g. ``http://127.0.0.1:8787``.
    :param keys: the API keys the sandbox was started with, when not the defaults.
    :param ca_path: for a sandbox serving TLS (``https://`` URL): the CA certificate it printed, to
        verify it against; it is also the ``verify`` extra of :meth:`connection_uri`.
    """

    def __init__(self, url: str, keys: dict[str, str] | None = None, ca_path: str | None = None) -> None:
        self._url = url.rstrip("/")
        self._keys = {**default_keys(), **(keys or {})}
        self.ca_path = ca_path
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if ca_path is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_path)))
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def url(self) -> str:
        return self._url

    # -- addresses and credentials ------------------------------------------------------------------------

    def base_url(self, vendor: str) -> str:
        """The vendor's API base, e.g. ``http://127.0.0.1:PORT/wooxy/v3``."""
        return self.url + sandbox_vendors()[_vendor(vendor)].prefix

    def api_key(self, vendor: str) -> str:
        """The API key the vendor accepts (the sandbox's defaults unless told otherwise)."""
        return self._keys[_vendor(vendor)]

    def connection_uri(self, vendor: str, **extras: Any) -> str:
        """An Airflow connection in JSON form, for an ``AIRFLOW_CONN_<ID>`` environment variable.

        :param extras: the connection's extra, e.g. ``workspace_id=...`` (Bird), ``project_id=...`` (Migma).
            With TLS, ``verify`` is the sandbox's CA certificate unless given.
        """
        if self.ca_path is not None:
            extras = {"verify": self.ca_path, **extras}
        connection = {
            "conn_type": _vendor(vendor),
            "host": self.base_url(vendor),
            "password": self.api_key(vendor),
            "extra": extras,
        }
        return json.dumps(connection)

    # -- control helpers ----------------------------------------------------------------------------------

    def seed(self, document: dict[str, Any]) -> dict[str, Any]:
        """``POST /_sandbox/seed``; returns the generated ids."""
        return self._call("POST", "/_sandbox/seed", document)

    def generate(self, **spec: Any) -> dict[str, Any]:
        """``POST /_sandbox/seed/generate``, e.g. ``generate(vendor="migma", project="P1", count=10**6,
        pattern="user{i}@example.com")``."""
        return self._call("POST", "/_sandbox/seed/generate", spec)

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """``POST /_sandbox/faults`` with the given settings; returns the full configuration."""
        return self._call("POST", "/_sandbox/faults", settings)

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/faults")

    def set_options(self, **options: Any) -> dict[str, Any]:
        """``POST /_sandbox/options``, e.g. ``set_options(wooxy_processing_delay=1.0)``."""
        return self._call("POST", "/_sandbox/options", options)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the server clock forward."""
        return self._call("POST", "/_sandbox/clock", {"advance_seconds": seconds})

    def state(self, vendor: str | None = None, detail: bool = False) -> dict[str, Any]:
        query = []
        if vendor is not None:
            query.append(f"vendor={_vendor(vendor)}")
        if detail:
            query.append("detail=1")
        return self._call("GET", "/_sandbox/state" + ("?" + "&".join(query) if query else ""))

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/stats")

    def limits(self) -> dict[str, Any]:
        """Per-key counters: ``{vendor: {key label: {requests, max_in_flight, max_per_second, breaches}}}``."""
        return self._call("GET", "/_sandbox/limits")

    def key_limits(self, vendor: str) -> dict[str, Any]:
        """The counters of this sandbox's own key for ``vendor`` (zeros when it sent nothing)."""
        return self.limits()[vendor].get(key_label(self.api_key(vendor)), KeyCounters().to_dict())

    def requests_log(self, vendor: str | None = None) -> list[dict[str, Any]]:
        suffix = f"?vendor={_vendor(vendor)}" if vendor is not None else ""
        return self._call("GET", "/_sandbox/requests" + suffix)["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_sandbox/requests")

    def reset(self) -> None:
        """Empty state, faults off, options as at start, request log cleared."""
        self._call("POST", "/_sandbox/reset")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ValueError(f"{method} {path} failed with {exc.code}: {detail}") from None


def _vendor(vendor: str) -> str:
    vendors = sandbox_vendors()
    if vendor not in vendors:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {', '.join(vendors)}")
    return vendor
