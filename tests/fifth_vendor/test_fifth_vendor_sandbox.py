"""Parcel over real HTTP: the operators, the worker wait and the trigger against the real sandbox.

Parcel's sandbox module (:mod:`tests.fifth_vendor.sandbox`) is plugged in only through the registry
(the conftest's ``register_hook(..., sandbox_module=...)``); the four built-in vendors are served beside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_contact_removal._compat import TaskDeferred
from airflow_contact_removal.hooks import register_hook
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from airflow_contact_removal.sandbox import SandboxServer
from airflow_contact_removal.sandbox.app import create_app
from airflow_contact_removal.vendors import unregister_vendor
from tests.conftest import set_connection
from tests.fifth_vendor.conftest import MEMBERS
from tests.fifth_vendor.hook import ParcelHook
from tests.fifth_vendor.test_fifth_vendor import STRANGER, context, resume_from_the_trigger

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def parcel_sandbox(parcel_registered, monkeypatch) -> Iterator[SandboxServer]:
    for name in _PROXY_VARIABLES:  # loopback calls must never go through a proxy from the environment
        monkeypatch.delenv(name, raising=False)
    # Tickets stay queued for 0.2 s of server clock, so the waits below see "queued" before "done".
    with SandboxServer(parcel_processing_delay=0.2, seed={"parcel": {"members": MEMBERS}}) as server:
        set_connection(
            monkeypatch,
            "parcel_sandbox",
            conn_type="parcel",
            host=server.base_url("parcel"),
            password=server.api_key("parcel"),
        )
        yield server


def removal(**kwargs) -> RemoveFromListOperator:
    return RemoveFromListOperator(
        task_id="remove", conn_id="parcel_sandbox", list_id="churn", poll_interval=0.05, **kwargs
    )


def test_the_sandbox_serves_parcel_from_its_registration(parcel_sandbox):
    assert parcel_sandbox.base_url("parcel") == parcel_sandbox.url + "/parcel/v1"
    assert parcel_sandbox.api_key("parcel") == "sandbox-parcel-key"
    assert parcel_sandbox.state("parcel") == {"parcel": {"members": 7, "tickets": {}}}
    options = parcel_sandbox._call("GET", "/_sandbox/options")
    assert (options["parcel_processing_delay"], options["parcel_max_in_flight"]) == (0.2, 2)
    assert list(parcel_sandbox.state()) == ["autosend", "wooxy", "bird", "migma", "parcel"]


def test_remove_contacts_over_http_is_accepted_within_parcels_cap(parcel_sandbox):
    summary = RemoveContactsOperator(
        task_id="remove", conn_id="parcel_sandbox", emails=MEMBERS, fail_on_error=False
    ).execute(context())

    assert (summary["accepted"], summary["removed"], summary["batches"]) == (7, 0, 3)
    log = parcel_sandbox.requests_log("parcel")
    assert [(entry["path"], entry["status"]) for entry in log] == [("/parcel/v1/removals", 202)] * 3
    limits = parcel_sandbox.key_limits("parcel")
    assert limits["requests"] == 3 and limits["max_in_flight"] <= 2 and limits["breaches"] == {}
    assert parcel_sandbox.state("parcel")["parcel"]["tickets"] == {"queued": 3}


def test_waiting_in_the_worker_over_http_folds_parcels_outcome(parcel_sandbox):
    ctx = context()
    summary = removal(emails=[*MEMBERS, STRANGER], wait_for_completion=True, fail_on_error=False).execute(ctx)

    assert (summary["removed"], summary["failed"], summary["accepted"]) == (7, 1, 0)
    failed = [record for record in ctx["ti"].xcom["batch_results"] if record["failed"]]
    assert failed[0]["identifiers"] == {"emails": [STRANGER]}
    assert failed[0]["contact_errors"][0]["reason"] == "not a member"
    assert parcel_sandbox.state("parcel") == {"parcel": {"members": 0, "tickets": {"done": 3}}}
    lookups = [e for e in parcel_sandbox.requests_log("parcel") if e["path"].endswith("/lookup")]
    assert len(lookups) >= 3 and {e["status"] for e in lookups} == {200}  # never over 2 ids a lookup
    assert parcel_sandbox.key_limits("parcel")["breaches"] == {}


def test_deferring_waits_in_the_generic_trigger_over_http(parcel_sandbox):
    ctx = context()
    task = removal(emails=[*MEMBERS, STRANGER], wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    _, kwargs = deferred.value.trigger.serialize()

    resume_from_the_trigger(task, ctx, kwargs)


def test_an_unregistered_vendor_is_not_served(parcel_registered):
    unregister_vendor("parcel")
    try:
        sandbox = create_app().state.sandbox
        assert list(sandbox.vendors) == ["autosend", "wooxy", "bird", "migma"]
    finally:
        register_hook(ParcelHook, sandbox_module="tests.fifth_vendor.sandbox")  # the fixture removes it
