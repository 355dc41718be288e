"""Hostile inputs, settings and exit paths against the real sandbox: one table, one row per case.

Each row runs an operator as a task would, against the sandbox over HTTP, and expects either a clear
error before any request (nothing in XCom, the sandbox saw no request) or a run that accounts for
everything: the summary (and batch records) are in XCom even when the task fails, the buckets add
up, the number of requests the sandbox saw is asserted, and no identifier reaches the log.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_contact_removal.checkpoint import Checkpoint
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError, VendorAPIError
from airflow_contact_removal.files import InputFileError
from airflow_contact_removal.operators import RemoveContactsOperator, RemoveFromListOperator
from airflow_contact_removal.stopping import RunStopped
from tests.integration.helpers import PROJECT, WORKSPACE
from tests.reliability.conftest import assert_accounted

pytestmark = pytest.mark.integration

#: Generated sandbox contacts are user{i}@example.com; no log line may ever hold one.
DOMAIN = "example.com"
CHECKPOINT = "checkpoints/hostile/manual__hostile/remove/-1.jsonl"  # under tmp_path (root conftest)


def emails(n: int, start: int = 0) -> list[str]:
    return [f"user{i}@{DOMAIN}" for i in range(start, start + n)]


def lines(values: list[str], end: str = "\n") -> bytes:
    return "".join(value + end for value in values).encode()


@dataclass(frozen=True)
class Row:
    """
    One case. ``kwargs`` are operator arguments (``{tmp}`` in strings is the test's folder).

    ``requests``: the exact number of requests the sandbox must have seen, or ``(low, high)``.
    ``error``/``match``: the exception the task fails with. ``pushed``: whether the summary must be
    in XCom (after the first request it always is; before it, never).
    """

    vendor: str
    kwargs: dict[str, Any]
    requests: int | tuple[int, int]
    operator: type = RemoveContactsOperator
    files: dict[str, bytes] = field(default_factory=dict)
    contacts: int = 0  # user{i}@example.com contacts the sandbox holds
    connection: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] | None = None
    error: type[BaseException] | None = None
    match: str | None = None
    pushed: bool | None = None  # None: pushed unless the error came before any request
    summary: dict[str, Any] = field(default_factory=dict)
    invalid: list[str] | None = None  # expected reasons in the invalid XCom
    setup: Callable[..., None] | None = None  # setup(tmp_path, monkeypatch, operator_box)
    check: Callable[..., None] | None = None  # check(tmp_path, xcom, log_text)


def migma(requests, *, emails_in: Any = None, **kwargs) -> Row:
    row_fields = {name: kwargs.pop(name) for name in list(kwargs) if name in Row.__dataclass_fields__}
    if emails_in is not None:
        kwargs["emails"] = emails_in
    return Row("migma", kwargs, requests, **row_fields)


def to_list(vendor: str, requests, list_id: str, **kwargs) -> Row:
    row_fields = {name: kwargs.pop(name) for name in list(kwargs) if name in Row.__dataclass_fields__}
    return Row(
        vendor, {"list_id": list_id, **kwargs}, requests, operator=RemoveFromListOperator, **row_fields
    )


# Checks -----------------------------------------------------------------------------------------------
def file_unchanged(name: str, content: bytes) -> Callable[..., None]:
    def check(tmp_path: Path, xcom, log_text) -> None:
        assert (tmp_path / name).read_bytes() == content

    return check


def every_unsent_batch_says_why(text: str) -> Callable[..., None]:
    def check(tmp_path: Path, xcom, log_text) -> None:
        records = xcom["batch_results"]
        unsent = [record for record in records if record["not_sent"]]
        assert unsent, records
        assert all(text in record["error"] and record["identifiers"] for record in unsent)
        assert xcom["summary"]["not_sent"] == sum(record["size"] for record in unsent)
        assert text in xcom["summary"]["stopped"]

    return check


def results_file_has(records: int) -> Callable[..., None]:
    def check(tmp_path: Path, xcom, log_text) -> None:
        assert len((tmp_path / "results.jsonl").read_text().splitlines()) == records

    return check


# Setups -----------------------------------------------------------------------------------------------
def symlink(link: str, target: str) -> Callable[..., None]:
    def setup(tmp_path: Path, monkeypatch, box) -> None:
        os.symlink(tmp_path / target, tmp_path / link)

    return setup


def hardlink(link: str, target: str) -> Callable[..., None]:
    def setup(tmp_path: Path, monkeypatch, box) -> None:
        os.link(tmp_path / target, tmp_path / link)

    return setup


def input_at_checkpoint(content: bytes) -> Callable[..., None]:
    def setup(tmp_path: Path, monkeypatch, box) -> None:
        path = tmp_path / CHECKPOINT
        path.parent.mkdir(parents=True)
        path.write_bytes(content)

    return setup


def checkpoint_full_after(batches: int) -> Callable[..., None]:
    """The checkpoint's disk fills up after ``batches`` batches were remembered."""

    def setup(tmp_path: Path, monkeypatch, box) -> None:
        add = Checkpoint.add
        written = []

        def full_disk(self, batch, record):
            if len(written) >= batches:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(batch.index)
            add(self, batch, record)

        monkeypatch.setattr(Checkpoint, "add", full_disk)

    return setup


def kill_after(seconds: float) -> Callable[..., None]:
    """Airflow calls on_kill (as its SIGTERM handler does) while the task runs."""

    def setup(tmp_path: Path, monkeypatch, box) -> None:
        def kill() -> None:
            box["operator"].on_kill()

        box["timer"] = threading.Timer(seconds, kill)

    return setup


def stops_run_on_401(tmp_path: Path, monkeypatch, box) -> None:
    """The hook marks a refused key as run-fatal (the hook layer's contract: VendorAPIError.stops_run)."""
    from airflow_contact_removal.hooks import get_removal_hook
    from airflow_contact_removal.operators import remove

    def hook_for(conn_id):
        hook = get_removal_hook(conn_id, sleep=lambda seconds: None)
        send = hook.remove_batch

        def remove_batch(*args, **kwargs):
            try:
                return send(*args, **kwargs)
            except VendorAPIError as exc:
                if exc.status_code == 401:
                    exc.stops_run = True
                raise

        hook.remove_batch = remove_batch
        return hook

    monkeypatch.setattr(remove, "get_removal_hook", hook_for)


class Fresh:
    """An argument made when the row runs (a one-shot iterator cannot be shared by reruns)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def failing_iterable(good: int, error: BaseException) -> Fresh:
    def values():
        yield from emails(good)
        raise error

    return Fresh(values)


TEN = emails(10)
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
BIG_TEXT = lines(emails(4000))  # > 64 KB: a bad line after it is found by the reader, not up front
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000 + b"\n"

ROWS: dict[str, Row] = {
    # 1. Outputs that are the input: refused before anything is opened for writing -------------------
    "results-path-is-input-path": migma(
        0,
        files={"in.txt": lines(TEN)},
        input_path="{tmp}/in.txt",
        results_path="{tmp}/in.txt",
        error=ContactRemovalConfigError,
        match="results_path .* is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "results-path-is-input-as-file-url": migma(
        0,
        files={"in.txt": lines(TEN)},
        input_path="{tmp}/in.txt",
        results_path="file://{tmp}/in.txt",
        error=ContactRemovalConfigError,
        match="is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "results-path-is-input-through-dot-dot": migma(
        0,
        files={"in.txt": lines(TEN)},
        input_path="{tmp}/in.txt",
        results_path="{tmp}/sub/../in.txt",
        error=ContactRemovalConfigError,
        match="is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "results-path-is-a-symlink-to-input": migma(
        0,
        files={"in.txt": lines(TEN)},
        setup=symlink("link.txt", "in.txt"),
        input_path="{tmp}/in.txt",
        results_path="{tmp}/link.txt",
        error=ContactRemovalConfigError,
        match="is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "results-path-is-a-hard-link-to-input": migma(
        0,
        files={"in.txt": lines(TEN)},
        setup=hardlink("link.txt", "in.txt"),
        input_path="{tmp}/in.txt",
        results_path="{tmp}/link.txt",
        error=ContactRemovalConfigError,
        match="is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "results-path-is-input-on-object-store": migma(
        0,
        input_path="s3://exports/churn/in.csv",
        column="email",
        results_path="s3://exports/churn/audit/../in.csv",
        error=ContactRemovalConfigError,
        match="is the input_path",
    ),
    "dry-run-results-path-is-input": migma(
        0,
        files={"in.txt": lines(TEN)},
        input_path="{tmp}/in.txt",
        results_path="{tmp}/in.txt",
        dry_run=True,
        error=ContactRemovalConfigError,
        match="is the input_path",
        check=file_unchanged("in.txt", lines(TEN)),
    ),
    "checkpoint-file-is-input": migma(
        0,
        setup=input_at_checkpoint(lines(TEN)),
        input_path="{tmp}/" + CHECKPOINT,
        error=ContactRemovalConfigError,
        match="checkpoint_path .* is the input_path",
    ),
    "results-path-is-the-checkpoint": migma(
        0,
        emails_in=TEN,
        results_path="{tmp}/" + CHECKPOINT,
        error=ContactRemovalConfigError,
        match="results_path and checkpoint_path are the same file",
    ),
    # 2. Sinks and checkpoint folders checked writable before the first request -------------------------
    "results-path-under-a-file": migma(
        0,
        files={"blocker": b"x"},
        emails_in=TEN,
        results_path="{tmp}/blocker/results.jsonl",
        error=ContactRemovalConfigError,
        match="results_path .* cannot be written",
    ),
    "checkpoint-path-under-a-file": migma(
        0,
        files={"blocker": b"x"},
        emails_in=TEN,
        checkpoint_path="{tmp}/blocker/checkpoints",
        error=ContactRemovalConfigError,
        match="checkpoint_path: .* cannot be written",
    ),
    # 10. Input files: clear errors that name the file, or clear buckets --------------------------------
    "csv-with-utf8-bom": migma(
        1,
        contacts=3,
        files={"in.csv": "\ufeffemail,name\n".encode() + lines([f"{e},x" for e in emails(3)])},
        input_path="{tmp}/in.csv",
        column="email",
        summary={"removed": 3, "invalid": 0},
    ),
    "text-with-utf8-bom": migma(
        1,
        contacts=3,
        files={"in.txt": b"\xef\xbb\xbf" + lines(emails(3), end="\r\n")},
        input_path="{tmp}/in.txt",
        summary={"removed": 3, "invalid": 0},
    ),
    "binary-file": migma(
        0,
        files={"in.txt": BINARY},
        input_path="{tmp}/in.txt",
        error=ContactRemovalConfigError,
        match=r"input_path '.*in\.txt' is not a text file",
    ),
    "latin-1-file": migma(
        0,
        files={"in.txt": "jos\u00e9@example.com\n".encode("latin-1")},
        input_path="{tmp}/in.txt",
        error=ContactRemovalConfigError,
        match=r"input_path '.*in\.txt' is not UTF-8 text",
    ),
    "binary-line-half-way": migma(
        (2, 4),
        contacts=4000,
        files={"in.txt": BIG_TEXT + b"\xff\xfe\xfa\n" + lines(emails(10, 5000))},
        input_path="{tmp}/in.txt",
        batch_size=1000,
        error=InputFileError,
        match=r"input_path '.*in\.txt' is not UTF-8 text after line",
    ),
    "csv-field-over-the-limit": migma(
        0,
        files={"in.csv": b"email\n" + b"a" * 140_000 + b"@x.com\n"},
        input_path="{tmp}/in.csv",
        column="email",
        error=InputFileError,
        match=r"input_path '.*in\.csv', CSV line 2: field larger than field limit",
    ),
    "json-line-nested-100k-deep": migma(
        1,
        contacts=2,
        files={"in.jsonl": lines([f'"{e}"' for e in emails(2)]) + DEEP_JSON},
        input_path="{tmp}/in.jsonl",
        summary={"removed": 2, "invalid": 1},
        invalid=["line 3 is nested too deeply to read"],
    ),
    "csv-without-header": migma(
        0,
        files={"in.csv": lines(emails(3))},
        input_path="{tmp}/in.csv",
        column="email",
        error=ContactRemovalConfigError,
        match=r"has no column 'email' in its first line \(1 field\(s\): <email>\)",
    ),
    "input-path-missing": migma(
        0,
        input_path="{tmp}/nowhere.txt",
        error=ContactRemovalConfigError,
        match="does not exist",
    ),
    "input-path-is-a-folder": migma(
        0,
        files={"folder/x": b""},
        input_path="{tmp}/folder",
        error=ContactRemovalConfigError,
        match="is a folder",
    ),
    # 10. Email validation: invisible characters are invalid, with the reason ------------------------
    "email-with-trailing-nul": migma(
        1,
        contacts=2,
        emails_in=[*emails(2), f"user0@{DOMAIN}\x00"],
        summary={"removed": 2, "invalid": 1},
        invalid=["contains control or invisible characters"],
    ),
    "email-with-bel-and-del": migma(
        1,
        contacts=1,
        emails_in=[*emails(1), "a\x07b@x.com", "ab\x7f@x.com"],
        summary={"removed": 1, "invalid": 2},
        invalid=["contains control or invisible characters"] * 2,
    ),
    "email-with-zero-width-space-and-joiner": migma(
        1,
        contacts=1,
        emails_in=[*emails(1), "us\u200ber@x.com", "us\u200der@x.com", "\ufeffuser@x.com"],
        summary={"removed": 1, "invalid": 3},
        invalid=["contains control or invisible characters"] * 3,
    ),
    "email-with-bidi-override": migma(
        0,
        emails_in=["user\u202e@x.com"],
        summary={"removed": 0, "invalid": 1},
        invalid=["contains control or invisible characters"],
    ),
    "user-id-with-zero-width-character": to_list(
        "wooxy",
        1,
        "L1",
        user_ids=["u1", "u\u200b2", "u3\x00"],
        summary={"accepted": 1, "invalid": 2},
        invalid=["contains control or invisible characters"] * 2,
    ),
    "jsonl-with-utf8-bom": migma(
        1,
        contacts=2,
        files={"in.jsonl": b"\xef\xbb\xbf" + lines([f'"{e}"' for e in emails(2)])},
        input_path="{tmp}/in.jsonl",
        summary={"removed": 2, "invalid": 0},
    ),
    "unicode-email-is-still-valid": migma(
        1,
        contacts=1,
        emails_in=["jos\u00e9@b\u00fccher.de"],
        summary={"not_found": 1, "invalid": 0},
    ),
    # 10. Templated settings -----------------------------------------------------------------------------
    "max-contacts-rendered-as-string": migma(
        1, contacts=10, emails_in=TEN, max_contacts="100", summary={"removed": 10}
    ),
    "max-contacts-string-exceeded": migma(
        0,
        emails_in=TEN,
        max_contacts="5",
        error=ContactRemovalConfigError,
        match="refusing to remove 10 contacts: max_contacts is 5",
    ),
    "max-contacts-not-a-number": migma(
        0,
        emails_in=TEN,
        max_contacts="lots",
        error=ContactRemovalConfigError,
        match="max_contacts must be a whole number",
    ),
    "batch-size-rendered-as-string": migma(
        4, contacts=10, emails_in=TEN, batch_size="3", summary={"removed": 10, "batches": 4, "batch_size": 3}
    ),
    # 2. Every exit after the first request is accounted, and fails with the original error ------------
    "input-iterable-raises-half-way": migma(
        3,  # two full batches and the 50 read before the error
        summary={"requested": 250, "removed": 250, "failed": 0},
        contacts=250,
        emails_in=failing_iterable(250, RuntimeError("upstream cursor lost")),
        batch_size=100,
        error=RuntimeError,
        match="upstream cursor lost",
    ),
    "checkpoint-disk-full-after-3-batches": migma(
        (4, 10),
        contacts=1000,
        emails_in=emails(1000),
        batch_size=100,
        max_concurrency=1,
        setup=checkpoint_full_after(3),
        error=OSError,
        match="No space left on device",
        check=every_unsent_batch_says_why("the checkpoint could not be written"),
    ),
    "results-on-a-full-disk": migma(
        (1, 20),
        contacts=2000,
        emails_in=emails(2000),
        batch_size=100,
        results_path="/dev/full",
        error=OSError,
        match="No space left on device",
    ),
    "results-file-keeps-what-it-has": migma(
        5,
        contacts=100,
        emails_in=failing_iterable(100, ValueError("bad export")),
        batch_size=20,
        results_path="{tmp}/results.jsonl",
        error=ValueError,
        check=lambda tmp_path, xcom, log: results_file_has(xcom["summary"]["batches"])(tmp_path, xcom, log),
    ),
    "on-kill-mid-run": migma(
        (1, 12),
        contacts=4000,
        emails_in=emails(4000),
        batch_size=100,
        max_concurrency=2,
        faults={"latency_ms": 400},
        setup=kill_after(1.0),
        error=RunStopped,
        match=r"stopped by Airflow \(on_kill\)",
        check=every_unsent_batch_says_why("stopped by Airflow"),
    ),
    # 5. Answers that say no batch can succeed stop the run ------------------------------------------
    "wrong-key-marked-run-fatal-by-the-hook": migma(
        (1, 4),
        emails_in=emails(20_000),
        batch_size=200,
        connection={"password": "wrong-key"},
        setup=stops_run_on_401,
        error=ContactRemovalError,
        match="failed in",
        check=every_unsent_batch_says_why("Invalid or missing API key"),
    ),
    "wrong-key-migma": migma(
        (1, 4 + 2),
        emails_in=emails(20_000),
        batch_size=200,
        connection={"password": "wrong-key"},
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("HTTP 401"),  # the same whether the hook or the run judges it
    ),
    "migma-project-not-found": migma(
        (1, 4 + 2),
        emails_in=emails(20_000),
        batch_size=200,
        connection={"project_id": "no-such-project"},
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("Project not found"),
    ),
    "wrong-key-wooxy": to_list(
        "wooxy",
        (1, 10 + 2),
        "L1",
        emails=emails(10_000),
        connection={"password": "wrong-key"},
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("HTTP 401"),  # the same whether the hook or the run judges it
    ),
    "wooxy-list-not-found": to_list(
        "wooxy",
        (1, 10 + 2),
        "no-such-list",
        emails=emails(10_000),
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("not found"),
    ),
    "bird-list-not-found": to_list(
        "bird",
        (1, 4 + 2),
        "00000000-0000-4000-8000-000000000000",
        emails=emails(10_000),
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("not found"),
    ),
    "autosend-list-not-found": to_list(
        "autosend",
        (1, 2 + 2),
        "60d5ec49f1b2c72d9c8b4567",
        emails=emails(10_000),
        error=ContactRemovalError,
        check=every_unsent_batch_says_why("not found"),
    ),
    # 6. A refusal of every request is not split into a storm -----------------------------------------
    "wooxy-every-request-refused-400": to_list(
        "wooxy",
        (0, 10 * 7 + 10),  # before: 33 requests for each of the 100 batches
        "L1",
        emails=emails(10_000),
        webhook_uri="not a uri",
        error=ContactRemovalError,
        pushed=False,  # not checked: a hook may refuse this webhook_uri before any request
    ),
    "fail-on-error-false-still-stops": migma(
        (1, 4 + 2),
        emails_in=emails(20_000),
        batch_size=200,
        connection={"password": "wrong-key"},
        fail_on_error=False,
        summary={"removed": 0, "failed": 20_000},
        check=every_unsent_batch_says_why("HTTP 401"),  # the same whether the hook or the run judges it
    ),
}


def _filled(value: Any, tmp_path: Path) -> Any:
    if isinstance(value, Fresh):
        return value.make()
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp_path))
    return value


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_hostile_case_has_a_clear_outcome(
    row: Row, sandbox, connect, ti, tmp_path, monkeypatch, caplog, capsys
):
    for name, content in row.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    box: dict[str, Any] = {}
    if row.setup is not None:
        row.setup(tmp_path, monkeypatch, box)
    if row.contacts:
        spec = {"migma": {"project": PROJECT}, "wooxy": {"list": "L1"}, "bird": {"workspace": WORKSPACE}}
        sandbox.generate(
            vendor=row.vendor, count=row.contacts, pattern=f"user{{i}}@{DOMAIN}", **spec.get(row.vendor, {})
        )
    if row.vendor == "wooxy":
        sandbox.seed({"wooxy": {"lists": {"L1": []}}})
    if row.faults:
        sandbox.set_faults(**row.faults)
    kwargs = {name: _filled(value, tmp_path) for name, value in row.kwargs.items()}
    operator = row.operator(task_id="remove", conn_id=connect(row.vendor, **row.connection), **kwargs)
    box["operator"] = operator
    context = {"ti": ti, "run_id": ti.run_id}

    with caplog.at_level(logging.INFO):
        if "timer" in box:
            box["timer"].start()
        try:
            if row.error is not None:
                with pytest.raises(row.error, match=row.match):
                    operator.execute(context)
            else:
                operator.execute(context)
        finally:
            if "timer" in box:
                box["timer"].cancel()

    seen = sandbox.stats()[row.vendor]["requests"]
    low, high = row.requests if isinstance(row.requests, tuple) else (row.requests, row.requests)
    assert low <= seen <= high, f"the sandbox saw {seen} request(s), expected {row.requests}"
    pushed = row.pushed if row.pushed is not None else (row.error is None or seen > 0)
    if row.pushed is not False:
        assert ("summary" in ti.xcom) == pushed, ti.xcom.keys()
    if "summary" in ti.xcom:
        summary = ti.xcom["summary"]
        assert_accounted(summary)
        for name, expected in row.summary.items():
            assert summary[name] == expected, (name, summary)
        if "batch_results" in ti.xcom and not row.kwargs.get("results_path"):
            sent = [r for r in ti.xcom["batch_results"] if not r["not_sent"]]
            assert seen >= len(sent) or row.vendor == "wooxy"
    if row.invalid is not None:
        assert [record["reason"] for record in ti.xcom["invalid"]] == row.invalid
    checkpoints = tmp_path / "checkpoints"
    if checkpoints.is_dir():  # only ours: the root conftest points the default folder there
        empty = [str(path) for path, dirs, files in os.walk(checkpoints) if not dirs and not files]
        assert empty in ([], [str(checkpoints)]), f"empty checkpoint folders left behind: {empty}"
        assert not [path for path in checkpoints.rglob("*.jsonl") if path.stat().st_size == 0]
    logged = caplog.text + capsys.readouterr().out  # stdlib loggers, and the task logger (structlog)
    assert "in, " in logged or row.error is not None  # the logs were captured
    assert DOMAIN not in logged, "an identifier reached the log"
    if row.check is not None:
        row.check(tmp_path, ti.xcom, logged)


def test_the_table_has_the_rows_the_issue_asks_for():
    assert len(ROWS) >= 35


def test_batch_size_is_templated():
    assert "batch_size" in RemoveContactsOperator.template_fields
    assert "batch_size" in RemoveFromListOperator.template_fields
    assert re.search("max_contacts", " ".join(RemoveFromListOperator.template_fields))
