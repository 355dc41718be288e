"""WooxyRequestTrigger: wait in the triggerer until Wooxy removal requests reach a final status."""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_contact_removal._compat import AirflowNotFoundException
from airflow_contact_removal.exceptions import ContactRemovalError
from airflow_contact_removal.hooks.base import USER_AGENT, HookSettings, _Secret
from airflow_contact_removal.hooks.retry import RETRYABLE_STATUSES, parse_retry_after
from airflow_contact_removal.hooks.wooxy import WOOXY_MAX_FIND_IDS, WooxyHook
from airflow_contact_removal.wooxy_completion import WooxyPollState, chunked

#: The most ``request/find`` calls in flight: Wooxy's cap of 10 concurrent requests covers this call too.
WOOXY_MAX_IN_FLIGHT = WooxyHook.max_in_flight


class _Refused(Exception):
    """``request/find`` refused the call (4xx, ``result: false``, an undocumented answer): stop waiting."""


class _Unanswered(Exception):
    """``request/find`` kept failing transiently (429, 5xx, timeouts) after the retries: poll again later."""


class _FetchedConnectionHook(WooxyHook):
    """
    A :class:`WooxyHook` over a connection already fetched asynchronously, so the trigger applies the
    hook's own rules (base URL, https unless loopback, timeouts, retries, key checks) without them
    being written twice.
    """

    def __init__(self, connection: Any) -> None:
        super().__init__(connection.conn_id)
        self._fetched = _Secret(connection)  # the Connection's repr shows its password

    def get_connection(self, conn_id: str) -> Any:
        return self._fetched.reveal()

    def prepare(self) -> tuple[HookSettings, ssl.SSLContext]:
        """
        Read and check the connection; blocking (it masks the key with the synchronous ``mask_secret``
        and loads CA certificates), so the trigger runs it in a thread, never on the event loop.
        """
        settings = self.settings
        self._api_key  # noqa: B018 - reads, checks and masks the key now
        self.check_settings()
        if isinstance(settings.verify, str):
            context = ssl.create_default_context(cafile=settings.verify)
        else:
            context = httpx.create_ssl_context(verify=settings.verify)
        return settings, context

    def find_headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self.auth_headers(self._api_key.reveal()),
        }


class WooxyRequestTrigger(BaseTrigger):
    """
    Poll Wooxy's ``request/find`` until every request id is final or unknown, or the timeout passes.

    Fires one event: :meth:`WooxyPollState.to_event
    <airflow_contact_removal.wooxy_completion.WooxyPollState.to_event>`, a JSON dict with each
    request's last ``statuses``, the ``final_ids``, the ``unknown_ids`` (never sent, or older than 7
    days), the ``pending_ids`` still waiting at the end, ``timed_out``, ``error`` (why it stopped early:
    a refused key, a missing connection) and ``outcome`` (``complete``, ``timeout`` or ``error``). It
    carries statuses, not per-contact results: the task reads the final requests again to fold them
    (see :func:`~airflow_contact_removal.wooxy_wait.finish_from_event`).

    Each poll asks only for the requests not final yet, at most 100 ids per call and at most
    ``max_in_flight`` calls at once (Wooxy allows 10 concurrent requests). A 429 holds every call for
    its ``Retry-After``; 429, 5xx, timeouts and connection failures are retried with back-off up to the
    connection's ``max_attempts``; if they persist, the ids stay pending until the next poll. A refusal
    ends the wait. The API key is read from the connection here, in the triggerer, and never
    serialised; neither it nor any identifier is logged.

    :param conn_id: the ``wooxy`` connection.
    :param request_ids: the request ids returned by the removals.
    :param poll_interval: seconds between polls.
    :param timeout_at: when to stop waiting: epoch seconds, an ISO 8601 string or an aware datetime.
    :param max_in_flight: ``request/find`` calls in flight at once, at most 10. The operator passes its
        task's share of the account (its ``pool_slots``, see :mod:`airflow_contact_removal.budget`).

    How a deferred wait keeps within the account's budget: the account's pool counts deferred tasks
    (``include_deferred``, as :mod:`airflow_contact_removal.pools` creates it), so the deferred task
    keeps its slots and no other task can take them, and this trigger never has more ``request/find``
    calls in flight than those slots. The other choice, releasing the slots while deferred, would let
    another task take the whole budget while this trigger polls, and Wooxy's cap of 10 covers
    ``request/find`` too. The cost: slots stay held while Wooxy processes (cheap polls every
    ``poll_interval``), so a long wait delays other removals on the same account.
    """

    def __init__(
        self,
        conn_id: str,
        request_ids: Iterable[str],
        poll_interval: float = 30.0,
        timeout_at: float | str | datetime | None = None,
        max_in_flight: int = WOOXY_MAX_IN_FLIGHT,
    ) -> None:
        super().__init__()
        if isinstance(request_ids, str):
            request_ids = [request_ids]
        self.conn_id = conn_id
        self.request_ids = list(dict.fromkeys(str(request_id) for request_id in request_ids))
        self.poll_interval = float(poll_interval)
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        if timeout_at is None:
            raise ValueError("timeout_at is required: a wait for Wooxy must end")
        self.timeout_at = epoch_seconds(timeout_at)
        self.max_in_flight = max(1, min(int(max_in_flight), WOOXY_MAX_IN_FLIGHT))
        #: the HTTP transport (tests set a ``httpx.MockTransport``); ``None``: the network.
        self.transport: httpx.AsyncBaseTransport | None = None
        self._sleep = asyncio.sleep
        self._hold_until = 0.0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_contact_removal.triggers.wooxy.WooxyRequestTrigger",
            {
                "conn_id": self.conn_id,
                "request_ids": list(self.request_ids),
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "max_in_flight": self.max_in_flight,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        state = WooxyPollState(request_ids=list(self.request_ids))
        try:
            hook = await self._hook()
            settings, ssl_context = await asyncio.to_thread(hook.prepare)
        except (ContactRemovalError, AirflowNotFoundException) as exc:
            state.error = f"connection {self.conn_id!r}: {exc}"[:500]
            yield TriggerEvent(state.to_event())
            return
        statuses: dict[str, str | None] = {}
        unknown: list[str] = []
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        async with httpx.AsyncClient(
            timeout=timeout, verify=ssl_context, follow_redirects=False, transport=self.transport
        ) as client:
            semaphore = asyncio.Semaphore(self.max_in_flight)
            while True:
                pending = WooxyPollState(list(self.request_ids), statuses, unknown).pending_ids
                try:
                    found, missing, problem = await self._poll(client, hook, settings, semaphore, pending)
                except _Refused as exc:
                    state = WooxyPollState(list(self.request_ids), statuses, unknown, error=str(exc))
                    self.log.warning("Wooxy request/find refused the call, stopping: %s", exc)
                    yield TriggerEvent(state.to_event())
                    return
                statuses.update(found)
                unknown.extend(missing)
                state = WooxyPollState(list(self.request_ids), statuses, unknown)
                if state.done:
                    self.log.info("%s: done", state.describe())
                    yield TriggerEvent(state.to_event())
                    return
                remaining = self.timeout_at - time.time()
                if remaining <= 0:
                    state.timed_out = True
                    self.log.warning("%s: timed out", state.describe())
                    yield TriggerEvent(state.to_event())
                    return
                wait = min(self.poll_interval, remaining)
                if problem:
                    self.log.warning("Wooxy request/find failed, will poll again: %s", problem)
                self.log.info("%s; next poll in %.0f s", state.describe(), wait)
                await self._sleep(wait)

    async def _hook(self) -> _FetchedConnectionHook:
        # aget_connection fetches the connection without blocking the event loop and masks its secrets
        # with the asynchronous amask_secret.
        connection = await BaseHook.aget_connection(self.conn_id)
        return _FetchedConnectionHook(connection)

    async def _poll(
        self,
        client: httpx.AsyncClient,
        hook: _FetchedConnectionHook,
        settings: HookSettings,
        semaphore: asyncio.Semaphore,
        request_ids: list[str],
    ) -> tuple[dict[str, str | None], list[str], str | None]:
        """One poll of ``request_ids``: (status by id, unknown ids, the last transient problem)."""
        chunks = list(chunked(request_ids, WOOXY_MAX_FIND_IDS))
        answers = await asyncio.gather(
            *(self._find(client, hook, settings, semaphore, chunk) for chunk in chunks),
            return_exceptions=True,
        )
        found: dict[str, str | None] = {}
        missing: list[str] = []
        problem = None
        for answer in answers:
            if isinstance(answer, _Refused):
                raise answer
            if isinstance(answer, _Unanswered):
                problem = str(answer)
                continue
            if isinstance(answer, BaseException):
                raise answer
            found.update(answer[0])
            missing.extend(answer[1])
        return found, missing, problem

    async def _find(
        self,
        client: httpx.AsyncClient,
        hook: _FetchedConnectionHook,
        settings: HookSettings,
        semaphore: asyncio.Semaphore,
        request_ids: list[str],
    ) -> tuple[dict[str, str | None], list[str]]:
        """One ``request/find`` call, retried on 429/5xx/timeouts: (status by id, unknown ids)."""
        url = f"{settings.base_url}/request/find"
        body = json.dumps({"ids": request_ids}, separators=(",", ":"))
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            async with semaphore:
                await self._wait_for_hold()
                try:
                    response = await client.post(url, content=body, headers=hook.find_headers())
                except httpx.TimeoutException:
                    reason, wait = "timed out", None
                except httpx.TransportError as exc:
                    reason, wait = f"connection failed ({type(exc).__name__})", None
                else:
                    if response.status_code not in RETRYABLE_STATUSES:
                        return _read_answer(hook, response, request_ids)
                    reason = f"HTTP {response.status_code}"
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    if wait is not None:
                        wait = min(wait, settings.max_retry_after)
            if wait is None:
                wait = random.uniform(0, min(30.0, 0.5 * 2**attempt))
            spent = time.monotonic() - started
            if (
                attempt >= settings.max_attempts
                or spent + wait > settings.max_retry_time
                or time.time() + wait > self.timeout_at
            ):
                raise _Unanswered(f"{reason} after {attempt} attempt(s)")
            if reason == "HTTP 429":
                # Wooxy's back-off applies to the key: hold every call of this trigger, this one included.
                self._hold_until = max(self._hold_until, time.monotonic() + wait)
            else:
                await self._sleep(wait)

    async def _wait_for_hold(self) -> None:
        delay = self._hold_until - time.monotonic()
        if delay > 0:
            await self._sleep(delay)


def _read_answer(
    hook: WooxyHook, response: httpx.Response, request_ids: list[str]
) -> tuple[dict[str, str | None], list[str]]:
    """A non-retryable answer: the statuses it reports, or :class:`_Refused`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not 200 <= response.status_code < 300:
        _, message = hook.vendor_error_details(body)  # the key blanked out if Wooxy echoed it
        raise _Refused(
            f"request/find answered HTTP {response.status_code}" + (f": {message}" if message else "")
        )
    if not isinstance(body, Mapping) or body.get("result") is not True:
        if isinstance(body, Mapping) and body.get("result") is False:
            _, message = hook.vendor_error_details(body)
            raise _Refused(f"request/find answered result false: {message or 'no error given'}")
        raise _Refused(f"request/find gave an undocumented answer (HTTP {response.status_code})")
    found = body.get("requests") or {}
    if not isinstance(found, Mapping):
        raise _Refused("request/find gave an undocumented answer: 'requests' is not an object")
    statuses = {}
    for request_id in request_ids:
        entry = found.get(request_id)
        if isinstance(entry, Mapping):
            status = entry.get("status")
            statuses[request_id] = status if isinstance(status, str) else None
    return statuses, [request_id for request_id in request_ids if request_id not in statuses]


def epoch_seconds(value: float | str | datetime) -> float:
    """Epoch seconds from epoch seconds, an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, bool):
        raise ValueError("timeout_at must be epoch seconds, an ISO 8601 string or a datetime")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"timeout_at {value!r} is not epoch seconds or an ISO 8601 time") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise ValueError("timeout_at must be epoch seconds, an ISO 8601 string or a datetime")
