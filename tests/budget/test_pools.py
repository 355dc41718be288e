"""The pools helper and CLI: one pool per account, sized to its budget, deferred tasks counted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_contact_removal.pools import create_pools, main, pool_specs
from tests.conftest import set_connection

KEY = "sk-pools-test-key-0123456789"


@pytest.fixture(autouse=True)
def connections(monkeypatch):
    set_connection(monkeypatch, "wooxy_main", conn_type="wooxy", password=KEY)
    set_connection(
        monkeypatch, "wooxy_same_key", conn_type="wooxy", password=KEY, extra={"pool": "wooxy_acct"}
    )
    set_connection(monkeypatch, "wooxy_other", conn_type="wooxy", password=KEY, extra={"pool": "wooxy_acct"})
    set_connection(monkeypatch, "autosend_main", conn_type="autosend", password=KEY)


def test_specs_one_pool_per_account():
    specs = {
        spec.name: spec
        for spec in pool_specs(["wooxy_main", "wooxy_same_key", "wooxy_other", "autosend_main"])
    }

    assert set(specs) == {"contact_removal_wooxy_main", "wooxy_acct", "contact_removal_autosend_main"}
    assert specs["contact_removal_wooxy_main"].slots == 10
    assert specs["wooxy_acct"].conn_ids == ("wooxy_same_key", "wooxy_other")
    assert specs["contact_removal_autosend_main"].slots == 2
    assert all(spec.include_deferred for spec in specs.values())
    assert all(KEY not in spec.description for spec in specs.values())


def test_create_writes_the_pools(airflow_db):
    from airflow.models.pool import Pool

    create_pools(["wooxy_main", "autosend_main"])
    create_pools(["wooxy_main"])  # again: updated, not duplicated

    wooxy = Pool.get_pool("contact_removal_wooxy_main")
    assert (wooxy.slots, wooxy.include_deferred) == (10, True)
    assert Pool.get_pool("contact_removal_autosend_main").slots == 2


def test_cli_show_prints_the_plan(capsys):
    assert main(["show", "autosend_main"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["name"] == "contact_removal_autosend_main" and shown[0]["slots"] == 2


def test_cli_refuses_an_unknown_connection(capsys):
    assert main(["show", "no_such_connection"]) == 2
    assert "no_such_connection" in capsys.readouterr().err


def test_cli_creates_pools_as_a_module(airflow_db):
    done = subprocess.run(
        [sys.executable, "-m", "airflow_contact_removal.pools", "create", "wooxy_main"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pool contact_removal_wooxy_main: 10 slot(s), deferred tasks counted" in done.stdout
    assert KEY not in done.stdout + done.stderr
