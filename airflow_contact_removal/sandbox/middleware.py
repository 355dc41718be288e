"""The ASGI layer in front of the vendor routes: loopback guard, body buffering, in-flight accounting,
the per-key concurrency caps and counters (:mod:`~airflow_contact_removal.sandbox.limits`), fault and latency injection, and the request log.

It is a plain ASGI middleware (no ``BaseHTTPMiddleware``) so it adds little per-request cost, and it calls
the benchmarked endpoints itself instead of through FastAPI (each vendor's ``direct_endpoints``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.requests import Request

from airflow_contact_removal.sandbox.common import INVALID_JSON, batch_size
from airflow_contact_removal.sandbox.faults import (
    FAULT_5XX,
    FAULT_429,
    FAULT_DROP,
    FAULT_DROP_AFTER,
    silence,
    trickled,
)
from airflow_contact_removal.sandbox.limits import key_of
from airflow_contact_removal.sandbox.requestlog import VIOLATION_CONCURRENCY
from airflow_contact_removal.sandbox.vendor import SandboxVendor

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_JSON_HEADERS = [(b"content-type", b"application/json")]


class RequestContext:
    """What the middleware learnt about a vendor request, shared with the route handler.

    :param vendor: vendor name.
    :param raw: the request body.
    """

    def __init__(self, vendor: str, raw: bytes) -> None:
        self.vendor = vendor
        self.raw = raw
        try:
            self.body: Any = json.loads(raw) if raw else INVALID_JSON
        except ValueError:
            self.body = INVALID_JSON
        self.batch_size = batch_size(self.body)
        #: Limits the request broke (see :mod:`~airflow_contact_removal.sandbox.requestlog`).
        self.violations: list[str] = []


def vendor_of(path: str, vendors: dict[str, Any]) -> str | None:
    """The name of the vendor (of ``vendors``: name -> descriptor) whose prefix ``path`` is under."""
    for name, vendor in vendors.items():
        prefix = vendor.prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return name
    return None


class SandboxMiddleware:
    """ASGI middleware; see the module docstring.

    :param app: the wrapped ASGI app.
    :param sandbox: the :class:`~airflow_contact_removal.sandbox.state.Sandbox`.
    :param direct_routes: (method, path) -> endpoint to call without the wrapped app (the vendors'
        ``direct_endpoints``).
    """

    def __init__(
        self, app: Any, sandbox: Any, direct_routes: dict[tuple[str, str], Any] | None = None
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.direct_routes = direct_routes or {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if client is not None and client[0] not in LOOPBACK_HOSTS:
            await _send_json(send, 403, b'{"error":"the sandbox answers loopback clients only"}')
            return
        self.sandbox.tick()
        vendor = vendor_of(scope["path"], self.sandbox.vendors)
        if vendor is None:
            await self.app(scope, receive, send)
            return
        await self._vendor_request(vendor, scope, receive, send)

    async def _vendor_request(self, vendor: str, scope: dict, receive: Any, send: Any) -> None:
        sandbox = self.sandbox
        started = sandbox.clock.now()
        t0 = time.perf_counter()
        raw = await _read_body(receive)
        if raw is None:  # client went away while sending
            return
        context = RequestContext(vendor, raw)
        scope["sandbox.ctx"] = context
        decision = sandbox.faults.decide(vendor)  # drawn on arrival, before any await: repeatable
        if decision.arrival:  # delayed on its way: the vendor counts it when it gets there
            await sleep_at_least(decision.arrival)
            started = sandbox.clock.now()
        sandbox.in_flight[vendor] += 1
        in_flight = sandbox.in_flight[vendor]
        sandbox.log.observe_in_flight(vendor, in_flight)
        outcome = _Outcome()
        # Per key, as the vendor counts: every task, worker and trigger sharing the key adds up.
        described = sandbox.vendors[vendor]
        limits, key = sandbox.key_limits, key_of(described, scope["headers"])
        admitted = False
        try:
            already = limits.arrive(vendor, key, started)
            cap = sandbox.options.max_in_flight(vendor)
            if cap and already >= cap:
                context.violations.append(VIOLATION_CONCURRENCY)
                outcome.status = await _send_json(
                    send, 429, _too_many_in_flight_body(described), [(b"retry-after", b"1")]
                )
                return
            limits.admit(vendor, key)
            admitted = True
            if decision.delay:
                await sleep_at_least(decision.delay)
            outcome.fault = decision.fault
            if decision.hang:
                await silence(receive, decision.hang)
                await _drop(receive, send)
            elif decision.echo:
                status, answer = described.echo_answer(context.body)
                outcome.status = await _send_json(send, status, json.dumps(answer).encode())
            elif decision.fault in (FAULT_429, FAULT_5XX):
                outcome.status = await self._send_fault(vendor, scope, send, decision.status)
            elif decision.fault == FAULT_DROP:
                await _drop(receive, send)
            elif decision.fault == FAULT_DROP_AFTER:
                await self._run_app(scope, raw, receive, _discard, outcome)
                outcome.status = None
                await _drop(receive, send)
            elif decision.trickle:
                await self._run_app(scope, raw, receive, trickled(send, receive, decision.trickle), outcome)
            else:
                await self._run_app(scope, raw, receive, send, outcome)
        finally:
            sandbox.in_flight[vendor] -= 1
            if admitted:
                limits.leave(vendor, key)
            for violation in context.violations:
                limits.breach(vendor, key, violation)
            duration_ms = round((time.perf_counter() - t0) * 1000, 3)
            sandbox.log.record(
                vendor,
                scope["method"],
                scope["path"],
                context.batch_size,
                outcome.status,
                round(started, 3),
                duration_ms,
                in_flight,
                outcome.fault,
                context.violations,
            )

    async def _run_app(self, scope: dict, raw: bytes, receive: Any, send: Any, outcome: _Outcome) -> None:
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                outcome.status = message["status"]
            await send(message)

        try:
            endpoint = self.direct_routes.get((scope["method"], scope["path"]))
            if endpoint is None:
                await self.app(scope, replay, capture)
            else:
                response = await endpoint(Request(scope, replay))
                await response(scope, replay, capture)
        except Exception as exc:
            # Never log the exception text or traceback: it could hold an identifier from the body.
            logger.error("sandbox: %s in a %s handler", type(exc).__name__, scope["sandbox.ctx"].vendor)
            if outcome.status is None:
                vendor = self.sandbox.vendors[scope["sandbox.ctx"].vendor]
                body = json.dumps(vendor.fault_body(500, 0)).encode()
                outcome.status = await _send_json(send, 500, body)

    async def _send_fault(self, vendor: str, scope: dict, send: Any, status: int) -> int:
        described = self.sandbox.vendors[vendor]
        retry_after = self.sandbox.faults.config.retry_after
        headers = [
            (k.lower().encode(), v.encode())
            for k, v in described.fault_headers(self.sandbox, _headers(scope)).items()
        ]
        raw_retry_after = self.sandbox.faults.config.retry_after_header
        if raw_retry_after is not None:
            headers.append((b"retry-after", raw_retry_after.encode()))
        elif status == 429:
            headers.append((b"retry-after", str(retry_after).encode()))
        body = json.dumps(described.fault_body(status, retry_after)).encode()
        return await _send_json(send, status, body, headers)


class _Outcome:
    """Status sent to the client (None: no answer) and the injected fault, if any."""

    __slots__ = ("fault", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.fault: str | None = None


async def sleep_at_least(seconds: float) -> None:
    """
    Wait ``seconds`` or a little more, never less.

    uvloop's timers count whole milliseconds from the loop's cached clock, so a plain
    ``asyncio.sleep`` can end up to a millisecond early; the added latency is a floor the
    benchmarks and tests rely on.
    """
    deadline = time.perf_counter() + seconds
    while (remaining := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(remaining)


async def _read_body(receive: Any) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Any, status: int, body: bytes, headers: list | None = None) -> int:
    all_headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return status


async def _discard(message: dict) -> None:
    """A ``send`` that drops the answer (used to process a request and then drop the connection)."""


async def _drop(receive: Any, send: Any) -> None:
    """Break the connection so the client gets no HTTP answer at all.

    uvicorn gives the app no handle on the connection, but its ``receive`` is a bound method of the
    request/response cycle, which holds the asyncio transport: aborting that transport closes the socket
    with nothing sent. We then yield until uvicorn has noticed the disconnect, so it does not try to send
    its own 500. Should that handle ever be missing (another server), fall back to announcing a body and
    never sending it: uvicorn then closes the connection mid-answer, which a client also sees as broken.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        for _ in range(100):
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)
        return
    headers = [*_JSON_HEADERS, (b"content-length", b"1024")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


def _too_many_in_flight_body(vendor: SandboxVendor) -> bytes:
    body = vendor.too_many_in_flight if vendor.too_many_in_flight is not None else vendor.fault_body(429, 1)
    return json.dumps(body).encode()


def _headers(scope: dict) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
