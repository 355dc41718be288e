"""WooxyRequestSensor in a real DAG run (``dag.test()``): the request ids come from the operator's XCom."""

from __future__ import annotations

import itertools

import pytest
import requests_mock

from tests.dags import wooxy_sensor_dags as dags
from tests.wooxy_completion.helpers import contact, find_answer, find_entry

pytestmark = pytest.mark.usefixtures("airflow_db")

BASE = "https://api.wooxy.com/v3"


@pytest.fixture(autouse=True)
def wooxy_connection(monkeypatch):
    from tests.conftest import set_connection

    set_connection(monkeypatch, "wooxy_default", conn_type="wooxy", password="wx-dag-key-0123456789")


class FakeWooxy:
    """Accepts removals; ``request/find`` says queued on the first read, then completed, one error each."""

    def __init__(self):
        self.ids = (f"{i:024x}" for i in itertools.count(1))
        self.sent: dict[str, list[str]] = {}
        self.reads: dict[str, int] = {}

    def remove(self, request, context):
        request_id = next(self.ids)
        self.sent[request_id] = request.json()["emails"]
        return {"result": True, "requestId": request_id}

    def find(self, request, context):
        asked = request.json()["ids"]
        entries = {}
        for request_id in asked:
            self.reads[request_id] = self.reads.get(request_id, 0) + 1
            if self.reads[request_id] == 1:
                entries[request_id] = find_entry(request_id, "queued")
                continue
            emails = self.sent[request_id]
            entries[request_id] = find_entry(
                request_id,
                successes=[contact(email) for email in emails[1:]],
                errors=[(contact(emails[0]), "processing_failed", "Try again later")],
            )
        return find_answer(entries, asked)


@pytest.mark.parametrize("dag", [dags.xcom_arg_dag, dags.templated_dag], ids=["xcomarg", "jinja-string"])
def test_the_sensor_waits_for_the_operator_requests_and_reports_their_outcome(dag):
    fake = FakeWooxy()
    with requests_mock.Mocker(real_http=True) as m:
        m.post(f"{BASE}/contacts/remove", json=fake.remove)
        m.post(f"{BASE}/request/find", json=fake.find)
        run = dag.test()

    assert run.state == "success"
    seen = dags.SEEN[dag.dag_id]
    summary = seen["summary"]
    assert (summary["requested"], summary["accepted"], summary["removed"], summary["failed"]) == (
        150,
        0,
        148,
        2,
    )
    assert [record["status"] for record in seen["batch_results"]] == ["partial", "partial"]
    assert all(fake.reads[request_id] == 2 for request_id in fake.sent)
