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
from airflow_contact_removal.completion.wait import RequestWait, rules_of
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

    The polling is :class:`~airflow_contact_removal.completion.wait.RequestWait`'s (the worker wait's
    loop): each poll asks only for the requests not final yet, through the hook, at most the vendor's
    ids per read and at most ``max_in_flight`` reads at once. The hook's retries cover transient
    faults, its 429 hold every read of this trigger (later polls included); a read that still fails
    leaves its ids pending until the next poll, and a refusal ends the wait. The API key is read from the connection here, in the
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
        """
        The connection's hook, within the task's share; blocking (reads the connection and key).

        Everything a read would refuse is checked here, before any request: the connection's type,
        the key (read and masked now), the base URL (https unless loopback) and the vendor settings.
        """
        hook = get_removal_hook(self.conn_id)
        rules_of(hook)  # a hook that confirms synchronously has nothing to wait for
        settings = hook.check_connection()
        if self.max_in_flight is not None:
            hook.limit_to_share(self.max_in_flight, settings.requests_per_second)
        return hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = await sync_to_async(self.hook)()
        except (ContactRemovalError, AirflowNotFoundException, TypeError) as exc:
            state = PollState(request_ids=list(self.request_ids))
            state.error = f"connection {self.conn_id!r}: {exc}"[:500]
            yield TriggerEvent(state.to_event())
            return
        wait = RequestWait(
            hook,
            self.request_ids,
            deadline=self.timeout_at,
            poll_interval=self.poll_interval,
            in_flight=hook.max_in_flight,
            clock=time.time,
            logger=self.log,
        )
        # Not thread_sensitive: a read may block for the hook's retries (up to max_retry_time), and
        # the one shared thread would hold every other trigger's synchronous calls meanwhile
        # (Airflow's own connection fetches among them). The hook is safe to use from any thread.
        poll = sync_to_async(wait.poll, thread_sensitive=False)
        while not await poll():
            await self._sleep(wait.next_wait())
        yield TriggerEvent(wait.state.to_event())


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
