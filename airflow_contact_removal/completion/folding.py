"""Outcomes folded into the run's records: pure functions and plain data, no I/O.

A vendor that confirms later answers a removal with "accepted" and a request id; the per-contact
outcome is read later through its hook. The worker wait, the trigger and the sensor read the statuses;
this module decides what they mean, under the hook's :class:`CompletionRules`:

* :class:`PollState`: where a wait stands (final, unknown and pending ids), as plain JSON, so a
  trigger can hand it back in its event;
* :func:`fold_outcomes`: turn accepted identifiers into removed or failed, batch by batch, keeping the
  accounting identity (``removed + not_found + accepted + failed + invalid == size`` for every batch);
* :func:`complete`: the same for a whole run, with the summary recomputed (:class:`Completion`).

Nothing here is ever reported as removed unless the vendor named it in a request's successes: an
unknown or expired request id, a timeout, or a final status that says nothing about an identifier all
count as ``failed``, and failed identifiers are listed so they can be re-queued (repeating a removal is
harmless).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from airflow_contact_removal.accounting import BATCH_BUCKETS, count_of, imbalance
from airflow_contact_removal.completion.outcome import CompletionRules, WaitOutcome
from airflow_contact_removal.identifiers import parse_rendered
from airflow_contact_removal.results import BatchResult, RemovalSummary
from airflow_contact_removal.vocabulary import FAILED_STATUSES, BatchStatus, Confirmation

#: Why one identifier counts as failed when the vendor's final status does not mention it.
REASON_NO_OUTCOME = "no outcome reported"

_SUMMARY_FIELDS = {item.name for item in fields(RemovalSummary)}


def chunked(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def request_ids_from(value: Any) -> list[str]:
    """
    The request ids to wait for, without duplicates, in their first order.

    :param value: a request id, a list of them, the operator's ``batch_results`` (a list of dicts: the
        ids of the batches that still have ``accepted`` identifiers), or either list as a JSON or
        Python-literal string (what a Jinja template renders).
    """
    value = _parse_rendered(value)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        value = [value]
    ids: dict[str, None] = {}
    for item in value:
        if isinstance(item, Mapping):
            if not item.get("request_id") or not count_of(item.get("accepted")):
                continue
            item = item["request_id"]
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"a request id must be a non-empty string, got {type(item).__name__}")
        ids[item.strip()] = None
    return list(ids)


def batch_records_from(value: Any) -> list[dict[str, Any]] | None:
    """The operator's ``batch_results`` (a list of dicts), from a list or a rendered string; else ``None``."""
    value = _parse_rendered(value)
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        return [dict(item) for item in value]
    return None


def _parse_rendered(value: Any) -> Any:
    """A list rendered by a template as a string (JSON, or a Python literal) back to a list."""
    if not isinstance(value, str) or value.strip()[:1] not in ("[", "{"):
        return value
    try:
        return parse_rendered(value.strip())
    except ValueError:
        raise ValueError("could not read the request ids: not a JSON or Python list") from None


def status_to_dict(status: Any) -> dict[str, Any]:
    """
    A request status as a plain dict: ``request_id``, ``status``, ``successes`` (contact objects) and
    ``errors`` (``{"error", "human_error", "contact"}``). The contact objects are shared, not copied.

    :param status: a :class:`~airflow_contact_removal.completion.outcome.RequestOutcome`, or such a dict.
    """
    if isinstance(status, Mapping):
        request_id, state = status.get("request_id"), status.get("status")
        successes, errors = status.get("successes") or [], status.get("errors") or []
    elif hasattr(status, "successes") and hasattr(status, "errors"):
        request_id, state = status.request_id, status.status
        successes = status.successes
        errors = [
            {"error": item.error, "human_error": item.human_error, "contact": item.contact}
            for item in status.errors
        ]
    else:
        raise TypeError(f"expected a request status, got {type(status).__name__}")
    return {
        "request_id": request_id,
        "status": state,
        "successes": [item for item in successes if isinstance(item, Mapping)],
        "errors": [item for item in errors if isinstance(item, Mapping)],
    }


# The state of a wait ----------------------------------------------------------------------------------
@dataclass
class PollState:
    """
    Where a wait for a vendor's requests stands; :meth:`to_event` / :meth:`from_event` make it plain JSON.

    It carries each request's last status, not the per-contact results: those can be large (100
    contacts per request), so whoever folds them reads the final requests again (final statuses do
    not change, and vendors keep them for a while).

    :param request_ids: every request id waited for.
    :param statuses: the last status read for each request id (an id never read is absent).
    :param unknown_ids: ids the vendor did not know: never sent, or past its retention.
    :param timed_out: the wait ended at its timeout with requests still pending.
    :param error: why the wait stopped early (e.g. the key was refused); the pending ids stay pending.
    """

    request_ids: list[str]
    statuses: dict[str, str | None] = field(default_factory=dict)
    unknown_ids: list[str] = field(default_factory=list)
    timed_out: bool = False
    error: str | None = None
    #: the vendor's rules (not serialised: whoever rebuilds the state knows its hook).
    rules: CompletionRules | None = field(default=None, repr=False, compare=False)

    @property
    def _rules(self) -> CompletionRules:
        if self.rules is None:
            raise ValueError("a poll state needs its vendor's completion rules")
        return self.rules

    @classmethod
    def from_statuses(
        cls,
        request_ids: Iterable[str],
        statuses: Mapping[str, Any],
        unknown_ids: Iterable[str] = (),
        rules: CompletionRules | None = None,
    ) -> PollState:
        """
        Build the state from a read.

        :param request_ids: the ids waited for.
        :param statuses: request id -> a status string, a ``RequestOutcome`` or a status dict.
        :param unknown_ids: the ids the vendor did not know.
        :param rules: the vendor's rules (a subclass may default them).
        """
        ids = list(dict.fromkeys(request_ids))
        wanted = set(ids)
        unknown = [request_id for request_id in dict.fromkeys(unknown_ids) if request_id in wanted]
        unknown_set = set(unknown)
        last = {}
        for request_id, status in statuses.items():
            if request_id in wanted and request_id not in unknown_set:
                last[request_id] = (
                    status if isinstance(status, str | None) else status_to_dict(status)["status"]
                )
        if rules is None:
            return cls(request_ids=ids, statuses=last, unknown_ids=unknown)
        return cls(request_ids=ids, statuses=last, unknown_ids=unknown, rules=rules)

    @property
    def final_ids(self) -> list[str]:
        """Ids whose last status is final."""
        unknown = set(self.unknown_ids)
        return [i for i in self.request_ids if i not in unknown and self._is_final(i)]

    @property
    def pending_ids(self) -> list[str]:
        """Ids not final yet (or never read), and not unknown."""
        unknown = set(self.unknown_ids)
        return [i for i in self.request_ids if i not in unknown and not self._is_final(i)]

    def _is_final(self, request_id: str) -> bool:
        # An id never read is pending under any vendor's rules: a state that read nothing (a trigger
        # whose connection could not be read) needs none to make its event.
        status = self.statuses.get(request_id)
        return status is not None and self._rules.is_final(status)

    @property
    def done(self) -> bool:
        """Every id is final or unknown: nothing left to wait for."""
        return not self.pending_ids

    @property
    def outcome(self) -> WaitOutcome:
        """``complete`` (nothing pending), ``timeout`` or ``error``."""
        if self.done:
            return WaitOutcome.COMPLETE
        return WaitOutcome.ERROR if self.error else WaitOutcome.TIMEOUT

    def describe(self) -> str:
        """One line for logs and errors: counts and statuses, no request ids, no identifiers."""
        pending = Counter(str(self.statuses.get(i) or "not read") for i in self.pending_ids)
        parts = [f"{len(self.final_ids)} final"]
        if self.unknown_ids:
            parts.append(f"{len(self.unknown_ids)} {self._rules.unknown_reason}")
        if pending:
            detail = ", ".join(f"{status}: {count}" for status, count in sorted(pending.items()))
            parts.append(f"{sum(pending.values())} pending ({detail})")
        return f"{len(self.request_ids)} {self._rules.label} request(s): " + ", ".join(parts)

    def to_event(self) -> dict[str, Any]:
        """The state as a JSON-serialisable dict (a trigger event's payload)."""
        return {
            "outcome": str(self.outcome),
            "request_ids": list(self.request_ids),
            "statuses": dict(self.statuses),
            "final_ids": self.final_ids,
            "unknown_ids": list(self.unknown_ids),
            "pending_ids": self.pending_ids,
            "timed_out": self.timed_out,
            "error": self.error,
        }

    @classmethod
    def from_event(cls, event: Mapping[str, Any], rules: CompletionRules | None = None) -> PollState:
        """The state back from :meth:`to_event`'s dict (``final_ids`` and ``pending_ids`` are recomputed)."""
        if not isinstance(event, Mapping) or not isinstance(event.get("request_ids"), list):
            known = rules or cls.__dataclass_fields__["rules"].default
            label = f"{known.label} " if isinstance(known, CompletionRules) else ""
            raise ValueError(f"not a {label}poll state: expected a dict with 'request_ids'")
        return cls(
            request_ids=[str(i) for i in event["request_ids"]],
            statuses=dict(event.get("statuses") or {}),
            unknown_ids=[str(i) for i in event.get("unknown_ids") or []],
            timed_out=bool(event.get("timed_out")),
            error=event.get("error"),
            **({"rules": rules} if rules is not None else {}),
        )


# Folding ----------------------------------------------------------------------------------------------
@dataclass
class FoldTotals:
    """
    What folding did: ``accepted == removed + failed`` (the identifiers that were waiting).

    :param requests: request ids folded (batches with a request id and accepted identifiers).
    :param completed: of which the vendor reported a final status.
    :param unknown: of which the vendor did not know the id (never sent, or past its retention).
    :param timed_out: of which were still pending when the wait ended (timeout, or reading failed).
    :param accepted: identifiers that were accepted and waiting.
    :param removed: of which the vendor confirmed removed.
    :param failed: of which failed: a vendor error, no outcome, an unknown id or a timeout.
    :param contact_errors: of the failed, those the vendor reported with an error of its own.
    :param batches_failed: batches that folding turned ``failed`` or ``partial``.
    """

    requests: int = 0
    completed: int = 0
    unknown: int = 0
    timed_out: int = 0
    accepted: int = 0
    removed: int = 0
    failed: int = 0
    contact_errors: int = 0
    batches_failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def fold_outcomes(
    batch_results: Sequence[BatchResult | Mapping[str, Any]],
    statuses: Mapping[str, Any],
    unknown_ids: Iterable[str] = (),
    timed_out_ids: Iterable[str] = (),
    *,
    timeout_reason: str | None = None,
    rules: CompletionRules,
) -> tuple[list[BatchResult], FoldTotals]:
    """
    Fold a vendor's per-contact outcome into the batch records; the input is not modified.

    A record is folded when it has a ``request_id`` and ``accepted > 0``; its ``accepted`` goes to 0 and
    every count still adds up to its ``size``:

    * final status: identifiers in the request's ``success`` list become ``removed``; those in its
      ``errors`` become ``failed`` with the vendor's ``human_error``; those it mentions neither way become
      ``failed`` with :data:`REASON_NO_OUTCOME`;
    * unknown or expired id: every accepted identifier becomes ``failed`` (the rules' ``unknown_reason``);
    * still pending (in ``timed_out_ids``, a non-final status, or no status at all): every accepted
      identifier becomes ``failed`` with ``timeout_reason``.

    Matching a vendor contact (fields per the rules' ``contact_fields``) to an identifier sent in that batch is
    case-insensitive on email, exact on phone and user id. This needs the batch's identifiers:
    ``record["identifiers"]`` (kind -> list, as the operator keeps them for batches it waits
    for). A record without them is folded from the vendor's counts alone (``removed`` = its successes, the
    rest ``failed``), and only the failed identifiers the vendor names can be listed.

    A folded record's ``status`` becomes ``ok`` (nothing failed), ``partial`` (some identifiers failed)
    or ``failed`` (unknown id or timeout); ``error`` gets a short summary, ``identifiers`` the failed
    identifiers for re-queueing (``None`` when ``ok``), ``contact_errors`` one entry per failed
    identifier (``kind``, ``identifier``, ``reason``: the vendor's ``human_error`` or ours,
    ``vendor_error``: its ``error`` code), and ``vendor_counts`` the request's status and counts.

    :param batch_results: the operator's batch records: :class:`BatchResult`, or their dicts as XCom
        holds them (read with :func:`batch_record`).
    :param statuses: request id -> ``RequestOutcome`` or :func:`status_to_dict`'s dict.
    :param unknown_ids: request ids the vendor did not know.
    :param timed_out_ids: request ids still pending when the wait ended.
    :param timeout_reason: the reason recorded for pending requests (default: the rules').
    :param rules: the vendor's rules.
    :return: new records (the input's are not modified), and what folding did.
    """
    timeout_reason = timeout_reason or rules.timeout_reason
    unknown = set(unknown_ids)
    timed_out = set(timed_out_ids)
    totals = FoldTotals()
    folded = []
    for position, original in enumerate(batch_results):
        before = batch_record(original, position)
        record = replace(before, contact_errors=list(before.contact_errors))
        accepted = record.accepted
        if not record.request_id or accepted == 0:
            folded.append(record)
            continue
        request_id = record.request_id
        totals.requests += 1
        totals.accepted += accepted
        status = statuses.get(request_id)
        status = status_to_dict(status) if status is not None else None
        if request_id in unknown:
            totals.unknown += 1
            _fail_whole_batch(record, accepted, rules.unknown_reason)
        elif request_id in timed_out or status is None or not rules.is_final(status["status"]):
            totals.timed_out += 1
            last = status["status"] if status is not None else None
            _fail_whole_batch(record, accepted, timeout_reason + (f" (last status: {last})" if last else ""))
        else:
            totals.completed += 1
            totals.contact_errors += _fold_final(record, accepted, status, rules)
        totals.removed += record.removed - before.removed
        totals.failed += record.failed - before.failed
        if record.status in FAILED_STATUSES and before.status not in FAILED_STATUSES:
            totals.batches_failed += 1
        _check_record(record)
        folded.append(record)
    return folded, totals


def _fail_whole_batch(record: BatchResult, accepted: int, reason: str) -> None:
    record.accepted = 0
    record.failed += accepted
    record.status = BatchStatus.FAILED
    record.error = _join(record.error, reason)
    record.contact_errors = []
    if not record.identifiers:
        record.identifiers = None
        record.note = _join(record.note, "the batch's identifiers were not kept: re-queue from the input")


def _fold_final(record: BatchResult, accepted: int, status: dict[str, Any], rules: CompletionRules) -> int:
    """Fold one final request into its record; return how many failures carry a vendor error."""
    successes = status["successes"]
    errors = status["errors"]
    sent = record.identifiers
    if sent:
        removed, failures, strays = _match(sent, successes, errors, rules)
    else:
        removed, failures, strays = len(successes), [_failure_of_error(item, rules) for item in errors], 0
        record.note = _join(
            record.note, f"the batch's identifiers were not kept: counted from {rules.label}'s report"
        )
    removed = min(removed, accepted)
    failed = accepted - removed
    unnamed = failed - len(failures)
    if unnamed > 0 and not sent:
        record.note = _join(record.note, f"{unnamed} failed identifier(s) were not named by {rules.label}")
    if strays:
        record.note = _join(record.note, f"{rules.label} reported {strays} contact(s) not sent in this batch")

    record.accepted = 0
    record.removed += removed
    record.failed += failed
    record.contact_errors = failures
    record.vendor_counts = {
        **record.vendor_counts,
        "request_status": status["status"],
        "success": len(successes),
        "errors": len(errors),
    }
    if record.failed == 0:
        record.status = BatchStatus.OK
        record.identifiers = None
        return 0
    record.status = BatchStatus.PARTIAL
    requeue: dict[str, list[str]] = {}
    for failure in failures:
        if failure["identifier"] is not None:
            requeue.setdefault(failure["kind"], []).append(failure["identifier"])
    record.identifiers = requeue or None
    if failed:
        reasons = Counter(failure["reason"] for failure in failures)
        if unnamed > 0:
            reasons[REASON_NO_OUTCOME] += unnamed
        detail = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common(5))
        summary = (
            f"{rules.label} request {status['status']}: {failed} of {accepted} identifier(s) failed: {detail}"
        )
        record.error = _join(record.error, summary[:500])
    return sum(1 for failure in failures if failure["vendor_error"] or failure["reason"] != REASON_NO_OUTCOME)


def _match(
    sent: Mapping[str, list[str]],
    successes: list[Mapping[str, Any]],
    errors: list[Mapping[str, Any]],
    rules: CompletionRules,
) -> tuple[int, list[dict[str, Any]], int]:
    """Match the batch's identifiers to the vendor's contacts: (removed count, failures, stray contacts)."""
    success_keys = {key for contact in successes for key in _contact_keys(contact, rules)}
    error_by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    for item in errors:
        for contact_key in _contact_keys(item.get("contact"), rules):
            error_by_key.setdefault(contact_key, item)
    sent_keys = set()
    removed = 0
    failures = []
    for kind, values in sent.items():
        for value in values or []:
            sent_key = _key(rules.contact_fields.get(kind), value, rules)
            sent_keys.add(sent_key)
            if sent_key is not None and sent_key in error_by_key:
                # Reported both ways: failed is the safe side (it is re-queued, and repeating is harmless).
                item = error_by_key[sent_key]
                failures.append(
                    _failure(kind, value, item.get("human_error") or item.get("error"), item, rules)
                )
            elif sent_key in success_keys:
                removed += 1
            else:
                failures.append(_failure(kind, value, REASON_NO_OUTCOME, None, rules))
    reported = [item for item in successes] + [item.get("contact") for item in errors]
    strays = sum(1 for contact in reported if not set(_contact_keys(contact, rules)) & sent_keys)
    return removed, failures, strays


def _failure(
    kind: str, identifier: str | None, reason: Any, item: Mapping[str, Any] | None, rules: CompletionRules
) -> dict[str, Any]:
    vendor_error = item.get("error") if item is not None else None
    return {
        "kind": kind,
        "identifier": identifier,
        "reason": str(reason or f"{rules.label} reported an error")[:300],
        "vendor_error": str(vendor_error)[:300] if vendor_error is not None else None,
    }


def _failure_of_error(item: Mapping[str, Any], rules: CompletionRules) -> dict[str, Any]:
    """A failure from a vendor error alone (no identifiers kept): the contact names the identifier."""
    contact = item.get("contact")
    if not isinstance(contact, Mapping):
        contact = {}
    for kind, contact_field in rules.contact_fields.items():
        value = contact.get(contact_field)
        if isinstance(value, str) and value:
            return _failure(kind, value, item.get("human_error") or item.get("error"), item, rules)
    return _failure("unknown", None, item.get("human_error") or item.get("error"), item, rules)


def _key(contact_field: str | None, value: Any, rules: CompletionRules) -> tuple[str, str] | None:
    if contact_field is None or not isinstance(value, str) or not value:
        return None
    return (contact_field, value.lower() if contact_field in rules.caseless_fields else value)


def _contact_keys(contact: Any, rules: CompletionRules) -> list[tuple[str, str]]:
    if not isinstance(contact, Mapping):
        return []
    fields_ = rules.contact_fields.values()
    keys = [_key(contact_field, contact.get(contact_field), rules) for contact_field in fields_]
    return [key for key in keys if key is not None]


def _check_record(record: BatchResult) -> None:
    problem = imbalance(vars(record), "size", BATCH_BUCKETS)
    if problem is not None:
        raise AssertionError(f"batch {record.index}: {problem}")


def batch_record(value: BatchResult | Mapping[str, Any], position: int = 0) -> BatchResult:
    """
    A batch record as :class:`BatchResult`: as is, or read from its dict (XCom, a rendered template).

    Counts that are not whole non-negative numbers (a hand-written or damaged record) read as 0, so
    the accounting check names the record instead of failing on a type.

    :param value: the record.
    :param position: its index when the dict has none.
    """
    if isinstance(value, BatchResult):
        return value
    record = BatchResult.from_dict(
        {"index": position, "size": 0, "status": BatchStatus.OK, "kinds": {}, **dict(value)}
    )
    for name in ("index", "size", *BATCH_BUCKETS):
        setattr(record, name, count_of(getattr(record, name)))
    record.vendor_counts = dict(record.vendor_counts) if isinstance(record.vendor_counts, Mapping) else {}
    record.contact_errors = list(record.contact_errors) if isinstance(record.contact_errors, list) else []
    return record


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


# The whole run ---------------------------------------------------------------------------------------
def folded_summary(
    summary: Mapping[str, Any] | None,
    batch_results: Sequence[BatchResult | Mapping[str, Any]],
    totals: FoldTotals | None = None,
    *,
    rules: CompletionRules,
) -> dict[str, Any]:
    """
    The run's summary after folding, in the operator's shape; raises ``AssertionError`` if the
    accounting identity does not hold.

    * With the operator's ``summary`` and the fold's ``totals``: the fold's moves are applied to it
      (``accepted`` down, ``removed`` and ``failed`` up). The records may then be a subset of the run's
      (the operator keeps XCom small by dropping ``ok`` records): the totals stay right, and any
      ``accepted`` left over is what no record or request id covered.
    * Otherwise the bucket totals are recomputed from ``batch_results``; ``requested``, ``invalid``
      and ``duplicates`` come from ``summary`` when given, else ``requested`` is the sum of the sizes.

    :param summary: the operator's summary (``RemovalSummary.to_dict()``), or ``None``.
    :param batch_results: the folded batch records.
    :param totals: what folding did (:func:`fold_outcomes`).
    :param rules: the vendor's rules (its key, and the operation a rebuilt summary names).
    """
    kept = {name: value for name, value in (summary or {}).items() if name in _SUMMARY_FIELDS}
    kept.setdefault("vendor", rules.vendor)
    kept.setdefault("operation", rules.operation)
    kept.setdefault("confirmation", Confirmation.ASYNCHRONOUS)
    if summary is not None and totals is not None:
        result = RemovalSummary(**kept)
        result.accepted -= totals.accepted
        result.removed += totals.removed
        result.failed += totals.failed
        result.batches_failed += totals.batches_failed
        result.check()
        return result.to_dict()
    for name in ("removed", "not_found", "accepted", "failed", "batches", "batches_failed", "planned"):
        kept.pop(name, None)
    records = [batch_record(record, position) for position, record in enumerate(batch_results)]
    if summary is None:
        kept["requested"] = sum(record.size for record in records)
    result = RemovalSummary(**kept)
    for record in records:
        result.add(record)
    result.check()
    return result.to_dict()


def records_for_requests(
    request_ids: Sequence[str],
    statuses: Mapping[str, Any],
    unknown_ids: Iterable[str] = (),
    *,
    pending_reason: str | None = None,
    first_index: int = 0,
    rules: CompletionRules,
) -> list[BatchResult]:
    """
    Batch records for request ids given without the operator's ``batch_results`` (the removal ran
    elsewhere): one per id, ``accepted`` = the contacts the vendor reports for it, ready for
    :func:`fold_outcomes`. An unknown id, or one without a final status, gets a record of size 0
    marked ``failed`` with the reason: what it held cannot be known.
    """
    pending_reason = pending_reason or rules.timeout_reason
    unknown = set(unknown_ids)
    records = []
    for index, request_id in enumerate(request_ids, start=first_index):
        status = statuses.get(request_id)
        status = status_to_dict(status) if status is not None else None
        if request_id in unknown or status is None or not rules.is_final(status["status"]):
            reason = rules.unknown_reason if request_id in unknown else pending_reason
            record = BatchResult(index, 0, BatchStatus.FAILED, {}, request_id=request_id, error=reason)
        else:
            size = len(status["successes"]) + len(status["errors"])
            record = BatchResult(index, size, BatchStatus.OK, {}, accepted=size, request_id=request_id)
        record.note = f"batch records rebuilt from {rules.label}'s report: the removal ran in another task"
        records.append(record)
    return records


@dataclass
class Completion:
    """
    A finished wait, folded: the new batch records, the summary (the operator's shape), what folding
    did, and the state the wait ended in. :meth:`records` gives the records as XCom holds them.
    """

    batch_results: list[BatchResult]
    summary: dict[str, Any]
    totals: FoldTotals
    state: PollState

    def records(self) -> list[dict[str, Any]]:
        """The batch records as plain dicts, for XCom."""
        return [record.to_dict() for record in self.batch_results]

    @property
    def timed_out(self) -> bool:
        return bool(self.totals.timed_out) and self.state.error is None

    def message(self) -> str:
        """One line for logs and errors: counts only, no request ids, no identifiers."""
        totals = self.totals
        text = (
            f"{self.state._rules.label} outcome of {totals.accepted} accepted identifier(s) in {totals.requests} request(s): "
            f"{totals.removed} removed, {totals.failed} failed, "
            # the summary's batches_failed: batches with any failed identifier (failed or partial)
            f"{totals.batches_failed} batch(es) with failures (failed or partial)"
        )
        details = []
        if totals.contact_errors:
            details.append(f"{totals.contact_errors} with a {self.state._rules.label} error")
        if totals.unknown:
            details.append(f"{totals.unknown} request(s) {self.state._rules.unknown_reason}")
        if totals.timed_out:
            reason = f"could not read the status ({self.state.error})" if self.state.error else "timed out"
            details.append(f"{totals.timed_out} request(s) {reason}")
        return text + (f" ({'; '.join(details)})" if details else "")


def complete(
    batch_results: Sequence[BatchResult | Mapping[str, Any]] | None,
    summary: Mapping[str, Any] | None,
    state: PollState,
    statuses: Mapping[str, Any],
) -> Completion:
    """
    Fold a finished wait into the run's records and summary.

    :param batch_results: the operator's batch records, or ``None``. A request id of ``state`` that no
        record carries gets a record rebuilt from the vendor's report (:func:`records_for_requests`).
    :param summary: the operator's summary, or ``None`` (see :func:`folded_summary`).
    :param state: where the wait ended; its pending ids are folded as timed out (or, when
        ``state.error`` is set, as "could not read <vendor>'s status").
    :param statuses: the full statuses (with per-contact results) of the final requests. A request the
        state calls final but that is missing here (it expired in between) counts as unknown.
    """
    unknown = list(state.unknown_ids) + [i for i in state.final_ids if i not in statuses]
    statuses = dict(statuses)
    for request_id in state.pending_ids:
        # The last status seen, so a timed-out batch says what the vendor was still doing.
        if request_id not in statuses and state.statuses.get(request_id):
            statuses[request_id] = {"request_id": request_id, "status": state.statuses[request_id]}
    rules = state._rules
    reason = (
        f"could not read {rules.label}'s status: {state.error}" if state.error else rules.timeout_reason
    )[:300]
    records = [batch_record(record, position) for position, record in enumerate(batch_results or [])]
    covered = {record.request_id for record in records}
    uncovered = [request_id for request_id in state.request_ids if request_id not in covered]
    next_index = max((record.index for record in records), default=-1) + 1
    rebuilt = records_for_requests(
        uncovered, statuses, unknown, pending_reason=reason, first_index=next_index, rules=rules
    )
    folded, totals = fold_outcomes(
        records + rebuilt, statuses, unknown, state.pending_ids, timeout_reason=reason, rules=rules
    )
    for record in rebuilt:
        # A rebuilt record of an unknown or pending request holds nothing to fold: count the request here.
        if record.status == BatchStatus.FAILED:
            totals.requests += 1
            totals.batches_failed += 1
            if record.request_id in unknown:
                totals.unknown += 1
            else:
                totals.timed_out += 1
    return Completion(folded, folded_summary(summary, folded, totals, rules=rules), totals, state)
