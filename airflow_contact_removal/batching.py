"""Cut clean identifiers into batches within a vendor's limits, and send them concurrently."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, cast

from airflow_contact_removal.results import IDENTIFIER_KINDS
from airflow_contact_removal.stopping import StopSignal

log = logging.getLogger(__name__)


class Logger(Protocol):
    """
    What a run logs through: a :class:`logging.Logger`, or an operator's ``self.log`` (in Airflow 3 a
    structlog logger, which is not a ``logging.Logger`` but takes the same ``%``-style calls).
    """

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Batch:
    """One request's worth of identifiers, by kind, numbered from 0 in sending order."""

    index: int
    identifiers: dict[str, list[str]]

    @property
    def size(self) -> int:
        return sum(len(values) for values in self.identifiers.values())

    def values(self) -> Iterator[str]:
        """Every identifier of the batch, all kinds."""
        for values in self.identifiers.values():
            yield from values

    @property
    def kinds(self) -> dict[str, int]:
        return {kind: len(values) for kind, values in self.identifiers.items() if values}

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the batch's identifiers, computed once: the same content gives the same digest."""
        material = json.dumps(self.identifiers, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(material.encode()).hexdigest()


def make_batches(
    streams: Mapping[str, Iterable[str]],
    batch_size: int,
    *,
    mix_kinds: bool,
) -> Iterator[Batch]:
    """
    Cut identifier streams into batches of at most ``batch_size`` identifiers, lazily.

    :param streams: valid identifiers by kind, consumed in :data:`IDENTIFIER_KINDS` order.
    :param batch_size: the most identifiers per batch (all kinds counted together).
    :param mix_kinds: whether one batch may hold several kinds (Wooxy, Bird: the limit is combined);
        when not (AutoSend lists: emails *or* contact ids), each kind gets its own batches.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    index = 0
    current: dict[str, list[str]] = {}
    filled = 0
    for kind in IDENTIFIER_KINDS:
        if kind not in streams:
            continue
        if not mix_kinds and filled:
            yield Batch(index, current)
            index += 1
            current, filled = {}, 0
        bucket = None
        try:
            for value in streams[kind]:
                if bucket is None:
                    bucket = current.setdefault(kind, [])
                bucket.append(value)
                filled += 1
                if filled == batch_size:
                    yield Batch(index, current)
                    index += 1
                    current, filled, bucket = {}, 0, None
        except Exception:
            # The input failed half way: what was read is handed over (and accounted) before the
            # error goes on to the caller.
            if filled:
                yield Batch(index, current)
            raise
    if filled:
        yield Batch(index, current)


class ProgressLog:
    """
    Logs batches done / total, contacts, rate and ETA about every ``interval`` seconds, and at the end.

    Batches an earlier try finished (taken from the checkpoint, not sent) are counted apart: they
    count towards done, but the rate is that of the contacts sent in this try, so a resumed run never
    shows a rate above what the vendor allows, and the ETA is the rest at that rate. Counts only:
    identifiers are never logged.

    :param total_batches: batches in all, when known.
    :param total_contacts: contacts in all, when known.
    :param estimate: how the totals were estimated (e.g. ``"from the input file's lines"``), shown
        with them as ``~``; ``None`` when they are exact.
    """

    def __init__(
        self,
        total_batches: int | None,
        total_contacts: int | None,
        *,
        logger: Logger = log,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        estimate: str | None = None,
    ) -> None:
        self.total_batches = total_batches
        self.total_contacts = total_contacts
        self.estimate = estimate
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self.batches = 0
        self.contacts = 0
        self.failed_batches = 0
        self.resumed_batches = 0
        self.resumed_contacts = 0

    def record(self, size: int, failed: bool, resumed: bool = False) -> None:
        """One batch done: sent in this try, or ``resumed`` (finished by an earlier try)."""
        self.batches += 1
        self.contacts += size
        self.failed_batches += int(failed)
        if resumed:
            self.resumed_batches += 1
            self.resumed_contacts += size
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.log_line()

    def _of(self, done: int, total: int | None) -> str:
        if total is None:
            return str(done)
        # An estimate can fall short of what is really there: never show "120/~100".
        return f"{done}/~{max(total, done)}" if self.estimate else f"{done}/{total}"

    def log_line(self, final: bool = False) -> None:
        elapsed = max(self.clock() - self.started, 1e-9)
        sent = self.contacts - self.resumed_contacts
        rate = sent / elapsed
        resumed = ""
        if self.resumed_batches:
            resumed = (
                f" ({self.resumed_batches} batch(es), {self.resumed_contacts} contacts resumed from the "
                f"checkpoint, {sent} sent in this try)"
            )
        eta = ""
        if not final and self.total_contacts and rate > 0:
            eta = f", ETA {max(self.total_contacts - self.contacts, 0) / rate:.0f} s"
        estimate = f" (totals estimated {self.estimate})" if self.estimate and not final else ""
        # At the end the counts are exact: an estimated total is not shown beside them.
        total_batches, total_contacts = (
            (None, None)
            if final and self.estimate
            else (
                self.total_batches,
                self.total_contacts,
            )
        )
        self.logger.info(
            "%s: batches %s, contacts %s%s, %d failed batch(es), %.0f contacts/s%s, %.1f s elapsed%s",
            "Done" if final else "Progress",
            self._of(self.batches, total_batches),
            self._of(self.contacts, total_contacts),
            resumed,
            self.failed_batches,
            rate,
            eta,
            elapsed,
            estimate,
        )


_DONE = object()
#: Results a sender hands back for a batch it did not send, or gave up on.
_NOT_SENT = object()
_ABANDONED = object()

#: Seconds the senders' requests in flight get to finish once Airflow stops the task; then they are
#: abandoned (accounted as failed, safe to re-send), their connections closed, and the task ends.
#: Short: Airflow's own time-out already ran, and whatever it allows after it is the task's to use
#: for pushing the accounting, not for waiting on a vendor.
ABANDON_AFTER_S = 1.5
#: How often the calling thread looks at the stop signal while it waits for results.
_POLL_S = 0.2

_frozen_lock = threading.Lock()
_frozen_runs = 0


@contextmanager
def objects_frozen_for_gc() -> Iterator[None]:
    """
    Keep the garbage collector's full collections off the objects that exist when a run starts.

    A task process holds a few hundred thousand long-lived objects (Airflow, its providers, their
    imports). A full collection walks all of them and stops every thread for 50-140 ms (measured in
    the benchmark): every request in flight waits, several times per run. :func:`gc.freeze` moves them
    out of the collector's view for the run; :func:`gc.unfreeze` gives them back at the end, so
    nothing is leaked and a later collection still finds any garbage among them. Objects made during
    the run are collected as usual. Runs in parallel threads of one process share the freeze.
    """
    global _frozen_runs
    with _frozen_lock:
        if _frozen_runs == 0:
            gc.freeze()
        _frozen_runs += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_runs -= 1
            if _frozen_runs == 0:
                gc.unfreeze()


def run_concurrently(
    batches: Iterable[Batch],
    send: Callable[[Batch], object],
    *,
    max_workers: int,
    on_done: Callable[[Batch, Any], None],
    stop: StopSignal | None = None,
    not_sent: Callable[[Batch, str, bool], object] | None = None,
    abandon_after: float = ABANDON_AFTER_S,
) -> None:
    """
    Call ``send(batch)`` for every batch with up to ``max_workers`` in flight, and ``on_done`` with
    each result in the calling thread, in completion order.

    A producer thread prepares batches ahead of the senders (cleaning and cutting happen there) into
    a queue of ``2 * max_workers``; each sender takes the next batch the moment its previous request
    ends, without a round trip through the calling thread, so ``max_workers`` requests stay in
    flight. A lazy input is never read further ahead than the queue. ``send`` must not raise: it
    turns failures into results.

    Every batch taken from ``batches`` reaches ``on_done`` exactly once, on every exit. Once
    ``stop`` is set no new batch is sent: the batches taken after it reach ``on_done`` with
    ``not_sent(batch, reason, False)``. A stop from within the run (the vendor, a sink) lets the
    requests in flight finish and goes on cutting the rest of the input into not-sent batches. An
    interrupt (``stop(..., interrupt=True)``, or any exception raised in the calling thread, such as
    Airflow's ``AirflowTaskTimeout``) stops reading the input and gives the requests in flight
    ``abandon_after`` seconds; those still running then are handed to ``on_done`` as
    ``not_sent(batch, reason, True)`` and their threads left to end on their own (the transport
    checks the stop before any further attempt). An exception of the calling thread is raised again
    at the end; an error while preparing batches (e.g. an unreadable file) ends the input: the
    batches cut before it are sent, and the error is raised after they were handed to ``on_done``.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    stop = stop if stop is not None else StopSignal()
    if not_sent is None:

        def not_sent(batch: Batch, reason: str, in_flight: bool) -> object:
            return None

    ready: queue.Queue = queue.Queue(maxsize=max_workers * 2)
    results: queue.Queue = queue.Queue()
    failure: list[BaseException] = []
    lock = threading.Lock()
    pending: dict[int, Batch] = {}  # taken from the input, not yet handed to on_done
    sending: set[int] = set()  # in a sender's hands
    reading = threading.Lock()  # held by the producer while it reads and cuts the input
    closed = threading.Event()  # the calling thread has finished: read no further

    def produce() -> None:
        iterator = iter(batches)
        try:
            while not (stop.interrupt or closed.is_set()):
                with reading:
                    if closed.is_set():
                        break
                    item = next(iterator, _DONE)
                if item is _DONE:
                    break
                batch = cast(Batch, item)
                with lock:
                    pending[batch.index] = batch
                if stop.is_set():
                    results.put((batch, _NOT_SENT))  # cut, accounted, never queued for sending
                else:
                    ready.put(batch)
        except BaseException as exc:  # raised in the calling thread once the batches cut are done
            failure.append(exc)
        finally:
            for _ in range(max_workers):
                ready.put(_DONE)

    def work() -> None:
        with stop.bound():
            while True:
                batch = ready.get()
                if batch is _DONE:
                    results.put(_DONE)
                    return
                if stop.is_set():
                    results.put((batch, _NOT_SENT))
                    continue
                with lock:
                    sending.add(batch.index)
                try:
                    result = send(batch)
                except BaseException:  # send must not raise; if it does, the batch is not lost
                    result = _ABANDONED
                with lock:
                    sending.discard(batch.index)
                results.put((batch, result))

    def hand_over(batch: Batch, result: object) -> None:
        with lock:
            if pending.pop(batch.index, None) is None:
                return  # already accounted as abandoned: a late answer is not counted twice
        if result is _NOT_SENT or result is _ABANDONED:
            result = not_sent(batch, stop.reason or "stopped", result is _ABANDONED)
        on_done(batch, result)

    # Senders first: they wait on the queue at once, while the producer, started last, would hold
    # the GIL cleaning identifiers and make every later start() wait for it.
    threads = [
        threading.Thread(target=work, name=f"contact-removal-sender-{number}", daemon=True)
        for number in range(max_workers)
    ]
    threads.append(threading.Thread(target=produce, name="contact-removal-batcher", daemon=True))
    error: BaseException | None = None
    with objects_frozen_for_gc():
        for thread in threads:
            thread.start()
        finished = 0
        deadline = None
        while finished < max_workers:
            try:
                if deadline is None and stop.interrupt:
                    deadline = time.monotonic() + abandon_after
                wait = _POLL_S
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                try:
                    item = results.get(timeout=wait)
                except queue.Empty:
                    continue
                if item is _DONE:
                    finished += 1
                    continue
                hand_over(*item)
            except BaseException as exc:  # e.g. AirflowTaskTimeout, raised here by Airflow's SIGALRM
                error = error or exc
                stop.stop(f"interrupted ({type(exc).__name__})", interrupt=True)
        if finished < max_workers:
            _abandon(pending, sending, lock, reading, closed, hand_over)
        else:
            closed.set()
            for thread in threads:
                thread.join(timeout=_POLL_S)
    if error is not None:
        raise error
    if failure:
        raise failure[0]


def _abandon(pending, sending, lock, reading, closed, hand_over) -> None:
    """Account every batch still pending as not sent (or abandoned in flight) and stop the producer."""
    # Between two batches the producer holds nothing it has not handed over. Inside the input it
    # may hold part of a batch being cut: the caller finds those identifiers missing from the totals.
    if reading.acquire(timeout=_POLL_S * 5):
        closed.set()
        reading.release()
    closed.set()
    with lock:
        leftovers = sorted(pending.values(), key=lambda batch: batch.index)
        in_flight = set(sending)
    for batch in leftovers:
        hand_over(batch, _ABANDONED if batch.index in in_flight else _NOT_SENT)
