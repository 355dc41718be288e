"""The sandbox's whole state: options, API keys, the server clock and one store per vendor."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields
from typing import Any

from airflow_contact_removal.sandbox import autosend, bird, migma, wooxy
from airflow_contact_removal.sandbox.common import DEFAULT_KEYS, VENDORS, SeedError
from airflow_contact_removal.sandbox.faults import FaultConfig, FaultInjector
from airflow_contact_removal.sandbox.requestlog import RequestLog

MAX_GENERATED = 20_000_000
DETAIL_LIMIT = 1000

VENDOR_MODULES = {"autosend": autosend, "wooxy": wooxy, "bird": bird, "migma": migma}


class OptionsError(ValueError):
    """Server options are invalid."""


@dataclass
class SandboxOptions:
    """Behaviour switches of the sandbox (CLI flags, ``SandboxServer(**options)``, ``/_sandbox/options``).

    :param keys: vendor -> the one API key it accepts.
    :param autosend_rate_limit: AutoSend requests per second per key (0 = no limit). The vendor's default is 2.
    :param autosend_return_ids: add ``data.removedIds`` to AutoSend's account removal answer.
    :param autosend_max_batch: largest AutoSend batch accepted (the vendor documents none; sanity cap).
    :param wooxy_processing_delay: seconds (server clock) before a queued Wooxy removal is processed.
    :param wooxy_error_rate: fraction of matched Wooxy contacts that fail with ``processing_failed``.
    :param wooxy_error_seed: seed of the generator that picks those contacts.
    :param wooxy_max_in_flight: concurrent Wooxy requests per key before 429 (the page says 10).
    :param bird_max_in_flight: concurrent Bird requests per key before 429. Bird documents no cap; 5 is
        the cap this provider chose (``BirdHook.max_in_flight``), held strictly so tests can show that
        every task on one key together stays within it. 0 = no limit.
    :param migma_max_in_flight: the same for Migma (``MigmaHook.max_in_flight``, 8).
    :param faults: initial fault injection settings (see :class:`FaultConfig`).
    """

    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    autosend_rate_limit: int = 2
    autosend_return_ids: bool = False
    autosend_max_batch: int = 1000
    wooxy_processing_delay: float = 0.0
    wooxy_error_rate: float = 0.0
    wooxy_error_seed: int = 0
    wooxy_max_in_flight: int = 10
    bird_max_in_flight: int = 5
    migma_max_in_flight: int = 8
    faults: FaultConfig = field(default_factory=FaultConfig)

    @classmethod
    def build(cls, values: dict[str, Any]) -> SandboxOptions:
        """Make validated options from plain values (``faults`` may be a dict, ``keys`` may be partial)."""
        return cls().updated(values)

    def updated(self, changes: dict[str, Any]) -> SandboxOptions:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise OptionsError(f"unknown options: {', '.join(unknown)}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["keys"] = dict(self.keys)
        for name, value in changes.items():
            if name == "keys":
                values["keys"].update(_checked_keys(value))
            elif name == "faults":
                values["faults"] = self.faults.updated(value) if isinstance(value, dict) else value
            else:
                values[name] = value
        options = SandboxOptions(**values)
        options.validate()
        return options

    def validate(self) -> None:
        for name in (
            "autosend_rate_limit",
            "autosend_max_batch",
            "wooxy_error_seed",
            "wooxy_max_in_flight",
            "bird_max_in_flight",
            "migma_max_in_flight",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise OptionsError(f"{name} must be an integer >= 0")
        if not isinstance(self.autosend_return_ids, bool):
            raise OptionsError("autosend_return_ids must be a boolean")
        delay = self.wooxy_processing_delay
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise OptionsError("wooxy_processing_delay must be a number >= 0")
        rate = self.wooxy_error_rate
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise OptionsError("wooxy_error_rate must be a number between 0 and 1")
        if not isinstance(self.faults, FaultConfig):
            raise OptionsError("faults must be an object")
        self.faults.validate()

    def max_in_flight(self, vendor: str) -> int:
        """Requests one key may have in flight at ``vendor`` before 429 (0: no cap; AutoSend documents
        a rate, not a concurrency cap)."""
        return getattr(self, f"{vendor}_max_in_flight", 0)

    def public(self) -> dict[str, Any]:
        """The options without the API keys."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("keys", "faults")}
        return values


def _checked_keys(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) - set(VENDORS):
        raise OptionsError(f"keys must map some of {', '.join(VENDORS)} to API keys")
    if not all(isinstance(k, str) and k and k.isprintable() and " " not in k for k in value.values()):
        raise OptionsError("API keys must be non-empty printable strings without spaces")
    return dict(value)


class Clock:
    """Wall-clock time plus an offset that only moves forward (``POST /_sandbox/clock``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Sandbox:
    """Everything a request can see or change.

    :param options: behaviour at start and after :meth:`reset`.
    """

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.initial = options or SandboxOptions()
        self.initial.validate()
        self.log = RequestLog()
        self.in_flight = dict.fromkeys(VENDORS, 0)
        #: per-key in-flight counts and counters (``GET /_sandbox/limits``).
        self.key_limits = self.log.keys
        self._reset_state(self.initial.faults)

    def _reset_state(self, faults: FaultConfig) -> None:
        self.options = self.initial.updated({"faults": faults})
        self.keys = dict(self.options.keys)
        self.clock = Clock()
        self.faults = FaultInjector(faults)
        self.autosend = autosend.AutoSendStore()
        self.wooxy = wooxy.WooxyStore(self.options.wooxy_error_seed)
        self.bird = bird.BirdStore()
        self.migma = migma.MigmaStore()

    def reset(self) -> None:
        """Empty every store, faults off, options and keys as at start, clock unshifted, log cleared."""
        self._reset_state(FaultConfig())
        self.log.clear()

    def set_options(self, changes: dict[str, Any]) -> None:
        options = self.options.updated(changes)
        if "keys" in changes:
            self.keys.update(options.keys)
        if "wooxy_error_seed" in changes:
            self.wooxy.rng = random.Random(options.wooxy_error_seed)
        if "faults" in changes:
            self.faults.configure(options.faults)
        self.options = options

    def tick(self) -> None:
        """Bring time-driven state up to date (Wooxy processing and expiry)."""
        self.wooxy.process_due(self.clock.now(), self.options.wooxy_error_rate)

    # -- seeding ------------------------------------------------------------------------------------------

    def seed(self, document: Any) -> dict[str, Any]:
        """Merge a seed document into the state. Everything is validated before anything changes.

        :return: generated ids per vendor (see the package docstring).
        """
        if not isinstance(document, dict):
            raise SeedError("a seed document is a JSON object")
        unknown = sorted(set(document) - {"keys", *VENDORS})
        if unknown:
            raise SeedError(f"unknown seed sections: {', '.join(unknown)}")
        try:
            keys = _checked_keys(document.get("keys", {}))
        except OptionsError as exc:
            raise SeedError(str(exc)) from None
        plans = {
            vendor: VENDOR_MODULES[vendor].parse_seed(document[vendor], self.store(vendor))
            for vendor in VENDORS
            if vendor in document
        }
        self.keys.update(keys)
        return {vendor: self.store(vendor).apply_seed(plan) for vendor, plan in plans.items()}

    def generate(self, spec: Any) -> dict[str, Any]:
        """Add ``count`` generated contacts to one vendor container (see the package docstring)."""
        if not isinstance(spec, dict) or spec.get("vendor") not in VENDORS:
            raise SeedError(f"vendor must be one of {', '.join(VENDORS)}")
        count, start = spec.get("count"), spec.get("start", 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_GENERATED:
            raise SeedError(f"count must be an integer between 0 and {MAX_GENERATED}")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise SeedError("start must be an integer >= 0")
        return self.store(spec["vendor"]).generate({**spec, "start": start})

    def store(self, vendor: str) -> Any:
        return getattr(self, vendor)

    # -- inspection ---------------------------------------------------------------------------------------

    def summary(self, vendor: str | None = None, detail: bool = False) -> dict[str, Any]:
        vendors = VENDORS if vendor is None else (vendor,)
        return {name: self.store(name).summary(detail, DETAIL_LIMIT) for name in vendors}
