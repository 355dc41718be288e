"""Control and inspection endpoints under ``/_sandbox`` (no auth; the server answers loopback only).

Every endpoint answers JSON; invalid input is ``400 {"error": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import AMOUNT
from airflow_contact_removal.sandbox.common import json_response, sandbox_of

router = APIRouter()


def _bad_request(message: str) -> Response:
    return json_response({"error": message}, 400)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise ValueError("body must be JSON") from None


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")


@router.get("/health")
async def health() -> Response:
    return json_response({"ok": True})


@router.post("/reset")
async def reset(request: Request) -> Response:
    """Empty state, faults off, options/keys as at start, clock unshifted, request log and stats cleared."""
    sandbox_of(request).reset()
    return json_response({"ok": True})


@router.post("/seed")
async def seed(request: Request) -> Response:
    """Merge a seed document; answers the ids the sandbox generated."""
    try:
        return json_response(sandbox_of(request).seed(await _json_body(request)))
    except ValueError as exc:
        return _bad_request(str(exc))


@router.post("/seed/generate")
async def generate(request: Request) -> Response:
    """Add many generated contacts without sending them (see the package docstring)."""
    try:
        return json_response(sandbox_of(request).generate(await _json_body(request)))
    except ValueError as exc:
        return _bad_request(str(exc))


@router.get("/faults")
async def get_faults(request: Request) -> Response:
    return json_response(sandbox_of(request).faults.config.to_dict())


@router.post("/faults")
async def set_faults(request: Request) -> Response:
    """Change some fault settings (the rest stay); the random generator restarts from ``seed``."""
    sandbox = sandbox_of(request)
    try:
        changes = await _json_body(request)
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        sandbox.set_options({"faults": changes})
    except ValueError as exc:
        return _bad_request(str(exc))
    return json_response(sandbox.faults.config.to_dict())


@router.get("/options")
async def get_options(request: Request) -> Response:
    return json_response(sandbox_of(request).options.public())


@router.post("/options")
async def set_options(request: Request) -> Response:
    """Change server options at runtime (``keys`` and ``faults`` have their own endpoints)."""
    sandbox = sandbox_of(request)
    try:
        changes = await _json_body(request)
        if not isinstance(changes, dict) or {"keys", "faults"} & set(changes):
            raise ValueError("body must be a JSON object of options other than keys and faults")
        sandbox.set_options(changes)
    except ValueError as exc:
        return _bad_request(str(exc))
    return json_response(sandbox.options.public())


@router.get("/clock")
async def get_clock(request: Request) -> Response:
    clock = sandbox_of(request).clock
    return json_response({"now": clock.now(), "offset_seconds": clock.offset})


@router.post("/clock")
async def advance_clock(request: Request) -> Response:
    """Move the server clock forward: ``{"advance_seconds": n}`` (n >= 0)."""
    sandbox = sandbox_of(request)
    try:
        body = await _json_body(request)
        seconds = body.get("advance_seconds") if isinstance(body, dict) else None
        if not AMOUNT.accepts(seconds):
            raise ValueError(AMOUNT.message("advance_seconds"))
    except ValueError as exc:
        return _bad_request(str(exc))
    sandbox.clock.advance(seconds)
    sandbox.tick()
    return json_response({"now": sandbox.clock.now(), "offset_seconds": sandbox.clock.offset})


@router.get("/state")
async def state(request: Request) -> Response:
    """Counts per vendor; ``?vendor=X&detail=1`` adds members (at most 1000 per container)."""
    vendor = request.query_params.get("vendor")
    detail = _flag(request.query_params.get("detail"))
    vendors = sandbox_of(request).vendors
    if vendor is not None and vendor not in vendors:
        return _bad_request(f"vendor must be one of {', '.join(vendors)}")
    if detail and vendor is None:
        return _bad_request("detail needs a vendor")
    return json_response(sandbox_of(request).summary(vendor, detail))


@router.get("/requests")
async def requests_log(request: Request) -> Response:
    """The request log, oldest first; ``?vendor=X`` and ``?limit=N`` (last N) narrow it."""
    vendor = request.query_params.get("vendor")
    limit = request.query_params.get("limit")
    vendors = sandbox_of(request).vendors
    if vendor is not None and vendor not in vendors:
        return _bad_request(f"vendor must be one of {', '.join(vendors)}")
    if limit is not None and not limit.isdigit():
        return _bad_request("limit must be an integer >= 0")
    entries = sandbox_of(request).log.to_list(vendor, None if limit is None else int(limit))
    return json_response({"requests": entries})


@router.delete("/requests")
async def clear_requests(request: Request) -> Response:
    """Clear the request log and the statistics."""
    sandbox_of(request).log.clear()
    return json_response({"ok": True})


@router.get("/stats")
async def stats(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return json_response({**sandbox.log.stats_dict(), "in_flight": dict(sandbox.in_flight)})


@router.get("/limits")
async def limits(request: Request) -> Response:
    """
    Per API key and vendor (keys named by fingerprint): requests, the most in flight at once, the
    most in one second of the server clock, and the breaches answered 429.
    """
    sandbox = sandbox_of(request)
    return json_response(sandbox.key_limits.to_dict(tuple(sandbox.vendors)))
