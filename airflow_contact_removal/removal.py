"""One removal run, start to end: check, clean, guard, batch, send, account.

The operators are thin wrappers around :func:`run_removal`; it takes a hook and plain values, so it
can also be called from a ``@task`` or tested without Airflow's task context.

Everything streams: identifiers are cleaned lazily, cut into batches as the senders need them, and
results are folded into the summary (and written to ``results_path``) as they complete, so memory
grows with the de-duplication set and the batches in flight, not with the input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any

from airflow_contact_removal.accounting import OUTCOME_BUCKETS, add_buckets, whole_number
from airflow_contact_removal.batching import Batch, Logger, ProgressLog, make_batches, run_concurrently
from airflow_contact_removal.checkpoint import Checkpoint
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError, VendorAPIError
from airflow_contact_removal.hooks.base import ContactRemovalHook
from airflow_contact_removal.identifiers import IdentifierCleaner, InvalidRecord, redact
from airflow_contact_removal.results import BatchOutcome, BatchResult, RemovalSummary, reconcile
from airflow_contact_removal.sharding import Shard
from airflow_contact_removal.stopping import RunStopped, StopSignal
from airflow_contact_removal.vocabulary import FAILED_STATUSES, BatchStatus

log = logging.getLogger(__name__)


@dataclass
class RemovalRequest:
    """
    What to remove, and how.

    :param operation: ``remove_contacts`` or ``remove_from_list``.
    :param identifiers: raw inputs by kind (``emails``, ``contact_ids``, ``phone_numbers``,
        ``user_ids``); ``None`` values are ignored. Any iterable works, including a
        :class:`~airflow_contact_removal.files.FileIdentifiers` that streams a file.
    :param list_id: the list, for ``remove_from_list``.
    :param batch_size: identifiers per request; ``None`` for the vendor's default, clamped to its limit.
    :param max_concurrency: requests in flight; ``None`` for the vendor's default, clamped to its cap.
    :param dry_run: plan the batches but send nothing.
    :param max_contacts: refuse the run, before any request, when more valid identifiers than this
        would be sent (a guard against an upstream query that suddenly returns everyone). Costs one
        extra pass over the input.
    :param idempotency_scope: a string naming this run (dag, run, task, map index); batches then
        carry an idempotency key derived from it and their content, for vendors that honour one.
    :param batch_options: vendor options passed with every batch (e.g. Wooxy's ``webhook_uri``).
    :param keep_identifiers: keep every batch's identifiers in its record, not only failed ones (to
        match Wooxy's later per-contact outcome back to them).
    :param shard: remove only this shard of the input (see :mod:`airflow_contact_removal.sharding`):
        every shard reads the whole input and keeps the identifiers whose normalised value hashes to it.
    """

    operation: str
    identifiers: Mapping[str, Any]
    list_id: str | None = None
    batch_size: int | None = None
    max_concurrency: int | None = None
    dry_run: bool = False
    max_contacts: int | None = None
    idempotency_scope: str | None = None
    batch_options: dict[str, Any] = field(default_factory=dict)
    keep_identifiers: bool = False
    shard: Shard | None = None


@dataclass
class RemovalReport:
    """
    The outcome of a run: totals, the batch records kept in memory, and the invalid inputs kept.

    With a ``results_sink``, only failed and partial batch records are kept here (the sink has all
    of them), and invalid inputs go to the sink instead of :attr:`invalid`.
    """

    summary: RemovalSummary
    batch_results: list[BatchResult]
    invalid: list[InvalidRecord]


def resolve_limit(requested: int | None, default: int, ceiling: int, name: str, vendor: str) -> int:
    """The user's value, the vendor default when ``None``, never above the vendor's ceiling."""
    if requested is None:
        return min(default, ceiling)
    requested = whole_number(requested, name, minimum=1)  # a templated "100" is read as 100
    if requested > ceiling:
        log.warning("%s=%d is above %s's limit of %d; using %d", name, requested, vendor, ceiling, ceiling)
        return ceiling
    return requested


def idempotency_key(scope: str, operation: str, list_id: str | None, batch: Batch) -> str:
    """A key (68 characters) that is the same for the same run, task and batch content, and only then."""
    material = json.dumps([scope, operation, list_id, batch.digest], separators=(",", ":"))
    return "acr-" + hashlib.sha256(material.encode()).hexdigest()


def run_removal(
    hook: ContactRemovalHook,
    request: RemovalRequest,
    *,
    logger: Logger = log,
    results_sink: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Checkpoint | None = None,
    stop: StopSignal | None = None,
) -> RemovalReport:
    """
    Remove identifiers through ``hook``; every input ends in exactly one bucket of the summary.

    Refusals (an operation or identifier kind the vendor does not have, a missing list id, a
    ``max_contacts`` breach, a bad batch size) raise :class:`ContactRemovalConfigError` before any
    request. Failed batches do not stop the others: they are recorded with their identifiers.

    :param results_sink: called with every batch record (``{"record": "batch", ...}``) and invalid
        input (``{"record": "invalid", ...}``) as they happen, e.g. to write them to a file.
    :param checkpoint: batches an earlier try finished are taken from it instead of being sent, and
        every batch that finishes without failure is added to it.
    :param stop: set it (e.g. from ``on_kill``) to stop the run; see :mod:`~airflow_contact_removal.stopping`.

    The run stops sending when no other batch can succeed: the vendor says so
    (``VendorAPIError.stops_run``), or :data:`IDENTICAL_REFUSALS_TO_STOP` batches in a row are
    refused the same way. The batches not sent then are failed with the reason (``not_sent``), ready
    to re-queue, and a retry of the task resumes from the checkpoint.

    On every exit after the first request, what was done is accounted: when an exception ends the
    run (the input failing half way, a sink or the checkpoint that cannot be written, Airflow's
    timeout), the report so far is attached to it (read it with :func:`report_of`) and the exception
    is raised again. A stop by Airflow without an exception (``on_kill``) raises
    :class:`~airflow_contact_removal.stopping.RunStopped` the same way.

    A batch the vendor refuses as invalid (HTTP 400/422) without naming the bad record is split in
    halves and the halves sent again, until the bad records are isolated: they land in ``invalid``
    with the vendor's message and the rest are removed. At most
    :data:`SPLIT_EXTRA_REQUESTS_PER_BATCH` extra requests per batch; a part whose halves, and their
    halves, all fail as it did is not split further (the refusal is about the request, not a
    record); what is left unresolved, or a batch no part of which is ever accepted, is reported
    failed with the vendor's error. Auth and server errors are never split.
    """
    started = time.monotonic()
    stop = stop if stop is not None else StopSignal()
    plan = _plan(hook, request, logger)
    summary = RemovalSummary(
        vendor=hook.vendor,
        operation=request.operation,
        list_id=request.list_id,
        batch_size=plan.batch_size,
        max_concurrency=plan.concurrency,
        dry_run=request.dry_run,
        confirmation=hook.confirmation,
        shard=request.shard.index if request.shard is not None else None,
        shards=request.shard.count if request.shard is not None else None,
    )
    recorder = _Recorder(summary, _GuardedSink(results_sink, stop, logger), checkpoint, stop, logger)
    cleaner = IdentifierCleaner(
        hook.identifier_normalisers, on_invalid=recorder.invalid if recorder.sink.active else None
    )
    recorder.cleaner = cleaner
    streams = {kind: cleaner.clean(kind, value) for kind, value in plan.inputs.items()}
    batches = make_batches(streams, plan.batch_size, mix_kinds=hook.mixes_identifier_kinds)
    if request.idempotency_scope or checkpoint is not None:
        batches = _with_digest(batches)

    if request.dry_run:
        for batch in batches:
            recorder.record(BatchResult(batch.index, batch.size, BatchStatus.PLANNED, batch.kinds))
        logger.info("Dry run: %d batch(es) planned, nothing sent", summary.batches)
        _finish_counts(summary, cleaner, started)
        _log_cleaning(logger, hook, request, cleaner)
        summary.check()
        return recorder.report()

    logger.info(
        "%s %s: sending batches of at most %d, %d in flight",
        hook.hook_name,
        request.operation,
        plan.batch_size,
        plan.concurrency,
    )
    progress = recorder.progress = plan.progress_log(hook, logger)
    _ = hook.client  # built, with its shared parts, before the senders share it
    sender = _Sender(hook, request, plan.options, _RefusalGuard(stop, logger), checkpoint)
    try:
        run_concurrently(
            batches,
            sender.send,
            max_workers=plan.concurrency,
            on_done=recorder.done,
            stop=stop,
            not_sent=_not_sent_record,
        )
    except BaseException as exc:
        if stop.interrupt:
            # The abandoned requests' connections are closed now, not when their drain timeout ends.
            hook.abandon_in_flight()
        try:
            _account_stop(summary, cleaner, started, stop, logger, hook, request, progress)
        except AssertionError as broken:  # never hide the error that ended the run behind this one
            logger.error("%s", broken)
        if summary.batches:  # else it ended before the first request: a refusal, nothing to account
            _attach_report(exc, recorder.report())
        raise
    _account_stop(summary, cleaner, started, stop, logger, hook, request, progress)
    failure = recorder.sink.error or recorder.checkpoint_error
    if failure is None and stop.interrupt:
        hook.abandon_in_flight()
        failure = RunStopped(stop.reason or "stopped")
    if failure is not None:
        _attach_report(failure, recorder.report())
        raise failure
    if summary.resumed_batches:
        logger.info(
            "%d batch(es) were finished by an earlier try and not sent again", summary.resumed_batches
        )
    return recorder.report()


@dataclass
class _Plan:
    """
    What the run will send, settled before any request: the inputs (this shard's), the vendor
    options, the batch size and concurrency (clamped to the vendor's limits), and the count of
    valid identifiers when a first pass was made.
    """

    inputs: dict[str, Any]
    options: dict[str, Any]
    batch_size: int
    concurrency: int
    total_valid: int | None

    def progress_log(self, hook: ContactRemovalHook, logger: Logger) -> ProgressLog:
        """The progress log, with totals when they are known or can be estimated from the input."""
        total, estimate = self.total_valid, None
        if total is None:
            total, estimate = _estimated_total(self.inputs)
        batches = None if total is None else _batch_count(total, self.batch_size, self.inputs, hook)
        return ProgressLog(batches, total, logger=logger, estimate=estimate)


def _plan(hook: ContactRemovalHook, request: RemovalRequest, logger: Logger) -> _Plan:
    """Check the request against the vendor and settle the limits; refusals raise before any request."""
    inputs = {kind: value for kind, value in request.identifiers.items() if value is not None}
    options = {name: value for name, value in request.batch_options.items() if value is not None}
    hook.check_request(request.operation, inputs, list_id=request.list_id, options=options)
    if request.shard is not None:
        inputs = request.shard.select(inputs, hook.identifier_normalisers)
        logger.info("Removing %s of the input", request.shard)
    batch_size = resolve_limit(
        request.batch_size, hook.default_batch_size, hook.max_batch_size, "batch_size", hook.hook_name
    )
    concurrency = resolve_limit(
        request.max_concurrency, hook.default_in_flight, hook.max_in_flight, "max_concurrency", hook.hook_name
    )
    max_contacts = request.max_contacts
    if max_contacts is not None:  # a templated "100" is read as 100
        max_contacts = whole_number(max_contacts, "max_contacts", minimum=0)

    # A first pass counts the valid identifiers: needed for the max_contacts guard, and cheap for
    # inputs already in memory, where it gives the progress log its totals and ETA. A streamed file
    # without max_contacts is read once.
    total_valid = None
    if max_contacts is not None or all(isinstance(value, Sized) for value in inputs.values()):
        inputs = {kind: _reiterable(value) for kind, value in inputs.items()}
        total_valid = _count_valid(hook, inputs)
    if max_contacts is not None and total_valid is not None:  # counted whenever max_contacts is set
        _check_max_contacts(max_contacts, total_valid)
    return _Plan(inputs, options, batch_size, concurrency, total_valid)


class _Recorder:
    """
    Where every record of the run goes, in one place: the summary, the records kept for XCom, the
    results sink, the checkpoint and the progress log.

    :meth:`invalid` is called from the producer thread, :meth:`record` and :meth:`done` from the
    thread that collects the senders' results.
    """

    def __init__(
        self,
        summary: RemovalSummary,
        sink: _GuardedSink,
        checkpoint: Checkpoint | None,
        stop: StopSignal,
        logger: Logger,
    ) -> None:
        self.summary = summary
        self.sink = sink
        self.checkpoint = checkpoint
        self.stop = stop
        self.logger = logger
        self.kept: list[BatchResult] = []
        self.rejected: list[InvalidRecord] = []
        self.cleaner: IdentifierCleaner | None = None
        self.progress: ProgressLog | None = None
        #: the error that made the checkpoint unwritable (the run stops, accounts, then fails with it).
        self.checkpoint_error: BaseException | None = None

    def invalid(self, record: InvalidRecord) -> None:
        """An input the cleaner refused: to the sink, or kept when there is none or it failed."""
        if not self.sink.write({"record": "invalid", **record.to_dict()}):
            self.rejected.append(record)

    def record(self, result: BatchResult) -> None:
        """Fold a batch record into the summary and write it (and what the vendor rejected in it)."""
        self.summary.add(result)
        for item in result.rejected:
            if not self.sink.write({"record": "invalid", **item}):
                self.rejected.append(InvalidRecord(item["kind"], item["value"], item["reason"]))
        written = self.sink.write({"record": "batch", **result.to_dict()})
        if not written or result.status in FAILED_STATUSES:
            self.kept.append(result)

    def done(self, batch: Batch, result: BatchResult) -> None:
        """A batch finished: record it, checkpoint it when it is a fresh success, count its progress."""
        self.record(result)
        fresh = result.status == BatchStatus.OK and not result.from_checkpoint
        checkpoint = self.checkpoint
        if checkpoint is not None and fresh and self.checkpoint_error is None:
            try:
                checkpoint.add(batch, result.to_dict())
            except Exception as exc:  # e.g. a full disk: stop, account, then fail with it
                self.checkpoint_error = exc
                self.stop.stop(f"the checkpoint could not be written ({type(exc).__name__})")
                self.logger.error(
                    "Checkpoint %s could not be written: %s", checkpoint.path, type(exc).__name__
                )
        if self.progress is not None:
            self.progress.record(result.size, result.status != BatchStatus.OK, resumed=result.from_checkpoint)

    def report(self) -> RemovalReport:
        self.kept.sort(key=lambda result: result.index)
        invalid = self.cleaner.invalid if self.cleaner is not None else []
        return RemovalReport(self.summary, self.kept, invalid + self.rejected)


class _Sender:
    """Sends one batch (or takes it from the checkpoint); called from the senders' threads."""

    def __init__(
        self,
        hook: ContactRemovalHook,
        request: RemovalRequest,
        options: Mapping[str, Any],
        guard: _RefusalGuard,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.hook = hook
        self.request = request
        self.options = options
        self.guard = guard
        self.checkpoint = checkpoint

    def send(self, batch: Batch) -> BatchResult:
        if self.checkpoint is not None and (finished := self.checkpoint.finished(batch)) is not None:
            result = BatchResult.from_dict(finished)
            result.from_checkpoint = True
            return result
        result = _send_batch(self.hook, self.request, batch, self.options, self.guard)
        if self.request.keep_identifiers and result.identifiers is None:
            result.identifiers = batch.identifiers
        return result


def _attach_report(exc: BaseException, report: RemovalReport) -> None:
    """Carry the accounting so far on the exception that ends the run (read by :func:`report_of`)."""
    exc.removal_report = report  # type: ignore[attr-defined]


def report_of(exc: BaseException) -> RemovalReport | None:
    """The accounting of a run that ``exc`` ended after it began sending (``None`` if it ended before)."""
    return getattr(exc, "removal_report", None)


def _finish_counts(summary: RemovalSummary, cleaner: IdentifierCleaner, started: float) -> None:
    summary.requested = cleaner.requested
    summary.invalid += cleaner.invalid_count  # plus what the vendor rejected, added per batch
    summary.duplicates = cleaner.duplicates
    summary.duration_s = round(time.monotonic() - started, 3)


def _log_cleaning(
    logger: Logger, hook: ContactRemovalHook, request: RemovalRequest, cleaner: IdentifierCleaner
) -> None:
    logger.info(
        "%s %s: %d identifier(s) in, %d valid, %d invalid, %d duplicate(s)",
        hook.hook_name,
        request.operation,
        cleaner.requested,
        cleaner.valid,
        cleaner.invalid_count,
        cleaner.duplicates,
    )


def _account_stop(
    summary: RemovalSummary,
    cleaner: IdentifierCleaner,
    started: float,
    stop: StopSignal,
    logger: Logger,
    hook: ContactRemovalHook,
    request: RemovalRequest,
    progress: ProgressLog,
) -> None:
    """Close the run's totals, in the order things happened: cleaning, then sending, then a stop."""
    _finish_counts(summary, cleaner, started)
    if stop.interrupt:
        # The producer may have been inside the input when the task was stopped: identifiers it had
        # read but not yet cut into a batch were never sent. Counted failed so the totals add up.
        unaccounted = summary.requested - summary.accounted
        if unaccounted > 0:
            summary.failed += unaccounted
            summary.not_sent += unaccounted
    _log_cleaning(logger, hook, request, cleaner)
    progress.log_line(final=True)
    if stop.is_set():
        summary.stopped = stop.reason
        logger.warning(
            "Run stopped (%s): %d identifier(s) not sent, %d failed in all; failed batches carry their "
            "identifiers, ready to re-queue, and a retry of the task resumes from the checkpoint",
            stop.reason,
            summary.not_sent,
            summary.failed,
        )
    try:
        summary.check()
    except AssertionError as exc:
        if not stop.interrupt:
            raise
        logger.error("%s", exc)  # never hide the error that stopped the run behind this one


class _GuardedSink:
    """
    The results sink; when a write fails, the run stops and the records go to memory instead.

    The error is kept, and raised once everything was accounted (the task fails with it).
    """

    def __init__(
        self, write: Callable[[dict[str, Any]], None] | None, stop: StopSignal, logger: Logger
    ) -> None:
        self._write = write
        self._stop = stop
        self._logger = logger
        self._lock = threading.Lock()  # invalid inputs are written by the producer thread
        self.error: BaseException | None = None

    @property
    def active(self) -> bool:
        return self._write is not None

    def write(self, record: dict[str, Any]) -> bool:
        """Write ``record``; ``False`` when there is no sink or it failed (keep it in memory)."""
        if self._write is None or self.error is not None:
            return False
        with self._lock:
            try:
                self._write(record)
            except Exception as exc:
                self.error = exc
                self._stop.stop(f"the results could not be written ({type(exc).__name__})")
                self._logger.error(
                    "Results could not be written (%s): the rest go to XCom", type(exc).__name__
                )
                return False
        return True


#: Batches in a row refused the same way (not transiently) after which the run stops sending.
IDENTICAL_REFUSALS_TO_STOP = 2


class _RefusalGuard:
    """
    Decides, from the senders' threads, when no other batch can succeed, and stops the run.

    At once when the vendor says so (``stops_run``); after :data:`IDENTICAL_REFUSALS_TO_STOP`
    batches in a row refused with the same status, code and message (a refusal about the requests,
    such as a bad list or a 400 to every request). Transient failures are the transport's to judge.
    """

    def __init__(self, stop: StopSignal, logger: Logger) -> None:
        self._stop = stop
        self._logger = logger
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._streak = 0

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def accepted(self) -> None:
        with self._lock:
            self._signature, self._streak = None, 0

    def refused(self, exc: VendorAPIError, batch: Batch) -> None:
        if exc.stops_run:
            self._stop.stop(redact(str(exc), batch.values()))
            return
        if exc.retryable:
            return
        signature = (exc.status_code, exc.vendor_code, exc.vendor_message or exc.message)
        with self._lock:
            if signature == self._signature:
                self._streak += 1
            else:
                self._signature, self._streak = signature, 1
            streak = self._streak
        if streak >= IDENTICAL_REFUSALS_TO_STOP:
            self._stop.stop(
                f"{streak} batches in a row refused the same way: {redact(str(exc), batch.values())}"
            )


def _with_digest(batches: Iterator[Batch]) -> Iterator[Batch]:
    """
    Batches whose content digest (idempotency key, checkpoint fingerprint) is already computed.

    The producer thread computes it while the senders wait on the network, instead of a sender
    between two of its requests (~0.2 ms for 1000 emails).
    """
    for batch in batches:
        batch.digest  # noqa: B018 - cached on the batch
        yield batch


def _reiterable(value: Any) -> Any:
    """A one-shot iterator cannot be read twice (count, then send): keep it in memory."""
    if isinstance(value, Iterator):
        return list(value)
    return value


def _estimated_total(inputs: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """An input file's (or shard's) estimated item count, and how it was estimated; or ``None``."""
    total = 0
    for value in inputs.values():
        estimate = getattr(value, "estimated_count", None)
        count = estimate() if callable(estimate) else None
        if count is None:
            return None, None
        total += count
    how = "from the input file's lines"
    if any(getattr(value, "shard", None) is not None for value in inputs.values()):
        how += ", divided evenly between the shards"
    return total, how


def _count_valid(hook: ContactRemovalHook, inputs: Mapping[str, Any]) -> int:
    counter = IdentifierCleaner(hook.identifier_normalisers, on_invalid=lambda record: None)
    for kind, value in inputs.items():
        for _ in counter.clean(kind, value):
            pass
    return counter.valid


def _check_max_contacts(max_contacts: int, valid: int) -> None:
    if valid > max_contacts:
        raise ContactRemovalConfigError(
            f"refusing to remove {valid} contacts: max_contacts is {max_contacts}. "
            "Nothing was sent. Raise max_contacts if this many is intended."
        )


def _batch_count(
    total_valid: int, batch_size: int, inputs: Mapping[str, Any], hook: ContactRemovalHook
) -> int | None:
    if hook.mixes_identifier_kinds or len(inputs) == 1:
        return -(-total_valid // batch_size)
    return None  # kinds batched apart: the split per kind is not known from the total


#: HTTP statuses by which vendors refuse a request as invalid; only these lead to splitting a batch.
VALIDATION_STATUSES = frozenset({400, 422})
#: The most extra requests spent isolating invalid records in one batch.
SPLIT_EXTRA_REQUESTS_PER_BATCH = 32


def _send_batch(
    hook: ContactRemovalHook,
    request: RemovalRequest,
    batch: Batch,
    options: Mapping[str, Any],
    guard: _RefusalGuard,
) -> BatchResult:
    """Send one batch; never raises: a failure becomes a ``failed`` record carrying the identifiers."""
    started = time.monotonic()
    try:
        outcome = _send_once(hook, request, batch, options)
    except RunStopped as exc:
        # The transport stopped the request before an attempt: not sent, or (a retry) an attempt
        # went out before and its outcome is unknown.
        return _not_sent_record(batch, exc.reason, exc.attempted)
    except VendorAPIError as exc:
        if _splittable(exc) and batch.size > 1:
            return _split(hook, request, batch, options, exc, started, guard)
        guard.refused(exc, batch)
        return _failed_record(batch, exc, started)
    except Exception as exc:  # a bug or an unexpected library error must not lose the batch
        return _failed_record(batch, exc, started)
    guard.accepted()
    return _outcome_record(batch, outcome, started)


def _splittable(exc: VendorAPIError) -> bool:
    return exc.status_code in VALIDATION_STATUSES and not exc.retryable and not exc.stops_run


def _same_refusal(first: VendorAPIError, second: VendorAPIError) -> bool:
    return (first.status_code, first.vendor_code, first.vendor_message, first.message) == (
        second.status_code,
        second.vendor_code,
        second.vendor_message,
        second.message,
    )


def _send_once(
    hook: ContactRemovalHook, request: RemovalRequest, batch: Batch, options: Mapping[str, Any]
) -> BatchOutcome:
    key = None
    if request.idempotency_scope:
        key = idempotency_key(request.idempotency_scope, request.operation, request.list_id, batch)
    outcome = hook.remove_batch(
        request.operation, batch.identifiers, list_id=request.list_id, idempotency_key=key, **options
    )
    return reconcile(batch.size, outcome)


def _outcome_record(batch: Batch, outcome: BatchOutcome, started: float) -> BatchResult:
    status = BatchStatus.OK if outcome.failed == 0 else BatchStatus.PARTIAL
    return BatchResult(
        index=batch.index,
        size=batch.size,
        status=status,
        kinds=batch.kinds,
        removed=outcome.removed,
        not_found=outcome.not_found,
        accepted=outcome.accepted,
        failed=outcome.failed,
        not_found_identifiers=outcome.not_found_identifiers,
        request_id=outcome.request_id,
        attempts=outcome.attempts,
        http_status=outcome.http_status,
        error="; ".join(outcome.errors[:5]) or None,
        note=outcome.note,
        vendor_counts=outcome.vendor_counts,
        identifiers=batch.identifiers if status != BatchStatus.OK else None,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _halves(batch: Batch) -> list[Batch]:
    items = [(kind, value) for kind, values in batch.identifiers.items() for value in values]
    middle = len(items) // 2
    parts = []
    for chunk in (items[:middle], items[middle:]):
        identifiers: dict[str, list[str]] = {}
        for kind, value in chunk:
            identifiers.setdefault(kind, []).append(value)
        parts.append(Batch(batch.index, identifiers))
    return parts


def _split(
    hook: ContactRemovalHook,
    request: RemovalRequest,
    batch: Batch,
    options: Mapping[str, Any],
    refusal: VendorAPIError,
    started: float,
    guard: _RefusalGuard,
) -> BatchResult:
    """
    Isolate the records a vendor refused as invalid by sending the batch again in halves.

    A part is not split further when both its halves fail as it did and it was itself one of two
    halves that both failed as their parent did: two generations refused the same way say the
    refusal is about the request (a bad record in each of four quarters is not the likely reading).
    Two bad records, one in each half, are still isolated.
    """
    log.info(
        "Batch %d (%d identifiers) refused as invalid (HTTP %s): splitting it to find the bad records",
        batch.index,
        batch.size,
        refusal.status_code,
    )
    budget = SPLIT_EXTRA_REQUESTS_PER_BATCH
    accepted: list[BatchOutcome] = []
    rejected: list[tuple[Batch, VendorAPIError]] = []  # single records refused as invalid
    unresolved: list[tuple[Batch, Exception]] = []  # parts left failed
    attempts = refusal.attempts
    # Parts refused as invalid, to split: (part, its refusal, whether it and its twin both failed
    # as their parent did).
    work: list[tuple[Batch, VendorAPIError, bool]] = [(batch, refusal, False)]
    while work:
        part, part_refusal, twin_alike = work.pop(0)
        halves = _halves(part)
        if budget < len(halves) or guard.stopped:
            unresolved.append((part, part_refusal))
            continue
        answers: list[BatchOutcome | Exception] = []
        for half in halves:
            budget -= 1
            try:
                answers.append(_send_once(hook, request, half, options))
            except (RunStopped, VendorAPIError) as exc:
                answers.append(exc)
        for answer in answers:
            attempts += getattr(answer, "attempts", 0)
        alike = all(
            isinstance(answer, VendorAPIError) and _same_refusal(answer, part_refusal) for answer in answers
        )
        if alike and twin_alike:
            unresolved.append((part, part_refusal))  # the refusal is about the request
            continue
        for half, answer in zip(halves, answers, strict=True):
            if isinstance(answer, BatchOutcome):
                accepted.append(answer)
            elif isinstance(answer, VendorAPIError) and _splittable(answer):
                if half.size == 1:
                    rejected.append((half, answer))
                else:
                    work.append((half, answer, alike))
            else:
                if isinstance(answer, VendorAPIError):
                    guard.refused(answer, half)
                unresolved.append((half, answer))
    if not accepted:
        # No part was ever accepted: the refusal is about the request, not a record.
        guard.refused(refusal, batch)
        return _failed_record(batch, refusal, started, attempts=attempts)
    guard.accepted()
    result = BatchResult(
        index=batch.index, size=batch.size, status=BatchStatus.OK, kinds=batch.kinds, attempts=attempts
    )
    for outcome in accepted:
        add_buckets(result, outcome, OUTCOME_BUCKETS)
        result.not_found_identifiers += outcome.not_found_identifiers
        result.request_id = result.request_id or outcome.request_id
    for part, refused in rejected:
        ((kind, values),) = part.identifiers.items()
        reason = f"rejected by {hook.hook_name}: {refused.vendor_message or refused.message}"[:300]
        result.rejected.append({"kind": kind, "value": values[0], "reason": reason})
    result.invalid = len(rejected)
    requeue: dict[str, list[str]] = {}
    for part, error in unresolved:
        result.failed += part.size
        result.error = str(error)[:1000]
        for kind, values in part.identifiers.items():
            requeue.setdefault(kind, []).extend(values)
    if result.failed:
        result.status = BatchStatus.PARTIAL
        result.identifiers = requeue or batch.identifiers
    result.note = (
        f"refused as invalid (HTTP {refusal.status_code}); split into parts: {len(rejected)} record(s) "
        f"rejected, {sum(part.size for part, _ in unresolved)} unresolved"
    )
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _failed_record(
    batch: Batch, exc: Exception, started: float, *, attempts: int | None = None
) -> BatchResult:
    vendor_error = exc if isinstance(exc, VendorAPIError) else None
    if isinstance(exc, ContactRemovalError):
        # Built by this package from statuses and vendor codes, but it carries the vendor's message,
        # which may quote what was sent: logged with identifiers taken out.
        message = str(exc)
        log.warning(
            "Batch %d (%d identifiers) failed: %s",
            batch.index,
            batch.size,
            redact(message, batch.values())[:500],
        )
    else:
        # An unexpected error's text could quote an identifier: the log gets its type only.
        message = f"{type(exc).__name__}: {exc}"
        log.warning("Batch %d (%d identifiers) failed: %s", batch.index, batch.size, type(exc).__name__)
    return BatchResult(
        index=batch.index,
        size=batch.size,
        status=BatchStatus.FAILED,
        kinds=batch.kinds,
        failed=batch.size,
        attempts=attempts if attempts is not None else (vendor_error.attempts if vendor_error else 0),
        http_status=vendor_error.status_code if vendor_error else None,
        vendor_code=vendor_error.vendor_code if vendor_error else None,
        error=message[:1000],
        identifiers=batch.identifiers,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _not_sent_record(batch: Batch, reason: str, in_flight: bool) -> BatchResult:
    """
    The record of a batch the run stopped before sending, or abandoned while it was in flight.

    Both are failed and carry their identifiers, ready to re-queue. An abandoned batch may have been
    processed by the vendor: sending it again is safe (and Migma's idempotency key makes it a replay).
    """
    if in_flight:
        error = f"abandoned in flight, outcome unknown (safe to re-send): {reason}"
    else:
        error = f"not sent: {reason}"
    return BatchResult(
        index=batch.index,
        size=batch.size,
        status=BatchStatus.FAILED,
        kinds=batch.kinds,
        failed=batch.size,
        error=error[:1000],
        identifiers=batch.identifiers,
        not_sent=not in_flight,
    )
