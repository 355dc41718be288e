"""The operators inside real DAG runs (``dag.test()`` on Airflow's SQLite): XCom in, XCom out, mapping."""

from __future__ import annotations

import pytest
import requests_mock

from tests.dags import operator_test_dags as dags

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
WOOXY_URL = "https://api.wooxy.com/v3/contacts/remove"

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def clear_seen():
    dags.SEEN.clear()


def migma_answer(request, context):
    emails = request.json()["emails"]
    missing = [email for email in emails if email.startswith("missing")]
    return {"success": True, "data": {"deleted": len(emails) - len(missing), "notFound": missing}}


def test_upstream_xcom_in_and_downstream_reads_summary_and_batch_results():
    with requests_mock.Mocker(real_http=True) as m:
        m.post(MIGMA_URL, json=migma_answer)
        run = dags.xcom_dag.test()
    assert run.state == "success"
    summary = dags.SEEN["summary"]
    assert summary["requested"] == 1202
    assert summary["removed"] == 1200 and summary["not_found"] == 1 and summary["invalid"] == 1
    assert [result["size"] for result in dags.SEEN["batch_results"]] == [1000, 201]
    assert dags.SEEN["invalid"] == [{"kind": "emails", "value": "bad", "reason": "not an email address"}]


def test_mapped_over_chunks_with_expand():
    with requests_mock.Mocker(real_http=True) as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        run = dags.mapped_dag.test()
    assert run.state == "success"
    summaries = dags.SEEN["summaries"]
    assert len(summaries) == 3
    assert all(summary["accepted"] == 150 and summary["batches"] == 2 for summary in summaries)
    assert m.call_count == 6


@pytest.mark.parametrize("dag", [dags.native_dag, dags.jinja_dag], ids=["native", "jinja-string"])
def test_templated_xcom_pull_works_with_and_without_native_rendering(dag):
    with requests_mock.Mocker(real_http=True) as m:
        m.post(MIGMA_URL, json=migma_answer)
        run = dag.test()
    assert run.state == "success"
    assert dags.SEEN[dag.dag_id]["removed"] == 2
    assert sorted(m.request_history[0].json()["emails"]) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    "dag", [dags.opt_in_native_dag, dags.opt_in_jinja_dag], ids=["native-bool", "jinja-text"]
)
@pytest.mark.parametrize("live", [None, "false", "true"], ids=["no-variable", "false", "true"])
def test_dry_run_templated_from_a_variable_plans_until_the_opt_in(monkeypatch, dag, live):
    """Rendered natively the template is a bool, else the text "True"/"False": both must be read right."""
    if live is None:
        monkeypatch.delenv("AIRFLOW_VAR_ACR_TEST_LIVE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_ACR_TEST_LIVE", live)
    with requests_mock.Mocker(real_http=True) as m:
        m.post(MIGMA_URL, json=migma_answer)
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        run = dag.test()
    assert run.state == "success"
    seen = dags.SEEN[dag.dag_id]
    summaries = [seen["single"], *seen["mapped"]]
    vendor_calls = [r for r in m.request_history if r.url in (MIGMA_URL, WOOXY_URL)]
    if live == "true":
        assert [s["dry_run"] for s in summaries] == [False, False, False]
        assert (seen["single"]["removed"], [s["accepted"] for s in seen["mapped"]]) == (1, [2, 1])
        assert len(vendor_calls) == 3
    else:
        assert [s["dry_run"] for s in summaries] == [True, True, True]
        assert [s["planned"] for s in summaries] == [1, 2, 1]
        assert vendor_calls == []
