"""WooxyRequestSensor: wait, in a task of its own, for Wooxy removals another task sent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_contact_removal._compat import AirflowException, AirflowFailException, AirflowSensorTimeout, conf
from airflow_contact_removal.budget import enforce_share
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.hooks.wooxy import WooxyHook, WooxyRequestStatus
from airflow_contact_removal.redaction import HidesIdentifierFields, revealed
from airflow_contact_removal.results import fit_for_xcom
from airflow_contact_removal.triggers.wooxy import WooxyRequestTrigger
from airflow_contact_removal.wooxy_completion import (
    REASON_UNKNOWN,
    WooxyCompletion,
    WooxyPollState,
    batch_records_from,
    complete,
    request_ids_from,
)
from airflow_contact_removal.wooxy_wait import finish_from_event, read_statuses

if TYPE_CHECKING:
    from airflow.sdk import Context


class WooxyRequestSensor(HidesIdentifierFields, BaseSensorOperator):
    """
    Wait until Wooxy removal requests reach a final status, then report each contact's outcome.

    For DAGs that remove in one task (``RemoveFromListOperator`` on a ``wooxy`` connection) and wait in
    another. When every request is final or unknown, the sensor folds Wooxy's per-contact results into
    the batch records and pushes, in the operator's shapes (see
    :mod:`~airflow_contact_removal.results`):

    * ``batch_results``: accepted identifiers become ``removed`` or ``failed`` (with Wooxy's
      ``humanError`` in ``contact_errors``), failed identifiers listed in ``identifiers``;
    * ``summary`` (also the return value): the totals, which still add up.

    It then fails (``AirflowFailException``, after pushing) if a request id is unknown or older than 7
    days, or, with ``fail_on_error``, if any identifier failed. A request still pending at ``timeout``
    fails the sensor with ``AirflowSensorTimeout``, its accepted identifiers reported as failed ("timed
    out waiting for Wooxy"). Nothing is ever reported removed that Wooxy did not confirm.

    Every poke reads all request ids again (``request/find``, at most 100 ids per call), so the sensor
    keeps no state between pokes and works in ``mode="reschedule"``. With ``deferrable=True`` it waits
    in the triggerer (:class:`~airflow_contact_removal.triggers.wooxy.WooxyRequestTrigger`).

    Per-identifier folding needs the batches' identifiers: the operator keeps them on the records of
    the Wooxy batches it leaves ``accepted``. Records without them, or bare request ids, are folded from
    Wooxy's own report (its successes and errors).

    :param conn_id: the ``wooxy`` connection. (templated)
    :param request_ids: the request ids: a list, one id, or the operator's ``batch_results`` (the ids
        of its batches with accepted identifiers are used, and the records folded), e.g.
        ``remove.output["batch_results"]`` or an ``XComArg``. (templated)
    :param batch_results: the operator's batch records to fold, when ``request_ids`` is a list of ids;
        without them the records are rebuilt from Wooxy's report. (templated)
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
        conn_id: str = WooxyHook.default_conn_name,
        request_ids: Any = None,
        batch_results: Any = None,
        summary: Any = None,
        fail_on_error: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if request_ids is None and batch_results is None:
            raise ContactRemovalConfigError("WooxyRequestSensor needs request_ids or batch_results")
        self.conn_id = conn_id
        self.request_ids = request_ids
        self.batch_results = batch_results
        self.summary = summary
        self.fail_on_error = fail_on_error
        self.deferrable = deferrable
        # The last read of this run, only to report a timeout: never used to decide a poke.
        self._last_read: tuple[WooxyPollState, dict[str, WooxyRequestStatus]] | None = None

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

    def _hook(self) -> WooxyHook:
        """The hook, within this task's share of the account's pool (checked once per process)."""
        hook = self.__dict__.get("_account_hook")
        if hook is None:
            hook = self.__dict__["_account_hook"] = WooxyHook(self.conn_id)
            enforce_share(hook, pool=self.pool, pool_slots=self.pool_slots)
        return hook

    # Poking ----------------------------------------------------------------------------------------
    def poke(self, context: Context) -> bool | PokeReturnValue:
        records = self._records()
        ids = self._request_ids(records)
        read = read_statuses(self._hook(), ids)
        if read.error is not None:
            if not read.error.retryable:
                raise read.error
            self.log.warning("Wooxy request/find failed, will poke again: %s", read.error)
        state = WooxyPollState.from_statuses(ids, read.statuses, read.unknown_ids)
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
        if done:
            return done.xcom_value
        state, _ = self._last_read
        self.defer(
            trigger=WooxyRequestTrigger(
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
    def _publish(self, context: Context, completion: WooxyCompletion) -> None:
        """Push ``batch_results`` and ``summary``, log the outcome, and raise if it is not a success."""
        ti = context["ti"]
        summary = completion.summary
        records, note = fit_for_xcom(completion.batch_results)
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
                f"{completion.totals.timed_out} Wooxy request(s) still not final after the sensor's "
                f"timeout of {self.timeout:.0f} s; their accepted identifiers are reported as failed. "
                f"{message}{where}"
            )
        if completion.state.unknown_ids or completion.totals.unknown:
            raise AirflowFailException(
                f"{completion.totals.unknown} Wooxy request id(s) {REASON_UNKNOWN}: their outcome cannot "
                f"be known and is reported as failed. {message}{where}"
            )
        if completion.state.error is not None and completion.totals.timed_out:
            raise AirflowException(f"could not read Wooxy's status: {completion.state.error}. {message}")
        if summary.get("accepted", 0) > 0:
            raise AirflowFailException(
                f"{summary['accepted']} accepted identifier(s) were not checked: no batch record or request "
                "id given covers them (were the operator's batch_results cut down to fit XCom? pass its "
                f"request ids, or use results_path). {message}"
            )
        if completion.totals.failed and self.fail_on_error:
            raise AirflowFailException(f"{message}{where}")


def _finals(state: WooxyPollState, statuses: dict[str, WooxyRequestStatus]) -> dict[str, WooxyRequestStatus]:
    return {request_id: statuses[request_id] for request_id in state.final_ids}
