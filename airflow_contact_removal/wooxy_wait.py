"""Compatibility names: the worker wait now lives in :mod:`airflow_contact_removal.completion.wait`."""

from airflow_contact_removal.completion.wait import (
    StatusRead,
    finish_from_event,
    read_statuses,
    wait_for_requests,
)

__all__ = ["StatusRead", "finish_from_event", "read_statuses", "wait_for_requests"]
