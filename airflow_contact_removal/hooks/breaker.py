"""The run-level circuit breaker: after sustained transient failure, no new attempt is sent."""

from __future__ import annotations

import threading

#: Consecutive transient failures (across every sender of one hook) that open the breaker.
DEFAULT_BREAKER_FAILURES = 20


class CircuitBreaker:
    """
    Counts transient failures of attempts, in the order they end, across every sender of one hook.

    The rule: ``threshold`` transient failures in a row (429, 5xx, timeout, reset), with no answer
    in between that shows the vendor working (any other answer resets the count), open the breaker
    for good; from then on the hook sends no attempt at all. Why count attempts, not requests, and
    in a row: with C senders each retrying up to ``max_attempts`` times, a count of exhausted
    requests would let C x ``max_attempts`` attempts through before it first moves; attempts in a
    row are what a dead vendor produces at once, whatever the concurrency. Why 20 by default: the
    whole retry budget of three requests (6 attempts each) and more than twice Wooxy's 10 in flight,
    so one unlucky round of concurrent retries never opens it; and a healthy vendor with a transient
    fault rate ``p`` per attempt opens it with probability ``p ** 20`` per position (1e-10 for the
    34 % of faults the reliability suite injects). Once open, at most the attempts already in
    flight complete: a run against a vendor that only answers 503 sends at most
    ``threshold + in-flight cap`` requests, whatever its number of batches. The breaker never
    closes again: the run stops, and a retry of the task (a new hook) starts with a closed one and
    resumes from the checkpoint.

    :param threshold: transient failures in a row that open the breaker (at least 1).
    """

    def __init__(self, threshold: int = DEFAULT_BREAKER_FAILURES) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._last_reason: str | None = None
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def reason(self) -> str:
        """Why it opened, in one line (no identifiers: only statuses and failure kinds)."""
        return (
            f"circuit breaker open after {self.threshold} transient failures in a row "
            f"(last: {self._last_reason}); no further request is sent in this run"
        )

    def record_failure(self, reason: str) -> bool:
        """Count one transient failure; return whether the breaker is (now) open."""
        with self._lock:
            self._in_a_row += 1
            self._last_reason = reason
            if self._in_a_row >= self.threshold:
                self._open = True
            return self._open

    def reset(self) -> None:
        """
        Close the breaker and restart the count: for a wait, whose polls are each a short run of
        reads ``poll_interval`` apart (see :class:`~airflow_contact_removal.completion.wait.RequestWait`),
        so an outage the wait outlives does not end the wait. A removal run never resets it.
        """
        with self._lock:
            self._in_a_row = 0
            self._last_reason = None
            self._open = False

    def record_success(self) -> None:
        """An answer that is not a transient failure: the vendor is working, the count restarts."""
        if self._in_a_row:
            with self._lock:
                self._in_a_row = 0
