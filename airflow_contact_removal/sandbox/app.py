"""The sandbox's ASGI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from airflow_contact_removal.sandbox import autosend, bird, control, migma, wooxy
from airflow_contact_removal.sandbox.common import VENDOR_PREFIXES
from airflow_contact_removal.sandbox.middleware import SandboxMiddleware
from airflow_contact_removal.sandbox.state import Sandbox, SandboxOptions

#: Endpoints the middleware calls itself for their exact path and method, skipping FastAPI's per-request
#: routing, dependency solving and exception wrapping (about 0.03 ms a request): the two that benchmarks
#: send thousands of batches to. They take a bare ``Request`` and return a ``Response``, so the answers are
#: the same; anything else on their paths (another method, a trailing slash) still goes through FastAPI.
DIRECT_ENDPOINTS = (migma.bulk_delete, wooxy.remove_contacts)


def create_app(
    options: SandboxOptions | None = None, seed: dict[str, Any] | None = None, direct: bool = True
) -> FastAPI:
    """Build the FastAPI app serving the four vendors, the control endpoints and the middleware.

    :param options: behaviour switches; defaults to :class:`SandboxOptions()`.
    :param seed: a seed document applied at start (see the package docstring).
    :param direct: let the middleware call :data:`DIRECT_ENDPOINTS` itself (False: tests compare both ways).
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
    direct_routes = {
        (method, route.path): route.endpoint
        for route in app.routes
        if direct and isinstance(route, APIRoute) and route.endpoint in DIRECT_ENDPOINTS
        for method in route.methods
    }
    app.add_middleware(SandboxMiddleware, sandbox=sandbox, direct_routes=direct_routes)
    return app
