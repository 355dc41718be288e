"""The sandbox's whole state: options, API keys, the server clock and one store per served vendor."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from airflow_contact_removal.sandbox.checks import COUNT
from airflow_contact_removal.sandbox.common import SeedError
from airflow_contact_removal.sandbox.faults import FaultConfig, FaultInjector
from airflow_contact_removal.sandbox.requestlog import RequestLog
from airflow_contact_removal.sandbox.vendor import default_keys, sandbox_vendors, vendor_names

MAX_GENERATED = 20_000_000
DETAIL_LIMIT = 1000


class OptionsError(ValueError):
    """Server options are invalid."""


def _default_values() -> dict[str, Any]:
    return {option.name: option.default for vendor in sandbox_vendors().values() for option in vendor.options}


@dataclass
class SandboxOptions:
    """Behaviour switches of the sandbox (CLI flags, ``SandboxServer(**options)``, ``/_sandbox/options``).

    Each vendor declares its own switches (:class:`~airflow_contact_removal.sandbox.vendor.Option`, in its
    sandbox module's ``SANDBOX``): e.g. ``autosend_rate_limit``, ``wooxy_processing_delay``,
    ``migma_max_in_flight``. They are given and listed flat, by name, next to ``keys`` and ``faults``.

    :param keys: vendor -> the one API key it accepts.
    :param faults: initial fault injection settings (see :class:`FaultConfig`).
    :param values: every vendor option by name, in the order the vendors and their options are declared.
    """

    keys: dict[str, str] = field(default_factory=default_keys)
    faults: FaultConfig = field(default_factory=FaultConfig)
    values: dict[str, Any] = field(default_factory=_default_values)

    @classmethod
    def build(cls, values: dict[str, Any]) -> SandboxOptions:
        """Make validated options from plain values (``faults`` may be a dict, ``keys`` may be partial)."""
        return cls().updated(values)

    def updated(self, changes: dict[str, Any]) -> SandboxOptions:
        unknown = sorted(set(changes) - {"keys", "faults", *self.values})
        if unknown:
            raise OptionsError(f"unknown options: {', '.join(unknown)}")
        keys, faults, values = dict(self.keys), self.faults, dict(self.values)
        for name, value in changes.items():
            if name == "keys":
                keys.update(_checked_keys(value))
            elif name == "faults":
                faults = self.faults.updated(value) if isinstance(value, dict) else value
            else:
                values[name] = value
        options = SandboxOptions(keys, faults, values)
        options.validate()
        return options

    def validate(self) -> None:
        for vendor in sandbox_vendors().values():
            for option in vendor.options:
                if option.name in self.values and not option.check.accepts(self.values[option.name]):
                    raise OptionsError(option.check.message(option.name))
        if not isinstance(self.faults, FaultConfig):
            raise OptionsError("faults must be an object")
        self.faults.validate()

    def max_in_flight(self, vendor: str) -> int:
        """Requests one key may have in flight at ``vendor`` before 429: its ``<vendor>_max_in_flight``
        option (0 or no such option: no cap; AutoSend documents a rate, not a concurrency cap)."""
        return self.values.get(f"{vendor}_max_in_flight", 0)

    def public(self) -> dict[str, Any]:
        """The options without the API keys."""
        return dict(self.values)


def _checked_keys(value: Any) -> dict[str, str]:
    vendors = vendor_names()
    if not isinstance(value, dict) or set(value) - set(vendors):
        raise OptionsError(f"keys must map some of {', '.join(vendors)} to API keys")
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
        #: every vendor served, by name (:class:`~airflow_contact_removal.sandbox.vendor.SandboxVendor`):
        #: the registry's as this sandbox is made.
        self.vendors = sandbox_vendors()
        self.initial = options or SandboxOptions()
        self.initial.validate()
        self.log = RequestLog(tuple(self.vendors))
        self.in_flight = dict.fromkeys(self.vendors, 0)
        #: per-key in-flight counts and counters (``GET /_sandbox/limits``).
        self.key_limits = self.log.keys
        self._reset_state(self.initial.faults)

    def _reset_state(self, faults: FaultConfig) -> None:
        self.options = self.initial.updated({"faults": faults})
        self.keys = dict(self.options.keys)
        self.clock = Clock()
        self.faults = FaultInjector(faults)
        #: each vendor's store, by name.
        self.stores = {name: vendor.new_store(self.options) for name, vendor in self.vendors.items()}
        self._ticks = [
            (vendor.tick, self.stores[name])
            for name, vendor in self.vendors.items()
            if vendor.tick is not None
        ]

    def reset(self) -> None:
        """Empty every store, faults off, options and keys as at start, clock unshifted, log cleared."""
        self._reset_state(FaultConfig())
        self.log.clear()

    def set_options(self, changes: dict[str, Any]) -> None:
        options = self.options.updated(changes)
        if "keys" in changes:
            self.keys.update(options.keys)
        for name, vendor in self.vendors.items():
            if vendor.options_changed is not None:
                vendor.options_changed(self.stores[name], options, set(changes))
        if "faults" in changes:
            self.faults.configure(options.faults)
        self.options = options

    def tick(self) -> None:
        """Bring time-driven state up to date (each vendor's ``tick``, e.g. asynchronous processing)."""
        now = self.clock.now()
        for tick, store in self._ticks:
            tick(store, now, self.options)

    # -- seeding ------------------------------------------------------------------------------------------

    def seed(self, document: Any) -> dict[str, Any]:
        """Merge a seed document into the state. Everything is validated before anything changes.

        :return: generated ids per vendor (see the package docstring).
        """
        if not isinstance(document, dict):
            raise SeedError("a seed document is a JSON object")
        unknown = sorted(set(document) - {"keys", *self.vendors})
        if unknown:
            raise SeedError(f"unknown seed sections: {', '.join(unknown)}")
        try:
            keys = _checked_keys(document.get("keys", {}))
        except OptionsError as exc:
            raise SeedError(str(exc)) from None
        plans = {
            name: vendor.parse_seed(document[name], self.stores[name])
            for name, vendor in self.vendors.items()
            if name in document
        }
        self.keys.update(keys)
        return {vendor: self.stores[vendor].apply_seed(plan) for vendor, plan in plans.items()}

    def generate(self, spec: Any) -> dict[str, Any]:
        """Add ``count`` generated contacts to one vendor container (see the package docstring)."""
        if not isinstance(spec, dict) or spec.get("vendor") not in self.vendors:
            raise SeedError(f"vendor must be one of {', '.join(self.vendors)}")
        count, start = spec.get("count"), spec.get("start", 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_GENERATED:
            raise SeedError(f"count must be an integer between 0 and {MAX_GENERATED}")
        if not COUNT.accepts(start):
            raise SeedError(COUNT.message("start"))
        return self.stores[spec["vendor"]].generate({**spec, "start": start})

    # -- inspection ---------------------------------------------------------------------------------------

    def summary(self, vendor: str | None = None, detail: bool = False) -> dict[str, Any]:
        vendors = tuple(self.vendors) if vendor is None else (vendor,)
        return {name: self.stores[name].summary(detail, DETAIL_LIMIT) for name in vendors}
