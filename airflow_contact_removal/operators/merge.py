"""MergeRemovalSummariesOperator: one summary for a removal spread over mapped tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_contact_removal.exceptions import ContactRemovalError
from airflow_contact_removal.merge import describe, merge_summaries

if TYPE_CHECKING:
    from airflow.sdk import Context


class MergeRemovalSummariesOperator(BaseOperator):
    """
    Merge the summaries of a sharded (or fanned-out) removal into one that adds up.

    Runs when every part is done, failed ones included (``trigger_rule="all_done"`` unless given),
    so the answer names the shard that failed with its counts::

        removed = RemoveContactsOperator.sharded(
            task_id="purge", conn_id="migma_default", input_path=..., shards=8,
            results_path="s3://audit/{{ run_id }}/purge-{shard}.jsonl",
        )
        MergeRemovalSummariesOperator(task_id="totals", summaries=XComArg(removed, key="summary"), shards=8)

    Use the ``summary`` XCom (pushed by every part, also when it fails), not ``return_value`` (only
    pushed on success). Pushes the merged summary as ``merged_summary`` always, and as
    ``return_value`` when it succeeds; see :func:`~airflow_contact_removal.merge.merge_summaries` for
    its fields.

    :param summaries: the parts' summaries: ``XComArg(mapped_task, key="summary")`` or a list.
        (templated)
    :param shards: how many parts there should be, to name the ones that never reported; default:
        as the summaries say. (templated)
    :param fail_on_error: fail this task (after pushing the merged summary) when a part failed or is
        missing, naming it; ``False``: succeed and report. Default ``True``.
    """

    template_fields: Sequence[str] = ("summaries", "shards")
    ui_color = "#fde2e1"

    def __init__(
        self, *, summaries: Any, shards: int | None = None, fail_on_error: bool = True, **kwargs: Any
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.summaries = summaries
        self.shards = shards
        self.fail_on_error = fail_on_error

    def execute(self, context: Context) -> dict[str, Any]:
        shards = None if self.shards in (None, "") else int(self.shards)
        summaries = list(self.summaries or [])
        merged = merge_summaries(summaries, shards=shards)
        context["ti"].xcom_push(key="merged_summary", value=merged)
        self.log.info("Merged %s", describe(merged))
        for path in merged["results_paths"]:
            self.log.info("Results file: %s", path)
        if not merged["complete"] and self.fail_on_error:
            raise ContactRemovalError(
                f"the removal is not complete: {describe(merged)}. Re-run the failed shard(s) alone "
                "(clear those mapped task instances): each resumes from its checkpoint."
            )
        return merged
