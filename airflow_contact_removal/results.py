"""The shared vocabulary of outcomes: one batch's outcome, its record, and the run's summary.

The accounting identity every run keeps::

    requested == removed + not_found + accepted + invalid + duplicates + failed

``accepted`` is only used by vendors whose answer is asynchronous (Wooxy): the vendor has queued the
removal, and its final per-contact outcome arrives later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_contact_removal.accounting import (
    BATCH_BUCKETS,
    OUTCOME_BUCKETS,
    SUMMARY_BUCKETS,
    add_buckets,
    imbalance,
)
from airflow_contact_removal.vocabulary import FAILED_STATUSES, BatchStatus, Confirmation

#: Identifier kinds, in the order batches are filled.
IDENTIFIER_KINDS = ("emails", "contact_ids", "phone_numbers", "user_ids")


@dataclass
class BatchOutcome:
    """
    What a vendor said about one batch, in the shared vocabulary (returned by ``hook.remove_batch``).

    :param removed: identifiers the vendor confirmed removed.
    :param not_found: identifiers the vendor said were not there (no contact, not in the list).
    :param accepted: identifiers the vendor accepted for asynchronous removal.
    :param failed: identifiers the vendor reported as failed inside an otherwise successful answer.
    :param not_found_identifiers: the not-found identifiers, when the vendor names them.
    :param errors: the vendor's per-identifier error messages, when it gives them (short strings).
    :param request_id: the vendor's request id, when it gives one.
    :param attempts: how many times the request was sent.
    :param http_status: the status of the answer.
    :param vendor_counts: the vendor's own counters, as it reported them.
    :param note: anything the reader of the audit trail should know (for example a shortfall).
    """

    removed: int = 0
    not_found: int = 0
    accepted: int = 0
    failed: int = 0
    not_found_identifiers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    request_id: str | None = None
    attempts: int = 1
    http_status: int | None = None
    vendor_counts: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    @property
    def total(self) -> int:
        return sum(getattr(self, bucket) for bucket in OUTCOME_BUCKETS)


def reconcile(size: int, outcome: BatchOutcome) -> BatchOutcome:
    """
    Make a vendor's counts add up to the batch size, never in the optimistic direction.

    A vendor that accounts for fewer identifiers than were sent has left some unconfirmed: they are
    counted as failed (so they are re-queued and re-sent; removal is safe to repeat). A vendor that
    accounts for more than were sent is trimmed, taking from ``removed`` first: we never report more
    removals than identifiers.
    """
    excess = outcome.total - size
    if excess > 0:
        for bucket in OUTCOME_BUCKETS:  # removed first
            take = min(excess, getattr(outcome, bucket))
            setattr(outcome, bucket, getattr(outcome, bucket) - take)
            excess -= take
        outcome.note = _join(outcome.note, "vendor counted more identifiers than were sent")
    elif excess < 0:
        missing = -excess
        outcome.failed += missing
        outcome.note = _join(outcome.note, f"vendor did not account for {missing} identifier(s)")
    return outcome


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


@dataclass
class BatchResult:
    """
    The audit record of one batch, pushed to XCom under ``batch_results``.

    ``status`` is ``ok`` (every identifier accounted for without failure), ``partial`` (the vendor
    answered but reported some identifiers failed), ``failed`` (the request failed: retries ran out,
    the vendor refused it, or its answer could not be read) or ``planned`` (dry run). ``partial`` and
    ``failed`` records carry the identifiers to re-queue in ``identifiers``; re-sending an identifier
    that was in fact removed is harmless. ``invalid``/``rejected`` are identifiers the vendor refused
    as invalid, isolated by splitting a batch it rejected (see :func:`~airflow_contact_removal.removal.run_removal`).
    ``from_checkpoint`` marks a batch an earlier try of the task finished, not sent again;
    ``not_sent`` a failed batch the run stopped before sending (``error`` says why).
    ``contact_errors`` is filled when a vendor that confirms later reports what became of the batch:
    one ``{"kind", "identifier", "reason", "vendor_error"}`` per failed identifier (see
    :mod:`airflow_contact_removal.completion.folding`).
    """

    index: int
    size: int
    status: BatchStatus | str
    kinds: dict[str, int]
    removed: int = 0
    not_found: int = 0
    accepted: int = 0
    failed: int = 0
    invalid: int = 0
    not_found_identifiers: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    request_id: str | None = None
    attempts: int = 0
    http_status: int | None = None
    vendor_code: str | None = None
    error: str | None = None
    note: str | None = None
    vendor_counts: dict[str, Any] = field(default_factory=dict)
    identifiers: dict[str, list[str]] | None = None
    duration_ms: int = 0
    from_checkpoint: bool = False
    not_sent: bool = False
    contact_errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> BatchResult:
        """A record read back (e.g. from a checkpoint); unknown keys are ignored."""
        return cls(**{name: record[name] for name in cls.__dataclass_fields__ if name in record})

    def to_dict(self) -> dict[str, Any]:
        # Shallow copy with fresh containers: asdict() deep-copies every identifier, which costs more
        # than sending the batch once there are thousands of records.
        record = dict(self.__dict__)
        record["status"] = str(self.status)  # a plain string at the edge (XCom, checkpoint, file)
        record["kinds"] = dict(self.kinds)
        record["not_found_identifiers"] = list(self.not_found_identifiers)
        record["rejected"] = [dict(item) for item in self.rejected]
        record["vendor_counts"] = dict(self.vendor_counts)
        record["contact_errors"] = [dict(item) for item in self.contact_errors]
        if self.identifiers is not None:
            record["identifiers"] = {kind: list(values) for kind, values in self.identifiers.items()}
        return record


@dataclass
class RemovalSummary:
    """The run's totals, pushed as the task's ``return_value``."""

    vendor: str
    operation: str
    list_id: str | None = None
    requested: int = 0
    removed: int = 0
    not_found: int = 0
    accepted: int = 0
    invalid: int = 0
    duplicates: int = 0
    failed: int = 0
    batches: int = 0
    batches_failed: int = 0
    batch_size: int = 0
    max_concurrency: int = 0
    dry_run: bool = False
    confirmation: Confirmation | str = Confirmation.SYNCHRONOUS
    planned: int = 0
    duration_s: float = 0.0
    results_path: str | None = None
    xcom_note: str | None = None
    resumed_batches: int = 0
    #: why the run stopped sending before the end of the input (``None``: it did not).
    stopped: str | None = None
    #: identifiers failed without being sent because the run stopped (part of ``failed``).
    not_sent: int = 0
    shard: int | None = None
    shards: int | None = None

    def add(self, result: BatchResult) -> None:
        """Fold one batch's record into the totals."""
        self.batches += 1
        if result.status == BatchStatus.PLANNED:
            self.planned += result.size
            return
        add_buckets(self, result, BATCH_BUCKETS)
        self.resumed_batches += int(result.from_checkpoint)
        if result.not_sent:
            self.not_sent += result.size
        if result.status in FAILED_STATUSES:
            self.batches_failed += 1

    @property
    def accounted(self) -> int:
        """What the buckets add up to (``requested`` once the run is accounted)."""
        return sum(getattr(self, bucket) for bucket in SUMMARY_BUCKETS)

    def check(self) -> None:
        """Raise if the accounting identity does not hold (a bug, never a vendor's fault)."""
        record = self.to_dict()
        problem = imbalance(record, "requested", SUMMARY_BUCKETS)
        if problem is not None:
            raise AssertionError(f"accounting identity broken: {problem} ({record})")

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        # Plain strings at the edge (XCom, results file): the enums compare equal, but stay inside.
        record["operation"] = str(self.operation)
        record["confirmation"] = str(self.confirmation)
        return record


#: The most bytes of batch records (and, separately, of invalid inputs) pushed to XCom.
XCOM_LIMIT_BYTES = 1_000_000


def fit_for_xcom(
    records: list[dict[str, Any]], limit: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """
    Keep records within ``limit`` bytes of JSON so no run can overload Airflow's metadata database.

    Over the limit, only failed and partial batches are kept (they are what a downstream task must
    act on); if even those are too large, the first ones that fit are kept whole and the rest lose
    their identifiers. Returns the records and a note saying what was dropped (``None`` if nothing).
    """
    limit = XCOM_LIMIT_BYTES if limit is None else limit
    size = json_size(records)
    if size <= limit:
        return records, None
    needed = [record for record in records if record.get("status") in FAILED_STATUSES]
    note = f"{len(records)} records ({size} bytes) exceed the XCom limit of {limit} bytes: kept the {len(needed)} failed or partial"
    if json_size(needed) <= limit:
        return needed, note
    # Keep every failed batch's record, first without identifiers, then give identifiers back to as
    # many as fit, in order.
    bare = [{**record, "identifiers": None, "identifiers_dropped": True} for record in needed]
    used = 2 + sum(json_size(record) + 1 for record in bare)
    if used > limit:
        fitting, used = [], 2
        for record in bare:
            used += json_size(record) + 1
            if used > limit:
                break
            fitting.append(record)
        return fitting, f"{note}: only the first {len(fitting)}, without identifiers (use results_path)"
    kept, dropped = [], 0
    for record, record_bare in zip(needed, bare, strict=True):
        extra = json_size(record) - json_size(record_bare)
        if used + extra <= limit:
            kept.append(record)
            used += extra
        else:
            kept.append(record_bare)
            dropped += 1
    if dropped:
        note = f"{note}, {dropped} of them without their identifiers (use results_path)"
    return kept, note


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON, the way it would be stored in XCom."""
    return len(json.dumps(value, separators=(",", ":"), default=str))
