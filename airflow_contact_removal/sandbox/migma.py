"""Migma: ``POST /v1/contacts/bulk-delete`` with optional ``Idempotency-Key``.

Contract: Migma's API reference for batch-deleting contacts. Served under ``/migma``.

State: projects -> contacts (emails, compared case-insensitively). Idempotency answers are kept per API key
for 24 hours of server-clock time. Every answer to an authenticated request is stored under its key except
429 and 5xx; the page says "same key + same body replays the original response (same status and body)", so
400 and 403 answers are replayed too. Injected faults never reach this module, so they are never stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from airflow_contact_removal.sandbox.checks import COUNT
from airflow_contact_removal.sandbox.common import (
    INVALID_JSON,
    SeedError,
    all_emails,
    context_of,
    is_email,
    json_response,
    normalize_email,
    normalize_emails,
    one_per_line,
    same_secret,
    sandbox_of,
    scheme_token,
)
from airflow_contact_removal.sandbox.faults import first_identifier
from airflow_contact_removal.sandbox.records import Pattern, PatternError, Roster
from airflow_contact_removal.sandbox.requestlog import VIOLATION_BATCH
from airflow_contact_removal.sandbox.vendor import Option, SandboxVendor

MAX_EMAILS = 1000
MAX_IDEMPOTENCY_KEY = 100
IDEMPOTENCY_SECONDS = 24 * 3600

router = APIRouter()


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"success": False, "error": message, "code": code}


def fault_body(status: int, retry_after: int) -> dict[str, Any]:
    """Body of an injected 429 or 5xx."""
    if status == 429:
        return error_body("Too many requests", "RATE_LIMITED")
    return error_body("Internal server error", "INTERNAL_ERROR")


def echo_answer(body: Any) -> tuple[int, dict[str, Any]]:
    """Migma's "Invalid email: ..." refusal."""
    email = first_identifier(body, "emails")
    return 400, {"success": False, "error": f"Invalid email: {email}", "code": "VALIDATION_FAILED"}


@dataclass(slots=True)
class StoredAnswer:
    created: float
    fingerprint: str
    status: int
    body: bytes


class MigmaStore:
    """Projects and the idempotency store."""

    def __init__(self) -> None:
        self.projects: dict[str, Roster] = {}
        self.answers: dict[tuple[str, str], StoredAnswer] = {}

    def project(self, project_id: str) -> Roster:
        roster = self.projects.get(project_id)
        if roster is None:
            roster = self.projects[project_id] = Roster(("email",))
        return roster

    def delete(self, roster: Roster, emails: list[str]) -> tuple[int, list[str]]:
        """Delete in order. :return: (deleted count, submitted emails that matched no contact)."""
        removed = roster.remove_values("email", normalize_emails(emails))
        if all(removed):  # the usual batch
            return len(emails), []
        not_found = [email for email, done in zip(emails, removed, strict=True) if not done]
        return len(emails) - len(not_found), not_found

    def stored(self, scope: tuple[str, str], now: float) -> StoredAnswer | None:
        cutoff = now - IDEMPOTENCY_SECONDS
        while self.answers:  # forget expired answers, oldest first
            oldest_scope, oldest = next(iter(self.answers.items()))
            if oldest.created > cutoff:
                break
            del self.answers[oldest_scope]
        return self.answers.get(scope)

    def summary(self, detail: bool, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = {
            "projects": {project_id: len(roster) for project_id, roster in self.projects.items()},
            "idempotency_keys": len(self.answers),
        }
        if detail:
            projects = {}
            for project_id, roster in self.projects.items():
                emails: list[str | None] = []
                for record in roster.iter_records():
                    if len(emails) >= limit:
                        break
                    emails.append(record["email"])
                projects[project_id] = emails
            result["detail"] = {"projects": projects}
        return result

    # -- seeding ----------------------------------------------------------------------------------------

    def apply_seed(self, plan: dict[str, list[str]]) -> dict[str, Any]:
        report = {}
        for project_id, emails in plan.items():
            roster = self.project(project_id)
            report[project_id] = sum(roster.add({"email": email})[1] for email in emails)
        return {"projects": report}

    def generate(self, spec: dict[str, Any]) -> dict[str, Any]:
        project_id = spec.get("project")
        if not isinstance(project_id, str) or not project_id:
            raise SeedError("migma generation needs a project id")
        try:
            pattern = Pattern(spec.get("pattern"), lowercase=True)
            sequence = self.project(project_id).add_sequence(spec["start"], spec["count"], {"email": pattern})
        except PatternError as exc:
            raise SeedError(str(exc)) from None
        count = spec["count"]
        return {
            "vendor": "migma",
            "project": project_id,
            "count": count,
            "first": sequence.record(0)["email"] if count else None,
            "last": sequence.record(count - 1)["email"] if count else None,
        }


def parse_seed(section: Any, store: MigmaStore) -> dict[str, list[str]]:
    """Validate ``{"projects": {projectId: [email, ...]}}``."""
    if not isinstance(section, dict) or set(section) - {"projects"}:
        raise SeedError('migma section must be {"projects": {projectId: [emails]}}')
    projects = section.get("projects") or {}
    if not isinstance(projects, dict):
        raise SeedError("migma projects must be an object")
    plan = {}
    for project_id, emails in projects.items():
        if not project_id or not isinstance(emails, list):
            raise SeedError("migma projects map a project id to a list of emails")
        if not all(isinstance(e, str) and is_email(e) for e in emails):
            raise SeedError(f"migma project {project_id} must hold email addresses only")
        plan[project_id] = [normalize_email(e) for e in emails]
    return plan


# -- endpoint -------------------------------------------------------------------------------------------


def _fingerprint(body: Any, raw: bytes) -> str:
    """Same body = same JSON value (key order and whitespace do not matter); non-JSON compares bytes."""
    if body is INVALID_JSON:
        return hashlib.sha256(b"raw:" + raw).hexdigest()
    text = _batch_text(body)
    if text is None:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _batch_text(body: Any) -> str | None:
    """The usual body, ``{"emails": [str, ...], "projectId": str}``, as a text no other value makes.

    Canonical JSON of 1000 emails is most of a fingerprint's cost. For this shape, the email count, the
    project id after its length, and the emails one per line (only when none holds a line break) name the
    value just as exactly, for a third of the cost. Any other body, including one with more keys, gets
    canonical JSON, which never starts with ``batch:``; so two bodies still share a fingerprint exactly when
    they are the same JSON value. Like canonical JSON, the text fails to encode for a lone surrogate.

    :return: the text, or None for any other body.
    """
    if not isinstance(body, dict) or body.keys() != {"emails", "projectId"}:
        return None
    emails, project_id = body["emails"], body["projectId"]
    if not isinstance(emails, list) or not isinstance(project_id, str):
        return None
    lines = one_per_line(emails)  # None: no emails, one is not a string or holds a line break
    if lines is None:
        return None
    return f"batch:{len(emails)}:{len(project_id)}:{project_id}\n{lines}"


def _bulk_delete(request: Request) -> tuple[int, dict[str, Any]]:
    sandbox = sandbox_of(request)
    context = context_of(request)
    body = context.body
    if not isinstance(body, dict):
        return 400, error_body("Request body must be a JSON object", "VALIDATION_ERROR")
    project_id, emails = body.get("projectId"), body.get("emails")
    if not isinstance(project_id, str) or not project_id.strip():
        return 400, error_body("projectId is required", "VALIDATION_ERROR")
    if not isinstance(emails, list) or not emails:
        return 400, error_body(
            f"emails must be an array of 1 to {MAX_EMAILS} email addresses", "VALIDATION_ERROR"
        )
    if len(emails) > MAX_EMAILS:
        context.violations.append(VIOLATION_BATCH)
        message = f"emails must contain at most {MAX_EMAILS} items, got {len(emails)}"
        return 400, error_body(message, "VALIDATION_ERROR")
    if not all_emails(emails):  # one check for the usual batch; this loop finds the first bad one
        for index, email in enumerate(emails):
            if not isinstance(email, str) or not is_email(email.strip()):
                return 400, error_body(f"emails[{index}] is not a valid email address", "VALIDATION_ERROR")
    roster = sandbox.stores["migma"].projects.get(project_id)
    if roster is None:
        return 403, error_body("Project not found or access denied", "FORBIDDEN")
    deleted, not_found = sandbox.stores["migma"].delete(roster, emails)
    return 200, {"success": True, "data": {"deleted": deleted, "notFound": not_found}, "error": None}


@router.post("/v1/contacts/bulk-delete")
async def bulk_delete(request: Request) -> Response:
    """Delete up to 1000 contacts of a project by email; replays answers for a repeated Idempotency-Key."""
    sandbox = sandbox_of(request)
    key = scheme_token(request.headers.get("authorization"), "Bearer")
    if key is None or not same_secret(key, sandbox.keys["migma"]):
        return json_response(error_body("Invalid or missing API key", "UNAUTHORIZED"), 401)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is None:
        status, body = _bulk_delete(request)
        return json_response(body, status)
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        message = f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        return json_response(error_body(message, "VALIDATION_ERROR"), 400)
    context = context_of(request)
    # Scoped per API key; the store keeps a digest of the key, not the key.
    scope = (hashlib.sha256(key.encode()).hexdigest(), idempotency_key)
    fingerprint = _fingerprint(context.body, context.raw)
    now = sandbox.clock.now()
    stored = sandbox.stores["migma"].stored(scope, now)
    if stored is not None:
        if stored.fingerprint != fingerprint:
            message = "Idempotency-Key was already used with a different request body"
            return json_response(error_body(message, "IDEMPOTENCY_CONFLICT"), 409)
        return Response(
            content=stored.body,
            status_code=stored.status,
            headers={"Idempotent-Replayed": "true"},
            media_type="application/json",
        )
    status, body = _bulk_delete(request)
    response = json_response(body, status)
    if status != 429 and status < 500:
        sandbox.stores["migma"].answers[scope] = StoredAnswer(now, fingerprint, status, bytes(response.body))
    return response


SANDBOX = SandboxVendor(
    name="migma",
    label="Migma",
    prefix="/migma",
    key_header=b"authorization",
    key_scheme="Bearer",
    default_key="sandbox-migma-key",
    router=router,
    new_store=lambda options: MigmaStore(),
    parse_seed=parse_seed,
    fault_body=fault_body,
    echo_answer=echo_answer,
    options=(
        Option(
            "migma_max_in_flight",
            8,
            COUNT,
            "concurrent Migma requests per key before 429 (``MigmaHook.max_in_flight``, 8). 0 = no limit.",
        ),
    ),
    direct_endpoints=(bulk_delete,),
)
