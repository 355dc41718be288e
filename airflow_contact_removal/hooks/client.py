"""One vendor's HTTP client: a session, its in-flight slots, rate limiter and breaker, and requests
sent retried, bounded in time and read into a :class:`VendorResponse` or a :class:`VendorAPIError`.

This is the transport half of a hook (:mod:`airflow_contact_removal.hooks.base` is the vendor
interface half). It knows nothing of a vendor but what the hook tells it through
:class:`VendorRules`: the auth header, how to read ``Retry-After``, an error body and the vendor's
rate window, and which refusals stop the run. The wire-level pieces it uses are in :mod:`~airflow_contact_removal.hooks.transport`
(I/O threads, bounded attempts), :mod:`~airflow_contact_removal.hooks.rate_limit`,
:mod:`~airflow_contact_removal.hooks.breaker` and :mod:`~airflow_contact_removal.hooks.retry`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import requests

from airflow_contact_removal.exceptions import VendorAPIError
from airflow_contact_removal.hooks.breaker import CircuitBreaker
from airflow_contact_removal.hooks.errors import _NOT_JSON, _describe_body, _json_or_none, raise_attempt_error
from airflow_contact_removal.hooks.rate_limit import (
    VENDOR_WINDOW,
    InFlightSlots,
    RateLimiter,
    RateWindow,
    _Slot,
)
from airflow_contact_removal.hooks.retry import RETRYABLE_STATUSES, TransientFailure
from airflow_contact_removal.hooks.settings import HookSettings, _Secret
from airflow_contact_removal.hooks.transport import Attempt, IOWorkers, TrackedAdapter, drain_timeout
from airflow_contact_removal.stopping import raise_if_stopped
from airflow_contact_removal.version import PACKAGE_NAME, __version__

USER_AGENT = f"{PACKAGE_NAME}/{__version__}"


@dataclass(frozen=True)
class VendorResponse:
    """A successful HTTP answer (status below 400) with its JSON body already parsed."""

    status_code: int
    body: Any
    headers: Mapping[str, str]
    attempts: int
    #: the JSON body that was sent, to take its identifiers out of any vendor text (never shown).
    sent: Any = field(default=None, repr=False, compare=False)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id") or self.headers.get("Request-Id")


class VendorRules(Protocol):
    """What the client asks of the vendor's hook: the few answers that differ between vendors
    (``rate_window``: the vendor's rate window that counted a request, for vendors that say)."""

    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def retry_after(self, response: requests.Response) -> float | None: ...

    def rate_window(self, response: requests.Response) -> RateWindow | None: ...

    def vendor_error_details(self, body: Any, sent: Any = None) -> tuple[str | None, str | None]: ...

    def stops_run(self, status_code: int, code: str | None, message: str | None) -> bool: ...


class VendorClient:
    """
    The HTTP client of one hook, shared by every sender thread of that hook.

    :param rules: the vendor's hook (see :class:`VendorRules`).
    :param vendor: the vendor's short name, for errors and logs.
    :param settings: gives the connection's checked transport settings (read when first needed, so
        a hook can be set up, e.g. its rate limiter replaced, before its connection is read).
    :param api_key: gives the key, held so no repr or ``vars()`` shows it (read at the first request).
    :param max_in_flight: the most requests on the wire at once (the vendor's cap, or a task's share).
    :param sleep: how to wait between attempts (injectable for tests).
    :param log: where retries are logged (counts and reasons, never a body or an identifier).
    """

    def __init__(
        self,
        rules: VendorRules,
        *,
        vendor: str,
        settings: Callable[[], HookSettings],
        api_key: Callable[[], _Secret],
        max_in_flight: int,
        sleep: Callable[[float], None] = time.sleep,
        log: logging.Logger | Any = None,
    ) -> None:
        self._rules = rules
        self.vendor = vendor
        self._settings = settings
        self._key = api_key
        self.max_in_flight = max_in_flight
        self._sleep = sleep
        self.log = log if log is not None else logging.getLogger(__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.vendor!r})"

    @property
    def settings(self) -> HookSettings:
        return self._settings()

    @cached_property
    def session(self) -> requests.Session:
        """One session, its pool sized for the most requests this vendor allows in flight."""
        session = requests.Session()
        # Room for the requests an abandoned attempt still holds on top of those in flight.
        adapter = TrackedAdapter(pool_connections=2, pool_maxsize=max(self.max_in_flight, 1), max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        # requests re-reads the proxy and CA-bundle environment variables on every request (a scan of
        # the whole environment each time). Read them once, for this base URL, and keep honouring
        # them: HTTPS_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE work as usual.
        session.proxies.update(requests.utils.get_environ_proxies(self.settings.base_url))
        verify: bool | str = self.settings.verify
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.verify = verify
        session.trust_env = False
        return session

    @cached_property
    def in_flight(self) -> InFlightSlots:
        """At most :attr:`max_in_flight` requests on the wire, counting abandoned ones."""
        return InFlightSlots(self.max_in_flight)

    @cached_property
    def breaker(self) -> CircuitBreaker:
        """Shared by every sender: after sustained transient failure, nothing is sent."""
        return CircuitBreaker(self.settings.breaker_failures)

    @cached_property
    def io_workers(self) -> IOWorkers:
        """The threads that carry the attempts (see :mod:`~airflow_contact_removal.hooks.transport`)."""
        return IOWorkers(self.vendor or "hook")

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Shared by every sender: spaces requests and holds all of them on a 429."""
        return RateLimiter(self.settings.requests_per_second, sleep=self._sleep)

    def build(self) -> None:
        """
        Build the parts every sender shares (session, slots, limiter, breaker, I/O threads) now,
        from one thread: ``cached_property`` takes no lock since Python 3.12, so senders whose first
        requests raced would each build their own slots and limiter and together exceed the caps.
        """
        _ = (self.session, self.in_flight, self.rate_limiter, self.breaker, self.io_workers)

    def abandon_in_flight(self) -> int:
        """Close the connection of every request still on the wire; return how many (any thread)."""
        workers = self.__dict__.get("io_workers")
        return workers.abort() if workers is not None else 0

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> VendorResponse:
        """
        Send one API request, retrying transient faults, and return the parsed answer.

        Retried: 429 (waiting what ``Retry-After`` says and holding every sender of this hook),
        500/502/503/504, connection errors and timeouts, with jittered exponential back-off (also
        when ``Retry-After`` is zero or in the past), at most ``max_attempts`` times.

        Bounded in time: one attempt ends ``read_timeout`` after the request started on an open
        connection, however slowly the answer trickles in; the whole request, waits included, ends
        within ``max_retry_time`` (the first attempt always gets its full time); a ``Retry-After``
        longer than ``max_retry_after`` or than what is left of ``max_retry_time`` fails it at once.
        After sustained transient failure across every sender (:class:`CircuitBreaker`) nothing is
        sent any more.

        Anything else below 200 or from 400 up is raised at once as :class:`VendorAPIError`, as is a
        2xx whose body is not JSON and a TLS failure; ``stops_run`` says when no other request of the
        run can succeed either (key refused, no permission, path not found, TLS). Neither the key,
        the response body nor an identifier the vendor echoed back is ever logged or raised.
        """
        settings = self.settings
        prepared = self._prepare(method, path, json_body, headers)
        give_up_at = time.monotonic() + settings.max_retry_time
        attempts = 0
        while True:
            self._check_breaker(attempts)
            slot = self._take_slot(attempts, give_up_at)
            self._wait_for_turn(slot, attempts, give_up_at)
            attempts += 1
            started = time.monotonic()
            try:
                response = self._attempt(prepared, slot, attempts, give_up_at)
            except TransientFailure as failure:
                self._sleep(self._retry_or_give_up(failure, attempts, give_up_at, json_body))
                continue
            self.breaker.record_success()
            break
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "%s %s -> HTTP %s in %.0f ms (attempt %d)",
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
                attempts,
            )
        return self._read_answer(response, attempts, json_body)

    # The steps of one request -----------------------------------------------------------------------
    @property
    def _drain_timeout(self) -> float:
        # The I/O thread waits longer between bytes than the sender does: an attempt the sender gave
        # up on keeps its slot until the vendor has really answered (see hooks/transport.py).
        return drain_timeout(self.settings.read_timeout)

    def _prepare(
        self, method: str, path: str, json_body: Any, headers: Mapping[str, str] | None
    ) -> requests.PreparedRequest:
        """
        The request, prepared once and sent as is on every attempt.

        Session.request() would rebuild and re-merge it (headers, cookies, environment settings
        through requests' slow Protocol isinstance checks) each time: ~0.15 ms per request, a tenth
        of the client's CPU per batch. The session's headers, proxies and CA bundle are applied at
        sending; its cookie jar is not (API-key auth needs none, and removal calls stay stateless).
        """
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=f"{self.settings.base_url}{path}",
            headers={
                **self.session.headers,
                "Content-Type": "application/json",
                **(headers or {}),
                **self._rules.auth_headers(self._key().reveal()),
            },
            data=json.dumps(json_body, separators=(",", ":")) if json_body is not None else None,
        )
        return prepared

    def _send_prepared(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Send ``prepared`` once, on an I/O thread (see :class:`Attempt`)."""
        session = self.session
        return session.send(
            prepared,
            timeout=(self.settings.connect_timeout, self._drain_timeout),
            # A redirect would re-send the key (requests keeps custom headers such as
            # Access-Token across hosts) and may turn the removal into a GET: a 3xx is an error.
            allow_redirects=False,
            verify=session.verify,
            proxies=session.proxies,
            stream=False,
            cert=None,
        )

    def _check_breaker(self, attempts: int) -> None:
        """Send nothing once the breaker is open (opened by this hook's other senders, before this
        request's first attempt or while it waited to retry)."""
        breaker = self.breaker
        if breaker.is_open:
            done = "gave up" if attempts else "not sent"
            raise self._stopped(f"{done}: {breaker.reason}", attempts, retryable=True)

    def _wait_for_turn(self, slot: _Slot, attempts: int, give_up_at: float) -> None:
        """
        Wait for this request's turn at the rate limit, within what is left of ``max_retry_time``,
        holding its in-flight slot: a turn is taken when the request can go at once. One reserved
        while waiting for a slot would be spent late, and turns banked so would go out in a burst.
        """
        limiter = self.rate_limiter
        turn_wait = max(give_up_at - time.monotonic(), 0.0)
        if attempts == 0 and limiter.requests_per_second:
            # The first attempt always gets its turn at the rate, even with max_retry_time 0 (no
            # retries): spacing the senders' requests is not retrying them. Every other slot's
            # turn may come first, and the vendor's window may be used up.
            turn_wait = max(turn_wait, self.max_in_flight * limiter.interval + VENDOR_WINDOW)
        try:
            if limiter.acquire(limit=turn_wait) is None:
                # A 429 holds every sender of the key for longer than this request may still wait.
                raise self._stopped(
                    "not sent: the vendor holds every request of this key for longer than what is "
                    "left of max_retry_time",
                    attempts,
                    retryable=True,
                    status_code=429,
                )
            raise_if_stopped(attempted=attempts > 0)  # the run stopped while this attempt waited
        except BaseException:
            slot.release()
            raise

    def _take_slot(self, attempts: int, give_up_at: float) -> _Slot:
        """Take an in-flight slot (a request abandoned by its sender holds one until it is over)."""
        slot_wait = give_up_at - time.monotonic()
        if attempts == 0:
            # Slots are held only by requests on the wire, an abandoned one at most a drain timeout
            # after it was abandoned: the first attempt may wait that long for one.
            slot_wait = max(slot_wait, self._drain_timeout + self.settings.connect_timeout)
        slot = self.in_flight.take(timeout=slot_wait)
        if slot is None:
            self.breaker.record_failure("no in-flight slot came free")
            raise VendorAPIError(
                "not sent: every in-flight slot is still held by requests the vendor has not "
                "answered; gave up at max_retry_time",
                vendor=self.vendor,
                attempts=attempts,
                retryable=True,
            )
        return slot

    def _attempt(
        self, prepared: requests.PreparedRequest, slot: _Slot, attempts: int, give_up_at: float
    ) -> requests.Response:
        """
        One attempt on the wire, holding ``slot`` until its I/O is over: the answer, or
        :class:`TransientFailure`, or a permanent :class:`VendorAPIError`.
        """
        settings = self.settings
        attempt = Attempt(lambda: self._send_prepared(prepared), slot.release)
        self.io_workers.submit(attempt)
        finished = attempt.wait(
            settings.connect_timeout, settings.read_timeout, None if attempts == 1 else give_up_at
        )
        if not finished:
            self.io_workers.expire(attempt, self._drain_timeout)
        return self._answer(attempt, finished, attempts)

    def _retry_or_give_up(
        self, failure: TransientFailure, attempts: int, give_up_at: float, json_body: Any
    ) -> float:
        """How long to wait before retrying after ``failure``; raises when the request gives up."""
        opened = self.breaker.record_failure(failure.reason)
        wait = self._retry_wait(failure, attempts, give_up_at, json_body)
        if opened:
            raise self._gave_up(failure, attempts, json_body, self.breaker.reason, stops_run=True) from None
        if attempts >= self.settings.max_attempts or wait is None:
            raise self._gave_up(failure, attempts, json_body) from None
        self.log.warning(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            self.vendor,
            attempts,
            failure.reason,
            wait,
        )
        return wait

    def _read_answer(self, response: requests.Response, attempts: int, json_body: Any) -> VendorResponse:
        """The final answer: a 2xx JSON body, or the vendor's refusal as :class:`VendorAPIError`."""
        body = _json_or_none(response)
        if not 200 <= response.status_code < 300:
            code, message = self._rules.vendor_error_details(body, json_body)
            raise VendorAPIError(
                message or f"request refused ({_describe_body(response)})",
                vendor=self.vendor,
                status_code=response.status_code,
                vendor_code=code,
                vendor_message=message,
                attempts=attempts,
                stops_run=self._rules.stops_run(response.status_code, code, message),
            )
        if body is _NOT_JSON:
            raise VendorAPIError(
                f"answer is not JSON ({_describe_body(response)})",
                vendor=self.vendor,
                status_code=response.status_code,
                attempts=attempts,
            )
        return VendorResponse(response.status_code, body, response.headers, attempts, sent=json_body)

    def _answer(self, attempt: Attempt, finished: bool, attempts: int) -> requests.Response:
        """The attempt's answer, or :class:`TransientFailure`, or a permanent :class:`VendorAPIError`."""
        if not finished:
            # Abandoned: its I/O goes on in the background, holding the in-flight slot until the
            # vendor has answered (the request may still be processed; a repeat is safe).
            raise TransientFailure(f"timed out (no complete answer within {self.settings.read_timeout:g} s)")
        if attempt.error is not None:
            raise_attempt_error(attempt.error, self.vendor, attempts)
        response = attempt.response
        window = self._rules.rate_window(response)
        if window is not None:
            self.rate_limiter.counted(window)
        if response.status_code in RETRYABLE_STATUSES:
            raise TransientFailure(
                f"HTTP {response.status_code}",
                status_code=response.status_code,
                retry_after=self._rules.retry_after(response),
                response=response,
            )
        return response

    def _retry_wait(
        self, failure: TransientFailure, attempts: int, give_up_at: float, json_body: Any
    ) -> float | None:
        """
        How long to wait before the next attempt, or ``None`` to give up now.

        The vendor's ``Retry-After`` when it is positive; our jittered back-off when it is missing,
        unreadable, zero or in the past (an immediate retry is what makes a storm). A ``Retry-After``
        longer than ``max_retry_after`` or than what is left of ``max_retry_time`` fails the request
        at once (raised here, with ``stops_run``: the vendor holds the key, not this batch).
        """
        settings = self.settings
        asked = failure.retry_after
        wait = asked if asked is not None and asked > 0 else _backoff(attempts)
        left = give_up_at - time.monotonic()
        if failure.status_code == 429:
            # The vendor's back-off applies to the key, so hold every sender of this hook.
            self.rate_limiter.pause(asked if asked is not None and asked > 0 else 1.0)
        if asked is not None and asked > 0 and (asked > settings.max_retry_after or asked > left):
            limit = (
                "max_retry_after" if asked > settings.max_retry_after else "what is left of max_retry_time"
            )
            raise self._gave_up(
                failure,
                attempts,
                json_body,
                f"the vendor asked to wait {asked:g} s, longer than {limit}",
                stops_run=True,
            )
        if wait >= left:
            return None
        return wait

    def _gave_up(
        self,
        failure: TransientFailure,
        attempts: int,
        json_body: Any,
        why: str | None = None,
        *,
        stops_run: bool = False,
    ) -> VendorAPIError:
        code, message = (None, None)
        if failure.response is not None:
            code, message = self._rules.vendor_error_details(_json_or_none(failure.response), json_body)
        text = f"gave up after transient failures: {failure.reason}"
        return VendorAPIError(
            f"{text}; {why}" if why else text,
            vendor=self.vendor,
            status_code=failure.status_code,
            vendor_code=code,
            vendor_message=message,
            attempts=attempts,
            retryable=True,
            stops_run=stops_run,
        )

    def _stopped(self, message: str, attempts: int, *, retryable: bool, status_code: int | None = None):
        return VendorAPIError(
            message,
            vendor=self.vendor,
            status_code=status_code,
            attempts=attempts,
            retryable=retryable,
            stops_run=True,
        )


def _backoff(attempts: int) -> float:
    """
    Jittered exponential back-off after attempt number ``attempts``: a random wait in the upper half
    of a window of 0.5 s, 1 s, 2 s... up to 30 s. The lower half is left out so a retry is never
    immediate: ten senders that fail together do not all come back at once either.
    """
    window = min(30.0, 0.5 * 2 ** (attempts - 1))
    return random.uniform(window / 2, window)
