"""Bird: ``DELETE /workspaces/{workspaceId}/lists/{listId}/contacts`` (and ``POST``, which ADDS).

Contract: Bird's API reference for removing contacts from a list. Served under ``/bird``.

State: workspaces (uuid) with contacts (uuid, ``emailaddress``, ``phonenumber``) and lists (uuid -> set of
contact ids). ``DELETE`` removes list memberships only; contacts stay in the workspace. ``POST`` on the same
path adds contacts to the list, as the real platform does: it exists so tests can prove a client never uses
it to remove. Every ``POST`` is counted as a limit violation in the statistics.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import COUNT
from airflow_contact_removal.sandbox.common import (
    SeedError,
    context_of,
    first,
    is_e164,
    is_email,
    is_uuid,
    json_response,
    normalize_email,
    same_secret,
    sandbox_of,
    scheme_token,
)
from airflow_contact_removal.sandbox.faults import first_identifier
from airflow_contact_removal.sandbox.records import ID_UUID, MemberSet, Pattern, PatternError, Roster
from airflow_contact_removal.sandbox.requestlog import VIOLATION_BATCH, VIOLATION_BIRD_POST
from airflow_contact_removal.sandbox.vendor import Option, SandboxVendor

MAX_ITEMS = 100
FIELDS = ("emailaddress", "phonenumber")

router = APIRouter()

LIST_PATH = "/workspaces/{workspace_id}/lists/{list_id}/contacts"


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def fault_body(status: int, retry_after: int) -> dict[str, Any]:
    """Body of an injected 429 or 5xx."""
    if status == 429:
        return error_body("TooManyRequests", "Too many requests, retry later")
    return error_body("InternalServerError", "Internal server error")


def echo_answer(body: Any) -> tuple[int, dict[str, Any]]:
    """Bird's 422 naming the identifier it could not process."""
    value = first_identifier(body, "identifiers", "contacts")
    return 422, {"code": "InvalidPayload", "message": f"identifier {value} cannot be processed"}


class BirdWorkspace:
    """Contacts and lists of one workspace."""

    def __init__(self) -> None:
        self.contacts = Roster(FIELDS, ID_UUID)
        self.lists: dict[str, MemberSet] = {}

    def list_members(self, list_id: str) -> MemberSet:
        members = self.lists.get(list_id)
        if members is None:
            members = self.lists[list_id] = MemberSet(self.contacts)
        return members


class BirdStore:
    """All workspaces."""

    def __init__(self) -> None:
        self.workspaces: dict[str, BirdWorkspace] = {}

    def workspace(self, workspace_id: str) -> BirdWorkspace:
        workspace = self.workspaces.get(workspace_id)
        if workspace is None:
            workspace = self.workspaces[workspace_id] = BirdWorkspace()
        return workspace

    def summary(self, detail: bool, limit: int) -> dict[str, Any]:
        workspaces = {}
        for workspace_id, workspace in self.workspaces.items():
            entry: dict[str, Any] = {
                "contacts": len(workspace.contacts),
                "lists": {list_id: len(members) for list_id, members in workspace.lists.items()},
            }
            if detail:
                entry["detail"] = {
                    "contacts": first(workspace.contacts.iter_records(), limit),
                    "lists": {
                        list_id: first(members.iter_ids(), limit)
                        for list_id, members in workspace.lists.items()
                    },
                }
            workspaces[workspace_id] = entry
        return {"workspaces": workspaces}

    # -- seeding ----------------------------------------------------------------------------------------

    def apply_seed(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Apply a plan from :func:`parse_seed`. :return: seeded contacts (with ids) per workspace."""
        report: dict[str, Any] = {}
        for workspace_id, section in plan.items():
            workspace = self.workspace(workspace_id)
            seeded: dict[str, dict[str, Any] | None] = {}  # never None: each contact was just added
            for values, contact_id in section["contacts"]:
                contact_id, _ = workspace.contacts.add(values, contact_id)
                seeded[contact_id] = workspace.contacts.get(contact_id)
            for list_id, entries in section["lists"].items():
                members = workspace.list_members(list_id)
                for field, value in entries:
                    if field == "id":
                        contact_id = value  # checked by parse_seed
                    else:
                        contact_id, _ = workspace.contacts.add({field: value})
                        seeded[contact_id] = workspace.contacts.get(contact_id)
                    members.add(contact_id)
            report[workspace_id] = {"contacts": list(seeded.values())}
        return {"workspaces": report}

    def generate(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Generate ``count`` contacts in ``workspace``, all members of ``list``."""
        workspace_id, list_id = spec.get("workspace"), spec.get("list")
        if not (isinstance(workspace_id, str) and is_uuid(workspace_id)):
            raise SeedError("bird generation needs a workspace uuid")
        if not (isinstance(list_id, str) and is_uuid(list_id)):
            raise SeedError("bird generation needs a list uuid")
        patterns = {}
        try:
            if spec.get("pattern"):
                patterns["emailaddress"] = Pattern(spec["pattern"], lowercase=True)
            if spec.get("phone_pattern"):
                patterns["phonenumber"] = Pattern(spec["phone_pattern"])
            if not patterns:
                raise PatternError("give at least one of pattern, phone_pattern")
            workspace = self.workspace(workspace_id.lower())
            sequence = workspace.contacts.add_sequence(spec["start"], spec["count"], patterns)
        except PatternError as exc:
            raise SeedError(str(exc)) from None
        workspace.list_members(list_id.lower()).add_sequence(sequence)
        count = spec["count"]
        return {
            "vendor": "bird",
            "workspace": workspace_id.lower(),
            "list": list_id.lower(),
            "count": count,
            "first": _record(sequence.record(0)) if count else None,
            "last": _record(sequence.record(count - 1)) if count else None,
        }


def _record(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], **{name: record.get(name) for name in FIELDS}}


def _parse_identifier(value: Any) -> tuple[str, str] | None:
    """A seed list entry: contact uuid, email address or E.164 phone number."""
    if not isinstance(value, str):
        return None
    if is_uuid(value):
        return "id", value.lower()
    if is_email(value):
        return "emailaddress", normalize_email(value)
    if is_e164(value):
        return "phonenumber", value
    return None


def parse_seed(section: Any, store: BirdStore) -> dict[str, Any]:
    """Validate ``{"workspaces": {uuid: {"contacts": [...], "lists": {uuid: [uuid | email | phone]}}}}``.

    :param store: current state, read only: list entries may name contact ids seeded earlier.
    """
    if not isinstance(section, dict) or set(section) - {"workspaces"}:
        raise SeedError('bird section must be {"workspaces": {...}}')
    workspaces = section.get("workspaces") or {}
    if not isinstance(workspaces, dict):
        raise SeedError("bird workspaces must be an object")
    plan = {}
    for workspace_id, workspace in workspaces.items():
        if (
            not is_uuid(workspace_id)
            or not isinstance(workspace, dict)
            or set(workspace) - {"contacts", "lists"}
        ):
            raise SeedError('bird workspaces map a uuid to {"contacts": [...], "lists": {...}}')
        contacts = []
        for contact in workspace.get("contacts") or []:
            if not isinstance(contact, dict) or set(contact) - {"id", "emailaddress", "phonenumber"}:
                raise SeedError("bird contacts are {id?, emailaddress?, phonenumber?} objects")
            contact_id, email, phone = (contact.get(k) for k in ("id", "emailaddress", "phonenumber"))
            if contact_id is not None and not (isinstance(contact_id, str) and is_uuid(contact_id)):
                raise SeedError("bird contact ids must be uuids")
            if email is None and phone is None:
                raise SeedError("a bird contact needs an emailaddress or a phonenumber")
            if email is not None and not (isinstance(email, str) and is_email(email)):
                raise SeedError("bird emailaddress is not an email address")
            if phone is not None and not (isinstance(phone, str) and is_e164(phone)):
                raise SeedError("bird phonenumber must be E.164")
            values = {"emailaddress": normalize_email(email) if email else None, "phonenumber": phone}
            contacts.append((values, contact_id.lower() if contact_id else None))
        lists: dict[str, list[tuple[str, str]]] = {}
        for list_id, entries in (workspace.get("lists") or {}).items():
            parsed = [_parse_identifier(entry) for entry in entries] if isinstance(entries, list) else [None]
            identifiers = [item for item in parsed if item is not None]
            if not is_uuid(list_id) or len(identifiers) != len(parsed):
                raise SeedError("bird lists map a uuid to contact uuids, emails or E.164 phone numbers")
            lists[list_id.lower()] = identifiers
        known = {contact_id for _, contact_id in contacts}
        existing = store.workspaces.get(workspace_id.lower())
        for entries in lists.values():
            for field, value in entries:
                unknown = value not in known and (existing is None or not existing.contacts.has_id(value))
                if field == "id" and unknown:
                    raise SeedError(f"bird workspace {workspace_id}: contact {value} is not a seeded contact")
        plan[workspace_id.lower()] = {"contacts": contacts, "lists": lists}
    return plan


# -- endpoints ------------------------------------------------------------------------------------------


def _validate(body: Any) -> tuple[list[str], list[tuple[str, str]], str | None, int]:
    """:return: (contact ids, (field, value) identifiers, error message or None, item count)."""
    if not isinstance(body, dict):
        return [], [], "Request body must be a JSON object", 0
    contacts, identifiers = body.get("contacts"), body.get("identifiers")
    if contacts is not None and not isinstance(contacts, list):
        return [], [], "contacts must be an array of contact ids or null", 0
    if identifiers is not None and not isinstance(identifiers, list):
        return [], [], "identifiers must be an array of identifiers or null", 0
    contacts, identifiers = contacts or [], identifiers or []
    total = len(contacts) + len(identifiers)
    if total == 0:
        return [], [], "Provide at least one contact id or identifier", 0
    if total > MAX_ITEMS:
        return (
            [],
            [],
            f"Maximum combined count of contacts and identifiers is {MAX_ITEMS}, got {total}",
            total,
        )
    if not all(isinstance(c, str) and is_uuid(c) for c in contacts):
        return [], [], "contacts must be contact ids (UUIDs)", total
    parsed = []
    for identifier in identifiers:
        # Only the two keys the page shows are accepted (strict reading); other keys are a 422.
        if not isinstance(identifier, dict) or set(identifier) != {"key", "value"}:
            return [], [], "identifiers must be {key, value} objects", total
        key, value = identifier["key"], identifier["value"]
        if key == "emailaddress" and isinstance(value, str) and is_email(value):
            parsed.append(("emailaddress", normalize_email(value)))
        elif key == "phonenumber" and isinstance(value, str) and is_e164(value):
            parsed.append(("phonenumber", value))
        else:
            return (
                [],
                [],
                "identifiers must be emailaddress or phonenumber (E.164) keys with valid values",
                total,
            )
    return [c.lower() for c in contacts], parsed, None, total


def _prepare(request: Request, workspace_id: str, list_id: str) -> tuple[Any, Response | None]:
    """Authenticate, validate and find the list. :return: ((workspace, members, ids, identifiers), error)."""
    sandbox = sandbox_of(request)
    key = scheme_token(request.headers.get("authorization"), "AccessKey")
    if not same_secret(key, sandbox.keys["bird"]):
        return None, json_response(error_body("Unauthorized", "Missing or invalid access key"), 401)
    context = context_of(request)
    contact_ids, identifiers, problem, total = _validate(context.body)
    if total > MAX_ITEMS:
        context.violations.append(VIOLATION_BATCH)
    if problem is not None:
        return None, json_response(error_body("InvalidPayload", problem), 422)
    # The body is checked before the path ids (422 before 404); a path id that is not a uuid is unknown (404).
    workspace = sandbox.stores["bird"].workspaces.get(workspace_id.lower())
    if workspace is None:
        return None, json_response(error_body("NotFound", "Workspace not found"), 404)
    members = workspace.lists.get(list_id.lower())
    if members is None:
        return None, json_response(error_body("NotFound", "List not found"), 404)
    return (workspace, members, contact_ids, identifiers), None


@router.delete(LIST_PATH)
async def remove_from_list(workspace_id: str, list_id: str, request: Request) -> Response:
    """Remove contacts from the list. ``itemsProcessed`` counts the memberships actually removed."""
    prepared, failure = _prepare(request, workspace_id, list_id)
    if failure is not None:
        return failure
    workspace, members, contact_ids, identifiers = prepared
    processed = 0
    for contact_id in contact_ids:
        if members.discard(contact_id):
            processed += 1
    for field, value in identifiers:
        contact_id = workspace.contacts.find(field, value)
        if contact_id is not None and members.discard(contact_id):
            processed += 1
    return json_response({"itemsProcessed": processed})


@router.post(LIST_PATH)
async def add_to_list(workspace_id: str, list_id: str, request: Request) -> Response:
    """ADD contacts to the list (the vendor's real behaviour for POST); unknown identifiers become contacts.

    ``itemsProcessed`` counts the memberships actually added; unknown contact ids are not processed.
    """
    context_of(request).violations.append(VIOLATION_BIRD_POST)
    prepared, failure = _prepare(request, workspace_id, list_id)
    if failure is not None:
        return failure
    workspace, members, contact_ids, identifiers = prepared
    processed = 0
    for contact_id in contact_ids:
        if workspace.contacts.has_id(contact_id) and members.add(contact_id):
            processed += 1
    for field, value in identifiers:
        contact_id, _ = workspace.contacts.add({field: value})
        if members.add(contact_id):
            processed += 1
    return json_response({"itemsProcessed": processed})


SANDBOX = SandboxVendor(
    name="bird",
    label="Bird",
    prefix="/bird",
    key_header=b"authorization",
    key_scheme="AccessKey",
    default_key="sandbox-bird-key",
    router=router,
    new_store=lambda options: BirdStore(),
    parse_seed=parse_seed,
    fault_body=fault_body,
    echo_answer=echo_answer,
    options=(
        Option(
            "bird_max_in_flight",
            5,
            COUNT,
            "concurrent Bird requests per key before 429. Bird documents no cap; 5 is the cap this provider "
            "chose (``BirdHook.max_in_flight``), held strictly so tests can show that every task on one key "
            "together stays within it. 0 = no limit.",
        ),
    ),
)
