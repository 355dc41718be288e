"""Run the sandbox: :class:`SandboxServer` (a background thread, for tests) and the shared server set-up."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn

from airflow_contact_removal.sandbox.app import create_app
from airflow_contact_removal.sandbox.common import VENDOR_PREFIXES, VENDORS
from airflow_contact_removal.sandbox.state import SandboxOptions

LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


class HostError(ValueError):
    """The sandbox only listens on loopback addresses."""


def loopback_host(host: str) -> str:
    """Return the address to bind for ``host``; refuse anything but 127.0.0.1, ::1 and localhost."""
    if host not in LOOPBACK:
        raise HostError(
            f"refusing to listen on {host!r}: the sandbox listens on loopback only (127.0.0.1, ::1, localhost)"
        )
    return LOOPBACK[host]


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket on a loopback ``host`` (``port`` 0 = a free port)."""
    address = loopback_host(host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio only switches Nagle off (TCP_NODELAY) on accepted sockets
    # whose proto says TCP, and without that a small answer can wait ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    return sock


def load_seed(seed: dict[str, Any] | str | Path | None) -> dict[str, Any] | None:
    """A seed document, or the JSON file holding one."""
    if seed is None or isinstance(seed, dict):
        return seed
    return json.loads(Path(seed).read_text())


def make_server(app: Any, quiet_logging: bool = True, loop: str = "auto") -> uvicorn.Server:
    """A uvicorn server with access logs off and no logging set-up of its own.

    :param quiet_logging: leave the process's logging configuration alone (embedded use).
    :param loop: uvicorn's event loop choice: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``.
    """
    config = uvicorn.Config(
        app,
        loop=loop,
        access_log=False,
        log_config=None if quiet_logging else uvicorn.config.LOGGING_CONFIG,
        log_level="warning",
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=2,
        # keep-alive long enough for benchmark clients that pause between batches
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class SandboxServer:
    """The sandbox on a loopback port, served from a background thread.

    Use as a context manager::

        with SandboxServer(seed={"migma": {"projects": {"P1": ["a@example.com"]}}}) as sandbox:
            requests.post(sandbox.base_url("migma") + "/v1/contacts/bulk-delete", ...)

    :param port: TCP port; 0 picks a free one.
    :param seed: a seed document, or the path of a JSON file holding one.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; anything else is refused.
    :param options: :class:`~airflow_contact_removal.sandbox.state.SandboxOptions` fields, e.g.
        ``autosend_rate_limit=0``, ``wooxy_processing_delay=0.5``, ``keys={"migma": "k"}``,
        ``faults={"latency_ms": 50}``.
    """

    def __init__(
        self,
        port: int = 0,
        seed: dict[str, Any] | str | Path | None = None,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        self.host = host
        self._address = loopback_host(host)
        self._requested_port = port
        self._options = SandboxOptions.build(options)
        self._seed = load_seed(seed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sandbox: Any = None
        self.port: int | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving and wait until connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        app = create_app(self._options, self._seed)
        self._sandbox = app.state.sandbox
        sock = bind_socket(self._address, self._requested_port)
        self.port = sock.getsockname()[1]
        self._server = make_server(app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="contact-removal-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._server = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and credentials ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``http://[::1]:PORT`` for IPv6)."""
        if self.port is None:
            raise RuntimeError("sandbox server not started")
        host = f"[{self._address}]" if ":" in self._address else self._address
        return f"http://{host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """The vendor's API base, e.g. ``http://127.0.0.1:PORT/wooxy/v3``."""
        return self.url + VENDOR_PREFIXES[_vendor(vendor)]

    def api_key(self, vendor: str) -> str:
        """The API key the vendor currently accepts."""
        keys = self._sandbox.keys if self._sandbox is not None else self._options.keys
        return keys[_vendor(vendor)]

    def connection_uri(self, vendor: str, **extras: Any) -> str:
        """An Airflow connection in JSON form, for an ``AIRFLOW_CONN_<ID>`` environment variable.

        :param extras: the connection's extra, e.g. ``workspace_id=...`` (Bird), ``project_id=...`` (Migma).
        """
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
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {', '.join(VENDORS)}")
    return vendor
