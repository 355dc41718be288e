"""End to end: every example DAG run with ``airflow dags test`` against the sandbox over real HTTP.

The same run as ``make demo``: the sandbox's own state must agree with the task summaries, no key may
appear in any log, and no identifier may appear in any log line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import demo, demo_data

pytestmark = pytest.mark.e2e

BUCKETS = ("removed", "not_found", "accepted", "invalid", "duplicates", "failed", "planned")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, {report.dag_id: report for report in demo.run_demo(workdir, quiet=True)}


@pytest.fixture(scope="module")
def dry_demo_run(tmp_path_factory):
    """The examples as they run by default: without the opt-in Variable."""
    workdir = tmp_path_factory.mktemp("demo-dry")
    return workdir, {report.dag_id: report for report in demo.run_demo(workdir, quiet=True, live=False)}


def test_every_example_dag_succeeds_and_the_sandbox_agrees(demo_run):
    _, reports = demo_run
    assert set(reports) == set(demo.DAG_IDS)
    for report in reports.values():
        assert report.state == "success", (report.dag_id, report.problems, report.log_path)
        assert report.problems == [], report.problems
        # The demo opted in: every removal was real.
        assert [summary["dry_run"] for _, _, summary in report.summaries] == [False] * len(report.summaries)


def _summaries(report):
    return {
        task_id if index < 0 else f"{task_id}[{index}]": summary
        for task_id, index, summary in report.summaries
    }


def test_suppression_pipeline_numbers(demo_run):
    workdir, reports = demo_run
    summaries = _summaries(reports["contact_removal_suppression_pipeline"])
    for task_id in ("remove_at_autosend", "remove_at_migma"):
        summary = summaries[task_id]
        # 475 selected rows: 450 unique valid emails, 20 mixed-case duplicates, 5 invalid values.
        assert (summary["requested"], summary["duplicates"], summary["invalid"]) == (475, 20, 5)
        assert (summary["removed"], summary["not_found"], summary["failed"]) == (400, 50, 0)
    import sqlite3

    with sqlite3.connect(workdir / "source.db") as db:
        audit = db.execute(
            "SELECT task_id, COUNT(*), SUM(size), SUM(removed) FROM removal_audit GROUP BY task_id"
        ).fetchall()
    assert sorted(audit) == [("remove_at_autosend", 5, 450, 400), ("remove_at_migma", 1, 450, 400)]


def test_churn_cleanup_numbers(demo_run):
    _, reports = demo_run
    report = reports["contact_removal_churn_cleanup"]
    summaries = _summaries(report)
    wooxy = summaries["remove_from_wooxy_list"]
    # 141 churned customers: 120 by email, 11 by phone (one not E.164), 10 by user id. Wooxy accepted
    # 140 in 2 requests; waiting for its outcome turned every accepted one into removed.
    assert wooxy["confirmation"] == "asynchronous"
    assert (wooxy["requested"], wooxy["invalid"], wooxy["batches"]) == (141, 1, 2)
    assert (wooxy["removed"], wooxy["accepted"], wooxy["failed"]) == (140, 0, 0)
    bird = summaries["remove_from_bird_list"]
    assert (bird["removed"], bird["not_found"]) == (90, 30)
    assert report.left["wooxy"] == 50 and report.left["bird"] == 30


def test_wooxy_wait_really_deferred_and_never_resent_a_removal(demo_run):
    """The task deferred to the trigger, which polled request/find until Wooxy had processed both requests."""
    workdir, reports = demo_run
    report = reports["contact_removal_churn_cleanup"]
    log = (workdir / "logs" / "contact_removal_churn_cleanup.log").read_text()
    assert "Every batch was accepted; deferring until Wooxy has processed 2 request(s)" in log
    assert "running trigger in line" in log
    removals = sum(
        count for name, count in report.requests.items() if name.endswith("/wooxy/v3/contacts/remove")
    )
    polls = sum(count for name, count in report.requests.items() if name.endswith("/wooxy/v3/request/find"))
    assert removals == 2  # resuming after the trigger sent nothing again
    assert polls >= 2  # the first poll came before Wooxy's 2 s of processing were over


def test_fanout_is_mapped_and_adds_up(demo_run):
    _, reports = demo_run
    report = reports["contact_removal_large_list_fanout"]
    summaries = _summaries(report)
    assert sorted(summaries) == [f"purge[{i}]" for i in range(5)]
    assert sum(s["removed"] for s in summaries.values()) == demo_data.PURGE_SEEDED
    assert sum(s["not_found"] for s in summaries.values()) == demo_data.PURGE_TOTAL - demo_data.PURGE_SEEDED
    # totals is the shipped merge: every bucket, accepted and planned included, adds up to requested.
    merged = report.merged
    assert merged["parts"] == 5 and merged["complete"]
    assert (merged["requested"], merged["removed"]) == (demo_data.PURGE_TOTAL, demo_data.PURGE_SEEDED)
    assert (merged["accepted"], merged["planned"]) == (0, 0)
    assert merged["requested"] == sum(merged[bucket] for bucket in BUCKETS)


def _all_logs(workdir: Path) -> str:
    texts = []
    for path in list((workdir / "logs").glob("*.log")) + list((workdir / "airflow-home" / "logs").rglob("*")):
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_no_key_and_no_identifier_in_any_log(demo_run):
    workdir, _ = demo_run
    logs = _all_logs(workdir)
    assert "Done: batches" in logs  # the logs were really read
    for vendor in ("autosend", "wooxy", "bird", "migma"):
        assert f"sandbox-{vendor}-key" not in logs
    identifiers = re.findall(r"[\w.+-]+@example\.com|\+3161000\d{4}", logs)
    assert identifiers == []


def test_example_dags_have_no_import_errors(demo_run):
    workdir, _ = demo_run
    env = demo.airflow_env(workdir, _FakeSandbox())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "dags", "list-import-errors", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


class _FakeSandbox:
    """Connections are not needed to parse DAGs; any well-formed value will do."""

    url = "http://127.0.0.1:9"

    def connection_uri(self, vendor, **extras):
        import json

        return json.dumps(
            {"conn_type": vendor, "host": f"{self.url}/{vendor}", "password": "unused", "extra": extras}
        )


def test_sharded_purge_is_exact_and_merged_into_one_answer(demo_run):
    """4 shards over one file: every line counted once, duplicates caught across case and spaces."""
    _, reports = demo_run
    report = reports["contact_removal_sharded_purge"]
    summaries = _summaries(report)
    assert sorted(summaries) == [f"purge[{i}]" for i in range(4)]
    assert all(summary["requested"] > 0 for summary in summaries.values())  # really split
    merged = report.merged
    lines = demo_data.ERASE_TOTAL + demo_data.ERASE_DUPLICATES + demo_data.ERASE_INVALID
    assert merged["requested"] == lines == sum(s["requested"] for s in summaries.values())
    assert (merged["removed"], merged["not_found"]) == (
        demo_data.ERASE_SEEDED,
        demo_data.ERASE_TOTAL - demo_data.ERASE_SEEDED,
    )
    assert (merged["duplicates"], merged["invalid"], merged["failed"]) == (
        demo_data.ERASE_DUPLICATES,
        demo_data.ERASE_INVALID,
        0,
    )
    assert merged["complete"] and merged["shards"] == 4
    assert len(merged["results_paths"]) == 4
    assert all(Path(path).is_file() and "purge-" in path for path in merged["results_paths"])
    assert report.left["migma"] == 300


# Without the opt-in -------------------------------------------------------------------------------
def test_without_the_opt_in_every_example_plans_and_sends_nothing(dry_demo_run):
    """Unpausing an example with real connections must not remove anything: no request, no change."""
    _, reports = dry_demo_run
    assert set(reports) == set(demo.DAG_IDS)
    for report in reports.values():
        assert report.state == "success", (report.dag_id, report.problems, report.log_path)
        assert report.problems == [], report.problems  # run_demo's own check of a dry run
        assert report.requests == {}, report.dag_id  # not one request reached the sandbox
        assert report.summaries, report.dag_id
        for task_id, _, summary in report.summaries:
            assert summary["dry_run"] is True, task_id
            assert (summary["removed"], summary["not_found"], summary["accepted"]) == (0, 0, 0), task_id
            assert summary["planned"] > 0 and summary["requested"] == sum(summary[b] for b in BUCKETS)
    seeded = demo_data.sandbox_seed()
    left = reports["contact_removal_sharded_purge"].left  # after the last DAG: the seed, untouched
    assert left["autosend"] == len(seeded["autosend"]["contacts"])
    assert left["migma"] == len(seeded["migma"]["projects"][demo_data.MIGMA_PROJECT])
    assert left["wooxy"] == len(seeded["wooxy"]["lists"][demo_data.WOOXY_LIST])


def test_without_the_opt_in_the_examples_report_what_they_would_send(dry_demo_run):
    _, reports = dry_demo_run
    suppression = _summaries(reports["contact_removal_suppression_pipeline"])
    for task_id in ("remove_at_autosend", "remove_at_migma"):
        assert (suppression[task_id]["planned"], suppression[task_id]["invalid"]) == (450, 5)
    churn = _summaries(reports["contact_removal_churn_cleanup"])
    assert churn["remove_from_wooxy_list"]["planned"] == 140  # planned, never waited for
    assert churn["remove_from_bird_list"]["planned"] == 120
    fanout = reports["contact_removal_large_list_fanout"].merged
    assert (fanout["planned"], fanout["parts"], fanout["dry_run"]) == (demo_data.PURGE_TOTAL, 5, True)
    sharded = reports["contact_removal_sharded_purge"].merged
    assert (sharded["planned"], sharded["duplicates"]) == (demo_data.ERASE_TOTAL, demo_data.ERASE_DUPLICATES)
    assert sharded["complete"] and sharded["dry_run"] is True
