from __future__ import annotations

import pytest

from tests.conftest import set_connection

KEY = "sk-operator-test-key-0123456789"
WORKSPACE = "a1405560-c8d3-4b1a-877d-3f449ad95352"
BIRD_LIST = "123e4567-e89b-12d3-a456-426614174000"


class FakeTaskInstance:
    """
    The part of a task instance the operators and sensors use: identity, XCom of its own task (pushed,
    and pulled back as ``execute_complete`` does after a deferral), and the first reschedule date.
    """

    def __init__(self, dag_id="dag", run_id="run-1", task_id="remove", map_index=-1):
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value

    def xcom_pull(self, task_ids, key, map_indexes=None):
        assert task_ids == self.task_id and map_indexes in (None, self.map_index)
        return self.xcom.get(key)

    def get_first_reschedule_date(self, context):
        return None


@pytest.fixture
def context():
    ti = FakeTaskInstance()
    return {"ti": ti, "run_id": ti.run_id}


@pytest.fixture(autouse=True)
def vendor_connections(monkeypatch):
    set_connection(monkeypatch, "autosend_default", conn_type="autosend", password=KEY)
    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password=KEY)
    set_connection(
        monkeypatch, "bird_default", conn_type="bird", password=KEY, extra={"workspace_id": WORKSPACE}
    )
    set_connection(monkeypatch, "migma_default", conn_type="migma", password=KEY, extra={"project_id": "P1"})
    set_connection(monkeypatch, "http_default", conn_type="http", host="example.com")
