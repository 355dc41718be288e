"""Waiting for a vendor's requests: read statuses in chunks, poll until final, finish a deferral.

The synchronous side of :mod:`airflow_contact_removal.completion.folding`: these functions read
request ids through the hook (:meth:`~airflow_contact_removal.hooks.base.ContactRemovalHook.read_requests`:
at most ``max_ids_per_read`` ids each, the hook's retries, rate limit and in-flight slots) and hand the
answers to the pure folding functions. The polling loop is :class:`RequestWait`, once: the worker wait
(:func:`wait_for_requests`) and the trigger both drive it; the sensor reads once per poke
(:func:`read_statuses`) and leaves the loop to Airflow. Nothing here ever sends a removal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_contact_removal.batching import Logger
from airflow_contact_removal.completion.folding import (
    Completion,
    PollState,
    chunked,
    complete,
    request_ids_from,
)
from airflow_contact_removal.completion.outcome import CompletionRules
from airflow_contact_removal.exceptions import VendorAPIError

if TYPE_CHECKING:
    from airflow_contact_removal.hooks.base import ContactRemovalHook

log = logging.getLogger(__name__)


@dataclass
class StatusRead:
    """
    One read of many request ids.

    :param statuses: the requests the vendor knows, by id (final or not).
    :param unknown_ids: the ids it does not know (never sent, or past its retention).
    :param unread_ids: the ids whose call failed (see ``error``).
    :param error: the failure, if any call failed: a refusal if any call was refused, else the last one.
    """

    statuses: dict[str, Any] = field(default_factory=dict)
    unknown_ids: list[str] = field(default_factory=list)
    unread_ids: list[str] = field(default_factory=list)
    error: VendorAPIError | None = None


def read_statuses(hook: ContactRemovalHook, request_ids: Sequence[str], *, in_flight: int = 1) -> StatusRead:
    """
    Read request ids through the hook, at most ``max_ids_per_read`` per call.

    A failed call (after the hook's own retries) does not stop the others: its ids are returned in
    ``unread_ids`` and the error in ``error``; the caller decides whether to keep waiting.

    :param hook: a hook that confirms later.
    :param request_ids: the ids to read.
    :param in_flight: calls at once (the trigger passes its task's share; the hook's own in-flight
        slots bound it too). The answers are taken in the ids' order either way.
    """
    chunks = list(chunked(list(request_ids), rules_of(hook).max_ids_per_read))

    def one(chunk: list[str]) -> Any:
        try:
            return hook.read_requests(chunk)
        except VendorAPIError as exc:
            return exc

    if in_flight > 1 and len(chunks) > 1:
        _ = hook.client  # built, with its shared parts, before the readers share it
        with ThreadPoolExecutor(max_workers=min(in_flight, len(chunks))) as pool:
            answers = list(pool.map(one, chunks))
    else:
        answers = [one(chunk) for chunk in chunks]
    read = StatusRead()
    for chunk, result in zip(chunks, answers, strict=True):
        if isinstance(result, VendorAPIError):
            read.unread_ids.extend(chunk)
            # A refusal is kept over a transient failure of another chunk: it must end the wait.
            if read.error is None or read.error.retryable:
                read.error = result
            continue
        asked = set(chunk)
        read.statuses.update({i: status for i, status in result.requests.items() if i in asked})
        read.unknown_ids.extend(result.unknown_ids)
    return read


class RequestWait:
    """
    One wait for a vendor's requests, poll by poll: the loop the worker wait and the trigger share.

    Each :meth:`poll` reads the requests not final yet (a final request is never read again, an
    unknown one never asked for again) and says whether the wait is over:

    * every request is final or unknown;
    * the vendor refused the read (401, ``result: false``, an undocumented answer): :attr:`state`
      carries the error, its pending requests stay pending;
    * the deadline has passed (a poll started past it still reads once): ``timed_out``.

    A read that fails after the hook's retries (5xx, timeouts, a ``Retry-After`` longer than the
    connection's ``max_retry_after``) only leaves its requests pending until the next poll. Between
    polls the caller waits :meth:`next_wait` seconds its own way: ``time.sleep`` in a worker,
    ``asyncio.sleep`` in the triggerer.

    :param hook: a hook that confirms later.
    :param request_ids: the request ids to wait for.
    :param deadline: when to stop, on ``clock``.
    :param poll_interval: seconds between polls.
    :param in_flight: status reads at once (see :func:`read_statuses`).
    :param clock: the clock ``deadline`` is on (``time.monotonic`` in a worker, ``time.time`` in the
        triggerer, whose deadline is an epoch time that survives a triggerer restart).
    :param logger: where the progress goes (counts and statuses only, never an id or identifier).
    """

    def __init__(
        self,
        hook: ContactRemovalHook,
        request_ids: Sequence[str],
        *,
        deadline: float,
        poll_interval: float,
        in_flight: int = 1,
        clock: Callable[[], float] = time.monotonic,
        logger: Logger = log,
    ) -> None:
        self.hook = hook
        self.rules = rules_of(hook)
        self.request_ids = list(dict.fromkeys(request_ids))
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.in_flight = in_flight
        self.clock = clock
        self.logger = logger
        #: the last status read of every request id read so far (with per-contact results).
        self.statuses: dict[str, Any] = {}
        self.unknown_ids: dict[str, None] = {}
        self.state = PollState.from_statuses(self.request_ids, {}, (), self.rules)
        self._remaining = deadline - clock()

    def poll(self) -> bool:
        """Read the pending requests once; return whether the wait is over (then see :attr:`state`)."""
        rules = self.rules
        # Each poll starts with a closed breaker: it bounds the reads of one poll (a dead vendor
        # costs one poll's retries, not more), while an outage shorter than the wait is ridden out
        # instead of idling, slots held, until the timeout.
        self.hook.breaker.reset()
        read = read_statuses(self.hook, self.state.pending_ids, in_flight=self.in_flight)
        self.statuses.update(read.statuses)
        self.unknown_ids.update(dict.fromkeys(read.unknown_ids))
        self.state = PollState.from_statuses(self.request_ids, self.statuses, self.unknown_ids, rules)
        if read.error is not None:
            if not read.error.retryable:
                self.state.error = str(read.error)[:500]
                self.logger.warning("%s refused the status read, stopping: %s", rules.label, self.state.error)
                return True
            self.logger.warning("%s status read failed, will poll again: %s", rules.label, read.error)
        if self.state.done:
            self.logger.info("%s: done", self.state.describe())
            return True
        self._remaining = self.deadline - self.clock()
        if self._remaining <= 0:
            self.state.timed_out = True
            self.logger.warning("%s: timed out", self.state.describe())
            return True
        return False

    def next_wait(self) -> float:
        """Seconds until the next poll: the interval, or what is left before the deadline."""
        wait = min(self.poll_interval, self._remaining)
        self.logger.info("%s; next poll in %.0f s", self.state.describe(), wait)
        return wait

    @property
    def final_statuses(self) -> dict[str, Any]:
        """The full statuses of the final requests, to fold."""
        return {request_id: self.statuses[request_id] for request_id in self.state.final_ids}


def wait_for_requests(
    hook: ContactRemovalHook,
    batch_results: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    *,
    poll_interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    logger: Logger = log,
) -> Completion:
    """
    Poll until every accepted batch's request is final, unknown or the timeout passes, then fold.

    For ``deferrable=False``: this holds the worker slot while it waits (:class:`RequestWait`, one
    read at a time). A refusal ends the wait, its pending requests folded as failed.

    :param hook: a hook that confirms later.
    :param batch_results: the operator's batch records (accepted batches carry their ``identifiers``).
    :param summary: the operator's summary, or ``None``.
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait in all, from now.
    :param sleep: how to wait (injectable for tests).
    :param clock: a monotonic clock (injectable for tests).
    """
    wait = RequestWait(
        hook,
        request_ids_from(batch_results),
        deadline=clock() + timeout,
        poll_interval=poll_interval,
        clock=clock,
        logger=logger,
    )
    while not wait.poll():
        sleep(wait.next_wait())
    return complete(batch_results, summary, wait.state, wait.final_statuses)


def finish_from_event(
    hook: ContactRemovalHook,
    batch_results: Sequence[Mapping[str, Any]] | None,
    summary: Mapping[str, Any] | None,
    event: Mapping[str, Any],
) -> Completion:
    """
    Fold the event of :class:`~airflow_contact_removal.triggers.completion.RequestCompletionTrigger`.

    The event carries each request's status, not its per-contact results: the final requests are read
    again here (final statuses do not change). A request that cannot be read now is folded as failed
    ("could not read <vendor>'s status"), never as removed, and this never raises for a vendor error, so
    a resumed task never has to start over (and re-send its removals).

    :param hook: a hook that confirms later.
    :param batch_results: the operator's batch records, or ``None`` (rebuilt from the vendor's report).
    :param summary: the operator's summary, or ``None``.
    :param event: the trigger event's payload.
    """
    rules = rules_of(hook)
    state = PollState.from_event(event, rules)
    read = read_statuses(hook, state.final_ids)
    if read.error is not None:
        for request_id in read.unread_ids:
            state.statuses[request_id] = None
        state.error = state.error or str(read.error)
    # Gone in between: the state says final, the vendor no longer knows it.
    state.unknown_ids.extend(read.unknown_ids)
    finals = {i: status for i, status in read.statuses.items() if _final(status, rules)}
    return complete(batch_results, summary, state, finals)


def rules_of(hook: ContactRemovalHook) -> CompletionRules:
    """The hook's completion rules; a hook that confirms synchronously has nothing to wait for."""
    rules = hook.completion_rules
    if rules is None:
        raise TypeError(f"{type(hook).__name__} does not confirm later: there is nothing to wait for")
    return rules


def _final(status: Any | None, rules: CompletionRules) -> bool:
    return status is not None and rules.is_final(status.status)
