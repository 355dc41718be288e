"""Waiting for a vendor's requests from a worker: read statuses in chunks, poll until final, finish a deferral.

The synchronous side of :mod:`airflow_contact_removal.completion.folding`: these functions read
request ids through the hook (:meth:`~airflow_contact_removal.hooks.base.ContactRemovalHook.read_requests`:
one call in flight, at most ``max_ids_per_read`` ids each, the hook's retries) and hand the answers to
the pure folding functions. The trigger runs :func:`read_statuses` in a thread, the sensor once per
poke. Nothing here ever sends a removal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    :param error: the last failure, if any call failed.
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
        with ThreadPoolExecutor(max_workers=min(in_flight, len(chunks))) as pool:
            answers = list(pool.map(one, chunks))
    else:
        answers = [one(chunk) for chunk in chunks]
    read = StatusRead()
    for chunk, result in zip(chunks, answers, strict=True):
        if isinstance(result, VendorAPIError):
            read.unread_ids.extend(chunk)
            read.error = result
            continue
        asked = set(chunk)
        read.statuses.update({i: status for i, status in result.requests.items() if i in asked})
        read.unknown_ids.extend(result.unknown_ids)
    return read


def wait_for_requests(
    hook: ContactRemovalHook,
    batch_results: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    *,
    poll_interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    logger: logging.Logger = log,
) -> Completion:
    """
    Poll until every accepted batch's request is final, unknown or the timeout passes, then fold.

    For ``deferrable=False``: this holds the worker slot while it waits. A request already final is not
    read again. A read that fails after the hook's retries (5xx, timeouts) only delays the next poll;
    a refusal (401, ``result: false``) ends the wait, its pending requests folded as failed.

    :param hook: a hook that confirms later.
    :param batch_results: the operator's batch records (accepted batches carry their ``identifiers``).
    :param summary: the operator's summary, or ``None``.
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait in all, from now.
    :param sleep: how to wait (injectable for tests).
    :param clock: a monotonic clock (injectable for tests).
    """
    rules = rules_of(hook)
    ids = request_ids_from(batch_results)
    deadline = clock() + timeout
    statuses: dict[str, Any] = {}
    unknown: dict[str, None] = {}
    error = None
    while True:
        pending = [i for i in ids if i not in unknown and not _final(statuses.get(i), rules)]
        read = read_statuses(hook, pending)
        statuses.update(read.statuses)
        unknown.update(dict.fromkeys(read.unknown_ids))
        state = PollState.from_statuses(ids, statuses, unknown, rules)
        if read.error is not None:
            if not read.error.retryable:
                error = str(read.error)
                break
            logger.warning("%s status read failed, will poll again: %s", rules.label, read.error)
        if state.done:
            break
        remaining = deadline - clock()
        if remaining <= 0:
            state.timed_out = True
            break
        logger.info("%s; next poll in %.0f s", state.describe(), min(poll_interval, remaining))
        sleep(min(poll_interval, remaining))
    state.error = error
    return complete(batch_results, summary, state, {i: statuses[i] for i in state.final_ids})


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
