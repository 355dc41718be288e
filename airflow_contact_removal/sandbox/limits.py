"""Per API key limits and counters: what a vendor sees of everything that shares one key.

A vendor's limits hold for the account, not for one client: Wooxy's 10 requests in flight and
AutoSend's 2 requests a second count every task, worker and trigger that sends with the key. The
sandbox therefore counts per key: requests in flight (and answers 429 past the cap), requests in each
one-second window of the server clock, and the breaches. The counters are read from
``GET /_sandbox/limits`` so tests and the benchmark can assert that a whole deployment stayed within
the limits.

Keys are never shown: each is named by a short fingerprint, :func:`key_label`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airflow_contact_removal.sandbox.vendor import SandboxVendor


def key_label(key: str) -> str:
    """The name a key goes by in the counters: ``key-`` and 12 hex digits of its SHA-256."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def key_of(vendor: SandboxVendor, headers: list[tuple[bytes, bytes]]) -> str:
    """The API key a request carries (``""`` when it carries none), read as the vendor reads it."""
    name, scheme = vendor.key_header, vendor.key_scheme
    for header, value in headers:
        if header == name:
            text = value.decode("latin-1").strip()
            if scheme is not None:
                word, _, token = text.partition(" ")
                return token.strip() if word.lower() == scheme.lower() else text
            return text
    return ""


@dataclass
class KeyCounters:
    """What one key did: requests, the most in flight at once, the busiest second, breaches.

    ``max_in_flight`` counts a request on arrival, refused or not, so a client that sends an 11th
    Wooxy request shows 11 even though the sandbox answered it 429.
    """

    requests: int = 0
    max_in_flight: int = 0
    max_per_second: int = 0
    breaches: Counter = field(default_factory=Counter)
    window: int = -1
    window_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "max_per_second": self.max_per_second,
            "breaches": dict(sorted(self.breaches.items())),
        }


class KeyLimits:
    """The per-key counters of every vendor, and the requests each key has in flight now.

    Counters are cleared with the request log (:meth:`clear`); the in-flight counts are not, since
    requests may be open at that moment.
    """

    def __init__(self) -> None:
        self.in_flight: dict[tuple[str, str], int] = {}
        self.counters: dict[tuple[str, str], KeyCounters] = {}

    def clear(self) -> None:
        self.counters = {}

    def arrive(self, vendor: str, key: str, now: float) -> int:
        """Count a request on arrival; return how many of this key's requests were already open."""
        slot = (vendor, key)
        counters = self.counters.get(slot)
        if counters is None:
            counters = self.counters[slot] = KeyCounters()
        already = self.in_flight.get(slot, 0)
        counters.requests += 1
        if already + 1 > counters.max_in_flight:
            counters.max_in_flight = already + 1
        second = math.floor(now)
        if second != counters.window:
            counters.window, counters.window_count = second, 0
        counters.window_count += 1
        if counters.window_count > counters.max_per_second:
            counters.max_per_second = counters.window_count
        return already

    def admit(self, vendor: str, key: str) -> None:
        slot = (vendor, key)
        self.in_flight[slot] = self.in_flight.get(slot, 0) + 1

    def leave(self, vendor: str, key: str) -> None:
        slot = (vendor, key)
        self.in_flight[slot] -= 1

    def breach(self, vendor: str, key: str, kind: str) -> None:
        counters = self.counters.get((vendor, key))
        if counters is not None:
            counters.breaches[kind] += 1

    def to_dict(self, vendors: tuple[str, ...]) -> dict[str, Any]:
        """``{vendor: {key label: counters}}``, every vendor present (empty when unused)."""
        result: dict[str, Any] = {vendor: {} for vendor in vendors}
        for (vendor, key), counters in self.counters.items():
            result[vendor][key_label(key)] = counters.to_dict()
        return result
