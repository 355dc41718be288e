"""Sensors: wait in a task of their own for an outcome another task started."""

from __future__ import annotations

from airflow_contact_removal.sensors.completion import RequestCompletionSensor
from airflow_contact_removal.sensors.wooxy import WooxyRequestSensor

__all__ = ["RequestCompletionSensor", "WooxyRequestSensor"]
