"""Parcel in the real sandbox: its router, store and descriptor, plugged in through the vendor registry.

The fifth vendor's conftest registers ``ParcelHook`` with this module as its ``sandbox_module``; any
:class:`~airflow_contact_removal.sandbox.SandboxServer` started afterwards serves Parcel under
``/parcel/v1`` beside the four built-in vendors, with nothing in the package naming it.

Parcel's API as :mod:`tests.fifth_vendor.hook` reads it: ``POST /removals`` queues a removal
(``202 {"ticket": id}``); ``POST /tickets/lookup`` (at most 2 ids) answers each ticket's ``state``:
``queued`` until ``parcel_processing_delay`` seconds of server clock have passed, then ``done`` with the
``removed`` and ``rejected`` contacts. Members are account-wide emails (seed ``{"parcel": {"members":
[...]}}``); the key goes in ``X-Parcel-Key``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import AMOUNT, COUNT
from airflow_contact_removal.sandbox.common import (
    SeedError,
    context_of,
    first,
    is_email,
    json_response,
    normalize_email,
    same_secret,
    sandbox_of,
)
from airflow_contact_removal.sandbox.faults import first_identifier
from airflow_contact_removal.sandbox.requestlog import VIOLATION_BATCH
from airflow_contact_removal.sandbox.vendor import Option, SandboxVendor

MAX_LOOKUP = 2
QUEUED = "queued"
DONE = "done"

router = APIRouter()


@dataclass
class Ticket:
    emails: list[str]
    due: float
    state: str = QUEUED
    removed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


class ParcelStore:
    """Members (emails) and removal tickets."""

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.tickets: dict[str, Ticket] = {}
        self._ids = itertools.count(1)

    def submit(self, emails: list[str], due: float) -> str:
        ticket = f"t-{next(self._ids)}"
        self.tickets[ticket] = Ticket([normalize_email(email) for email in emails], due)
        return ticket

    def process_due(self, now: float) -> None:
        for ticket in self.tickets.values():
            if ticket.state == QUEUED and ticket.due <= now:
                for email in ticket.emails:
                    (ticket.removed if email in self.members else ticket.rejected).append(email)
                    self.members.discard(email)
                ticket.state = DONE

    def summary(self, detail: bool, limit: int) -> dict[str, Any]:
        states: dict[str, int] = {}
        for ticket in self.tickets.values():
            states[ticket.state] = states.get(ticket.state, 0) + 1
        result: dict[str, Any] = {"members": len(self.members), "tickets": states}
        if detail:
            result["detail"] = {"members": first(sorted(self.members), limit)}
        return result

    def apply_seed(self, plan: list[str]) -> dict[str, Any]:
        before = len(self.members)
        self.members.update(plan)
        return {"members": len(self.members) - before}

    def generate(self, spec: dict[str, Any]) -> dict[str, Any]:
        raise SeedError("parcel has no generated data sets")


def parse_seed(section: Any, store: ParcelStore) -> list[str]:
    """Validate ``{"members": [email, ...]}``."""
    members = section.get("members") if isinstance(section, dict) and set(section) <= {"members"} else None
    if not isinstance(members, list) or not all(isinstance(m, str) and is_email(m) for m in members):
        raise SeedError('parcel section must be {"members": [emails]}')
    return [normalize_email(member) for member in members]


def fault_body(status: int, retry_after: int) -> dict[str, Any]:
    return {"error": "slow down" if status == 429 else "internal error"}


def echo_answer(body: Any) -> tuple[int, dict[str, Any]]:
    return 400, {"error": f"not a member: {first_identifier(body, 'emails')}"}


def _refused(request: Request) -> Response | None:
    if same_secret(request.headers.get("x-parcel-key"), sandbox_of(request).keys["parcel"]):
        return None
    return json_response({"error": "bad key"}, 401)


@router.post("/removals")
async def remove(request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    body = context_of(request).body
    emails = body.get("emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        return json_response({"error": "emails must be a non-empty list of strings"}, 400)
    sandbox = sandbox_of(request)
    due = sandbox.clock.now() + sandbox.options.values["parcel_processing_delay"]
    return json_response({"ticket": sandbox.stores["parcel"].submit(emails, due)}, 202)


@router.post("/tickets/lookup")
async def lookup(request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    body = context_of(request).body
    asked = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(asked, list) or not all(isinstance(t, str) for t in asked):
        return json_response({"error": "tickets must be a list of ids"}, 400)
    if len(asked) > MAX_LOOKUP:
        context_of(request).violations.append(VIOLATION_BATCH)
        return json_response({"error": f"at most {MAX_LOOKUP} tickets per lookup"}, 400)
    tickets = sandbox_of(request).stores["parcel"].tickets
    answer: dict[str, Any] = {}
    for ticket_id in asked:
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        if ticket.state == QUEUED:
            answer[ticket_id] = {"state": QUEUED}
            continue
        answer[ticket_id] = {
            "state": DONE,
            "removed": [{"mail": email} for email in ticket.removed],
            "rejected": [
                {"mail": email, "code": "E_NOT_MEMBER", "message": "not a member"}
                for email in ticket.rejected
            ],
        }
    return json_response({"tickets": answer})


def _tick(store: ParcelStore, now: float, options: Any) -> None:
    store.process_due(now)


SANDBOX = SandboxVendor(
    name="parcel",
    label="Parcel",
    prefix="/parcel/v1",
    key_header=b"x-parcel-key",
    key_scheme=None,
    default_key="sandbox-parcel-key",
    router=router,
    new_store=lambda options: ParcelStore(),
    parse_seed=parse_seed,
    fault_body=fault_body,
    echo_answer=echo_answer,
    options=(
        Option("parcel_processing_delay", 0.0, AMOUNT, "seconds (server clock) before a ticket is done."),
        Option("parcel_max_in_flight", 2, COUNT, "concurrent Parcel requests per key before 429."),
    ),
    tick=_tick,
)
