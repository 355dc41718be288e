"""Fault and latency injection, repeatable from a seed.

Every vendor request draws its fate from one ``random.Random(seed)`` at the moment it arrives, before any
``await``, so the same configuration and the same sequence of requests give the same faults. Changing the
configuration (``POST /_sandbox/faults``) re-seeds the generator.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from airflow_contact_removal.sandbox.common import VENDORS

FAULT_5XX_STATUSES = (500, 502, 503, 504)

#: Values of the ``fault`` field of the request log.
FAULT_429 = "429"
FAULT_5XX = "5xx"
FAULT_DROP = "drop"
FAULT_DROP_AFTER = "drop_after_processing"
FAULT_SLOW = "slow"


class FaultConfigError(ValueError):
    """The fault configuration is invalid."""


@dataclass
class FaultConfig:
    """What to inject. Rates are probabilities per request; ``rate_429 + rate_5xx + rate_drop <= 1``.

    :param latency_ms: added to every vendor answer.
    :param latency_jitter_ms: plus a uniform random 0..jitter.
    :param rate_429: answer 429 (vendor-shaped body, ``Retry-After: retry_after``) without processing.
    :param retry_after: seconds announced by injected 429 answers.
    :param rate_5xx: answer 500/502/503/504 (vendor-shaped body) without processing.
    :param rate_drop: close the connection without an answer.
    :param drop_after_processing: a drop happens after the request was processed (state changed).
    :param rate_slow: add ``slow_ms`` more before processing.
    :param slow_ms: the extra delay of a slow answer.
    :param seed: seed of the random generator.
    :param vendors: restrict faults and latency to these vendors (None: all).
    """

    latency_ms: float = 0
    latency_jitter_ms: float = 0
    rate_429: float = 0.0
    retry_after: int = 1
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    drop_after_processing: bool = False
    rate_slow: float = 0.0
    slow_ms: float = 0
    seed: int = 0
    vendors: list[str] | None = None

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
        for name in ("latency_ms", "latency_jitter_ms", "slow_ms"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise FaultConfigError(f"{name} must be a number >= 0")
        for name in ("rate_429", "rate_5xx", "rate_drop", "rate_slow"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise FaultConfigError(f"{name} must be a number between 0 and 1")
        if self.rate_429 + self.rate_5xx + self.rate_drop > 1 + 1e-9:
            raise FaultConfigError("rate_429 + rate_5xx + rate_drop must be <= 1")
        if (
            not isinstance(self.retry_after, int)
            or isinstance(self.retry_after, bool)
            or self.retry_after < 0
        ):
            raise FaultConfigError("retry_after must be an integer >= 0")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise FaultConfigError("seed must be an integer")
        if not isinstance(self.drop_after_processing, bool):
            raise FaultConfigError("drop_after_processing must be a boolean")
        if self.vendors is not None and (
            not isinstance(self.vendors, list) or any(v not in VENDORS for v in self.vendors)
        ):
            raise FaultConfigError(f"vendors must be null or a list of {', '.join(VENDORS)}")

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.latency_jitter_ms
            or self.rate_429
            or self.rate_5xx
            or self.rate_drop
            or self.rate_slow
        )


@dataclass
class Decision:
    """What happens to one request.

    :param delay: seconds to wait before answering or processing.
    :param fault: None or one of ``429``, ``5xx``, ``drop``, ``drop_after_processing``, ``slow``.
    :param status: HTTP status of an injected 429/5xx.
    """

    delay: float = 0.0
    fault: str | None = None
    status: int | None = None


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
        if pick < config.rate_429:
            return Decision(delay_ms / 1000, FAULT_429, 429)
        if pick < config.rate_429 + config.rate_5xx:
            return Decision(delay_ms / 1000, FAULT_5XX, status)
        if pick < config.rate_429 + config.rate_5xx + config.rate_drop:
            kind = FAULT_DROP_AFTER if config.drop_after_processing else FAULT_DROP
            return Decision(delay_ms / 1000, kind)
        if slow:
            return Decision((delay_ms + config.slow_ms) / 1000, FAULT_SLOW)
        return Decision(delay_ms / 1000)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
