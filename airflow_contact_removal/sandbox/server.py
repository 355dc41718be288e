"""Run the sandbox: :class:`SandboxServer` (a background thread, for tests) and the shared server set-up."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from airflow_contact_removal.sandbox.app import create_app
from airflow_contact_removal.sandbox.client import SandboxClient, _vendor
from airflow_contact_removal.sandbox.state import SandboxOptions
from airflow_contact_removal.sandbox.tls import TLSFiles, generate_tls_files

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


def make_server(
    app: Any, quiet_logging: bool = True, loop: str = "auto", tls: TLSFiles | None = None
) -> uvicorn.Server:
    """A uvicorn server with access logs off and no logging set-up of its own.

    :param quiet_logging: leave the process's logging configuration alone (embedded use).
    :param loop: uvicorn's event loop choice: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``.
    :param tls: serve HTTPS with these certificate files (see :mod:`~airflow_contact_removal.sandbox.tls`).
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
        ssl_certfile=None if tls is None else tls.cert_path,
        ssl_keyfile=None if tls is None else tls.key_path,
    )
    return uvicorn.Server(config)


class SandboxServer(SandboxClient):
    """The sandbox on a loopback port, served from a background thread.

    Use as a context manager::

        with SandboxServer(seed={"migma": {"projects": {"P1": ["a@example.com"]}}}) as sandbox:
            requests.post(sandbox.base_url("migma") + "/v1/contacts/bulk-delete", ...)

    :param port: TCP port; 0 picks a free one.
    :param seed: a seed document, or the path of a JSON file holding one.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; anything else is refused.
    :param tls: serve HTTPS with a certificate made for loopback by a fresh CA
        (:func:`~airflow_contact_removal.sandbox.tls.generate_tls_files`); :attr:`ca_path` is what
        clients verify against, and :meth:`connection_uri` puts it in the ``verify`` extra.
    :param tls_dir: where to write the certificate files (a temporary folder by default).
    :param options: :class:`~airflow_contact_removal.sandbox.state.SandboxOptions` fields, e.g.
        ``autosend_rate_limit=0``, ``wooxy_processing_delay=0.5``, ``keys={"migma": "k"}``,
        ``faults={"latency_ms": 50}``.
    """

    def __init__(
        self,
        port: int = 0,
        seed: dict[str, Any] | str | Path | None = None,
        host: str = "127.0.0.1",
        tls: bool = False,
        tls_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.host = host
        self.tls = generate_tls_files(tls_dir) if tls else None
        self._own_tls_dir = tls and tls_dir is None  # a temporary folder: removed on leaving the with block
        self._address = loopback_host(host)
        self._requested_port = port
        self._options = SandboxOptions.build(options)
        self._seed = load_seed(seed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sandbox: Any = None
        self.port: int | None = None
        super().__init__("http://unstarted", ca_path=self.tls.ca_path if self.tls else None)

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving and wait until connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        app = create_app(self._options, self._seed)
        self._sandbox = app.state.sandbox
        sock = bind_socket(self._address, self._requested_port)
        self.port = sock.getsockname()[1]
        self._server = make_server(app, tls=self.tls)
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
        if self._own_tls_dir and self.tls is not None:  # the certificates were made for this server only
            shutil.rmtree(os.path.dirname(self.tls.ca_path), ignore_errors=True)

    # -- addresses and credentials ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``http://[::1]:PORT`` for IPv6; ``https://`` with TLS)."""
        if self.port is None:
            raise RuntimeError("sandbox server not started")
        host = f"[{self._address}]" if ":" in self._address else self._address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def api_key(self, vendor: str) -> str:
        """The API key the vendor currently accepts."""
        keys = self._sandbox.keys if self._sandbox is not None else self._options.keys
        return keys[_vendor(vendor)]
