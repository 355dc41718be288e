"""Operators that remove contacts through any of this provider's vendor hooks."""

from airflow_contact_removal.operators.merge import MergeRemovalSummariesOperator
from airflow_contact_removal.operators.remove import RemoveContactsOperator, RemoveFromListOperator

__all__ = ["MergeRemovalSummariesOperator", "RemoveContactsOperator", "RemoveFromListOperator"]
