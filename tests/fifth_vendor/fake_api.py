"""Parcel's API as an in-memory fake behind requests-mock: tickets become ``done`` after some lookups."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

BASE = "https://api.parcel.test/v1"
KEY = "parcel-key-0123456789abcdef"


class FakeParcel:
    """
    :param members: the emails Parcel knows (removed when asked); any other is rejected.
    :param lookups_until_done: how many lookups of a ticket answer ``queued`` before ``done``.
    """

    def __init__(self, members: list[str], lookups_until_done: int = 1) -> None:
        self.members = set(members)
        self.lookups_until_done = lookups_until_done
        self.tickets: dict[str, dict[str, Any]] = {}
        self.removals_sent = 0
        self.lookup_sizes: list[int] = []
        self._ids = itertools.count(1)
        self.lookup_delay = 0.0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def install(self, requests_mock) -> None:
        requests_mock.post(f"{BASE}/removals", json=self._remove, status_code=202)
        requests_mock.post(f"{BASE}/tickets/lookup", json=self._lookup)

    def _remove(self, request, context) -> dict[str, Any]:
        assert request.headers["X-Parcel-Key"] == KEY
        self.removals_sent += 1
        ticket = f"t-{next(self._ids)}"
        self.tickets[ticket] = {"emails": request.json()["emails"], "lookups": 0}
        return {"ticket": ticket}

    def _lookup(self, request, context) -> dict[str, Any]:
        assert request.headers["X-Parcel-Key"] == KEY
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.lookup_delay)
            return self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, request) -> dict[str, Any]:
        asked = request.json()["tickets"]
        self.lookup_sizes.append(len(asked))
        answer = {}
        for ticket in asked:
            held = self.tickets.get(ticket)
            if held is None:
                continue
            held["lookups"] += 1
            if held["lookups"] <= self.lookups_until_done:
                answer[ticket] = {"state": "queued"}
                continue
            answer[ticket] = {
                "state": "done",
                "removed": [{"mail": email} for email in held["emails"] if email in self.members],
                "rejected": [
                    {"mail": email, "code": "E_NOT_MEMBER", "message": "not a member"}
                    for email in held["emails"]
                    if email not in self.members
                ],
            }
        return {"tickets": answer}
