"""WooxyRequestTrigger through the real hook: paging, concurrency, retries, timeout, unknown ids, secrecy.

The trigger reads through :class:`~airflow_contact_removal.hooks.wooxy.WooxyHook` (its session, retries,
429 hold and in-flight slots), so these tests answer at the HTTP layer: ``requests_mock`` for scripted
answers, the sandbox over real HTTP where a real server's view counts (requests in flight per key).
Only the waits are injected: the trigger's between polls, the hook's between attempts.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from asgiref.sync import sync_to_async

from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.triggers import RequestCompletionTrigger, WooxyRequestTrigger
from airflow_contact_removal.triggers import completion as completion_trigger
from airflow_contact_removal.triggers.wooxy import epoch_seconds
from tests.conftest import set_connection
from tests.wooxy_completion.helpers import KEY, find_answer, find_entry

FIND_URL = "https://api.wooxy.com/v3/request/find"


@pytest.fixture(autouse=True)
def wooxy_connection(monkeypatch):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 3})


class HookSleep:
    """The hook's waits (retry back-off, the 429 hold), recorded; real waits only when ``real``."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.real = False
        self.sleeping = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sleeping.set()
        if self.real:
            time.sleep(seconds)


@pytest.fixture(autouse=True)
def hook_sleep(monkeypatch) -> HookSleep:
    """Every hook the trigger builds waits through this (the hook's own ``sleep`` parameter)."""
    sleep = HookSleep()
    monkeypatch.setattr(
        completion_trigger, "get_removal_hook", lambda conn_id: get_removal_hook(conn_id, sleep=sleep)
    )
    return sleep


def ids(count: int) -> list[str]:
    return [f"{i:024x}" for i in range(count)]


class FakeWooxy:
    """
    ``request/find`` behind ``requests_mock``: scripted statuses, calls recorded.

    :param statuses: id -> status, or a list of statuses consumed one per read.
    :param answers: scripted ``(status code, body, headers)`` answers, used first; an exception
        instance instead is raised as the transport's failure.
    requests_mock answers one call at a time, whatever the threads: concurrency is tested against the
    sandbox instead.
    """

    def __init__(self, requests_mock, statuses=None, answers=None):
        self.statuses = statuses if statuses is not None else {}
        self.answers = list(answers or [])
        self.calls: list[list[str]] = []
        self.answered: list[tuple[float, int]] = []  # (monotonic time, HTTP status) of each answer
        self.headers: list[dict[str, str]] = []
        requests_mock.post(FIND_URL, json=self.answer)

    def answer(self, request, context):
        asked = request.json()["ids"]
        self.calls.append(asked)
        self.headers.append(dict(request.headers))
        scripted = self.answers.pop(0) if self.answers else None
        if isinstance(scripted, BaseException):
            raise scripted
        if scripted is not None:
            code, body, headers = scripted
            context.status_code = code
            context.headers.update(headers)
            self.answered.append((time.monotonic(), code))
            return body
        entries = {}
        for request_id in asked:
            value = self.statuses.get(request_id)
            if isinstance(value, list):
                value = value.pop(0) if len(value) > 1 else value[0]
            if value is not None:
                entries[request_id] = find_entry(request_id, value)
        self.answered.append((time.monotonic(), 200))
        return find_answer(entries, asked)


def make_trigger(request_ids, *, timeout: float = 30.0, **kwargs) -> tuple[WooxyRequestTrigger, list]:
    trigger = WooxyRequestTrigger(
        conn_id=kwargs.pop("conn_id", "wooxy_default"),
        request_ids=request_ids,
        poll_interval=kwargs.pop("poll_interval", 0.01),
        timeout_at=time.time() + timeout,
        **kwargs,
    )
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    trigger._sleep = fake_sleep
    return trigger, waits


async def collect(trigger: RequestCompletionTrigger) -> list:
    return [event async for event in trigger.run()]


def run(trigger: RequestCompletionTrigger) -> dict:
    events = asyncio.run(collect(trigger))
    assert len(events) == 1, "the trigger fires exactly one event"
    payload = events[0].payload
    json.dumps(payload)  # a trigger event must be plain JSON
    return payload


# Paging and concurrency ----------------------------------------------------------------------------
def test_250_ids_are_read_in_3_calls_of_at_most_100_with_the_access_token(requests_mock):
    request_ids = ids(250)
    fake = FakeWooxy(requests_mock, {request_id: "completed" for request_id in request_ids})
    trigger, _ = make_trigger(request_ids)

    event = run(trigger)

    assert sorted(len(call) for call in fake.calls) == [50, 100, 100]
    assert sorted(request_id for call in fake.calls for request_id in call) == request_ids
    assert all(headers["Access-Token"] == KEY and "Authorization" not in headers for headers in fake.headers)
    assert event["outcome"] == "complete"
    assert event["final_ids"] == request_ids and event["pending_ids"] == event["unknown_ids"] == []
    assert event["statuses"][request_ids[0]] == "completed"


@pytest.mark.integration
@pytest.mark.parametrize(("max_in_flight", "cap"), [(10, 10), (50, 10), (3, 3), (1, 1)])
def test_never_more_calls_in_flight_than_wooxy_allows(sandbox, sandbox_conn, max_in_flight, cap):
    # Over real HTTP (requests_mock answers one call at a time): the sandbox counts this key's
    # requests in flight on arrival, as Wooxy does, and refuses an 11th with a 429.
    sandbox.set_faults(latency_ms=80)
    request_ids = ids(2500)  # 25 calls, none known to the sandbox
    trigger, _ = make_trigger(request_ids, conn_id=sandbox_conn, max_in_flight=max_in_flight)

    event = run(trigger)

    assert event["outcome"] == "complete" and event["unknown_ids"] == request_ids
    counters = sandbox.key_limits("wooxy")
    assert counters["requests"] == 25 and not counters["breaches"]
    assert counters["max_in_flight"] <= cap
    assert counters["max_in_flight"] > cap // 2  # the calls do run in parallel, up to the share


# Status transitions ---------------------------------------------------------------------------------
def test_polls_until_every_request_is_final_and_asks_only_for_the_pending_ones(requests_mock):
    a, b, c = ids(3)
    fake = FakeWooxy(
        requests_mock, {a: ["queued", "completed"], b: ["queued", "queued", "done"], c: ["completed"]}
    )
    trigger, waits = make_trigger([a, b, c], poll_interval=5)

    event = run(trigger)

    assert fake.calls == [[a, b, c], [a, b], [b]]
    assert waits == [5, 5]
    assert event["outcome"] == "complete" and event["statuses"] == {a: "completed", b: "done", c: "completed"}


def test_an_unknown_status_keeps_waiting_until_the_timeout(requests_mock):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["mystery"]})
    trigger, _ = make_trigger([a], timeout=0.2)
    trigger._sleep = asyncio.sleep

    event = run(trigger)

    assert event["outcome"] == "timeout" and event["timed_out"] is True
    assert event["pending_ids"] == [a] and event["statuses"] == {a: "mystery"}
    assert len(fake.calls) > 1


def test_unknown_ids_are_reported_and_not_asked_for_again(requests_mock):
    a, b = ids(2)
    fake = FakeWooxy(requests_mock, {a: ["queued", "completed"]})
    trigger, _ = make_trigger([a, b])

    event = run(trigger)

    assert fake.calls == [[a, b], [a]]
    assert event["outcome"] == "complete"
    assert (event["final_ids"], event["unknown_ids"]) == ([a], [b])


def test_timeout_reports_the_pending_ids_and_their_last_status(requests_mock):
    a, b = ids(2)
    FakeWooxy(requests_mock, {a: ["completed"], b: ["queued"]})
    trigger, _ = make_trigger([a, b], timeout=0.15, poll_interval=0.05)
    trigger._sleep = asyncio.sleep

    started = time.monotonic()
    event = run(trigger)

    assert time.monotonic() - started < 2
    assert event["outcome"] == "timeout" and event["timed_out"] is True
    assert (event["final_ids"], event["pending_ids"]) == ([a], [b])
    assert event["statuses"][b] == "queued"


def test_a_timeout_already_past_still_reads_once(requests_mock):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    trigger, waits = make_trigger([a], timeout=-5)

    assert run(trigger)["outcome"] == "complete"
    assert len(fake.calls) == 1 and waits == []


def test_a_timeout_already_past_reads_once_then_times_out(requests_mock):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["queued"]})
    trigger, waits = make_trigger([a], timeout=-5)

    event = run(trigger)

    assert event["outcome"] == "timeout" and event["statuses"] == {a: "queued"}
    assert len(fake.calls) == 1 and waits == []


# Retries --------------------------------------------------------------------------------------------
def test_429_waits_its_retry_after_then_the_call_is_retried(requests_mock, hook_sleep):
    hook_sleep.real = True  # the hold is on the hook's clock: let it pass for real
    request_ids = ids(150)  # two calls, one at a time
    fake = FakeWooxy(requests_mock, {request_id: ["completed"] for request_id in request_ids})
    fake.answers = [
        (429, {"result": False, "errors": ["Too many concurrent requests"]}, {"Retry-After": "1"})
    ]
    trigger, _ = make_trigger(request_ids, max_in_flight=1)

    event = run(trigger)

    assert len(fake.calls) == 3  # the refused call, it again, then the other one
    assert fake.calls[0] == fake.calls[1]
    assert hook_sleep.waits == [1.0]
    refused_at = fake.answered[0][0]
    assert all(at - refused_at >= 0.95 for at, _ in fake.answered[1:])
    assert event["outcome"] == "complete" and len(event["final_ids"]) == 150


def test_429_holds_every_call_not_only_the_refused_one(requests_mock, monkeypatch, hook_sleep):
    # One attempt per call: the refused call gives up at once and stays pending, yet the next call,
    # never refused itself, waits out the Retry-After (Wooxy's back-off applies to the key).
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 1})
    hook_sleep.real = True
    request_ids = ids(150)
    fake = FakeWooxy(requests_mock, {request_id: ["completed"] for request_id in request_ids})
    fake.answers = [
        (429, {"result": False, "errors": ["Too many concurrent requests"]}, {"Retry-After": "1"})
    ]
    trigger, waits = make_trigger(request_ids, max_in_flight=1, poll_interval=0.01)

    event = run(trigger)

    assert [len(call) for call in fake.calls] == [100, 50, 100]  # refused, the other one, next poll
    assert len(hook_sleep.waits) == 1 and 0.9 < hook_sleep.waits[0] <= 1.0  # the other call, held
    refused_at = fake.answered[0][0]
    assert fake.answered[1][0] - refused_at >= 0.9
    assert waits == [0.01]
    assert event["outcome"] == "complete" and len(event["final_ids"]) == 150


def test_a_retry_after_longer_than_the_connection_allows_is_never_waited(
    requests_mock, monkeypatch, hook_sleep
):
    # The hook's rule: a Retry-After beyond max_retry_after fails the call at once, so the trigger
    # never sleeps it (nor sleeps max_retry_after in its place); the ids stay pending to the next poll.
    set_connection(
        monkeypatch,
        "wooxy_default",
        conn_type="wooxy",
        password=KEY,
        extra={"max_attempts": 3, "max_retry_after": 7},
    )
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [(503, {"result": False}, {"Retry-After": "3600"})]
    trigger, waits = make_trigger([a], poll_interval=20)

    assert run(trigger)["outcome"] == "complete"
    assert len(fake.calls) == 2
    assert hook_sleep.waits == [] and waits == [20]


def test_a_429_longer_than_the_connection_allows_sends_nothing_until_it_ends(requests_mock, monkeypatch):
    # Wooxy holds the key for an hour: no poll sends anything until then; the wait times out.
    set_connection(
        monkeypatch,
        "wooxy_default",
        conn_type="wooxy",
        password=KEY,
        extra={"max_attempts": 3, "max_retry_after": 7},
    )
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [
        (429, {"result": False, "errors": ["Too many concurrent requests"]}, {"Retry-After": "3600"})
    ]
    trigger, _ = make_trigger([a], timeout=0.2, poll_interval=0.02)
    trigger._sleep = asyncio.sleep

    event = run(trigger)

    assert len(fake.calls) == 1
    assert event["outcome"] == "timeout" and event["pending_ids"] == [a] and event["final_ids"] == []


def test_5xx_is_retried_then_the_ids_stay_pending_until_the_next_poll(requests_mock, hook_sleep):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [(500, {"result": False, "errors": ["Internal server error"]}, {})] * 3  # max_attempts=3
    trigger, waits = make_trigger([a], poll_interval=30, timeout=600)

    event = run(trigger)

    assert len(fake.calls) == 4  # 3 failed attempts, then the next poll
    assert len(hook_sleep.waits) == 2  # the back-off between the 3 attempts
    assert waits == [30]
    assert event["outcome"] == "complete"


def test_transport_timeouts_are_retried(requests_mock, hook_sleep):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [requests.exceptions.ReadTimeout("slow"), requests.exceptions.ConnectionError("refused")]
    trigger, waits = make_trigger([a])

    assert run(trigger)["outcome"] == "complete"
    assert len(fake.calls) == 3 and len(fake.answered) == 1  # two failed attempts, one answer
    assert len(hook_sleep.waits) == 2 and waits == []  # retried within the poll


def test_persistent_5xx_ends_in_a_timeout_never_a_success(requests_mock):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [(502, None, {})] * 1000
    trigger, _ = make_trigger([a], timeout=0.2, poll_interval=0.05)

    async def short_sleep(seconds):
        await asyncio.sleep(min(seconds, 0.01))

    trigger._sleep = short_sleep

    event = run(trigger)

    assert len(fake.calls) > 3  # polled again after the retries ran out
    assert event["outcome"] == "timeout" and event["pending_ids"] == [a] and event["final_ids"] == []


def test_an_outage_longer_than_the_breaker_is_ridden_out_poll_after_poll(requests_mock, monkeypatch):
    # 30 failed attempts in a row would open the hook's breaker (20) for good; a wait resets it at
    # every poll, so it reads again once the vendor is back instead of idling until its timeout.
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 2})
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    fake.answers = [(503, None, {})] * 30
    trigger, _ = make_trigger([a], timeout=30)

    event = run(trigger)

    assert event["outcome"] == "complete" and event["final_ids"] == [a]
    assert len(fake.calls) == 31  # 15 polls of 2 failed attempts, then the read that answered


def test_a_read_waiting_out_its_retries_does_not_hold_the_triggerers_shared_thread(requests_mock, hook_sleep):
    # Airflow's own calls from triggers (aget_connection...) run in asgiref's one shared thread; a
    # read blocked in the hook's back-off must not sit in it.
    hook_sleep.real = True
    [a] = ids(1)
    FakeWooxy(requests_mock, {a: ["completed"]}).answers = [(503, None, {"Retry-After": "1"})]
    trigger, _ = make_trigger([a])

    async def wait_and_call_the_shared_thread():
        events = asyncio.ensure_future(collect(trigger))
        await asyncio.to_thread(hook_sleep.sleeping.wait, 5)  # the read waits out its Retry-After
        started = time.monotonic()
        await sync_to_async(time.monotonic)()  # thread_sensitive, as Airflow's calls are
        took = time.monotonic() - started
        return await events, took

    [event], took = asyncio.run(wait_and_call_the_shared_thread())

    assert event.payload["outcome"] == "complete" and hook_sleep.waits == [1.0]
    assert took < 0.5


# Refusals ------------------------------------------------------------------------------------------
def test_a_refused_key_stops_the_wait_without_echoing_the_key(requests_mock, caplog):
    a, b = ids(2)
    fake = FakeWooxy(requests_mock)
    fake.answers = [(401, {"result": False, "errors": [f"no matches found for access token {KEY}"]}, {})]
    trigger, _ = make_trigger([a, b])

    with caplog.at_level(logging.DEBUG):
        event = run(trigger)

    assert len(fake.calls) == 1
    assert event["outcome"] == "error" and event["pending_ids"] == [a, b]
    assert "HTTP 401" in event["error"] and "no matches found for access token ***" in event["error"]
    assert KEY not in json.dumps(event) and KEY not in caplog.text


def test_a_refusal_of_one_call_stops_the_wait_even_when_another_call_failed_transiently(
    requests_mock, monkeypatch
):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 1})
    fake = FakeWooxy(requests_mock)
    fake.answers = [
        (401, {"result": False, "errors": ["no matches found for access token"]}, {}),
        (503, None, {}),
    ]
    trigger, waits = make_trigger(ids(150), max_in_flight=1)

    event = run(trigger)

    assert len(fake.calls) == 2 and waits == []
    assert event["outcome"] == "error" and "HTTP 401" in event["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"result": False, "errors": ["Argument ids required"]}, "Argument ids required"),
        ({"result": True, "requests": ["x"]}, "'requests' is not an object"),
        ({"result": True, "requests": {"x": "queued"}}, "a request entry is not an object"),
        ({"ok": 1}, "undocumented answer"),
    ],
)
def test_an_answer_that_is_not_the_documented_shape_stops_the_wait(requests_mock, body, message):
    [a] = ids(1)
    fake = FakeWooxy(requests_mock)
    fake.answers = [(200, body, {})]
    trigger, waits = make_trigger([a])

    event = run(trigger)

    assert event["outcome"] == "error" and message in event["error"]
    assert len(fake.calls) == 1 and waits == []


def test_an_empty_list_of_requests_means_none_is_known(requests_mock):
    # PHP encodes an empty map as []: the hook reads it the same way.
    [a] = ids(1)
    fake = FakeWooxy(requests_mock)
    fake.answers = [(200, {"result": True, "requests": [], "errors": []}, {})]
    trigger, _ = make_trigger([a])

    event = run(trigger)

    assert event["outcome"] == "complete" and event["unknown_ids"] == [a]


def test_a_missing_connection_is_an_error_event(requests_mock):
    fake = FakeWooxy(requests_mock)
    trigger, _ = make_trigger(ids(1), conn_id="no_such_connection")

    event = run(trigger)

    assert event["outcome"] == "error" and "no_such_connection" in event["error"]
    assert event["pending_ids"] == ids(1) and fake.calls == []


def test_a_connection_without_a_key_is_an_error_event_before_any_call(requests_mock, monkeypatch):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy")
    fake = FakeWooxy(requests_mock)
    trigger, _ = make_trigger(ids(1))

    event = run(trigger)

    assert event["outcome"] == "error" and "no API key" in event["error"] and fake.calls == []


def test_plain_http_to_a_remote_host_is_refused_before_the_key_is_sent(requests_mock, monkeypatch):
    set_connection(
        monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, host="http://api.example.com/v3"
    )
    trigger, _ = make_trigger(ids(1))

    event = run(trigger)

    assert requests_mock.request_history == []  # nothing sent, to any URL
    assert event["outcome"] == "error" and "plain http://" in event["error"]


# Serialisation --------------------------------------------------------------------------------------
def test_serialize_round_trips_and_never_carries_the_key():
    trigger = WooxyRequestTrigger(
        conn_id="wooxy_default", request_ids=["r1", "r2", "r1"], poll_interval=15, timeout_at=1_900_000_000
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == "airflow_contact_removal.triggers.wooxy.WooxyRequestTrigger"
    assert kwargs == {
        "conn_id": "wooxy_default",
        "request_ids": ["r1", "r2"],
        "poll_interval": 15.0,
        "timeout_at": 1_900_000_000.0,
        "max_in_flight": 10,
    }
    assert KEY not in json.dumps(kwargs)
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_a_trigger_serialised_by_an_earlier_version_runs_as_the_generic_one(requests_mock):
    # What the Wooxy-only trigger stored in the triggerer's table: its classpath and these kwargs.
    [a] = ids(1)
    fake = FakeWooxy(requests_mock, {a: ["completed"]})
    stored = {
        "conn_id": "wooxy_default",
        "request_ids": [a],
        "poll_interval": 30.0,
        "timeout_at": time.time() + 60,
        "max_in_flight": 10,
    }
    module = importlib.import_module("airflow_contact_removal.triggers.wooxy")
    trigger = module.WooxyRequestTrigger(**stored)

    assert isinstance(trigger, RequestCompletionTrigger)
    event = run(trigger)
    assert event["outcome"] == "complete" and event["final_ids"] == [a] and len(fake.calls) == 1


def test_serialize_after_running_still_has_no_key(requests_mock):
    [a] = ids(1)
    FakeWooxy(requests_mock, {a: ["completed"]})
    trigger, _ = make_trigger([a])
    run(trigger)

    assert KEY not in json.dumps(trigger.serialize()) and KEY not in repr(vars(trigger))


def test_timeout_at_takes_epoch_seconds_iso_text_or_a_datetime():
    moment = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    assert epoch_seconds(moment.timestamp()) == moment.timestamp()
    assert epoch_seconds("2026-11-23T10:00:00+00:00") == moment.timestamp()
    assert epoch_seconds("2026-11-23T10:00:00") == moment.timestamp()  # naive: UTC
    assert epoch_seconds(moment) == moment.timestamp()
    with pytest.raises(ValueError):
        epoch_seconds("next tuesday")


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_at": None}, {"poll_interval": 0, "timeout_at": 1.0}, {"poll_interval": -1, "timeout_at": 1.0}],
)
def test_a_wait_must_have_a_timeout_and_a_positive_interval(kwargs):
    with pytest.raises(ValueError):
        WooxyRequestTrigger(conn_id="wooxy_default", request_ids=["r1"], **kwargs)
