"""WooxyRequestTrigger: the generic completion trigger, under the name earlier versions serialised."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from airflow_contact_removal.hooks.wooxy import WooxyHook
from airflow_contact_removal.triggers.completion import RequestCompletionTrigger, epoch_seconds

#: The most ``request/find`` calls in flight: Wooxy's cap of 10 concurrent requests covers this call too.
WOOXY_MAX_IN_FLIGHT = WooxyHook.max_in_flight


class WooxyRequestTrigger(RequestCompletionTrigger):
    """
    :class:`~airflow_contact_removal.triggers.completion.RequestCompletionTrigger` for Wooxy.

    Kept so a trigger that an earlier version serialised under
    ``airflow_contact_removal.triggers.wooxy.WooxyRequestTrigger`` still runs after an upgrade; it
    serialises under this name too. New code defers to ``RequestCompletionTrigger``.

    :param max_in_flight: ``request/find`` calls in flight at once (default and cap: Wooxy's 10).
    """

    def __init__(
        self,
        conn_id: str,
        request_ids: Iterable[str],
        poll_interval: float = 30.0,
        timeout_at: float | str | datetime | None = None,
        max_in_flight: int | None = WOOXY_MAX_IN_FLIGHT,
    ) -> None:
        super().__init__(conn_id, request_ids, poll_interval, timeout_at, max_in_flight)


__all__ = ["WOOXY_MAX_IN_FLIGHT", "WooxyRequestTrigger", "epoch_seconds"]
