"""One answer for a removal spread over several tasks: their summaries merged into one that adds up.

Works for any set of removal summaries (the ``summary`` XCom of the operators): the shards of one
sharded input, or the mapped chunks of a fan-out. Counts are added, the ``results_path`` files
listed, and every part that failed (or never reported) is named with its counts, so the one task to
re-run is obvious.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_contact_removal.accounting import SUMMARY_BUCKETS, count_of, imbalance
from airflow_contact_removal.exceptions import ContactRemovalError

#: Other counters that are added up.
COUNTERS = ("batches", "batches_failed", "resumed_batches")


def merge_summaries(
    summaries: Iterable[Mapping[str, Any] | None], *, shards: int | None = None
) -> dict[str, Any]:
    """
    Merge removal summaries into one.

    :param summaries: the parts' summaries, in map-index order (``None`` for a part that pushed
        none). A sharded part's summary names its ``shard`` and ``shards``; other parts are named by
        their position.
    :param shards: how many parts there should be; a shard number with no summary is listed in
        ``missing_shards``. Taken from the summaries' ``shards`` when not given.
    :returns: ``requested`` and every bucket summed (``requested == removed + not_found + accepted +
        invalid + duplicates + failed + planned`` holds), ``batches``, ``batches_failed``,
        ``resumed_batches``, ``parts`` (summaries merged), ``shards``, ``results_paths`` (one per part
        that wrote one, in shard order), ``failed_shards`` (``{"shard", "requested", <buckets>,
        "batches_failed", "results_path"}`` for every part with failed identifiers),
        ``missing_shards``, ``complete`` (every part reported and nothing failed), ``vendor``,
        ``operation``, ``list_id`` and ``confirmation`` when the parts agree, and ``duration_s`` (the
        longest part's).
    :raises ContactRemovalError: a part's own counts do not add up (a bug or a foreign XCom value).
    """
    merged: dict[str, Any] = {
        "requested": 0,
        **dict.fromkeys(SUMMARY_BUCKETS, 0),
        **dict.fromkeys(COUNTERS, 0),
    }
    labelled: list[tuple[int, Mapping[str, Any]]] = []
    declared: set[int] = set()
    for position, summary in enumerate(summaries):
        if summary is None:
            continue
        if not isinstance(summary, Mapping):
            raise ContactRemovalError(
                f"part {position}: expected a removal summary, got {type(summary).__name__}"
            )
        label = summary.get("shard")
        label = position if label is None else int(label)
        if summary.get("shards") is not None:
            declared.add(int(summary["shards"]))
        problem = imbalance(summary, "requested", SUMMARY_BUCKETS)
        if problem is not None:
            raise ContactRemovalError(f"part {label}: {problem}")
        labelled.append((label, summary))
    labelled.sort(key=lambda item: item[0])
    labels = [label for label, _ in labelled]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ContactRemovalError(f"more than one summary for shard(s) {duplicates}")
    if shards is None and len(declared) == 1:
        shards = declared.pop()
    elif len(declared) > 1:
        raise ContactRemovalError(
            f"the summaries come from removals of different shard counts: {sorted(declared)}"
        )

    for _, summary in labelled:
        for name in ("requested", *SUMMARY_BUCKETS, *COUNTERS):
            merged[name] += count_of(summary.get(name))
    for name in ("vendor", "operation", "list_id", "confirmation", "dry_run"):
        values = {summary.get(name) for _, summary in labelled}
        merged[name] = values.pop() if len(values) == 1 else None
    merged["parts"] = len(labelled)
    merged["shards"] = shards
    merged["duration_s"] = max(
        (float(summary.get("duration_s") or 0) for _, summary in labelled), default=0.0
    )
    merged["results_paths"] = [
        summary["results_path"] for _, summary in labelled if summary.get("results_path")
    ]
    merged["failed_shards"] = [
        {
            "shard": label,
            "requested": summary.get("requested", 0),
            **{name: summary.get(name, 0) for name in SUMMARY_BUCKETS},
            "batches_failed": summary.get("batches_failed", 0),
            "results_path": summary.get("results_path"),
        }
        for label, summary in labelled
        if summary.get("failed")
    ]
    merged["missing_shards"] = sorted(set(range(shards)) - set(labels)) if shards else []
    merged["complete"] = not merged["failed_shards"] and not merged["missing_shards"]
    return merged


def describe(merged: Mapping[str, Any]) -> str:
    """One line (counts only, never identifiers) saying what a merged summary holds."""
    text = (
        f"{merged['parts']} part(s): requested {merged['requested']}, removed {merged['removed']}, "
        f"not found {merged['not_found']}, accepted {merged['accepted']}, invalid {merged['invalid']}, "
        f"duplicates {merged['duplicates']}, failed {merged['failed']}, planned {merged['planned']}"
    )
    for part in merged["failed_shards"]:
        text += (
            f"; shard {part['shard']} FAILED: {part['failed']} of {part['requested']} failed in "
            f"{part['batches_failed']} batch(es) (removed {part['removed']}, not found {part['not_found']})"
        )
    if merged["missing_shards"]:
        text += (
            f"; no summary from shard(s) {merged['missing_shards']} (never ran, or crashed before the end)"
        )
    return text
