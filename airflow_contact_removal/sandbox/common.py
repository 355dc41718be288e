"""Small helpers shared by the vendor modules: JSON answers, auth headers, identifier checks, ids."""

from __future__ import annotations

import hmac
import json
import os
import re
import time
from datetime import UTC, datetime
from itertools import count, islice
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

# Deliberately simple: one "@", no whitespace, a dot in the domain. Real vendors are at least this strict.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The same rule for a batch of ASCII emails, one per line (see all_emails). In ASCII text, \s (str.isspace)
# is exactly these characters, and an explicit class is much cheaper to test than the Unicode category.
_ASCII_PART = r"[^@\t\n\x0b\x0c\r\x1c-\x1f ]+"
_ASCII_EMAIL = rf"(?>{_ASCII_PART}@{_ASCII_PART}\.{_ASCII_PART})"
_ASCII_EMAIL_LINES = re.compile(_ASCII_EMAIL + r"(?:\n" + _ASCII_EMAIL + ")*")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")

_id_counter = count(int.from_bytes(os.urandom(3), "big"))
_id_process = os.urandom(5).hex()


class SeedError(ValueError):
    """A seed document or generator request is invalid (answered with HTTP 400)."""


class Missing:
    """Marker for "no body" / "body is not JSON" so handlers can tell it apart from ``null``."""

    def __repr__(self) -> str:
        return "<invalid json>"


INVALID_JSON = Missing()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise ``body`` compactly and answer it with ``status``."""
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content=content, status_code=status, headers=headers, media_type="application/json")


def sandbox_of(request: Request) -> Any:
    """Return the :class:`~airflow_contact_removal.sandbox.state.Sandbox` serving ``request``."""
    return request.app.state.sandbox


def context_of(request: Request) -> Any:
    """Return the per-request :class:`~airflow_contact_removal.sandbox.middleware.RequestContext`."""
    return request.scope["sandbox.ctx"]


def scheme_token(header_value: str | None, scheme: str) -> str | None:
    """Return the credential of an ``Authorization: <scheme> <token>`` header, or None if the form differs.

    The scheme is compared case-insensitively (RFC 9110); anything else, e.g. ``Bearer`` where ``AccessKey``
    is expected, is no credential at all.
    """
    if not header_value:
        return None
    parts = header_value.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != scheme.lower():
        return None
    return parts[1].strip() or None


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of an API key."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def one_per_line(values: list[Any]) -> str | None:
    """The values joined by line breaks, when each line of the text is exactly one value.

    The batch fast paths (:func:`all_emails`, Migma's fingerprint, ``Pattern.parse_all``) read such a
    text with one regular expression or hash it whole instead of handling each value.

    :return: the text; None when there are no values, a value is not a string, or a value holds a line
        break (the text would then have one line too many).
    """
    try:
        text = "\n".join(values)
    except TypeError:  # a value that is not a string
        return None
    return text if values and text.count("\n") == len(values) - 1 else None


def all_emails(values: list[Any]) -> bool:
    """Whether every value is a string that :func:`is_email` accepts as it is (not stripped).

    The same as ``all(isinstance(v, str) and is_email(v) for v in values)``, about twice as fast for a batch:
    ASCII values are joined one per line (:func:`one_per_line`; no valid email holds a line break) and
    checked by one regular expression, with no match object per value. Each email in it is an atomic
    group: the first way it matches a line is the only one that can reach the line's end, so a batch that
    fails is rejected without trying other ways (linear time).
    """
    text = one_per_line(values)
    if text is not None and text.isascii():
        return _ASCII_EMAIL_LINES.fullmatch(text) is not None
    return all(isinstance(value, str) and _EMAIL.fullmatch(value) is not None for value in values)


def is_e164(value: str) -> bool:
    return _E164.fullmatch(value) is not None


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def is_hex24(value: str) -> bool:
    return _HEX24.fullmatch(value) is not None


def normalize_email(value: str) -> str:
    """Emails are compared trimmed and case-insensitively by every vendor in the sandbox."""
    return value.strip().lower()


def normalize_emails(values: list[str]) -> list[str]:
    """``[normalize_email(value) for value in values]`` without a function call per value."""
    return [value.strip().lower() for value in values]


def object_id(now: float | None = None) -> str:
    """A 24-hex id in the MongoDB ObjectId layout: seconds, process-random part, counter."""
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    return f"{seconds:08x}{_id_process}{next(_id_counter) & 0xFFFFFF:06x}"


def random_hex24() -> str:
    return os.urandom(12).hex()


def iso_time(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2024-05-01T12:00:00.000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def batch_size(body: Any) -> int | None:
    """Number of identifiers in a vendor request body (never the identifiers themselves)."""
    if not isinstance(body, dict):
        return None
    total = 0
    for field in ("emails", "contactIds", "phoneNumbers", "userIds", "contacts", "identifiers", "ids"):
        value = body.get(field)
        if isinstance(value, list):
            total += len(value)
    return total


def first(items, limit: int) -> list:
    """At most ``limit`` items of an iterable (for the state's ``detail`` listings)."""
    return list(islice(items, limit))
