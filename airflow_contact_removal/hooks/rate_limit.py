"""A thread-safe request-rate limiter shared by every sender that uses one hook."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds added to every one-second window the rate is spread over. A vendor counts requests in
#: windows of its own clock, by arrival: requests sent exactly 1/rate apart can arrive closer together
#: (one delayed by the network or a busy process, the next not) and put rate + 1 in one window, which
#: the vendor answers 429. Spacing them (1 s + margin) / rate apart tolerates up to this much jitter
#: between two requests, for 10% of the rate at most.
RATE_WINDOW_MARGIN = 0.1


class RateLimiter:
    """
    Space requests to at most ``requests_per_second`` and hold everyone during a vendor's back-off.

    Each caller reserves the next free start time under a lock and sleeps outside it, so no lock is
    held while waiting or while a request is in flight. :meth:`pause` (called on a 429) moves the
    earliest start time of *every* later request, which is what a vendor asks for when it says
    "retry after N seconds": the whole client slows down, not only the thread that was refused.

    :param requests_per_second: the most requests started per second; ``None`` or ``0`` for no limit
        (a pause still applies).
    :param window_margin: seconds of jitter to tolerate per one-second window (see
        :data:`RATE_WINDOW_MARGIN`): starts are ``(1 + window_margin) / requests_per_second`` apart.
    :param clock: monotonic clock, injectable for tests.
    :param sleep: sleep function, injectable for tests.
    """

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_margin: float = RATE_WINDOW_MARGIN,
    ) -> None:
        if requests_per_second is not None and requests_per_second < 0:
            raise ValueError("requests_per_second must be positive")
        self.requests_per_second = requests_per_second or None
        self._interval = (1.0 + window_margin) / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0

    def acquire(self, limit: float | None = None) -> float | None:
        """
        Wait until this caller may send; return how long it waited, in seconds.

        :param limit: the longest wait acceptable; when the turn would come later (a long pause
            after a 429), nothing is reserved and ``None`` is returned at once, without waiting.
        """
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start, self._paused_until)
            if limit is not None and start - now > limit:
                return None
            self._next_start = start + self._interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay

    def pause(self, seconds: float) -> None:
        """Hold every request that has not yet started for ``seconds`` from now."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class InFlightSlots:
    """
    A cap on requests in flight that also counts requests we stopped waiting for.

    A request that timed out on our side may still be running at the vendor. The hook gives its slot
    back only when the request's connection is done with it (see
    :mod:`~airflow_contact_removal.hooks.transport`), so retries never exceed a vendor's concurrency
    cap such as Wooxy's 10, however slowly it answers.

    :param size: the most requests in flight.
    """

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(max(size, 1))

    def take(self, timeout: float | None = None) -> _Slot | None:
        """A slot, once one is free; ``None`` if none is free within ``timeout`` seconds (if given)."""
        if timeout is None:
            self._slots.acquire()
        elif not self._slots.acquire(timeout=max(timeout, 0.0)):
            return None
        return _Slot(self._slots)


class _Slot:
    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        self._released = False

    def release(self, after: float = 0.0) -> None:
        if self._released:
            return
        self._released = True
        if after > 0:
            timer = threading.Timer(after, self._slots.release)
            timer.daemon = True
            timer.start()
        else:
            self._slots.release()
