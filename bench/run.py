"""Benchmark: removal throughput against the sandbox with added latency, side by side.

1. this provider's operator (Wooxy list removal: C=10, B=100; Migma: C=4 by default, B=1000), fed
   from a file with ``input_path`` and ``results_path``, at 10k, 100k and 1M identifiers;
2. the same removal without this provider: the http provider's ``HttpOperator`` mapped with
   ``.expand()`` over batches cut upstream, run with ``airflow dags test`` (10k only: ``dags test``
   runs mapped tasks one by one, and 100k Wooxy would be 1000 mapped tasks);
3. a plain sequential loop with ``requests`` (one keep-alive session);
4. for reference, a bare concurrent client: C threads posting batches cut and serialised beforehand,
   nothing else (no validation, results or retries): what the sandbox and this machine allow.

Prints identifiers per second, the ratio to the physical limit C x B / L, the ratios to (2) and (3),
the CPU time of preparing 1M identifiers, peak RSS and XCom bytes. Run by hand: ``make bench``.
The sandbox runs in its own process, so it has the other core.

L is given two ways. The added latency (50 ms) is what the sandbox waits before answering; the
measured round trip is the median time of one request of B identifiers sent alone by the plain
loop (3): the added latency plus the sandbox's own work on the batch and the two processes'
wake-ups. No client can beat C x B / (measured round trip), so that is the physical limit; the
figure against the added latency alone is shown beside it. Runs of 100k identifiers or fewer are
repeated (``BENCH_REPEATS``, default 3) and the median is shown with the range.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "10000,100000,1000000").split(",")]
BASELINE_SIZES = {10_000}
SEQUENTIAL_LIMIT_S = 120  # skip a sequential run predicted to take longer than this
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))  # operator runs per size up to REPEAT_UP_TO
REPEAT_UP_TO = 100_000

sys.path.insert(0, str(REPO))
from airflow_contact_removal.sandbox import SandboxClient  # noqa: E402

VENDORS = {
    # vendor: (batch size B, requests in flight C the operator uses by default)
    "wooxy": (100, 10),
    "migma": (1000, 4),
}
LIST_ID, PROJECT_ID = "bench-list", "bench-project"


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen, SandboxClient]:
    log = (workdir / "sandbox.log").open("w")
    process = subprocess.Popen(
        [PYTHON, "-m", "airflow_contact_removal.sandbox", "--port", "0", "--latency-ms", str(LATENCY_MS)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"sandbox did not start: {line!r}; see {workdir / 'sandbox.log'}")
    return process, SandboxClient(line.rsplit(" ", 1)[-1].strip())


def prepare(client: SandboxClient, vendor: str, size: int) -> None:
    client.reset()
    client.set_faults(latency_ms=LATENCY_MS)
    if vendor == "wooxy":
        client.generate(vendor="wooxy", list=LIST_ID, count=size, pattern="user{i}@example.com")
    else:
        client.generate(vendor="migma", project=PROJECT_ID, count=size, pattern="user{i}@example.com")


def left(client: SandboxClient, vendor: str) -> int:
    state = client.state(vendor)[vendor]
    return state["lists"][LIST_ID] if vendor == "wooxy" else state["projects"][PROJECT_ID]


def request_span(client: SandboxClient, vendor: str) -> tuple[float, int]:
    """Seconds from the first request's start to the last one's end, and how many, per the sandbox."""
    log = [entry for entry in client.requests_log(vendor) if entry.get("vendor") == vendor]
    first = min(entry["started"] for entry in log)
    last = max(entry["started"] + entry["duration_ms"] / 1000 for entry in log)
    return last - first, len(log)


def input_file(workdir: Path, size: int) -> Path:
    path = workdir / f"emails-{size}.txt"
    if not path.exists():
        with path.open("w") as handle:
            handle.writelines(f"user{i}@example.com\n" for i in range(size))
    return path


def run_operator(client: SandboxClient, workdir: Path, vendor: str, size: int) -> dict:
    prepare(client, vendor, size)
    extra = {"project_id": PROJECT_ID} if vendor == "migma" else {}
    command = [
        PYTHON,
        str(REPO / "bench" / "operator_run.py"),
        "--connection",
        client.connection_uri(vendor, **extra),
        "--input",
        str(input_file(workdir, size)),
        "--results",
        str(workdir / f"results-{vendor}-{size}.jsonl"),
    ]
    if vendor == "wooxy":
        command += ["--list-id", LIST_ID]
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=_env(workdir))
    result = json.loads(output.stdout.strip().splitlines()[-1])
    result["left"] = left(client, vendor)
    result["max_in_flight"] = (
        client.stats()["vendors"][vendor]["max_in_flight"] if "vendors" in client.stats() else None
    )
    return result


def _endpoint(client: SandboxClient, vendor: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The removal URL, auth headers and the body's fixed fields, as a user would write them."""
    if vendor == "wooxy":
        return (
            client.base_url(vendor) + "/contacts/remove",
            {"Access-Token": client.api_key(vendor)},
            {"contactListId": LIST_ID},
        )
    return (
        client.base_url(vendor) + "/v1/contacts/bulk-delete",
        {"Authorization": f"Bearer {client.api_key(vendor)}"},
        {"projectId": PROJECT_ID},
    )


def run_bare(client: SandboxClient, workdir: Path, vendor: str, size: int) -> dict:
    batch, inflight = VENDORS[vendor]
    prepare(client, vendor, size)
    emails = input_file(workdir, size).read_text().split()
    url, headers, fixed = _endpoint(client, vendor)
    headers = {**headers, "Content-Type": "application/json"}
    bodies = queue.SimpleQueue()
    for start in range(0, len(emails), batch):
        bodies.put(json.dumps({**fixed, "emails": emails[start : start + batch]}))

    def send_all() -> None:
        session = requests.Session()
        while True:
            try:
                body = bodies.get_nowait()
            except queue.Empty:
                return
            session.post(url, data=body, headers=headers, timeout=30).raise_for_status()

    threads = [threading.Thread(target=send_all) for _ in range(inflight)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"wall": time.perf_counter() - started, "left": left(client, vendor)}


def run_sequential(client: SandboxClient, workdir: Path, vendor: str, size: int) -> dict | None:
    batch, _ = VENDORS[vendor]
    predicted = size / batch * LATENCY_MS / 1000
    if predicted > SEQUENTIAL_LIMIT_S:
        return {"skipped": f"would take ~{predicted:.0f} s"}
    prepare(client, vendor, size)
    emails = input_file(workdir, size).read_text().split()
    session = requests.Session()
    url, headers, fixed = _endpoint(client, vendor)
    round_trips = []
    started = time.perf_counter()
    for start in range(0, len(emails), batch):
        body = {**fixed, "emails": emails[start : start + batch]}
        sent = time.perf_counter()
        session.post(url, json=body, headers=headers, timeout=30).raise_for_status()
        round_trips.append(time.perf_counter() - sent)
    return {
        "wall": time.perf_counter() - started,
        "round_trip": statistics.median(round_trips),
        "left": left(client, vendor),
    }


def run_http_operator(client: SandboxClient, workdir: Path, vendor: str, size: int) -> dict:
    prepare(client, vendor, size)
    client.clear_requests()
    env = _env(workdir)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "bench" / "dags")
    env["AIRFLOW__CORE__MAX_MAP_LENGTH"] = "100000"
    auth = (
        {"Access-Token": client.api_key(vendor)}
        if vendor == "wooxy"
        else {"Authorization": f"Bearer {client.api_key(vendor)}"}
    )
    env[f"AIRFLOW_CONN_BENCH_{vendor.upper()}_HTTP"] = json.dumps(
        {
            "conn_type": "http",
            "host": client.base_url(vendor),
            "extra": {**auth, "Content-Type": "application/json"},
        }
    )
    conf = {"input": str(input_file(workdir, size)), "list_id": LIST_ID, "project_id": PROJECT_ID}
    started = time.perf_counter()
    with (workdir / f"http-{vendor}-{size}.log").open("w") as log:
        subprocess.run(
            [AIRFLOW, "dags", "test", f"bench_http_{vendor}", "-c", json.dumps(conf)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    total = time.perf_counter() - started
    span, requests_sent = request_span(client, vendor)
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        xcom_bytes = db.execute(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM xcom WHERE dag_id = ?", (f"bench_http_{vendor}",)
        ).fetchone()[0]
    return {
        "wall": span,
        "dags_test_wall": total,
        "requests": requests_sent,
        "xcom_bytes": xcom_bytes,
        "left": left(client, vendor),
    }


def prepare_cpu(workdir: Path) -> dict:
    """CPU seconds to normalise, validate, de-duplicate and batch 1M emails (from a list, and streamed from a file)."""
    code = f"""
import json, time
from airflow_contact_removal.batching import make_batches
from airflow_contact_removal.files import FileIdentifiers
from airflow_contact_removal.identifiers import IdentifierCleaner
emails = [f"User{{i}}@Example.com" for i in range(1_000_000)]
out = {{}}
for name, source in (("list", emails), ("file", FileIdentifiers({str(input_file(workdir, 1_000_000))!r}))):
    cpu = time.process_time()
    cleaner = IdentifierCleaner()
    sent = sum(batch.size for batch in make_batches({{"emails": cleaner.clean("emails", source)}}, 100, mix_kinds=True))
    out[name] = time.process_time() - cpu
    assert sent == 1_000_000
print(json.dumps(out))
"""
    output = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, check=True, env=_env(workdir)
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def _env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(workdir / "airflow-home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return env


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="acr-bench-"))
    subprocess.run([AIRFLOW, "db", "migrate"], env=_env(workdir), capture_output=True, check=True)
    process, client = start_sandbox(workdir)
    rows = []
    round_trips: dict[str, float | None] = {}
    try:
        for vendor, (batch, inflight) in VENDORS.items():
            round_trip = None
            for size in SIZES:
                repeats = REPEATS if size <= REPEAT_UP_TO else 1
                runs = []
                for number in range(repeats):
                    print(
                        f"{vendor} {size}: operator {number + 1}/{repeats} ...", file=sys.stderr, flush=True
                    )
                    runs.append(run_operator(client, workdir, vendor, size))
                print(f"{vendor} {size}: sequential ...", file=sys.stderr, flush=True)
                sequential = run_sequential(client, workdir, vendor, size)
                round_trip = round_trip or (sequential or {}).get("round_trip")
                bare = None
                if size <= REPEAT_UP_TO:
                    print(f"{vendor} {size}: bare client ...", file=sys.stderr, flush=True)
                    bare = run_bare(client, workdir, vendor, size)
                http = None
                if size in BASELINE_SIZES:
                    print(f"{vendor} {size}: HttpOperator.expand() ...", file=sys.stderr, flush=True)
                    http = run_http_operator(client, workdir, vendor, size)
                rows.append((vendor, size, (batch, inflight), runs, http, sequential, bare))
            round_trips[vendor] = round_trip
        cpu = prepare_cpu(workdir)
    finally:
        process.terminate()
        process.wait(10)
    print_table(rows, round_trips, cpu)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _rate(size: int, result: dict | None) -> float | None:
    if not result or "wall" not in result:
        return None
    return size / result["wall"]


def print_table(rows, round_trips, cpu) -> None:
    print(f"\nLatency added by the sandbox: {LATENCY_MS} ms per request. Limit = C x B / L.")
    for vendor, round_trip in round_trips.items():
        if round_trip:
            print(f"Measured round trip of one {vendor} request sent alone: {round_trip * 1000:.1f} ms.")
    print()
    header = (
        "vendor",
        "ids",
        "operator ids/s",
        "% of limit, L = measured round trip",
        f"% of limit, L = {LATENCY_MS} ms",
        f"bare client, % of L = {LATENCY_MS} ms",
        "vs HttpOperator",
        "vs sequential",
        "peak RSS MB",
        "XCom bytes",
        "left",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for vendor, size, (batch, inflight), runs, http, sequential, bare in rows:
        rates = sorted(_rate(size, run) for run in runs)
        rate = statistics.median(rates)
        spread = f" ({rates[0]:,.0f}-{rates[-1]:,.0f})" if len(rates) > 1 else ""
        nominal_limit = inflight * batch / (LATENCY_MS / 1000)
        round_trip = round_trips.get(vendor)
        measured = (
            f"{100 * rate * round_trip / (inflight * batch):.0f}%"
            + (
                f" ({100 * rates[0] * round_trip / (inflight * batch):.0f}-"
                f"{100 * rates[-1] * round_trip / (inflight * batch):.0f}%)"
                if len(rates) > 1
                else ""
            )
            if round_trip
            else "not measured"
        )
        http_rate, seq_rate, bare_rate = _rate(size, http), _rate(size, sequential), _rate(size, bare)
        operator = runs[len(runs) // 2]
        cells = (
            vendor,
            f"{size:,}",
            f"{rate:,.0f}{spread}",
            measured,
            f"{100 * rate / nominal_limit:.0f}%",
            f"{100 * bare_rate / nominal_limit:.0f}%" if bare_rate else "not run",
            f"{rate / http_rate:.0f}x ({http_rate:,.0f}/s)" if http_rate else "not run",
            f"{rate / seq_rate:.1f}x ({seq_rate:,.0f}/s)"
            if seq_rate
            else (sequential or {}).get("skipped", "not run"),
            f"{max(run['max_rss_mb'] for run in runs):.0f}",
            f"{operator['xcom_bytes']:,}",
            str(max([run["left"] for run in runs] + [(bare or {}).get("left", 0)])),
        )
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nPreparing 1M emails (normalise, validate, de-duplicate, batch): {cpu['list']:.2f} s CPU from a list, "
        f"{cpu['file']:.2f} s CPU streamed from a file."
    )
    for vendor, size, _, _runs, http, _, _bare in rows:
        if http:
            print(
                f"HttpOperator baseline, {vendor} {size:,}: {http['requests']} mapped requests, "
                f"{http['wall']:.1f} s of requests ({http['dags_test_wall']:.0f} s for the whole `dags test`), "
                f"{http['xcom_bytes']:,} XCom bytes."
            )


if __name__ == "__main__":
    sys.exit(main())
