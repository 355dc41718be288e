"""The hot endpoints the middleware calls directly answer exactly as they do through FastAPI."""

from __future__ import annotations

import asyncio
import json
import re

from airflow_contact_removal.sandbox.app import create_app

MIGMA = "/migma/v1/contacts/bulk-delete"
WOOXY = "/wooxy/v3/contacts/remove"
MIGMA_AUTH = [("authorization", "Bearer sandbox-migma-key")]
WOOXY_AUTH = [("access-token", "sandbox-wooxy-key")]
_HEX24 = re.compile(r"[0-9a-f]{24}")


def _body(value: object) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


EMAILS = ["user1@example.com", "USER2@example.com", " user3@example.com ", "user3@example.com", "no@x.com"]
REQUESTS = [
    # (method, path, headers, body)
    ("POST", MIGMA, MIGMA_AUTH, {"emails": EMAILS, "projectId": "P1"}),
    ("POST", MIGMA, [*MIGMA_AUTH, ("idempotency-key", "k1")], {"emails": EMAILS[:2], "projectId": "P1"}),
    ("POST", MIGMA, [*MIGMA_AUTH, ("idempotency-key", "k1")], {"projectId": "P1", "emails": EMAILS[:2]}),
    ("POST", MIGMA, [*MIGMA_AUTH, ("idempotency-key", "k1")], {"emails": EMAILS[:3], "projectId": "P1"}),
    ("POST", MIGMA, [*MIGMA_AUTH, ("idempotency-key", "k" * 101)], {"emails": EMAILS, "projectId": "P1"}),
    ("POST", MIGMA, MIGMA_AUTH, {"emails": ["nope"], "projectId": "P1"}),
    ("POST", MIGMA, MIGMA_AUTH, {"emails": ["a@x.com"], "projectId": "NOPE"}),
    ("POST", MIGMA, [], {"emails": ["a@x.com"], "projectId": "P1"}),
    ("POST", MIGMA, MIGMA_AUTH, b"{not json"),
    ("POST", MIGMA, MIGMA_AUTH, b'{"emails":["\\ud800@x.com"],"projectId":"P1"}'),  # fails inside: 500
    ("GET", MIGMA, MIGMA_AUTH, b""),
    ("PUT", MIGMA, MIGMA_AUTH, {"emails": ["user4@example.com"], "projectId": "P1"}),
    ("POST", MIGMA + "/", MIGMA_AUTH, {"emails": ["user4@example.com"], "projectId": "P1"}),
    ("POST", WOOXY, WOOXY_AUTH, {"contactListId": "L1", "emails": [e.strip() for e in EMAILS]}),
    ("POST", WOOXY, WOOXY_AUTH, {"contactListId": "L1", "emails": ["nope"], "userIds": [""]}),
    ("POST", WOOXY, WOOXY_AUTH, {"contactListId": "NOPE", "emails": ["user5@example.com"]}),
    ("POST", WOOXY, [], {"contactListId": "L1", "emails": ["user5@example.com"]}),
    ("POST", WOOXY, WOOXY_AUTH, b"[]"),
    ("GET", WOOXY, WOOXY_AUTH, b""),
    ("POST", WOOXY + "/", WOOXY_AUTH, {"contactListId": "L1", "emails": ["user6@example.com"]}),
    ("POST", "/wooxy/v3/request/find", WOOXY_AUTH, {"ids": ["0" * 24]}),
]


def _call(app, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers]
        + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return sent


def _run_all(direct: bool) -> list:
    app = create_app(direct=direct)
    sandbox = app.state.sandbox
    sandbox.seed({"migma": {"projects": {"P1": ["seeded@x.com"]}}, "wooxy": {"lists": {"L1": ["a@x.com"]}}})
    sandbox.generate({"vendor": "migma", "project": "P1", "count": 10, "pattern": "user{i}@example.com"})
    sandbox.generate({"vendor": "wooxy", "list": "L1", "count": 10, "pattern": "user{i}@example.com"})
    answers = [_call(app, method, path, headers, _body(body)) for method, path, headers, body in REQUESTS]
    log = [{k: v for k, v in e.items() if k not in ("started", "duration_ms")} for e in sandbox.log.to_list()]
    outcome = [answers, sandbox.summary(detail=True), log, sandbox.log.stats_dict()]
    return json.loads(_HEX24.sub("<id>", json.dumps(outcome, default=repr)))  # fresh ids differ per app


def test_direct_endpoints_answer_as_through_fastapi():
    direct, through_fastapi = _run_all(direct=True), _run_all(direct=False)
    migma = [200, 200, 200, 409, 400, 400, 403, 401, 400, 500, 405, 405, 307]
    wooxy = [200, 400, 200, 401, 400, 405, 307, 200]
    assert [answer[0]["status"] for answer in direct[0]] == migma + wooxy
    assert direct == through_fastapi


def test_only_the_hot_endpoints_are_direct():
    middleware = [m for m in create_app().user_middleware if m.cls.__name__ == "SandboxMiddleware"]
    assert sorted(middleware[0].kwargs["direct_routes"]) == [("POST", MIGMA), ("POST", WOOXY)]
    middleware = [
        m for m in create_app(direct=False).user_middleware if m.cls.__name__ == "SandboxMiddleware"
    ]
    assert middleware[0].kwargs["direct_routes"] == {}
