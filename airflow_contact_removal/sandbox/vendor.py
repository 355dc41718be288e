"""
What the sandbox needs to know about one vendor, declared by the vendor's own module.

Each vendor module of the sandbox (``sandbox/migma.py``, or one outside this package) ends with a
``SANDBOX = SandboxVendor(...)``: its path prefix, how it reads an API key, its router, its store, its
options and the bodies of its injected faults. The vendor registry
(:mod:`airflow_contact_removal.vendors`) names that module; the app, the state, the middleware, the
command line and the client iterate over :func:`sandbox_vendors` and name no vendor themselves.

A store (``new_store``'s result) answers ``summary(detail, limit)``, ``apply_seed(plan)`` (the plan
``parse_seed(section, store)`` made, after the whole seed document was validated) and ``generate(spec)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_contact_removal.sandbox.checks import Check
from airflow_contact_removal.vendors import registered_vendors


@dataclass(frozen=True)
class Option:
    """
    One behaviour switch of a vendor (``/_sandbox/options``, ``SandboxServer(**options)``, the CLI).

    A vendor that caps the requests one key may have in flight names that option
    ``<vendor>_max_in_flight`` (0: no cap); the middleware reads it on every request.

    :param name: the option's name, starting with the vendor's, e.g. ``wooxy_processing_delay``.
    :param default: its value at start.
    :param check: what a value must be.
    :param doc: what it does.
    :param flag_help: the help text of its command-line flag (``--wooxy-processing-delay``); None: no
        flag. A boolean option's flag switches it on.
    """

    name: str
    default: Any
    check: Check
    doc: str
    flag_help: str | None = None


def no_fault_headers(sandbox: Any, headers: dict[str, str]) -> dict[str, str]:
    """Extra headers of an injected 429 or 5xx: none."""
    return {}


@dataclass(frozen=True)
class SandboxVendor:
    """
    One vendor as the sandbox serves it.

    :param name: the vendor's name (its connection type): the key of its seed section, its options'
        prefix, its entries in the state, the log and the limits.
    :param label: its name in prose, e.g. the command line's description.
    :param prefix: the path prefix it is served under; below it the paths are the vendor's own.
    :param key_header: the (lower-case) header carrying the API key.
    :param key_scheme: the scheme word before the key in that header (``Bearer``); None: the bare value.
    :param default_key: the one API key it accepts unless told otherwise.
    :param router: its endpoints.
    :param new_store: makes its empty store from the options (at start and on reset).
    :param parse_seed: ``(section, store) -> plan``: validates its seed section, changes nothing
        (raises :class:`~airflow_contact_removal.sandbox.common.SeedError`).
    :param fault_body: ``(status, retry_after) -> body`` of an injected 429 or 5xx, and of a 500 when
        a handler fails.
    :param echo_answer: ``body -> (status, body)``: its documented refusal quoting an identifier of the
        request (the ``echo_identifiers`` fault).
    :param fault_headers: ``(sandbox, request headers) -> headers`` added to an injected 429 or 5xx.
    :param too_many_in_flight: the body of its 429 for a key over its in-flight cap (None: its
        ``fault_body(429, 1)``).
    :param options: its behaviour switches, in the order ``/_sandbox/options`` lists them.
    :param direct_endpoints: endpoints of its router the middleware calls itself for their exact path
        and method, skipping FastAPI's routing, dependency solving and exception wrapping (about
        0.03 ms a request): the ones benchmarks send thousands of batches to. They take a bare
        ``Request`` and return a ``Response``, so the answers are the same.
    :param tick: ``(store, now, options)``: brings its time-driven state up to date; called before
        every request the sandbox receives and when the clock moves.
    :param options_changed: ``(store, options, changed names)``: lets its store follow an options change.
    """

    name: str
    label: str
    prefix: str
    key_header: bytes
    key_scheme: str | None
    default_key: str
    router: Any
    new_store: Callable[[Any], Any]
    parse_seed: Callable[[Any, Any], Any]
    fault_body: Callable[[int, int], dict[str, Any]]
    echo_answer: Callable[[Any], tuple[int, dict[str, Any]]]
    fault_headers: Callable[[Any, dict[str, str]], dict[str, str]] = no_fault_headers
    too_many_in_flight: dict[str, Any] | None = None
    options: tuple[Option, ...] = ()
    direct_endpoints: tuple[Callable[..., Any], ...] = ()
    tick: Callable[[Any, float, Any], None] | None = None
    options_changed: Callable[[Any, Any, set[str]], None] | None = None


def sandbox_vendors() -> dict[str, SandboxVendor]:
    """Every registered vendor the sandbox serves, by name, in the registry's order."""
    served = {}
    for vendor in registered_vendors():
        descriptor = vendor.sandbox()
        if descriptor is not None:
            served[descriptor.name] = descriptor
    return served


def vendor_names() -> tuple[str, ...]:
    """The names of the vendors the sandbox serves."""
    return tuple(sandbox_vendors())


def default_keys() -> dict[str, str]:
    """The API key each served vendor accepts unless the sandbox is started with others."""
    return {name: vendor.default_key for name, vendor in sandbox_vendors().items()}
