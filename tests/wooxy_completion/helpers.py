"""Builders shared by the Wooxy completion tests."""

from __future__ import annotations

from typing import Any

from airflow_contact_removal.hooks.wooxy import WooxyContactError, WooxyRequestStatus
from airflow_contact_removal.results import BatchResult

KEY = "wx-completion-key-0123456789"


def accepted_record(
    index: int, request_id: str | None, keep: bool = True, **kinds: list[str]
) -> dict[str, Any]:
    """A Wooxy batch record as the operator leaves it when waiting: all accepted, identifiers kept."""
    size = sum(len(values) for values in kinds.values())
    record = BatchResult(
        index=index,
        size=size,
        status="ok",
        kinds={kind: len(values) for kind, values in kinds.items()},
        accepted=size,
        request_id=request_id,
        attempts=1,
        vendor_counts={"result": True},
    ).to_dict()
    record["identifiers"] = {kind: list(values) for kind, values in kinds.items()} if keep else None
    return record


def contact(email=None, phone=None, user_id=None, contact_id="5d915c22d132d5f45a4e38b8") -> dict[str, Any]:
    return {"id": contact_id, "email": email, "phone": phone, "userId": user_id}


def status(request_id: str, state: str = "completed", successes=(), errors=()) -> WooxyRequestStatus:
    """A request status; ``errors`` are ``(contact, error, humanError)`` tuples."""
    return WooxyRequestStatus(
        request_id=request_id,
        status=state,
        successes=list(successes),
        errors=[
            WooxyContactError(error=code, human_error=human, contact=item) for item, code, human in errors
        ],
    )


def find_entry(request_id: str, state: str = "completed", successes=(), errors=()) -> dict[str, Any]:
    """One entry of a ``request/find`` answer, in Wooxy's documented shape."""
    return {
        "id": request_id,
        "source": "api",
        "status": state,
        "webHookUri": None,
        "createdAt": "2026-11-23T10:00:00Z",
        "updatedAt": "2026-11-23T10:00:01Z",
        "results": {
            "errors": [{"error": code, "contact": item, "humanError": human} for item, code, human in errors],
            "success": list(successes),
        },
    }


def find_answer(entries: dict[str, dict[str, Any]], asked: list[str]) -> dict[str, Any]:
    return {
        "result": True,
        "requests": {request_id: entries[request_id] for request_id in asked if request_id in entries},
        "errors": [f"Request {request_id} not found" for request_id in asked if request_id not in entries],
    }


def identity_holds(record: dict[str, Any]) -> bool:
    buckets = record["removed"] + record["not_found"] + record["accepted"] + record["failed"]
    return buckets == record["size"]


def send_batches(hook, list_id: str, batches: list[dict[str, list[str]]]) -> list[dict[str, Any]]:
    """Send removals the way the operator does for Wooxy, and return its records (identifiers kept)."""
    records = []
    for index, batch in enumerate(batches):
        result = hook.remove_from_list(
            list_id,
            emails=batch.get("emails"),
            phone_numbers=batch.get("phone_numbers"),
            user_ids=batch.get("user_ids"),
        )
        records.append(accepted_record(index, result.request_id, **batch))
    return records
