"""Wooxy: remove contacts from a list (asynchronously), and read back what happened.

API: Wooxy's references for removing a contact from a list and for ``request/find``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

from airflow_contact_removal.completion.outcome import (
    CompletionRules,
    ContactError,
    RequestOutcome,
    RequestRead,
)
from airflow_contact_removal.connection_form import form_methods
from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.base import (
    REMOVE_FROM_LIST,
    ContactRemovalHook,
    VendorResponse,
    check_id_value,
)
from airflow_contact_removal.results import BatchOutcome
from airflow_contact_removal.vendors import WOOXY_FORM
from airflow_contact_removal.vocabulary import Confirmation

#: The most records (emails + phone numbers + user ids together) in one request.
WOOXY_MAX_RECORDS = 100
#: The most ids in one ``request/find`` call.
WOOXY_MAX_FIND_IDS = 100
#: How Wooxy's request statuses read. Its pages do not list request statuses; the sandbox uses
#: ``queued`` then ``completed``. A status is final only when it is in this known set: an unknown status
#: keeps us waiting (bounded by the timeout), where treating it as final could close a request Wooxy has
#: not processed yet. Wooxy keeps a request 7 days.
WOOXY_COMPLETION = CompletionRules(
    vendor="wooxy",
    label="Wooxy",
    final_statuses=frozenset({"completed", "done", "processed", "finished", "failed", "error"}),
    contact_fields={"emails": "email", "phone_numbers": "phone", "user_ids": "userId"},
    caseless_fields=frozenset({"email"}),
    unknown_reason="request id unknown or older than 7 days",
    max_ids_per_read=WOOXY_MAX_FIND_IDS,
    operation=REMOVE_FROM_LIST,
)
# A well-formed request id that no request has: asking for it reads nothing and changes nothing.
_PROBE_REQUEST_ID = "000000000000000000000000"
#: Wooxy's documented method errors that hold for every request of a run: the list does not exist,
#: the token is refused or its user disabled. They may come with HTTP 200 (``result: false``).
_RUN_STOPPING_ERRORS = re.compile(
    r"List with id .* not found|Invalid authorization token|no matches found for access token"
    r"|user .* not enabled|access token check failed",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WooxyRemoveResult:
    """Wooxy accepted and queued a removal; ``request_id`` matches its status webhook and ``request/find``."""

    request_id: str
    records: int
    attempts: int


#: One contact Wooxy could not remove, with its ``humanError``: the vendor-neutral type, by its old name.
WooxyContactError = ContactError


@dataclass(frozen=True)
class WooxyRequestStatus(RequestOutcome):
    """The state of one removal request as ``request/find`` reports it: the outcome and its times."""

    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class WooxyStatusResult:
    """The answer of one ``request/find`` call: known requests by id, and the ids it did not know."""

    requests: dict[str, WooxyRequestStatus]
    unknown_ids: list[str]
    errors: list[str]
    attempts: int


class WooxyHook(ContactRemovalHook):
    """
    Remove contacts from a Wooxy list (``Access-Token: <key>``).

    Wooxy takes at most 100 records per request, emails, phone numbers (E.164) and user ids counted
    together (the page says "records per transaction"; the safe reading is the combined count), and
    at most 10 requests in flight. Its answer only says the request was accepted and queued:
    ``result: true`` is not a removal, and ``result: false`` is a failure even with HTTP 200.

    :param conn_id: the ``wooxy`` connection (default ``wooxy_default``).
    """

    default_conn_name = "wooxy_default"
    conn_type = "wooxy"
    hook_name = WOOXY_FORM.hook_name
    # Airflow 3.1 reads the connection form from the hook class (3.2 and later from the provider info).
    get_connection_form_widgets, get_ui_field_behaviour = form_methods(WOOXY_FORM)
    vendor = "wooxy"
    default_base_url = WOOXY_FORM.default_base_url

    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {
        REMOVE_FROM_LIST: ("emails", "phone_numbers", "user_ids"),
    }
    mixes_identifier_kinds = True
    max_batch_size = WOOXY_MAX_RECORDS
    default_batch_size = WOOXY_MAX_RECORDS
    max_in_flight = 10
    default_in_flight = 10
    confirmation = Confirmation.ASYNCHRONOUS
    completion_rules = WOOXY_COMPLETION
    batch_options = ("webhook_uri",)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Access-Token": api_key}

    def error_details(self, body: Any) -> tuple[str | None, str | None]:
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            # Cut after the identifiers are taken out (vendor_error_details), not here.
            return None, "; ".join(str(error) for error in body["errors"])[:2000]
        return super().error_details(body)

    def stops_run(self, status_code: int, code: str | None, message: str | None) -> bool:
        return super().stops_run(status_code, code, message) or bool(
            message and _RUN_STOPPING_ERRORS.search(message)
        )

    def check_request(self, operation, kinds, *, list_id=None, options=None) -> None:
        super().check_request(operation, kinds, list_id=list_id, options=options)
        _list_id(list_id)
        webhook = (options or {}).get("webhook_uri")
        if webhook is not None:
            _check_webhook(webhook)

    def remove_from_list(
        self,
        list_id: str,
        emails: list[str] | None = None,
        phone_numbers: list[str] | None = None,
        user_ids: list[str] | None = None,
        webhook_uri: str | None = None,
    ) -> WooxyRemoveResult:
        """
        Queue the removal of contacts from a list: ``POST /contacts/remove``.

        :param list_id: ``contactListId``.
        :param emails: email addresses;
        :param phone_numbers: E.164 phone numbers;
        :param user_ids: your platform's user ids; at least one record, at most 100 in all.
        :param webhook_uri: where Wooxy posts the request's final status.
        """
        body: dict[str, Any] = {"contactListId": _list_id(list_id)}
        if webhook_uri:
            body["webHookUri"] = _check_webhook(webhook_uri)
        records = 0
        for name, values in (("emails", emails), ("phoneNumbers", phone_numbers), ("userIds", user_ids)):
            if values:
                if isinstance(values, str):
                    raise ContactRemovalConfigError(f"Wooxy {name} must be a list")
                body[name] = list(values)
                records += len(values)
        if records == 0:
            raise ContactRemovalConfigError(
                "Wooxy list removal needs at least one email, phone number or user id"
            )
        if records > WOOXY_MAX_RECORDS:
            raise ContactRemovalConfigError(
                f"Wooxy takes at most {WOOXY_MAX_RECORDS} records per request, got {records}"
            )
        response = self.request("POST", "/contacts/remove", json_body=body)
        request_id = self._accepted_request_id(response)
        return WooxyRemoveResult(request_id=request_id, records=records, attempts=response.attempts)

    def _accepted_request_id(self, response: VendorResponse) -> str:
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("result"), bool):
            raise self.undocumented(response, "expected a 'result' boolean")
        if body["result"] is not True:
            # Documented: result false carries errors, and may come with HTTP 200.
            _, message = self.vendor_error_details(body, response.sent)
            raise VendorAPIError(
                message or "result: false",
                vendor=self.vendor,
                status_code=response.status_code,
                vendor_message=message,
                attempts=response.attempts,
                stops_run=self.stops_run(response.status_code, None, message),
            )
        request_id = body.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise self.undocumented(response, "result true without a requestId")
        return request_id

    def request_status(self, request_ids: list[str]) -> WooxyStatusResult:
        """
        Read the outcome of removal requests: ``POST /request/find`` (at most 100 ids, kept 7 days).

        :param request_ids: request ids returned by :meth:`remove_from_list`.
        """
        ids = [str(request_id) for request_id in request_ids or []]
        if not ids:
            raise ContactRemovalConfigError("request_status needs at least one request id")
        if len(ids) > WOOXY_MAX_FIND_IDS:
            raise ContactRemovalConfigError(f"Wooxy request/find takes at most {WOOXY_MAX_FIND_IDS} ids")
        response = self.request("POST", "/request/find", json_body={"ids": ids})
        body = response.body
        if not isinstance(body, dict) or body.get("result") is not True:
            if isinstance(body, dict) and body.get("result") is False:
                _, message = self.vendor_error_details(body, response.sent)
                raise VendorAPIError(
                    message or "result: false",
                    vendor=self.vendor,
                    status_code=response.status_code,
                    vendor_message=message,
                    attempts=response.attempts,
                    stops_run=self.stops_run(response.status_code, None, message),
                )
            raise self.undocumented(response, "expected result true")
        found = body.get("requests") or {}
        if not isinstance(found, dict):
            raise self.undocumented(response, "'requests' is not an object")
        statuses = {}
        for request_id, entry in found.items():
            if not isinstance(entry, dict):
                raise self.undocumented(response, "a request entry is not an object")
            statuses[str(request_id)] = _parse_status(str(request_id), entry)
        errors = body.get("errors") or []
        return WooxyStatusResult(
            requests=statuses,
            unknown_ids=[request_id for request_id in ids if request_id not in statuses],
            errors=[str(error)[:300] for error in errors] if isinstance(errors, list) else [],
            attempts=response.attempts,
        )

    def read_requests(self, request_ids: list[str]) -> RequestRead:
        """The asynchronous-confirmation read (see :class:`ContactRemovalHook`): ``request/find``."""
        result = self.request_status(request_ids)
        return RequestRead(requests=result.requests, unknown_ids=result.unknown_ids)

    def remove_batch(
        self,
        operation: str,
        batch: Mapping[str, list[str]],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        webhook_uri: str | None = None,
        **options: Any,
    ) -> BatchOutcome:
        result = self.remove_from_list(
            cast(str, list_id),  # check_request refused a missing one (remove_from_list checks it)
            emails=batch.get("emails"),
            phone_numbers=batch.get("phone_numbers"),
            user_ids=batch.get("user_ids"),
            webhook_uri=webhook_uri,
        )
        return BatchOutcome(
            accepted=result.records,
            request_id=result.request_id,
            attempts=result.attempts,
            vendor_counts={"result": True},
        )

    def probe(self) -> str:
        """``request/find`` is read-only: asking for an id that cannot exist proves the token works."""
        try:
            self.request_status([_PROBE_REQUEST_ID])
        except VendorAPIError as exc:
            refused = exc.status_code in (401, 403) or "token" in (exc.vendor_message or "").lower()
            # No answer (timeout, connection failure) or a server fault proves nothing about the token,
            # and neither does a 404 or a redirect: the base URL does not lead to Wooxy's API.
            unanswered = exc.retryable or exc.status_code is None or exc.status_code >= 500
            elsewhere = exc.status_code is not None and (exc.status_code == 404 or exc.status_code < 400)
            if refused or unanswered or elsewhere:
                raise
            return f"access token accepted: the read-only request/find call answered HTTP {exc.status_code}"
        return "access token accepted by the read-only request/find call"


def _list_id(list_id: object) -> str:
    """The list id, trimmed (Wooxy's ids have no spaces), refused if empty or path-like."""
    if not isinstance(list_id, str) or not list_id.strip():
        raise ContactRemovalConfigError("Wooxy list removal needs a non-empty list_id")
    return check_id_value(list_id.strip(), "list_id")


def _check_webhook(uri: object) -> str:
    """``webHookUri`` must be an absolute http(s) URL (Wooxy refuses anything else for every batch)."""
    if not isinstance(uri, str):
        raise ContactRemovalConfigError("Wooxy webhook_uri must be a URL string")
    try:
        parts = urlsplit(uri.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() or not char.isprintable() for char in uri.strip())
    ):
        raise ContactRemovalConfigError("Wooxy webhook_uri must be an absolute http:// or https:// URL")
    return uri.strip()


def _dict_or_empty(value: object) -> dict[str, Any]:
    """A JSON object of the answer, or ``{}`` when the vendor sent something else there."""
    return value if isinstance(value, dict) else {}


def _parse_status(request_id: str, entry: dict[str, Any]) -> WooxyRequestStatus:
    results = _dict_or_empty(entry.get("results"))
    successes = [item for item in results.get("success") or [] if isinstance(item, dict)]
    errors = [
        WooxyContactError(
            error=item.get("error"),
            human_error=item.get("humanError"),
            contact=_dict_or_empty(item.get("contact")),
        )
        for item in results.get("errors") or []
        if isinstance(item, dict)
    ]
    return WooxyRequestStatus(
        request_id=str(entry.get("id") or request_id),
        status=entry.get("status"),
        created_at=entry.get("createdAt"),
        updated_at=entry.get("updatedAt"),
        successes=successes,
        errors=errors,
    )
