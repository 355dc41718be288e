"""Parcel, a test-only fifth vendor that confirms later: one hook file is all a vendor needs.

Its API (served by :mod:`tests.fifth_vendor.fake_api`): ``POST /removals`` queues a removal and answers
``{"ticket": id}``; ``POST /tickets/lookup`` (at most 2 ids) answers each ticket's ``state``
(``queued``, then ``done``) with the ``removed`` and ``rejected`` contacts (``{"mail": ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_contact_removal.completion.outcome import (
    CompletionRules,
    ContactError,
    RequestOutcome,
    RequestRead,
)
from airflow_contact_removal.hooks.base import REMOVE_CONTACTS, REMOVE_FROM_LIST, ContactRemovalHook
from airflow_contact_removal.results import BatchOutcome

PARCEL_COMPLETION = CompletionRules(
    vendor="parcel",
    label="Parcel",
    final_statuses=frozenset({"done"}),
    contact_fields={"emails": "mail"},
    unknown_reason="ticket unknown or older than 1 day",
    max_ids_per_read=2,
)


class ParcelHook(ContactRemovalHook):
    """Remove contacts from Parcel (``X-Parcel-Key: <key>``); Parcel confirms each removal later."""

    default_conn_name = "parcel_default"
    conn_type = "parcel"
    hook_name = "Parcel"
    vendor = "parcel"
    default_base_url = "https://api.parcel.test/v1"
    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {
        REMOVE_CONTACTS: ("emails",),
        REMOVE_FROM_LIST: ("emails",),
    }
    max_batch_size = 3
    default_batch_size = 3
    max_in_flight = 2
    default_in_flight = 2
    confirmation = "asynchronous"
    completion_rules = PARCEL_COMPLETION

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"X-Parcel-Key": api_key}

    def remove_batch(
        self,
        operation: str,
        batch: Mapping[str, list[str]],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> BatchOutcome:
        emails = list(batch.get("emails") or [])
        response = self.request("POST", "/removals", json_body={"list": list_id, "emails": emails})
        ticket = response.body.get("ticket") if isinstance(response.body, dict) else None
        if not isinstance(ticket, str) or not ticket:
            raise self.undocumented(response, "expected a ticket")
        return BatchOutcome(accepted=len(emails), request_id=ticket, attempts=response.attempts)

    def read_requests(self, request_ids: list[str]) -> RequestRead:
        response = self.request("POST", "/tickets/lookup", json_body={"tickets": list(request_ids)})
        tickets = response.body.get("tickets") if isinstance(response.body, dict) else None
        if not isinstance(tickets, dict):
            raise self.undocumented(response, "expected tickets")
        found = {
            ticket: RequestOutcome(
                request_id=ticket,
                status=entry.get("state"),
                successes=list(entry.get("removed") or []),
                errors=[
                    ContactError(error=item.get("code"), human_error=item.get("message"), contact=item)
                    for item in entry.get("rejected") or []
                ],
            )
            for ticket, entry in tickets.items()
        }
        return RequestRead(requests=found, unknown_ids=[i for i in request_ids if i not in found])

    def probe(self) -> str:
        self.read_requests(["probe"])
        return "key accepted by the read-only ticket lookup"
