"""The sandbox's ASGI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from airflow_contact_removal.sandbox import autosend, bird, control, migma, wooxy
from airflow_contact_removal.sandbox.common import VENDOR_PREFIXES
from airflow_contact_removal.sandbox.middleware import SandboxMiddleware
from airflow_contact_removal.sandbox.state import Sandbox, SandboxOptions


def create_app(options: SandboxOptions | None = None, seed: dict[str, Any] | None = None) -> FastAPI:
    """Build the FastAPI app serving the four vendors, the control endpoints and the middleware.

    :param options: behaviour switches; defaults to :class:`SandboxOptions()`.
    :param seed: a seed document applied at start (see the package docstring).
    :return: the app; its :class:`~airflow_contact_removal.sandbox.state.Sandbox` is ``app.state.sandbox``.
    """
    sandbox = Sandbox(options)
    if seed:
        sandbox.seed(seed)
    app = FastAPI(title="Contact-removal vendor sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox
    app.include_router(autosend.router, prefix=VENDOR_PREFIXES["autosend"])
    app.include_router(wooxy.router, prefix=VENDOR_PREFIXES["wooxy"])
    app.include_router(bird.router, prefix=VENDOR_PREFIXES["bird"])
    app.include_router(migma.router, prefix=VENDOR_PREFIXES["migma"])
    app.include_router(control.router, prefix="/_sandbox")
    app.add_middleware(SandboxMiddleware, sandbox=sandbox)
    return app
