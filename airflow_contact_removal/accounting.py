"""The counting rules every part of a removal shares: what a count is, and which buckets add up.

Two identities hold throughout::

    size      == removed + not_found + accepted + failed + invalid                          (a batch)
    requested == removed + not_found + accepted + invalid + duplicates + failed + planned   (a run)

A batch's ``invalid`` are the records the vendor refused, isolated by splitting the batch; what the
vendor answered to each request it accepted has the other four buckets.

A run's summary checks its identity when the run ends (:mod:`~airflow_contact_removal.results`), a
merge every part it reads back from XCom (:mod:`~airflow_contact_removal.merge`), and folding a
vendor's later answer every batch it changes (:mod:`~airflow_contact_removal.completion.folding`): all
with the helpers here, so the buckets are named once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from airflow_contact_removal.exceptions import ContactRemovalConfigError

#: The buckets of a vendor's answer to one request (:class:`~airflow_contact_removal.results.BatchOutcome`),
#: in the order :func:`~airflow_contact_removal.results.reconcile` trims them.
OUTCOME_BUCKETS = ("removed", "not_found", "accepted", "failed")
#: The buckets of a batch record (:class:`~airflow_contact_removal.results.BatchResult`): they add up to
#: its ``size``.
BATCH_BUCKETS = (*OUTCOME_BUCKETS, "invalid")
#: The buckets of a run's summary: they add up to its ``requested``.
SUMMARY_BUCKETS = ("removed", "not_found", "accepted", "invalid", "duplicates", "failed", "planned")


def is_count(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a count: an ``int`` of 0 or more (``True`` is not a count of 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def count_of(value: object) -> int:
    """``value`` when it is a count, else 0: a record read back may lack a bucket, or hold ``None``."""
    return value if is_count(value) else 0


def bucket_total(counts: Mapping[str, Any], buckets: Iterable[str]) -> int:
    """The sum of ``buckets`` in ``counts``; a bucket that is missing or not a count adds 0."""
    return sum(count_of(counts.get(name)) for name in buckets)


def imbalance(counts: Mapping[str, Any], total: str, buckets: Iterable[str]) -> str | None:
    """
    ``None`` when ``buckets`` add up to ``counts[total]``, a count; else what is off, in counts only.

    :param counts: a batch record or a summary, as a mapping.
    :param total: the field the buckets must add up to (``size``, ``requested``).
    :param buckets: :data:`BATCH_BUCKETS` or :data:`SUMMARY_BUCKETS`.
    """
    expected = counts.get(total)
    accounted = bucket_total(counts, buckets)
    if is_count(expected) and accounted == expected:
        return None
    return f"{total}={expected!r} but buckets add up to {accounted}"


def add_buckets(target: object, source: object, buckets: Iterable[str]) -> None:
    """Add ``source``'s counts to ``target``'s, bucket by bucket (records with the buckets as attributes)."""
    for bucket in buckets:
        setattr(target, bucket, getattr(target, bucket) + getattr(source, bucket))


def whole_number(value: object, name: str, *, minimum: int | None = None) -> int:
    """
    An operator argument as a whole number: an ``int``, or the text a template renders (``"100"``).

    :param value: the argument.
    :param name: the argument's name, for the error.
    :param minimum: the smallest value allowed, if any.
    :raises ContactRemovalConfigError: a bool, a fraction, other text, or a number below ``minimum``.
    """
    if isinstance(value, bool):  # an int to Python, but never what a user meant by a number
        raise ContactRemovalConfigError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(str(value))
    except ValueError:
        raise ContactRemovalConfigError(f"{name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ContactRemovalConfigError(f"{name} must be at least {minimum}, got {number}")
    return number
