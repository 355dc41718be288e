"""The sandbox's ASGI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from airflow_contact_removal.sandbox import control
from airflow_contact_removal.sandbox.middleware import SandboxMiddleware
from airflow_contact_removal.sandbox.state import Sandbox, SandboxOptions


def create_app(
    options: SandboxOptions | None = None, seed: dict[str, Any] | None = None, direct: bool = True
) -> FastAPI:
    """Build the FastAPI app serving every registered vendor, the control endpoints and the middleware.

    :param options: behaviour switches; defaults to :class:`SandboxOptions()`.
    :param seed: a seed document applied at start (see the package docstring).
    :param direct: let the middleware call each vendor's ``direct_endpoints`` itself for their exact path
        and method (False: tests compare both ways); anything else on their paths (another method, a
        trailing slash) still goes through FastAPI.
    :return: the app; its :class:`~airflow_contact_removal.sandbox.state.Sandbox` is ``app.state.sandbox``.
    """
    sandbox = Sandbox(options)
    if seed:
        sandbox.seed(seed)
    app = FastAPI(title="Contact-removal vendor sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox
    for vendor in sandbox.vendors.values():
        app.include_router(vendor.router, prefix=vendor.prefix)
    app.include_router(control.router, prefix="/_sandbox")
    # Read from each vendor's own router, not from app.routes: fastapi 0.137 and later include
    # routers lazily and no longer list their routes there.
    direct_routes = {
        (method, vendor.prefix + route.path): route.endpoint
        for vendor in sandbox.vendors.values()
        for route in vendor.router.routes
        if direct and isinstance(route, APIRoute) and route.endpoint in vendor.direct_endpoints
        for method in route.methods
    }
    app.add_middleware(SandboxMiddleware, sandbox=sandbox, direct_routes=direct_routes)
    return app
