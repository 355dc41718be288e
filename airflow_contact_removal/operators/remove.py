"""RemoveContactsOperator and RemoveFromListOperator: the vendor is chosen by the connection's type."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_contact_removal._compat import conf
from airflow_contact_removal.budget import enforce_share
from airflow_contact_removal.checkpoint import Checkpoint, checkpoint_file, default_checkpoint_folder
from airflow_contact_removal.completion.folding import request_ids_from
from airflow_contact_removal.completion.wait import finish_from_event, rules_of, wait_for_requests
from airflow_contact_removal.exceptions import ContactRemovalConfigError, ContactRemovalError
from airflow_contact_removal.files import FileIdentifiers, JsonLinesWriter, check_outputs
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.hooks.base import REMOVE_CONTACTS, REMOVE_FROM_LIST
from airflow_contact_removal.redaction import HidesIdentifierFields, revealed
from airflow_contact_removal.removal import RemovalReport, RemovalRequest, report_of, run_removal
from airflow_contact_removal.results import XCOM_LIMIT_BYTES, fit_for_xcom, json_size
from airflow_contact_removal.sharding import Shard, shard_numbers
from airflow_contact_removal.stopping import StopSignal
from airflow_contact_removal.triggers.completion import RequestCompletionTrigger
from airflow_contact_removal.vocabulary import Confirmation

if TYPE_CHECKING:
    from airflow.sdk import Context


class _ContactRemovalOperator(HidesIdentifierFields, BaseOperator):
    """
    Shared behaviour of the two operators: build the request, run it, push the results.

    XCom written:

    * ``return_value`` (and ``summary``, also pushed when the task fails): the totals, which add up:
      ``requested == removed + not_found + accepted + invalid + duplicates + failed (+ planned)``;
    * ``batch_results``: one record per batch (index, size, status ``ok``/``partial``/``failed``/
      ``planned``, vendor counts, not-found identifiers, request id, attempts, error; failed and
      partial batches carry their identifiers for re-queueing);
    * ``invalid``: the inputs that were not sent, each with its reason.
    """

    operation: str = ""
    ui_color = "#fde2e1"
    # Airflow stores and shows rendered template fields: these show as a count and a digest.
    identifier_fields = ("emails", "contact_ids", "phone_numbers", "user_ids")

    def __init__(
        self,
        *,
        conn_id: str,
        emails: Any = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        dry_run: bool | str = False,
        fail_on_error: bool = True,
        max_contacts: int | None = None,
        input_path: str | None = None,
        input_format: str = "auto",
        column: str | None = None,
        results_path: str | None = None,
        checkpoint: bool = True,
        checkpoint_path: str | None = None,
        shard: int | None = None,
        shards: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.shards = shards
        self.checkpoint = checkpoint
        self.checkpoint_path = checkpoint_path
        self.conn_id = conn_id
        self.emails = emails
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        # Not ``self.dry_run``: that is BaseOperator.dry_run(), which this would hide. The template
        # field is named after the attribute, so the UI shows it as ``is_dry_run``.
        self.is_dry_run = dry_run
        if not _is_template(dry_run):
            _flag(dry_run, "dry_run")  # a wrong literal fails when the DAG is parsed, not when it runs
        self.fail_on_error = fail_on_error
        self.max_contacts = max_contacts
        self.input_path = input_path
        self.input_format = input_format
        self.column = column
        self.results_path = results_path

    #: the identifier kind the lines of ``input_path`` hold.
    input_kind = "emails"

    @classmethod
    def sharded(cls, *, shards: int, **kwargs: Any):
        """
        One removal of ``input_path`` spread over ``shards`` mapped task instances.

        The same as ``cls.partial(shards=shards, **kwargs).expand(shard=list(range(shards)))``: pass
        what you would pass the operator (``task_id``, ``conn_id``, ``input_path``, a
        ``results_path`` containing ``{shard}``...). A list, not a ``range``: Airflow stores a
        ``range`` in the serialized DAG as its text, and would map over its characters.
        """
        return cls.partial(shards=shards, **kwargs).expand(shard=shard_numbers(shards))

    def dry_run_requested(self) -> bool:
        """Whether this run only plans: ``dry_run`` as given, or as its template rendered."""
        return _flag(self.is_dry_run, "dry_run")

    def identifier_inputs(self) -> dict[str, Any]:
        inputs = {"emails": self.emails}
        return self._with_input_path(inputs)

    def _with_input_path(self, inputs: dict[str, Any]) -> dict[str, Any]:
        inputs = {kind: revealed(value) for kind, value in inputs.items()}
        if not self.input_path:
            return inputs
        if inputs.get(self.input_kind) is not None:
            raise ContactRemovalConfigError(
                f"pass {self.input_kind} either as an argument or through input_path, not both"
            )
        return {**inputs, self.input_kind: FileIdentifiers(self.input_path, self.input_format, self.column)}

    def removal_request(self, context: Context) -> RemovalRequest:
        return RemovalRequest(
            operation=self.operation,
            identifiers=self.identifier_inputs(),
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            dry_run=self.dry_run_requested(),
            max_contacts=self.max_contacts,
            idempotency_scope=_idempotency_scope(context),
            shard=Shard.build(self.shard, self.shards),
        )

    def account_hook(self):
        """
        The connection's hook, kept within this task's share of the vendor account: its ``pool`` and
        ``pool_slots`` are checked against the connection before any request (see
        :mod:`airflow_contact_removal.budget`).
        """
        hook = get_removal_hook(self.conn_id)
        enforce_share(hook, pool=self.pool, pool_slots=self.pool_slots)
        return hook

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.account_hook()
        report = self.remove(context, hook, self.removal_request(context))
        summary = self.push_results(context, report)
        self.log_summary(hook, report)
        self.fail_if_needed(summary)
        return summary

    def remove(self, context: Context, hook, request: RemovalRequest) -> RemovalReport:
        """
        Run the removal, with the checkpoint and the results file when they are asked for.

        Before the first request: the outputs must not be the input (or each other), the input file
        must be text, and the results file and the checkpoint must be writable. On any exit after
        it, what was sent is accounted: the summary and batch records are pushed to XCom, the
        checkpoint flushed and the results file closed with what it has, and the task then fails
        with the error that ended the run.
        """
        self._stop = StopSignal()
        results_path = self.results_path
        if results_path and request.shard is not None:
            results_path = request.shard.results_path(results_path)  # one file per shard
        checkpoint = None
        checkpoint_path = None
        folder = None
        if self.checkpoint and not request.dry_run:
            ti = context["ti"]
            folder = self.checkpoint_path or default_checkpoint_folder()
            run_id = context.get("run_id") or ti.run_id
            checkpoint_path = checkpoint_file(folder, ti.dag_id, run_id, ti.task_id, ti.map_index)
        check_outputs(self.input_path, {"results_path": results_path, "checkpoint_path": checkpoint_path})
        for value in request.identifiers.values():
            if isinstance(value, FileIdentifiers):
                value.check()
        if checkpoint_path is not None:
            checkpoint = Checkpoint(checkpoint_path, root=folder)
            checkpoint.prepare()
        try:
            writer = JsonLinesWriter(results_path) if results_path else None
        except BaseException:
            if checkpoint is not None:
                checkpoint.close()  # not a trace left of a run that did not start
            raise
        report = None
        try:
            report = run_removal(
                hook,
                request,
                logger=self.log,
                results_sink=writer.write if writer is not None else None,
                checkpoint=checkpoint,
                stop=self._stop,
            )
            if writer is not None:
                writer.close()
        except BaseException as exc:
            self._account_failure(context, hook, report_of(exc) or report, writer, checkpoint, results_path)
            raise
        if writer is not None:
            report.summary.results_path = str(results_path)
            self.log.info("Wrote %d result record(s) to %s", writer.lines, results_path)
        if checkpoint is not None:
            if report.summary.failed:
                checkpoint.close()  # kept: a retry re-sends only what did not finish
            else:
                checkpoint.remove()
        return report

    def _account_failure(self, context, hook, report, writer, checkpoint, results_path) -> None:
        """On the way out of a failed run: flush what can be flushed and push what was done."""
        for closing in (checkpoint, writer):
            if closing is None:
                continue
            try:
                closing.close()  # the checkpoint is kept: the next try resumes from it
            except Exception as exc:  # the error that ended the run is the one raised
                self.log.error("Could not close %s: %s", closing.path, type(exc).__name__)
        if report is None:
            return  # ended before the first request: nothing was sent
        if writer is not None:
            report.summary.results_path = str(results_path)
        try:
            self.push_results(context, report, records=True)
            self.log_summary(hook, report)
        except Exception as exc:
            self.log.error("Could not push the accounting of the failed run to XCom: %s", type(exc).__name__)

    def on_kill(self) -> None:
        """Airflow stops the task (timeout, SIGTERM): no new request starts, and the run is accounted."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.stop("stopped by Airflow (on_kill)", interrupt=True)

    def log_summary(self, hook, report: RemovalReport) -> None:
        self.log.info(
            "%s %s: requested %d, removed %d, not found %d, accepted %d, invalid %d, duplicates %d, "
            "failed %d, in %d batch(es)",
            hook.hook_name,
            self.operation,
            report.summary.requested,
            report.summary.removed,
            report.summary.not_found,
            report.summary.accepted,
            report.summary.invalid,
            report.summary.duplicates,
            report.summary.failed,
            report.summary.batches,
        )

    def fail_if_needed(self, summary: dict[str, Any]) -> None:
        """With ``fail_on_error``, fail the task (after XCom was pushed) when anything failed."""
        if summary["failed"] and self.fail_on_error:
            raise ContactRemovalError(
                f"{summary['failed']} of {summary['requested']} identifier(s) failed in "
                f"{summary['batches_failed']} of {summary['batches']} batch(es) "
                f"(removed {summary['removed']}, not found {summary['not_found']}, "
                f"accepted {summary['accepted']}, invalid {summary['invalid']}, "
                f"duplicates {summary['duplicates']}); failed identifiers are in XCom 'batch_results'"
                + (f" and {summary['results_path']}" if summary.get("results_path") else "")
            )

    def push_results(
        self, context: Context, report: RemovalReport, *, records: bool = False
    ) -> dict[str, Any]:
        """:param records: push the batch records kept in memory even with ``results_path`` (a failed run)."""
        return self.push(
            context,
            report.summary.to_dict(),
            [result.to_dict() for result in report.batch_results],
            [record.to_dict() for record in report.invalid],
            records=records,
        )

    def push(
        self,
        context: Context,
        summary: dict[str, Any],
        batch_results: list[dict[str, Any]],
        invalid: list[dict[str, Any]] | None,
        *,
        records: bool = False,
    ) -> dict[str, Any]:
        """
        Push the summary, and the batch records and invalid inputs unless they went to ``results_path``.

        Without ``results_path``, records are kept under about 1 MB each so no run can overload the
        metadata database: past that only failed and partial batches are kept, and the log says so.
        ``records`` pushes them even with ``results_path``: a failed run's records kept in memory
        (failed batches, and any the results file could not take).
        """
        ti = context["ti"]
        if not self.results_path or records:
            batch_results, batch_note = fit_for_xcom(batch_results)
            notes = [batch_note]
            if invalid is not None:
                invalid, invalid_note = fit_for_xcom(invalid)
                notes.append(invalid_note and f"invalid inputs: {invalid_note}")
                ti.xcom_push(key="invalid", value=invalid)
            kept_notes = [note for note in notes if note]
            if kept_notes:
                summary["xcom_note"] = "; ".join(kept_notes)
                self.log.warning(
                    "XCom kept small: %s. Set results_path to keep every record.", summary["xcom_note"]
                )
            ti.xcom_push(key="batch_results", value=batch_results)
        ti.xcom_push(key="summary", value=summary)
        return summary


class RemoveContactsOperator(_ContactRemovalOperator):
    """
    Remove contacts from the whole account (AutoSend, Migma) by email.

    :param conn_id: an ``autosend`` or ``migma`` connection; its type picks the vendor.
    :param emails: the emails: a list or any iterable of strings, an XComArg, 1-column rows from a SQL
        operator, or a JSON array string. Trimmed, lower-cased, validated and de-duplicated.
        (templated)
    :param batch_size: emails per request; default and ceiling are the vendor's (Migma 1000; AutoSend
        documents none, so 100 by default and at most 500). A larger value is clamped with a warning.
        (templated)
    :param max_concurrency: requests in flight; default and ceiling per vendor.
    :param dry_run: clean and plan the batches, report them as ``planned``, send nothing. ``True``,
        ``False``, or a template rendering to ``true``/``false``/``True``/``False`` (anything else is
        an error), e.g. ``"{{ var.value.get('removals_live', 'false') != 'true' }}"``. Kept as the
        ``is_dry_run`` attribute (``dry_run`` is BaseOperator's method). (templated)
    :param fail_on_error: after every batch was attempted and the results pushed, fail the task if any
        identifier failed. ``False``: succeed and let a downstream task decide.
    :param max_contacts: fail before any request when more valid emails than this would be removed.
        (templated; ``"100"`` is read as 100)
    :param input_path: read the emails from a file instead (streamed, never held in memory or XCom):
        a local path or an Airflow ``ObjectStoragePath`` URL (``file://``, ``s3://``, ``gs://``...).
        (templated)
    :param input_format: ``csv``, ``text`` (one per line), ``jsonl``, or ``auto`` (by file suffix).
    :param column: the CSV header, or the key of JSON-lines objects, holding the identifier. (templated)
    :param results_path: write every batch record and invalid input there as JSON lines (each with a
        ``record`` field: ``batch`` or ``invalid``); XCom then carries only the summary and the path.
        (templated)
    :param checkpoint: remember the batches that finished, in a file per task instance, so that a
        retry after a crash (or a failure) does not send them again; removed when a run ends with
        nothing failed. Default ``True``.
    :param checkpoint_path: the folder for checkpoint files: any ``ObjectStoragePath`` URL or local
        path (default ``$AIRFLOW_HOME/contact_removal_checkpoints``). Use shared storage when retries
        may run on another worker. (templated)
    :param shards: split one input over this many task instances:
        ``RemoveContactsOperator.sharded(task_id=..., input_path=..., shards=8)``, the same as
        ``.partial(input_path=..., shards=8).expand(shard=list(range(8)))``. Each streams the whole input
        and removes only the identifiers whose normalised value hashes to its shard, so duplicates
        meet in one shard and every input is counted once over all of them (see
        :mod:`airflow_contact_removal.sharding`). ``results_path`` must then contain ``{shard}``;
        each mapped instance has its own checkpoint. Merge the parts' ``summary`` XComs with
        :class:`~airflow_contact_removal.operators.MergeRemovalSummariesOperator`.
    :param shard: which shard this instance removes, from 0 to ``shards - 1`` (usually expanded).
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "emails",
        "batch_size",
        "max_contacts",
        "is_dry_run",
        "input_path",
        "column",
        "results_path",
        "checkpoint_path",
    )
    operation = REMOVE_CONTACTS


class RemoveFromListOperator(_ContactRemovalOperator):
    """
    Remove contacts from one list (AutoSend, Wooxy, Bird).

    Identifier kinds by vendor: AutoSend ``emails`` or ``contact_ids``; Wooxy ``emails``,
    ``phone_numbers``, ``user_ids``; Bird ``contact_ids`` (UUIDs), ``emails`` and ``phone_numbers``
    (sent as ``emailaddress`` / ``phonenumber`` identifiers). A kind the vendor does not take is an
    error before any request. Phone numbers must be E.164.

    :param conn_id: an ``autosend``, ``wooxy`` or ``bird`` connection; its type picks the vendor.
    :param list_id: the list to remove from. (templated)
    :param emails: emails (templated; same input shapes as :class:`RemoveContactsOperator`).
    :param contact_ids: vendor contact ids. (templated)
    :param phone_numbers: E.164 phone numbers. (templated)
    :param user_ids: your platform's user ids (Wooxy). (templated)
    :param webhook_uri: Wooxy only: where Wooxy posts each request's final status. (templated)
    :param batch_size: identifiers per request, all kinds together; clamped to the vendor's limit.
        (templated)
    :param max_concurrency: requests in flight; clamped to the vendor's cap (Wooxy: 10).
    :param dry_run: plan, report ``planned`` batches, send nothing; a bool or a template (see
        :class:`RemoveContactsOperator`). (templated)
    :param fail_on_error: fail the task, after all batches and XCom, if any identifier failed.
    :param max_contacts: fail before any request when more valid identifiers than this would be sent.
    :param input_path: read identifiers from a file instead (see :class:`RemoveContactsOperator`).
    :param input_kind: what the file's identifiers are: ``emails`` (default), ``contact_ids``,
        ``phone_numbers`` or ``user_ids``. (templated)
    :param input_format: ``csv``, ``text``, ``jsonl`` or ``auto``.
    :param column: the CSV header or JSON key holding the identifier. (templated)
    :param results_path: JSON-lines file for every batch record and invalid input. (templated)
    :param checkpoint: remember finished batches so a retry after a crash does not send them again
        (see :class:`RemoveContactsOperator`).
    :param checkpoint_path: folder (any ``ObjectStoragePath``) for the checkpoint files.
    :param shards: split one input over this many task instances (see :class:`RemoveContactsOperator`).
    :param shard: which shard this instance removes (usually expanded, see :meth:`sharded`).
    :param wait_for_completion: Wooxy only: after every batch was accepted, wait until Wooxy has
        processed each request and fold its per-contact outcome in: accepted identifiers become
        removed or failed (with Wooxy's ``humanError``). Unknown or expired request ids and a timeout
        are failures, never success.
    :param poll_interval: seconds between ``request/find`` polls while waiting. (templated)
    :param completion_timeout: seconds to wait for Wooxy in all. (templated)
    :param deferrable: wait in the triggerer (no worker slot held) rather than in the worker.
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "list_id",
        "emails",
        "contact_ids",
        "phone_numbers",
        "user_ids",
        "webhook_uri",
        "batch_size",
        "max_contacts",
        "is_dry_run",
        "input_path",
        "input_kind",
        "column",
        "results_path",
        "checkpoint_path",
        "poll_interval",
        "completion_timeout",
    )
    operation = REMOVE_FROM_LIST

    def __init__(
        self,
        *,
        conn_id: str,
        list_id: str,
        emails: Any = None,
        contact_ids: Any = None,
        phone_numbers: Any = None,
        user_ids: Any = None,
        webhook_uri: str | None = None,
        input_kind: str = "emails",
        wait_for_completion: bool = False,
        poll_interval: float = 30.0,
        completion_timeout: float = 6 * 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, emails=emails, **kwargs)
        self.input_kind = input_kind
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.completion_timeout = completion_timeout
        self.deferrable = deferrable
        self.list_id = list_id
        self.contact_ids = contact_ids
        self.phone_numbers = phone_numbers
        self.user_ids = user_ids
        self.webhook_uri = webhook_uri

    def identifier_inputs(self) -> dict[str, Any]:
        if self.input_kind not in ("emails", "contact_ids", "phone_numbers", "user_ids"):
            raise ContactRemovalConfigError(
                f"input_kind must be emails, contact_ids, phone_numbers or user_ids, got {self.input_kind!r}"
            )
        inputs = {
            "emails": self.emails,
            "contact_ids": self.contact_ids,
            "phone_numbers": self.phone_numbers,
            "user_ids": self.user_ids,
        }
        return self._with_input_path(inputs)

    def removal_request(self, context: Context) -> RemovalRequest:
        request = super().removal_request(context)
        request.list_id = self.list_id
        request.batch_options = {"webhook_uri": self.webhook_uri}
        request.keep_identifiers = self.wait_for_completion
        return request

    def execute(self, context: Context) -> dict[str, Any]:
        hook = get_removal_hook(self.conn_id)
        if (
            not self.wait_for_completion
            or hook.confirmation != Confirmation.ASYNCHRONOUS
            or self.dry_run_requested()
        ):
            return super().execute(context)
        label = rules_of(hook).label
        if self.results_path:
            raise ContactRemovalConfigError(
                f"wait_for_completion keeps each batch's identifiers to fold {label}'s outcome into; "
                "it cannot be combined with results_path yet"
            )
        poll_interval = _seconds(self.poll_interval, "poll_interval")
        completion_timeout = _seconds(self.completion_timeout, "completion_timeout")
        hook = self.account_hook()
        report = self.remove(context, hook, self.removal_request(context))
        self.log_summary(hook, report)
        records = [result.to_dict() for result in report.batch_results]
        invalid = [record.to_dict() for record in report.invalid]
        summary = report.summary.to_dict()
        request_ids = request_ids_from(records)
        if not request_ids:
            return self._finish(context, summary, records, invalid)
        context["ti"].xcom_push(key="invalid", value=fit_for_xcom(invalid)[0])
        if self.deferrable and json_size(records) <= XCOM_LIMIT_BYTES:
            # Nothing to re-send on resume: the records (with their identifiers) wait in XCom.
            context["ti"].xcom_push(key="accepted_batches", value=records)
            context["ti"].xcom_push(key="summary", value=summary)
            # Not "0 failed": the outcome, and so batches_failed, is only known once the vendor has
            # processed them.
            self.log.info(
                "Every batch was accepted; deferring until %s has processed %d request(s), "
                "then counting batches with failures (failed or partial)",
                label,
                len(request_ids),
            )
            self.defer(
                trigger=RequestCompletionTrigger(
                    conn_id=self.conn_id,
                    request_ids=request_ids,
                    poll_interval=poll_interval,
                    timeout_at=time.time() + completion_timeout,
                    # The task's share: its pool keeps the slots while deferred (include_deferred).
                    max_in_flight=hook.max_in_flight,
                ),
                method_name="execute_complete",
            )
        if self.deferrable:
            self.log.warning(
                "The accepted batches are too large to wait in XCom; waiting for %s in the worker instead",
                label,
            )
        completion = wait_for_requests(
            hook,
            records,
            summary,
            poll_interval=poll_interval,
            timeout=completion_timeout,
            logger=self.log,
        )
        self.log.info(completion.message())
        return self._finish(context, completion.summary, completion.records(), None)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the completion trigger: fold the outcome in. Never sends a removal again."""
        ti = context["ti"]
        records = ti.xcom_pull(task_ids=self.task_id, key="accepted_batches", map_indexes=ti.map_index)
        summary = ti.xcom_pull(task_ids=self.task_id, key="summary", map_indexes=ti.map_index)
        hook = get_removal_hook(self.conn_id)
        enforce_share(hook, pool=self.pool, pool_slots=self.pool_slots)
        completion = finish_from_event(hook, records, summary, event)
        self.log.info(completion.message())
        return self._finish(context, completion.summary, completion.records(), None)

    def _finish(self, context, summary, records, invalid) -> dict[str, Any]:
        summary = self.push(context, summary, records, invalid)
        self.fail_if_needed(summary)
        return summary


#: The texts a templated flag may render to (Jinja renders a bool as ``True`` / ``False``).
_FLAG_TEXTS = {"true": True, "True": True, "false": False, "False": False}


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _flag(value: Any, name: str) -> bool:
    """
    A yes/no argument that may be templated: a bool, or the text ``true``/``false``/``True``/``False``.

    Anything else is refused rather than guessed: ``"no"`` or ``"0"`` read as a truthy string would
    turn a dry run into a real removal (or the reverse).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _FLAG_TEXTS:
        return _FLAG_TEXTS[value]
    raise ContactRemovalConfigError(
        f"{name} must be True or False (or, from a template, the text true, false, True or False), "
        f"got {value!r}"
    )


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ContactRemovalConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise ContactRemovalConfigError(f"{name} must be positive, got {seconds:g}")
    return seconds


def _idempotency_scope(context: Context) -> str:
    """dag / run / task / map index: the same for every try of this task instance, and only for it."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}/{context.get('run_id') or ti.run_id}/{ti.task_id}/{map_index if map_index is not None else -1}"
