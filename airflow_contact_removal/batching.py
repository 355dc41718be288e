"""Cut clean identifiers into batches within a vendor's limits, and send them concurrently."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

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

    Counts only: identifiers are never logged.
    """

    def __init__(
        self,
        total_batches: int | None,
        total_contacts: int | None,
        *,
        logger: logging.Logger = log,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_batches = total_batches
        self.total_contacts = total_contacts
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self.batches = 0
        self.contacts = 0
        self.failed_batches = 0

    def record(self, size: int, failed: bool) -> None:
        self.batches += 1
        self.contacts += size
        self.failed_batches += int(failed)
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.log_line()

    def log_line(self, final: bool = False) -> None:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.contacts / elapsed
        batches = (
            f"{self.batches}/{self.total_batches}" if self.total_batches is not None else str(self.batches)
        )
        contacts = (
            f"{self.contacts}/{self.total_contacts}"
            if self.total_contacts is not None
            else str(self.contacts)
        )
        eta = ""
        if not final and self.total_contacts and rate > 0:
            eta = f", ETA {max(self.total_contacts - self.contacts, 0) / rate:.0f} s"
        self.logger.info(
            "%s: batches %s, contacts %s, %d failed batch(es), %.0f contacts/s%s, %.1f s elapsed",
            "Done" if final else "Progress",
            batches,
            contacts,
            self.failed_batches,
            rate,
            eta,
            elapsed,
        )


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

    Batches are pulled from ``batches`` only as workers free up (plus a small read-ahead), so a lazy
    input is never materialised. ``send`` must not raise: it turns failures into results.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    iterator = iter(batches)
    read_ahead = max_workers * 2
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="contact-removal") as pool:
        pending: dict[Future, Batch] = {}
        queue: deque[Batch] = deque()
        exhausted = False
        while True:
            while not exhausted and len(pending) + len(queue) < read_ahead:
                batch = next(iterator, None)
                if batch is None:
                    exhausted = True
                    break
                queue.append(batch)
            while queue and len(pending) < max_workers:
                batch = queue.popleft()
                pending[pool.submit(send, batch)] = batch
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                batch = pending.pop(future)
                on_done(batch, future.result())
