"""How a run stops early: one signal per run, seen by the senders and, between attempts, by the transport.

A run stops sending when the vendor says no other batch can succeed (``VendorAPIError.stops_run``),
when the same refusal comes back batch after batch, when a sink cannot be written, or when Airflow
stops the task (``execution_timeout``, ``on_kill``, SIGTERM). From then on no new request starts:
the senders turn the batches they take into "not sent" records, and the transport, which the
senders' threads run, checks :func:`raise_if_stopped` before every attempt, so a retry loop in
progress ends at its next attempt instead of sending it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from airflow_contact_removal.exceptions import ContactRemovalError


class RunStopped(ContactRemovalError):
    """
    A request was not sent, or a task ended early, because its run was stopped.

    :param reason: why the run stopped, without identifiers (e.g. the vendor's refusal, "stopped by
        Airflow").
    :param attempted: whether an attempt of the request went out before (its outcome is unknown).
    """

    def __init__(self, reason: str, attempted: bool = False) -> None:
        self.reason = reason
        self.attempted = attempted
        super().__init__(f"run stopped: {reason}")

    def __reduce__(self):
        return (RunStopped, (self.reason, self.attempted))


class StopSignal:
    """
    Whether a run must stop sending, and why; the first reason given wins.

    :attr:`interrupt` is set when the stop comes from outside the run (Airflow ending the task, an
    exception in the task's main thread): then what is still in flight is abandoned after a grace
    period, and the input is not read further. A stop that comes from the run itself (the vendor, a
    sink) lets what is in flight finish and accounts the rest of the input as not sent.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.interrupt = False

    def stop(self, reason: str, *, interrupt: bool = False) -> bool:
        """Ask the run to stop; returns whether this call was the first (its reason is kept)."""
        with self._lock:
            # An interrupt still upgrades a stop in progress: the wind-down must not wait any more.
            self.interrupt = self.interrupt or interrupt
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
            return True

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def check(self, attempted: bool = False) -> None:
        """Raise :class:`RunStopped` if the run was asked to stop."""
        if self._event.is_set():
            raise RunStopped(self.reason or "stopped", attempted)

    @contextmanager
    def bound(self) -> Iterator[StopSignal]:
        """Make this the signal :func:`raise_if_stopped` checks in the current thread."""
        previous = getattr(_current, "signal", None)
        _current.signal = self
        try:
            yield self
        finally:
            _current.signal = previous


_current = threading.local()


def raise_if_stopped(attempted: bool = False) -> None:
    """
    Raise :class:`RunStopped` if the run the current thread sends for was asked to stop.

    Called by the transport before each attempt of a request, saying whether an earlier attempt
    went out; a no-op outside a run (a hook used on its own, in a ``@task``).
    """
    signal = getattr(_current, "signal", None)
    if signal is not None:
        signal.check(attempted)
