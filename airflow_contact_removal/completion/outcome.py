"""The vendor-neutral types of asynchronous confirmation: a hook's rules and one read of request ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_contact_removal.vocabulary import Operation


class WaitOutcome(StrEnum):
    """How a wait ended."""

    COMPLETE = "complete"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class CompletionRules:
    """
    What a vendor that confirms later means by its answers; its hook owns them.

    :param vendor: the vendor's key (``summary["vendor"]``).
    :param label: the vendor's name in messages.
    :param final_statuses: the request statuses that are final (lower case); any other keeps waiting.
    :param contact_fields: identifier kind -> the field of the vendor's contact object.
    :param caseless_fields: contact fields matched case-insensitively (e.g. email).
    :param unknown_reason: why an unknown request id fails (e.g. its retention rule).
    :param max_ids_per_read: the most request ids one status read carries.
    :param operation: the operation a rebuilt summary names.
    """

    vendor: str
    label: str
    final_statuses: frozenset[str]
    contact_fields: Mapping[str, str]
    caseless_fields: frozenset[str] = frozenset({"email"})
    unknown_reason: str = "request id unknown"
    max_ids_per_read: int = 100
    operation: str = Operation.REMOVE_FROM_LIST

    def is_final(self, status: object) -> bool:
        """Whether a request status is final (case and spaces are ignored)."""
        return isinstance(status, str) and status.strip().lower() in self.final_statuses

    @property
    def timeout_reason(self) -> str:
        return f"timed out waiting for {self.label}"


@dataclass(frozen=True)
class ContactError:
    """One contact a request reports as failed: the vendor's ``error`` code and readable text."""

    error: str | None
    human_error: str | None
    contact: dict[str, Any]


@dataclass(frozen=True)
class RequestOutcome:
    """
    What became of one request: its status, the contacts it removed and those it failed.

    :param request_id: the vendor's request id.
    :param status: the vendor's status word (final or not: see :meth:`CompletionRules.is_final`).
    :param successes: contact objects removed (fields per :attr:`CompletionRules.contact_fields`).
    :param errors: contacts that failed.
    """

    request_id: str
    status: str | None
    successes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ContactError] = field(default_factory=list)


@dataclass(frozen=True)
class RequestRead:
    """One read of at most :attr:`CompletionRules.max_ids_per_read` ids: known requests, unknown ids."""

    requests: Mapping[str, Any]
    unknown_ids: list[str]
