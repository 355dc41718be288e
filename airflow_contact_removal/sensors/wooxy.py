"""WooxyRequestSensor: the generic completion sensor, on a ``wooxy`` connection by default."""

from __future__ import annotations

from typing import Any

from airflow_contact_removal.hooks.wooxy import WooxyHook
from airflow_contact_removal.sensors.completion import RequestCompletionSensor


class WooxyRequestSensor(RequestCompletionSensor):
    """
    :class:`~airflow_contact_removal.sensors.completion.RequestCompletionSensor` for Wooxy.

    :param conn_id: the ``wooxy`` connection (default ``wooxy_default``). (templated)
    """

    def __init__(self, *, conn_id: str = WooxyHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
