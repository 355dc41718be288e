"""The operators check their pool against the connection before any request and keep to their share."""

from __future__ import annotations

import logging

import pytest
import requests_mock

from airflow_contact_removal.budget import account_pool_args
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.operators import RemoveFromListOperator
from tests.conftest import set_connection
from tests.operators.conftest import FakeTaskInstance

KEY = "sk-share-test-key-0123456789"
WOOXY_URL = "https://api.wooxy.com/v3/contacts/remove"


@pytest.fixture
def context():
    ti = FakeTaskInstance()
    return {"ti": ti, "run_id": ti.run_id}


@pytest.fixture(autouse=True)
def connections(monkeypatch):
    set_connection(monkeypatch, "wooxy_acct", conn_type="wooxy", password=KEY)
    set_connection(monkeypatch, "wooxy_strict", conn_type="wooxy", password=KEY, extra={"require_pool": True})


def remove(conn_id: str, **pool_args) -> RemoveFromListOperator:
    return RemoveFromListOperator(
        task_id="remove",
        conn_id=conn_id,
        list_id="L1",
        emails=[f"user{i}@example.com" for i in range(1000)],
        **pool_args,
    )


def test_task_in_the_accounts_pool_sends_with_its_slots_in_flight(context, caplog):
    caplog.set_level(logging.INFO)
    with requests_mock.Mocker() as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        summary = remove("wooxy_acct", **account_pool_args("wooxy_acct", 3)).execute(context)

    assert summary["max_concurrency"] == 3
    assert summary["accepted"] == 1000
    assert "3 of 10 slot(s), 3 in flight" in caplog.text


def test_max_concurrency_above_the_share_is_clamped(context, caplog):
    with requests_mock.Mocker() as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        operator = remove("wooxy_acct", max_concurrency=10, **account_pool_args("wooxy_acct", 4))
        summary = operator.execute(context)

    assert summary["max_concurrency"] == 4


def test_task_outside_the_pool_is_warned_before_any_request(context, caplog):
    caplog.set_level(logging.WARNING)
    with requests_mock.Mocker() as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        summary = remove("wooxy_acct").execute(context)

    assert summary["max_concurrency"] == 10
    assert "task is in pool 'default_pool', not in pool 'contact_removal_wooxy_acct'" in caplog.text


def test_require_pool_refuses_before_any_request(context):
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match="require_pool"):
        remove("wooxy_strict").execute(context)
    assert m.call_count == 0
