"""Sharded removal: stable, exact shard assignment; the merged summary adds up; one shard re-run alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests_mock

from airflow_contact_removal.accounting import SUMMARY_BUCKETS
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError
from airflow_contact_removal.identifiers import normalise_email
from airflow_contact_removal.merge import merge_summaries
from airflow_contact_removal.operators import MergeRemovalSummariesOperator, RemoveContactsOperator
from airflow_contact_removal.sharding import Shard, select_shard, shard_of
from tests.conftest import set_connection
from tests.operators.conftest import FakeTaskInstance

MIGMA_URL = "https://api.migma.ai/v1/contacts/bulk-delete"
KEY = "sk-sharding-test-0123456789"
SHARDS = 4


def migma_answer(request, context):
    emails = request.json()["emails"]
    return {"success": True, "data": {"deleted": len(emails), "notFound": []}}


def failing_for(bad: set[str]):
    def answer(request, context_):
        emails = request.json()["emails"]
        if bad & set(emails):
            context_.status_code = 503
            return {"success": False, "error": "unavailable"}
        return migma_answer(request, context_)

    return answer


@pytest.fixture(autouse=True)
def migma(monkeypatch):
    set_connection(
        monkeypatch,
        "migma_default",
        conn_type="migma",
        password=KEY,
        extra={"project_id": "P1", "max_attempts": 1},
    )


def messy_input() -> list[str]:
    """300 emails, each also present in other case and with whitespace, plus invalid lines."""
    lines = []
    for i in range(300):
        lines.append(f"user{i}@example.com")
        if i % 3 == 0:
            lines.append(f"  USER{i}@Example.COM ")
        if i % 7 == 0:
            lines.append(f"User{i}@EXAMPLE.com\t")
    lines += ["not-an-email", "also bad@", "not-an-email", "@x.com"] * 5
    return lines


def shard_context(index: int) -> dict:
    ti = FakeTaskInstance(dag_id="dag", run_id="run-1", task_id="purge", map_index=index)
    return {"ti": ti, "run_id": ti.run_id}


def run_shard(path: Path, index: int, results: Path, **kwargs) -> tuple[dict, list[str]]:
    """One mapped instance of the sharded removal; returns its summary and the emails it sent."""
    operator = RemoveContactsOperator(
        task_id="purge",
        conn_id="migma_default",
        input_path=str(path),
        shards=SHARDS,
        shard=index,
        batch_size=50,
        results_path=str(results / "purge-{shard:02d}-of-{shards}.jsonl"),
        **kwargs,
    )
    context = shard_context(index)
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summary = operator.execute(context)
    sent = [email for request in m.request_history for email in request.json()["emails"]]
    return summary, sent


def test_shard_of_is_stable_across_processes():
    """Not Python's salted hash(): another interpreter (another worker) picks the same shards."""
    values = [f"user{i}@example.com" for i in range(50)] + ["jöhn@exämple.com"]
    here = [shard_of(value, 8) for value in values]
    code = (
        "import json, sys; from airflow_contact_removal.sharding import shard_of; "
        "print(json.dumps([shard_of(v, 8) for v in json.loads(sys.argv[1])]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code, json.dumps(values)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(there.stdout) == here
    assert len(set(here)) == 8  # and the values spread over all the shards


def test_duplicates_differing_in_case_and_whitespace_always_meet_in_one_shard():
    lines = messy_input()
    owners: dict[str, set[int]] = {}
    counted = 0
    for index in range(SHARDS):
        mine = list(select_shard(iter(lines), Shard(index, SHARDS), normalise_email))
        counted += len(mine)
        for item in mine:
            try:
                key = normalise_email(item)
            except ValueError:
                key = "invalid:" + item
            owners.setdefault(key, set()).add(index)
    assert counted == len(lines)  # every line taken by exactly one shard
    assert all(len(shards) == 1 for shards in owners.values())
    # Non-text items (None, multi-column rows) are spread by position, each taken exactly once.
    odd = [None, ("a", "b"), None, 5]
    taken = [list(select_shard(iter(odd), Shard(index, 2), normalise_email)) for index in range(2)]
    assert sorted(map(len, taken)) == [2, 2]


def test_sharded_file_removal_is_exact_and_the_merged_summary_adds_up(tmp_path, checkpoint_folder):
    lines = messy_input()
    path = tmp_path / "emails.txt"
    path.write_text("\n".join(lines) + "\n")
    summaries, sent = [], []
    for index in range(SHARDS):
        summary, emails = run_shard(path, index, tmp_path / "results")
        summaries.append(summary)
        sent += emails
    # De-duplication stayed exact across shards: every unique email sent once, by one shard.
    assert sorted(sent) == sorted(f"user{i}@example.com" for i in range(300))
    assert all(summary["shard"] == index for index, summary in enumerate(summaries))
    assert all(0 < summary["requested"] < len(lines) for summary in summaries)  # really split

    merged = merge_summaries(summaries)
    assert merged["requested"] == len(lines)
    assert merged["requested"] == sum(merged[name] for name in SUMMARY_BUCKETS)
    assert (merged["removed"], merged["invalid"], merged["duplicates"], merged["failed"]) == (300, 20, 143, 0)
    assert merged["shards"] == SHARDS and merged["complete"]
    assert merged["results_paths"] == [
        str(tmp_path / "results" / f"purge-{i:02d}-of-4.jsonl") for i in range(4)
    ]
    records = [json.loads(line) for p in merged["results_paths"] for line in Path(p).read_text().splitlines()]
    assert sum(r["record"] == "invalid" for r in records) == 20
    assert sum(r["removed"] for r in records if r["record"] == "batch") == 300


def test_a_failed_shard_is_named_and_rerun_alone_from_its_checkpoint(tmp_path, checkpoint_folder):
    path = tmp_path / "emails.txt"
    path.write_text("".join(f"user{i}@example.com\n" for i in range(1000)))
    results = tmp_path / "results"
    summaries = {index: run_shard(path, index, results)[0] for index in (0, 1, 3)}
    # Shard 2 meets a vendor outage on one of its batches.
    mine = list(select_shard(iter(path.read_text().split()), Shard(2, SHARDS), normalise_email))
    bad = {mine[120]}  # in its third batch of 50
    operator = RemoveContactsOperator(
        task_id="purge",
        conn_id="migma_default",
        input_path=str(path),
        shards=SHARDS,
        shard=2,
        batch_size=50,
        max_concurrency=1,
        results_path=str(results / "purge-{shard}.jsonl"),
    )
    context = shard_context(2)
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalError, match="50 of"):
        m.post(MIGMA_URL, json=failing_for(bad))
        operator.execute(context)
    summaries[2] = context["ti"].xcom["summary"]  # pushed even though the task failed
    first_try = m.call_count

    merged = merge_summaries([summaries[i] for i in range(SHARDS)])
    assert not merged["complete"] and merged["requested"] == 1000
    assert [part["shard"] for part in merged["failed_shards"]] == [2]
    assert merged["failed_shards"][0]["failed"] == 50
    merger = MergeRemovalSummariesOperator(task_id="totals", summaries=[summaries[i] for i in range(SHARDS)])
    merge_ti = FakeTaskInstance(task_id="totals")
    with pytest.raises(ContactRemovalError, match="shard 2 FAILED: 50 of"):
        merger.execute({"ti": merge_ti})
    assert merge_ti.xcom["merged_summary"]["failed"] == 50

    # Re-run shard 2 alone (the vendor is back): only the batch that failed is sent again.
    with requests_mock.Mocker() as m:
        m.post(MIGMA_URL, json=migma_answer)
        summaries[2] = operator.execute(context)
    assert m.call_count == 1 and sorted(m.request_history[0].json()["emails"]) == sorted(mine[100:150])
    assert summaries[2]["resumed_batches"] == first_try - 1
    merged = MergeRemovalSummariesOperator(
        task_id="totals", summaries=[summaries[i] for i in range(SHARDS)]
    ).execute({"ti": merge_ti})
    assert merged["complete"] and merged["removed"] == 1000 and merged["failed"] == 0


def test_a_shard_that_never_reported_is_named():
    summaries = [{"shard": i, "shards": 3, "requested": 10, "removed": 9, "duplicates": 1} for i in (0, 2)]
    merged = merge_summaries(summaries)
    assert merged["missing_shards"] == [1] and not merged["complete"]
    assert merged["requested"] == 20 == sum(merged[name] for name in SUMMARY_BUCKETS)
    with pytest.raises(ContactRemovalError, match="buckets add up to 9"):
        merge_summaries([{"requested": 10, "removed": 9}])
    with pytest.raises(ContactRemovalError, match="more than one summary"):
        merge_summaries([summaries[0], summaries[0]])


def test_unsharded_parts_are_merged_by_position():
    """The fan-out's mapped chunks: no shard numbers, named by map-index order."""
    parts = [{"requested": 5, "removed": 5}, {"requested": 4, "removed": 1, "failed": 3, "batches_failed": 1}]
    merged = merge_summaries(parts)
    assert merged["requested"] == 9 and merged["failed_shards"][0]["shard"] == 1
    assert merged["shards"] is None and merged["missing_shards"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shards": 4}, "pass both shard and shards"),
        ({"shards": 4, "shard": 4}, "shard must be from 0 to 3"),
        ({"shards": 0, "shard": 0}, "shards must be at least 1"),
        ({"shards": 2, "shard": 0, "results_path": "/tmp/out.jsonl"}, r"must contain \{shard\}"),
    ],
)
def test_shard_mistakes_are_clear_errors_before_any_request(tmp_path, checkpoint_folder, kwargs, message):
    path = tmp_path / "emails.txt"
    path.write_text("a@x.com\n")
    with requests_mock.Mocker() as m, pytest.raises(ContactRemovalConfigError, match=message):
        RemoveContactsOperator(
            task_id="purge", conn_id="migma_default", input_path=str(path), **kwargs
        ).execute(shard_context(0))
    assert m.call_count == 0
