"""AutoSend: remove contacts from the account, or from one contact list.

API: AutoSend's references for removing contacts from the account and from a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from airflow_contact_removal.accounting import is_count
from airflow_contact_removal.connection_form import form_methods
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.base import (
    REMOVE_CONTACTS,
    REMOVE_FROM_LIST,
    ContactRemovalHook,
    check_id_value,
    path_segment,
    scrub_identifiers,
)
from airflow_contact_removal.hooks.rate_limit import VENDOR_WINDOW, RateWindow
from airflow_contact_removal.hooks.retry import parse_retry_after, rate_window_from_headers
from airflow_contact_removal.results import BatchOutcome
from airflow_contact_removal.vendors import AUTOSEND_FORM

GLOBAL_CONTACT_LIST = "GLOBAL_CONTACT_LIST"

# The page says account removal "returns the IDs of the contacts that were successfully removed",
# but its example answer is only {"success": true} and names no field. We read ids from these fields
# when present and never require them.
_REMOVED_ID_FIELDS = ("removedIds", "removedContactIds", "contactIds", "ids")


@dataclass(frozen=True)
class AutoSendRemoveResult:
    """
    AutoSend's answer to an account-wide removal.

    :param requested: emails sent.
    :param removed_ids: ids of the removed contacts, or ``None`` when AutoSend did not list them.
    """

    requested: int
    removed_ids: list[str] | None
    attempts: int
    request_id: str | None = None


@dataclass(frozen=True)
class AutoSendListRemoveResult:
    """
    AutoSend's answer to a list removal: ``data.removed``, ``data.notInList`` and ``data.errors``.
    """

    removed: int
    not_in_list: int
    errors: list[Any] = field(default_factory=list)
    attempts: int = 1
    request_id: str | None = None


class AutoSendHook(ContactRemovalHook):
    """
    Remove contacts at AutoSend (``Authorization: Bearer <key>``).

    AutoSend documents no batch limit: batches default to 100 identifiers and are never larger than
    500 (a conservative cap of ours, not the vendor's). Its default rate limit is 2 requests per
    second per key, which the ``requests_per_second`` extra may lower, never lift. A 429 carries a
    ``retryAfter`` body field, which is honoured like ``Retry-After``.

    :param conn_id: the ``autosend`` connection (default ``autosend_default``).
    """

    default_conn_name = "autosend_default"
    conn_type = "autosend"
    hook_name = AUTOSEND_FORM.hook_name
    # Airflow 3.1 reads the connection form from the hook class (3.2 and later from the provider info).
    get_connection_form_widgets, get_ui_field_behaviour = form_methods(AUTOSEND_FORM)
    vendor = "autosend"
    default_base_url = AUTOSEND_FORM.default_base_url

    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {
        REMOVE_CONTACTS: ("emails",),
        REMOVE_FROM_LIST: ("emails", "contact_ids"),
    }
    # "Provide either emails or contactIds, not both": one kind per request.
    mixes_identifier_kinds = False
    max_batch_size = 500
    default_batch_size = 100
    max_in_flight = 2
    default_in_flight = 2
    default_requests_per_second = 2.0
    # "2 requests per second per API key by default": a connection may lower it, never lift it.
    documented_requests_per_second = 2.0
    # 402 and 403 mean plan or permission limits: the same for every batch of the run.
    run_stopping_statuses = frozenset({401, 402, 403, 404})

    def retry_after(self, response: requests.Response) -> float | None:
        """``Retry-After`` header, else the ``retryAfter`` field (seconds) AutoSend puts in a 429 body."""
        header = super().retry_after(response)
        if header is not None:
            return header
        try:
            body = response.json()
        except ValueError:
            return None
        return parse_retry_after(body.get("retryAfter")) if isinstance(body, dict) else None

    def rate_window(self, response: requests.Response) -> RateWindow | None:
        """
        The one-second window that counted the request: ``X-RateLimit-Reset`` (a Unix time or a
        delay: the page does not say; both are read) and ``X-RateLimit-Remaining``, which AutoSend
        puts on every answer. Its limit is counted per key, so the answer also says what every other
        client of the key has used.
        """
        return rate_window_from_headers(response.headers, window=VENDOR_WINDOW)

    def check_request(self, operation, kinds, *, list_id=None, options=None) -> None:
        super().check_request(operation, kinds, list_id=list_id, options=options)
        if operation == REMOVE_FROM_LIST:
            _check_list_id(list_id)

    def remove_contacts(self, emails: list[str]) -> AutoSendRemoveResult:
        """
        Remove contacts from the account by email: ``POST /contacts/remove``.

        :param emails: one or more email addresses.
        """
        emails = _non_empty_list(emails, "emails")
        response = self.request("POST", "/contacts/remove", json_body={"emails": emails})
        body = response.body
        if not isinstance(body, dict) or body.get("success") is not True:
            raise self.undocumented(response, "expected {'success': true}")
        data = body.get("data")
        removed_ids = None
        if isinstance(data, list):
            removed_ids = [str(item) for item in data]
        elif isinstance(data, dict):
            for name in _REMOVED_ID_FIELDS:
                if isinstance(data.get(name), list):
                    removed_ids = [str(item) for item in data[name]]
                    break
        return AutoSendRemoveResult(len(emails), removed_ids, response.attempts, response.request_id)

    def remove_from_list(
        self,
        list_id: str,
        emails: list[str] | None = None,
        contact_ids: list[str] | None = None,
    ) -> AutoSendListRemoveResult:
        """
        Remove contacts from one list: ``POST /contact-lists/{list_id}/contacts/remove``.

        :param list_id: the contact list; ``GLOBAL_CONTACT_LIST`` is refused (AutoSend forbids it:
            use :meth:`remove_contacts` to remove from the account).
        :param emails: email addresses, or
        :param contact_ids: contact ids; exactly one of the two.
        """
        segment = _check_list_id(list_id)
        if emails and contact_ids:
            raise ContactRemovalConfigError("AutoSend takes emails or contact_ids in one request, not both")
        if emails:
            body = {"emails": _non_empty_list(emails, "emails")}
        elif contact_ids:
            body = {"contactIds": _non_empty_list(contact_ids, "contact_ids")}
        else:
            raise ContactRemovalConfigError("AutoSend list removal needs emails or contact_ids")
        response = self.request("POST", f"/contact-lists/{segment}/contacts/remove", json_body=body)
        payload = response.body
        data = payload.get("data") if isinstance(payload, dict) else None
        if (
            not isinstance(payload, dict)
            or payload.get("success") is not True
            or not isinstance(data, dict)
            or not is_count(data.get("removed"))
            or not is_count(data.get("notInList"))
        ):
            raise self.undocumented(response, "expected success with data.removed and data.notInList")
        errors = data.get("errors") or []
        if not isinstance(errors, list):
            raise self.undocumented(response, "data.errors is not a list")
        return AutoSendListRemoveResult(
            removed=data["removed"],
            not_in_list=data["notInList"],
            errors=errors,
            attempts=response.attempts,
            request_id=response.request_id,
        )

    def remove_batch(
        self,
        operation: str,
        batch: Mapping[str, list[str]],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> BatchOutcome:
        if operation == REMOVE_CONTACTS:
            result = self.remove_contacts(batch["emails"])
            if result.removed_ids is None:
                # AutoSend's documented answer has no per-contact outcome: "success" means none of
                # these emails is a contact any more, whether it was one before or not.
                removed = result.requested
            else:
                removed = min(len(result.removed_ids), result.requested)
            return BatchOutcome(
                removed=removed,
                not_found=result.requested - removed,
                attempts=result.attempts,
                request_id=result.request_id,
                vendor_counts={
                    "removed_ids": None if result.removed_ids is None else len(result.removed_ids)
                },
            )
        listed = self.remove_from_list(
            check_id_value(list_id, "list_id"),
            emails=batch.get("emails"),
            contact_ids=batch.get("contact_ids"),
        )
        return BatchOutcome(
            removed=listed.removed,
            not_found=listed.not_in_list,
            failed=len(listed.errors),
            # Per-contact error texts may quote the contact: identifiers are taken out.
            errors=[scrub_identifiers(_error_text(error), batch) for error in listed.errors],
            attempts=listed.attempts,
            request_id=listed.request_id,
            vendor_counts={
                "removed": listed.removed,
                "notInList": listed.not_in_list,
                "errors": len(listed.errors),
            },
        )


def _check_list_id(list_id: object) -> str:
    """Refuse the global list (AutoSend forbids it) and return the id as a safe path segment."""
    if isinstance(list_id, str) and list_id.strip().upper() == GLOBAL_CONTACT_LIST:
        raise ContactRemovalConfigError(
            "AutoSend does not remove from GLOBAL_CONTACT_LIST; use remove_contacts "
            "(RemoveContactsOperator) to remove contacts from the account"
        )
    return path_segment(list_id, "list_id")


def _non_empty_list(values: list[str] | None, name: str) -> list[str]:
    if isinstance(values, str) or not values:
        raise ContactRemovalConfigError(f"{name} must be a non-empty list")
    return list(values)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("error") or error.get("code") or "error")[:2000]
    return str(error)[:2000]
