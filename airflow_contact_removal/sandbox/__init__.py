"""A local, stateful sandbox of the four vendors' contact-removal APIs.

One HTTP server (FastAPI served by uvicorn, loopback only) speaks AutoSend, Wooxy, Bird and Migma under a
prefix each, so example DAGs, demos, integration tests and benchmarks need no vendor account and no network.
The vendors' published API references are the contract; where one is unclear the sandbox takes the strict
reading and says so in a comment.

It serves every vendor of the registry (:mod:`airflow_contact_removal.vendors`) that names a sandbox
module: each such module ends with a ``SANDBOX`` descriptor
(:class:`~airflow_contact_removal.sandbox.vendor.SandboxVendor`), so a vendor registered from outside
this package is served by a sandbox started after its registration.

Start it with ``python -m airflow_contact_removal.sandbox --port 8787`` or, in tests, with
:class:`SandboxServer`::

    with SandboxServer(seed={"migma": {"projects": {"P1": ["a@example.com"]}}}) as sandbox:
        base = sandbox.base_url("migma")          # http://127.0.0.1:PORT/migma
        key = sandbox.api_key("migma")            # sandbox-migma-key

With ``--tls`` (``SandboxServer(tls=True)``) it serves HTTPS with a certificate for loopback signed by
a CA made at start (see :mod:`~airflow_contact_removal.sandbox.tls`); ``connection_uri()`` then puts
the CA in the connection's ``verify`` extra.

Vendor bases (below them the paths are the vendors' own) and auth headers:

- AutoSend ``http://127.0.0.1:PORT/autosend/v1``, ``Authorization: Bearer <key>``
- Wooxy ``http://127.0.0.1:PORT/wooxy/v3``, ``Access-Token: <key>``
- Bird ``http://127.0.0.1:PORT/bird``, ``Authorization: AccessKey <key>``
- Migma ``http://127.0.0.1:PORT/migma``, ``Authorization: Bearer <key>``

Default keys: ``sandbox-autosend-key``, ``sandbox-wooxy-key``, ``sandbox-bird-key``, ``sandbox-migma-key``.

Seed document (``--seed FILE``, ``SandboxServer(seed=...)``, ``POST /_sandbox/seed``; merged into the state,
validated as a whole before anything changes)::

    {
      "keys": {"migma": "my-key"},
      "autosend": {
        "contacts": ["a@x.com", {"email": "b@x.com", "id": "<24 hex, optional>"}],
        "lists": {"L1": ["a@x.com", "<contact id>"]}
      },
      "wooxy": {
        "lists": {"L1": ["a@x.com", {"email": "b@x.com", "phone": "+31600000001", "userId": "u1"}]}
      },
      "bird": {
        "workspaces": {
          "<workspace uuid>": {
            "contacts": [{"id": "<uuid, optional>", "emailaddress": "a@x.com", "phonenumber": "+31600000001"}],
            "lists": {"<list uuid>": ["<contact uuid>", "b@x.com", "+31600000002"]}
          }
        }
      },
      "migma": {"projects": {"P1": ["a@x.com"]}}
    }

List entries that are emails (or, for Bird, E.164 phone numbers) create the contact when it does not exist;
ids must name contacts seeded in the same document or earlier. Emails are compared case-insensitively.
The answer holds the ids the sandbox made::

    {"autosend": {"contacts": {"a@x.com": "<24 hex id>", ...}},
     "wooxy": {"lists": {"L1": [{"id": "<24 hex>", "email": ..., "phone": ..., "userId": ...}, ...]}},
     "bird": {"workspaces": {"<uuid>": {"contacts": [{"id", "emailaddress", "phonenumber"}, ...]}}},
     "migma": {"projects": {"P1": <number of contacts added>}}}

Generated data sets (``POST /_sandbox/seed/generate``; ``i`` runs from ``start`` (default 0) to
``start + count - 1``; patterns hold one ``{i}`` or zero-padded ``{i:07d}``)::

    {"vendor": "migma", "project": "P1", "count": 1000000, "pattern": "user{i}@example.com"}
    {"vendor": "autosend", "count": 1000000, "pattern": "user{i}@example.com", "list": "L1"}   # list optional
    {"vendor": "wooxy", "list": "L1", "count": 1000000, "pattern": "user{i}@example.com",
     "phone_pattern": "+3160{i:07d}", "user_id_pattern": "u{i}"}                              # any of the three
    {"vendor": "bird", "workspace": "<uuid>", "list": "<uuid>", "count": 1000000,
     "pattern": "user{i}@example.com", "phone_pattern": "+3160{i:07d}"}

Generated contacts are computed from the patterns, not stored: a million cost about 1 MB per container
and take milliseconds. Their ids are deterministic per range and shown in the answer (``first``, ``last``).

Control and inspection (no auth, loopback only)
    - ``POST /_sandbox/reset``: empty state, faults off, options and keys as at start, log cleared.
    - ``GET|POST /_sandbox/faults``: ``{"latency_ms": 0, "latency_jitter_ms": 0,
      "arrival_jitter_ms": 0, "rate_429": 0.0, "retry_after": 1, "rate_5xx": 0.0, "rate_drop": 0.0, "drop_after_processing": false,
      "rate_slow": 0.0, "slow_ms": 0, "seed": 0, "vendors": null, "trickle_ms": 0, "hang_ms": 0,
      "retry_after_header": null, "echo_identifiers": false}``; POST changes the given fields. The
      last four are hostile answers on every request: a body trickled one byte every ``trickle_ms``,
      silence for ``hang_ms`` then a dropped connection, a raw ``Retry-After`` on injected 429/5xx
      (a past date, ``0``, ``100000``), a documented refusal quoting an identifier of the batch.
      ``arrival_jitter_ms`` delays requests on their way in: the per-key counters and limits see a
      request when it arrives, as a vendor does, so a late request can share a second with the next.
    - ``GET|POST /_sandbox/options``: ``autosend_rate_limit``, ``autosend_return_ids``,
      ``autosend_max_batch``, ``wooxy_processing_delay``, ``wooxy_error_rate``, ``wooxy_error_seed``,
      ``wooxy_max_in_flight`` (10), ``bird_max_in_flight`` (5), ``migma_max_in_flight`` (8): requests
      one key may have in flight before 429 (0 turns a cap off).
    - ``GET|POST /_sandbox/clock``: ``{"advance_seconds": n}`` moves the server clock forward.
    - ``GET /_sandbox/state[?vendor=X[&detail=1]]``: counts; with detail, members (1000 per container).
    - ``GET|DELETE /_sandbox/requests[?vendor=X&limit=N]``: request log (last 100 000);
      ``GET /_sandbox/stats``: per-vendor totals. Neither ever holds an API key or a contact identifier.
    - ``GET /_sandbox/limits``: per vendor and API key (named ``key-<sha256 prefix>``, never shown):
      ``requests``, ``max_in_flight`` (counted on arrival, refused requests included),
      ``max_per_second`` (most requests in one second of the server clock) and ``breaches`` (429s for
      ``too_many_in_flight`` or ``rate_limited``). Every task and trigger sharing a key adds up here,
      as it does at the vendor. Cleared with the request log.
    - ``GET /_sandbox/health``.
"""

from airflow_contact_removal.sandbox.app import create_app
from airflow_contact_removal.sandbox.client import SandboxClient
from airflow_contact_removal.sandbox.server import SandboxServer
from airflow_contact_removal.sandbox.state import SandboxOptions

__all__ = ["SandboxClient", "SandboxOptions", "SandboxServer", "create_app"]
