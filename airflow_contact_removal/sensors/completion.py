"""RequestCompletionSensor: wait, in a task of its own, for removals another task sent to a vendor that confirms later."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_contact_removal._compat import AirflowException, AirflowFailException, AirflowSensorTimeout, conf
from airflow_contact_removal.budget import enforce_share
from airflow_contact_removal.completion.folding import (
    Completion,
    PollState,
    batch_records_from,
    complete,
    request_ids_from,
)
from airflow_contact_removal.completion.wait import finish_from_event, read_statuses, rules_of
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks import get_removal_hook
from airflow_contact_removal.hooks.base import ContactRemovalHook
from airflow_contact_removal.redaction import HidesIdentifierFields, revealed
from airflow_contact_removal.results import fit_for_xcom
from airflow_contact_removal.triggers.completion import RequestCompletionTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class RequestCompletionSensor(HidesIdentifierFields, BaseSensorOperator):
    """
    Wait until a vendor's removal requests reach a final status, then report each contact's outcome.

    For DAGs that remove in one task (``RemoveFromListOperator`` on a connection whose hook confirms
    later, e.g. ``wooxy``) and wait in
    another. When every request is final or unknown, the sensor folds the vendor's per-contact results into
    the batch records and pushes, in the operator's shapes (see
    :mod:`~airflow_contact_removal.results`):

    * ``batch_results``: accepted identifiers become ``removed`` or ``failed`` (with the vendor's
      error in ``contact_errors``), failed identifiers listed in ``identifiers``;
    * ``summary`` (also the return value): the totals, which still add up.

    It then fails (``AirflowFailException``, after pushing) if a request id is unknown (or past the vendor's
    retention), or, with ``fail_on_error``, if any identifier failed. A request still pending at ``timeout``
    fails the sensor with ``AirflowSensorTimeout``, its accepted identifiers reported as failed ("timed
    out waiting for <vendor>"). Nothing is ever reported removed that the vendor did not confirm.

    Every poke reads all request ids again (through the hook, in chunks), so the sensor
    keeps no state between pokes and works in ``mode="reschedule"``. With ``deferrable=True`` it waits
    in the triggerer (:class:`~airflow_contact_removal.triggers.completion.RequestCompletionTrigger`).

    Per-identifier folding needs the batches' identifiers: the operator keeps them on the records of
    the batches it leaves ``accepted``. Records without them, or bare request ids, are folded from
    the vendor's own report (its successes and errors).

    :param conn_id: the connection; its type picks the hook. (templated)
    :param request_ids: the request ids: a list, one id, or the operator's ``batch_results`` (the ids
        of its batches with accepted identifiers are used, and the records folded), e.g.
        ``remove.output["batch_results"]`` or an ``XComArg``. (templated)
    :param batch_results: the operator's batch records to fold, when ``request_ids`` is a list of ids;
        without them the records are rebuilt from the vendor's report. (templated)
    :param summary: the operator's summary, so ``requested``, ``invalid`` and ``duplicates`` are kept.
        (templated)
    :param fail_on_error: after pushing the results, fail if any accepted identifier failed.
    :param deferrable: wait in the triggerer instead of poking.
    """

    template_fields: Sequence[str] = ("conn_id", "request_ids", "batch_results", "summary")
    ui_color = "#fde2e1"
    # Batch records carry the identifiers of failed and partial batches: Airflow shows a count instead.
    identifier_fields = ("request_ids", "batch_results")
    identifier_noun = "item"

    def __init__(
        self,
        *,
        conn_id: str,
        request_ids: Any = None,
        batch_results: Any = None,
        summary: Any = None,
        fail_on_error: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if request_ids is None and batch_results is None:
            raise ContactRemovalConfigError(f"{type(self).__name__} needs request_ids or batch_results")
        self.conn_id = conn_id
        self.request_ids = request_ids
        self.batch_results = batch_results
        self.summary = summary
        self.fail_on_error = fail_on_error
        self.deferrable = deferrable
        # The last read of this run, only to report a timeout: never used to decide a poke.
        self._last_read: tuple[PollState, dict[str, Any]] | None = None

    # Inputs ----------------------------------------------------------------------------------------
    def _records(self) -> list[dict[str, Any]] | None:
        batch_results = revealed(self.batch_results)
        if batch_results is not None:
            records = batch_records_from(batch_results)
            if records is None and batch_results not in ([], "[]", ""):
                raise ContactRemovalConfigError("batch_results must be the operator's list of batch records")
            return records or []
        return batch_records_from(revealed(self.request_ids))

    def _request_ids(self, records: list[dict[str, Any]] | None) -> list[str]:
        if self.request_ids is not None:
            return request_ids_from(revealed(self.request_ids))
        return request_ids_from(records)

    def _summary(self) -> dict[str, Any] | None:
        summary = self.summary
        if summary is None or isinstance(summary, dict):
            return summary
        raise ContactRemovalConfigError("summary must be the operator's summary dict")

    def _hook(self) -> ContactRemovalHook:
        """The hook, within this task's share of the account's pool (checked once per process)."""
        hook = self.__dict__.get("_account_hook")
        if hook is None:
            hook = get_removal_hook(self.conn_id)
            rules_of(hook)  # a hook that confirms synchronously has nothing to wait for
            self.__dict__["_account_hook"] = hook
            enforce_share(hook, pool=self.pool, pool_slots=self.pool_slots)
        return hook

    # Poking ----------------------------------------------------------------------------------------
    def poke(self, context: Context) -> bool | PokeReturnValue:
        records = self._records()
        ids = self._request_ids(records)
        hook = self._hook()
        rules = rules_of(hook)
        read = read_statuses(hook, ids)
        if read.error is not None:
            if not read.error.retryable:
                raise read.error
            self.log.warning("%s status read failed, will poke again: %s", rules.label, read.error)
        state = PollState.from_statuses(ids, read.statuses, read.unknown_ids, rules)
        self._last_read = (state, read.statuses)
        if not state.done:
            self.log.info("%s: not final yet", state.describe())
            return False
        completion = complete(records, self._summary(), state, _finals(state, read.statuses))
        self._publish(context, completion)
        return PokeReturnValue(is_done=True, xcom_value=completion.summary)

    def execute(self, context: Context) -> Any:
        if self.deferrable:
            return self._execute_deferrable(context)
        try:
            return super().execute(context)
        except AirflowSensorTimeout:
            if self._last_read is None:
                raise
            state, statuses = self._last_read
            state.timed_out = True
            self._publish(
                context, complete(self._records(), self._summary(), state, _finals(state, statuses))
            )
            raise  # not reached: _publish raises the clearer timeout

    def _execute_deferrable(self, context: Context) -> Any:
        done = self.poke(context)
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        if self._last_read is None:  # poke() records its read before it answers "not yet"
            raise AirflowException("the sensor's first poke recorded no read")
        state, _ = self._last_read
        self.defer(
            trigger=RequestCompletionTrigger(
                conn_id=self.conn_id,
                request_ids=state.request_ids,
                poll_interval=self.poke_interval,
                timeout_at=time.time() + self.timeout,
                max_in_flight=self._hook().max_in_flight,  # the task's share; its pool counts deferred
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: read the final requests again, fold, push, and judge."""
        completion = finish_from_event(self._hook(), self._records(), self._summary(), event)
        self._publish(context, completion)
        return completion.summary

    # Results ---------------------------------------------------------------------------------------
    def _publish(self, context: Context, completion: Completion) -> None:
        """Push ``batch_results`` and ``summary``, log the outcome, and raise if it is not a success."""
        ti = context["ti"]
        rules = rules_of(self._hook())
        summary = completion.summary
        records, note = fit_for_xcom(completion.records())
        if note:
            summary = {**summary, "xcom_note": note}
            self.log.warning("XCom kept small: %s", note)
        ti.xcom_push(key="batch_results", value=records)
        ti.xcom_push(key="summary", value=summary)
        completion.summary = summary
        message = completion.message()
        self.log.info("%s", message)
        where = "; the identifiers are in XCom 'batch_results'"
        if completion.timed_out:
            raise AirflowSensorTimeout(
                f"{completion.totals.timed_out} {rules.label} request(s) still not final after the sensor's "
                f"timeout of {self.timeout:.0f} s; their accepted identifiers are reported as failed. "
                f"{message}{where}"
            )
        if completion.state.unknown_ids or completion.totals.unknown:
            raise AirflowFailException(
                f"{completion.totals.unknown} {rules.label} request id(s) {rules.unknown_reason}: their outcome cannot "
                f"be known and is reported as failed. {message}{where}"
            )
        if completion.state.error is not None and completion.totals.timed_out:
            raise AirflowException(
                f"could not read {rules.label}'s status: {completion.state.error}. {message}"
            )
        if summary.get("accepted", 0) > 0:
            raise AirflowFailException(
                f"{summary['accepted']} accepted identifier(s) were not checked: no batch record or request "
                "id given covers them (were the operator's batch_results cut down to fit XCom? pass its "
                f"request ids, or use results_path). {message}"
            )
        if completion.totals.failed and self.fail_on_error:
            raise AirflowFailException(f"{message}{where}")


def _finals(state: PollState, statuses: dict[str, Any]) -> dict[str, Any]:
    return {request_id: statuses[request_id] for request_id in state.final_ids}
