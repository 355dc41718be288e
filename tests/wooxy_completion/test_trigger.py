"""WooxyRequestTrigger: paging, concurrency, retries, timeout, unknown ids, serialisation, secrecy."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from datetime import UTC, datetime

import httpx
import pytest

from airflow_contact_removal.triggers import WooxyRequestTrigger
from airflow_contact_removal.triggers.wooxy import epoch_seconds
from tests.conftest import set_connection
from tests.wooxy_completion.helpers import KEY, find_answer, find_entry

FIND_URL = "https://api.wooxy.com/v3/request/find"


@pytest.fixture(autouse=True)
def wooxy_connection(monkeypatch):
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, extra={"max_attempts": 3})


def ids(count: int) -> list[str]:
    return [f"{i:024x}" for i in range(count)]


class FakeWooxy:
    """A ``request/find`` endpoint behind ``httpx.MockTransport``: scripted statuses, calls recorded."""

    def __init__(self, statuses=None, answers=None, delay: float = 0.0):
        self.statuses = statuses if statuses is not None else {}  # id -> status, or a list consumed per poll
        self.answers = list(answers or [])  # scripted (status code, body, headers) answers, used first
        self.delay = delay
        self.calls: list[list[str]] = []
        self.headers: list[httpx.Headers] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            asked = json.loads(request.content)["ids"]
            self.calls.append(asked)
            self.headers.append(request.headers)
            assert str(request.url) == FIND_URL and request.method == "POST"
            if self.answers:
                code, body, headers = self.answers.pop(0)
                return httpx.Response(code, json=body, headers=headers)
            entries = {}
            for request_id in asked:
                value = self.statuses.get(request_id)
                if isinstance(value, list):
                    value = value.pop(0) if len(value) > 1 else value[0]
                if value is not None:
                    entries[request_id] = find_entry(request_id, value)
            return httpx.Response(200, json=find_answer(entries, asked))
        finally:
            self.in_flight -= 1


def make_trigger(
    fake: FakeWooxy, request_ids, *, timeout: float = 30.0, **kwargs
) -> tuple[WooxyRequestTrigger, list]:
    trigger = WooxyRequestTrigger(
        conn_id="wooxy_default",
        request_ids=request_ids,
        poll_interval=kwargs.pop("poll_interval", 0.01),
        timeout_at=time.time() + timeout,
        **kwargs,
    )
    trigger.transport = httpx.MockTransport(fake.handler)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    trigger._sleep = fake_sleep
    return trigger, waits


def run(trigger: WooxyRequestTrigger) -> dict:
    async def collect():
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1, "the trigger fires exactly one event"
    payload = events[0].payload
    json.dumps(payload)  # a trigger event must be plain JSON
    return payload


# Paging and concurrency ----------------------------------------------------------------------------
def test_250_ids_are_read_in_3_calls_of_at_most_100_with_the_access_token():
    request_ids = ids(250)
    fake = FakeWooxy({request_id: "completed" for request_id in request_ids})
    trigger, _ = make_trigger(fake, request_ids)

    event = run(trigger)

    assert sorted(len(call) for call in fake.calls) == [50, 100, 100]
    assert sorted(request_id for call in fake.calls for request_id in call) == request_ids
    assert all(headers["Access-Token"] == KEY and "authorization" not in headers for headers in fake.headers)
    assert event["outcome"] == "complete"
    assert event["final_ids"] == request_ids and event["pending_ids"] == event["unknown_ids"] == []
    assert event["statuses"][request_ids[0]] == "completed"


@pytest.mark.parametrize(("max_in_flight", "cap"), [(10, 10), (50, 10), (3, 3)])
def test_never_more_calls_in_flight_than_wooxy_allows(max_in_flight, cap):
    request_ids = ids(2500)  # 25 calls
    fake = FakeWooxy({request_id: "completed" for request_id in request_ids}, delay=0.02)
    trigger, _ = make_trigger(fake, request_ids, max_in_flight=max_in_flight)

    run(trigger)

    assert len(fake.calls) == 25
    assert fake.most_in_flight == cap


# Status transitions ---------------------------------------------------------------------------------
def test_polls_until_every_request_is_final_and_asks_only_for_the_pending_ones():
    a, b, c = ids(3)
    fake = FakeWooxy({a: ["queued", "completed"], b: ["queued", "queued", "done"], c: ["completed"]})
    trigger, waits = make_trigger(fake, [a, b, c], poll_interval=5)

    event = run(trigger)

    assert fake.calls == [[a, b, c], [a, b], [b]]
    assert waits == [5, 5]
    assert event["outcome"] == "complete" and event["statuses"] == {a: "completed", b: "done", c: "completed"}


def test_an_unknown_status_keeps_waiting_until_the_timeout():
    [a] = ids(1)
    fake = FakeWooxy({a: ["mystery"]})
    trigger, _ = make_trigger(fake, [a], timeout=0.2)
    trigger._sleep = asyncio.sleep

    event = run(trigger)

    assert event["outcome"] == "timeout" and event["timed_out"] is True
    assert event["pending_ids"] == [a] and event["statuses"] == {a: "mystery"}
    assert len(fake.calls) > 1


def test_unknown_ids_are_reported_and_not_asked_for_again():
    a, b = ids(2)
    fake = FakeWooxy({a: ["queued", "completed"]})
    trigger, _ = make_trigger(fake, [a, b])

    event = run(trigger)

    assert fake.calls == [[a, b], [a]]
    assert event["outcome"] == "complete"
    assert (event["final_ids"], event["unknown_ids"]) == ([a], [b])


def test_timeout_reports_the_pending_ids_and_their_last_status():
    a, b = ids(2)
    fake = FakeWooxy({a: ["completed"], b: ["queued"]})
    trigger, _ = make_trigger(fake, [a, b], timeout=0.15, poll_interval=0.05)
    trigger._sleep = asyncio.sleep

    started = time.monotonic()
    event = run(trigger)

    assert time.monotonic() - started < 2
    assert event["outcome"] == "timeout" and event["timed_out"] is True
    assert (event["final_ids"], event["pending_ids"]) == ([a], [b])
    assert event["statuses"][b] == "queued"


def test_a_timeout_already_past_still_reads_once():
    [a] = ids(1)
    fake = FakeWooxy({a: ["completed"]})
    trigger, _ = make_trigger(fake, [a], timeout=-5)

    assert run(trigger)["outcome"] == "complete"


# Retries --------------------------------------------------------------------------------------------
def test_429_waits_its_retry_after_and_holds_every_call():
    request_ids = ids(150)  # two calls, one at a time
    fake = FakeWooxy({request_id: ["completed"] for request_id in request_ids})
    fake.answers = [
        (429, {"result": False, "errors": ["Too many concurrent requests"]}, {"Retry-After": "2"})
    ]
    trigger, waits = make_trigger(fake, request_ids, max_in_flight=1)

    event = run(trigger)

    assert len(fake.calls) == 3  # the refused call, the other one, the refused one again
    assert len(waits) == 2 and all(1.9 < wait <= 2.0 for wait in waits)  # both calls held
    assert event["outcome"] == "complete" and len(event["final_ids"]) == 150


def test_a_retry_after_longer_than_the_connection_allows_is_capped(monkeypatch):
    set_connection(
        monkeypatch,
        "wooxy_default",
        conn_type="wooxy",
        password=KEY,
        extra={"max_attempts": 3, "max_retry_after": 7},
    )
    [a] = ids(1)
    fake = FakeWooxy({a: ["completed"]})
    fake.answers = [(503, {"result": False}, {"Retry-After": "3600"})]
    trigger, waits = make_trigger(fake, [a])

    assert run(trigger)["outcome"] == "complete"
    assert waits == [7]


def test_5xx_is_retried_then_the_ids_stay_pending_until_the_next_poll():
    [a] = ids(1)
    fake = FakeWooxy({a: ["completed"]})
    fake.answers = [(500, {"result": False, "errors": ["Internal server error"]}, {})] * 3  # max_attempts=3
    trigger, waits = make_trigger(fake, [a], poll_interval=30, timeout=600)

    event = run(trigger)

    assert len(fake.calls) == 4  # 3 failed attempts, then the next poll
    assert 30 in waits
    assert event["outcome"] == "complete"


def test_transport_timeouts_are_retried():
    [a] = ids(1)
    fake = FakeWooxy({a: ["completed"]})
    failures = [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]

    async def flaky(request):
        if failures:
            raise failures.pop(0)
        return await fake.handler(request)

    trigger, _ = make_trigger(fake, [a])
    trigger.transport = httpx.MockTransport(flaky)

    assert run(trigger)["outcome"] == "complete"
    assert len(fake.calls) == 1


def test_persistent_5xx_ends_in_a_timeout_never_a_success():
    [a] = ids(1)
    fake = FakeWooxy({a: ["completed"]})
    fake.answers = [(502, None, {})] * 1000
    trigger, _ = make_trigger(fake, [a], timeout=0.2, poll_interval=0.05)

    async def short_sleep(seconds):
        await asyncio.sleep(min(seconds, 0.01))

    trigger._sleep = short_sleep

    event = run(trigger)

    assert event["outcome"] == "timeout" and event["pending_ids"] == [a] and event["final_ids"] == []


# Refusals ------------------------------------------------------------------------------------------
def test_a_refused_key_stops_the_wait_without_echoing_the_key(caplog):
    a, b = ids(2)
    fake = FakeWooxy()
    fake.answers = [(401, {"result": False, "errors": [f"no matches found for access token {KEY}"]}, {})]
    trigger, _ = make_trigger(fake, [a, b])

    with caplog.at_level(logging.DEBUG):
        event = run(trigger)

    assert len(fake.calls) == 1
    assert event["outcome"] == "error" and event["pending_ids"] == [a, b]
    assert event["error"] == "request/find answered HTTP 401: no matches found for access token ***"
    assert KEY not in json.dumps(event) and KEY not in caplog.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"result": False, "errors": ["Argument ids required"]}, "result false: Argument ids required"),
        ({"result": True, "requests": ["x"]}, "'requests' is not an object"),
        ({"ok": 1}, "undocumented answer"),
    ],
)
def test_an_answer_that_is_not_the_documented_shape_stops_the_wait(body, message):
    [a] = ids(1)
    fake = FakeWooxy()
    fake.answers = [(200, body, {})]
    trigger, _ = make_trigger(fake, [a])

    event = run(trigger)

    assert event["outcome"] == "error" and message in event["error"]


def test_an_empty_list_of_requests_means_none_is_known():
    # PHP encodes an empty map as []: the hook reads it the same way.
    [a] = ids(1)
    fake = FakeWooxy()
    fake.answers = [(200, {"result": True, "requests": [], "errors": []}, {})]
    trigger, _ = make_trigger(fake, [a])

    event = run(trigger)

    assert event["outcome"] == "complete" and event["unknown_ids"] == [a]


def test_a_missing_connection_is_an_error_event(monkeypatch):
    trigger, _ = make_trigger(FakeWooxy(), ids(1))
    trigger.conn_id = "no_such_connection"

    event = run(trigger)

    assert event["outcome"] == "error" and "no_such_connection" in event["error"]


def test_plain_http_to_a_remote_host_is_refused_before_the_key_is_sent(monkeypatch):
    set_connection(
        monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY, host="http://api.example.com/v3"
    )
    fake = FakeWooxy()
    trigger, _ = make_trigger(fake, ids(1))

    event = run(trigger)

    assert fake.calls == []
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


def test_serialize_after_running_still_has_no_key():
    [a] = ids(1)
    trigger, _ = make_trigger(FakeWooxy({a: ["completed"]}), [a])
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
