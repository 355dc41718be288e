"""Fault and latency injection, repeatable from a seed.

Every vendor request draws its fate from one ``random.Random(seed)`` at the moment it arrives, before any
``await``, so the same configuration and the same sequence of requests give the same faults. Changing the
configuration (``POST /_sandbox/faults``) re-seeds the generator.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from airflow_contact_removal.sandbox.checks import AMOUNT, BOOLEAN, COUNT, FRACTION, INTEGER
from airflow_contact_removal.sandbox.vendor import vendor_names

FAULT_5XX_STATUSES = (500, 502, 503, 504)

#: Values of the ``fault`` field of the request log.
FAULT_429 = "429"
FAULT_5XX = "5xx"
FAULT_DROP = "drop"
FAULT_DROP_AFTER = "drop_after_processing"
FAULT_SLOW = "slow"
FAULT_TRICKLE = "trickle"
FAULT_HANG = "hang"
FAULT_ECHO = "echo"


class FaultConfigError(ValueError):
    """The fault configuration is invalid."""


@dataclass
class FaultConfig:
    """What to inject. Rates are probabilities per request; ``rate_429 + rate_5xx + rate_drop <= 1``.

    :param latency_ms: added to every vendor answer.
    :param latency_jitter_ms: plus a uniform random 0..jitter.
    :param arrival_jitter_ms: each request reaches the vendor a uniform random 0..jitter late, as on
        a network that delays some packets: the vendor counts it (its second, the key's in-flight
        cap and rate limit) when it arrives, not when it was sent.
    :param rate_429: answer 429 (vendor-shaped body, ``Retry-After: retry_after``) without processing.
    :param retry_after: seconds announced by injected 429 answers.
    :param rate_5xx: answer 500/502/503/504 (vendor-shaped body) without processing.
    :param rate_drop: close the connection without an answer.
    :param drop_after_processing: a drop happens after the request was processed (state changed).
    :param rate_slow: add ``slow_ms`` more before processing.
    :param slow_ms: the extra delay of a slow answer.
    :param seed: seed of the random generator.
    :param vendors: restrict faults and latency to these vendors (None: all).

    Hostile answers, on every request of the selected vendors (no random draw, so they leave the
    seeded sequence of the faults above unchanged):

    :param trickle_ms: send each answer's body one byte every ``trickle_ms`` (0: off); the request is
        processed first, and the trickle stops when the client goes away.
    :param hang_ms: answer nothing for ``hang_ms`` (or until the client goes away), then drop the
        connection; nothing is processed (0: off). A hang longer than the client's timeouts is a
        vendor that never answers.
    :param retry_after_header: the raw ``Retry-After`` value of injected 429 and 5xx answers, e.g. an
        HTTP date in the past, ``"0"`` or ``"100000"`` (None: ``retry_after`` on 429s only).
    :param echo_identifiers: refuse every request with the vendor's documented error text quoting an
        identifier of the batch (Wooxy's "no data found for key {userId}", Migma's "Invalid email:
        ..."), as HTTP 400 (Bird: 422); nothing is processed.
    """

    latency_ms: float = 0
    latency_jitter_ms: float = 0
    arrival_jitter_ms: float = 0
    rate_429: float = 0.0
    retry_after: int = 1
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    drop_after_processing: bool = False
    rate_slow: float = 0.0
    slow_ms: float = 0
    seed: int = 0
    vendors: list[str] | None = None
    trickle_ms: float = 0
    hang_ms: float = 0
    retry_after_header: str | None = None
    echo_identifiers: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """Return a validated copy with ``changes`` applied (unknown keys are an error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {', '.join(unknown)}")
        merged = {**self.to_dict(), **changes}
        config = FaultConfig(**merged)
        config.validate()
        return config

    def validate(self) -> None:
        checks = [
            *(
                (name, AMOUNT)
                for name in (
                    "latency_ms",
                    "latency_jitter_ms",
                    "arrival_jitter_ms",
                    "slow_ms",
                    "trickle_ms",
                    "hang_ms",
                )
            ),
            *((name, FRACTION) for name in ("rate_429", "rate_5xx", "rate_drop", "rate_slow")),
        ]
        for name, check in checks:
            if not check.accepts(getattr(self, name)):
                raise FaultConfigError(check.message(name))
        if self.rate_429 + self.rate_5xx + self.rate_drop > 1 + 1e-9:
            raise FaultConfigError("rate_429 + rate_5xx + rate_drop must be <= 1")
        for name, check in (
            ("retry_after", COUNT),
            ("seed", INTEGER),
            ("drop_after_processing", BOOLEAN),
            ("echo_identifiers", BOOLEAN),
        ):
            if not check.accepts(getattr(self, name)):
                raise FaultConfigError(check.message(name))
        if self.retry_after_header is not None and (
            not isinstance(self.retry_after_header, str)
            or not self.retry_after_header.isprintable()
            or not self.retry_after_header.isascii()
        ):
            raise FaultConfigError("retry_after_header must be null or a printable ASCII string")
        vendors = vendor_names()
        if self.vendors is not None and (
            not isinstance(self.vendors, list) or any(v not in vendors for v in self.vendors)
        ):
            raise FaultConfigError(f"vendors must be null or a list of {', '.join(vendors)}")

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.latency_jitter_ms
            or self.arrival_jitter_ms
            or self.rate_429
            or self.rate_5xx
            or self.rate_drop
            or self.rate_slow
            or self.trickle_ms
            or self.hang_ms
            or self.echo_identifiers
        )


@dataclass
class Decision:
    """What happens to one request.

    :param delay: seconds to wait before answering or processing.
    :param arrival: seconds the request takes to reach the vendor (counted when it arrives).
    :param fault: None or one of ``429``, ``5xx``, ``drop``, ``drop_after_processing``, ``slow``.
    :param status: HTTP status of an injected 429/5xx.
    :param trickle: seconds between two bytes of the answer's body (0: sent at once).
    :param hang: seconds of silence before the connection is dropped (0: no hang).
    :param echo: refuse the request with an error text that quotes one of its identifiers.
    """

    delay: float = 0.0
    fault: str | None = None
    status: int | None = None
    trickle: float = 0.0
    hang: float = 0.0
    echo: bool = False
    arrival: float = 0.0


NO_FAULT = Decision()


class FaultInjector:
    """Draws a :class:`Decision` per vendor request from the current :class:`FaultConfig`."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        config.validate()
        self.config = config
        self.rng = random.Random(config.seed)

    def decide(self, vendor: str) -> Decision:
        decision = self._decide(vendor)
        config = self.config
        if decision is not NO_FAULT and config.arrival_jitter_ms:
            # Drawn last, and only when configured: the other faults' seeded sequences stay as they were.
            decision = replace(decision, arrival=self.rng.uniform(0, config.arrival_jitter_ms) / 1000)
        return decision

    def _decide(self, vendor: str) -> Decision:
        config = self.config
        if not config.active or (config.vendors is not None and vendor not in config.vendors):
            return NO_FAULT
        rng = self.rng
        delay_ms = config.latency_ms
        if config.latency_jitter_ms:
            delay_ms += rng.uniform(0, config.latency_jitter_ms)
        # Always draw the same numbers for a given configuration, so sequences repeat exactly.
        pick = rng.random()
        status = rng.choice(FAULT_5XX_STATUSES) if config.rate_5xx else None
        slow = rng.random() < config.rate_slow if config.rate_slow else False
        if config.hang_ms:
            return Decision(delay_ms / 1000, FAULT_HANG, hang=config.hang_ms / 1000)
        if config.echo_identifiers:
            return Decision(delay_ms / 1000, FAULT_ECHO, echo=True)
        if pick < config.rate_429:
            return Decision(delay_ms / 1000, FAULT_429, 429)
        if pick < config.rate_429 + config.rate_5xx:
            return Decision(delay_ms / 1000, FAULT_5XX, status)
        if pick < config.rate_429 + config.rate_5xx + config.rate_drop:
            kind = FAULT_DROP_AFTER if config.drop_after_processing else FAULT_DROP
            return Decision(delay_ms / 1000, kind)
        trickle = config.trickle_ms / 1000
        if slow:
            return Decision((delay_ms + config.slow_ms) / 1000, FAULT_SLOW, trickle=trickle)
        if trickle:
            return Decision(delay_ms / 1000, FAULT_TRICKLE, trickle=trickle)
        return Decision(delay_ms / 1000)


def first_identifier(body: Any, *names: str) -> str:
    """
    The first identifier of a request body, under the first of ``names`` that has one (for a vendor's
    ``echo_answer``: its documented refusal quoting an identifier of the batch).
    """
    if isinstance(body, dict):
        for name in names:
            values = body.get(name)
            if isinstance(values, list):
                for value in values:
                    if isinstance(value, str):
                        return value
                    if isinstance(value, dict) and isinstance(value.get("value"), str):
                        return value["value"]
    return "unknown"


def client_gone(receive: Any) -> bool:
    """Whether uvicorn saw the client disconnect (its ``receive`` is a method of the request cycle)."""
    return bool(getattr(getattr(receive, "__self__", None), "disconnected", False))


async def silence(receive: Any, seconds: float) -> None:
    """Say nothing for ``seconds``, or until the client goes away."""
    deadline = time.perf_counter() + seconds
    while not client_gone(receive) and (remaining := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(min(remaining, 0.05))


def trickled(send: Any, receive: Any, interval: float) -> Any:
    """A ``send`` that sends the body one byte every ``interval`` seconds (stops if the client goes)."""

    async def trickle(message: dict) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        for i in range(len(body)):
            if client_gone(receive):
                return
            last = i == len(body) - 1
            await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": more or not last})
            if not last:
                await asyncio.sleep(interval)
        if not body:
            await send(message)

    return trickle
