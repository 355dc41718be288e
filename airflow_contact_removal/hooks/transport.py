"""One attempt on the wire, bounded end to end, with its in-flight slot held as long as it really runs.

``requests``' read timeout is a limit *between* bytes: an answer trickled one byte a second never
times out. So the sender does not read the socket itself: a small pool of I/O threads sends each
attempt and reads its answer, and the sender waits for it with a deadline of ``read_timeout`` from
the moment the request starts on an open connection (connecting is bounded by ``connect_timeout``
before that). At the deadline the sender gives up on the attempt and goes on (retry, or fail the
batch).

The abandoned attempt is not cut off: its I/O thread keeps the connection and goes on reading the
answer, and the attempt's in-flight slot is given back only when that answer has come (or the
connection has failed). A vendor that answers later than our read timeout is still working on the
request until it answers, so the slot tells the truth about what is in flight at the vendor, and
a retry never puts us over its cap (Wooxy's 10), however slow it is. What the I/O thread waits is
bounded too: the connection of an abandoned attempt is closed :func:`drain_timeout` after it was
abandoned, answered or not (a vendor that has not finished by then is taken to have dropped the
request: that is the one case where the cap rests on an assumption, at twice the read timeout and
at least 10 s past it), and at once when the hook abandons everything (:meth:`IOWorkers.abort`), so
nothing outlives the run for long.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: How often a sender looks again while its attempt is still connecting (the deadline moves then).
_CONNECT_POLL = 0.05
#: How long an idle I/O thread (or the watchdog) waits for work before it ends: a hook that is no
#: longer used leaves no thread behind in a long-lived process (a worker, the triggerer).
IDLE_EXIT = 30.0

_current = threading.local()


def drain_timeout(read_timeout: float) -> float:
    """
    How long an I/O thread waits between two bytes: twice the read timeout, and at least 10 s more.

    Only abandoned attempts ever wait that long (the sender gives up at ``read_timeout``); it is how
    long a request the vendor has not finished keeps its in-flight slot after we stopped waiting.
    """
    return max(2 * read_timeout, read_timeout + 10.0)


class Attempt:
    """
    One request on the wire: what the I/O thread found, and when the request started to be sent.

    :param send: the call that sends the request and returns the full answer.
    :param release: gives the in-flight slot back; called once, when the I/O is over.
    """

    __slots__ = (
        "_release",
        "_send",
        "abandoned",
        "connected_at",
        "connection",
        "done",
        "error",
        "response",
        "started",
    )

    def __init__(self, send: Callable[[], Any], release: Callable[[], None]) -> None:
        self._send = send
        self._release = release
        self.started = time.monotonic()
        self.connected_at: float | None = None
        self.connection: HTTPConnection | None = None
        self.done = threading.Event()
        self.response: Any = None
        self.error: BaseException | None = None
        self.abandoned = False

    def run(self) -> None:
        _current.attempt = self
        try:
            self.response = self._send()
        except BaseException as exc:  # handed to the sender, which maps it
            self.error = exc
        finally:
            _current.attempt = None
            self.connection = None
            self._release()
            self.done.set()

    def wait(self, connect_timeout: float, read_timeout: float, limit: float | None = None) -> bool:
        """
        Wait for the answer; ``False`` if it is not complete by the deadline (the attempt is then
        abandoned: its I/O goes on in the background and its slot stays taken until it ends).

        The deadline is ``read_timeout`` after the request started on an open connection, or
        ``connect_timeout + read_timeout`` after the start while it is still connecting; never past
        ``limit`` (a monotonic time), when given.
        """
        while True:
            connected = self.connected_at
            if connected is not None:
                deadline = connected + read_timeout
            else:
                deadline = self.started + connect_timeout + read_timeout
            if limit is not None:
                deadline = min(deadline, limit)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.abandoned = True
                return self.done.is_set()
            step = remaining if connected is not None else min(remaining, _CONNECT_POLL)
            if self.done.wait(step):
                return True


def _connected(connection: HTTPConnection) -> None:
    attempt = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.connection = connection
        if attempt.connected_at is None:
            attempt.connected_at = time.monotonic()


class _TrackedHTTPConnection(HTTPConnection):
    """Tells the attempt of this thread when its request starts on an open connection."""

    def connect(self) -> None:
        super().connect()
        _connected(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection; a new one reports from connect()
            _connected(self)
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _connected(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _connected(self)
        super().request(*args, **kwargs)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class TrackedAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections report when a request starts on them (see :class:`Attempt`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class IOWorkers:
    """
    Daemon threads that run attempts; a new one starts only when none is idle.

    A thread is busy exactly while an attempt holds its in-flight slot, so there are never many
    more threads than slots. They are daemons: an abandoned attempt never keeps the process alive;
    and a thread idle for :data:`IDLE_EXIT` seconds ends.

    :param name: prefix of the threads' names.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Attempt] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._running: set[Attempt] = set()
        self._expiries: list[tuple[float, int, Attempt]] = []
        self._expiry_count = 0
        self._watchdog: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)

    def submit(self, attempt: Attempt) -> None:
        with self._lock:
            self._running.add(attempt)
            start = self._idle == 0
            if start:
                self._threads += 1
                number = self._threads
            else:
                self._idle -= 1
            # Queued under the lock: an idle thread that times out sees the job and stays.
            self._jobs.put(attempt)
        if start:
            threading.Thread(target=self._loop, name=f"{self._name}-io-{number}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                attempt = self._jobs.get(timeout=IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._idle -= 1
                        return
                continue
            try:
                attempt.run()
            finally:
                with self._lock:
                    self._running.discard(attempt)
                    self._idle += 1

    def expire(self, attempt: Attempt, after: float) -> None:
        """
        Close ``attempt``'s connection ``after`` seconds from now if it is still running.

        For abandoned attempts only (rare), so a vendor that trickles its answer forever cannot
        hold a slot forever; one watchdog thread serves them all.
        """
        with self._lock:
            self._expiry_count += 1
            heapq.heappush(self._expiries, (time.monotonic() + after, self._expiry_count, attempt))
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name=f"{self._name}-watchdog", daemon=True
                )
                self._watchdog.start()
            self._wake.notify()

    def _watch(self) -> None:
        with self._lock:
            while True:
                if not self._expiries:
                    if not self._wake.wait(IDLE_EXIT) and not self._expiries:
                        self._watchdog = None
                        return
                    continue
                at, _, attempt = self._expiries[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._expiries)
                if attempt in self._running:
                    _close(attempt)

    def abort(self) -> int:
        """
        Close the connection of every attempt still running (abandoned or not); return how many.

        Their I/O threads then end at once with a connection error, and give their slots back.
        """
        with self._lock:
            running = list(self._running)
        return sum(_close(attempt) for attempt in running)


def _close(attempt: Attempt) -> bool:
    """Shut ``attempt``'s socket down: the thread blocked reading it gets a connection error at once."""
    sock = getattr(attempt.connection, "sock", None)
    if sock is None:
        return False
    try:
        sock.shutdown(2)  # socket.SHUT_RDWR
    except OSError:
        return False
    return True
