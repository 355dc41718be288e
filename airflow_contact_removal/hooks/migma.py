"""Migma: delete contacts of a project by email, with idempotent replays.

API: Migma's reference for batch-deleting contacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_contact_removal.accounting import is_count
from airflow_contact_removal.connection_form import form_methods
from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.base import REMOVE_CONTACTS, ContactRemovalHook
from airflow_contact_removal.results import BatchOutcome
from airflow_contact_removal.vendors import MIGMA_FORM

#: The most emails in one bulk-delete request (and the least: 1).
MIGMA_MAX_EMAILS = 1000
#: The longest ``Idempotency-Key`` Migma accepts.
MIGMA_MAX_IDEMPOTENCY_KEY = 100


@dataclass(frozen=True)
class MigmaBulkDeleteResult:
    """
    Migma's answer: ``data.deleted`` and ``data.notFound`` (emails with no contact; not an error).

    :param replayed: the answer is a replay of an earlier request with the same idempotency key.
    """

    deleted: int
    not_found: list[str] = field(default_factory=list)
    attempts: int = 1
    replayed: bool = False
    request_id: str | None = None


class MigmaHook(ContactRemovalHook):
    """
    Delete contacts from a Migma project (``Authorization: Bearer <key>``; needs ``audience:write``).

    1 to 1000 emails per request. The project comes from the argument or the connection extra
    ``project_id``. With an ``Idempotency-Key``, a repeat of the same body within 24 h replays the
    first answer instead of deleting again; the same key with another body is refused with 409
    ``IDEMPOTENCY_CONFLICT``, which is never retried. Migma never stores 429/5xx answers under a key,
    so retrying those with the same key is safe.

    :param conn_id: the ``migma`` connection (default ``migma_default``).
    """

    default_conn_name = "migma_default"
    conn_type = "migma"
    hook_name = MIGMA_FORM.hook_name
    # Airflow 3.1 reads the connection form from the hook class (3.2 and later from the provider info).
    get_connection_form_widgets, get_ui_field_behaviour = form_methods(MIGMA_FORM)
    vendor = "migma"
    default_base_url = MIGMA_FORM.default_base_url

    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {REMOVE_CONTACTS: ("emails",)}
    max_batch_size = MIGMA_MAX_EMAILS
    default_batch_size = MIGMA_MAX_EMAILS
    # Migma documents no concurrency cap; 4 in flight is a polite default, 8 our ceiling.
    max_in_flight = 8
    default_in_flight = 4

    def check_settings(self) -> None:
        # The operators pass no project: the connection must name one.
        if not self.extras.get("project_id"):
            raise ContactRemovalConfigError(
                f"connection {self.conn_id!r} needs the extra 'project_id' (the Migma project to delete from)"
            )

    def bulk_delete(
        self,
        emails: list[str],
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> MigmaBulkDeleteResult:
        """
        Delete contacts by email: ``POST /v1/contacts/bulk-delete``.

        :param emails: 1 to 1000 email addresses.
        :param project_id: the project; defaults to the connection extra ``project_id``.
        :param idempotency_key: sent as ``Idempotency-Key`` (at most 100 characters).
        """
        if isinstance(emails, str) or not emails:
            raise ContactRemovalConfigError("Migma bulk delete needs 1 to 1000 emails, got none")
        emails = list(emails)
        if len(emails) > MIGMA_MAX_EMAILS:
            raise ContactRemovalConfigError(
                f"Migma bulk delete takes at most {MIGMA_MAX_EMAILS} emails, got {len(emails)}"
            )
        project = project_id or self.extras.get("project_id")
        if not isinstance(project, str) or not project.strip():
            raise ContactRemovalConfigError(
                "Migma bulk delete needs a project id: pass project_id or set the connection extra 'project_id'"
            )
        headers = {}
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MIGMA_MAX_IDEMPOTENCY_KEY:
                raise ContactRemovalConfigError(
                    f"Migma Idempotency-Key must be 1 to {MIGMA_MAX_IDEMPOTENCY_KEY} characters"
                )
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self.request(
                "POST",
                "/v1/contacts/bulk-delete",
                json_body={"emails": emails, "projectId": project},
                headers=headers,
            )
        except VendorAPIError as exc:
            if exc.status_code == 409 and exc.vendor_code == "IDEMPOTENCY_CONFLICT":
                raise VendorAPIError(
                    "Idempotency-Key reused with a different body: this key already deleted another "
                    "batch, so this one was not sent again",
                    vendor=self.vendor,
                    status_code=409,
                    vendor_code=exc.vendor_code,
                    vendor_message=exc.vendor_message,
                    attempts=exc.attempts,
                ) from None
            raise
        body = response.body
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("success") is not True or not isinstance(data, dict):
            raise self.undocumented(response, "expected success with a data object")
        deleted = data.get("deleted")
        not_found = data.get("notFound") or []
        if not is_count(deleted):
            raise self.undocumented(response, "data.deleted is not a count")
        if not isinstance(not_found, list) or not all(isinstance(item, str) for item in not_found):
            raise self.undocumented(response, "data.notFound is not a list of emails")
        sent = {email.lower() for email in emails}
        if any(item.lower() not in sent for item in not_found):
            # Counting them "not found" would account for emails this batch never had, and leave
            # the sent ones unaccounted: the answer is not the documented one, the batch fails.
            raise self.undocumented(response, "data.notFound names emails that were not sent")
        return MigmaBulkDeleteResult(
            deleted=deleted,
            not_found=not_found,
            attempts=response.attempts,
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
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
        result = self.bulk_delete(batch["emails"], idempotency_key=idempotency_key)
        return BatchOutcome(
            removed=result.deleted,
            not_found=len(result.not_found),
            not_found_identifiers=result.not_found,
            attempts=result.attempts,
            request_id=result.request_id,
            vendor_counts={"deleted": result.deleted, "notFound": len(result.not_found)},
            note="replayed by Migma (Idempotency-Key)" if result.replayed else None,
        )
