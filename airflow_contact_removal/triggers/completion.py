"""RequestCompletionTrigger: wait in the triggerer until a vendor's removal requests are final.

For any hook that confirms later (``confirmation = "asynchronous"``): the trigger reads through the
hook itself, its synchronous read run off the event loop (``sync_to_async``, as the official providers'
triggers do), so the hook's retries, rate limiter, breaker and in-flight slots apply unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_contact_removal._compat import AirflowNotFoundException
from airflow_contact_removal.completion.folding import PollState
from airflow_contact_removal.completion.wait import StatusRead, read_statuses, rules_of
from airflow_contact_removal.exceptions import ContactRemovalError
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.hooks.base import ContactRemovalHook


class RequestCompletionTrigger(BaseTrigger):
    """
    Poll a vendor's requests until every request id is final or unknown, or the timeout passes.

    Fires one event: :meth:`PollState.to_event
    <airflow_contact_removal.completion.folding.PollState.to_event>`, a JSON dict with each request's
    last ``statuses``, the ``final_ids``, the ``unknown_ids``, the ``pending_ids`` still waiting at
    the end, ``timed_out``, ``error`` (why it stopped early: a refused key, a missing connection) and
    ``outcome`` (``complete``, ``timeout`` or ``error``). It carries statuses, not per-contact results:
    the task reads the final requests again to fold them
    (:func:`~airflow_contact_removal.completion.wait.finish_from_event`).

    Each poll asks only for the requests not final yet, through the hook: at most the vendor's ids per
    read and at most ``max_in_flight`` reads at once, the hook's retries for transient faults (a read that still fails leaves its ids pending until
    the next poll), and a refusal ends the wait. The API key is read from the connection here, in the
    triggerer, and never serialised; neither it nor any identifier is logged.

    :param conn_id: the connection; its type picks the hook.
    :param request_ids: the request ids returned by the removals.
    :param poll_interval: seconds between polls.
    :param timeout_at: when to stop waiting: epoch seconds, an ISO 8601 string or an aware datetime.
    :param max_in_flight: requests in flight at once, at most the vendor's cap. The operator passes its
        task's share of the account (its ``pool_slots``, see :mod:`airflow_contact_removal.budget`).

    How a deferred wait keeps within the account's budget: the account's pool counts deferred tasks
    (``include_deferred``, as :mod:`airflow_contact_removal.pools` creates it), so the deferred task
    keeps its slots and no other task can take them, and this trigger's hook never has more requests
    in flight than those slots. The other choice, releasing the slots while deferred, would let another
    task take the whole budget while this trigger polls, and a vendor's cap covers status reads too.
    The cost: slots stay held while the vendor processes (cheap polls every ``poll_interval``), so a
    long wait delays other removals on the same account.
    """

    def __init__(
        self,
        conn_id: str,
        request_ids: Iterable[str],
        poll_interval: float = 30.0,
        timeout_at: float | str | datetime | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(request_ids, str):
            request_ids = [request_ids]
        self.conn_id = conn_id
        self.request_ids = list(dict.fromkeys(str(request_id) for request_id in request_ids))
        self.poll_interval = float(poll_interval)
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        if timeout_at is None:
            raise ValueError("timeout_at is required: a wait for a vendor must end")
        self.timeout_at = epoch_seconds(timeout_at)
        self.max_in_flight = None if max_in_flight is None else max(1, int(max_in_flight))
        self._sleep = asyncio.sleep

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "request_ids": list(self.request_ids),
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "max_in_flight": self.max_in_flight,
            },
        )

    def hook(self) -> ContactRemovalHook:
        """The connection's hook, within the task's share; blocking (reads the connection and key)."""
        hook = get_removal_hook(self.conn_id)
        rules_of(hook)  # a hook that confirms synchronously has nothing to wait for
        if self.max_in_flight is not None:
            hook.limit_to_share(self.max_in_flight, hook.settings.requests_per_second)
        hook.check_settings()
        return hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = await sync_to_async(self.hook)()
        except (ContactRemovalError, AirflowNotFoundException, TypeError) as exc:
            state = PollState(request_ids=list(self.request_ids))
            state.error = f"connection {self.conn_id!r}: {exc}"[:500]
            yield TriggerEvent(state.to_event())
            return
        rules = rules_of(hook)
        statuses: dict[str, Any] = {}
        unknown: list[str] = []
        while True:
            pending = PollState.from_statuses(self.request_ids, statuses, unknown, rules).pending_ids
            read: StatusRead = await sync_to_async(read_statuses)(hook, pending, in_flight=hook.max_in_flight)
            statuses.update(read.statuses)
            unknown.extend(read.unknown_ids)
            state = PollState.from_statuses(self.request_ids, statuses, unknown, rules)
            if read.error is not None and not read.error.retryable:
                state.error = str(read.error)[:500]
                self.log.warning("%s refused the status read, stopping: %s", rules.label, state.error)
                yield TriggerEvent(state.to_event())
                return
            if state.done:
                self.log.info("%s: done", state.describe())
                yield TriggerEvent(state.to_event())
                return
            remaining = self.timeout_at - time.time()
            if remaining <= 0:
                state.timed_out = True
                self.log.warning("%s: timed out", state.describe())
                yield TriggerEvent(state.to_event())
                return
            if read.error is not None:
                self.log.warning("%s status read failed, will poll again: %s", rules.label, read.error)
            wait = min(self.poll_interval, remaining)
            self.log.info("%s; next poll in %.0f s", state.describe(), wait)
            await self._sleep(wait)


def epoch_seconds(value: float | str | datetime) -> float:
    """Epoch seconds from epoch seconds, an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, bool):
        raise ValueError("timeout_at must be epoch seconds, an ISO 8601 string or a datetime")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"timeout_at {value!r} is not epoch seconds or an ISO 8601 time") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise ValueError("timeout_at must be epoch seconds, an ISO 8601 string or a datetime")
