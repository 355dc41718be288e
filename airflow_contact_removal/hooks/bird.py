"""Bird: remove contacts from a list in a workspace.

API: Bird's reference for removing contacts from a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_contact_removal.accounting import is_count
from airflow_contact_removal.connection_form import form_methods
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.base import (
    REMOVE_FROM_LIST,
    ContactRemovalHook,
    check_id_value,
    path_segment,
)
from airflow_contact_removal.identifiers import (
    DEFAULT_NORMALISERS,
    InvalidIdentifier,
    normalise_uuid,
)
from airflow_contact_removal.results import BatchOutcome
from airflow_contact_removal.vendors import BIRD_FORM

#: The most contacts + identifiers, combined, in one request.
BIRD_MAX_ITEMS = 100
#: Identifier keys Bird's page uses, by the identifier kinds of this provider.
BIRD_IDENTIFIER_KEYS = {"emails": "emailaddress", "phone_numbers": "phonenumber"}


@dataclass(frozen=True)
class BirdRemoveResult:
    """
    Bird's answer: ``itemsProcessed``. Fewer than were sent means some were not processed (Bird does
    not say which; most often they were not in the list).
    """

    items_sent: int
    items_processed: int
    attempts: int
    request_id: str | None = None

    @property
    def shortfall(self) -> int:
        return max(self.items_sent - self.items_processed, 0)


class BirdHook(ContactRemovalHook):
    """
    Remove contacts from a Bird list (``Authorization: AccessKey <key>``).

    Always ``DELETE /workspaces/{workspaceId}/lists/{listId}/contacts`` with a JSON body: one example
    on Bird's page shows ``POST``, but ``POST`` on that path *adds* contacts to the list. The page's
    reference example shows ``Bearer``, its curl examples ``AccessKey``: the curl form is the one Bird
    documents for access keys. The workspace id comes from the connection extra ``workspace_id``.

    :param conn_id: the ``bird`` connection (default ``bird_default``).
    """

    default_conn_name = "bird_default"
    conn_type = "bird"
    hook_name = BIRD_FORM.hook_name
    # Airflow 3.1 reads the connection form from the hook class (3.2 and later from the provider info).
    get_connection_form_widgets, get_ui_field_behaviour = form_methods(BIRD_FORM)
    vendor = "bird"
    default_base_url = BIRD_FORM.default_base_url

    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {
        REMOVE_FROM_LIST: ("contact_ids", "emails", "phone_numbers"),
    }
    mixes_identifier_kinds = True
    max_batch_size = BIRD_MAX_ITEMS
    default_batch_size = BIRD_MAX_ITEMS
    max_in_flight = 5
    default_in_flight = 4
    identifier_normalisers = {**DEFAULT_NORMALISERS, "contact_ids": normalise_uuid}

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"AccessKey {api_key}"}

    @property
    def workspace_id(self) -> str:
        """The workspace (a UUID) from the connection extra ``workspace_id``."""
        workspace = self.extras.get("workspace_id")
        if not workspace:
            raise ContactRemovalConfigError(
                f"connection {self.conn_id!r} needs the extra 'workspace_id' (your Bird workspace UUID)"
            )
        return _uuid(workspace, "workspace_id")

    def check_settings(self) -> None:
        self.workspace_id  # noqa: B018 - validates the extra

    def check_request(self, operation, kinds, *, list_id=None, options=None) -> None:
        super().check_request(operation, kinds, list_id=list_id, options=options)
        _uuid(list_id, "list_id")

    def remove_from_list(
        self,
        list_id: str,
        contact_ids: list[str] | None = None,
        identifiers: list[dict[str, str]] | None = None,
    ) -> BirdRemoveResult:
        """
        Remove contacts from a list: ``DELETE /workspaces/{workspace}/lists/{list_id}/contacts``.

        :param list_id: the list's UUID.
        :param contact_ids: contact UUIDs (``contacts`` in the body);
        :param identifiers: ``{"key": "emailaddress"|"phonenumber", "value": ...}`` items; at least
            one of the two, at most 100 combined.
        """
        list_segment = path_segment(_uuid(list_id, "list_id"), "list_id")
        workspace_segment = path_segment(self.workspace_id, "workspace_id")
        contact_ids = list(contact_ids or [])
        identifiers = list(identifiers or [])
        for item in identifiers:
            if not isinstance(item, dict) or set(item) != {"key", "value"}:
                raise ContactRemovalConfigError("Bird identifiers must be {'key': ..., 'value': ...} items")
        count = len(contact_ids) + len(identifiers)
        if count == 0:
            raise ContactRemovalConfigError("Bird list removal needs contact ids or identifiers")
        if count > BIRD_MAX_ITEMS:
            raise ContactRemovalConfigError(
                f"Bird takes at most {BIRD_MAX_ITEMS} contacts and identifiers combined, got {count}"
            )
        body: dict[str, Any] = {}
        if contact_ids:
            body["contacts"] = [_uuid(contact_id, "contact id") for contact_id in contact_ids]
        if identifiers:
            body["identifiers"] = identifiers
        response = self.request(
            "DELETE", f"/workspaces/{workspace_segment}/lists/{list_segment}/contacts", json_body=body
        )
        processed = response.body.get("itemsProcessed") if isinstance(response.body, dict) else None
        if not is_count(processed):
            raise self.undocumented(response, "expected an itemsProcessed count")
        result = BirdRemoveResult(count, processed, response.attempts, response.request_id)
        if result.shortfall:
            self.log.info("Bird processed %d of %d items sent", processed, count)
        return result

    def remove_batch(
        self,
        operation: str,
        batch: Mapping[str, list[str]],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> BatchOutcome:
        identifiers = [
            {"key": key, "value": value}
            for kind, key in BIRD_IDENTIFIER_KEYS.items()
            for value in batch.get(kind) or []
        ]
        result = self.remove_from_list(
            check_id_value(list_id, "list_id"), contact_ids=batch.get("contact_ids"), identifiers=identifiers
        )
        processed = min(result.items_processed, result.items_sent)
        return BatchOutcome(
            removed=processed,
            # Bird does not say which items it did not process; they are counted as not found (not in
            # the list), and the shortfall is flagged on the batch record.
            not_found=result.shortfall,
            attempts=result.attempts,
            request_id=result.request_id,
            vendor_counts={"itemsProcessed": result.items_processed, "sent": result.items_sent},
            note=f"Bird did not process {result.shortfall} item(s)" if result.shortfall else None,
        )


def _uuid(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ContactRemovalConfigError(f"Bird {name} must be a UUID string")
    try:
        return normalise_uuid(value)
    except InvalidIdentifier:
        raise ContactRemovalConfigError(f"Bird {name} must be a UUID") from None
