"""Triggers: waits that run in Airflow's triggerer, holding no worker slot."""

from __future__ import annotations

from airflow_contact_removal.triggers.completion import RequestCompletionTrigger
from airflow_contact_removal.triggers.wooxy import WooxyRequestTrigger

__all__ = ["RequestCompletionTrigger", "WooxyRequestTrigger"]
