"""Exceptions raised by the contact-removal provider.

Every failure that comes back from a vendor is a :class:`VendorAPIError`; every request refused before
it is sent (bad argument, bad connection) is a :class:`ContactRemovalConfigError`. Neither ever carries
the API key: messages are built from the status, the vendor's error code and a short, sanitised
message.
"""

from __future__ import annotations

from airflow_contact_removal._compat import AirflowException, AirflowFailException


class ContactRemovalError(AirflowException):
    """Base class of every error raised by this provider."""


class ContactRemovalConfigError(ContactRemovalError, AirflowFailException, ValueError):
    """
    A request, argument or connection was refused before any HTTP call was made.

    It is an :class:`~airflow.sdk.exceptions.AirflowFailException`: retrying the task cannot cure
    it, so Airflow fails the task without using up its retries.
    """


class VendorAPIError(ContactRemovalError):
    """
    A vendor call failed: a non-retryable answer, retries exhausted, or an undocumented answer.

    :param message: what went wrong, in one line, without the key or any identifier.
    :param vendor: the vendor's short name (``autosend``, ``wooxy``, ``bird``, ``migma``).
    :param status_code: the HTTP status of the last answer, or ``None`` when no answer came
        (timeout, connection reset).
    :param vendor_code: the vendor's machine-readable error code, when it gave one.
    :param vendor_message: the vendor's human-readable error message, when it gave one.
    :param attempts: how many times the request was sent.
    :param retryable: whether the failure was transient (retries ran out) rather than a refusal.
    :param stops_run: whether the answer says no other batch of the run can succeed either (the key
        is refused, the account may not do this, the list does not exist): the run stops sending.
    """

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        status_code: int | None = None,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        attempts: int = 1,
        retryable: bool = False,
        stops_run: bool = False,
    ) -> None:
        self.message = message
        self.vendor = vendor
        # AirflowException declares status_code an HTTPStatus; a vendor error may have no status.
        self.status_code = status_code  # type: ignore[assignment]
        self.vendor_code = vendor_code
        self.vendor_message = vendor_message
        self.attempts = attempts
        self.retryable = retryable
        self.stops_run = stops_run
        super().__init__(str(self))

    def __str__(self) -> str:
        status = self.status_code if self.status_code is not None else "no answer"
        parts = [f"{self.vendor}: {self.message} (HTTP {status}"]
        if self.vendor_code:
            parts.append(f", code {self.vendor_code}")
        parts.append(f", {self.attempts} attempt{'s' if self.attempts != 1 else ''})")
        text = "".join(parts)
        if self.vendor_message and self.vendor_message not in self.message:
            text += f": {self.vendor_message}"
        return text

    def __reduce__(self):
        # Keep the exception picklable (Airflow may ship it between processes).
        return (
            _rebuild_vendor_api_error,
            (
                self.message,
                self.vendor,
                self.status_code,
                self.vendor_code,
                self.vendor_message,
                self.attempts,
                self.retryable,
                self.stops_run,
            ),
        )


def _rebuild_vendor_api_error(
    message, vendor, status_code, vendor_code, vendor_message, attempts, retryable, stops_run=False
):
    return VendorAPIError(
        message,
        vendor=vendor,
        status_code=status_code,
        vendor_code=vendor_code,
        vendor_message=vendor_message,
        attempts=attempts,
        retryable=retryable,
        stops_run=stops_run,
    )
