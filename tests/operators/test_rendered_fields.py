"""
What Airflow stores and shows of the identifier arguments: a count and a digest, never the values.

The DAGs run with ``dag.test()``, whose task runner sends the rendered template fields to Airflow
like a deployed worker does; the test reads them back from ``rendered_task_instance_fields`` (the
table the Rendered Templates tab and the REST API's ``rendered_fields`` read).
"""

from __future__ import annotations

import json

import pytest
import requests_mock

from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from airflow_contact_removal.redaction import ShownAsDigest, describe, revealed
from airflow_contact_removal.sensors import WooxyRequestSensor
from tests.dags import operator_test_dags as dags
from tests.operators.test_in_dag import MIGMA_URL, WOOXY_URL, migma_answer

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def clear_seen():
    dags.SEEN.clear()


def stored_rendered_fields(dag_id: str, run_id: str) -> dict[tuple[str, int], dict]:
    """``rendered_task_instance_fields`` of one run, by (task id, map index)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(RenderedTaskInstanceFields).where(
                RenderedTaskInstanceFields.dag_id == dag_id, RenderedTaskInstanceFields.run_id == run_id
            )
        ).all()
        return {(row.task_id, row.map_index): dict(row.rendered_fields) for row in rows}


def test_the_stored_emails_are_a_count_and_a_digest_and_the_removal_is_unchanged():
    emails = [f"User{i}@example.com" for i in range(1200)] + ["missing@example.com", "bad"]
    with requests_mock.Mocker(real_http=True) as m:
        m.post(MIGMA_URL, json=migma_answer)
        run = dags.xcom_dag.test()

    assert run.state == "success"
    assert dags.SEEN["summary"]["removed"] == 1200  # every valid email was still sent and removed
    assert sum(len(request.json()["emails"]) for request in m.request_history) == 1201
    stored = stored_rendered_fields(dags.xcom_dag.dag_id, run.run_id)[("remove", -1)]
    assert stored["emails"] == describe(emails) == describe(list(emails))
    assert stored["emails"].startswith("<1202 identifier(s), sha256:")
    text = json.dumps(stored)
    assert "@example.com" not in text and "User1" not in text
    assert stored["conn_id"] == "migma_default"  # other fields are stored as before


def test_each_mapped_task_stores_only_its_chunks_count_and_digest():
    with requests_mock.Mocker(real_http=True) as m:
        m.post(WOOXY_URL, json={"result": True, "requestId": "5d915c22d132d5f45a4e38b8"})
        run = dags.mapped_dag.test()

    assert run.state == "success"
    assert all(summary["accepted"] == 150 for summary in dags.SEEN["summaries"])
    stored = stored_rendered_fields(dags.mapped_dag.dag_id, run.run_id)
    for map_index in range(3):
        chunk = [f"c{map_index}-{i}@example.com" for i in range(150)]
        fields = stored[("remove", map_index)]
        assert fields["emails"] == describe(chunk)
        assert "@example.com" not in json.dumps(fields)
        assert fields["list_id"] == "L1"


def test_a_jinja_rendered_json_string_is_described_by_its_items():
    with requests_mock.Mocker(real_http=True) as m:
        m.post(MIGMA_URL, json=migma_answer)
        run = dags.jinja_dag.test()

    assert run.state == "success"
    assert dags.SEEN[dags.jinja_dag.dag_id]["removed"] == 2
    stored = stored_rendered_fields(dags.jinja_dag.dag_id, run.run_id)[("remove", -1)]
    assert stored["emails"] == describe(["a@example.com", "b@example.com"])
    assert "@example.com" not in json.dumps(stored)


def test_the_same_identifiers_give_the_same_digest_and_others_another():
    assert describe(["a@example.com", "b@example.com"]) == describe('["a@example.com", "b@example.com"]')
    assert describe(["a@example.com"]) != describe(["b@example.com"])
    assert describe([("a@example.com",)]).startswith("<1 identifier(s), sha256:")


def test_an_iterator_is_never_consumed_to_describe_it():
    items = iter(["a@example.com", "b@example.com"])

    assert describe(items) == "<identifiers from a list_iterator, not counted>"
    assert list(items) == ["a@example.com", "b@example.com"]


def test_repr_and_str_show_no_identifier():
    shown = ShownAsDigest(["jane@example.com"])

    assert "jane" not in repr(shown) and "jane" not in str(shown) and "jane" not in shown.serialize()
    assert revealed(shown) == ["jane@example.com"]
    assert revealed(["x"]) == ["x"]


@pytest.mark.parametrize(
    ("operator", "fields"),
    [
        (RemoveContactsOperator, {"emails"}),
        (RemoveFromListOperator, {"emails", "contact_ids", "phone_numbers", "user_ids"}),
        (WooxyRequestSensor, {"request_ids", "batch_results"}),
    ],
)
def test_every_identifier_template_field_is_hidden(operator, fields):
    assert fields <= set(operator.identifier_fields)
    assert fields <= set(operator.template_fields)
