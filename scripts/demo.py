"""`make demo`: run every example DAG end to end against the local vendor sandbox and report.

Starts the sandbox (stopped on exit, even on failure), seeds it and the SQLite source tables, runs
each example DAG with ``airflow dags test`` in a throwaway AIRFLOW_HOME, prints a table per DAG and
checks that the sandbox's own state agrees with the task summaries. Exits non-zero if a DAG fails or
a count disagrees.

The example DAGs are dry runs until the Variable ``contact_removal_examples_live`` is ``true``; the
demo opts in (``AIRFLOW_VAR_CONTACT_REMOVAL_EXAMPLES_LIVE``) so they really remove. ``--dry-run``
leaves it unset: every DAG then plans its batches, and the demo checks that the sandbox received no
request and lost no contact.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_contact_removal.sandbox.server import SandboxServer  # noqa: E402
from scripts import demo_data  # noqa: E402

DAG_IDS = (
    "contact_removal_suppression_pipeline",
    "contact_removal_churn_cleanup",
    "contact_removal_large_list_fanout",
    "contact_removal_sharded_purge",
)
COLUMNS = ("requested", "removed", "not_found", "accepted", "invalid", "duplicates", "failed")
#: The Variable the example DAGs read to opt in to real removals (else they are dry runs).
LIVE_VARIABLE = "contact_removal_examples_live"


@dataclass
class DagReport:
    dag_id: str
    state: str
    seconds: float
    summaries: list[tuple[str, int, dict]] = field(default_factory=list)  # (task_id, map_index, summary)
    left: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log_path: Path | None = None
    requests: dict[str, int] = field(default_factory=dict)  # "METHOD path" -> count, from the sandbox
    merged: dict | None = None  # a MergeRemovalSummariesOperator's answer, when the DAG has one

    @property
    def ok(self) -> bool:
        return self.state == "success" and not self.problems


def airflow_env(workdir: Path, sandbox: SandboxServer, *, live: bool = True) -> dict[str, str]:
    """
    A throwaway Airflow home whose connections point at the sandbox and the SQLite source.

    :param live: opt the example DAGs in to real removals; ``False`` leaves them dry runs.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_CONTACT_REMOVAL_DB": json.dumps(
                {"conn_type": "sqlite", "host": str(workdir / "source.db")}
            ),
            "AIRFLOW_CONN_AUTOSEND_DEFAULT": sandbox.connection_uri("autosend"),
            "AIRFLOW_CONN_WOOXY_DEFAULT": sandbox.connection_uri("wooxy"),
            "AIRFLOW_CONN_BIRD_DEFAULT": sandbox.connection_uri(
                "bird", workspace_id=demo_data.BIRD_WORKSPACE
            ),
            "AIRFLOW_CONN_MIGMA_DEFAULT": sandbox.connection_uri("migma", project_id=demo_data.MIGMA_PROJECT),
            "AIRFLOW_VAR_WOOXY_CHURN_LIST_ID": demo_data.WOOXY_LIST,
            "AIRFLOW_VAR_BIRD_CHURN_LIST_ID": demo_data.BIRD_LIST,
            "AIRFLOW_VAR_WOOXY_POLL_INTERVAL": "1",
            "AIRFLOW_VAR_SHARDED_PURGE_INPUT": str(workdir / "erasure_backlog.txt"),
            "AIRFLOW_VAR_SHARDED_PURGE_RESULTS": str(workdir / "results"),
        }
    )
    if live:
        env[f"AIRFLOW_VAR_{LIVE_VARIABLE.upper()}"] = "true"
    return env


def airflow(env: dict[str, str], *args: str, log: Path) -> int:
    """Run the ``airflow`` CLI of this virtualenv, its output to ``log``."""
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    with log.open("w") as out:
        return subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def contacts_left(sandbox: SandboxServer) -> dict[str, int]:
    """The sandbox's own count of contacts in each container the demo uses."""
    state = sandbox.state()
    bird = state["bird"]["workspaces"][demo_data.BIRD_WORKSPACE]["lists"]
    return {
        "autosend": state["autosend"]["contacts"],
        "wooxy": state["wooxy"]["lists"][demo_data.WOOXY_LIST],
        "bird": bird[demo_data.BIRD_LIST],
        "migma": state["migma"]["projects"][demo_data.MIGMA_PROJECT],
    }


def read_run(airflow_db: Path, dag_id: str) -> tuple[str, list[tuple[str, int, dict]]]:
    """The latest run's state and every task summary it pushed (XCom key ``summary``)."""
    with sqlite3.connect(airflow_db) as db:
        row = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            return "not run", []
        run_id, state = row
        rows = db.execute(
            "SELECT task_id, map_index, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'summary' "
            "ORDER BY task_id, map_index",
            (dag_id, run_id),
        ).fetchall()
    return state, [(task_id, map_index, json.loads(value)) for task_id, map_index, value in rows]


def read_merged(airflow_db: Path, dag_id: str) -> dict | None:
    """The latest run's merged summary (XCom key ``merged_summary``), if a task pushed one."""
    with sqlite3.connect(airflow_db) as db:
        row = db.execute(
            "SELECT x.value FROM xcom x JOIN dag_run r ON x.run_id = r.run_id AND x.dag_id = r.dag_id "
            "WHERE x.dag_id = ? AND x.key = 'merged_summary' ORDER BY r.id DESC LIMIT 1",
            (dag_id,),
        ).fetchone()
    return None if row is None else json.loads(row[0])


def check(report: DagReport, before: dict[str, int], *, live: bool = True) -> None:
    """
    The summaries add up, nothing failed, and the sandbox lost exactly what the summaries say.

    Without ``live`` (the examples' default): every summary is a dry run with planned batches, and
    the sandbox received no request and still holds every contact.
    """
    if not report.summaries:
        report.problems.append("no task pushed a summary")
    removed_by_vendor: dict[str, int] = {}
    for task_id, _, summary in report.summaries:
        if summary["dry_run"] is live:
            report.problems.append(f"{task_id}: dry_run is {summary['dry_run']}, the opt-in says live={live}")
        if not live and (summary["removed"] or not summary["planned"]):
            report.problems.append(
                f"{task_id}: a dry run removed {summary['removed']} and planned {summary['planned']}"
            )
        buckets = sum(summary[name] for name in COLUMNS[1:]) + summary.get("planned", 0)
        if buckets != summary["requested"]:
            report.problems.append(
                f"{task_id}: buckets add up to {buckets}, requested {summary['requested']}"
            )
        if summary["failed"]:
            report.problems.append(f"{task_id}: {summary['failed']} failed")
        removed_by_vendor[summary["vendor"]] = (
            removed_by_vendor.get(summary["vendor"], 0) + summary["removed"]
        )
    if not live:
        if report.requests:
            report.problems.append(
                f"a dry run sent {sum(report.requests.values())} request(s) to the sandbox"
            )
        if report.left != before:
            report.problems.append(f"a dry run changed the sandbox: {before} -> {report.left}")
        return
    for vendor, expected in demo_data.EXPECTED_LEFT[report.dag_id].items():
        left = report.left[vendor]
        if left != expected:
            report.problems.append(f"{vendor}: sandbox has {left} contacts left, expected {expected}")
        if vendor in removed_by_vendor:
            removed = removed_by_vendor[vendor]
            if before[vendor] - removed != left:
                report.problems.append(
                    f"{vendor}: summaries say {removed} removed, but the sandbox went {before[vendor]} -> {left}"
                )


def run_demo(workdir: Path, *, quiet: bool = False, live: bool = True) -> list[DagReport]:
    """
    Run every example DAG against a fresh sandbox; return one report per DAG.

    :param live: opt the examples in to real removals (what ``make demo`` shows); ``False`` runs them
        as they run by default, as dry runs.
    """
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    demo_data.write_source_db(workdir / "source.db")
    demo_data.write_erasure_file(workdir / "erasure_backlog.txt")
    say = (lambda *args: None) if quiet else print
    reports = []
    # AutoSend's documented answer has no per-contact outcome; the sandbox can add removed ids (the page
    # promises them), which lets the report tell "removed" from "was not a contact".
    with SandboxServer(
        port=0, autosend_return_ids=True, wooxy_processing_delay=demo_data.WOOXY_PROCESSING_DELAY_S
    ) as sandbox:
        sandbox.seed(demo_data.sandbox_seed())
        say(f"sandbox listening on {sandbox.url}; seeded {contacts_left(sandbox)}")
        env = airflow_env(workdir, sandbox, live=live)
        if airflow(env, "db", "migrate", log=workdir / "logs" / "db-migrate.log") != 0:
            raise SystemExit(f"airflow db migrate failed: see {workdir / 'logs' / 'db-migrate.log'}")
        for dag_id in DAG_IDS:
            before = contacts_left(sandbox)
            sandbox.clear_requests()
            log = workdir / "logs" / f"{dag_id}.log"
            say(f"running {dag_id} ...", flush=True) if not quiet else None
            started = time.monotonic()
            code = airflow(env, "dags", "test", dag_id, log=log)
            state, summaries = read_run(workdir / "airflow-home" / "airflow.db", dag_id)
            report = DagReport(
                dag_id, state, time.monotonic() - started, summaries, contacts_left(sandbox), log_path=log
            )
            for entry in sandbox.requests_log():
                name = f"{entry['method']} {entry['path']}"
                report.requests[name] = report.requests.get(name, 0) + 1
            report.merged = read_merged(workdir / "airflow-home" / "airflow.db", dag_id)
            if code != 0:
                report.problems.append(f"airflow dags test exited {code}")
            check(report, before, live=live)
            reports.append(report)
    return reports


def print_report(reports: list[DagReport]) -> None:
    for report in reports:
        # A dry run's identifiers are all in "planned": show the column when a task has any.
        planned = any(summary.get("planned") for _, _, summary in report.summaries)
        columns = (*COLUMNS, "planned") if planned else COLUMNS
        header = ("task", "vendor", *columns)
        print(f"\n{report.dag_id}: {report.state} in {report.seconds:.1f} s")
        rows = [header]
        for task_id, map_index, summary in report.summaries:
            name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            rows.append((name, summary["vendor"], *(str(summary[column]) for column in columns)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            print(
                "  "
                + "  ".join(
                    cell.ljust(width) if i < 2 else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                )
            )
        left = ", ".join(
            f"{vendor} {count}"
            for vendor, count in report.left.items()
            if vendor in demo_data.EXPECTED_LEFT[report.dag_id]
        )
        if report.merged:
            merged = report.merged
            print(
                f"  merged    {merged['vendor'] or '-'}  "
                + "  ".join(f"{column} {merged[column]}" for column in columns)
                + f"  ({merged['parts']} {'shards' if merged['shards'] else 'parts'}"
                + (f", {len(merged['results_paths'])} results files)" if merged["results_paths"] else ")")
            )
        print(f"  contacts left in the sandbox: {left}")
        for problem in report.problems:
            print(f"  PROBLEM: {problem}")
        if not report.ok:
            print(f"  log: {report.log_path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=f"leave the Variable {LIVE_VARIABLE} unset: the examples plan and send nothing",
    )
    args = parser.parse_args()
    started = time.monotonic()
    reports = run_demo(REPO / ".demo", live=not args.dry_run)
    print_report(reports)
    ok = all(report.ok for report in reports)
    print(
        f"\n{'OK' if ok else 'FAILED'}: {len(reports)} DAG(s) in {time.monotonic() - started:.0f} s; "
        "sandbox state and task summaries " + ("agree." if ok else "do NOT agree (see above).")
    )
    if args.dry_run:
        print(f"Dry run: without the Variable {LIVE_VARIABLE} the examples planned and sent nothing.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
