"""The account budget: pool names, shares, and the check a task makes before any request."""

from __future__ import annotations

import logging

import pytest

from airflow_contact_removal.budget import (
    AccountBudget,
    account_pool_args,
    default_pool_name,
    enforce_share,
)
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks import get_removal_hook
from tests.conftest import set_connection

KEY = "sk-budget-test-key-0123456789"


@pytest.fixture(autouse=True)
def connections(monkeypatch):
    set_connection(monkeypatch, "wooxy_main", conn_type="wooxy", password=KEY)
    set_connection(monkeypatch, "autosend_main", conn_type="autosend", password=KEY)
    set_connection(
        monkeypatch, "autosend_named", conn_type="autosend", password=KEY, extra={"pool": "autosend_acct"}
    )
    set_connection(
        monkeypatch, "wooxy_strict", conn_type="wooxy", password=KEY, extra={"require_pool": "true"}
    )
    set_connection(monkeypatch, "migma_main", conn_type="migma", password=KEY, extra={"project_id": "P"})
    set_connection(
        monkeypatch,
        "bird_main",
        conn_type="bird",
        password=KEY,
        extra={"workspace_id": "a1405560-c8d3-4b1a-877d-3f449ad95352"},
    )


def test_default_pool_is_named_after_the_connection():
    assert default_pool_name("wooxy_main") == "contact_removal_wooxy_main"
    assert account_pool_args("wooxy_main", 5) == {"pool": "contact_removal_wooxy_main", "pool_slots": 5}
    assert account_pool_args("autosend_named", 1, pool="autosend_acct") == {
        "pool": "autosend_acct",
        "pool_slots": 1,
    }


@pytest.mark.parametrize("slots", [0, -1, 1.5, "2", True, None])
def test_account_pool_args_wants_a_whole_number_of_slots(slots):
    with pytest.raises(ContactRemovalConfigError, match="slots"):
        account_pool_args("wooxy_main", slots)


@pytest.mark.parametrize(
    ("conn_id", "pool", "in_flight", "rate"),
    [
        ("wooxy_main", "contact_removal_wooxy_main", 10, None),
        ("autosend_main", "contact_removal_autosend_main", 2, 2.0),
        ("autosend_named", "autosend_acct", 2, 2.0),
        ("bird_main", "contact_removal_bird_main", 5, None),
        ("migma_main", "contact_removal_migma_main", 8, None),
    ],
)
def test_budget_is_the_vendors_cap_and_the_accounts_rate(conn_id, pool, in_flight, rate):
    budget = AccountBudget.of(get_removal_hook(conn_id))
    assert (budget.pool, budget.in_flight, budget.requests_per_second) == (pool, in_flight, rate)


def test_a_share_is_slots_in_flight_and_its_part_of_the_rate():
    autosend = AccountBudget.of(get_removal_hook("autosend_main"))
    wooxy = AccountBudget.of(get_removal_hook("wooxy_main"))

    assert autosend.share(1).in_flight == 1 and autosend.share(1).requests_per_second == 1.0
    assert autosend.share(2).requests_per_second == 2.0
    assert wooxy.share(5).in_flight == 5 and wooxy.share(5).requests_per_second is None
    assert wooxy.share(50).in_flight == 10  # never above the vendor's cap


def test_task_in_its_pool_is_held_to_its_share(caplog):
    hook = get_removal_hook("autosend_main")

    share = enforce_share(hook, pool="contact_removal_autosend_main", pool_slots=1)

    assert share.in_flight == 1
    assert hook.max_in_flight == 1 and hook.default_in_flight == 1
    assert hook.rate_limiter.requests_per_second == 1.0
    # The in-flight semaphore is sized for the share: a second slot cannot be taken.
    slot = hook.in_flight.take()
    assert hook.in_flight._slots.acquire(blocking=False) is False
    slot.release()


def test_wooxy_share_caps_the_requests_in_flight():
    hook = get_removal_hook("wooxy_main")

    enforce_share(hook, pool="contact_removal_wooxy_main", pool_slots=5)

    assert hook.max_in_flight == 5 and hook.default_in_flight == 5
    assert hook.rate_limiter.requests_per_second is None
    assert type(hook).max_in_flight == 10  # the class (and every other hook) is unchanged


def test_slots_above_the_vendors_cap_are_clamped_with_a_warning(caplog):
    caplog.set_level(logging.WARNING)
    hook = get_removal_hook("wooxy_main")

    share = enforce_share(hook, pool="contact_removal_wooxy_main", pool_slots=16)

    assert share.in_flight == 10 and hook.max_in_flight == 10
    assert "pool_slots=16 is more than the wooxy account" in caplog.text


def test_task_outside_its_accounts_pool_is_warned_and_keeps_the_vendor_limits(caplog):
    caplog.set_level(logging.WARNING)
    hook = get_removal_hook("wooxy_main")

    assert enforce_share(hook, pool="default_pool", pool_slots=1) is None

    assert hook.max_in_flight == 10
    assert "not in pool 'contact_removal_wooxy_main'" in caplog.text
    assert KEY not in caplog.text


def test_connection_naming_its_pool_wants_tasks_in_that_pool(caplog):
    caplog.set_level(logging.WARNING)
    hook = get_removal_hook("autosend_named")

    assert enforce_share(hook, pool="contact_removal_autosend_named", pool_slots=1) is None
    assert "not in pool 'autosend_acct'" in caplog.text
    assert enforce_share(get_removal_hook("autosend_named"), pool="autosend_acct", pool_slots=1)


def test_require_pool_makes_a_task_outside_the_pool_an_error():
    with pytest.raises(ContactRemovalConfigError, match="not in pool 'contact_removal_wooxy_strict'"):
        enforce_share(get_removal_hook("wooxy_strict"), pool="default_pool", pool_slots=1)


def test_bad_pool_extras_are_refused(monkeypatch):
    set_connection(monkeypatch, "wooxy_bad", conn_type="wooxy", password=KEY, extra={"require_pool": "maybe"})
    with pytest.raises(ContactRemovalConfigError, match="require_pool"):
        AccountBudget.of(get_removal_hook("wooxy_bad"))
    set_connection(monkeypatch, "wooxy_bad2", conn_type="wooxy", password=KEY, extra={"pool": 3})
    with pytest.raises(ContactRemovalConfigError, match="pool"):
        AccountBudget.of(get_removal_hook("wooxy_bad2"))
