"""
The few Airflow names whose home moved between the Airflow 3 minors this provider supports.

Airflow 3.2 moved the task-facing exceptions and ``conf`` into ``airflow.sdk`` (the old homes warn);
Airflow 3.1 has them only in ``airflow.exceptions`` and ``airflow.configuration``. Importing them
from here keeps every module on the new home where it exists, without a deprecation warning.
"""

from __future__ import annotations

try:  # Airflow >= 3.2
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    # Another class (AirflowConfigParser) with the same getters this package calls (get, getboolean).
    from airflow.configuration import conf  # type: ignore[assignment]

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        TaskDeferred,
    )
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        TaskDeferred,
    )

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "TaskDeferred",
    "conf",
]
