"""Request log (ring buffer) and per-vendor statistics.

Entries hold counts and metadata only: never an API key, never a contact identifier. Paths below the vendor
prefixes hold list, workspace and project ids only; a path segment that looks like an email address or a
phone number is still replaced by ``<redacted>`` in case a client put one there.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from airflow_contact_removal.sandbox.limits import KeyLimits

LOG_SIZE = 100_000
_PERSONAL_SEGMENT = re.compile(r"[^/]*@[^/]*|\+[0-9 ()-]{6,}")

#: Keys of ``limit_violations`` in the statistics.
VIOLATION_RATE_LIMIT = "rate_limited"
VIOLATION_CONCURRENCY = "too_many_in_flight"
VIOLATION_BATCH = "batch_over_limit"
VIOLATION_BIRD_POST = "bird_post_adds_contacts"

_FIELDS = ("vendor", "method", "path", "batch_size", "status", "started", "duration_ms", "in_flight", "fault")


def redact_path(path: str) -> str:
    return "/".join(
        "<redacted>" if _PERSONAL_SEGMENT.fullmatch(segment) else segment for segment in path.split("/")
    )


@dataclass
class VendorStats:
    requests: int = 0
    by_status: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    max_batch_size: int = 0
    limit_violations: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(sorted(self.by_status.items())),
            "max_in_flight": self.max_in_flight,
            "max_batch_size": self.max_batch_size,
            "limit_violations": dict(sorted(self.limit_violations.items())),
            "faults": dict(sorted(self.faults.items())),
        }


class RequestLog:
    """The last :data:`LOG_SIZE` vendor requests plus running per-vendor totals.

    :param vendors: the names of the vendors served, in the order the totals list them.
    :param size: how many requests the log keeps.
    """

    def __init__(self, vendors: tuple[str, ...], size: int = LOG_SIZE) -> None:
        self.vendors = vendors
        self.entries: deque[tuple] = deque(maxlen=size)
        self.stats = {vendor: VendorStats() for vendor in vendors}
        #: per API key: requests in flight now, and the counters cleared with the log.
        self.keys = KeyLimits()

    def clear(self) -> None:
        self.entries.clear()
        self.stats = {vendor: VendorStats() for vendor in self.vendors}
        self.keys.clear()

    def observe_in_flight(self, vendor: str, in_flight: int) -> None:
        stats = self.stats[vendor]
        if in_flight > stats.max_in_flight:
            stats.max_in_flight = in_flight

    def record(
        self,
        vendor: str,
        method: str,
        path: str,
        batch_size: int | None,
        status: int | None,
        started: float,
        duration_ms: float,
        in_flight: int,
        fault: str | None,
        violations: list[str],
    ) -> None:
        """Add one entry. ``status`` is None when the client got no answer (dropped connection)."""
        self.entries.append(
            (vendor, method, redact_path(path), batch_size, status, started, duration_ms, in_flight, fault)
        )
        stats = self.stats[vendor]
        stats.requests += 1
        stats.by_status["dropped" if status is None else str(status)] += 1
        if batch_size is not None and batch_size > stats.max_batch_size:
            stats.max_batch_size = batch_size
        for violation in violations:
            stats.limit_violations[violation] += 1
        if fault is not None:
            stats.faults[fault] += 1

    def to_list(self, vendor: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        entries = [e for e in self.entries if vendor is None or e[0] == vendor]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [dict(zip(_FIELDS, entry, strict=True)) for entry in entries]

    def stats_dict(self) -> dict[str, Any]:
        return {vendor: stats.to_dict() for vendor, stats in self.stats.items()}
