"""The vendor interface every vendor hook is built on: the connection, its settings, and the questions
the operators ask (operations, identifier kinds, limits, :meth:`~ContactRemovalHook.remove_batch`,
confirmation).

A vendor hook only says what is particular to its vendor: its connection type and default base URL,
its auth header, its limits, the requests it sends and how to read the answers. Sending them (the
session, retries, time bounds, in-flight slots, rate limit, breaker) is the hook's
:class:`~airflow_contact_removal.hooks.client.VendorClient`, written once for every vendor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar

import requests
from airflow.sdk import BaseHook

from airflow_contact_removal.completion.outcome import CompletionRules, RequestRead
from airflow_contact_removal.exceptions import ContactRemovalConfigError, VendorAPIError
from airflow_contact_removal.hooks.breaker import DEFAULT_BREAKER_FAILURES, CircuitBreaker
from airflow_contact_removal.hooks.client import USER_AGENT, VendorClient, VendorResponse
from airflow_contact_removal.hooks.errors import _scrub, _short, scrub_identifiers
from airflow_contact_removal.hooks.rate_limit import InFlightSlots, RateLimiter, RateWindow
from airflow_contact_removal.hooks.retry import retry_after_from_headers
from airflow_contact_removal.hooks.settings import (
    HookSettings,
    _Secret,
    base_url_of,
    check_id_value,
    extra_number,
    is_loopback,
    path_segment,
    read_extras,
    timeouts_of,
    verify_of,
)
from airflow_contact_removal.hooks.transport import IOWorkers
from airflow_contact_removal.identifiers import DEFAULT_NORMALISERS
from airflow_contact_removal.results import BatchOutcome
from airflow_contact_removal.vocabulary import Confirmation, Operation

#: Kept importable from here: the transport's and the settings' names existing code imports.
__all__ = [
    "REMOVE_CONTACTS",
    "REMOVE_FROM_LIST",
    "USER_AGENT",
    "ContactRemovalHook",
    "HookSettings",
    "VendorResponse",
    "check_id_value",
    "is_loopback",
    "path_segment",
    "scrub_identifiers",
]


try:  # Airflow 3: tells both the task process and its supervisor to mask the value.
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - older task SDKs
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

#: Operation names shared by the hooks and operators.
REMOVE_CONTACTS = Operation.REMOVE_CONTACTS
REMOVE_FROM_LIST = Operation.REMOVE_FROM_LIST


class ContactRemovalHook(BaseHook):
    """
    Base of the vendor hooks: an Airflow connection turned into an authenticated, retried session.

    Connection fields: ``password`` holds the API key or access token; ``host``, when set, is the base
    URL (scheme included) replacing the vendor's default. Plain ``http://`` is refused unless the host
    is loopback, so a key never travels in clear text. Extras (all optional):

    * ``connect_timeout`` / ``read_timeout`` (seconds; ``timeout`` sets both; next to ``timeout``, a
      ``read_timeout`` of exactly 60, which the earlier form saved untyped, yields to it: see
      :func:`~airflow_contact_removal.hooks.settings.timeouts_of`),
    * ``max_attempts`` (tries per request, including the first) and ``max_retry_time`` (seconds spent
      retrying one request, waits included),
    * ``max_retry_after`` (the longest ``Retry-After`` honoured, in seconds),
    * ``requests_per_second`` (this hook's request rate; it may lower a rate the vendor documents,
      never lift it),
    * ``verify`` (``true``, or a path to a CA bundle; ``false`` is honoured only with a warning),
    * ``breaker_failures`` (transient failures in a row, across every sender, after which the hook
      sends nothing more; see :class:`~airflow_contact_removal.hooks.breaker.CircuitBreaker`).

    Every setting is checked before the first request: a value that would make every request fail
    (a zero timeout, a CA bundle that does not exist, an extra that is not JSON...) is a
    :class:`ContactRemovalConfigError`.

    Subclasses set the class attributes below and implement :meth:`remove_batch`.

    :param conn_id: the Airflow connection id.
    :param sleep: how to wait between attempts (injectable for tests; real waits by default).
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str] = ""
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""

    #: short vendor name, used in results and messages.
    vendor: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""

    # What the operators read: operations, identifier kinds, limits.
    #: identifier kinds each operation takes, e.g. ``{"remove_contacts": ("emails",)}``.
    supported_operations: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: whether one request may carry several identifier kinds (the batch limit then counts them all).
    mixes_identifier_kinds: ClassVar[bool] = True
    #: the most identifiers in one request.
    max_batch_size: ClassVar[int] = 100
    #: the batch size used when the user sets none.
    default_batch_size: ClassVar[int] = 100
    #: the most requests in flight at once the vendor allows.
    max_in_flight: ClassVar[int] = 4
    #: how many requests the operators keep in flight when the user sets nothing.
    default_in_flight: ClassVar[int] = 4
    #: requests per second, unless the connection says otherwise (``None``: no client-side limit).
    default_requests_per_second: ClassVar[float | None] = None
    #: the vendor's documented request rate per key, which no setting may lift (``None``: none).
    documented_requests_per_second: ClassVar[float | None] = None
    #: error statuses that say no other request of the run can succeed (see :meth:`stops_run`).
    run_stopping_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404})
    #: ``synchronous`` when the answer is the outcome, ``asynchronous`` when it only says "accepted".
    confirmation: ClassVar[Confirmation | str] = Confirmation.SYNCHRONOUS
    #: extra keyword arguments :meth:`remove_batch` accepts for an operation (e.g. Wooxy's webhook).
    batch_options: ClassVar[tuple[str, ...]] = ()
    #: the normaliser of each identifier kind, when the vendor's format is stricter than the default.
    identifier_normalisers: ClassVar[Mapping[str, Callable[[str], str]]] = DEFAULT_NORMALISERS

    # Transport defaults.
    default_connect_timeout: ClassVar[float] = 10.0
    default_read_timeout: ClassVar[float] = 60.0
    default_max_attempts: ClassVar[int] = 6
    default_max_retry_time: ClassVar[float] = 300.0
    default_max_retry_after: ClassVar[float] = 120.0

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # Connection -------------------------------------------------------------------------------------
    @property
    def connection(self):
        """
        The Airflow connection, fetched once.

        Kept behind a :class:`_Secret`: the Connection's own repr shows its password, and the hook's
        ``vars()`` must not.
        """
        held = self.__dict__.get("_connection")
        if held is None:
            conn = self.get_connection(self.conn_id)
            if conn.conn_type and conn.conn_type != self.conn_type:
                raise ContactRemovalConfigError(
                    f"connection {self.conn_id!r} has type {conn.conn_type!r}; {type(self).__name__} needs "
                    f"a {self.conn_type!r} connection"
                )
            held = self.__dict__["_connection"] = _Secret(conn)
        return held.reveal()

    @cached_property
    def extras(self) -> dict[str, Any]:
        """The connection's extras; UI-prefixed keys (``extra__<type>__name``) are accepted too."""
        return read_extras(self.connection, self.conn_type, self.conn_id)

    @cached_property
    def _api_key(self) -> _Secret:
        key = self.connection.password
        if not key or not str(key).strip():
            raise ContactRemovalConfigError(
                f"connection {self.conn_id!r} has no API key: put it in the connection's password field"
            )
        key = str(key).strip()
        mask_secret(key)
        if not key.isascii() or not key.isprintable() or any(char.isspace() for char in key):
            # requests would refuse the header with an error that quotes it, key included.
            raise ContactRemovalConfigError(
                f"connection {self.conn_id!r}: the API key contains spaces, line breaks or non-ASCII "
                "characters; paste it again"
            )
        return _Secret(key)

    @cached_property
    def settings(self) -> HookSettings:
        """Base URL, timeouts, retry bounds and rate, read and checked once."""
        extras = self.extras
        connect_timeout, read_timeout = timeouts_of(
            extras, self.default_connect_timeout, self.default_read_timeout, self.conn_id, self.log
        )
        settings = HookSettings(
            base_url=self._base_url(),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=int(extra_number(extras, "max_attempts", self.default_max_attempts, minimum=1)),
            max_retry_time=extra_number(extras, "max_retry_time", self.default_max_retry_time),
            max_retry_after=extra_number(extras, "max_retry_after", self.default_max_retry_after),
            requests_per_second=self._requests_per_second(extras),
            verify=self._verify(extras.get("verify", True)),
            breaker_failures=int(
                extra_number(extras, "breaker_failures", DEFAULT_BREAKER_FAILURES, minimum=1)
            ),
        )
        return settings

    def _requests_per_second(self, extras: Mapping[str, Any]) -> float | None:
        """The request rate: the vendor's documented one may be lowered by the extra, never lifted."""
        value = extra_number(extras, "requests_per_second", self.default_requests_per_second, positive=True)
        documented = self.documented_requests_per_second
        if documented is not None and value is not None and value > documented:
            raise ContactRemovalConfigError(
                f"connection {self.conn_id!r}: extra 'requests_per_second' is {value:g}, but "
                f"{self.hook_name} documents {documented:g} requests per second per key; a setting may "
                "lower it, never lift it"
            )
        return value

    def _base_url(self) -> str:
        return base_url_of(self.connection, self.conn_id, self.default_base_url)

    def _verify(self, value: object) -> bool | str:
        return verify_of(value, self.conn_id, self.log)

    # Transport --------------------------------------------------------------------------------------
    @cached_property
    def client(self) -> VendorClient:
        """
        This hook's HTTP client (session, in-flight slots, rate limiter, breaker), built on first use
        with all its shared parts (:meth:`VendorClient.build`): code that shares the hook between
        threads (the removal's senders, the status reads) touches it first, from one thread.
        """
        client = VendorClient(
            self,
            vendor=self.vendor,
            settings=lambda: self.settings,
            api_key=lambda: self._api_key,
            max_in_flight=self.max_in_flight,
            sleep=self._sleep,
            log=self.log,
        )
        client.build()
        return client

    # The client's parts, reachable from the hook as before.
    @property
    def session(self) -> requests.Session:
        return self.client.session

    @property
    def in_flight(self) -> InFlightSlots:
        return self.client.in_flight

    @property
    def breaker(self) -> CircuitBreaker:
        return self.client.breaker

    @property
    def io_workers(self) -> IOWorkers:
        return self.client.io_workers

    @property
    def rate_limiter(self) -> RateLimiter:
        return self.client.rate_limiter

    @rate_limiter.setter
    def rate_limiter(self, limiter: RateLimiter) -> None:
        self.client.rate_limiter = limiter

    def abandon_in_flight(self) -> int:
        """
        Close the connection of every request of this hook still on the wire; return how many.

        For a task that is being stopped: the senders waiting for them get a connection error at
        once, and no retry starts once the caller has stopped them. Safe to call from any thread.
        """
        client = self.__dict__.get("client")
        return client.abandon_in_flight() if client is not None else 0

    def limit_to_share(self, in_flight: int, requests_per_second: float | None) -> None:
        """
        Keep this hook within a task's share of its account (see :mod:`airflow_contact_removal.budget`):
        at most ``in_flight`` requests in flight and ``requests_per_second``. Call before any request.
        """
        # An instance narrows its class's caps for its own task; the class keeps the vendor's.
        self.max_in_flight = max(1, min(in_flight, type(self).max_in_flight))  # type: ignore[misc]
        self.default_in_flight = min(self.default_in_flight, self.max_in_flight)  # type: ignore[misc]
        self.settings = replace(self.settings, requests_per_second=requests_per_second)
        # The client is built from the caps and settings on first use; one built earlier had the
        # vendor's (no request has been sent yet, or this would be too late).
        self.__dict__.pop("client", None)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The vendor's auth header for ``api_key``."""
        return {"Authorization": f"Bearer {api_key}"}

    def retry_after(self, response: requests.Response) -> float | None:
        """How long the vendor asked us to wait, in seconds (``Retry-After``), if it said."""
        return retry_after_from_headers(response.headers)

    def rate_window(self, response: requests.Response) -> RateWindow | None:
        """
        The vendor's rate window that counted this request, when its answers say (most do not):
        the client then holds every sender until the window ends once it is used up.
        """
        return None

    def vendor_error_details(self, body: Any, sent: Any = None) -> tuple[str | None, str | None]:
        """
        :meth:`error_details`, with what the vendor must not have us repeat taken out: the API key
        wherever it was echoed back, and the identifiers (every email address, E.164 number, and
        every identifier of the request body ``sent``) that its error texts quote, such as Wooxy's
        "no data found for key {userId}" or Migma's "Invalid email: ...".
        """
        key = self.__dict__.get("_api_key")
        code, message = self.error_details(_scrub(body, key.reveal()) if key is not None else body)
        if code is not None:
            code = scrub_identifiers(code, sent)
        if message is not None:
            message = scrub_identifiers(message, sent)
        return code, message

    def error_details(self, body: Any) -> tuple[str | None, str | None]:
        """The vendor's ``(error code, error message)`` from an error answer's JSON body."""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return _short(error.get("code")), _short(error.get("message"))
            return _short(body.get("code")), _short(error if error is not None else body.get("message"))
        return None, None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> VendorResponse:
        """
        Send one API request through this hook's :class:`~airflow_contact_removal.hooks.client.VendorClient`:
        transient faults retried, bounded in attempts and in time, the answer parsed; see
        :meth:`VendorClient.request <airflow_contact_removal.hooks.client.VendorClient.request>`.

        :param method: the HTTP method.
        :param path: the path below the base URL.
        :param json_body: the JSON body, if any.
        :param headers: headers beyond the session's and the auth header.
        :raises VendorAPIError: when the vendor refuses, or the retries give up.
        """
        return self.client.request(method, path, json_body=json_body, headers=headers)

    def stops_run(self, status_code: int, code: str | None, message: str | None) -> bool:
        """
        Whether an error answer says no other request of the run can succeed either.

        A redirect (the base URL is wrong) and :attr:`run_stopping_statuses` (by default 401 key
        refused, 403 no permission, 404 list, workspace or endpoint not found: the path is the same
        for every batch of a run). Vendor hooks extend it with their documented answers.
        """
        return 300 <= status_code < 400 or status_code in self.run_stopping_statuses

    def undocumented(self, response: VendorResponse, what: str) -> VendorAPIError:
        """The error for a 2xx answer whose shape the vendor's page does not document."""
        return VendorAPIError(
            f"undocumented answer: {what}",
            vendor=self.vendor,
            status_code=response.status_code,
            attempts=response.attempts,
        )

    # The vendor interface the operators use --------------------------------------------------------
    def remove_batch(
        self,
        operation: str,
        batch: Mapping[str, list[str]],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> BatchOutcome:
        """
        Send one batch for ``operation`` and return the vendor's answer in the shared vocabulary.

        :param operation: ``remove_contacts`` or ``remove_from_list``.
        :param batch: identifiers by kind (``emails``, ``contact_ids``, ``phone_numbers``,
            ``user_ids``), already normalised and within :attr:`max_batch_size`.
        :param list_id: the list, for ``remove_from_list``.
        :param idempotency_key: a key that makes a repeat of this exact batch safe, for vendors that
            support one (ignored by the others).
        :raises VendorAPIError: when the request fails.
        """
        raise NotImplementedError

    def check_request(
        self,
        operation: str,
        kinds: Collection[str],
        *,
        list_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """
        Refuse, before any HTTP call, what this vendor cannot do: an operation or identifier kind it
        does not have, an option it does not take, a missing or malformed list id, a connection
        missing a setting. Vendor hooks extend it with their own rules (calling ``super()``).
        """
        if operation not in self.supported_operations:
            offered = ", ".join(sorted(self.supported_operations)) or "nothing"
            raise ContactRemovalConfigError(
                f"{self.hook_name} has no {str(operation)!r} operation (it offers: {offered})"
            )
        accepted = self.supported_operations[operation]
        unknown = sorted(set(kinds) - set(accepted))
        if unknown:
            raise ContactRemovalConfigError(
                f"{self.hook_name} {operation} does not take {', '.join(unknown)} "
                f"(it takes: {', '.join(accepted)})"
            )
        unsupported = sorted(set(options or {}) - set(self.batch_options))
        if unsupported:
            raise ContactRemovalConfigError(f"{self.hook_name} does not take {', '.join(unsupported)}")
        if operation == REMOVE_FROM_LIST and (not isinstance(list_id, str) or not list_id.strip()):
            raise ContactRemovalConfigError(f"{self.hook_name} {operation} needs a list_id")
        # Read the key and the base URL now: a missing key or a plain-http remote host is a refusal
        # of the whole run, not a failure of every batch.
        self.check_connection()

    def check_connection(self) -> HookSettings:
        """
        Read and check the connection as a first request would, without sending one: the key (read
        and masked now), the base URL (https unless loopback), the transport and vendor settings.

        :return: the checked settings.
        :raises ContactRemovalConfigError: what the connection lacks or gets wrong.
        """
        self._api_key  # noqa: B018 - reads, checks and masks the key
        settings = self.settings
        self.check_settings()
        return settings

    # Connection test --------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection without removing anything, and say exactly what was checked.

        Checks the key is present, the base URL is valid (and TLS unless loopback), the vendor
        settings the hook needs, and then runs :meth:`probe`, which makes a read-only call where the
        vendor documents one.
        """
        try:
            settings = self.check_connection()
            checked = [f"API key present; base URL {settings.base_url}"]
            checked.append(self.probe())
        except (ContactRemovalConfigError, VendorAPIError) as exc:
            return False, str(exc)
        except requests.RequestException as exc:
            return False, f"{self.vendor}: could not reach {self.settings.base_url}: {type(exc).__name__}"
        return True, "; ".join(checked)

    def check_settings(self) -> None:
        """Check the vendor-specific connection settings (override when the vendor needs some)."""

    def probe(self) -> str:
        """
        Make a call that cannot change anything and say what it proved.

        The default, for vendors that document no read-only call, is an unauthenticated ``HEAD`` of
        the base URL: it proves the host is reachable (and its certificate valid), not that the key
        works. The key is never sent to an undocumented endpoint.
        """
        response = requests.head(
            self.settings.base_url,
            timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            verify=self.settings.verify,
            allow_redirects=False,
        )
        return (
            f"host reachable (HTTP {response.status_code} to an unauthenticated HEAD); key not verified: "
            f"{self.hook_name} documents no read-only call, and a removal call is never used as a test"
        )

    # Asynchronous confirmation -------------------------------------------------------------------
    # A hook whose ``confirmation`` is ``asynchronous`` (its answer only says "accepted") also gives
    # the rules its statuses are read by and a read of request ids; the generic completion pipeline
    # (airflow_contact_removal.completion, its trigger and sensor) does the rest.
    #: the vendor's status words, contact fields and retention (``None``: it confirms synchronously).
    completion_rules: ClassVar[CompletionRules | None] = None

    def read_requests(self, request_ids: list[str]) -> RequestRead:
        """
        What became of these requests: at most ``completion_rules.max_ids_per_read`` ids per call,
        through this hook's transport (retries, rate limiter, in-flight slots).

        :param request_ids: request ids the vendor returned when it accepted removals.
        """
        raise NotImplementedError(f"{type(self).__name__} confirms synchronously: nothing to read later")
