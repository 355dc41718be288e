"""Parcel is registered here only: the provider's code is not changed for a fifth vendor."""

from __future__ import annotations

import pytest

from airflow_contact_removal.hooks import register_hook
from airflow_contact_removal.vendors import unregister_vendor
from tests.conftest import set_connection
from tests.fifth_vendor.fake_api import KEY, FakeParcel
from tests.fifth_vendor.hook import ParcelHook

MEMBERS = [f"user{i}@example.com" for i in range(7)]


@pytest.fixture(autouse=True)
def parcel_registered(monkeypatch):
    register_hook(ParcelHook, sandbox_module="tests.fifth_vendor.sandbox")
    set_connection(monkeypatch, "parcel_default", conn_type="parcel", password=KEY)
    yield
    unregister_vendor(ParcelHook.conn_type)  # the other tests see the four vendors only


@pytest.fixture
def parcel(requests_mock) -> FakeParcel:
    fake = FakeParcel(MEMBERS)
    fake.install(requests_mock)
    return fake
