"""Reading a vendor's answer without repeating it: error details, scrubbing, and what a failed attempt means.

A vendor's error text may quote the API key or the identifiers that were sent: they are taken out
here before any text reaches a log, an exception or XCom. A body is only ever described (its size
and content type), never shown.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from airflow_contact_removal.exceptions import VendorAPIError
from airflow_contact_removal.hooks.retry import TransientFailure
from airflow_contact_removal.identifiers import redact

_NOT_JSON = object()


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _describe_body(response: requests.Response) -> str:
    """A description of a body that reveals nothing of its content (it may hold personal data)."""
    content_type = response.headers.get("Content-Type", "no content type").split(";")[0]
    return f"{len(response.content)} bytes of {content_type}" if response.content else "empty body"


def _connection_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Connection reset",
        "RemoteDisconnected",
        "IncompleteRead",
        "Connection aborted",
        "Name or service not known",
        "SSL",
    ):
        if marker in text:
            return marker
    return type(exc).__name__


def _scrub(value: Any, secret: str) -> Any:
    """``value`` (a parsed JSON body) with every occurrence of ``secret`` in its strings replaced."""
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, dict):
        return {_scrub(key, secret): _scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    return value


def _short(value: object, limit: int = 2000) -> str | None:
    # Generous here: the text is cut to 300 characters only after identifiers are taken out, so a
    # cut never leaves half an email address behind.
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


_MESSAGE_LIMIT = 300


def _sent_identifiers(sent: Any, found: set[str]) -> set[str]:
    """Every string inside a list of the request body (the batch's identifiers, whatever the vendor)."""
    if isinstance(sent, dict):
        for value in sent.values():
            if isinstance(value, list | dict):
                _sent_identifiers(value, found)
    elif isinstance(sent, list):
        for item in sent:
            if isinstance(item, str):
                found.add(item)
            elif isinstance(item, dict):  # Bird's {"key": ..., "value": ...}
                value = item.get("value")
                if isinstance(value, str):
                    found.add(value)
    return found


def scrub_identifiers(text: str, sent: Any = None, limit: int = _MESSAGE_LIMIT) -> str:
    """
    ``text`` (vendor error text) with identifiers taken out (:func:`~airflow_contact_removal.identifiers.redact`,
    the request body ``sent`` naming the batch's own), cut to ``limit`` characters after.
    """
    text = redact(text, _sent_identifiers(sent, set()) if sent is not None else ())
    return text if len(text) <= limit else text[:limit] + "..."


def raise_attempt_error(exc: BaseException, vendor: str, attempts: int) -> None:
    """
    Raise what the exception an attempt ended with means: :class:`TransientFailure` for a timeout or
    a dropped connection (retried), a permanent :class:`VendorAPIError` for TLS (``stops_run``) or
    another request error, and anything else as it is (a bug must not be retried).
    """
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate that does not verify, or a TLS protocol failure, is the same for every
        # request of the run: permanent, and it stops the run.
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            reason = (
                "TLS failed: certificate verification failed; not retried: set the connection's "
                "'verify' extra to the CA bundle that signed the server's certificate"
            )
        else:
            reason = (
                "TLS failed (certificate or protocol error); not retried: check the host and "
                "the 'verify' CA bundle"
            )
        raise VendorAPIError(
            reason,
            vendor=vendor,
            attempts=attempts,
            stops_run=True,
        ) from None
    if isinstance(exc, requests.Timeout):
        raise TransientFailure(f"timed out ({type(exc).__name__})") from None
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        # Includes a connection dropped mid-answer: the request may or may not have been
        # processed, and sending a removal again is safe (Migma's is keyed for replay).
        raise TransientFailure(f"connection failed ({_connection_reason(exc)})") from None
    if isinstance(exc, requests.RequestException):
        # An invalid URL or header, a body that cannot be decoded...: no retry cures it.
        raise VendorAPIError(
            f"request failed ({type(exc).__name__})",
            vendor=vendor,
            attempts=attempts,
            stops_run=isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidHeader),
        ) from None
