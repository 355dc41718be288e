"""The client's turns at the rate limit against a real (local, threaded) HTTP server: requests-mock
sends one request at a time, so it cannot show what concurrent senders put in a vendor's second."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_contact_removal.hooks.autosend import AutoSendHook
from tests.conftest import set_connection


class SlowFirstAnswers(ThreadingHTTPServer):
    """Answers AutoSend's removal with success; the first answers take the given seconds."""

    daemon_threads = True

    def __init__(self, delays: list[float]) -> None:
        self.delays = delays
        self.starts: list[float] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: SlowFirstAnswers

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.starts.append(time.monotonic())
            n = len(self.server.starts)
        if n <= len(self.server.delays):
            time.sleep(self.server.delays[n - 1])
        body = json.dumps({"success": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[SlowFirstAnswers]:
    # The first answer ends at 1.7 s; the second, sent at 0.55 s (the spacing of 2/s), too.
    server = SlowFirstAnswers([1.7, 1.15])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_turn_is_taken_with_a_slot_so_turns_do_not_bank_up_while_slots_are_held(server, monkeypatch):
    """
    Six senders on one AutoSend hook (2 in flight, 2 requests/s), the first two answers slow and
    ending together. A turn reserved while waiting for a slot would be spent when the slot came
    free, and the turns banked so would go out at once: three requests in one of AutoSend's seconds.
    """
    host = f"http://127.0.0.1:{server.server_address[1]}"
    set_connection(monkeypatch, "autosend_default", conn_type="autosend", password="as-key", host=host)
    hook = AutoSendHook()
    hook.client.build()  # as the removal run does before its senders share the client
    senders = [
        threading.Thread(target=hook.remove_contacts, args=([f"user{i}@example.com"],)) for i in range(6)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)

    starts = server.starts
    assert len(starts) == 6
    # Any three starts span more than a second, so no one-second window sees a third.
    assert all(later - first >= 1.0 for first, later in zip(starts, starts[2:], strict=False)), [
        round(start - starts[0], 2) for start in starts
    ]
