"""Benchmark: AutoSend at its rate limit, 2 requests a second per key, the physical limit here.

The hooks send one-email batches to the sandbox, which enforces AutoSend's limit in one-second
windows per key. Cases:

1. one client with the key's whole rate (2/s);
2. two clients sharing the key, each with its pool share (1/s), as two tasks in the account's pool;

each on a quiet network and with requests delayed up to ``BENCH_ARRIVAL_JITTER_MS`` (800 ms) on
their way in, more than the client's 0.1 s margin. Printed per case: requests per second over the
run (first request to last answer) as a ratio to 2/s, the busiest second the sandbox saw and its
429s (must be 0). The spacing's margin alone caps a client at 1/1.1 of the limit (0.91); a
request held for the end of a window the answers report used up costs a little more.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_contact_removal.hooks import get_removal_hook  # noqa: E402
from airflow_contact_removal.sandbox.server import SandboxServer  # noqa: E402

LIMIT = 2  # AutoSend's documented requests per second per key
REQUESTS = int(os.environ.get("BENCH_AUTOSEND_REQUESTS", "40"))  # per case
JITTER_MS = int(os.environ.get("BENCH_ARRIVAL_JITTER_MS", "800"))


def run_case(sandbox: SandboxServer, clients: int, jitter_ms: int, case: int) -> dict:
    sandbox.reset()
    sandbox.set_options(autosend_rate_limit=LIMIT)
    emails = [f"rate{i}@bench.example" for i in range(REQUESTS)]
    sandbox.seed({"autosend": {"contacts": [{"email": email} for email in emails]}})
    if jitter_ms:
        sandbox.set_faults(arrival_jitter_ms=jitter_ms, vendors=["autosend"], seed=case)
    hooks = []
    for n in range(clients):
        conn_id = f"bench_autosend_{case}_{n}"
        uri = sandbox.connection_uri("autosend", requests_per_second=LIMIT / clients)
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        hooks.append(get_removal_hook(conn_id))
    parts = [emails[n::clients] for n in range(clients)]

    def send(hook, part):
        for email in part:
            hook.remove_contacts([email])

    threads = [
        threading.Thread(target=send, args=(hook, part)) for hook, part in zip(hooks, parts, strict=True)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    limits = sandbox.key_limits("autosend")
    return {
        "rate": REQUESTS / elapsed,
        "busiest": limits["max_per_second"],
        "refused": sum(limits["breaches"].values()),
        "requests": limits["requests"],
    }


def main() -> None:
    print(f"AutoSend at {LIMIT} requests/s per key, {REQUESTS} requests per case")
    print(f"{'case':<44}{'req/s':>7}{'of limit':>10}{'busiest s':>11}{'429s':>6}")
    with SandboxServer(autosend_rate_limit=LIMIT) as sandbox:
        case = 0
        for clients in (1, 2):
            for jitter in (0, JITTER_MS):
                case += 1
                result = run_case(sandbox, clients, jitter, case)
                name = f"{clients} client(s) at {LIMIT / clients:g}/s, arrival jitter {jitter} ms"
                print(
                    f"{name:<44}{result['rate']:>7.2f}{result['rate'] / LIMIT:>10.2f}"
                    f"{result['busiest']:>11}{result['refused']:>6}"
                )
    print(json.dumps({"note": "429s must be 0; busiest second must be <= 2"}))


if __name__ == "__main__":
    main()
