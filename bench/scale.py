"""Benchmark at scale (``make bench-scale``): TLS against plain HTTP, and one removal in 8 shards.

1. **TLS.** Wooxy (C=10, B=100) and Migma (C=4, B=1000) removals of 100k identifiers from a file, by
   the operator, against the sandbox with 50 ms of added latency, over plain HTTP and over TLS (the
   sandbox's own CA in the ``verify`` extra). Each figure is the median of ``BENCH_REPEATS`` runs
   (default 3), as a ratio to C x B / L with L = the measured round trip of one request sent alone
   over the same transport, and with L = 50 ms.
2. **10M in 8 shards, for memory and exactness.** 10M synthetic Migma emails in one file (1%
   duplicates in another case or with spaces, 0.1% invalid), removed by 8 shards, each a separate
   process running ``RemoveContactsOperator(shards=8, shard=k)`` as a mapped task instance would,
   all 8 at once, over TLS with latency 0: peak RSS of each shard, merged totals (which must be
   exact), wall time, and the sandbox's own count of requests in flight (never above Migma's cap of
   8: each shard keeps 1 request in flight). 8 concurrent processes stand in for 8 mapped task
   instances of a real deployment: the Airflow deployment harness is not part of this benchmark.
3. **Throughput in 8 shards.** The same at ``BENCH_SCALE_THROUGHPUT_IDS`` (default 1M) with 50 ms
   of latency: identifiers per second as a ratio to the account's limit C x B / L with C = 8 (the
   shards' sum), B = 1000.

The machine has 2 cores, shared: each shard reads and normalises the whole file, so 8 shards on 2
cores are bound by CPU, not by the vendor; figures are noisy. ``BENCH_SCALE_IDS`` sets the size of
(2) (default 10M).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
TLS_IDS = int(os.environ.get("BENCH_TLS_IDS", "100000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SCALE_IDS = int(os.environ.get("BENCH_SCALE_IDS", "10000000"))
THROUGHPUT_IDS = int(os.environ.get("BENCH_SCALE_THROUGHPUT_IDS", "1000000"))
SHARDS = 8
SHARD_CONCURRENCY = 1  # 8 shards x 1 in flight = Migma's cap of 8 for the account
MIGMA_CAP = 8

sys.path.insert(0, str(REPO))
from airflow_contact_removal.merge import BUCKETS, merge_summaries  # noqa: E402
from airflow_contact_removal.sandbox import SandboxClient  # noqa: E402

VENDORS = {"wooxy": (100, 10), "migma": (1000, 4)}  # vendor: (B, C by default)
LIST_ID, PROJECT_ID = "bench-list", "bench-project"


def start_sandbox(workdir: Path, tls: bool) -> tuple[subprocess.Popen, SandboxClient]:
    command = [PYTHON, "-m", "airflow_contact_removal.sandbox", "--port", "0"]
    if tls:
        command += ["--tls-dir", str(workdir / "tls")]
    log = (workdir / f"sandbox-{'tls' if tls else 'http'}.log").open("w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    match = re.fullmatch(r"sandbox listening on (\S+)(?: \(CA certificate: (.+)\))?\n", line)
    if not match:
        process.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return process, SandboxClient(match[1], ca_path=match[2])


def _env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(workdir / "airflow-home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return env


def operator_command(client: SandboxClient, vendor: str, path: Path, results: Path, **options) -> list[str]:
    extra = {"project_id": PROJECT_ID} if vendor == "migma" else {}
    command = [
        PYTHON,
        str(REPO / "bench" / "operator_run.py"),
        "--connection",
        client.connection_uri(vendor, **extra),
        "--input",
        str(path),
        "--results",
        str(results),
    ]
    if vendor == "wooxy":
        command += ["--list-id", LIST_ID]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def simple_file(workdir: Path, size: int) -> Path:
    path = workdir / f"emails-{size}.txt"
    if not path.exists():
        with path.open("w") as handle:
            handle.writelines(f"user{i}@example.com\n" for i in range(size))
    return path


def messy_file(workdir: Path, size: int) -> tuple[Path, dict[str, int]]:
    """``size`` lines: 1% duplicates (other case, spaces), 0.1% invalid, the rest unique."""
    duplicates, invalid = size // 100, size // 1000
    unique = size - duplicates - invalid
    path = workdir / f"messy-{size}.txt"
    with path.open("w") as handle:
        # Every 100th line repeats an address seen earlier in another form; every 1000th is invalid.
        written = next_unique = dup_source = 0
        chunk = []
        while written < size:
            if written % 1000 == 999 and invalid:
                chunk.append(f"not an email {written}\n")
                invalid -= 1
            elif written % 100 == 50 and duplicates and dup_source < next_unique:
                chunk.append(f"  USER{dup_source}@Example.COM \n")
                dup_source += 7
                duplicates -= 1
            elif next_unique < unique:
                chunk.append(f"user{next_unique}@example.com\n")
                next_unique += 1
            elif duplicates:
                chunk.append(f"User{dup_source}@example.com\n")
                dup_source += 7
                duplicates -= 1
            else:
                chunk.append(f"not an email {written}\n")
                invalid -= 1
            written += 1
            if len(chunk) >= 100_000:
                handle.writelines(chunk)
                chunk = []
        handle.writelines(chunk)
    expected = {"requested": size, "unique": unique, "duplicates": size // 100, "invalid": size // 1000}
    return path, expected


def round_trip(client: SandboxClient, vendor: str, samples: int = 15) -> float:
    """Median seconds of one batch of B identifiers sent alone over one keep-alive session."""
    batch, _ = VENDORS[vendor]
    prepare(client, vendor, samples * batch)
    session = requests.Session()
    session.trust_env = False
    session.verify = client.ca_path or True
    if vendor == "wooxy":
        url, headers = client.base_url(vendor) + "/contacts/remove", {"Access-Token": client.api_key(vendor)}
        fixed = {"contactListId": LIST_ID}
    else:
        url = client.base_url(vendor) + "/v1/contacts/bulk-delete"
        headers, fixed = {"Authorization": f"Bearer {client.api_key(vendor)}"}, {"projectId": PROJECT_ID}
    times = []
    for number in range(samples):
        emails = [f"user{i}@example.com" for i in range(number * batch, (number + 1) * batch)]
        started = time.perf_counter()
        session.post(url, json={**fixed, "emails": emails}, headers=headers, timeout=30).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first pays for the connection (and the handshake)


def prepare(client: SandboxClient, vendor: str, size: int, latency_ms: int = LATENCY_MS) -> None:
    client.reset()
    client.set_faults(latency_ms=latency_ms)
    if vendor == "wooxy":
        client.generate(vendor="wooxy", list=LIST_ID, count=size, pattern="user{i}@example.com")
    else:
        client.generate(vendor="migma", project=PROJECT_ID, count=size, pattern="user{i}@example.com")


def tls_rows(workdir: Path) -> list[dict]:
    rows = []
    path = simple_file(workdir, TLS_IDS)
    for tls in (False, True):
        process, client = start_sandbox(workdir, tls)
        try:
            for vendor, (batch, inflight) in VENDORS.items():
                rtt = round_trip(client, vendor)
                rates = []
                for number in range(REPEATS):
                    print(
                        f"{vendor} {TLS_IDS} {'tls' if tls else 'http'} {number + 1}/{REPEATS} ...",
                        file=sys.stderr,
                    )
                    prepare(client, vendor, TLS_IDS)
                    output = subprocess.run(
                        operator_command(client, vendor, path, workdir / f"results-{vendor}.jsonl"),
                        capture_output=True,
                        text=True,
                        check=True,
                        env=_env(workdir),
                    )
                    result = last_json(output.stdout)
                    assert result["summary"]["failed"] == 0, result["summary"]
                    rates.append(TLS_IDS / result["wall"])
                rate = statistics.median(rates)
                rows.append(
                    {
                        "vendor": vendor,
                        "transport": "TLS" if tls else "HTTP",
                        "rate": rate,
                        "range": (min(rates), max(rates)),
                        "round_trip_ms": rtt * 1000,
                        "of_measured": rate * rtt / (inflight * batch),
                        "of_nominal": rate * (LATENCY_MS / 1000) / (inflight * batch),
                    }
                )
        finally:
            process.terminate()
            process.wait(10)
    return rows


def sharded_run(workdir: Path, client: SandboxClient, size: int, latency_ms: int) -> dict:
    """Remove a messy file of ``size`` lines in 8 concurrent shard processes; measure and merge."""
    print(f"writing {size:,} lines ...", file=sys.stderr)
    path, expected = messy_file(workdir, size)
    prepare(client, "migma", expected["unique"], latency_ms=latency_ms)
    client.clear_requests()
    results = workdir / f"sharded-{size}" / "purge-{shard}.jsonl"
    print(f"{SHARDS} shards of {size:,} ...", file=sys.stderr)
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            operator_command(
                client,
                "migma",
                path,
                results,
                shards=SHARDS,
                shard=shard,
                max_concurrency=SHARD_CONCURRENCY,
            ),
            stdout=subprocess.PIPE,
            stderr=(workdir / f"shard-{size}-{shard}.log").open("w"),
            text=True,
            env=_env(workdir),
        )
        for shard in range(SHARDS)
    ]
    outputs = [process.communicate()[0] for process in processes]
    wall = time.perf_counter() - started
    if any(process.returncode for process in processes):
        raise SystemExit(f"a shard failed; see {workdir}/shard-{size}-*.log")
    runs = [last_json(output) for output in outputs]
    merged = merge_summaries([run["summary"] for run in runs])
    stats = client.stats()["migma"]
    log = client.requests_log("migma")
    span = None
    if log:
        span = max(e["started"] + e["duration_ms"] / 1000 for e in log) - min(e["started"] for e in log)
    left = client.state("migma")["migma"]["projects"][PROJECT_ID]
    exact = (
        merged["requested"] == expected["requested"]
        and merged["removed"] == expected["unique"]
        and merged["duplicates"] == expected["duplicates"]
        and merged["invalid"] == expected["invalid"]
        and merged["failed"] == 0
        and merged["requested"] == sum(merged[name] for name in BUCKETS)
        and left == 0
    )
    return {
        "size": size,
        "latency_ms": latency_ms,
        "wall": wall,
        "span": span,
        "rss": [run["max_rss_mb"] for run in runs],
        "cpu": [run["cpu"] for run in runs],
        "requested": [run["summary"]["requested"] for run in runs],
        "merged": merged,
        "expected": expected,
        "exact": exact,
        "left": left,
        "max_in_flight": stats["max_in_flight"],
        "statuses": stats["by_status"],
        "violations": sum(stats["limit_violations"].values()),
    }


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="acr-bench-scale-"))
    subprocess.run(
        [str(Path(PYTHON).with_name("airflow")), "db", "migrate"],
        env=_env(workdir),
        capture_output=True,
        check=True,
    )
    try:
        tls = tls_rows(workdir) if TLS_IDS else []
        process, client = start_sandbox(workdir, tls=True)
        try:
            scale = sharded_run(workdir, client, SCALE_IDS, latency_ms=0) if SCALE_IDS else None
            throughput = (
                sharded_run(workdir, client, THROUGHPUT_IDS, latency_ms=LATENCY_MS)
                if THROUGHPUT_IDS
                else None
            )
        finally:
            process.terminate()
            process.wait(10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(tls, scale, throughput)
    return 0 if all(run is None or run["exact"] for run in (scale, throughput)) else 1


def print_report(tls: list[dict], scale: dict | None, throughput: dict | None) -> None:
    if tls:
        print(
            f"\n{TLS_IDS:,} identifiers from a file, {LATENCY_MS} ms added latency, median of {REPEATS} runs."
        )
        print(
            "Limit = C x B / L; L = measured round trip of one request sent alone over the same transport.\n"
        )
        print(
            "| vendor | transport | operator ids/s | round trip | % of limit, L = measured | % of limit, L = 50 ms |"
        )
        print("|---|---|---|---|---|---|")
        for row in tls:
            low, high = row["range"]
            print(
                f"| {row['vendor']} | {row['transport']} | {row['rate']:,.0f} ({low:,.0f}-{high:,.0f}) | "
                f"{row['round_trip_ms']:.1f} ms | {100 * row['of_measured']:.0f}% | {100 * row['of_nominal']:.0f}% |"
            )
        for vendor in VENDORS:
            by = {row["transport"]: row for row in tls if row["vendor"] == vendor}
            if len(by) == 2:
                print(
                    f"{vendor}: TLS - HTTP = {100 * (by['TLS']['of_measured'] - by['HTTP']['of_measured']):+.0f} "
                    f"points (L measured), {100 * (by['TLS']['of_nominal'] - by['HTTP']['of_nominal']):+.0f} points (L = 50 ms)"
                )
    for run in (scale, throughput):
        if run is None:
            continue
        merged, expected = run["merged"], run["expected"]
        print(
            f"\nMigma, {run['size']:,} lines in one file ({expected['duplicates']:,} duplicates, "
            f"{expected['invalid']:,} invalid), {SHARDS} shards run as {SHARDS} concurrent processes "
            f"(each a RemoveContactsOperator shard, {SHARD_CONCURRENCY} request in flight), over TLS, "
            f"latency {run['latency_ms']} ms:"
        )
        limit = MIGMA_CAP * 1000 / (run["latency_ms"] / 1000) if run["latency_ms"] else None
        by_wall, by_span = merged["removed"] / run["wall"], merged["removed"] / run["span"]
        print(
            f"  wall {run['wall']:.1f} s (8 process start-ups included); requests from first to last "
            f"{run['span']:.1f} s; {by_wall:,.0f} removed/s over the wall time, {by_span:,.0f}/s while sending"
        )
        if limit:
            print(
                f"  account's limit C x B / L = {MIGMA_CAP} x 1000 / {run['latency_ms']} ms = {limit:,.0f}/s: "
                f"{100 * by_wall / limit:.0f}% over the wall time, {100 * by_span / limit:.0f}% while sending"
            )
        print(
            f"  peak RSS per shard: {', '.join(f'{mb:.0f}' for mb in run['rss'])} MB (max {max(run['rss']):.0f}); "
            f"CPU per shard {statistics.median(run['cpu']):.1f} s (median)"
        )
        print(f"  lines per shard: {', '.join(f'{n:,}' for n in run['requested'])}")
        print(
            "  merged: "
            + ", ".join(f"{name} {merged[name]:,}" for name in ("requested", *BUCKETS))
            + f"; {len(merged['results_paths'])} results files"
        )
        print(
            f"  exact: {'yes' if run['exact'] else 'NO'} (expected requested {expected['requested']:,}, removed "
            f"{expected['unique']:,}, duplicates {expected['duplicates']:,}, invalid {expected['invalid']:,}; "
            f"sandbox left {run['left']:,})"
        )
        print(
            f"  sandbox: max {run['max_in_flight']} Migma requests in flight (cap {MIGMA_CAP}), "
            f"statuses {run['statuses']}; limit breaches: "
            f"{int(run['max_in_flight'] > MIGMA_CAP) + run['statuses'].get('429', 0) + run['violations']}"
        )


if __name__ == "__main__":
    sys.exit(main())
