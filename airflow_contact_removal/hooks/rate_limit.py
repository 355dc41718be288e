"""A thread-safe request-rate limiter shared by every sender that uses one hook."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds added to every one-second window the rate is spread over. A vendor counts requests in
#: windows of its own clock, by arrival: requests sent exactly 1/rate apart can arrive closer together
#: (one delayed by the network or a busy process, the next not) and put rate + 1 in one window, which
#: the vendor answers 429. Spacing them (1 s + margin) / rate apart tolerates up to this much jitter
#: between two requests, for 10% of the rate at most.
RATE_WINDOW_MARGIN = 0.1
#: Seconds in the rate window of the vendors that report theirs (AutoSend counts per second).
VENDOR_WINDOW = 1.0
#: Vendor windows remembered by :meth:`RateLimiter.counted` (only the latest few can still count).
_WINDOWS_KEPT = 8


class RateLimiter:
    """
    Space requests to at most ``requests_per_second`` and hold everyone during a vendor's back-off.

    Each caller reserves the next free start time under a lock and sleeps outside it, so no lock is
    held while waiting or while a request is in flight. :meth:`pause` (called on a 429) moves the
    earliest start time of *every* later request, which is what a vendor asks for when it says
    "retry after N seconds": the whole client slows down, not only the thread that was refused.
    :meth:`counted` does the same until the end of the vendor's current window when its answers
    say the window is used up (by this client's share, or by every client of the key).

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
        # Requests per vendor window this limiter may send: its rate over the window of the vendors
        # that report theirs (a rate below one a window still sends one per window).
        self._per_window = (
            max(1, int(requests_per_second * VENDOR_WINDOW + 1e-9)) if requests_per_second else 0
        )
        self._windows: dict[str, int] = {}

    @property
    def interval(self) -> float:
        """Seconds between two starts (0 without a rate)."""
        return self._interval

    def acquire(self, limit: float | None = None) -> float | None:
        """
        Wait until this caller may send; return how long it waited, in seconds.

        A turn reserved before a :meth:`pause` that ends after it is void: the caller takes a new
        turn after the pause, spaced like any other, so the callers held by a pause do not all go
        at its end (which would put them in one of the vendor's windows).

        :param limit: the longest wait acceptable; when the turn would come later (a long pause
            after a 429), nothing is reserved and ``None`` is returned at once, without waiting.
        """
        first = self._clock()
        deadline = None if limit is None else first + limit
        while True:
            with self._lock:
                now = self._clock()
                start = max(now, self._next_start, self._paused_until)
                if deadline is not None and start > deadline:
                    return None
                self._next_start = start + self._interval
            if start > now:
                self._sleep(start - now)
            with self._lock:
                if self._paused_until <= start:
                    return start - first

    def pause(self, seconds: float) -> None:
        """Hold every request that has not yet started for ``seconds`` from now."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def counted(self, window: RateWindow) -> None:
        """
        A request was counted in the vendor's ``window`` (its answer said so): hold every request
        that has not started until the window ends, when the key has no request left in it, or when
        this limiter's own requests have used its share of it.

        The spacing alone cannot keep a vendor's count: a request delayed on its way by more than the
        margin lands in the window of the next one. The vendor's answer says which window counted
        it, so the next request waits for the window to end.
        """
        with self._lock:
            used = self._windows.get(window.ends, 0) + 1
            self._windows[window.ends] = used
            while len(self._windows) > _WINDOWS_KEPT:
                del self._windows[next(iter(self._windows))]
        if window.remaining == 0 or (self._per_window and used >= self._per_window):
            self.pause(window.seconds_left)


@dataclass(frozen=True)
class RateWindow:
    """
    The vendor's rate window that counted a request, as its answer said (AutoSend's
    ``X-RateLimit-Reset`` and ``X-RateLimit-Remaining``).

    :param ends: the window's name, the same in every answer it counted: its end as the vendor
        wrote it, or the second a vendor's delay ends in.
    :param seconds_left: until it ends, by our clock (never negative).
    :param remaining: requests the key has left in it, for every client of the key (``None``: not said).
    """

    ends: str
    seconds_left: float
    remaining: int | None = None


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
