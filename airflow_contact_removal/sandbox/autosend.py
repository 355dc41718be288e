"""AutoSend: ``POST /contacts/remove`` and ``POST /contact-lists/{contactListId}/contacts/remove``.

Contract: AutoSend's API reference for removing contacts, from the account and from a list. Served under
``/autosend/v1``.

State: an account of contacts (email -> 24-hex id) and lists (id -> set of contact ids). Removing a contact
from the account also removes it from every list.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import BOOLEAN, COUNT
from airflow_contact_removal.sandbox.common import (
    SeedError,
    context_of,
    first,
    is_email,
    is_hex24,
    json_response,
    normalize_email,
    same_secret,
    sandbox_of,
    scheme_token,
)
from airflow_contact_removal.sandbox.faults import first_identifier
from airflow_contact_removal.sandbox.records import MemberSet, Pattern, PatternError, Roster
from airflow_contact_removal.sandbox.requestlog import VIOLATION_BATCH, VIOLATION_RATE_LIMIT
from airflow_contact_removal.sandbox.vendor import Option, SandboxVendor

GLOBAL_LIST = "GLOBAL_CONTACT_LIST"
MAX_DETAILS = 20

router = APIRouter()


# -- answers --------------------------------------------------------------------------------------------


def error_body(message: str, code: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "code": code}
    if details is not None:
        error["details"] = details
    return {"success": False, "error": error}


def fault_body(status: int, retry_after: int) -> dict[str, Any]:
    """Body of an injected 429 or 5xx."""
    if status == 429:
        return {**error_body("Too many requests", "RATE_LIMITED"), "retryAfter": retry_after}
    return error_body("Internal server error", "INTERNAL_ERROR")


def fault_headers(sandbox: Any, headers: dict[str, str]) -> dict[str, str]:
    """Rate-limit headers for an injected answer (the window is read, not consumed)."""
    key = scheme_token(headers.get("authorization"), "Bearer")
    limit = sandbox.options.values["autosend_rate_limit"]
    if not limit or not same_secret(key, sandbox.keys["autosend"]):
        return {}
    return sandbox.stores["autosend"].limiter.peek(key, limit, sandbox.clock.now())


def echo_answer(body: Any) -> tuple[int, dict[str, Any]]:
    """A validation error naming the field and quoting its value, as AutoSend's do."""
    value = first_identifier(body, "emails", "contactIds")
    error = {
        "message": f"Invalid value {value}",
        "code": "VALIDATION_FAILED",
        "details": [{"field": "emails", "message": f"{value} is not valid"}],
    }
    return 400, {"success": False, "error": error}


# -- state ----------------------------------------------------------------------------------------------


class RateLimiter:
    """Fixed one-second windows per API key.

    ``X-RateLimit-Reset`` is the Unix time (seconds) at which the current window ends: the vendor's page
    does not say whether it is an epoch or a delay; clients should accept either.
    """

    def __init__(self) -> None:
        self.windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, limit: int, now: float) -> tuple[bool, dict[str, str], int]:
        """Count one request. :return: (allowed, headers, retry_after seconds)."""
        window = math.floor(now)
        start, used = self.windows.get(key, (window, 0))
        if start != window:
            used = 0
        if used >= limit:
            retry_after = max(1, math.ceil(window + 1 - now))
            return False, _limit_headers(limit, 0, window + 1), retry_after
        used += 1
        self.windows[key] = (window, used)
        return True, _limit_headers(limit, limit - used, window + 1), 0

    def peek(self, key: str, limit: int, now: float) -> dict[str, str]:
        window = math.floor(now)
        start, used = self.windows.get(key, (window, 0))
        return _limit_headers(limit, max(0, limit - (used if start == window else 0)), window + 1)


def _limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


class AutoSendStore:
    """Contacts of the (single) account and its lists."""

    def __init__(self) -> None:
        self.contacts = Roster(("email",))
        self.lists: dict[str, MemberSet] = {}
        self.limiter = RateLimiter()

    def remove_contacts(self, emails: list[str]) -> list[str]:
        """Delete the account's contacts with these (normalised) emails. :return: ids removed."""
        removed = []
        for email in emails:
            contact_id = self.contacts.find("email", email)
            if contact_id is None:
                continue
            self.contacts.remove(contact_id)
            for members in self.lists.values():
                members.discard(contact_id)
            removed.append(contact_id)
        return removed

    def remove_from_list(
        self, members: MemberSet, emails: list[str], contact_ids: list[str]
    ) -> tuple[int, int]:
        """Remove from one list. Identifiers are processed in order. :return: (removed, not in list)."""
        removed = not_in_list = 0
        ids = [self.contacts.find("email", email) for email in emails] + contact_ids
        for contact_id in ids:
            if contact_id is not None and members.discard(contact_id):
                removed += 1
            else:
                not_in_list += 1
        return removed, not_in_list

    def add_contact(self, email: str, contact_id: str | None = None) -> str:
        return self.contacts.add({"email": email}, contact_id)[0]

    def summary(self, detail: bool, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = {
            "contacts": len(self.contacts),
            "lists": {list_id: len(members) for list_id, members in self.lists.items()},
        }
        if detail:
            result["detail"] = {
                "contacts": first(self.contacts.iter_records(), limit),
                "lists": {
                    list_id: first(members.iter_ids(), limit) for list_id, members in self.lists.items()
                },
            }
        return result

    # -- seeding ----------------------------------------------------------------------------------------

    def apply_seed(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Apply a plan from :func:`parse_seed`. :return: ``{"contacts": {email: id}}`` for seeded contacts."""
        seeded: dict[str, str] = {}
        for email, contact_id in plan["contacts"]:
            seeded[email] = self.add_contact(email, contact_id)
        for list_id, entries in plan["lists"].items():
            members = self.lists.setdefault(list_id, MemberSet(self.contacts))
            for entry in entries:
                if is_email(entry):
                    contact_id = seeded[entry] = self.add_contact(entry)
                else:
                    contact_id = entry  # checked by parse_seed
                members.add(contact_id)
        return {"contacts": seeded}

    def generate(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Generate ``count`` contacts (and optionally make them members of ``list``)."""
        count, start = spec["count"], spec["start"]
        try:
            sequence = self.contacts.add_sequence(
                start, count, {"email": Pattern(spec["pattern"], lowercase=True)}
            )
        except PatternError as exc:
            raise SeedError(str(exc)) from None
        list_id = spec.get("list")
        if list_id is not None:
            self.lists.setdefault(list_id, MemberSet(self.contacts)).add_sequence(sequence)
        return {
            "vendor": "autosend",
            "count": count,
            "list": list_id,
            "first": sequence.record(0) if count else None,
            "last": sequence.record(count - 1) if count else None,
        }


def parse_seed(section: Any, store: AutoSendStore) -> dict[str, Any]:
    """Validate ``{"contacts": [email | {"email", "id"?}], "lists": {listId: [email | contactId]}}``.

    :param store: current state, read only: list entries may name contact ids seeded earlier.
    """
    if not isinstance(section, dict) or set(section) - {"contacts", "lists"}:
        raise SeedError('autosend section must be {"contacts": [...], "lists": {...}}')
    contacts = []
    for entry in section.get("contacts") or []:
        if isinstance(entry, str):
            entry = {"email": entry}
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("email"), str)
            or not is_email(entry["email"])
        ):
            raise SeedError("autosend contacts must be emails or {email, id?} objects")
        contact_id = entry.get("id")
        if contact_id is not None and not (isinstance(contact_id, str) and is_hex24(contact_id)):
            raise SeedError("autosend contact ids must be 24 hex characters")
        contacts.append((normalize_email(entry["email"]), contact_id.lower() if contact_id else None))
    lists = section.get("lists") or {}
    if not isinstance(lists, dict):
        raise SeedError("autosend lists must be an object of listId -> [email or contact id]")
    plan_lists = {}
    for list_id, entries in lists.items():
        if not list_id or list_id == GLOBAL_LIST:
            raise SeedError(f"autosend list id {list_id!r} is not allowed")
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise SeedError(f"autosend list {list_id} must be a list of emails or contact ids")
        if not all(is_email(e) or is_hex24(e) for e in entries):
            raise SeedError(f"autosend list {list_id} must hold emails or 24-hex contact ids")
        plan_lists[list_id] = [normalize_email(e) if is_email(e) else e.lower() for e in entries]
        known = {contact_id for _, contact_id in contacts}
        for entry in plan_lists[list_id]:
            if not is_email(entry) and entry not in known and not store.contacts.has_id(entry):
                raise SeedError(f"autosend list {list_id}: contact id {entry} is not a seeded contact")
    return {"contacts": contacts, "lists": plan_lists}


# -- endpoints ------------------------------------------------------------------------------------------


def _authenticate(request: Request) -> tuple[str | None, Response | None, dict[str, str]]:
    """Check the key and the rate limit. :return: (key, error answer or None, rate-limit headers)."""
    sandbox = sandbox_of(request)
    key = scheme_token(request.headers.get("authorization"), "Bearer")
    if not same_secret(key, sandbox.keys["autosend"]):
        return None, json_response(error_body("Invalid or missing API key", "UNAUTHORIZED"), 401), {}
    limit = sandbox.options.values["autosend_rate_limit"]
    if not limit:
        return key, None, {}
    allowed, headers, retry_after = sandbox.stores["autosend"].limiter.hit(key, limit, sandbox.clock.now())
    if allowed:
        return key, None, headers
    context_of(request).violations.append(VIOLATION_RATE_LIMIT)
    body = {**error_body("Rate limit exceeded", "RATE_LIMITED"), "retryAfter": retry_after}
    return key, json_response(body, 429, {**headers, "Retry-After": str(retry_after)}), headers


def _validation_failed(message: str, details: list[dict[str, str]], headers: dict[str, str]) -> Response:
    return json_response(error_body(message, "VALIDATION_FAILED", details[:MAX_DETAILS]), 400, headers)


def _string_array(
    body: dict[str, Any], field: str, valid: Any, what: str, max_batch: int
) -> tuple[list[str] | None, list[dict[str, str]], bool]:
    """Validate ``body[field]`` as a non-empty array of strings accepted by ``valid``.

    :param what: noun for item messages, e.g. ``email address``.
    :return: (values or None, error details, over the batch cap). Messages never echo a value.
    """
    values = body.get(field)
    if not isinstance(values, list) or not values:
        return None, [{"field": field, "message": f"{field} must be a non-empty array of strings"}], False
    if len(values) > max_batch:
        message = f"{field} may hold at most {max_batch} items per request (sandbox cap)"
        return None, [{"field": field, "message": message}], True
    details = [
        {"field": f"{field}[{i}]", "message": f"must be a valid {what}"}
        for i, value in enumerate(values)
        if not isinstance(value, str) or not valid(value.strip())
    ]
    return (None if details else [v.strip() for v in values]), details, False


@router.post("/contacts/remove")
async def remove_contacts(request: Request) -> Response:
    """Delete contacts from the account by email. Answers ``{"success": true}``."""
    sandbox = sandbox_of(request)
    _, failure, headers = _authenticate(request)
    if failure is not None:
        return failure
    body = context_of(request).body
    if not isinstance(body, dict):
        return _validation_failed(
            "Invalid request body", [{"field": "body", "message": "must be a JSON object"}], headers
        )
    emails, details, over = _string_array(
        body, "emails", is_email, "email address", sandbox.options.values["autosend_max_batch"]
    )
    if emails is None:
        if over:
            context_of(request).violations.append(VIOLATION_BATCH)
        return _validation_failed("Validation failed", details, headers)
    removed = sandbox.stores["autosend"].remove_contacts([normalize_email(e) for e in emails])
    answer: dict[str, Any] = {"success": True}
    # The page promises the removed ids but its example shows none: only sent when asked for.
    if sandbox.options.values["autosend_return_ids"]:
        answer["data"] = {"removedIds": removed}
    return json_response(answer, 200, headers)


@router.post("/contact-lists/{contact_list_id}/contacts/remove")
async def remove_from_list(contact_list_id: str, request: Request) -> Response:
    """Remove contacts from one list by ``emails`` or ``contactIds`` (exactly one of them)."""
    sandbox = sandbox_of(request)
    _, failure, headers = _authenticate(request)
    if failure is not None:
        return failure
    if contact_list_id == GLOBAL_LIST:
        message = "Contacts cannot be removed from GLOBAL_CONTACT_LIST; use the Delete Contact API instead"
        return _validation_failed(message, [{"field": "contactListId", "message": message}], headers)
    body = context_of(request).body
    if not isinstance(body, dict):
        return _validation_failed(
            "Invalid request body", [{"field": "body", "message": "must be a JSON object"}], headers
        )
    has_emails, has_ids = body.get("emails") is not None, body.get("contactIds") is not None
    if has_emails == has_ids:
        message = (
            "Provide either emails or contactIds, not both" if has_emails else "Provide emails or contactIds"
        )
        return _validation_failed(message, [{"field": "emails", "message": message}], headers)
    cap = sandbox.options.values["autosend_max_batch"]
    if has_emails:
        values, details, over = _string_array(body, "emails", is_email, "email address", cap)
    else:
        # The page shows 24-hex ids only; anything else is refused (strict reading) rather than "not in list".
        values, details, over = _string_array(body, "contactIds", is_hex24, "contact id", cap)
    if values is None:
        if over:
            context_of(request).violations.append(VIOLATION_BATCH)
        return _validation_failed("Validation failed", details, headers)
    members = sandbox.stores["autosend"].lists.get(contact_list_id)
    if members is None:
        return json_response(error_body("Contact list not found", "NOT_FOUND"), 404, headers)
    if has_emails:
        removed, not_in_list = sandbox.stores["autosend"].remove_from_list(
            members, [normalize_email(v) for v in values], []
        )
    else:
        removed, not_in_list = sandbox.stores["autosend"].remove_from_list(
            members, [], [v.lower() for v in values]
        )
    data = {"removed": removed, "notInList": not_in_list, "errors": []}
    return json_response({"success": True, "data": data}, 200, headers)


SANDBOX = SandboxVendor(
    name="autosend",
    label="AutoSend",
    prefix="/autosend/v1",
    key_header=b"authorization",
    key_scheme="Bearer",
    default_key="sandbox-autosend-key",
    router=router,
    new_store=lambda options: AutoSendStore(),
    parse_seed=parse_seed,
    fault_body=fault_body,
    echo_answer=echo_answer,
    fault_headers=fault_headers,
    options=(
        Option(
            "autosend_rate_limit",
            2,
            COUNT,
            "AutoSend requests per second per key (0 = no limit). The vendor's default is 2.",
            flag_help="requests/second per key, 0 = off",
        ),
        Option(
            "autosend_return_ids",
            False,
            BOOLEAN,
            "add ``data.removedIds`` to AutoSend's account removal answer.",
            flag_help="add data.removedIds to answers",
        ),
        Option(
            "autosend_max_batch",
            1000,
            COUNT,
            "largest AutoSend batch accepted (the vendor documents none; sanity cap).",
            flag_help="largest AutoSend batch accepted",
        ),
    ),
)
