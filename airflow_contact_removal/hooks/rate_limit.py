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

    def acquire(self) -> float:
        """Wait until this caller may send; return how long it waited, in seconds."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start, self._paused_until)
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

    A request that timed out on our side may still be running at the vendor. Its slot is given back
    only after a hold (in the background, without blocking the caller), so retries never exceed a
    vendor's concurrency cap such as Wooxy's 10.

    :param size: the most requests in flight.
    """

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(max(size, 1))

    def take(self) -> _Slot:
        self._slots.acquire()
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
