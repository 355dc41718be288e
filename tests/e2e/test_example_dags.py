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


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, {report.dag_id: report for report in demo.run_demo(workdir, quiet=True)}


def test_every_example_dag_succeeds_and_the_sandbox_agrees(demo_run):
    _, reports = demo_run
    assert set(reports) == set(demo.DAG_IDS)
    for report in reports.values():
        assert report.state == "success", (report.dag_id, report.problems, report.log_path)
        assert report.problems == [], report.problems


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
    summaries = _summaries(reports["contact_removal_large_list_fanout"])
    assert sorted(summaries) == [f"purge[{i}]" for i in range(5)]
    assert sum(s["removed"] for s in summaries.values()) == demo_data.PURGE_SEEDED
    assert sum(s["not_found"] for s in summaries.values()) == demo_data.PURGE_TOTAL - demo_data.PURGE_SEEDED


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
