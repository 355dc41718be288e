"""What counts as a transient fault, and how long to wait before trying again."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

import requests

from airflow_contact_removal.hooks.rate_limit import RateWindow

#: HTTP statuses that are retried: rate limited, and the server-side faults a retry can cure.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientFailure(Exception):
    """
    One attempt failed in a way a retry may cure (429, 5xx, timeout, reset).

    Internal to the hooks: when retries run out it becomes a
    :class:`~airflow_contact_removal.exceptions.VendorAPIError`.
    """

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.response = response


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """
    Read a ``Retry-After`` value: delay-seconds or an HTTP-date.

    Returns the number of seconds to wait (``0.0`` for a date in the past or a negative number), or
    ``None`` when the value is missing or cannot be read, in which case the caller falls back to its
    own back-off. Capping a huge value is the caller's job.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if parsed is None or parsed.tzinfo is None:
                return None
            seconds = parsed.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` header of an answer, in seconds, if it has a readable one."""
    return parse_retry_after(headers.get("Retry-After"))


#: A ``X-RateLimit-Reset`` at least this large is a Unix time; a smaller one is seconds from now.
_EPOCH_FROM = 1_000_000_000


def rate_window_from_headers(
    headers: Mapping[str, str], *, window: float, now: float | None = None
) -> RateWindow | None:
    """
    The rate window an answer's ``X-RateLimit-Reset`` and ``X-RateLimit-Remaining`` describe.

    The reset is read as a Unix time when it is one (a vendor's page rarely says whether it is a
    time or a delay; both are read), else as seconds from now. What is left of the window is capped
    at ``window``, the vendor's window length: a reset further away is a clock that differs from
    ours, and holding every request for it would stall the run.

    :param window: the vendor's window, in seconds.
    :param now: the Unix time to count from (default: the clock's).
    """
    reset = headers.get("X-RateLimit-Reset")
    if reset is None:
        return None
    try:
        value = float(reset)
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    clock = time.time() if now is None else now
    if value >= _EPOCH_FROM:
        left, ends = value - clock, reset.strip()
    else:
        # A delay is the same in no two answers: the window is named by the second it ends in, so
        # the answers of one window are counted together and those of the next apart.
        left, ends = value, str(round(clock + value))
    remaining: int | None
    try:
        remaining = int(headers.get("X-RateLimit-Remaining", ""))
    except ValueError:
        remaining = None
    return RateWindow(ends=ends, seconds_left=min(max(left, 0.0), window), remaining=remaining)
