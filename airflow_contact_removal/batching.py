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

from airflow_contact_removal.results import IDENTIFIER_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """One request's worth of identifiers, by kind, numbered from 0 in sending order."""

    index: int
    identifiers: dict[str, list[str]]

    @property
    def size(self) -> int:
        return sum(len(values) for values in self.identifiers.values())

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
        for value in streams[kind]:
            if bucket is None:
                bucket = current.setdefault(kind, [])
            bucket.append(value)
            filled += 1
            if filled == batch_size:
                yield Batch(index, current)
                index += 1
                current, filled, bucket = {}, 0, None
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
        logger: logging.Logger = log,
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
    on_done: Callable[[Batch, object], None],
) -> None:
    """
    Call ``send(batch)`` for every batch with up to ``max_workers`` in flight, and ``on_done`` with
    each result in the calling thread, in completion order.

    A producer thread prepares batches ahead of the senders (cleaning and cutting happen there) into
    a queue of ``2 * max_workers``; each sender takes the next batch the moment its previous request
    ends, without a round trip through the calling thread, so ``max_workers`` requests stay in
    flight. A lazy input is never read further ahead than the queue. ``send`` must not raise: it
    turns failures into results. An error while preparing batches (e.g. an unreadable file) is raised
    here after the batches already sent have been handed to ``on_done``.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    ready: queue.Queue = queue.Queue(maxsize=max_workers * 2)
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    break
                ready.put(batch)
        except BaseException as exc:  # handed to the calling thread
            failure.append(exc)
        finally:
            for _ in range(max_workers):
                ready.put(_DONE)

    def work() -> None:
        while True:
            batch = ready.get()
            if batch is _DONE:
                results.put(_DONE)
                return
            if stop.is_set():
                continue  # drain without sending: the run is being abandoned
            results.put((batch, send(batch)))

    # Senders first: they wait on the queue at once, while the producer, started last, would hold
    # the GIL cleaning identifiers and make every later start() wait for it.
    threads = [
        threading.Thread(target=work, name=f"contact-removal-sender-{number}", daemon=True)
        for number in range(max_workers)
    ]
    threads.append(threading.Thread(target=produce, name="contact-removal-batcher", daemon=True))
    with objects_frozen_for_gc():
        for thread in threads:
            thread.start()
        finished = 0
        try:
            while finished < max_workers:
                item = results.get()
                if item is _DONE:
                    finished += 1
                    continue
                on_done(*item)
        except BaseException:
            stop.set()
            raise
        finally:
            stop.set() if failure else None
            for thread in threads:
                thread.join(timeout=60)
    if failure:
        raise failure[0]
