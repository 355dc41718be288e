"""``python -m airflow_contact_removal.sandbox --port 8787``: run the vendor sandbox in the foreground.

Prints ``sandbox listening on http://127.0.0.1:PORT`` once connections are accepted and exits with status 0
on SIGTERM or SIGINT. With ``--tls`` it serves HTTPS with a certificate made for loopback by a fresh CA
and prints ``sandbox listening on https://127.0.0.1:PORT (CA certificate: PATH)``: point the hook's
``verify`` extra at PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from airflow_contact_removal.sandbox.app import create_app
from airflow_contact_removal.sandbox.server import HostError, bind_socket, load_seed, make_server
from airflow_contact_removal.sandbox.state import SandboxOptions
from airflow_contact_removal.sandbox.tls import generate_tls_files
from airflow_contact_removal.sandbox.vendor import Option, sandbox_vendors


def _flagged_options() -> list[Option]:
    """The vendor options that have a command-line flag, in the vendors' order."""
    return [
        option
        for vendor in sandbox_vendors().values()
        for option in vendor.options
        if option.flag_help is not None
    ]


def _labels() -> str:
    labels = [vendor.label for vendor in sandbox_vendors().values()]
    return f"{', '.join(labels[:-1])} and {labels[-1]}" if len(labels) > 1 else "".join(labels)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_contact_removal.sandbox",
        description=f"Local stateful sandbox of the {_labels()} contact-removal APIs.",
    )
    parser.add_argument("--port", type=int, default=8787, help="TCP port (0 = a free port); default 8787")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost only")
    parser.add_argument("--seed", metavar="FILE", help="JSON seed document to load at start")
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a certificate made for loopback at start"
    )
    parser.add_argument(
        "--tls-dir",
        metavar="DIR",
        help="where --tls writes ca.pem and the server's files (default: a temp dir)",
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="VENDOR=KEY",
        help="API key a vendor accepts (repeatable)",
    )
    vendor = parser.add_argument_group("vendor behaviour")
    for option in _flagged_options():
        flag = "--" + option.name.replace("_", "-")
        if isinstance(option.default, bool):
            vendor.add_argument(flag, action="store_true", help=option.flag_help)
        else:
            vendor.add_argument(
                flag, type=type(option.default), default=option.default, help=option.flag_help
            )
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--latency-ms", type=float, default=0)
    faults.add_argument("--latency-jitter-ms", type=float, default=0)
    faults.add_argument("--arrival-jitter-ms", type=float, default=0)
    faults.add_argument("--rate-429", type=float, default=0.0)
    faults.add_argument("--retry-after", type=int, default=1)
    faults.add_argument("--rate-5xx", type=float, default=0.0)
    faults.add_argument("--rate-drop", type=float, default=0.0)
    faults.add_argument("--drop-after-processing", action="store_true")
    faults.add_argument("--rate-slow", type=float, default=0.0)
    faults.add_argument("--slow-ms", type=float, default=0)
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--fault-vendors", help=f"comma-separated subset of {','.join(sandbox_vendors())}")
    return parser


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    keys = {}
    for item in args.key:
        vendor, sep, key = item.partition("=")
        if not sep:
            raise ValueError("--key takes VENDOR=KEY")
        keys[vendor] = key
    faults = {
        "latency_ms": args.latency_ms,
        "latency_jitter_ms": args.latency_jitter_ms,
        "arrival_jitter_ms": args.arrival_jitter_ms,
        "rate_429": args.rate_429,
        "retry_after": args.retry_after,
        "rate_5xx": args.rate_5xx,
        "rate_drop": args.rate_drop,
        "drop_after_processing": args.drop_after_processing,
        "rate_slow": args.rate_slow,
        "slow_ms": args.slow_ms,
        "seed": args.fault_seed,
        "vendors": args.fault_vendors.split(",") if args.fault_vendors else None,
    }
    values: dict[str, Any] = {option.name: getattr(args, option.name) for option in _flagged_options()}
    values["faults"] = faults
    if keys:
        values["keys"] = keys
    return SandboxOptions.build(values)


async def serve(server: Any, sock: Any, url: str) -> None:
    """Serve until told to stop; print the ready line once connections are accepted."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"sandbox listening on {url}", flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = options_from_args(args)
        seed = load_seed(args.seed)
        sock = bind_socket(args.host, args.port)
        tls = generate_tls_files(args.tls_dir) if args.tls or args.tls_dir else None
    except HostError as exc:
        parser.error(str(exc))
    except (ValueError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    app = create_app(options, seed)
    server = make_server(app, tls=tls)
    address, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    url = f"{scheme}://[{address}]:{port}" if ":" in address else f"{scheme}://{address}:{port}"
    if tls:
        url += f" (CA certificate: {tls.ca_path})"

    # uvicorn handles SIGTERM/SIGINT with a graceful shutdown and then re-raises the signal to the handler
    # that was installed before it; with these no-op handlers in place the re-raise is harmless and the
    # process exits with status 0 instead of dying from the signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(serve(server, sock, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
