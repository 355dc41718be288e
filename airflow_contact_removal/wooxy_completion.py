"""Compatibility names: the generic completion pipeline with Wooxy's rules bound.

The code lives in :mod:`airflow_contact_removal.completion.folding`; Wooxy's status words, contact
fields and 7-day retention in :data:`airflow_contact_removal.hooks.wooxy.WOOXY_COMPLETION`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_contact_removal.completion import folding
from airflow_contact_removal.completion.folding import (
    REASON_NO_OUTCOME,
    Completion,
    FoldTotals,
    batch_records_from,
    chunked,
    complete,
    request_ids_from,
    status_to_dict,
)
from airflow_contact_removal.completion.outcome import CompletionRules
from airflow_contact_removal.hooks.wooxy import WOOXY_COMPLETION

FINAL_STATUSES = WOOXY_COMPLETION.final_statuses
REASON_UNKNOWN = WOOXY_COMPLETION.unknown_reason
REASON_TIMEOUT = WOOXY_COMPLETION.timeout_reason
CONTACT_FIELDS = dict(WOOXY_COMPLETION.contact_fields)
WooxyCompletion = Completion


@dataclass
class WooxyPollState(folding.PollState):
    """:class:`~airflow_contact_removal.completion.folding.PollState` with Wooxy's rules."""

    rules: CompletionRules | None = field(default=WOOXY_COMPLETION, repr=False, compare=False)


def is_final(status: object) -> bool:
    """Whether a Wooxy request status is final."""
    return WOOXY_COMPLETION.is_final(status)


def fold_outcomes(
    batch_results: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, Any],
    unknown_ids: Iterable[str] = (),
    timed_out_ids: Iterable[str] = (),
    *,
    timeout_reason: str = REASON_TIMEOUT,
) -> tuple[list[dict[str, Any]], FoldTotals]:
    """
    :func:`~airflow_contact_removal.completion.folding.fold_outcomes` with Wooxy's rules, in the shape
    this name always had: batch records as dicts in and out.
    """
    folded, totals = folding.fold_outcomes(
        batch_results,
        statuses,
        unknown_ids,
        timed_out_ids,
        timeout_reason=timeout_reason,
        rules=WOOXY_COMPLETION,
    )
    return [record.to_dict() for record in folded], totals


def folded_summary(
    summary: Mapping[str, Any] | None,
    batch_results: Sequence[Mapping[str, Any]],
    totals: FoldTotals | None = None,
) -> dict[str, Any]:
    """:func:`~airflow_contact_removal.completion.folding.folded_summary` with Wooxy's rules."""
    return folding.folded_summary(summary, batch_results, totals, rules=WOOXY_COMPLETION)


__all__ = [
    "CONTACT_FIELDS",
    "FINAL_STATUSES",
    "REASON_NO_OUTCOME",
    "REASON_TIMEOUT",
    "REASON_UNKNOWN",
    "FoldTotals",
    "WooxyCompletion",
    "WooxyPollState",
    "batch_records_from",
    "chunked",
    "complete",
    "fold_outcomes",
    "folded_summary",
    "is_final",
    "request_ids_from",
    "status_to_dict",
]
