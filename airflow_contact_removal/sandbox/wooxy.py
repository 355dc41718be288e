"""Wooxy: ``POST /contacts/remove`` (asynchronous) and ``POST /request/find``.

Contract: Wooxy's API references for removing a contact and for ``request/find``. Served under ``/wooxy/v3``.

A removal is validated, stored with status ``queued`` and answered ``{"result": true, "requestId"}``. Once
``wooxy_processing_delay`` seconds of server-clock time have passed it is processed and its status becomes
``completed`` with per-contact results. Due requests are processed on every request the sandbox receives
(vendor or control), so every answer and every inspection sees a consistent state. Requests older than
seven days are forgotten. A ``webHookUri`` is stored and shown, never called (no outbound network).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import AMOUNT, COUNT, FRACTION
from airflow_contact_removal.sandbox.common import (
    SeedError,
    all_emails,
    context_of,
    first,
    is_e164,
    is_email,
    is_hex24,
    iso_time,
    json_response,
    normalize_email,
    normalize_emails,
    object_id,
    same_secret,
    sandbox_of,
)
from airflow_contact_removal.sandbox.faults import first_identifier
from airflow_contact_removal.sandbox.records import Pattern, PatternError, Roster
from airflow_contact_removal.sandbox.requestlog import VIOLATION_BATCH
from airflow_contact_removal.sandbox.vendor import Option, SandboxVendor

MAX_RECORDS = 100
MAX_FIND_IDS = 100
RETENTION_SECONDS = 7 * 24 * 3600

STATUS_QUEUED = "queued"
STATUS_COMPLETED = "completed"

NOT_FOUND = "contact not found"
PROCESSING_FAILED = "processing_failed"
HUMAN_ERRORS = {
    NOT_FOUND: "Contact not found in list",
    PROCESSING_FAILED: "Contact could not be removed, try again later",
}

# The page lists "no matches found for access token {accessToken}"; echoing a key is never acceptable,
# so every authentication failure answers the page's other text.
INVALID_TOKEN = "Invalid authorization token!"
TOO_MANY_CONCURRENT = "Too many concurrent requests"

FIELDS = ("email", "phone", "userId")


def _all_phones(values: list[str]) -> bool:
    return all(map(is_e164, values))


def _all_user_ids(values: list[str]) -> bool:
    return all(values)  # non-empty strings


BODY_FIELDS = (
    # body field, record field, "not a list" message, "not a string" message, check of all the values
    (
        "emails",
        "email",
        "Argument emails must be a list of emails",
        "Each email must be a string",
        all_emails,
    ),
    (
        "phoneNumbers",
        "phone",
        "Argument phoneNumbers must be a list of phoneNumbers",
        "Each phoneNumber must be a string",
        _all_phones,
    ),
    (
        "userIds",
        "userId",
        "Argument userIds must be a list of userIds",
        "Each userId must be a string",
        _all_user_ids,
    ),
)

router = APIRouter()


def fault_body(status: int, retry_after: int) -> dict[str, Any]:
    """Body of an injected 429 or 5xx."""
    if status == 429:
        return {"result": False, "errors": [TOO_MANY_CONCURRENT]}
    return {"result": False, "errors": ["Internal server error"]}


def echo_answer(body: Any) -> tuple[int, dict[str, Any]]:
    """The page's "no data found for key {userId}", quoting an identifier of the batch."""
    key = first_identifier(body, "userIds", "emails", "phoneNumbers")
    return 400, {"result": False, "requestId": "0" * 24, "errors": [f"no data found for key {key}"]}


@dataclass(slots=True)
class WooxyRequest:
    """One removal request. Results are kept as tuples and rendered on :meth:`WooxyStore.find`."""

    id: str
    list_id: str
    webhook: str | None
    created: float
    due: float
    #: (record field, values) per body field, in the order they are processed.
    identifiers: list[tuple[str, list[str]]]
    status: str = STATUS_QUEUED
    updated: float = 0.0
    success: list[tuple] = field(default_factory=list)
    errors: list[tuple] = field(default_factory=list)


class WooxyStore:
    """Lists (id -> members with an internal id and any of email, phone, userId) and removal requests.

    :param error_seed: seed of the generator that picks which contacts fail with ``processing_failed``.
    """

    def __init__(self, error_seed: int = 0) -> None:
        self.lists: dict[str, Roster] = {}
        self.requests: dict[str, WooxyRequest] = {}
        self.pending: list[tuple[float, str]] = []
        self.rng = random.Random(error_seed)
        self.in_flight: dict[str, int] = {}

    def submit(
        self,
        request_id: str,
        list_id: str,
        webhook: str | None,
        identifiers: list[tuple[str, list[str]]],
        now: float,
        delay: float,
    ) -> None:
        """Queue a removal. :param identifiers: (record field, values) in request order."""
        request = WooxyRequest(request_id, list_id, webhook, now, now + delay, identifiers, updated=now)
        self.requests[request_id] = request
        heapq.heappush(self.pending, (request.due, request_id))

    def process_due(self, now: float, error_rate: float) -> None:
        """Process every queued request whose time has come, then forget expired ones."""
        while self.pending and self.pending[0][0] <= now:
            _, request_id = heapq.heappop(self.pending)
            request = self.requests.get(request_id)
            if request is not None and request.status == STATUS_QUEUED:
                self._process(request, error_rate)
        cutoff = now - RETENTION_SECONDS
        while self.requests:
            oldest = next(iter(self.requests.values()))
            if oldest.created > cutoff or oldest.status == STATUS_QUEUED:
                break
            del self.requests[oldest.id]

    def _process(self, request: WooxyRequest, error_rate: float) -> None:
        roster = self.lists.get(request.list_id)
        spare = (lambda: self.rng.random() < error_rate) if error_rate else None
        for record_field, values in request.identifiers:
            if roster is None:
                outcomes: list[tuple[dict[str, Any] | None, bool]] = [(None, False)] * len(values)
            else:
                outcomes = roster.remove_records(record_field, values, spare)
            for value, (record, removed) in zip(values, outcomes, strict=True):
                if record is None:
                    contact: dict[str, str | None] = dict.fromkeys(FIELDS)
                    contact[record_field] = value
                    request.errors.append(
                        (NOT_FOUND, (None, contact["email"], contact["phone"], contact["userId"]))
                    )
                    continue
                as_tuple = (record["id"], record["email"], record["phone"], record["userId"])
                if removed:
                    request.success.append(as_tuple)
                else:
                    request.errors.append((PROCESSING_FAILED, as_tuple))
        request.status = STATUS_COMPLETED
        request.updated = request.due
        request.identifiers = []

    def find(self, ids: list[str], now: float) -> tuple[dict[str, Any], list[str]]:
        found: dict[str, Any] = {}
        errors = []
        for request_id in ids:
            request = self.requests.get(request_id)
            if request is None or request.created <= now - RETENTION_SECONDS:
                errors.append(f"Request {request_id} not found")
            else:
                found[request_id] = render_request(request)
        return found, errors

    def summary(self, detail: bool, limit: int) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for request in self.requests.values():
            statuses[request.status] = statuses.get(request.status, 0) + 1
        result: dict[str, Any] = {
            "lists": {list_id: len(roster) for list_id, roster in self.lists.items()},
            "requests": statuses,
        }
        if detail:
            result["detail"] = {
                "lists": {
                    list_id: first(roster.iter_records(), limit) for list_id, roster in self.lists.items()
                }
            }
        return result

    # -- seeding ----------------------------------------------------------------------------------------

    def list_roster(self, list_id: str) -> Roster:
        roster = self.lists.get(list_id)
        if roster is None:
            roster = self.lists[list_id] = Roster(FIELDS)
        return roster

    def apply_seed(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Apply a plan from :func:`parse_seed`. :return: the seeded members with their ids, per list."""
        report: dict[str, list[dict[str, Any] | None]] = {}  # never None: each member was just added
        for list_id, members in plan["lists"].items():
            roster = self.list_roster(list_id)
            seeded = report.setdefault(list_id, [])
            for values, member_id in members:
                member_id, _ = roster.add(values, member_id)
                seeded.append(roster.get(member_id))
        return {"lists": report}

    def generate(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Generate ``count`` members of list ``list`` from ``pattern``/``phone_pattern``/``user_id_pattern``."""
        patterns = {}
        try:
            if spec.get("pattern"):
                patterns["email"] = Pattern(spec["pattern"], lowercase=True)
            if spec.get("phone_pattern"):
                patterns["phone"] = Pattern(spec["phone_pattern"])
            if spec.get("user_id_pattern"):
                patterns["userId"] = Pattern(spec["user_id_pattern"])
            if not patterns:
                raise PatternError("give at least one of pattern, phone_pattern, user_id_pattern")
            if not isinstance(spec.get("list"), str) or not spec["list"]:
                raise PatternError("wooxy generation needs a list id")
            roster = self.list_roster(spec["list"])
            sequence = roster.add_sequence(spec["start"], spec["count"], patterns)
        except PatternError as exc:
            raise SeedError(str(exc)) from None
        count = spec["count"]
        return {
            "vendor": "wooxy",
            "list": spec["list"],
            "count": count,
            "first": _full_record(sequence.record(0)) if count else None,
            "last": _full_record(sequence.record(count - 1)) if count else None,
        }


def _full_record(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], **{name: record.get(name) for name in FIELDS}}


def render_request(request: WooxyRequest) -> dict[str, Any]:
    """The request as ``/request/find`` shows it."""
    return {
        "id": request.id,
        "source": "api",
        "status": request.status,
        "webHookUri": request.webhook,
        "createdAt": iso_time(request.created),
        "updatedAt": iso_time(request.updated),
        "results": {
            "errors": [
                {"error": code, "contact": _contact(contact), "humanError": HUMAN_ERRORS[code]}
                for code, contact in request.errors
            ],
            "success": [_contact(contact) for contact in request.success],
        },
    }


def _contact(values: tuple) -> dict[str, Any]:
    return {"id": values[0], "email": values[1], "phone": values[2], "userId": values[3]}


def parse_seed(section: Any, store: WooxyStore) -> dict[str, Any]:
    """Validate ``{"lists": {listId: [email | {"email"?, "phone"?, "userId"?, "id"?}]}}``."""
    if (
        not isinstance(section, dict)
        or set(section) - {"lists"}
        or not isinstance(section.get("lists", {}), dict)
    ):
        raise SeedError('wooxy section must be {"lists": {listId: [members]}}')
    lists = {}
    for list_id, members in section.get("lists", {}).items():
        if not list_id or not isinstance(members, list):
            raise SeedError("wooxy lists must map a list id to a list of members")
        plan = []
        for member in members:
            if isinstance(member, str):
                member = {"email": member}
            if not isinstance(member, dict) or set(member) - {"email", "phone", "userId", "id"}:
                raise SeedError("wooxy members are emails or {email?, phone?, userId?, id?} objects")
            email, phone, user_id, member_id = (member.get(k) for k in ("email", "phone", "userId", "id"))
            if email is None and phone is None and user_id is None:
                raise SeedError("a wooxy member needs an email, phone or userId")
            if email is not None and not (isinstance(email, str) and is_email(email)):
                raise SeedError("wooxy member email is not an email address")
            if phone is not None and not (isinstance(phone, str) and is_e164(phone)):
                raise SeedError("wooxy member phone must be E.164")
            if user_id is not None and not (isinstance(user_id, str) and user_id):
                raise SeedError("wooxy member userId must be a non-empty string")
            if member_id is not None and not (isinstance(member_id, str) and is_hex24(member_id)):
                raise SeedError("wooxy member id must be 24 hex characters")
            values = {"email": normalize_email(email) if email else None, "phone": phone, "userId": user_id}
            plan.append((values, member_id.lower() if member_id else None))
        lists[list_id] = plan
    return {"lists": lists}


# -- endpoints ------------------------------------------------------------------------------------------


def _authorized(request: Request) -> bool:
    sandbox = sandbox_of(request)
    return same_secret(request.headers.get("access-token"), sandbox.keys["wooxy"])


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_removal(body: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]], int]:
    """Apply the page's rules. :return: (error texts, (record field, values) per body field, record count)."""
    errors = []
    list_id = body.get("contactListId")
    if list_id is None:
        errors.append("Argument contactListId required")
    elif not isinstance(list_id, str) or not list_id.strip():
        errors.append("Argument contactListId must be a non-empty string")
    if body.get("webHookUri") is not None and not _is_uri(body["webHookUri"]):
        errors.append("Argument webHookUri must be a valid URI")
    identifiers: list[tuple[str, list[str]]] = []
    total = 0
    for body_field, record_field, list_message, string_message, all_valid in BODY_FIELDS:
        values = body.get(body_field)
        if values is None:
            continue
        if not isinstance(values, list):
            errors.append(list_message)
            continue
        total += len(values)
        if not all(isinstance(v, str) for v in values):
            errors.append(string_message)
        elif not all_valid(values):
            errors.append(list_message)
        elif values:
            identifiers.append(
                (record_field, normalize_emails(values) if record_field == "email" else list(values))
            )
    if total == 0 and not errors:
        errors.append("add at least one contact to remove")
    # "100 records per transaction" is read as emails + phone numbers + user ids together (the safe reading).
    if total > MAX_RECORDS:
        errors.append(f"Maximum count of records per transaction is {MAX_RECORDS}, current {total}")
    return errors, identifiers, total


@router.post("/contacts/remove")
async def remove_contacts(request: Request) -> Response:
    """Validate and queue a removal from one list."""
    sandbox = sandbox_of(request)
    now = sandbox.clock.now()
    request_id = object_id(now)
    if not _authorized(request):
        return json_response({"result": False, "requestId": request_id, "errors": [INVALID_TOKEN]}, 401)
    body = context_of(request).body
    if not isinstance(body, dict):
        return json_response({"result": False, "requestId": request_id, "errors": ["Bad Request"]}, 400)
    errors, identifiers, total = validate_removal(body)
    if total > MAX_RECORDS:
        context_of(request).violations.append(VIOLATION_BATCH)
    if errors:
        return json_response({"result": False, "requestId": request_id, "errors": errors}, 400)
    list_id = body["contactListId"]
    if list_id not in sandbox.stores["wooxy"].lists:
        # The README warns that result:false may come with HTTP 200: this is that case.
        errors = [f"List with id {list_id} not found!"]
        return json_response({"result": False, "requestId": request_id, "errors": errors}, 200)
    delay = sandbox.options.values["wooxy_processing_delay"]
    sandbox.stores["wooxy"].submit(request_id, list_id, body.get("webHookUri"), identifiers, now, delay)
    return json_response({"result": True, "requestId": request_id})


@router.post("/request/find")
async def find_requests(request: Request) -> Response:
    """Read back removal requests by id (at most 100 ids, seven days)."""
    sandbox = sandbox_of(request)
    if not _authorized(request):
        return json_response({"result": False, "errors": [INVALID_TOKEN]}, 401)
    body = context_of(request).body
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        return json_response({"result": False, "errors": ["Argument ids required"]}, 400)
    if not all(isinstance(i, str) for i in ids):
        return json_response({"result": False, "errors": ["Each id must be a string"]}, 400)
    if len(ids) > MAX_FIND_IDS:
        context_of(request).violations.append(VIOLATION_BATCH)
        message = f"Maximum count of ids per request is {MAX_FIND_IDS}, current {len(ids)}"
        return json_response({"result": False, "errors": [message]}, 400)
    found, errors = sandbox.stores["wooxy"].find(ids, sandbox.clock.now())
    return json_response({"result": True, "requests": found, "errors": errors})


# -- the sandbox's view of Wooxy ----------------------------------------------------------------------------


def _new_store(options: Any) -> WooxyStore:
    return WooxyStore(options.values["wooxy_error_seed"])


def _tick(store: WooxyStore, now: float, options: Any) -> None:
    """Process the due removals and forget the expired ones, before any request sees the state."""
    store.process_due(now, options.values["wooxy_error_rate"])


def _options_changed(store: WooxyStore, options: Any, changed: set[str]) -> None:
    if "wooxy_error_seed" in changed:
        store.rng = random.Random(options.values["wooxy_error_seed"])


SANDBOX = SandboxVendor(
    name="wooxy",
    label="Wooxy",
    prefix="/wooxy/v3",
    key_header=b"access-token",
    key_scheme=None,
    default_key="sandbox-wooxy-key",
    router=router,
    new_store=_new_store,
    parse_seed=parse_seed,
    fault_body=fault_body,
    echo_answer=echo_answer,
    too_many_in_flight={"result": False, "errors": [TOO_MANY_CONCURRENT]},
    options=(
        Option(
            "wooxy_processing_delay",
            0.0,
            AMOUNT,
            "seconds (server clock) before a queued Wooxy removal is processed.",
            flag_help="seconds before processing",
        ),
        Option(
            "wooxy_error_rate",
            0.0,
            FRACTION,
            "fraction of matched Wooxy contacts that fail with ``processing_failed``.",
            flag_help="fraction of contacts that fail",
        ),
        Option(
            "wooxy_error_seed",
            0,
            COUNT,
            "seed of the generator that picks those contacts.",
            flag_help="seed for --wooxy-error-rate",
        ),
        Option(
            "wooxy_max_in_flight",
            10,
            COUNT,
            "concurrent Wooxy requests per key before 429 (the page says 10).",
        ),
    ),
    direct_endpoints=(remove_contacts,),
    tick=_tick,
    options_changed=_options_changed,
)
